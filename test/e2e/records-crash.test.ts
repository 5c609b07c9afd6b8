/**
 * The custodian's node killed with SIGKILL at the worst moments of records work, on a real
 * 4-process health consortium (hospital, clinic, lab, insurer; ports 27656 on, this file's own):
 *
 * 1. mid-upload: half of an envelope has streamed into the lab vault's tmp/ when the lab dies;
 * 2. mid-release, after the access event is submitted (seen in the lab's mempool) and before
 *    any byte has left;
 * 3. mid-release, while the bytes stream (the requester has read the first chunk).
 *
 * After each restart the vault is consistent: tmp/ is empty, the half upload is gone (status
 * unknown, no blob, and the same bytes upload again), every key file has its blob, the anchored
 * record keeps its key, and a fetch of it through the hospital's node (the SDK's fetchRecord,
 * which checks the bytes against the proven anchor, the audit and the commitment) works. A
 * release cut short hands the requester fewer bytes than announced, never a short body that
 * passes for the record.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HealthClient, rpcTransport } from '../../packages/client/health.ts';
import { loadKeyFile, loadRecordKeyFile } from '../../packages/client/keys.ts';
import { LightClient } from '../../packages/client/light-client.ts';
import { LocalApi } from '../../packages/client/local-api.ts';
import { fetchRecord, putRecord, type RecordsContext } from '../../packages/client/records.ts';
import { RpcClient } from '../../packages/client/rpc.ts';
import { type KeyPair, keyPairFromSeed } from '../../packages/crypto/ed25519.ts';
import { equalBytes, sha256, toHex } from '../../packages/crypto/hash.ts';
import { patientIdOf } from '../../packages/health/ids.ts';
import { provision } from '../../packages/health/provision.ts';
import { encryptRecord } from '../../packages/records/envelope.ts';
import { generateDataKey } from '../../packages/records/key-material.ts';
import { parseGenesisJson } from '../../packages/types/genesis.ts';
import { Consortium, waitUntil } from './harness.ts';

const NAMES = ['hospital', 'clinic', 'lab', 'insurer'];
const HOSPITAL = 0;
const LAB = 2;
/** Large enough that a release is still streaming when the requester stops reading. */
const RECORD_BYTES = 8 * 1024 * 1024;
const net = Consortium.create({ validators: 4, basePort: 27656, app: 'health', names: NAMES });
for (let i = 0; i < 4; i++) net.editConfig(i, (c) => (c.records.unavailable_after_ms = 3000));
const genesis = parseGenesisJson(readFileSync(join(net.homes[0]!, 'config', 'genesis.json'), 'utf8'));
const chainId = genesis.chainId;
const vaultDir = join(net.homes[LAB]!, 'vault');
const out = mkdtempSync(join(tmpdir(), 'careledger-records-crash-'));

const memberKey = (node: number): KeyPair => loadKeyFile(join(net.homes[node]!, 'config', 'member_key.json'));

function clientAt(node: number, key: KeyPair): HealthClient {
  const rpc = new RpcClient(net.rpcs[node]!);
  return new HealthClient({ chainId, transport: rpcTransport(rpc, new LightClient(genesis, rpc)), key });
}

const ctxOf = (node: number): RecordsContext => ({
  client: clientAt(node, memberKey(node)),
  nodeUrl: net.rpcs[node]!,
  key: memberKey(node),
});
const labApi = () => new LocalApi({ nodeUrl: net.rpcs[LAB]!, chainId, key: memberKey(LAB) });

/** Names in a vault folder (the lab's, on disk). */
const filesIn = (sub: string): string[] => readdirSync(join(vaultDir, sub));
const blobFiles = (): string[] => filesIn('blobs').flatMap((p) => filesIn(join('blobs', p)));

async function killLab(): Promise<void> {
  await net.stop(LAB, 'SIGKILL');
}

/** Restarts the lab and waits until it has caught up with the hospital. */
async function restartLab(): Promise<void> {
  net.start(LAB);
  await net.waitForHeight(LAB, await net.height(HOSPITAL), 60_000);
}

/** The vault's invariants as seen on disk after a restart: no temp file, every key has its blob. */
function assertVaultConsistent(): void {
  assert.equal(filesIn('tmp'), [], 'tmp/ is emptied at open');
  const blobs = new Set(blobFiles());
  for (const key of filesIn('keys')) assert.ok(blobs.has(key), `key ${key.slice(0, 12)} has its blob`);
  for (const blob of blobs)
    assert.ok(filesIn('keys').includes(blob), `blob ${blob.slice(0, 12)} has its key`);
}

/** Fetches `record` through the hospital's node with every check of the SDK; returns the plaintext. */
async function fetchVerified(record: string, name: string): Promise<Buffer> {
  const path = join(out, name);
  await fetchRecord(
    { record, purpose: 'TREAT', out: path },
    {
      ...ctxOf(HOSPITAL),
      recordKey: loadRecordKeyFile(join(net.homes[HOSPITAL]!, 'config', 'member_record_key.json')),
    },
  );
  return readFileSync(path);
}

/** Reads `body` to its end or its error; the bytes received. */
async function drain(body: Readable): Promise<{ bytes: number; error: string | null }> {
  let bytes = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) bytes += chunk.length;
    return { bytes, error: null };
  } catch (err) {
    return { bytes, error: (err as Error).message };
  }
}

test.after(async () => {
  await net.destroy();
  rmSync(out, { recursive: true, force: true });
});

test('SIGKILL of the custodian mid-upload and mid-release leaves a consistent vault and no lost key', async () => {
  net.startAll();
  await net.waitForHeight(0, 2n, 60_000);
  const hospital = clientAt(HOSPITAL, memberKey(HOSPITAL));
  const aliceKey = keyPairFromSeed(sha256(Buffer.from('records-crash-e2e/alice')));
  const alice = patientIdOf(aliceKey.publicKey);
  const registered = await hospital.registerPatient(aliceKey);
  await net.waitForHeight(LAB, registered.height, 30_000);
  const granted = await clientAt(HOSPITAL, aliceKey).grantConsent(
    alice,
    'hospital',
    provision({ type: 'permit', actions: ['read'], purposes: ['TREAT'], categories: ['Observation'] }),
  );
  await net.waitForHeight(LAB, granted.height, 30_000);

  // An anchored record on the lab, its key the one that must survive every kill.
  const plaintext = Buffer.alloc(RECORD_BYTES, 'lipid panel 4.2 mmol/L; ');
  const put = await putRecord(
    { stream: [plaintext], patient: alice, category: 'Observation.laboratory' },
    ctxOf(LAB),
  );
  await waitUntil(
    'the lab confirms the anchored upload',
    async () => (await labApi().status(put.sha256)) === 'anchored',
    15_000,
    () => net.logTails(),
  );
  const anchoredKey = readFileSync(join(vaultDir, 'keys', toHex(put.sha256)));
  const checkAnchored = async (label: string) => {
    assert.ok(
      equalBytes(readFileSync(join(vaultDir, 'keys', toHex(put.sha256))), anchoredKey),
      `${label}: the key is intact`,
    );
    assert.is(await labApi().status(put.sha256), 'anchored', label);
    assert.ok((await fetchVerified(put.record, label)).equals(plaintext), `${label}: the fetch verifies`);
  };
  await checkAnchored('before any kill');

  // 1. Mid-upload: half of the envelope is in the lab's tmp/ when it dies.
  const envelope = encryptRecord(new Uint8Array(randomBytes(2 * 1024 * 1024)), generateDataKey());
  const hash = sha256(envelope);
  const material = { dataKey: generateDataKey(), salt: new Uint8Array(randomBytes(32)) };
  const body = new PassThrough();
  const upload = labApi()
    .putBlob(hash, BigInt(envelope.length), body, material)
    .then(
      () => 'stored',
      (err: Error) => err.message,
    );
  const half = envelope.length >> 1;
  body.write(envelope.subarray(0, half));
  const staged = () => filesIn('tmp').filter((n) => n.startsWith('blob-'));
  await waitUntil(
    'half the upload is staged in tmp/',
    async () => staged().some((n) => statSync(join(vaultDir, 'tmp', n)).size >= half),
    15_000,
    () => net.logTails(),
  );
  await killLab();
  body.destroy();
  assert.is.not(await upload, 'stored', 'the upload did not complete');
  assert.ok(staged().length > 0, 'the kill left a half blob in tmp/ (it was mid-stream)');
  await restartLab();
  assertVaultConsistent();
  assert.is(await labApi().status(hash), 'unknown', 'the half upload is gone');
  assert.not.ok(blobFiles().includes(toHex(hash)));
  await checkAnchored('after the kill mid-upload');
  await labApi().putBlob(hash, BigInt(envelope.length), Readable.from([Buffer.from(envelope)]), material);
  assert.is(await labApi().status(hash), 'pending', 'the same bytes upload again');

  // 2. After the access event is submitted, before the bytes: the lab dies with it in its mempool.
  const request = await hospital.fetchRequest({ record: put.record, purpose: 'TREAT' });
  const hospitalApi = new LocalApi({ nodeUrl: net.rpcs[HOSPITAL]!, chainId, key: memberKey(HOSPITAL) });
  const asked = hospitalApi.fetch(request.bytes).then(
    (release) => ({ release, error: null }),
    (err: Error) => ({ release: null, error: err.message }),
  );
  let sawSubmitted = false;
  await waitUntil(
    "the access event in the lab's mempool (or already committed)",
    async () => {
      const n = await net.rpc<{ n_txs: string }>(LAB, '/num_unconfirmed_txs').catch(() => ({ n_txs: '0' }));
      sawSubmitted = n.n_txs !== '0';
      return sawSubmitted || (await hospital.release(request.releaseId)).value !== null;
    },
    15_000,
    () => net.logTails(),
  );
  await killLab();
  const cut = await asked;
  if (cut.release !== null) {
    const got = await drain(cut.release.body);
    assert.ok(got.error !== null || BigInt(got.bytes) === cut.release.size, 'a short body is an error');
  }
  await restartLab();
  assertVaultConsistent();
  await checkAnchored(
    `after the kill with the access event ${sawSubmitted ? 'in the mempool' : 'committed'}`,
  );

  // 3. While the bytes stream: the hospital has read one chunk when the lab dies.
  const streaming = await hospital.fetchRequest({ record: put.record, purpose: 'TREAT' });
  const release = await hospitalApi.fetch(streaming.bytes);
  assert.is(release.size, put.size);
  const first = await new Promise<Buffer>((resolve, reject) => {
    release.body.once('data', (chunk: Buffer) => {
      release.body.pause();
      resolve(chunk);
    });
    release.body.once('error', reject);
  });
  assert.ok(first.length > 0);
  await killLab();
  release.body.resume();
  const rest = await drain(release.body);
  const received = first.length + rest.bytes;
  assert.ok(rest.error !== null, 'the cut release ends in an error');
  assert.ok(received < Number(put.size), `fewer bytes than announced (${received} of ${put.size})`);
  await restartLab();
  assertVaultConsistent();
  await checkAnchored('after the kill mid-stream');
  assert.is(await labApi().status(hash), 'pending', 'the complete upload survived the kills');
});

test.run();
