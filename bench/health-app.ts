/**
 * `npx node bench/health-app.ts [--records N] [--block B] [--per-patient K] [--minutes M]
 *    [--state DIR] [--measure BLOCKS]` (`--help` describes each)
 *
 * The health-data application alone (no consensus, no network, no signature checks: the node
 * verifies envelopes before the app sees them), over classic-level in a temp folder, written the
 * way the node writes: finalizeBlock, one batch per block, commit.
 *
 * It grows the state to N record anchors (default 1 000 000) in blocks of B txs (default 2000),
 * K records per patient (default 10; patients are registered as needed, which verifies their
 * proof-of-possession signature), and at each checkpoint (10^3, 10^4, … and the end) measures:
 * - anchoring throughput (txs executed per second, finalize + batch write) over the last stretch;
 * - a mixed block (consent grants, access events checked by the policy engine, claims);
 * - queries at that size: a record by id, a patient's record list page, and the policy decision,
 *   each with its proof: time per query and proof size.
 * It stops at N or after M minutes (default 20), and extrapolates to N when it stopped early.
 * Prints progress, a table, and writes JSON to bench/results/health-app-<timestamp>.json.
 *
 * `--state DIR` keeps the grown state in DIR (and what the bench needs to go on from it in
 * DIR/bench-state.json) instead of a temp folder: a later run with the same DIR grows only what is
 * missing, so repeated measurements at a million records cost minutes instead of half an hour.
 * `--measure BLOCKS` (default 10) ends the run with a measurement at the size reached, after two
 * warm-up blocks: BLOCKS anchor blocks and three mixed pairs, timed both on the wall clock and as
 * the process's CPU time (user + system, all threads: LevelDB's too), which a shared machine
 * disturbs much less. These blocks add records to the state too.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256, toHex } from '../packages/crypto/hash.ts';
import { patientIdOf, recordIdOf } from '../packages/health/ids.ts';
import { defaultParams } from '../packages/health/model.ts';
import {
  decisionQueryData,
  idQueryData,
  patientListQueryData,
  verifyAnswer,
  verifyDecision,
} from '../packages/health/query.ts';
import { encodeHealthTx, type HealthTx } from '../packages/health/tx.ts';
import { defaultBlockLimits } from '../packages/types/block.ts';
import { type CheckedTx, encodeTx } from '../packages/types/tx.ts';
import { openDb } from '../state/db.ts';
import { HealthApp } from '../state/health/app.ts';
import { blockAt } from '../test/unit/state/health/fixtures.ts';
import { type BenchCommand, integerArg, parseCommandLine, usageError } from './command-line.ts';
import {
  anchorTx,
  BenchKey,
  benchSeal,
  claimTx,
  DAY_MS,
  disclosureTx,
  patientRecordLabel,
  paymentConsentTx,
  registerTx,
  treatmentConsentTx,
} from './health-txs.ts';

const usage = `Usage: npx node bench/health-app.ts [options]

The health-data application alone (HealthApp over classic-level, no consensus, network or
signature checks), driven as the node drives it: finalizeBlock, one batch per block, commit. Grows
the state to --records record anchors and, at checkpoints (1 K, 2 K, 5 K, 10 K, … and the end),
prints anchor and mixed-block tx/s and the time and proof size of proven queries (a record, a
patient's record list page, a policy decision). Stops at --records, or after --minutes and then
extrapolates to --records. Ends with a measurement at the size reached (--measure). Prints
progress and a table, and writes JSON to bench/results/health-app-<ISO time>.json.

Options:
  --records N       record anchors to grow the state to (default 1000000)
  --block B         txs per block while growing (default 2000; at most ${defaultBlockLimits.maxTxs})
  --per-patient K   records per patient (default 10); patients are registered as needed
  --minutes M       stop growing after M minutes (default 20)
  --state DIR       keep the grown state in DIR (with DIR/bench-state.json) instead of a temp
                    folder; a later run with the same DIR and --per-patient grows only what is
                    missing (default: a temp folder, removed at the end)
  --measure BLOCKS  end with a measurement: 2 warm-up blocks, then BLOCKS anchor blocks and
                    three mixed pairs, timed on the wall clock and in CPU time; they add records
                    to the state (default 10; 0 skips it)
  -h, --help        show this help
`;

const COMMAND = {
  name: 'bench:health-app',
  command: 'npx node bench/health-app.ts',
  usage,
  options: {
    records: { type: 'string', default: '1000000' },
    block: { type: 'string', default: '2000' },
    'per-patient': { type: 'string', default: '10' },
    minutes: { type: 'string', default: '20' },
    state: { type: 'string' },
    measure: { type: 'string', default: '10' },
  },
} as const satisfies BenchCommand;

const { values } = parseCommandLine(COMMAND);
const TARGET = integerArg(COMMAND, values.records, '--records', 1, 100_000_000);
const BLOCK = integerArg(COMMAND, values.block, '--block', 1, defaultBlockLimits.maxTxs);
const PER_PATIENT = integerArg(COMMAND, values['per-patient'], '--per-patient', 1, 1000);
const MINUTES = integerArg(COMMAND, values.minutes, '--minutes', 1, 7 * 24 * 60);
const DEADLINE = Date.now() + MINUTES * 60_000;
const MEASURE_BLOCKS = integerArg(COMMAND, values.measure, '--measure', 0, 10_000);
const CHAIN_ID = 'careledger-bench';
const GENESIS_TIME = 1_767_225_600_000n;
const keyOf = (label: string): BenchKey => BenchKey.of(`bench/${label}`);
const MEMBERS = [
  { id: 'city-hospital', roles: ['provider' as const] },
  { id: 'acme-lab', roles: ['lab' as const] },
  { id: 'good-insurance', roles: ['payer' as const] },
];
const hospital = keyOf('city-hospital');
const lab = keyOf('acme-lab');

const nonces = new Map<string, bigint>();
/** An envelope as the node hands it to the app (already verified there: the signature is not checked again). */
function envelope(key: BenchKey, payload: HealthTx): CheckedTx {
  const id = toHex(key.publicKey);
  const nonce = (nonces.get(id) ?? 0n) + 1n;
  nonces.set(id, nonce);
  const tx = {
    signer: key.publicKey,
    nonce,
    payload: encodeHealthTx(payload),
    signature: new Uint8Array(64),
  };
  const bytes = encodeTx(tx);
  return { tx, bytes, hash: sha256(bytes) };
}

const patientKey = (i: number): BenchKey => keyOf(`patient/${i}`);

/** What a kept state folder needs besides the database to go on: DIR/bench-state.json. */
interface Progress {
  perPatient: number;
  height: string;
  time: string;
  records: number;
  patients: number;
  nonces: Record<string, string>;
}
const dir = values.state ?? mkdtempSync(join(tmpdir(), 'careledger-health-bench-'));
mkdirSync(dir, { recursive: true });
const progressFile = join(dir, 'bench-state.json');
const kept: Progress | null = existsSync(progressFile)
  ? JSON.parse(readFileSync(progressFile, 'utf8'))
  : null;
if (kept !== null && kept.perPatient !== PER_PATIENT)
  usageError(COMMAND, `--state ${dir} was grown with --per-patient ${kept.perPatient}`);
const db = await openDb(dir);
const app = await HealthApp.open(db, { store: { cacheBytes: 512 * 1024 * 1024 } });

let height = 0n;
let time = GENESIS_TIME;
let records = 0;
let patients = 0;
if (kept === null) {
  if (app.info().appHash.length > 0 && app.info().lastHeight > 0n)
    usageError(COMMAND, `--state ${dir} holds a state but no bench-state.json`);
  const init = await app.initChain(
    {
      chainId: CHAIN_ID,
      genesisTime: GENESIS_TIME,
      initialHeight: 1n,
      validators: [{ name: 'v0', pubKey: keyOf('validator').publicKey, power: 1n }],
      blockLimits: defaultBlockLimits,
    },
    {
      members: MEMBERS.map((m) => ({ id: m.id, pubKey: keyOf(m.id).publicKey, roles: m.roles })),
      params: defaultParams,
    },
  );
  await db.batch(init.ops.slice());
  app.commit(0n, init.appHash);
} else {
  height = BigInt(kept.height);
  time = BigInt(kept.time);
  records = kept.records;
  patients = kept.patients;
  for (const [id, nonce] of Object.entries(kept.nonces)) nonces.set(id, BigInt(nonce));
  // The progress file is written after each block's batch: a crash in between leaves it one behind.
  if (app.info().lastHeight !== height)
    throw new Error(`${dir}: the state is at height ${app.info().lastHeight}, bench-state.json at ${height}`);
  console.log(`reusing ${dir}: ${records} records, ${patients} patients, height ${height}`);
}

function saveProgress(): void {
  if (values.state === undefined) return;
  const progress: Progress = {
    perPatient: PER_PATIENT,
    height: height.toString(),
    time: time.toString(),
    records,
    patients,
    nonces: Object.fromEntries([...nonces].map(([id, n]) => [id, n.toString()])),
  };
  writeFileSync(`${progressFile}.tmp`, JSON.stringify(progress));
  renameSync(`${progressFile}.tmp`, progressFile);
}

/**
 * CPU seconds used so far: by the whole process (every thread: LevelDB's compactions too), and by
 * the main thread alone (the one core that executes the blocks; from /proc, null elsewhere).
 */
interface Cpu {
  readonly all: number;
  readonly main: number | null;
}
function cpuNow(): Cpu {
  const u = process.cpuUsage();
  let main: number | null = null;
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    main = (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in 1/100 s (USER_HZ)
  } catch {
    main = null;
  }
  return { all: (u.user + u.system) / 1e6, main };
}
function cpuSince(from: Cpu): Cpu {
  const now = cpuNow();
  return {
    all: now.all - from.all,
    main: now.main === null || from.main === null ? null : now.main - from.main,
  };
}
const addCpu = (a: Cpu, b: Cpu): Cpu => ({
  all: a.all + b.all,
  main: a.main === null || b.main === null ? null : a.main + b.main,
});
const perCpu = (txs: number, cpu: number | null): number | null => (cpu === null ? null : txs / cpu);
const show = (x: number | null): string => (x === null ? '?' : x.toFixed(0));

async function run(txs: CheckedTx[]): Promise<{ execMs: number; writeMs: number; failed: number }> {
  height++;
  time += 1000n;
  const t0 = performance.now();
  const result = await app.finalizeBlock(blockAt(height, time, CHAIN_ID), txs);
  const t1 = performance.now();
  await db.batch(result.ops.slice(), { sync: false });
  app.commit(height, result.appHash);
  const t2 = performance.now();
  saveProgress();
  const failed = result.txResults.filter((r) => r.code !== 0);
  if (failed.length > 0 && failed.length === txs.length)
    throw new Error(`every tx failed, e.g. ${failed[0]!.codespace}: ${failed[0]!.log}`);
  return { execMs: t1 - t0, writeMs: t2 - t1, failed: failed.length };
}

interface Checkpoint {
  records: number;
  patients: number;
  anchorTps: number;
  mixedTps: number;
  recordQueryMs: number;
  recordProofBytes: number;
  listQueryMs: number;
  listProofBytes: number;
  decisionQueryMs: number;
  decisionProofBytes: number;
  elapsedS: number;
}
const checkpoints: Checkpoint[] = [];
const started = performance.now();
let stretch = { txs: 0, ms: 0 };

async function mixedBlock(): Promise<{ txs: number; ms: number; cpu: Cpu }> {
  // Grants for 300 patients (treatment to the hospital, payment to the insurer), then
  // disclosures and claims that the policy engine checks against them.
  const count = Math.min(300, patients);
  const step = Math.max(1, Math.floor(patients / count));
  // Shifted by the height, so repeated runs over a kept state pick other patients (a pair holds
  // at most 32 live consents).
  const sample = Array.from({ length: count }, (_, i) => (i * step + Number(height)) % patients);
  const grants = sample.flatMap((p) => {
    const key = patientKey(p);
    const id = patientIdOf(key.publicKey);
    return [
      envelope(key, treatmentConsentTx(id, 'city-hospital', ['Observation'])),
      envelope(key, paymentConsentTx(id, 'good-insurance', ['Observation'])),
    ];
  });
  const follow = sample.flatMap((p) => {
    const id = patientIdOf(patientKey(p).publicKey);
    const rec = recordOf(p, 0);
    const date = (GENESIS_TIME / DAY_MS - 1n - BigInt(height % 1000n)) * DAY_MS;
    return [
      envelope(lab, disclosureTx(id, 'city-hospital', [rec])),
      envelope(hospital, claimTx(id, 'good-insurance', rec, '80053', date)),
    ];
  });
  const cpuFrom = cpuNow();
  const g = await run(grants);
  const f = await run(follow);
  const cpu = cpuSince(cpuFrom);
  if (f.failed > follow.length / 10) throw new Error(`mixed block: ${f.failed} of ${follow.length} failed`);
  return { txs: grants.length + follow.length, ms: g.execMs + g.writeMs + f.execMs + f.writeMs, cpu };
}

/** The id of record k of patient p, as the bench anchors it (ids are derived, so computed again). */
function recordOf(p: number, k: number): string {
  return recordIdOf('acme-lab', patientIdOf(patientKey(p).publicKey), ciphertextOf(p, k));
}

function ciphertextOf(p: number, k: number): Uint8Array {
  return benchSeal(patientRecordLabel(p, k)).ciphertextHash;
}

async function measureQueries(): Promise<
  Pick<
    Checkpoint,
    | 'recordQueryMs'
    | 'recordProofBytes'
    | 'listQueryMs'
    | 'listProofBytes'
    | 'decisionQueryMs'
    | 'decisionProofBytes'
  >
> {
  const root = app.info().appHash;
  const n = 200;
  let t = performance.now();
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const n = (i * 104_729) % records;
    const id = recordOf(Math.floor(n / PER_PATIENT), n % PER_PATIENT);
    const r = await app.query('/health/record', idQueryData(id), null, true);
    if (!verifyAnswer(root, r.key, r.value, r.proof!)) throw new Error('record proof failed');
    bytes += r.proof!.length;
  }
  const recordQueryMs = (performance.now() - t) / n;
  const recordProofBytes = bytes / n;
  t = performance.now();
  bytes = 0;
  for (let i = 0; i < n; i++) {
    const p = patientIdOf(patientKey((i * 7919) % patients).publicKey);
    const r = await app.query('/health/records', patientListQueryData(p, 0), null, true);
    if (!verifyAnswer(root, r.key, r.value, r.proof!)) throw new Error('list proof failed');
    bytes += r.proof!.length;
  }
  const listQueryMs = (performance.now() - t) / n;
  const listProofBytes = bytes / n;
  t = performance.now();
  bytes = 0;
  for (let i = 0; i < n; i++) {
    const pi = (i * 7919) % patients;
    const request = {
      patient: patientIdOf(patientKey(pi).publicKey),
      grantee: 'city-hospital',
      record: recordOf(pi, 0),
      purpose: 'TREAT' as const,
      action: 'read' as const,
      time: null,
    };
    const r = await app.query('/health/decision', decisionQueryData(request), null, true);
    if (verifyDecision(root, request, r.value!, r.proof!) === null) throw new Error('decision proof failed');
    bytes += r.proof!.length;
  }
  return {
    recordQueryMs,
    recordProofBytes,
    listQueryMs,
    listProofBytes,
    decisionQueryMs: (performance.now() - t) / n,
    decisionProofBytes: bytes / n,
  };
}

/** Checkpoints at 1, 2 and 5 times each power of ten from 1000, and at the target. */
function nextCheckpoint(after: number): number {
  for (let decade = 1000; ; decade *= 10) {
    for (const m of [1, 2, 5]) if (m * decade > after) return Math.min(m * decade, TARGET);
  }
}

console.log(
  `health app bench: target ${TARGET} records, ${BLOCK} txs per block, ${PER_PATIENT} records per patient, ` +
    `stop after ${MINUTES} min; ${cpus().length} cpus`,
);
interface AnchorBlock {
  readonly txs: CheckedTx[];
  readonly anchored: number;
  readonly registered: number;
}

/** A block of record anchors from record `from` (and the patient registrations they need), up to `limit` records. */
function buildAnchorBlock(from: number, limit: number): AnchorBlock {
  const txs: CheckedTx[] = [];
  let anchored = 0;
  let registered = 0;
  while (txs.length < BLOCK && from + anchored < limit) {
    const n = from + anchored;
    const p = Math.floor(n / PER_PATIENT);
    const k = n % PER_PATIENT;
    const key = patientKey(p);
    if (k === 0) {
      txs.push(envelope(hospital, registerTx(CHAIN_ID, 'city-hospital', key)));
      registered++;
    }
    txs.push(envelope(lab, anchorTx(patientIdOf(key.publicKey), k, patientRecordLabel(p, k))));
    anchored++;
  }
  return { txs, anchored, registered };
}

/** Runs a block built by buildAnchorBlock from the current record count. */
async function runAnchorBlock(block: AnchorBlock): Promise<{ txs: number; ms: number }> {
  // Counted before the run, so the progress file written after its commit holds them.
  patients += block.registered;
  records += block.anchored;
  const { execMs, writeMs, failed } = await run(block.txs);
  if (failed > 0) throw new Error(`${failed} anchoring txs failed`);
  return { txs: block.txs.length, ms: execMs + writeMs };
}

let checkpointAt = nextCheckpoint(records);
let lastAnchorTps = 0;
let stoppedEarly = false;
while (records < TARGET) {
  if (Date.now() > DEADLINE) {
    stoppedEarly = true;
    break;
  }
  const block = await runAnchorBlock(buildAnchorBlock(records, checkpointAt));
  stretch = { txs: stretch.txs + block.txs, ms: stretch.ms + block.ms };
  if (height % 20n === 0n)
    process.stdout.write(
      `  ${records} records, ${patients} patients, height ${height}, ${(stretch.txs / (stretch.ms / 1000)).toFixed(0)} tx/s, ` +
        `${((performance.now() - started) / 1000).toFixed(0)} s\n`,
    );
  if (records === checkpointAt) {
    await checkpoint();
    checkpointAt = nextCheckpoint(records);
  }
}
// Stopped by the time limit: measure at the size reached too.
if (stoppedEarly && checkpoints.at(-1)?.records !== records) await checkpoint();

async function checkpoint(): Promise<void> {
  const anchorTps = stretch.txs / (stretch.ms / 1000);
  lastAnchorTps = anchorTps;
  const mixed = await mixedBlock();
  const mixedTps = mixed.txs / (mixed.ms / 1000);
  const q = await measureQueries();
  checkpoints.push({
    records,
    patients,
    anchorTps,
    mixedTps,
    ...q,
    elapsedS: (performance.now() - started) / 1000,
  });
  console.log(
    `checkpoint ${records} records: anchor ${anchorTps.toFixed(0)} tx/s, mixed ${mixedTps.toFixed(0)} tx/s; ` +
      `record query ${q.recordQueryMs.toFixed(2)} ms / ${q.recordProofBytes.toFixed(0)} B proof; ` +
      `list ${q.listQueryMs.toFixed(2)} ms / ${q.listProofBytes.toFixed(0)} B; ` +
      `decision ${q.decisionQueryMs.toFixed(2)} ms / ${q.decisionProofBytes.toFixed(0)} B bundle`,
  );
  stretch = { txs: 0, ms: 0 };
}

/** Anchor and mixed throughput at the size reached, on the wall clock and on CPU time. */
interface Measurement {
  records: number;
  anchorTxs: number;
  anchorWallTps: number;
  anchorCpuTps: number;
  anchorMainThreadTps: number | null;
  mixedTxs: number;
  mixedWallTps: number;
  mixedCpuTps: number;
  mixedMainThreadTps: number | null;
}
let measurement: Measurement | null = null;
if (MEASURE_BLOCKS > 0 && patients > 0) {
  const at = records;
  // Warm-up: a fresh process starts with empty caches.
  for (let i = 0; i < 2; i++) await runAnchorBlock(buildAnchorBlock(records, Number.MAX_SAFE_INTEGER));
  // The txs are built first, so the clocks see only the application (and LevelDB) at work.
  const blocks: AnchorBlock[] = [];
  for (let i = 0, from = records; i < MEASURE_BLOCKS; i++) {
    blocks.push(buildAnchorBlock(from, Number.MAX_SAFE_INTEGER));
    from += blocks[i]!.anchored;
  }
  const cpu = cpuNow();
  let anchor = { txs: 0, ms: 0 };
  for (const block of blocks) {
    const b = await runAnchorBlock(block);
    anchor = { txs: anchor.txs + b.txs, ms: anchor.ms + b.ms };
  }
  const anchorCpu = cpuSince(cpu);
  let mixed = { txs: 0, ms: 0 };
  let mixedCpu: Cpu = { all: 0, main: 0 };
  for (let i = 0; i < 3; i++) {
    const m = await mixedBlock();
    mixed = { txs: mixed.txs + m.txs, ms: mixed.ms + m.ms };
    mixedCpu = addCpu(mixedCpu, m.cpu);
  }
  measurement = {
    records: at,
    anchorTxs: anchor.txs,
    anchorWallTps: anchor.txs / (anchor.ms / 1000),
    anchorCpuTps: anchor.txs / anchorCpu.all,
    anchorMainThreadTps: perCpu(anchor.txs, anchorCpu.main),
    mixedTxs: mixed.txs,
    mixedWallTps: mixed.txs / (mixed.ms / 1000),
    mixedCpuTps: mixed.txs / mixedCpu.all,
    mixedMainThreadTps: perCpu(mixed.txs, mixedCpu.main),
  };
  console.log(
    `\nmeasured at ${at} records: anchor ${measurement.anchorWallTps.toFixed(0)} tx/s wall, ` +
      `${measurement.anchorCpuTps.toFixed(0)} tx per CPU second, ${show(measurement.anchorMainThreadTps)} per main-thread CPU second (${anchor.txs} txs); ` +
      `mixed ${measurement.mixedWallTps.toFixed(0)} tx/s wall, ${measurement.mixedCpuTps.toFixed(0)} tx per CPU second, ` +
      `${show(measurement.mixedMainThreadTps)} per main-thread CPU second (${mixed.txs} txs)`,
  );
}

const elapsed = (performance.now() - started) / 1000;
console.log(
  '\nrecords  patients  anchor_tx/s  mixed_tx/s  record_ms  record_proof_B  list_ms  list_proof_B  decision_ms  decision_bundle_B',
);
for (const c of checkpoints) {
  console.log(
    [
      c.records.toString().padStart(7),
      c.patients.toString().padStart(8),
      c.anchorTps.toFixed(0).padStart(11),
      c.mixedTps.toFixed(0).padStart(10),
      c.recordQueryMs.toFixed(2).padStart(9),
      c.recordProofBytes.toFixed(0).padStart(14),
      c.listQueryMs.toFixed(2).padStart(7),
      c.listProofBytes.toFixed(0).padStart(12),
      c.decisionQueryMs.toFixed(2).padStart(11),
      c.decisionProofBytes.toFixed(0).padStart(17),
    ].join('  '),
  );
}
let extrapolation: string | null = null;
if (stoppedEarly) {
  const last = checkpoints.at(-1);
  const rate = lastAnchorTps;
  const remaining = (TARGET - records) * (1 + 1 / PER_PATIENT);
  // Proof depth grows with log2 of the number of leaves: about one sibling (~34 B) per doubling.
  const doublings = Math.log2(TARGET / Math.max(1, records));
  extrapolation =
    `stopped at ${records} records after ${elapsed.toFixed(0)} s (time limit). At the last rate of ${rate.toFixed(0)} tx/s ` +
    `(it falls as the tree deepens), the remaining ${(TARGET - records).toLocaleString()} records need at least ` +
    `${(remaining / rate / 60).toFixed(0)} more minutes; proofs would grow by about ${(doublings * 34).toFixed(0)} bytes ` +
    `(${doublings.toFixed(1)} more levels of the tree) to ~${((last?.recordProofBytes ?? 0) + doublings * 34).toFixed(0)} B.`;
  console.log(`\n${extrapolation}`);
}
console.log(`\nrecords=${records} elapsed_s=${elapsed.toFixed(0)}`);

const outDir = join(import.meta.dirname, 'results');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `health-app-${new Date().toISOString().replace(/:/g, '-')}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ target: TARGET, block: BLOCK, perPatient: PER_PATIENT, records, patients, elapsedS: elapsed, checkpoints, measurement, extrapolation }, null, 2)}\n`,
);
console.log(`wrote ${file}`);
await db.close();
if (values.state === undefined) rmSync(dir, { recursive: true, force: true });
