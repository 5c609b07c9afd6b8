/**
 * End-to-end harness: a real consortium of node processes on loopback, each with its own home,
 * LevelDB and sockets, created by the same `createTestnet` operators use. Waits are polls with a
 * deadline (never a bare sleep); on a timeout the error carries the tail of each node's log.
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApplicationName } from '../../node/config.ts';
import { loadHome } from '../../node/home.ts';
import { nodeLogPath, nodeLogTail, spawnNode } from '../../node/spawn.ts';
import { createTestnet } from '../../node/testnet.ts';
import { type KeyPair, keyPairFromSeed } from '../../packages/crypto/ed25519.ts';
import { sha256 } from '../../packages/crypto/hash.ts';
import { signTx } from '../../packages/types/tx.ts';
import { encodeKvOp } from '../../state/kvstore-app.ts';

export interface ConsortiumOptions {
  readonly validators: number;
  readonly basePort: number;
  /** Faster than production so tests stay short; the algorithm is the same. */
  readonly timeoutCommitMs?: number;
  /** The nodes' application (default kvstore, whose txs `KvClient` signs). */
  readonly app?: ApplicationName;
  /** Node names, which become the genesis members' ids (default node0, node1, …). */
  readonly names?: readonly string[];
  /**
   * One host address per node (e.g. in network namespaces the test made): each node gets the
   * default ports on its own address, RPC included (on loopback otherwise).
   */
  readonly hostnames?: readonly string[];
}

/** The config.json of a home as operators write it (snake_case keys). */
// biome-ignore lint/suspicious/noExplicitAny: a test edits any key of the file's JSON.
type ConfigJson = Record<string, any>;

/** Reads, edits and writes back a home's config.json; returns the edited config. */
function editConfigFile(home: string, edit: (config: ConfigJson) => void): ConfigJson {
  const path = join(home, 'config', 'config.json');
  const config = JSON.parse(readFileSync(path, 'utf8')) as ConfigJson;
  edit(config);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return config;
}

/** Test-speed settings for the home's config (the algorithm is the same); returns its RPC URL. */
function testConfig(home: string, timeoutCommitMs: number): string {
  const config = editConfigFile(home, (c) => {
    c.consensus.timeout_commit_ms = timeoutCommitMs;
    c.consensus.timeout_propose_ms = 1500;
    c.consensus.gossip_interval_ms = 500;
    c.log.level = 'debug';
  });
  return `http://${config.rpc.listen}`;
}

export class Consortium {
  readonly dir: string;
  readonly homes: string[];
  readonly rpcs: string[];
  readonly chainId: string;
  private readonly procs: (ChildProcess | null)[];
  private readonly wrappers: (readonly string[])[] = [];
  /** Whether any node was ever started: before that, `ensureLive` has nothing to restore. */
  private everStarted = false;

  private constructor(dir: string, homes: string[], rpcs: string[], chainId: string) {
    this.dir = dir;
    this.homes = homes;
    this.rpcs = rpcs;
    this.chainId = chainId;
    this.procs = homes.map(() => null);
  }

  static create(opts: ConsortiumOptions): Consortium {
    const dir = mkdtempSync(join(tmpdir(), 'careledger-e2e-'));
    const chainId = `e2e-${opts.basePort}`;
    const homes = createTestnet({
      validators: opts.validators,
      output: dir,
      chainId,
      basePort: opts.basePort,
      app: opts.app ?? 'kvstore',
      ...(opts.names === undefined ? {} : { names: opts.names }),
      ...(opts.hostnames === undefined ? {} : { hostnames: opts.hostnames }),
    });
    const hosts = opts.hostnames;
    if (hosts !== undefined)
      for (const [i, home] of homes.entries())
        editConfigFile(home, (c) => {
          c.rpc.listen = `${hosts[i]}:${opts.basePort + 1}`;
        });
    const rpcs = homes.map((home) => testConfig(home, opts.timeoutCommitMs ?? 300));
    return new Consortium(dir, homes, rpcs, chainId);
  }

  /**
   * Creates the home of a node that is not in the genesis (a new institution's): its own keys
   * and member key, the consortium's genesis, `peers` as its persistent peers (default: every
   * consortium node), P2P on `p2pPort`. Returns its index, for `start`.
   */
  addNode(name: string, p2pPort: number, peers?: readonly string[]): number {
    const [home] = createTestnet({
      validators: 1,
      output: join(this.dir, name),
      flat: true,
      names: [name],
      basePort: p2pPort,
      app: loadHome(this.homes[0]!).config.proxyApp,
    });
    copyFileSync(join(this.homes[0]!, 'config', 'genesis.json'), join(home!, 'config', 'genesis.json'));
    editConfigFile(home!, (config) => {
      config.p2p.persistent_peers = peers ?? [
        ...new Set(this.homes.flatMap((h) => loadHome(h).config.p2p.persistentPeers)),
      ];
      // It is refused until admitted and keeps redialling: a short period keeps the test short.
      config.p2p.max_dial_period_ms = 2000;
    });
    this.homes.push(home!);
    this.rpcs.push(testConfig(home!, 300));
    this.procs.push(null);
    return this.homes.length - 1;
  }

  /** Edits node i's config.json before it (re)starts. */
  editConfig(i: number, edit: (config: ConfigJson) => void): void {
    editConfigFile(this.homes[i]!, edit);
  }

  /** Runs node i, from its next start on, under `wrapper` (see spawnNode); [] for none. */
  wrap(i: number, wrapper: readonly string[]): void {
    this.wrappers[i] = wrapper;
  }

  start(i: number): void {
    if (this.procs[i] !== null) throw new Error(`node ${i} is already running`);
    const child = spawnNode(this.homes[i]!, [], process.env, this.wrappers[i] ?? []);
    child.on('exit', () => {
      if (this.procs[i] === child) this.procs[i] = null;
    });
    this.procs[i] = child;
    this.everStarted = true;
  }

  startAll(): void {
    for (let i = 0; i < this.homes.length; i++) this.start(i);
  }

  isRunning(i: number): boolean {
    return this.procs[i] !== null;
  }

  /** Waits for node i to exit on its own; its exit code (null if it was not running). */
  async exited(i: number, timeoutMs: number): Promise<number | null> {
    const child = this.procs[i];
    if (child === null || child === undefined) return null;
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`node ${i} still running after ${timeoutMs} ms\n${this.logTail(i)}`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    this.procs[i] = null;
    return code;
  }

  /** Sends `signal` to node i's process (SIGSTOP, SIGCONT, …) without waiting for anything. */
  signal(i: number, signal: NodeJS.Signals): void {
    this.procs[i]?.kill(signal);
  }

  /** Sends `signal` and waits for the process to exit. */
  async stop(i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.procs[i];
    if (child === null || child === undefined) return null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const code = await exited;
    this.procs[i] = null;
    return code;
  }

  /**
   * The check between two scenarios of one file, so a scenario that fails half-way (a node left
   * stopped, crashed, or behind) does not fail the next ones too: starts any of `nodes` that is
   * not running, then waits until every one of them has reached the highest height any of them
   * reports (one more when a node had to be started, to see the consortium commit again).
   * `beyond` heights more are waited for on top (the chaos checks, to see the chain commit again).
   * Returns the height waited for. Nothing to do before the first start (returns 0): the first
   * scenario sets the consortium up. A consortium that cannot be restored fails here, naming the
   * nodes' logs.
   */
  async ensureLive(nodes: readonly number[], timeoutMs = 60_000, beyond = 0n): Promise<bigint> {
    if (!this.everStarted) return 0n;
    const stopped = nodes.filter((i) => !this.isRunning(i));
    for (const i of stopped) this.start(i);
    const heights = await Promise.all(nodes.map((i) => this.height(i).catch(() => 0n)));
    const top = heights.reduce((a, b) => (a > b ? a : b), 0n) + (stopped.length > 0 ? 1n : 0n) + beyond;
    await Promise.all(nodes.map((i) => this.waitForHeight(i, top, timeoutMs)));
    return top;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.homes.map((_, i) => this.stop(i)));
  }

  async destroy(): Promise<void> {
    await Promise.all(this.homes.map((_, i) => this.stop(i, 'SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }

  logTail(i: number, lines = 15): string {
    return nodeLogTail(this.homes[i]!, lines);
  }

  /** Every node's log tail, for a failure message. */
  logTails(): string {
    return this.homes.map((_, j) => `--- node ${j}\n${this.logTail(j)}`).join('\n');
  }

  async rpc<T = Record<string, unknown>>(i: number, path: string, timeoutMs = 3000): Promise<T> {
    const res = await fetch(`${this.rpcs[i]}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json()) as { result?: T; error?: { data: string } };
    if (body.result === undefined)
      throw new Error(`rpc ${path} on node ${i}: ${body.error?.data ?? res.status}`);
    return body.result;
  }

  /** The kvstore value of `key` on node i (its latest state), or null when it has none. */
  async kvValue(i: number, key: string): Promise<string | null> {
    const data = Buffer.from(key).toString('hex');
    const r = await this.rpc<{ response: { value: string | null } }>(
      i,
      `/abci_query?path="/kv"&data=0x${data}`,
    );
    return r.response.value === null ? null : Buffer.from(r.response.value, 'base64').toString();
  }

  /**
   * One sample of node i's /metrics: the sum of `name` (without the namespace) over the series
   * whose labels include `labels`; 0 if there is none.
   */
  async metric(i: number, name: string, labels: Record<string, string> = {}): Promise<number> {
    const { instrumentation } = loadHome(this.homes[i]!).config;
    const res = await fetch(`http://${instrumentation.prometheusListen}/metrics`, {
      signal: AbortSignal.timeout(3_000),
    });
    const text = await res.text();
    let total = 0;
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
      if (m === null || m[1] !== `${instrumentation.namespace}_${name}`) continue;
      const have = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
      );
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[3]);
    }
    return total;
  }

  async height(i: number): Promise<bigint> {
    const status = await this.rpc<{ sync_info: { latest_block_height: string } }>(i, '/status');
    return BigInt(status.sync_info.latest_block_height);
  }

  /** Polls until node i reports at least `height`, or fails after `timeoutMs` with the logs. */
  async waitForHeight(i: number, height: bigint, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = -1n;
    while (Date.now() < deadline) {
      // A node that exited will not get there: say so now, with its log, not at the deadline.
      if (!this.isRunning(i)) throw new Error(`node ${i} is not running\n${this.logTails()}`);
      try {
        last = await this.height(i);
        if (last >= height) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(
      `node ${i} reached height ${last}, not ${height}, within ${timeoutMs} ms\n${this.logTails()}`,
    );
  }

  /** Polls node i's log until it holds `text`, or fails after `timeoutMs` with the logs. */
  async waitForLog(i: number, text: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!readFileSync(nodeLogPath(this.homes[i]!), 'utf8').includes(text)) {
      if (Date.now() >= deadline)
        throw new Error(`node ${i} did not log "${text}" within ${timeoutMs} ms\n${this.logTails()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async blockId(i: number, height: bigint): Promise<{ hash: string; appHash: string }> {
    const r = await this.rpc<{ block_id: { hash: string }; block: { header: { app_hash: string } } }>(
      i,
      `/block?height=${height}`,
    );
    return { hash: r.block_id.hash, appHash: r.block.header.app_hash };
  }
}

/**
 * Polls `check` (an exception counts as not yet) until it holds, or fails after `timeoutMs`
 * saying what it waited for, with `context()` (a node's log, say) appended.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  context: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${context()}`);
}

/** A client that signs kvstore txs with a deterministic key. */
export class KvClient {
  private readonly key: KeyPair;
  private nonce = 0n;
  private readonly chainId: string;

  /** `seed` names the client's signing key (one per concurrent sender). */
  constructor(chainId: string, seed = 'careledger-e2e-client') {
    this.chainId = chainId;
    this.key = keyPairFromSeed(sha256(Buffer.from(seed)));
  }

  tx(key: string, value: string): { hex: string; hash: string } {
    const signed = signTx(
      this.chainId,
      this.key.secretKey,
      this.key.publicKey,
      this.nonce++,
      encodeKvOp({ op: 'set', key, value: Buffer.from(value) }),
    );
    return {
      hex: `0x${Buffer.from(signed.bytes).toString('hex')}`,
      hash: Buffer.from(signed.hash).toString('hex').toUpperCase(),
    };
  }
}
