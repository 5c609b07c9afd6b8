/**
 * The records SDK (packages/client/records.ts) against a stand-in node (records-node.ts: the
 * contract's local API over a real vault, the real envelope and key wrap, releases decided by the
 * real HealthApp and audited on chain before any byte leaves). The journey (put, fetch, a 10 MiB+
 * record, a patient's own fetch, erase with the shredding wait), every verification failure
 * (each leaving no output file and no temp file), refusals with the node's code, retries, and a
 * payer's fetch for a claim (HPAYMT) in the patient's accounting of disclosures.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HealthClient } from '../../../../packages/client/health.ts';
import { generateRecordKey } from '../../../../packages/client/keys.ts';
import {
  eraseRecord,
  type FetchContext,
  fetchRecord,
  putRecord,
  type RecordsOptions,
  recordStatus,
} from '../../../../packages/client/records.ts';
import type { ClientError } from '../../../../packages/client/rpc.ts';
import type { KeyPair } from '../../../../packages/crypto/ed25519.ts';
import { equalBytes, sha256 } from '../../../../packages/crypto/hash.ts';
import { CHAIN_ID, grantTx, member, patient, registerTx } from '../../state/health/fixtures.ts';
import { AppTransport } from './health-transport.ts';
import { StandInNode } from './records-node.ts';

const SEED = process.env.CARELEDGER_TEST_SEED ?? 'records-sdk-1';

/** Deterministic bytes of `n` length from the seed (a record's plaintext). */
function seeded(label: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let block = sha256(new TextEncoder().encode(`${SEED}/${label}`));
  for (let i = 0; i < n; i += 32) {
    out.set(block.subarray(0, Math.min(32, n - i)), i);
    block = sha256(block);
  }
  return out;
}

interface World {
  t: AppTransport;
  node: StandInNode;
  dir: string;
  temp: string;
  sleeps: number[];
  options: Partial<RecordsOptions>;
  client(key: KeyPair): HealthClient;
  hospitalKey: KeyPair;
  hospitalRecordKey: KeyPair;
  alice: ReturnType<typeof patient>;
  /** The lab puts `content` as alice's lab result; returns the record id. */
  put(content: Uint8Array): Promise<string>;
  fetchCtx(overrides?: Partial<FetchContext>): FetchContext;
}

async function withWorld(name: string, fn: (w: World) => Promise<void>): Promise<void> {
  const t = await AppTransport.create();
  const node = await StandInNode.start(t, 'acme-lab', member('acme-lab'));
  const dir = mkdtempSync(join(tmpdir(), 'careledger-records-test-'));
  const temp = mkdtempSync(join(tmpdir(), 'careledger-records-temp-'));
  let tick = 1n;
  const sleeps: number[] = [];
  const options: Partial<RecordsOptions> = {
    tempDir: temp,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  };
  const client = (key: KeyPair) =>
    new HealthClient({
      chainId: CHAIN_ID,
      transport: node.transport,
      key,
      clockMicros: () => BigInt(Date.now()) * 1000n + tick++,
    });
  const hospitalKey = member('city-hospital');
  const hospitalRecordKey = generateRecordKey();
  const alice = patient('alice');
  const w: World = {
    t,
    node,
    dir,
    temp,
    sleeps,
    options,
    client,
    hospitalKey,
    hospitalRecordKey,
    alice,
    async put(content) {
      const file = join(dir, `plain-${tick++}`);
      writeFileSync(file, content);
      const lab = member('acme-lab');
      const r = await putRecord(
        { file, patient: alice.id, category: 'Observation.laboratory' },
        { client: client(lab), nodeUrl: node.url, key: lab, options },
      );
      return r.record;
    },
    fetchCtx(overrides = {}) {
      return {
        client: client(hospitalKey),
        nodeUrl: node.url,
        key: hospitalKey,
        recordKey: hospitalRecordKey,
        options,
        ...overrides,
      };
    },
  };
  try {
    await client(hospitalKey).setRecordKey(hospitalRecordKey.publicKey);
    await client(hospitalKey).send(registerTx(alice, 'city-hospital'));
    await client(alice.key).send(grantTx(alice, 'city-hospital'));
    await fn(w);
    assert.equal(readdirSync(temp), [], 'no temp file is left');
  } catch (err) {
    (err as Error).message =
      `${name}: ${(err as Error).message} (seed ${SEED}; rerun with CARELEDGER_TEST_SEED=${SEED})`;
    throw err;
  } finally {
    await node.close();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(temp, { recursive: true, force: true });
  }
}

/** `fn` must fail with `code`, leaving no file in `dir` but those listed before. */
async function failsWith(code: string, dir: string, fn: () => Promise<unknown>): Promise<ClientError> {
  const before = readdirSync(dir).sort();
  try {
    await fn();
  } catch (err) {
    assert.instance(err, Error);
    assert.is((err as ClientError).code, code, (err as Error).message);
    assert.equal(readdirSync(dir).sort(), before, 'no output or partial file is left');
    return err as ClientError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

test('put, then the hospital fetches, verifies and decrypts; the audit is proven', () =>
  withWorld('journey', async (w) => {
    const content = seeded('cbc', 5000);
    const file = join(w.dir, 'cbc.json');
    writeFileSync(file, content);
    const lab = member('acme-lab');
    const put = await putRecord(
      { file, patient: w.alice.id, category: 'Observation.laboratory' },
      { client: w.client(lab), nodeUrl: w.node.url, key: lab, options: w.options },
    );
    assert.match(put.record, /^r[0-9a-f]{32}$/);
    assert.is(put.size, 5000n + 32n, 'the envelope is the plaintext plus header and tag');
    const anchor = (await w.client(lab).record(put.record)).value!;
    assert.ok(equalBytes(anchor.ciphertextHash, put.sha256));
    assert.is(anchor.custodian, 'acme-lab');
    assert.is(anchor.anchoredAt, put.height);
    assert.is(await w.node.vault.status(put.sha256), 'anchored', 'the node confirmed the upload');

    const out = join(w.dir, 'received.json');
    const got = await fetchRecord({ record: put.record, purpose: 'TREAT', out }, w.fetchCtx());
    assert.ok(equalBytes(new Uint8Array(readFileSync(out)), content), 'the plaintext arrives intact');
    assert.ok(equalBytes(got.sha256, put.sha256));
    assert.is(got.size, put.size);
    assert.is(got.attempts, 1);
    const disclosures = (await w.client(w.alice.key).disclosures(w.alice.id)).value;
    assert.is(disclosures.length, 1);
    assert.is(disclosures[0]!.id, got.accessEvent);
    assert.is(disclosures[0]!.height, got.accessHeight);
    assert.is(disclosures[0]!.recipient, 'city-hospital');
    assert.ok(equalBytes(disclosures[0]!.release!, got.releaseId));
  }));

test('a record of more than 10 MiB goes through files, not memory, and round-trips', () =>
  withWorld('large', async (w) => {
    const content = seeded('scan', 10 * 1024 * 1024 + 12345);
    const record = await w.put(content);
    const out = join(w.dir, 'scan.bin');
    const got = await fetchRecord({ record, purpose: 'TREAT', out }, w.fetchCtx());
    assert.is(got.size, BigInt(content.length + 32));
    assert.ok(equalBytes(sha256(new Uint8Array(readFileSync(out))), sha256(content)));
  }));

test('a patient fetches their own record with a key only they hold, through the node as gateway', () =>
  withWorld('patient', async (w) => {
    const content = seeded('own', 300);
    const record = await w.put(content);
    const device = generateRecordKey();
    const out = join(w.dir, 'mine.json');
    const got = await fetchRecord(
      { record, purpose: 'PATRQT', out, requester: { kind: 'patient', id: w.alice.id } },
      {
        client: w.client(w.alice.key),
        nodeUrl: w.node.url,
        key: w.alice.key,
        recordKey: device,
        options: w.options,
      },
    );
    assert.ok(equalBytes(new Uint8Array(readFileSync(out)), content));
    const d = (await w.client(w.alice.key).disclosures(w.alice.id)).value;
    assert.is(d.at(-1)!.recipient, w.alice.id);
    assert.is(d.at(-1)!.id, got.accessEvent);
  }));

test('every verification failure is coded and leaves no output file', () =>
  withWorld('tamper', async (w) => {
    const record = await w.put(seeded('tamper', 4000));
    const out = join(w.dir, 'out.json');
    const fetch = () => fetchRecord({ record, purpose: 'TREAT', out }, w.fetchCtx());

    w.node.faults = { flipByte: 100 };
    await failsWith('RECORD_HASH_MISMATCH', w.dir, fetch);
    w.node.faults = { flipByte: 0 };
    await failsWith('RECORD_HASH_MISMATCH', w.dir, fetch);
    w.node.faults = { extraBytes: 1 };
    await failsWith('RECORD_SIZE_MISMATCH', w.dir, fetch);
    w.node.faults = { truncateBy: 10 };
    await failsWith('RECORD_TRANSFER_INCOMPLETE', w.dir, fetch);
    w.node.faults = { salt: seeded('other salt', 32) };
    await failsWith('RECORD_COMMITMENT_MISMATCH', w.dir, fetch);
    w.node.faults = { wrapTo: generateRecordKey().publicKey };
    await failsWith('RECORD_KEY_UNWRAP_FAILED', w.dir, fetch);
    w.node.faults = { skipAudit: true };
    await failsWith('RECORD_RELEASE_UNRECORDED', w.dir, fetch);
    w.node.faults = { accessHeightDelta: -1n };
    await failsWith('RECORD_RELEASE_UNRECORDED', w.dir, fetch);

    // The wrong record key, or an output folder that is not there, is caught before anything is
    // asked (no release audited for nothing).
    w.node.faults = {};
    const asked = w.node.fetches;
    await failsWith('RECORD_KEY_MISMATCH', w.dir, () =>
      fetchRecord({ record, purpose: 'TREAT', out }, w.fetchCtx({ recordKey: generateRecordKey() })),
    );
    await failsWith('CLIENT_OUTPUT_INVALID', w.dir, () =>
      fetchRecord({ record, purpose: 'TREAT', out: join(w.dir, 'no-such-folder', 'x') }, w.fetchCtx()),
    );
    assert.is(w.node.fetches, asked);

    // A file already at the output path is left as it was by a failed fetch.
    writeFileSync(out, 'previous');
    w.node.faults = { flipByte: 7 };
    await failsWith('RECORD_HASH_MISMATCH', w.dir, fetch);
    assert.is(readFileSync(out, 'utf8'), 'previous');

    // And with no fault the same record verifies.
    w.node.faults = {};
    await fetch();
    assert.ok(equalBytes(new Uint8Array(readFileSync(out)), seeded('tamper', 4000)));
  }));

test("the node's refusals come back with their codes and HTTP status", () =>
  withWorld('refusals', async (w) => {
    const record = await w.put(seeded('refused', 100));
    const out = join(w.dir, 'out.json');
    const insurer = member('good-insurance');
    const insurerKey = generateRecordKey();
    await w.client(insurer).setRecordKey(insurerKey.publicKey);
    const err = await failsWith('ACCESS_NO_CONSENT', w.dir, () =>
      fetchRecord(
        { record, purpose: 'HPAYMT', out },
        {
          client: w.client(insurer),
          nodeUrl: w.node.url,
          key: insurer,
          recordKey: insurerKey,
          options: w.options,
        },
      ),
    );
    assert.is(err.details.status, 403);
    await failsWith('BREAK_GLASS_INACTIVE', w.dir, () =>
      fetchRecord({ record, purpose: 'ETREAT', breakGlass: true, out }, w.fetchCtx()),
    );
    await failsWith('RECORD_UNKNOWN', w.dir, () =>
      fetchRecord({ record: `r${'0'.repeat(32)}`, purpose: 'TREAT', out }, w.fetchCtx()),
    );
  }));

test('a busy or unavailable custodian is retried with doubling delays, bounded', () =>
  withWorld('retries', async (w) => {
    const record = await w.put(seeded('retry', 100));
    const out = join(w.dir, 'out.json');
    w.node.faults = { unavailable: 2 };
    const got = await fetchRecord({ record, purpose: 'TREAT', out }, w.fetchCtx());
    assert.is(got.attempts, 3);
    assert.equal(w.sleeps, [500, 1000]);
    rmSync(out);
    w.sleeps.length = 0;
    w.node.faults = { unavailable: 100 };
    const before = w.node.fetches;
    const err = await failsWith('CUSTODIAN_UNAVAILABLE', w.dir, () =>
      fetchRecord({ record, purpose: 'TREAT', out }, w.fetchCtx({ options: { ...w.options, retries: 2 } })),
    );
    assert.is(err.details.status, 503);
    assert.is(w.node.fetches - before, 3);
    assert.equal(w.sleeps, [500, 1000]);
  }));

test('revoked consent and an erased record are refused; erase waits for the shredding', () =>
  withWorld('erase', async (w) => {
    const record = await w.put(seeded('erase', 100));
    const out = join(w.dir, 'out.json');
    await fetchRecord({ record, purpose: 'TREAT', out }, w.fetchCtx());
    rmSync(out);

    const lab = member('acme-lab');
    const ctx = { client: w.client(lab), nodeUrl: w.node.url, key: lab, options: w.options };
    w.node.faults = { shredAfterPolls: 2 };
    w.sleeps.length = 0;
    const erased = await eraseRecord({ record, reason: 'PATIENT_REQUEST' }, ctx);
    assert.is(erased.status, 'erased');
    assert.is(w.sleeps.length, 2, 'polled until the node shredded');
    assert.is((await recordStatus(record, ctx)).status, 'erased');
    assert.is((await w.client(lab).record(record)).value!.erasure!.height, erased.height);
    await failsWith('RECORD_ERASED', w.dir, () =>
      fetchRecord({ record, purpose: 'TREAT', out }, w.fetchCtx()),
    );
    assert.not.ok(existsSync(out));

    // A node that never shreds: the wait is bounded and says so.
    const second = await w.put(seeded('erase-2', 100));
    w.node.faults = { shredAfterPolls: 1_000_000 };
    let now = 0;
    await failsWith('RECORD_SHRED_TIMEOUT', w.dir, () =>
      eraseRecord(
        { record: second, reason: 'PATIENT_REQUEST' },
        {
          ...ctx,
          options: {
            ...w.options,
            now: () => now,
            sleep: async (ms) => {
              now += ms;
            },
          },
        },
      ),
    );
  }));

test('a revoked consent stops the next fetch', () =>
  withWorld('revoke', async (w) => {
    const record = await w.put(seeded('revoke', 100));
    const out = join(w.dir, 'out.json');
    const consent = (await w.client(w.alice.key).consents(w.alice.id)).value[0]!;
    await w.client(w.alice.key).revokeConsent(consent);
    await failsWith('ACCESS_CONSENT_REVOKED', w.dir, () =>
      fetchRecord({ record, purpose: 'TREAT', out }, w.fetchCtx()),
    );
  }));

test("the local API refuses a key that is not the node's member, and a bad input before any upload", () =>
  withWorld('auth', async (w) => {
    const file = join(w.dir, 'x.json');
    writeFileSync(file, 'x');
    const clinic = member('north-clinic');
    await failsWith('LOCAL_AUTH_FORBIDDEN', w.dir, () =>
      putRecord(
        { file, patient: w.alice.id, category: 'Observation.laboratory' },
        { client: w.client(clinic), nodeUrl: w.node.url, key: clinic, options: w.options },
      ),
    );
    assert.equal((await w.client(clinic).records(w.alice.id)).value, [], 'nothing was anchored');
    const lab = member('acme-lab');
    const ctx = { client: w.client(lab), nodeUrl: w.node.url, key: lab, options: w.options };
    await failsWith('CLIENT_INPUT_INVALID', w.dir, () =>
      putRecord({ file, patient: 'nobody', category: 'Observation.laboratory' }, ctx),
    );
    await failsWith('CLIENT_FILE_NOT_FOUND', w.dir, () =>
      putRecord(
        { file: join(w.dir, 'missing'), patient: w.alice.id, category: 'Observation.laboratory' },
        ctx,
      ),
    );
    await failsWith('CLIENT_RECORD_EMPTY', w.dir, () =>
      putRecord({ stream: [], patient: w.alice.id, category: 'Observation.laboratory' }, ctx),
    );
  }));

test("a payer's fetch for a claim (purpose HPAYMT) appears in the patient's accounting", () =>
  withWorld('payer', async (w) => {
    const content = seeded('claim-evidence', 3000);
    const record = await w.put(content);
    const insurerKey = member('good-insurance');
    const insurerRecordKey = generateRecordKey();
    await w.client(insurerKey).setRecordKey(insurerRecordKey.publicKey);
    await w.client(w.alice.key).send(grantTx(w.alice, 'good-insurance', { purposes: ['HPAYMT'] }));
    const out = join(w.dir, 'for-the-claim.json');
    const ctx = w.fetchCtx({ client: w.client(insurerKey), key: insurerKey, recordKey: insurerRecordKey });
    const got = await fetchRecord({ record, purpose: 'HPAYMT', out }, ctx);
    assert.ok(equalBytes(new Uint8Array(readFileSync(out)), content), 'the payer reads the record');
    const disclosures = (await w.client(w.alice.key).disclosures(w.alice.id)).value;
    const release = disclosures.find((d) => d.id === got.accessEvent);
    assert.ok(release !== undefined, 'the release is in the accounting');
    assert.is(release!.recipient, 'good-insurance');
    assert.is(release!.purpose, 'HPAYMT');
    assert.is(release!.custodian, 'acme-lab');
    assert.equal(
      release!.items.map((i) => i.record),
      [record],
    );
    assert.ok(equalBytes(release!.release!, got.releaseId));
    // The consent is for payment only: the payer cannot use it to read for treatment.
    await failsWith('ACCESS_NO_CONSENT', w.dir, () =>
      fetchRecord({ record, purpose: 'TREAT', out: join(w.dir, 'treat.json') }, ctx),
    );
    const after = (await w.client(w.alice.key).disclosures(w.alice.id)).value;
    assert.is(after.length, disclosures.length, 'a refused fetch discloses nothing');
  }));

test.run();
