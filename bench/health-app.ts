/**
 * `npx node bench/health-app.ts [--records N] [--block B] [--per-patient K] [--minutes M]`
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
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
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
import {
  anchorTx,
  BenchKey,
  benchSeal,
  claimTx,
  disclosureTx,
  patientRecordLabel,
  paymentConsentTx,
  registerTx,
  treatmentConsentTx,
} from './health-txs.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    block: { type: 'string', default: '2000' },
    'per-patient': { type: 'string', default: '10' },
    minutes: { type: 'string', default: '20' },
  },
});
const TARGET = Number(values.records);
const BLOCK = Number(values.block);
const PER_PATIENT = Number(values['per-patient']);
const DEADLINE = Date.now() + Number(values.minutes) * 60_000;
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

const dir = mkdtempSync(join(tmpdir(), 'careledger-health-bench-'));
const db = await openDb(dir);
const app = await HealthApp.open(db, { store: { cacheBytes: 512 * 1024 * 1024 } });
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

let height = 0n;
let time = GENESIS_TIME;
let records = 0;
let patients = 0;
const recordIds: string[] = [];

async function run(txs: CheckedTx[]): Promise<{ execMs: number; writeMs: number; failed: number }> {
  height++;
  time += 1000n;
  const t0 = performance.now();
  const result = await app.finalizeBlock(blockAt(height, time, CHAIN_ID), txs);
  const t1 = performance.now();
  await db.batch(result.ops.slice(), { sync: false });
  app.commit(height, result.appHash);
  const t2 = performance.now();
  const failed = result.txResults.filter((r) => r.code !== 0);
  if (failed.length > 0 && failed.length === txs.length)
    throw new Error(`every tx failed, e.g. ${failed[0]!.codespace}: ${failed[0]!.log}`);
  return { execMs: t1 - t0, writeMs: t2 - t1, failed: failed.length };
}

/** Keep a sample of record ids for queries (reservoir, so the sample spans the whole state). */
function remember(id: string): void {
  if (recordIds.length < 2000) recordIds.push(id);
  else {
    const j = Math.floor(Math.random() * records);
    if (j < 2000) recordIds[j] = id;
  }
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

async function mixedBlock(): Promise<number> {
  // Grants for 300 patients (treatment to the hospital, payment to the insurer), then
  // disclosures and claims that the policy engine checks against them.
  const count = Math.min(300, patients);
  const step = Math.max(1, Math.floor(patients / count));
  const sample = Array.from({ length: count }, (_, i) => (i * step) % patients);
  const grants = sample.flatMap((p) => {
    const key = patientKey(p);
    const id = patientIdOf(key.publicKey);
    return [
      envelope(key, treatmentConsentTx(id, 'city-hospital', ['Observation'])),
      envelope(key, paymentConsentTx(id, 'good-insurance', ['Observation'])),
    ];
  });
  const g = await run(grants);
  const follow = sample.flatMap((p) => {
    const id = patientIdOf(patientKey(p).publicKey);
    const rec = recordOf(p, 0);
    const date = (GENESIS_TIME / 86_400_000n - 1n - BigInt(height % 1000n)) * 86_400_000n;
    return [
      envelope(lab, disclosureTx(id, 'city-hospital', [rec])),
      envelope(hospital, claimTx(id, 'good-insurance', rec, '80053', date)),
    ];
  });
  const f = await run(follow);
  if (f.failed > follow.length / 10) throw new Error(`mixed block: ${f.failed} of ${follow.length} failed`);
  return (grants.length + follow.length) / ((g.execMs + g.writeMs + f.execMs + f.writeMs) / 1000);
}

const recordLabels = new Map<number, string[]>();
function recordOf(p: number, k: number): string {
  return recordLabels.get(p)![k]!;
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
    const id = recordIds[(i * 104_729) % recordIds.length]!;
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
    `stop after ${values.minutes} min; ${cpus().length} cpus`,
);
let checkpointAt = nextCheckpoint(0);
let lastAnchorTps = 0;
let stoppedEarly = false;
while (records < TARGET) {
  if (Date.now() > DEADLINE) {
    stoppedEarly = true;
    break;
  }
  const txs: CheckedTx[] = [];
  const anchored: { p: number; id: string }[] = [];
  let registered = 0;
  while (txs.length < BLOCK && records + anchored.length < checkpointAt) {
    const n = records + anchored.length;
    const p = Math.floor(n / PER_PATIENT);
    const k = n % PER_PATIENT;
    const key = patientKey(p);
    const id = patientIdOf(key.publicKey);
    if (k === 0) {
      txs.push(envelope(hospital, registerTx(CHAIN_ID, 'city-hospital', key)));
      registered++;
      recordLabels.set(p, []);
    }
    const label = patientRecordLabel(p, k);
    const ciphertextHash = benchSeal(label).ciphertextHash;
    txs.push(envelope(lab, anchorTx(id, k, label)));
    // The record id is derived, so the client (here, the bench) knows it before the tx runs.
    anchored.push({ p, id: recordIdOf('acme-lab', id, ciphertextHash) });
  }
  const { execMs, writeMs, failed } = await run(txs);
  if (failed > 0) throw new Error(`${failed} anchoring txs failed`);
  patients += registered;
  for (const a of anchored) {
    records++;
    recordLabels.get(a.p)!.push(a.id);
    remember(a.id);
  }
  stretch = { txs: stretch.txs + txs.length, ms: stretch.ms + execMs + writeMs };
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
  const mixedTps = await mixedBlock();
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
  `${JSON.stringify({ target: TARGET, block: BLOCK, perPatient: PER_PATIENT, records, patients, elapsedS: elapsed, checkpoints, extrapolation }, null, 2)}\n`,
);
console.log(`wrote ${file}`);
await db.close();
rmSync(dir, { recursive: true, force: true });
