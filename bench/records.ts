/**
 * `npm run bench:records -- [--fetches N] [--large-fetches N] [--concurrency LIST] [--duration S] …`
 *
 * Records moving between two institutions of a real 4-node health consortium on loopback
 * (issue 12, "Benchmark"), through the SDK exactly as an institution's systems use it
 * (packages/client/records.ts: putRecord, fetchRecord with the light client's proofs):
 *  1. a fresh testnet (bench/consortium.ts, `proxy_app: health`, ports from --base-port, default
 *     28656, away from `npm start`, the e2e tests and `npm run bench`), one process per node;
 *  2. set-up as the demo does it: node 0's member (the custodian) enrols a patient, the patient
 *     grants node 1's member (the requester) read/TREAT/Observation, and the custodian stores and
 *     anchors one record of each size (1 KiB, 100 KiB, 10 MiB; the put latency is reported);
 *  3. sequential fetches by the requester through its own node (which fetches from node 0 over
 *     /careledger/record/1): latency p50/p99 per size, end to end (signed request, the
 *     custodian's committed access event, the ciphertext stream, the proofs, the decryption),
 *     next to the block interval measured over the same stretch of chain; during every fetch the
 *     custodian's and the requester's VmRSS are sampled from /proc every 20 ms (growth over the
 *     value just before that fetch; the first large fetch also grows the heaps once);
 *  4. fetches/s with --concurrency fetches of the 1 KiB record in flight (each level for
 *     --duration seconds);
 *  5. vault throughput: 10 MiB records encrypted to the envelope (client side, as putRecord does)
 *     and stored in node 0's vault through its local API, MB/s of plaintext; these uploads are
 *     not anchored (the anchor's wait for a block is in the put latency of step 2).
 * Prints a report with the machine's load (`uptime`), writes JSON to bench/results/ and ends with
 * a line `fetch_100k_p50_ms=… block_ms=… …`. Every wait has a deadline; on exit, error or Ctrl-C
 * the nodes are stopped and the temp folder removed (--keep keeps it).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { homePaths, loadHome } from '../node/home.ts';
import { HealthClient, rpcTransport } from '../packages/client/health.ts';
import { generateKey, loadKeyFile, loadRecordKeyFile, recordKeyPathFor } from '../packages/client/keys.ts';
import { LightClient } from '../packages/client/light-client.ts';
import { LocalApi } from '../packages/client/local-api.ts';
import { encryptToFile, withTempDir } from '../packages/client/record-files.ts';
import { type FetchContext, fetchRecord, putRecord } from '../packages/client/records.ts';
import { RpcClient } from '../packages/client/rpc.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { provision } from '../packages/health/provision.ts';
import { generateDataKey } from '../packages/records/key-material.ts';
import {
  type BenchCommand,
  configOverrides,
  integerArg,
  parseCommandLine,
  usageError,
} from './command-line.ts';
import { BENCH_DEFAULTS, Consortium, gitState, procSample, QUIET_CORES, waitQuiet } from './consortium.ts';
import { type Percentiles, percentiles } from './protocol.ts';

const root = join(import.meta.dirname, '..');
const resultsDir = join(import.meta.dirname, 'results');

const KIB = 1024;
const MIB = 1024 * KIB;
interface Size {
  readonly label: string;
  readonly key: string;
  readonly bytes: number;
}
/** The record sizes of the issue; the large one can be changed (--large-mib) to see how RSS scales with it. */
function recordSizes(largeMiB: number): Size[] {
  return [
    { label: '1 KiB', key: '1k', bytes: KIB },
    { label: '100 KiB', key: '100k', bytes: 100 * KIB },
    { label: `${largeMiB} MiB`, key: 'large', bytes: largeMiB * MIB },
  ];
}
const VALIDATORS = 4;
const CUSTODIAN = 0;
const REQUESTER = 1;
/** The issue's targets: p50 of a 100 KiB fetch under this many block intervals; RSS growth under this many records. */
const TARGET_BLOCKS = 1.5;
const TARGET_RSS_RECORDS = 2;
const START_TIMEOUT_MS = 90_000;
const RSS_SAMPLE_MS = 20;
const CHUNK = 64 * KIB;
/** Whole-machine busy cores below which the machine counts as quiet (as bench/run.ts). */

const usage = `Usage: npm run bench:records -- [options]
       npx node bench/records.ts [options]

Starts a fresh 4-node health consortium of real node processes on 127.0.0.1 (temp folder, ports
from --base-port) and measures, through the SDK, records moving from node 0's institution (the
custodian) to node 1's (the requester): fetch latency p50/p99 for 1 KiB, 100 KiB and 10 MiB
records next to the block interval of the same run, the custodian's and the requester's RSS
during every fetch, fetches/s under concurrency, the put (encrypt, store, anchor) latency
and the vault's throughput (encrypt + store, MB/s). Prints the machine's load, writes JSON under
bench/results/ and ends with a line fetch_1k_p50_ms=… … block_ms=… ….
Targets (issue 12): a 100 KiB fetch under ${TARGET_BLOCKS} block intervals at p50; a 10 MiB fetch
grows neither node's RSS by more than ${TARGET_RSS_RECORDS}x the record.

Options:
  --fetches N         sequential fetches of the 1 KiB and of the 100 KiB record (default 20)
  --large-fetches N   sequential fetches of the large record (default 5)
  --large-mib M       size of the large record, MiB (default 10)
  --concurrency LIST  fetches in flight in the concurrency phase, one step per comma-separated
                      value (default 4,16)
  --duration S        seconds of each concurrency step (default 10; 0 skips the phase)
  --vault-records N   10 MiB uploads timed for the vault's throughput (default 4; 0 skips it)
  --set KEY=VALUE     override a key of every node's config.json (repeatable), e.g.
                      --set consensus.timeout_commit_ms=1000 (the node's default); the bench's
                      defaults: ${Object.entries({ ...BENCH_DEFAULTS, proxy_app: 'health' })
                        .map(([k, v]) => `${k}=${v}`)
                        .join(', ')}
  --base-port P       P2P port of node 0; RPC is P+1; node I adds 10*I (default 28656)
  --quiet-wait S      before starting, wait up to S seconds for the machine to be idle (other
                      processes under ${QUIET_CORES} cores busy); default 0, do not wait
  --keep              keep the temp folder (homes and node logs)
  -h, --help          show this help
`;

interface Options {
  readonly fetches: number;
  readonly largeFetches: number;
  readonly largeMiB: number;
  readonly concurrency: readonly number[];
  readonly durationSeconds: number;
  readonly vaultRecords: number;
  readonly overrides: Readonly<Record<string, string | number | boolean>>;
  readonly basePort: number;
  readonly quietWaitSeconds: number;
  readonly keep: boolean;
}

const COMMAND = {
  name: 'bench:records',
  command: 'npm run bench:records --',
  usage,
  options: {
    fetches: { type: 'string', default: '20' },
    'large-fetches': { type: 'string', default: '5' },
    'large-mib': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '4,16' },
    duration: { type: 'string', default: '10' },
    'vault-records': { type: 'string', default: '4' },
    set: { type: 'string', multiple: true },
    'base-port': { type: 'string', default: '28656' },
    'quiet-wait': { type: 'string', default: '0' },
    keep: { type: 'boolean', default: false },
  },
} as const satisfies BenchCommand;

function parseOptions(): Options {
  const { values } = parseCommandLine(COMMAND);
  const overrides = { proxy_app: 'health', ...configOverrides(COMMAND, values.set) };
  if (overrides.proxy_app !== 'health') usageError(COMMAND, 'this benchmark needs proxy_app=health');
  return {
    fetches: integerArg(COMMAND, values.fetches, '--fetches', 1, 10_000),
    largeFetches: integerArg(COMMAND, values['large-fetches'], '--large-fetches', 1, 1000),
    largeMiB: integerArg(COMMAND, values['large-mib'], '--large-mib', 1, 60),
    concurrency: values.concurrency
      .split(',')
      .map((c) => integerArg(COMMAND, c.trim(), '--concurrency', 1, 256)),
    durationSeconds: integerArg(COMMAND, values.duration, '--duration', 0, 3600),
    vaultRecords: integerArg(COMMAND, values['vault-records'], '--vault-records', 0, 1000),
    overrides,
    basePort: integerArg(COMMAND, values['base-port'], '--base-port', 1024, 60_000),
    quietWaitSeconds: integerArg(COMMAND, values['quiet-wait'], '--quiet-wait', 0, 3600),
    keep: values.keep === true,
  };
}

// ---------------------------------------------------------------------------------------------
// Clean-up: the nodes never outlive this process.

let active: { consortium: Consortium; keep: boolean } | null = null;
process.on('exit', () => active?.consortium.destroySync(active.keep));
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.once(signal, () => {
    process.stderr.write(`\nbench:records: ${signal}, stopping the nodes…\n`);
    const a = active;
    active = null;
    void (a === null ? Promise.resolve() : a.consortium.destroy(a.keep)).finally(() => process.exit(130));
  });

// ---------------------------------------------------------------------------------------------
// The two institutions

interface Institution {
  readonly url: string;
  readonly ctx: FetchContext;
}

function clientAt(url: string, home: string, key: ReturnType<typeof generateKey>): HealthClient {
  const rpc = new RpcClient(url);
  const genesis = loadHome(home).genesis;
  return new HealthClient({
    chainId: genesis.chainId,
    transport: rpcTransport(rpc, new LightClient(genesis, rpc)),
    key,
  });
}

function institution(consortium: Consortium, i: number): Institution {
  const home = consortium.homes[i]!;
  const memberKey = homePaths(home).memberKey;
  const key = loadKeyFile(memberKey);
  const url = consortium.rpcs[i]!;
  return {
    url,
    ctx: {
      client: clientAt(url, home, key),
      nodeUrl: url,
      key,
      recordKey: loadRecordKeyFile(recordKeyPathFor(memberKey)),
    },
  };
}

/** `bytes` random bytes in CHUNK pieces (the record is never built whole). */
function* content(bytes: number): Generator<Uint8Array> {
  for (let left = bytes; left > 0; left -= CHUNK) yield new Uint8Array(randomBytes(Math.min(CHUNK, left)));
}

/** Height and block time (ms) of a node's latest block. */
async function chainPoint(url: string): Promise<{ height: bigint; timeMs: number }> {
  const s = await new RpcClient(url).status();
  return { height: s.latestBlockHeight, timeMs: Number(s.latestBlockTime) };
}

function blockIntervalMs(
  a: { height: bigint; timeMs: number },
  b: { height: bigint; timeMs: number },
): number | null {
  const blocks = Number(b.height - a.height);
  return blocks > 0 ? Math.round((b.timeMs - a.timeMs) / blocks) : null;
}

function errorCode(err: unknown): string {
  return err instanceof CareLedgerError ? err.code : ((err as Error).message ?? String(err)).slice(0, 80);
}

// ---------------------------------------------------------------------------------------------
// The phases

interface SizeResult {
  readonly size: string;
  readonly bytes: number;
  readonly putMs: number;
  readonly fetchMs: Percentiles;
  /**
   * Where a fetch's time goes (see `timeReleases`): before the ask (the anchor's and the record
   * key's proofs), the release (the request to the custodian until its answer's headers arrive,
   * which waits for the access event to commit), after (the ciphertext, the proofs of the access
   * event, the decryption).
   */
  readonly phasesMs: {
    readonly beforeAsk: Percentiles;
    readonly release: Percentiles;
    readonly after: Percentiles;
  };
  /** Blocks from the requester's latest height when the fetch began to the access event's height. */
  readonly blocksToAccessEvent: Percentiles;
  /** Per fetch, the largest VmRSS growth over the value just before it, bytes. */
  readonly rssGrowth: { readonly custodian: readonly number[]; readonly requester: readonly number[] };
}

/** Start and end (performance.now) of the last `LocalApi.fetch`, the request the node answers with the release. */
let lastRelease: { start: number; end: number } | null = null;

/**
 * Times the release inside `fetchRecord` without changing it: `LocalApi.fetch` resolves when the
 * node's answer's headers arrive, which is after the custodian's access event has committed.
 * Only meaningful for one fetch at a time (the sequential phase).
 */
function timeReleases(): void {
  const original = LocalApi.prototype.fetch;
  LocalApi.prototype.fetch = async function (this: LocalApi, bytes: Uint8Array) {
    const start = performance.now();
    const answer = await original.call(this, bytes);
    lastRelease = { start, end: performance.now() };
    return answer;
  };
}

async function sequential(
  size: Size,
  put: { record: string; putMs: number },
  count: number,
  requester: Institution,
  pids: { custodian: number; requester: number },
  work: string,
): Promise<SizeResult> {
  const times: number[] = [];
  const phases = { beforeAsk: [] as number[], release: [] as number[], after: [] as number[] };
  const blocks: number[] = [];
  const growth = { custodian: [] as number[], requester: [] as number[] };
  for (let i = 0; i < count; i++) {
    const out = join(work, `fetch-${size.key}-${i}`);
    const before = (await chainPoint(requester.url)).height;
    const base = { c: rssOf(pids.custodian), r: rssOf(pids.requester) };
    const peak = { c: 0, r: 0 };
    const sample = () => {
      peak.c = Math.max(peak.c, rssOf(pids.custodian) - base.c);
      peak.r = Math.max(peak.r, rssOf(pids.requester) - base.r);
    };
    const sampler = setInterval(sample, RSS_SAMPLE_MS);
    lastRelease = null;
    const t0 = performance.now();
    try {
      const got = await fetchRecord({ record: put.record, purpose: 'TREAT', out }, requester.ctx);
      const t1 = performance.now();
      times.push(t1 - t0);
      if (lastRelease !== null) {
        const r: { start: number; end: number } = lastRelease;
        phases.beforeAsk.push(r.start - t0);
        phases.release.push(r.end - r.start);
        phases.after.push(t1 - r.end);
      }
      blocks.push(Number(got.accessHeight - before));
    } finally {
      clearInterval(sampler);
      sample();
      rmSync(out, { force: true });
    }
    growth.custodian.push(peak.c);
    growth.requester.push(peak.r);
    process.stdout.write(
      `  ${size.label} fetch ${i + 1}/${count}: ${Math.round(times[times.length - 1]!)} ms; RSS +${mib(peak.c)} custodian, +${mib(peak.r)} requester\n`,
    );
  }
  const p = (values: number[]) => percentiles(Float64Array.from(values));
  return {
    size: size.label,
    bytes: size.bytes,
    putMs: Math.round(put.putMs),
    fetchMs: p(times),
    phasesMs: { beforeAsk: p(phases.beforeAsk), release: p(phases.release), after: p(phases.after) },
    blocksToAccessEvent: p(blocks),
    rssGrowth: growth,
  };
}

function rssOf(pid: number): number {
  return procSample(pid)?.rssBytes ?? 0;
}

interface ConcurrencyResult {
  readonly concurrency: number;
  readonly seconds: number;
  readonly completed: number;
  readonly fetchesPerSecond: number;
  readonly latencyMs: Percentiles;
  readonly errors: Readonly<Record<string, number>>;
}

async function concurrent(
  record: string,
  level: number,
  durationSeconds: number,
  requester: Institution,
  work: string,
): Promise<ConcurrencyResult> {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const start = performance.now();
  const end = start + durationSeconds * 1000;
  let n = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const out = join(work, `conc-${n++}`);
      const t0 = performance.now();
      try {
        await fetchRecord({ record, purpose: 'TREAT', out }, requester.ctx);
        latencies.push(performance.now() - t0);
      } catch (err) {
        const code = errorCode(err);
        errors[code] = (errors[code] ?? 0) + 1;
      } finally {
        rmSync(out, { force: true });
      }
    }
  };
  await Promise.all(Array.from({ length: level }, worker));
  const seconds = (performance.now() - start) / 1000;
  return {
    concurrency: level,
    seconds: Math.round(seconds * 10) / 10,
    completed: latencies.length,
    fetchesPerSecond: Math.round((latencies.length / seconds) * 100) / 100,
    latencyMs: percentiles(Float64Array.from(latencies)),
    errors,
  };
}

interface VaultResult {
  readonly records: number;
  readonly recordBytes: number;
  /** MB (10^6 bytes) of plaintext per second: encrypt alone, store alone, and both in a row. */
  readonly encryptMBps: number;
  readonly storeMBps: number;
  readonly encryptStoreMBps: number;
}

async function vault(count: number, custodian: Institution, work: string): Promise<VaultResult> {
  const api = new LocalApi({
    nodeUrl: custodian.url,
    chainId: custodian.ctx.client.chainId,
    key: custodian.ctx.key,
  });
  const bytes = 10 * MIB;
  let encryptMs = 0;
  let storeMs = 0;
  for (let i = 0; i < count; i++) {
    // The plaintext is made before the clock starts: random bytes cost as much as the encryption.
    const plain = [...content(bytes)];
    const material = { dataKey: generateDataKey(), salt: new Uint8Array(randomBytes(32)) };
    await withTempDir(work, async (dir) => {
      const path = join(dir, 'envelope');
      const t0 = performance.now();
      const sealed = await encryptToFile(plain, material, path);
      const t1 = performance.now();
      await api.putBlob(sealed.sha256, sealed.size, createReadStream(path), material);
      const t2 = performance.now();
      encryptMs += t1 - t0;
      storeMs += t2 - t1;
    });
    material.dataKey.fill(0);
    process.stdout.write(`  vault upload ${i + 1}/${count}\n`);
  }
  const mbps = (ms: number) => Math.round(((count * bytes) / 1e6 / (ms / 1000)) * 10) / 10;
  return {
    records: count,
    recordBytes: bytes,
    encryptMBps: mbps(encryptMs),
    storeMBps: mbps(storeMs),
    encryptStoreMBps: mbps(encryptMs + storeMs),
  };
}

// ---------------------------------------------------------------------------------------------
// The run

function uptime(): string {
  try {
    return execFileSync('uptime', [], { encoding: 'utf8', timeout: 5000 }).trim();
  } catch {
    return `load average: ${loadavg()
      .map((v) => v.toFixed(2))
      .join(', ')}`;
  }
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const startedAt = new Date().toISOString();
  const busyBefore = await waitQuiet(opts.quietWaitSeconds);
  const uptimeBefore = uptime();
  process.stdout.write(
    `machine: ${uptimeBefore}; ${busyBefore?.toFixed(2) ?? '-'} cores busy before the run\n`,
  );
  const consortium = Consortium.create({
    validators: VALIDATORS,
    basePort: opts.basePort,
    overrides: opts.overrides,
    profileNode: null,
  });
  active = { consortium, keep: opts.keep };
  const work = mkdtempSync(join(tmpdir(), 'careledger-bench-records-'));
  try {
    process.stdout.write(
      `consortium: ${VALIDATORS} nodes in ${consortium.dir}, RPC ${consortium.rpcs.join(' ')}\n`,
    );
    consortium.startAll();
    await consortium.waitForHeight(2, START_TIMEOUT_MS);
    const custodian = institution(consortium, CUSTODIAN);
    const requester = institution(consortium, REQUESTER);
    const requesterId = await requester.ctx.client.memberId();

    process.stdout.write('set-up: a patient, her consent to the requester, one record of each size\n');
    const patientKey = generateKey();
    const patient = (await custodian.ctx.client.registerPatient(patientKey)).id;
    const patientClient = clientAt(custodian.url, consortium.homes[CUSTODIAN]!, patientKey);
    const rule = provision({
      type: 'permit',
      actions: ['read'],
      purposes: ['TREAT'],
      categories: ['Observation'],
    });
    const grant = await patientClient.grantConsent(patient, requesterId, rule);
    const records: { record: string; putMs: number; height: bigint }[] = [];
    for (const size of recordSizes(opts.largeMiB)) {
      const t0 = performance.now();
      const r = await putRecord(
        { stream: content(size.bytes), patient, category: 'Observation.laboratory' },
        custodian.ctx,
      );
      records.push({ record: r.record, putMs: performance.now() - t0, height: r.height });
      process.stdout.write(`  ${size.label}: ${r.record} anchored at height ${r.height}\n`);
    }
    // The requester's node must have the consent's and the anchors' blocks before it is asked.
    const settled = records.reduce((h, r) => (r.height > h ? r.height : h), grant.height);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while ((await chainPoint(requester.url)).height < settled) {
      if (Date.now() > deadline) throw new Error(`node ${REQUESTER} did not reach height ${settled}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    process.stdout.write('sequential fetches (requester through its own node, from the custodian):\n');
    const pids = consortium.pids();
    const from = await chainPoint(requester.url);
    const sizes: SizeResult[] = [];
    const rssPids = { custodian: pids[CUSTODIAN]!, requester: pids[REQUESTER]! };
    timeReleases();
    for (const [i, size] of recordSizes(opts.largeMiB).entries()) {
      const large = size.bytes >= MIB;
      sizes.push(
        await sequential(
          size,
          records[i]!,
          large ? opts.largeFetches : opts.fetches,
          requester,
          rssPids,
          work,
        ),
      );
    }
    const to = await chainPoint(requester.url);
    const blockMs = blockIntervalMs(from, to);

    const conc: ConcurrencyResult[] = [];
    for (const level of opts.durationSeconds > 0 ? opts.concurrency : []) {
      process.stdout.write(
        `${level} concurrent fetches of the 1 KiB record for ${opts.durationSeconds} s…\n`,
      );
      conc.push(await concurrent(records[0]!.record, level, opts.durationSeconds, requester, work));
    }
    let vaultResult: VaultResult | null = null;
    if (opts.vaultRecords > 0) {
      process.stdout.write('vault throughput (encrypt + store through the local API):\n');
      vaultResult = await vault(opts.vaultRecords, custodian, work);
    }
    const uptimeAfter = uptime();
    const dead = consortium.exited();
    if (dead.length > 0)
      throw new Error(`node ${dead.join(', ')} exited during the run\n${consortium.logTails()}`);
    const result = {
      kind: 'careledger-records',
      startedAt,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        availableParallelism: availableParallelism(),
        node: process.version,
        busyCoresBefore: busyBefore,
        uptimeBefore,
        uptimeAfter,
      },
      git: gitState(),
      options: opts,
      benchDefaults: BENCH_DEFAULTS,
      blockIntervalMs: blockMs,
      blocksMeasured: Number(to.height - from.height),
      sizes,
      concurrency: conc,
      vault: vaultResult,
    };
    process.stdout.write(report(result));
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `records-${startedAt.replace(/[:]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\nwrote ${relative(root, file)}\n${finalLine(result)}`);
  } catch (err) {
    process.stderr.write(`bench:records: ${(err as Error).stack}\n${consortium.logTails()}\n`);
    throw err;
  } finally {
    rmSync(work, { recursive: true, force: true });
    active = null;
    await consortium.destroy(opts.keep);
    if (opts.keep) process.stdout.write(`kept ${consortium.dir}\n`);
  }
}

type Result = {
  readonly machine: {
    readonly uptimeBefore: string;
    readonly uptimeAfter: string;
    readonly busyCoresBefore: number | null;
  };
  readonly blockIntervalMs: number | null;
  readonly blocksMeasured: number;
  readonly sizes: readonly SizeResult[];
  readonly concurrency: readonly ConcurrencyResult[];
  readonly vault: VaultResult | null;
};

const ms = (v: number | null): string => (v === null ? '-' : `${Math.round(v)} ms`);
const mib = (v: number): string => `${(v / MIB).toFixed(1)} MiB`;
const largest = (values: readonly number[]): number => values.reduce((a, b) => Math.max(a, b), 0);

/**
 * The large row's largest RSS growth over either node, bytes, on its first fetch and on the
 * later ones (after the first has grown the heaps); null without that row.
 */
function largeGrowth(
  r: Result,
): { bytes: number; growth: number; first: number; later: number | null } | null {
  const large = r.sizes.find((s) => s.bytes >= MIB);
  if (large === undefined) return null;
  const { custodian, requester } = large.rssGrowth;
  const later = [...custodian.slice(1), ...requester.slice(1)];
  return {
    bytes: large.bytes,
    growth: Math.max(largest(custodian), largest(requester)),
    first: Math.max(custodian[0] ?? 0, requester[0] ?? 0),
    later: later.length === 0 ? null : largest(later),
  };
}

function report(r: Result): string {
  const block = r.blockIntervalMs;
  const inBlocks = (v: number | null): string =>
    v === null || block === null ? '-' : `${(v / block).toFixed(2)} blocks`;
  const lines = [
    '',
    `block interval ${ms(block)} (mean over the ${r.blocksMeasured} blocks of the sequential fetches)`,
  ];
  for (const s of r.sizes) {
    const ph = s.phasesMs;
    lines.push(
      `${s.size.padEnd(8)} fetch p50 ${ms(s.fetchMs.p50)} (${inBlocks(s.fetchMs.p50)})  p99 ${ms(s.fetchMs.p99)}  n=${s.fetchMs.count}; put ${ms(s.putMs)}`,
      `         p50 by phase: before the ask ${ms(ph.beforeAsk.p50)}, release (access event committed) ${ms(ph.release.p50)}, after ${ms(ph.after.p50)}; access event ${s.blocksToAccessEvent.p50} block(s) above the start height (p50)`,
      `         RSS growth during a fetch, max: custodian ${mib(largest(s.rssGrowth.custodian))}, requester ${mib(largest(s.rssGrowth.requester))}`,
    );
  }
  for (const c of r.concurrency)
    lines.push(
      `concurrency ${String(c.concurrency).padEnd(3)} ${c.fetchesPerSecond} fetches/s of 1 KiB (${c.completed} in ${c.seconds} s), latency p50 ${ms(c.latencyMs.p50)} p99 ${ms(c.latencyMs.p99)}; errors ${
        Object.entries(c.errors)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || 'none'
      }`,
    );
  const v = r.vault;
  if (v !== null)
    lines.push(
      `vault    ${v.records} x ${mib(v.recordBytes)}: encrypt ${v.encryptMBps} MB/s, store ${v.storeMBps} MB/s, encrypt + store ${v.encryptStoreMBps} MB/s`,
    );
  const p50 = r.sizes.find((s) => s.bytes === 100 * KIB)?.fetchMs.p50 ?? null;
  const large = largeGrowth(r);
  const verdict = (ok: boolean | null) => (ok === null ? '-' : ok ? 'met' : 'MISSED');
  lines.push(
    `targets  100 KiB p50 under ${TARGET_BLOCKS} block intervals: ${verdict(p50 === null || block === null ? null : p50 < TARGET_BLOCKS * block)}; large-record RSS growth under ${TARGET_RSS_RECORDS}x the record: ${verdict(large === null ? null : large.growth < TARGET_RSS_RECORDS * large.bytes)}${large === null ? '' : ` (first fetch ${(large.first / large.bytes).toFixed(1)}x, later fetches ${large.later === null ? '-' : `${(large.later / large.bytes).toFixed(1)}x`})`}`,
    `machine  before: ${r.machine.uptimeBefore}`,
    `         after:  ${r.machine.uptimeAfter}`,
  );
  return `${lines.join('\n')}\n`;
}

function finalLine(r: Result): string {
  const p50 = (bytes: number) =>
    Math.round(r.sizes.find((s) => s.bytes === bytes)?.fetchMs.p50 ?? Number.NaN);
  const large = largeGrowth(r);
  const fields = [
    `fetch_1k_p50_ms=${p50(KIB)}`,
    `fetch_100k_p50_ms=${p50(100 * KIB)}`,
    `fetch_large_p50_ms=${Math.round(r.sizes.find((s) => s.bytes >= MIB)?.fetchMs.p50 ?? Number.NaN)}`,
    `block_ms=${r.blockIntervalMs ?? 'NaN'}`,
    `fetches_per_s=${r.concurrency.length === 0 ? 'NaN' : r.concurrency.reduce((a, c) => Math.max(a, c.fetchesPerSecond), 0)}`,
    `vault_mb_s=${r.vault?.encryptStoreMBps ?? 'NaN'}`,
    `rss_growth_mib=${large === null ? 'NaN' : (large.growth / MIB).toFixed(1)}`,
  ];
  return `${fields.join(' ')}\n`;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:records: failed: ${(err as Error).message.split('\n')[0]}\n`);
  process.exitCode = 1;
});
