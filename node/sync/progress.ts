/**
 * Block sync's progress in the log: while a sync runs, a line at most every PROGRESS_INTERVAL_MS
 * with the height reached against the best peer's claim, blocks/s and txs/s since the previous line
 * and an ETA at that pace; and one line when the sync ends with its totals. The volume is bounded by
 * time, not by blocks, so a node syncing a million heights logs no more than one taking a minute.
 *
 * The clock is injected (`now`, milliseconds) so the lines and their numbers are tested without
 * waiting.
 */
import type { Logger } from '../log.ts';

/** Least time between two progress lines. */
export const PROGRESS_INTERVAL_MS = 5000;

/** Blocks and txs per second over `ms` (0 over no time: nothing can be said yet). */
function rate(count: number, ms: number): number {
  return ms > 0 ? Math.round((count * 1000 * 10) / ms) / 10 : 0;
}

/** CPU time used so far, in milliseconds: by the whole process (every thread) and by the main thread. */
export type CpuClock = () => { readonly process: number; readonly thread: number };

const cpuOfThisProcess: CpuClock = () => {
  const all = process.cpuUsage();
  const main = process.threadCpuUsage();
  return { process: (all.user + all.system) / 1000, thread: (main.user + main.system) / 1000 };
};

export class SyncProgress {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly cpu: CpuClock;
  private startedAt = 0;
  private cpuAtStart = { process: 0, thread: 0 };
  private startHeight = 0n;
  private blocks = 0;
  private txs = 0;
  // What had been synced at the previous line: the rates in a line are since then.
  private lineAt = 0;
  private lineBlocks = 0;
  private lineTxs = 0;

  constructor(
    log: Logger,
    now: () => number,
    intervalMs: number = PROGRESS_INTERVAL_MS,
    cpu: CpuClock = cpuOfThisProcess,
  ) {
    this.log = log;
    this.now = now;
    this.intervalMs = intervalMs;
    this.cpu = cpu;
  }

  /** A sync starts with our chain at `height`. */
  begin(height: bigint): void {
    this.startedAt = this.now();
    this.cpuAtStart = this.cpu();
    this.lineAt = this.startedAt;
    this.startHeight = height;
    this.blocks = 0;
    this.txs = 0;
    this.lineBlocks = 0;
    this.lineTxs = 0;
  }

  /** Block `height` with `txs` txs was committed; `target` is the best peer's claim. */
  committed(height: bigint, txs: number, target: bigint): void {
    this.blocks++;
    this.txs += txs;
    const t = this.now();
    const ms = t - this.lineAt;
    if (ms < this.intervalMs) return;
    const blocksPerS = rate(this.blocks - this.lineBlocks, ms);
    const txsPerS = rate(this.txs - this.lineTxs, ms);
    const left = target > height ? Number(target - height) : 0;
    const etaS = blocksPerS > 0 ? Math.ceil(left / blocksPerS) : null;
    this.log.info(
      `block sync: height ${height}/${target}, ${blocksPerS} blocks/s, ${txsPerS} txs/s, ETA ${etaS ?? '?'} s`,
      { height, target, blocks_per_s: blocksPerS, txs_per_s: txsPerS, eta_s: etaS },
    );
    this.lineAt = t;
    this.lineBlocks = this.blocks;
    this.lineTxs = this.txs;
  }

  /** The sync ended at `height` (caught up, or no peer left to ask): its totals, if it synced anything. */
  end(height: bigint): void {
    if (this.blocks === 0) return;
    const seconds = (this.now() - this.startedAt) / 1000;
    const ms = seconds * 1000;
    // CPU time beside wall time: on a shared machine the wall-clock rate says how busy the
    // machine was as much as how fast the code is; txs per main-thread CPU-second does not.
    const cpu = this.cpu();
    const cpuS = (cpu.process - this.cpuAtStart.process) / 1000;
    const mainS = (cpu.thread - this.cpuAtStart.thread) / 1000;
    this.log.info(
      `block sync done: heights ${this.startHeight + 1n}..${height}, ${this.blocks} blocks and ${this.txs} txs in ${seconds.toFixed(1)} s (${rate(this.blocks, ms)} blocks/s, ${rate(this.txs, ms)} txs/s); CPU ${cpuS.toFixed(1)} s, main thread ${mainS.toFixed(1)} s (${rate(this.txs, mainS * 1000)} txs per main-thread CPU-s)`,
      {
        from: this.startHeight + 1n,
        height,
        blocks: this.blocks,
        txs: this.txs,
        seconds,
        blocks_per_s: rate(this.blocks, ms),
        txs_per_s: rate(this.txs, ms),
        cpu_s: cpuS,
        main_thread_cpu_s: mainS,
        txs_per_main_thread_cpu_s: rate(this.txs, mainS * 1000),
      },
    );
  }
}
