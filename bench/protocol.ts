/**
 * What bench/run.ts (the parent) and bench/load.ts (the load process) say to each other over the
 * IPC channel of `fork`, and the small statistics helpers both use. Types only and pure
 * functions: importing this file starts nothing.
 */

/** Parent -> load: everything the load process needs, sent once. */
export interface LoadConfig {
  readonly type: 'config';
  readonly chainId: string;
  /** Base URLs of every node's RPC (http://127.0.0.1:port); txs go round-robin over them. */
  readonly rpcs: readonly string[];
  /** Index in `rpcs` of the node whose blocks are followed to find commit times. */
  readonly trackNode: number;
  /** Offered rate, tx/s. */
  readonly rate: number;
  /** Target encoded size of each signed tx, bytes. */
  readonly txBytes: number;
  readonly signers: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** After the last send, how long to keep following blocks for txs still pending. */
  readonly drainSeconds: number;
  /** broadcast_tx_sync calls per request: 1 is one GET per tx, more is a JSON-RPC batch POST. */
  readonly batch: number;
  /** Concurrent HTTP requests (sockets) per node; more wait in the client's queue. */
  readonly socketsPerNode: number;
  /** Requests waiting or in flight beyond which a scheduled tx is skipped (counted, not sent). */
  readonly maxOutstanding: number;
  /** Block poll interval while waiting for the next height. */
  readonly pollMs: number;
  readonly progressEveryMs: number;
  /** `--workload health`: health txs over the pre-grown state instead of kvstore txs; else null. */
  readonly health: HealthLoadConfig | null;
}

/** What the load needs to make the health mix (bench/health-mix.ts) over the pre-grown state. */
export interface HealthLoadConfig {
  /** The run's homes: the members' keys and the genesis are read from them. */
  readonly homes: readonly string[];
  readonly records: number;
  readonly perPatient: number;
  /** The last nonce each member used in the pre-grown history, by member id. */
  readonly memberNonces: Readonly<Record<string, number>>;
  /** Seed of the mix's random choices. */
  readonly seed: number;
}

/** Parent -> load: start sending now. */
export interface StartMessage {
  readonly type: 'start';
}

export type ToLoad = LoadConfig | StartMessage;

/** Load -> parent: txs are signed, waiting for `start`. */
export interface ReadyMessage {
  readonly type: 'ready';
  readonly txs: number;
  readonly txBytes: number;
  readonly signSeconds: number;
}

/** Load -> parent: a phase boundary, so the parent samples /proc at the same moments. */
export interface PhaseMessage {
  readonly type: 'phase';
  readonly phase: 'warmup' | 'measure' | 'drain' | 'done';
  /** process.hrtime.bigint() in µs at the boundary (CLOCK_MONOTONIC, comparable across processes). */
  readonly monoUs: number;
}

export interface ProgressMessage {
  readonly type: 'progress';
  readonly elapsedSeconds: number;
  readonly phase: string;
  readonly scheduled: number;
  readonly accepted: number;
  readonly refused: number;
  readonly errors: number;
  readonly skipped: number;
  readonly outstanding: number;
  readonly committed: number;
  readonly height: number;
  /** Committed tx/s since the previous progress message. */
  readonly recentTps: number;
  /** Latency percentiles of txs committed since the previous progress message, ms. */
  readonly recentP50Ms: number | null;
  readonly recentP99Ms: number | null;
}

export interface BlockSample {
  readonly height: number;
  /** Header time, Unix ms (the proposer's clock). */
  readonly timeMs: number;
  readonly txs: number;
  /** Of those, txs this load process sent. */
  readonly ours: number;
  /** When the load process first saw the block on the tracked node, ms since load start. */
  readonly observedMs: number;
}

export interface LoadResult {
  readonly type: 'result';
  readonly txBytes: number;
  readonly signSeconds: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** Counts over the measured window (txs scheduled after the warm-up, before the end). */
  readonly window: {
    readonly scheduled: number;
    readonly accepted: number;
    /** Accepting replies that arrived inside the window, whenever their tx was due: the nodes' intake. */
    readonly acceptedReplies: number;
    readonly refused: Record<string, number>;
    readonly errors: Record<string, number>;
    readonly skipped: number;
    readonly committed: number;
    /** Accepted but not seen in a block by the end of the drain. */
    readonly uncommitted: number;
  };
  /** Counts over the whole run, warm-up included. */
  readonly total: {
    readonly scheduled: number;
    readonly accepted: number;
    readonly refused: number;
    readonly errors: number;
    readonly skipped: number;
    readonly committed: number;
  };
  readonly offeredTps: number;
  readonly acceptedTps: number;
  readonly committedTps: number;
  /** Submit (scheduled send time) to commit (block seen on the tracked node), ms. */
  readonly latencyMs: Percentiles;
  /** True when some accepted txs never committed: their latency counts as the time waited. */
  readonly latencyIsLowerBound: boolean;
  /** broadcast_tx_sync round trip (scheduled send to reply), ms. */
  readonly rpcLatencyMs: Percentiles;
  readonly blocks: readonly BlockSample[];
  readonly loadCpuSeconds: number;
  readonly loadPeakRssBytes: number;
  /** The health workload's own counts over the window; null for kvstore txs. */
  readonly health: {
    /** The window's txs by kind (the mix). */
    readonly mix: Record<string, number>;
    /** The window's txs committed with a non-zero result code, by codespace (none expected). */
    readonly failed: Record<string, number>;
  } | null;
}

export type FromLoad = ReadyMessage | PhaseMessage | ProgressMessage | LoadResult;

export interface Percentiles {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly mean: number | null;
}

/** Nearest-rank percentile of an ascending array; null when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function percentiles(values: Float64Array): Percentiles {
  const sorted = values.slice().sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.length === 0 ? null : sorted[sorted.length - 1]!),
    mean: round(sorted.length === 0 ? null : sum / sorted.length),
  };
}

/** The blocks first seen inside the measured window (`fromMs`, `toMs`] of the load's clock. */
export function blocksInWindow(blocks: readonly BlockSample[], fromMs: number, toMs: number): BlockSample[] {
  return blocks.filter((b) => b.observedMs > fromMs && b.observedMs <= toMs);
}

/**
 * Committed tx/s over the measured window (`fromMs`, `toMs`] of the load's clock, in whole blocks.
 * A block's txs commit together, so a count between the window's fixed edges gains or loses a
 * whole block by where an edge falls (at 300 txs a block, ±15 tx/s over 20 s). Measured from the
 * first moment a block was seen inside the window to the last, over the txs of the blocks seen
 * after that first moment, nothing is cut. With blocks seen at fewer than two moments in the
 * window: their txs over the window's length.
 */
export function committedRate(blocks: readonly BlockSample[], fromMs: number, toMs: number): number {
  const inWindow = blocksInWindow(blocks, fromMs, toMs);
  const first = inWindow[0]?.observedMs;
  const last = inWindow.at(-1)?.observedMs;
  if (first === undefined || last === undefined || last === first) {
    return inWindow.reduce((sum, b) => sum + b.txs, 0) / ((toMs - fromMs) / 1000);
  }
  let txs = 0;
  for (const b of inWindow) if (b.observedMs > first) txs += b.txs;
  return txs / ((last - first) / 1000);
}

export function monoMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
