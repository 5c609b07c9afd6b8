/**
 * A throw-away consortium for benchmarks: `createTestnet` homes in a temp folder, one real
 * `node/cli.ts start --home` process per validator (as test/e2e/harness.ts, without its
 * test-speed config: the nodes run the production defaults unless the caller overrides keys),
 * polls with deadlines, and per-process CPU and memory read from /proc.
 *
 * `destroy` always ends every process it started (SIGTERM, then SIGKILL after a grace period)
 * and removes the folder; `destroySync` is the last resort from an `exit` handler.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeLogTail, spawnNode } from '../node/spawn.ts';
import { createTestnet } from '../node/testnet.ts';

const STOP_GRACE_MS = 10_000;

/**
 * Keys every benchmark node gets before `--set` overrides (which win), as in config.json:
 * - `proxy_app: 'kvstore'`: the load generator sends kvstore txs (the node's default app is the
 *   health app). Written even if config.json has no such key yet.
 * - `consensus.timeout_commit_ms: 300`: the pause after each commit. The node's default (1 s)
 *   suits a local consortium that makes ~1 empty block/s (DESIGN.md); under load it sets the block
 *   interval, and submit-to-commit is ~2 block intervals at best, so with 1 s p99 passes 2 s at
 *   any rate. 300 ms is what a consortium tuned for latency would run (CometBFT has the same knob).
 *   `--set consensus.timeout_commit_ms=1000` measures the node's default.
 */
export const BENCH_DEFAULTS: Readonly<Record<string, string | number | boolean>> = {
  proxy_app: 'kvstore',
  'consensus.timeout_commit_ms': 300,
};

export interface ConsortiumOptions {
  readonly validators: number;
  readonly basePort: number;
  /** config.json overrides, by dotted snake_case path as in the file: `consensus.timeout_commit_ms`. */
  readonly overrides: Readonly<Record<string, string | number | boolean>>;
  /** Node index started with `--cpu-prof` (its profile goes to `profileDir`), or null. */
  readonly profileNode: number | null;
  /**
   * Makes the homes in the temp folder instead of a fresh `createTestnet` (the health workload
   * copies pre-grown ones: bench/health-state.ts); returns them and their chain id.
   */
  readonly makeHomes?: (dir: string) => { readonly homes: string[]; readonly chainId: string };
}

export interface ProcSample {
  /** utime + stime, seconds. */
  readonly cpuSeconds: number;
  /** VmHWM: peak resident set, bytes. */
  readonly peakRssBytes: number;
  /** VmRSS now, bytes. */
  readonly rssBytes: number;
  /** Bytes passed to read and write system calls (sockets and files), from /proc/<pid>/io. */
  readonly readBytes: number | null;
  readonly writeBytes: number | null;
}

let clockTicks = 0;
function ticksPerSecond(): number {
  if (clockTicks === 0) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
    } catch {
      clockTicks = 0;
    }
    if (!(clockTicks > 0)) clockTicks = 100;
  }
  return clockTicks;
}

/** CPU time and memory of a live process, from /proc (Linux); null once it has exited. */
export function procSample(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 on.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return m === null ? 0 : Number(m[1]) * 1024;
    };
    let io: string | null = null;
    try {
      io = readFileSync(`/proc/${pid}/io`, 'utf8');
    } catch {
      // not readable (another user's process, or no such file): leave the counters out
    }
    const ioField = (name: string): number | null => {
      const m = io === null ? null : new RegExp(`^${name}: (\\d+)`, 'm').exec(io);
      return m === null || m === undefined ? null : Number(m[1]);
    };
    return {
      cpuSeconds: ticks / ticksPerSecond(),
      peakRssBytes: kb('VmHWM'),
      rssBytes: kb('VmRSS'),
      readBytes: ioField('rchar'),
      writeBytes: ioField('wchar'),
    };
  } catch {
    return null;
  }
}

export class Consortium {
  readonly dir: string;
  readonly homes: readonly string[];
  readonly rpcs: readonly string[];
  readonly chainId: string;
  readonly profileDir: string;
  private readonly procs: (ChildProcess | null)[];
  private readonly profileNode: number | null;

  private constructor(
    dir: string,
    homes: string[],
    rpcs: string[],
    chainId: string,
    profileNode: number | null,
  ) {
    this.dir = dir;
    this.homes = homes;
    this.rpcs = rpcs;
    this.chainId = chainId;
    this.procs = homes.map(() => null);
    this.profileNode = profileNode;
    this.profileDir = join(dir, 'cpu-profile');
  }

  static create(opts: ConsortiumOptions): Consortium {
    const dir = mkdtempSync(join(tmpdir(), 'careledger-bench-'));
    try {
      const { homes, chainId } =
        opts.makeHomes?.(dir) ??
        (() => {
          const id = `bench-${opts.basePort}`;
          const made = createTestnet({
            validators: opts.validators,
            output: dir,
            chainId: id,
            basePort: opts.basePort,
          });
          return { homes: made, chainId: id };
        })();
      const rpcs = homes.map((home) => {
        const path = join(home, 'config', 'config.json');
        const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
        for (const [key, value] of Object.entries(BENCH_DEFAULTS))
          if (!(key in opts.overrides)) setPath(config, key, value, true);
        for (const [key, value] of Object.entries(opts.overrides)) setPath(config, key, value);
        writeFileSync(path, JSON.stringify(config, null, 2));
        const rpc = (config.rpc as { listen: string }).listen;
        return `http://${rpc}`;
      });
      return new Consortium(dir, homes, rpcs, chainId, opts.profileNode);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  startAll(): void {
    for (let i = 0; i < this.homes.length; i++) this.start(i);
  }

  /** Starts node `i` (bench/sync.ts starts its syncing node only once the others have committed). */
  start(i: number): void {
    const profile =
      i === this.profileNode
        ? ['--cpu-prof', '--cpu-prof-dir', this.profileDir, '--cpu-prof-name', `node${i}.cpuprofile`]
        : [];
    if (profile.length > 0) mkdirSync(this.profileDir, { recursive: true });
    const child = spawnNode(this.homes[i]!, profile, { ...process.env, NODE_OPTIONS: '' });
    child.on('exit', () => {
      if (this.procs[i] === child) this.procs[i] = null;
    });
    this.procs[i] = child;
  }

  pids(): (number | null)[] {
    return this.procs.map((p) => p?.pid ?? null);
  }

  samples(): (ProcSample | null)[] {
    return this.pids().map((pid) => (pid === null ? null : procSample(pid)));
  }

  /** Indexes of nodes that have exited (they should not, while a run lasts). */
  exited(): number[] {
    return this.procs.flatMap((p, i) => (p === null ? [i] : []));
  }

  async height(i: number): Promise<number> {
    const res = await fetch(`${this.rpcs[i]}/status`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { result?: { sync_info?: { latest_block_height?: string } } };
    return Number(body.result?.sync_info?.latest_block_height ?? Number.NaN);
  }

  /** Polls every node until each has committed `height`, or throws with the logs after `timeoutMs`. */
  async waitForHeight(height: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const heights = this.homes.map(() => -1);
    while (Date.now() < deadline) {
      const dead = this.exited();
      if (dead.length > 0)
        throw new Error(`node ${dead.join(', ')} exited while starting\n${this.logTails()}`);
      await Promise.all(
        this.homes.map(async (_, i) => {
          try {
            heights[i] = await this.height(i);
          } catch {
            // not listening yet
          }
        }),
      );
      if (heights.every((h) => h >= height)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(
      `nodes reached heights ${heights.join(', ')}, not ${height}, within ${timeoutMs} ms\n${this.logTails()}`,
    );
  }

  logTail(i: number, lines = 12): string {
    return nodeLogTail(this.homes[i]!, lines);
  }

  logTails(): string {
    return this.homes.map((_, i) => `--- node ${i}\n${this.logTail(i)}`).join('\n');
  }

  /** SIGTERM every node and waits (a node stops cleanly and writes its CPU profile); SIGKILL after the grace period. */
  async stopAll(): Promise<void> {
    await Promise.all(
      this.procs.map(async (child, i) => {
        if (child === null || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        if (this.procs[i] === null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  async destroy(keep: boolean): Promise<void> {
    await this.stopAll();
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }

  /** For `process.on('exit')`: no waiting possible, so SIGKILL and remove. */
  destroySync(keep: boolean): void {
    for (const child of this.procs) child?.kill('SIGKILL');
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

function setPath(
  config: Record<string, unknown>,
  path: string,
  value: string | number | boolean,
  /** Add the last key if the file has none (the bench's own defaults); `--set` must name an existing key. */
  create = false,
): void {
  const parts = path.split('.');
  let at: Record<string, unknown> = config;
  for (const part of parts.slice(0, -1)) {
    const child = at[part];
    if (typeof child !== 'object' || child === null || Array.isArray(child))
      throw new Error(`--set ${path}: config.json has no section "${part}"`);
    at = child as Record<string, unknown>;
  }
  const last = parts[parts.length - 1]!;
  if (!create && !(last in at)) throw new Error(`--set ${path}: config.json has no key "${last}" there`);
  at[last] = value;
}

export interface MachineSample {
  /** Seconds of CPU time, summed over all cores, since boot. */
  readonly busySeconds: number;
  readonly idleSeconds: number;
  /** Time the hypervisor gave our virtual CPUs to someone else. */
  readonly stealSeconds: number;
}

/** Whole-machine CPU counters from /proc/stat (Linux); null elsewhere. */
export function machineSample(): MachineSample | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [, user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    const t = ticksPerSecond();
    return {
      busySeconds: (user! + nice! + system! + irq! + softirq!) / t,
      idleSeconds: (idle! + iowait!) / t,
      stealSeconds: (steal ?? 0) / t,
    };
  } catch {
    return null;
  }
}

/** Cores busy on the whole machine over `ms` (everyone's processes, ours included). */
export async function machineBusyCores(ms: number): Promise<number | null> {
  const a = machineSample();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineSample();
  return a === null || b === null ? null : (b.busySeconds - a.busySeconds) / (ms / 1000);
}

/** `--quiet-wait`: the machine counts as idle while other processes keep under this many cores busy. */
export const QUIET_CORES = 0.3;

/** Waits up to `seconds` for other processes to leave the machine idle; returns the last busy reading. */
export async function waitQuiet(seconds: number): Promise<number | null> {
  let busy = await machineBusyCores(1000);
  if (seconds <= 0 || busy === null) return busy;
  const deadline = Date.now() + seconds * 1000;
  while (busy !== null && busy >= QUIET_CORES && Date.now() < deadline) {
    process.stdout.write(
      `machine busy (${busy.toFixed(2)} cores used by other processes); waiting for it to be idle…\n`,
    );
    busy = await machineBusyCores(5000);
  }
  return busy;
}

/** The commit the bench ran and whether the tree had changes, for the result JSON; null when git cannot tell. */
export function gitState(): { commit: string | null; dirty: boolean | null } {
  const run = (args: string[]): string | null => {
    try {
      return execFileSync('git', args, {
        cwd: join(import.meta.dirname, '..'),
        encoding: 'utf8',
        timeout: 10_000,
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return null;
    }
  };
  const status = run(['status', '--porcelain']);
  return { commit: run(['rev-parse', 'HEAD']), dirty: status === null ? null : status.length > 0 };
}
