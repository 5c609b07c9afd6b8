/**
 * `npm run bench:sync`: how fast a node with an empty home block-syncs committed history.
 *
 * A throw-away kvstore consortium (bench/consortium.ts) of `--validators` nodes plus one more home
 * that is in the genesis as a member but not as a validator (its validator entry is taken out of
 * every genesis.json before anything starts, so the others never wait for it to propose). The
 * validators commit `--txs` signed kvstore txs, sent as JSON-RPC batches of broadcast_tx_sync over a
 * window of requests in flight (a refusal while the mempool is full is retried after a pause). Then
 * the extra node starts with an empty data folder and syncs; the clock runs from its spawn until its
 * /status shows the validators' height, and its CPU time is read from /proc. Its own log lines
 * (node/sync/progress.ts) give the sync's figures without the start-up.
 *
 * The result goes to bench/results/sync-<time>.json; the last line printed is
 * `sync_txs_per_s=… sync_blocks_per_s=… …`. Bad flags exit 2, a failed run 1.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { nodeLogPath } from '../node/spawn.ts';
import { keyPairFromSeed, signerFor } from '../packages/crypto/ed25519.ts';
import { encodeTx, txSignBytes } from '../packages/types/tx.ts';
import { encodeKvOp } from '../state/kvstore-app.ts';
import {
  type BenchCommand,
  configOverrides,
  integerArg,
  parseCommandLine,
  usageError,
} from './command-line.ts';
import { BENCH_DEFAULTS, Consortium, machineSample, procSample } from './consortium.ts';
import { type CpuProfile, formatSummary, summariseProfile } from './profile.ts';

const usage = `Usage: npm run bench:sync -- [options]

  --txs N             txs of history the validators commit before the new node syncs (default 100000)
  --validators N      validators making the history (default 3); one more node syncs it
  --value-bytes N     bytes of each kvstore value (default 100)
  --batch N           txs per JSON-RPC batch while loading (default 10, the RPC's limit)
  --in-flight N       batches in flight while loading (default 8)
  --set KEY=VALUE     override a key of every node's config.json (repeatable); the bench's own
                      defaults: ${Object.entries(BENCH_DEFAULTS)
                        .map(([k, v]) => `${k}=${v}`)
                        .join(', ')}
  --base-port P       P2P port of node 0; RPC is P+1; node I adds 10*I (default 31956)
  --cpu-prof          run the syncing node under --cpu-prof and print where its time went
  --kill-at H         SIGKILL the syncing node once it has synced height H, restart it on the same
                      home, and check that it finishes with the validators' block and app hash
                      (a crash-safety check: the figures then cover the restarted process only)
  --timeout S         give up on loading or syncing after S seconds each (default 1800)
  --keep              keep the temp folder (homes and node logs)
  --save-history DIR  once the history is committed, stop the validators and copy every home
                      (the syncing node's still empty) to DIR, with history.json; then sync as usual
  --from DIR          skip the loading: start from the homes --save-history wrote to DIR (its
                      validators, ports and txs; --txs, --validators, --value-bytes, --base-port
                      and --set are not allowed with it), so a measurement only re-runs the sync
  -h, --help          show this help
`;

const COMMAND = {
  name: 'bench:sync',
  command: 'npm run bench:sync --',
  usage,
  options: {
    txs: { type: 'string', default: '100000' },
    validators: { type: 'string', default: '3' },
    'value-bytes': { type: 'string', default: '100' },
    batch: { type: 'string', default: '10' },
    'in-flight': { type: 'string', default: '8' },
    set: { type: 'string', multiple: true, default: [] },
    'base-port': { type: 'string', default: '31956' },
    'cpu-prof': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '1800' },
    keep: { type: 'boolean', default: false },
    'save-history': { type: 'string' },
    'kill-at': { type: 'string' },
    from: { type: 'string' },
  },
} as const satisfies BenchCommand;

function parseOptions() {
  const { values } = parseCommandLine(COMMAND);
  const overrides = configOverrides(COMMAND, values.set);
  const from = values.from ?? null;
  let history: SavedHistory | null = null;
  if (from !== null) {
    const clash = ['txs', 'validators', 'value-bytes', 'base-port', 'save-history'].filter((name) =>
      process.argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`)),
    );
    if (clash.length > 0 || (values.set ?? []).length > 0)
      usageError(
        COMMAND,
        `--from takes the history's own settings: drop ${[...clash, ...(values.set?.length ? ['set'] : [])].map((n) => `--${n}`).join(', ')}`,
      );
    history = readHistory(from);
  }
  const validators = history?.validators ?? integerArg(COMMAND, values.validators, '--validators', 1, 20);
  const basePort =
    history?.basePort ??
    integerArg(COMMAND, values['base-port'], '--base-port', 1024, 65535 - 10 * (validators + 1) - 10);
  return {
    txs: history?.txs ?? integerArg(COMMAND, values.txs, '--txs', 1, 10_000_000),
    validators,
    valueBytes: integerArg(COMMAND, values['value-bytes'], '--value-bytes', 0, 60_000),
    batch: integerArg(COMMAND, values.batch, '--batch', 1, 1000),
    inFlight: integerArg(COMMAND, values['in-flight'], '--in-flight', 1, 1000),
    overrides,
    basePort,
    cpuProf: values['cpu-prof'] === true,
    timeoutMs: integerArg(COMMAND, values.timeout, '--timeout', 10, 86_400) * 1000,
    keep: values.keep === true,
    saveHistory: values['save-history'] ?? null,
    killAt:
      values['kill-at'] === undefined
        ? null
        : integerArg(COMMAND, values['kill-at'], '--kill-at', 1, 10_000_000),
    from: from === null ? null : { dir: from, history: history! },
  };
}

/** What --save-history writes beside the homes (history.json), and --from reads back. */
interface SavedHistory {
  readonly chainId: string;
  readonly validators: number;
  readonly basePort: number;
  readonly txs: number;
  readonly valueBytes: number;
  /** The validators' lowest height once their mempools were empty. */
  readonly height: number;
  /** Each home's folder, relative to the saved folder (node I is homes[I]; the last one syncs). */
  readonly homes: readonly string[];
}

const HISTORY_FILE = 'history.json';

function readHistory(dir: string): SavedHistory {
  let h: SavedHistory;
  try {
    h = JSON.parse(readFileSync(join(dir, HISTORY_FILE), 'utf8')) as SavedHistory;
  } catch (err) {
    usageError(COMMAND, `--from ${dir}: no readable ${HISTORY_FILE} (${(err as Error).message})`);
  }
  const ok =
    typeof h.chainId === 'string' &&
    [h.validators, h.basePort, h.txs, h.valueBytes, h.height].every(Number.isSafeInteger) &&
    Array.isArray(h.homes) &&
    h.homes.length === h.validators + 1 &&
    h.homes.every((home) => typeof home === 'string' && existsSync(join(dir, home)));
  if (!ok) usageError(COMMAND, `--from ${dir}: ${HISTORY_FILE} does not describe the homes beside it`);
  return h;
}

/** Copies every home of `c` (validators stopped, the syncing node never started) to `dir`. */
function saveHistory(c: Consortium, dir: string, history: Omit<SavedHistory, 'homes' | 'chainId'>): void {
  const homes = c.homes.map((home) => relative(c.dir, home));
  mkdirSync(dir, { recursive: true });
  for (const [i, home] of homes.entries()) cpSync(c.homes[i]!, join(dir, home), { recursive: true });
  const saved: SavedHistory = { ...history, chainId: c.chainId, homes };
  writeFileSync(join(dir, HISTORY_FILE), JSON.stringify(saved, null, 2));
}

/** Replaces the fresh homes of `c` by copies of the saved ones (the saved folder is left as it is). */
function restoreHistory(c: Consortium, dir: string, history: SavedHistory): void {
  if (history.chainId !== c.chainId)
    throw new Error(`--from ${dir}: chain ${history.chainId}, not ${c.chainId}`);
  for (const [i, home] of history.homes.entries()) {
    rmSync(c.homes[i]!, { recursive: true, force: true });
    cpSync(join(dir, home), c.homes[i]!, { recursive: true });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `n` signed kvstore `set` txs, base64, from 64 signers with their own nonces. */
function signTxs(chainId: string, n: number, valueBytes: number): string[] {
  const keys = Array.from({ length: 64 }, (_, k) => {
    const pair = keyPairFromSeed(
      createHash('sha256').update(`careledger/bench/sync/${chainId}/${k}`).digest(),
    );
    return { publicKey: pair.publicKey, sign: signerFor(pair.secretKey) };
  });
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const key = keys[i % keys.length]!;
    const payload = encodeKvOp({
      op: 'set',
      key: `sync/${i}`,
      value: Buffer.alloc(valueBytes, 0x61 + (i % 26)),
    });
    const unsigned = { signer: key.publicKey, nonce: BigInt(Math.floor(i / keys.length)), payload };
    const tx = encodeTx({ ...unsigned, signature: key.sign(txSignBytes(chainId, unsigned)) });
    out[i] = Buffer.from(tx).toString('base64');
  }
  return out;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One JSON-RPC POST to `rpc`; the parsed reply. */
function post(rpc: string, body: unknown): Promise<unknown> {
  const url = new URL(rpc);
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: '/',
        method: 'POST',
        agent,
        timeout: 30_000,
        headers: { 'content-type': 'application/json', 'content-length': data.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * Sends every tx to the validators (batches round robin, `inFlight` at once) until each has been
 * accepted by one; a tx refused (mempool full, node busy) or lost goes back in the queue.
 */
async function load(
  rpcs: readonly string[],
  txs: readonly string[],
  batch: number,
  inFlight: number,
  deadline: number,
) {
  const queue: number[] = Array.from({ length: txs.length }, (_, i) => i);
  let accepted = 0;
  let refused = 0;
  let errors = 0;
  let next = 0;
  let lastReport = Date.now();
  const worker = async (w: number): Promise<void> => {
    for (let turn = w; ; turn++) {
      if (Date.now() > deadline) throw new Error(`loading took longer than --timeout (${accepted} accepted)`);
      const ids = queue.splice(0, batch);
      if (ids.length === 0) return;
      const rpc = rpcs[next++ % rpcs.length]!;
      let backoff = false;
      try {
        const replies = (await post(
          rpc,
          ids.map((id) => ({ jsonrpc: '2.0', id, method: 'broadcast_tx_sync', params: { tx: txs[id] } })),
        )) as { id: number; result?: { code: number; log: string }; error?: unknown }[];
        const done = new Set<number>();
        for (const r of Array.isArray(replies) ? replies : []) {
          // Code 0 is accepted; a tx the node already has (a retry of one whose reply was lost)
          // counts as accepted too, everything else is tried again.
          if (r.result !== undefined && (r.result.code === 0 || /already/i.test(r.result.log)))
            done.add(r.id);
          else refused++;
        }
        accepted += done.size;
        const again = ids.filter((id) => !done.has(id));
        if (again.length > 0) {
          queue.push(...again);
          backoff = true;
        }
      } catch {
        errors++;
        queue.push(...ids);
        backoff = true;
      }
      if (Date.now() - lastReport >= 5000) {
        lastReport = Date.now();
        process.stdout.write(`  loading: ${accepted}/${txs.length} accepted, ${refused} refusals retried\n`);
      }
      if (backoff) await sleep(100 + (turn % 5) * 20);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  return { accepted, refused, errors };
}

async function status(rpc: string): Promise<{ height: number; catchingUp: boolean; unconfirmed: number }> {
  const s = (await post(rpc, { jsonrpc: '2.0', id: 1, method: 'status', params: {} })) as {
    result: { sync_info: { latest_block_height: string; catching_up: boolean } };
  };
  const m = (await post(rpc, { jsonrpc: '2.0', id: 2, method: 'num_unconfirmed_txs', params: {} })) as {
    result: { n_txs: string };
  };
  return {
    height: Number(s.result.sync_info.latest_block_height),
    catchingUp: s.result.sync_info.catching_up,
    unconfirmed: Number(m.result.n_txs),
  };
}

/** Polls until `done` holds of the statuses of `nodes`; throws after `deadline`. */
async function waitFor(
  c: Consortium,
  nodes: readonly number[],
  what: string,
  deadline: number,
  done: (s: Awaited<ReturnType<typeof status>>[]) => boolean,
  pollMs = 250,
): Promise<Awaited<ReturnType<typeof status>>[]> {
  for (;;) {
    try {
      const all = await Promise.all(nodes.map((i) => status(c.rpcs[i]!)));
      if (done(all)) return all;
    } catch {
      // not listening yet
    }
    const dead = nodes.filter((i) => c.pids()[i] === null);
    if (dead.length > 0)
      throw new Error(`node ${dead.join(', ')} exited while waiting for ${what}\n${c.logTails()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${c.logTails()}`);
    await sleep(pollMs);
  }
}

/** The syncing node's own progress and end lines (node/sync/progress.ts), from its JSON log. */
function syncLogLines(home: string): {
  progress: Record<string, unknown>[];
  done: Record<string, unknown>[];
  failures: number;
} {
  const lines = readFileSync(nodeLogPath(home), 'utf8').split('\n');
  const parsed = lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  const msg = (l: Record<string, unknown>) => String(l.msg ?? '');
  return {
    progress: parsed.filter((l) => msg(l).startsWith('block sync: ')),
    done: parsed.filter((l) => msg(l).startsWith('block sync done')),
    failures: parsed.filter((l) => msg(l).startsWith('block sync from a peer failed')).length,
  };
}

/**
 * A live process's CPU time by thread, as shares of its total (from each /proc/<pid>/task/<tid>/stat; the
 * main thread's task has the process's id): `main`, and the others summed by thread name (libuv's
 * pool runs LevelDB's reads and writes, LevelDB its compactions, V8 its GC helpers). Threads that
 * have already exited are counted in the total only.
 */
function threadShares(pid: number): Record<string, number> {
  const stat = (path: string): { name: string; ticks: number } => {
    const text = readFileSync(path, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      name: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
      ticks: Number(fields[11]) + Number(fields[12]),
    };
  };
  const all = stat(`/proc/${pid}/stat`).ticks;
  const shares: Record<string, number> = {};
  if (all <= 0) return { main: 1 };
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const { name, ticks } = stat(`/proc/${pid}/task/${task}/stat`);
      const key = task === String(pid) ? 'main' : name;
      shares[key] = (shares[key] ?? 0) + ticks / all;
    } catch {
      // the thread exited meanwhile
    }
  }
  return shares;
}

/**
 * `--kill-at H`: SIGKILL the syncing node once it has synced height H (mid-sync, between or
 * inside its block writes), then start it again on the same home: it must resume from its
 * database and finish the sync (the caller then checks its chain against the validators').
 */
async function killAndRestart(c: Consortium, node: number, height: number, deadline: number): Promise<void> {
  await waitFor(
    c,
    [node],
    `node ${node} to sync height ${height}`,
    deadline,
    ([s]) => (s?.height ?? 0) >= height,
    20,
  );
  const pid = c.pids()[node]!;
  process.kill(pid, 'SIGKILL');
  while (c.pids()[node] !== null) await sleep(20);
  process.stdout.write(`  killed the syncing node (SIGKILL) after height ${height}; restarting it\n`);
  c.start(node);
}

/** Throws unless every node in `nodes` has the same block id and app hash at `height`. */
async function sameAppHash(c: Consortium, nodes: readonly number[], height: number): Promise<void> {
  const hashes = await Promise.all(
    nodes.map(async (i) => {
      const r = (await post(c.rpcs[i]!, {
        jsonrpc: '2.0',
        id: 1,
        method: 'block',
        params: { height: String(height) },
      })) as {
        result?: { block?: { header?: { app_hash?: string } }; block_id?: { hash?: string } };
      };
      return `${r.result?.block_id?.hash}/${r.result?.block?.header?.app_hash}`;
    }),
  );
  if (hashes.some((h) => h !== hashes[0] || h.includes('undefined')))
    throw new Error(`after the kill, block ${height} differs: ${hashes.join(' vs ')}`);
  process.stdout.write(
    `  after the kill: block ${height} and its app hash match the validators' (${hashes[0]})\n`,
  );
}

/**
 * The history: the validators (node 0 to N-1; the syncing node is taken out of every genesis'
 * validators first) commit every tx of `opts.txs`; resolves once their mempools are empty.
 */
async function makeHistory(
  c: Consortium,
  opts: ReturnType<typeof parseOptions>,
  validators: readonly number[],
): Promise<{ accepted: number; height: number; loadSeconds: number }> {
  // The syncing node is a member (its peers admit it) but not a validator.
  for (const home of c.homes) {
    const path = join(home, 'config', 'genesis.json');
    const genesis = JSON.parse(readFileSync(path, 'utf8')) as { validators: unknown[] };
    genesis.validators = genesis.validators.slice(0, opts.validators);
    writeFileSync(path, JSON.stringify(genesis, null, 2));
  }
  const vRpcs = validators.map((i) => c.rpcs[i]!);
  const t0 = Date.now();
  const txs = signTxs(c.chainId, opts.txs, opts.valueBytes);
  process.stdout.write(
    `  signed ${opts.txs} txs (${Buffer.from(txs[0]!, 'base64').length} bytes each) in ${Date.now() - t0} ms\n`,
  );
  for (const i of validators) c.start(i);
  await waitFor(c, validators, 'the validators to commit height 1', Date.now() + 120_000, (s) =>
    s.every((x) => x.height >= 1),
  );
  const loadStart = Date.now();
  const loaded = await load(vRpcs, txs, opts.batch, opts.inFlight, loadStart + opts.timeoutMs);
  const after = await waitFor(c, validators, 'the mempools to empty', loadStart + opts.timeoutMs, (s) =>
    s.every((x) => x.unconfirmed === 0),
  );
  const loadSeconds = (Date.now() - loadStart) / 1000;
  const height = Math.min(...after.map((s) => s.height));
  process.stdout.write(
    `  history: ${loaded.accepted} txs committed up to height ${height} in ${loadSeconds.toFixed(1)} s (${Math.round(loaded.accepted / loadSeconds)} tx/s; ${loaded.refused} refusals and ${loaded.errors} errors retried)\n`,
  );
  return { accepted: loaded.accepted, height, loadSeconds };
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const syncer = opts.validators;
  const c = Consortium.create({
    validators: opts.validators + 1,
    basePort: opts.basePort,
    overrides: opts.overrides,
    profileNode: opts.cpuProf ? syncer : null,
  });
  process.on('exit', () => c.destroySync(opts.keep));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(1));
  try {
    const validators = Array.from({ length: opts.validators }, (_, i) => i);
    const load1 = loadavg()[0]!;
    process.stdout.write(
      `bench:sync: ${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    let history: { accepted: number; height: number; loadSeconds: number | null };
    if (opts.from !== null) {
      restoreHistory(c, opts.from.dir, opts.from.history);
      history = { accepted: opts.from.history.txs, height: opts.from.history.height, loadSeconds: null };
      process.stdout.write(
        `  history: ${history.accepted} txs up to height ${history.height}, from ${opts.from.dir}\n`,
      );
    } else {
      history = await makeHistory(c, opts, validators);
      if (opts.saveHistory !== null) {
        await c.stopAll();
        saveHistory(c, opts.saveHistory, {
          validators: opts.validators,
          basePort: opts.basePort,
          txs: history.accepted,
          valueBytes: opts.valueBytes,
          height: history.height,
        });
        process.stdout.write(`  saved the homes with this history to ${opts.saveHistory}\n`);
      }
    }
    if (validators.some((i) => c.pids()[i] === null)) {
      for (const i of validators) c.start(i);
      await waitFor(
        c,
        validators,
        `the validators to be back at height ${history.height}`,
        Date.now() + 120_000,
        (s) => s.every((x) => x.height >= history.height),
      );
    }
    // The validators go on making (empty) blocks: the node syncs to where they are now.
    const target = Math.min(
      ...(await Promise.all(validators.map((i) => status(c.rpcs[i]!)))).map((s) => s.height),
    );
    const loadSeconds = history.loadSeconds;
    const loaded = { accepted: history.accepted };

    // The syncing node starts now, with an empty home.
    const m0 = machineSample();
    const s0 = Date.now();
    c.start(syncer);
    if (opts.killAt !== null)
      await killAndRestart(c, syncer, Math.min(opts.killAt, target - 1), s0 + opts.timeoutMs);
    let lastLine = Date.now();
    const [caughtUp] = await waitFor(
      c,
      [syncer],
      `node ${syncer} to sync to height ${target}`,
      s0 + opts.timeoutMs,
      ([s]) => {
        if (Date.now() - lastLine >= 5000 && s !== undefined) {
          lastLine = Date.now();
          process.stdout.write(`  syncing: height ${s.height}/${target}\n`);
        }
        return s !== undefined && s.height >= target;
      },
    );
    const seconds = (Date.now() - s0) / 1000;
    const m1 = machineSample();
    const cpu = procSample(c.pids()[syncer]!);
    const threads = threadShares(c.pids()[syncer]!);
    const mainCpu = cpu === null ? null : cpu.cpuSeconds * (threads.main ?? 1);
    const load2 = loadavg()[0]!;
    const busyCores = m0 !== null && m1 !== null ? (m1.busySeconds - m0.busySeconds) / seconds : null;
    const nodeCores = cpu === null ? null : cpu.cpuSeconds / seconds;
    const log = syncLogLines(c.homes[syncer]!);
    // After a kill the node must hold the validators' chain: the same app hash at the target.
    if (opts.killAt !== null) await sameAppHash(c, [0, syncer], target);
    await c.stopAll();

    const result = {
      at: new Date().toISOString(),
      txs: loaded.accepted,
      heights: target,
      validators: opts.validators,
      value_bytes: opts.valueBytes,
      load_seconds: loadSeconds,
      history_from: opts.from?.dir ?? null,
      sync_seconds: seconds,
      sync_txs_per_s: Math.round(loaded.accepted / seconds),
      // The validators go on making (empty) blocks meanwhile: the node syncs to where they are now.
      heights_synced: caughtUp!.height,
      sync_blocks_per_s: Math.round((caughtUp!.height / seconds) * 10) / 10,
      syncing_node_cpu_seconds: cpu?.cpuSeconds ?? null,
      syncing_node_cores: nodeCores,
      // What the node would do with a core to itself (start-up included): the figure a busy
      // machine distorts least.
      txs_per_node_cpu_second: cpu === null ? null : Math.round(loaded.accepted / cpu.cpuSeconds),
      syncing_node_peak_rss_mb: cpu === null ? null : Math.round(cpu.peakRssBytes / 2 ** 20),
      machine_busy_cores_during_sync: busyCores,
      others_busy_cores_during_sync: busyCores !== null && nodeCores !== null ? busyCores - nodeCores : null,
      load_average: [load1, load2],
      cores: cpus().length,
      node_log_done: log.done.map(({ msg, ...rest }) => rest),
      // The main thread's share of the node's CPU (start-up included): what limits the rate once
      // the verifying runs on a worker thread, so the figure for a change that moves work there.
      syncing_node_main_thread_cpu_seconds: mainCpu,
      syncing_node_cpu_share_by_thread: Object.fromEntries(
        Object.entries(threads)
          .sort((a, b) => b[1] - a[1])
          .map(([name, share]) => [name, Math.round(share * 1000) / 1000]),
      ),
      txs_per_main_thread_cpu_second: mainCpu === null ? null : Math.round(loaded.accepted / mainCpu),
      node_log_progress_lines: log.progress.length,
      // A failed request skips that peer for 30 s: with every peer skipped the sync waits.
      sync_request_failures: log.failures,
    };
    process.stdout.write(`${log.progress.map((l) => `  node: ${String(l.msg)}`).join('\n')}\n`);
    process.stdout.write(`${log.done.map((l) => `  node: ${String(l.msg)}`).join('\n')}\n`);
    process.stdout.write(
      `  node CPU by thread: ${Object.entries(result.syncing_node_cpu_share_by_thread)
        .map(([name, share]) => `${name} ${(share * 100).toFixed(1)}%`)
        .join(', ')}\n`,
    );
    const dir = join(import.meta.dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `sync-${result.at.replace(/:/g, '-')}.json`);
    if (opts.cpuProf) {
      const from = join(c.profileDir, `node${syncer}.cpuprofile`);
      const profile = JSON.parse(readFileSync(from, 'utf8')) as CpuProfile;
      process.stdout.write(`${formatSummary(summariseProfile(profile, 25))}\n`);
      // Kept, for `node bench/profile.ts FILE --from-us … --to-us …` (a window of the sync).
      const kept = file.replace(/\.json$/, '-node.cpuprofile');
      cpSync(from, kept);
      process.stdout.write(`  kept the syncing node's profile as ${kept}\n`);
    }
    writeFileSync(file, JSON.stringify(result, null, 2));
    process.stdout.write(`  wrote ${file}${opts.keep ? `; homes kept in ${c.dir}` : ''}\n`);
    process.stdout.write(
      `sync_txs_per_s=${result.sync_txs_per_s} sync_blocks_per_s=${result.sync_blocks_per_s} txs=${result.txs} heights=${caughtUp!.height} seconds=${seconds.toFixed(1)} node_cores=${nodeCores?.toFixed(2)} txs_per_node_cpu_s=${result.txs_per_node_cpu_second} txs_per_main_thread_cpu_s=${result.txs_per_main_thread_cpu_second} others_cores=${result.others_busy_cores_during_sync?.toFixed(2)} load=${load1.toFixed(2)}/${load2.toFixed(2)} failures=${log.failures}\n`,
    );
  } catch (err) {
    process.stderr.write(`bench:sync: ${(err as Error).message}\n`);
    await c.destroy(opts.keep);
    process.exit(1);
  }
  await c.destroy(opts.keep);
  process.exit(0);
}

await main();
