/**
 * The load process of `npm run bench` (forked by bench/run.ts; not meant to be run by hand).
 *
 * It signs every tx of the run before the clock starts (many signer keys, unique nonces, a kvstore
 * `set` of a fresh key padded to the requested encoded size), then offers them at a fixed rate in
 * an open loop: tx i is due at i/rate seconds and is sent then whatever the replies so far, round
 * robin over the nodes' `/broadcast_tx_sync?tx=0x…` on keep-alive sockets, or with `batch` > 1 as
 * JSON-RPC batches of that many `broadcast_tx_sync` calls in one POST (a batch goes out when its
 * last tx is due, so the earlier ones wait in it, and that wait counts). Its submit time is the
 * time it was due, not when a socket freed up, so a slow node cannot hide its queueing from the
 * latency (no coordinated omission). Refusals (MEMPOOL_FULL…) and transport errors are counted
 * apart, by code.
 *
 * With `health` in the config it sends the health mix instead (bench/health-mix.ts, over the
 * pre-grown state): each tx to the node of its signer (JSON-RPC batches are gathered per node),
 * and it reads `/block_results` of every block holding its txs, since a health tx can be
 * accepted and still fail in its block; the result counts the window's mix and those failures.
 *
 * Commit times come from following one node's blocks: `/block?height=H` as soon as the previous
 * height was read, polling every `pollMs` while H does not exist yet; each tx in a block is hashed
 * (sha256 of its bytes) and looked up. A commit is timed when the block is first seen on that node,
 * so latencies include up to one poll interval and one block fetch.
 *
 * Everything it needs comes in one `config` message; it answers `ready` once signed, starts on
 * `start`, reports phases and progress, and ends with one `result` message. It exits if the parent
 * goes away.
 */
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { keyPairFromSeed, signerFor } from '../packages/crypto/ed25519.ts';
import { encodeTx, txSignBytes } from '../packages/types/tx.ts';
import { encodeKvOp } from '../state/kvstore-app.ts';
import { HealthMix, MIX_KINDS } from './health-mix.ts';
import { loadWorld } from './health-world.ts';
import {
  type BlockSample,
  committedRate,
  type FromLoad,
  type HealthLoadConfig,
  type LoadConfig,
  type LoadResult,
  monoMicros,
  percentiles,
  type ToLoad,
} from './protocol.ts';

const REQUEST_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

const Status = { pending: 0, inFlight: 1, accepted: 2, refused: 3, error: 4, skipped: 5 } as const;

function send(message: FromLoad): void {
  process.send?.(message);
}

if (process.send === undefined) {
  process.stderr.write('bench/load.ts is forked by bench/run.ts (npm run bench); it has no CLI of its own\n');
  process.exit(2);
}
process.on('disconnect', () => process.exit(1));
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

// ---------------------------------------------------------------------------------------------
// Signing

interface Signed {
  /** `/broadcast_tx_sync?tx=0x…` (one call per request) */
  readonly paths: string[];
  /** The tx as base64, for JSON-RPC batches (empty unless batching). */
  readonly base64: string[];
  /** sha256 of the tx bytes, hex, to index number. */
  readonly byHash: Map<string, number>;
  /** The encoded size of every tx (kvstore), or their mean (health). */
  readonly txBytes: number;
  /** The node each tx is sent to (health: its signer's); null sends round robin (kvstore). */
  readonly nodeOf: Uint8Array | null;
  /** Each tx's kind, an index in MIX_KINDS (health); null for kvstore. */
  readonly kindOf: Uint8Array | null;
}

function kvKey(i: number): string {
  // Fixed width, so every tx of a run has the same size.
  return `bench/${i.toString().padStart(9, '0')}`;
}

/** Value length that makes the encoded tx exactly (or just under) `target` bytes. */
function valueLength(
  chainId: string,
  target: number,
  build: (i: number, valueLen: number) => Uint8Array,
): number {
  let len = Math.max(0, target - build(0, 0).length);
  for (let tries = 0; tries < 8; tries++) {
    const size = build(0, len).length;
    if (size === target) return len;
    len = Math.max(0, len + target - size);
    if (len === 0) break;
  }
  // msgpack length headers grow at 256 and 65536 bytes: settle just under the target.
  while (len > 0 && build(0, len).length > target) len--;
  if (build(0, len).length > target) {
    throw new Error(
      `--tx-bytes ${target} is below the smallest kvstore tx on chain ${chainId} (${build(0, 0).length} bytes)`,
    );
  }
  return len;
}

function signAll(cfg: LoadConfig, count: number): Signed {
  if (cfg.health !== null) return signHealth(cfg, cfg.health, count);
  const keys = Array.from({ length: cfg.signers }, (_, k) => {
    const pair = keyPairFromSeed(
      createHash('sha256').update(`careledger/bench/load/${cfg.chainId}/${k}`).digest(),
    );
    return { publicKey: pair.publicKey, sign: signerFor(pair.secretKey) };
  });
  const build = (i: number, valueLen: number): Uint8Array => {
    const key = keys[i % keys.length]!;
    const value = Buffer.alloc(valueLen, 0x61 + (i % 26));
    const payload = encodeKvOp({ op: 'set', key: kvKey(i), value });
    const unsigned = { signer: key.publicKey, nonce: BigInt(Math.floor(i / keys.length)), payload };
    return encodeTx({ ...unsigned, signature: key.sign(txSignBytes(cfg.chainId, unsigned)) });
  };
  const len = valueLength(cfg.chainId, cfg.txBytes, build);
  return collect(cfg, count, (i) => build(i, len), null, null);
}

/** The health mix (bench/health-mix.ts): each tx goes to the node its signer sends through. */
function signHealth(cfg: LoadConfig, health: HealthLoadConfig, count: number): Signed {
  const world = loadWorld(health.homes, health.records, health.perPatient);
  const mix = new HealthMix(world, health.memberNonces, health.seed);
  const nodeOf = new Uint8Array(count);
  const kindOf = new Uint8Array(count);
  return collect(
    cfg,
    count,
    (i) => {
      const m = mix.next();
      nodeOf[i] = m.node;
      kindOf[i] = MIX_KINDS.indexOf(m.kind);
      return m.tx.bytes;
    },
    nodeOf,
    kindOf,
  );
}

/** The signed txs in the form the sender and the follower use; `bytesOf` is called in order. */
function collect(
  cfg: LoadConfig,
  count: number,
  bytesOf: (i: number) => Uint8Array,
  nodeOf: Uint8Array | null,
  kindOf: Uint8Array | null,
): Signed {
  const batching = cfg.batch > 1;
  const paths: string[] = batching ? [] : new Array(count);
  const base64: string[] = batching ? new Array(count) : [];
  const byHash = new Map<string, number>();
  let txBytes = 0;
  for (let i = 0; i < count; i++) {
    const bytes = bytesOf(i);
    txBytes = nodeOf === null ? bytes.length : txBytes + bytes.length;
    if (batching) base64[i] = Buffer.from(bytes).toString('base64');
    else paths[i] = `/broadcast_tx_sync?tx=0x${Buffer.from(bytes).toString('hex')}`;
    byHash.set(createHash('sha256').update(bytes).digest('hex'), i);
  }
  // The health txs' sizes vary: their mean.
  if (nodeOf !== null) txBytes = Math.round(txBytes / Math.max(1, count));
  return { paths, base64, byHash, txBytes, nodeOf, kindOf };
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Target {
  readonly host: string;
  readonly port: number;
  readonly agent: Agent;
}

function target(base: string, sockets: number): Target {
  const url = new URL(base);
  return {
    host: url.hostname,
    port: Number(url.port),
    agent: new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets }),
  };
}

/**
 * GET a path (or POST `body` to it); resolves with the parsed JSON body, rejects on transport
 * errors and timeouts. A request sent on a kept-alive socket that the node closed at the same
 * moment (its idle timeout, 5 s) fails with ECONNRESET before the node read it: that one is sent
 * again once on a fresh socket, as Node's documentation advises (`request.reusedSocket`), instead
 * of counting as a lost tx.
 */
function getJson(t: Target, path: string, body?: string, retried = false): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const method = body === undefined ? 'GET' : 'POST';
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    const req = request({ host: t.host, port: t.port, path, method, headers, agent: t.agent }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new Error(`bad JSON (HTTP ${res.statusCode})`));
        }
      });
      res.on('error', reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET') resolve(getJson(t, path, body, true));
      else reject(err);
    });
    req.end(body);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// The run

async function run(cfg: LoadConfig, waitForStart: Promise<void>): Promise<void> {
  const count = Math.ceil(cfg.rate * (cfg.warmupSeconds + cfg.durationSeconds));
  const signStart = performance.now();
  const signed = signAll(cfg, count);
  const signSeconds = (performance.now() - signStart) / 1000;
  send({ type: 'ready', txs: count, txBytes: signed.txBytes, signSeconds });
  await waitForStart;

  const nodes = cfg.rpcs.map((base) => target(base, cfg.socketsPerNode));
  const tracked = target(cfg.rpcs[cfg.trackNode]!, 1);
  const status = new Uint8Array(count);
  const ackAt = new Float64Array(count).fill(Number.NaN);
  const committedAt = new Float64Array(count).fill(Number.NaN);
  const refusedByCode = new Map<number, string>();
  const errorByKind = new Map<number, string>();
  const dueAt = (i: number): number => (i * 1000) / cfg.rate;
  const warmMs = cfg.warmupSeconds * 1000;
  const endMs = (cfg.warmupSeconds + cfg.durationSeconds) * 1000;

  let outstanding = 0;
  let next = 0;
  let committed = 0;
  let height = 0;
  const counts = { accepted: 0, refused: 0, errors: 0, skipped: 0 };
  const blocks: BlockSample[] = [];

  // Start following from the height the tracked node is at now: earlier blocks hold none of ours.
  const startStatus = (await getJson(tracked, '/status')) as {
    result?: { sync_info?: { latest_block_height?: string } };
  };
  let followHeight = Number(startStatus.result?.sync_info?.latest_block_height ?? '0') + 1;
  height = followHeight - 1;

  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  send({ type: 'phase', phase: 'warmup', monoUs: monoMicros() });

  /** Records one call's answer: a JSON-RPC envelope, or a transport error for the whole request. */
  const answered = (i: number, at: number, reply: unknown): void => {
    ackAt[i] = at;
    const b = reply as { result?: { code?: number; codespace?: string }; error?: { data?: string } };
    if (b.result?.code === 0) {
      status[i] = Status.accepted;
      counts.accepted++;
    } else if (b.result !== undefined) {
      status[i] = Status.refused;
      counts.refused++;
      refusedByCode.set(i, b.result.codespace || 'UNKNOWN');
    } else {
      status[i] = Status.error;
      counts.errors++;
      errorByKind.set(i, `rpc: ${b.error?.data ?? 'no result'}`);
    }
  };
  const failed = (i: number, at: number, err: unknown): void => {
    ackAt[i] = at;
    status[i] = Status.error;
    counts.errors++;
    errorByKind.set(i, (err as Error).message);
  };

  let requests = 0;
  /** The node of a request whose (first) tx is i: the tx's own (health), else round robin. */
  const nodeFor = (i: number): Target =>
    nodes[signed.nodeOf === null ? requests++ % nodes.length : signed.nodeOf[i]!]!;
  const submit = (i: number): void => {
    const node = nodeFor(i);
    status[i] = Status.inFlight;
    outstanding++;
    getJson(node, signed.paths[i]!).then(
      (body) => {
        outstanding--;
        answered(i, now(), body);
      },
      (err: unknown) => {
        outstanding--;
        failed(i, now(), err);
      },
    );
  };

  /** One POST of a JSON-RPC batch; the reply is matched to the txs by id (the tx's index). */
  const submitBatch = (batch: readonly number[]): void => {
    const node = nodeFor(batch[0]!);
    for (const i of batch) status[i] = Status.inFlight;
    outstanding += batch.length;
    const body = JSON.stringify(
      batch.map((i) => ({
        jsonrpc: '2.0',
        id: i,
        method: 'broadcast_tx_sync',
        params: { tx: signed.base64[i] },
      })),
    );
    getJson(node, '/', body).then(
      (reply) => {
        outstanding -= batch.length;
        const at = now();
        const byId = new Map<number, unknown>();
        if (Array.isArray(reply)) for (const r of reply) byId.set((r as { id?: number }).id ?? -1, r);
        for (const i of batch) {
          const r = byId.get(i);
          if (r !== undefined) answered(i, at, r);
          else answered(i, at, Array.isArray(reply) ? {} : reply);
        }
      },
      (err: unknown) => {
        outstanding -= batch.length;
        const at = now();
        for (const i of batch) failed(i, at, err);
      },
    );
  };

  // The open-loop scheduler: every due tx goes out, whatever happened to the ones before.
  // With batches, due txs gather until a batch is full (or the last tx is due): in one list when
  // batches go round robin, in one per node when each tx has its node.
  const gatherings: number[][] = signed.nodeOf === null ? [[]] : nodes.map(() => []);
  let gathered = 0;
  const flush = (g: number[]): void => {
    gathered -= g.length;
    submitBatch(g.splice(0));
  };
  const schedulerDone = new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(count, Math.floor((now() * cfg.rate) / 1000) + 1);
      for (; next < due; next++) {
        if (outstanding + gathered >= cfg.maxOutstanding) {
          status[next] = Status.skipped;
          counts.skipped++;
        } else if (cfg.batch <= 1) submit(next);
        else {
          const g = gatherings[signed.nodeOf === null ? 0 : signed.nodeOf[next]!]!;
          g.push(next);
          gathered++;
          if (g.length >= cfg.batch) flush(g);
        }
      }
      if (next >= count) for (const g of gatherings) if (g.length > 0) flush(g);
      if (next >= count) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });

  let following = true;
  let recent: number[] = [];
  /**
   * Health txs: a committed tx can still have failed (the application's state checks run in the
   * block), so each block's results are read for our txs' codes; not waited for by the follower.
   */
  const failedCode = new Map<number, string>();
  const resultChecks: Promise<void>[] = [];
  const checkResults = async (at: number, positions: readonly [number, number][]): Promise<void> => {
    let codes: { code?: number; codespace?: string }[] | undefined;
    try {
      const body = (await getJson(tracked, `/block_results?height=${at}`)) as {
        result?: { txs_results?: { code?: number; codespace?: string }[] };
      };
      codes = body.result?.txs_results;
    } catch {
      codes = undefined;
    }
    for (const [position, i] of positions) {
      const r = codes?.[position];
      if (r === undefined) failedCode.set(i, 'block_results unavailable');
      else if (r.code !== 0) failedCode.set(i, r.codespace || `code ${r.code}`);
    }
  };
  const follow = async (): Promise<void> => {
    while (following) {
      let body: { result?: { block?: { header?: { time?: string }; data?: { txs?: string[] } } } };
      try {
        body = (await getJson(tracked, `/block?height=${followHeight}`)) as typeof body;
      } catch {
        await sleep(cfg.pollMs);
        continue;
      }
      const block = body.result?.block;
      if (block === undefined) {
        await sleep(cfg.pollMs);
        continue;
      }
      const observed = now();
      const txs = block.data?.txs ?? [];
      let ours = 0;
      const positions: [position: number, tx: number][] = [];
      for (const [position, b64] of txs.entries()) {
        const i = signed.byHash.get(createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex'));
        if (i === undefined || !Number.isNaN(committedAt[i]!)) continue;
        committedAt[i] = observed;
        ours++;
        committed++;
        recent.push(observed - dueAt(i));
        positions.push([position, i]);
      }
      if (signed.kindOf !== null && positions.length > 0)
        resultChecks.push(checkResults(followHeight, positions));
      const time = block.header?.time ?? '';
      blocks.push({
        height: followHeight,
        // RFC 3339 with up to nine fraction digits, trailing zeros dropped (CometBFT's form):
        // Date.parse takes any number of them.
        timeMs: Date.parse(time),
        txs: txs.length,
        ours,
        observedMs: Math.round(observed * 10) / 10,
      });
      height = followHeight;
      followHeight++;
    }
  };
  const follower = follow();

  let phase = 'warmup';
  let lastProgress = { at: 0, committed: 0 };
  const progress = setInterval(() => {
    const at = now();
    const sorted = Float64Array.from(recent).sort();
    const pick = (p: number): number | null =>
      sorted.length === 0
        ? null
        : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
    send({
      type: 'progress',
      elapsedSeconds: Math.round(at / 100) / 10,
      phase,
      scheduled: next,
      accepted: counts.accepted,
      refused: counts.refused,
      errors: counts.errors,
      skipped: counts.skipped,
      outstanding,
      committed,
      height,
      recentTps: Math.round(
        ((committed - lastProgress.committed) * 1000) / Math.max(1, at - lastProgress.at),
      ),
      recentP50Ms: pick(0.5),
      recentP99Ms: pick(0.99),
    });
    recent = [];
    lastProgress = { at, committed };
  }, cfg.progressEveryMs);

  const cpuAtMeasure = { value: process.cpuUsage() };
  const measureTimer = setTimeout(() => {
    phase = 'measure';
    cpuAtMeasure.value = process.cpuUsage();
    send({ type: 'phase', phase: 'measure', monoUs: monoMicros() });
  }, warmMs);
  await schedulerDone;
  // The last tx is due just before endMs; the window closes at endMs itself.
  await sleep(Math.max(0, endMs - now()));
  clearTimeout(measureTimer);
  const loadCpu = process.cpuUsage(cpuAtMeasure.value);
  phase = 'drain';
  send({ type: 'phase', phase: 'drain', monoUs: monoMicros() });

  // Drain: until every accepted tx is in a block and every request answered, or the deadline.
  const drainDeadline = now() + cfg.drainSeconds * 1000;
  const allDone = (): boolean => {
    if (outstanding > 0) return false;
    for (let i = 0; i < count; i++)
      if (status[i] === Status.accepted && Number.isNaN(committedAt[i]!)) return false;
    return true;
  };
  while (now() < drainDeadline && !allDone()) await sleep(100);
  following = false;
  clearInterval(progress);
  await Promise.race([follower, sleep(REQUEST_TIMEOUT_MS)]);
  await Promise.race([Promise.all(resultChecks), sleep(REQUEST_TIMEOUT_MS)]);
  const endedAt = now();
  send({ type: 'phase', phase: 'done', monoUs: monoMicros() });

  // Results over the measured window: txs due in [warm-up end, end).
  const first = Math.ceil((warmMs * cfg.rate) / 1000);
  const latencies: number[] = [];
  const rpcLatencies: number[] = [];
  const refused: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const mix: Record<string, number> = {};
  const failedInBlock: Record<string, number> = {};
  let windowAccepted = 0;
  let windowCommitted = 0;
  let uncommitted = 0;
  let skipped = 0;
  for (let i = first; i < count; i++) {
    const s = status[i]!;
    if (signed.kindOf !== null) {
      const kind = MIX_KINDS[signed.kindOf[i]!]!;
      mix[kind] = (mix[kind] ?? 0) + 1;
      const code = failedCode.get(i);
      if (code !== undefined) failedInBlock[code] = (failedInBlock[code] ?? 0) + 1;
    }
    if (s === Status.skipped) skipped++;
    if (!Number.isNaN(ackAt[i]!)) rpcLatencies.push(ackAt[i]! - dueAt(i));
    if (s === Status.refused) {
      const code = refusedByCode.get(i) ?? 'UNKNOWN';
      refused[code] = (refused[code] ?? 0) + 1;
    }
    if (s === Status.error || s === Status.inFlight) {
      const kind = s === Status.inFlight ? 'no reply' : (errorByKind.get(i) ?? 'unknown');
      errors[kind] = (errors[kind] ?? 0) + 1;
    }
    if (!Number.isNaN(committedAt[i]!)) {
      windowCommitted++;
      latencies.push(committedAt[i]! - dueAt(i));
    }
    if (s === Status.accepted) {
      windowAccepted++;
      if (Number.isNaN(committedAt[i]!)) {
        uncommitted++;
        latencies.push(endedAt - dueAt(i));
      }
    }
  }
  let totalCommitted = 0;
  let acceptedReplies = 0;
  for (let i = 0; i < count; i++) {
    if (!Number.isNaN(committedAt[i]!)) totalCommitted++;
    if (status[i] === Status.accepted && ackAt[i]! >= warmMs && ackAt[i]! < endMs) acceptedReplies++;
  }

  const committedTps = committedRate(blocks, warmMs, endMs);
  const windowCount = count - first;
  const result: LoadResult = {
    type: 'result',
    txBytes: signed.txBytes,
    signSeconds: Math.round(signSeconds * 100) / 100,
    warmupSeconds: cfg.warmupSeconds,
    durationSeconds: cfg.durationSeconds,
    window: {
      scheduled: windowCount,
      accepted: windowAccepted,
      acceptedReplies,
      refused,
      errors,
      skipped,
      committed: windowCommitted,
      uncommitted,
    },
    total: { scheduled: count, ...counts, committed: totalCommitted },
    offeredTps: Math.round((windowCount / cfg.durationSeconds) * 10) / 10,
    acceptedTps: Math.round((windowAccepted / cfg.durationSeconds) * 10) / 10,
    committedTps: Math.round(committedTps * 10) / 10,
    latencyMs: percentiles(Float64Array.from(latencies)),
    latencyIsLowerBound: uncommitted > 0,
    rpcLatencyMs: percentiles(Float64Array.from(rpcLatencies)),
    blocks,
    loadCpuSeconds: Math.round(((loadCpu.user + loadCpu.system) / 1e6) * 100) / 100,
    loadPeakRssBytes: process.resourceUsage().maxRSS * 1024,
    health: signed.kindOf === null ? null : { mix, failed: failedInBlock },
  };
  for (const n of [...nodes, tracked]) n.agent.destroy();
  await new Promise<void>((resolve) => process.send!(result, () => resolve()));
}

let startNow: () => void = () => undefined;
const started = new Promise<void>((resolve) => {
  startNow = resolve;
});
process.on('message', (message: ToLoad) => {
  if (message.type === 'start') startNow();
  else if (message.type === 'config') {
    run(message, started).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`bench/load.ts: ${(err as Error).stack ?? String(err)}\n`);
        process.exit(1);
      },
    );
  }
});
