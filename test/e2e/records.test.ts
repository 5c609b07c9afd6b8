/**
 * Records move between institutions on a real 4-process health consortium (hospital, clinic, lab,
 * insurer), through each institution's own node's local API over plain HTTP (RECORDS-CONTRACT):
 * the lab uploads an encrypted result to its vault and anchors it; the patient grants the
 * hospital; the hospital fetches it through its own node from the lab's node over
 * /careledger/record/1, checks the bytes against the anchor (proven by the light client), unwraps
 * the key and decrypts, and the access event is in the patient's disclosures. Then every refusal,
 * with its code and no bytes: a replayed request, another purpose, no consent, a revoked consent,
 * an erased record; the local API's auth refusals; a flipped byte in the lab's stored blob caught
 * by the requester; the lab's node down (CUSTODIAN_UNAVAILABLE in bounded time) and back.
 * Uses packages/records, packages/health/records.ts and local-auth directly (not the SDK's record
 * commands).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HealthClient, rpcTransport, sealRecord } from '../../packages/client/health.ts';
import { loadKeyFile, loadRecordKeyFile } from '../../packages/client/keys.ts';
import { LightClient } from '../../packages/client/light-client.ts';
import { RpcClient } from '../../packages/client/rpc.ts';
import { type KeyPair, keyPairFromSeed } from '../../packages/crypto/ed25519.ts';
import { equalBytes, sha256, toHex } from '../../packages/crypto/hash.ts';
import { patientIdOf } from '../../packages/health/ids.ts';
import { provision } from '../../packages/health/provision.ts';
import { recordCommitment } from '../../packages/health/tx.ts';
import { decryptRecord, encryptRecord } from '../../packages/records/envelope.ts';
import { encodeKeyMaterial, generateDataKey } from '../../packages/records/key-material.ts';
import { generateRecordKeyPair, unwrapRecordKey } from '../../packages/records/key-wrap.ts';
import { LOCAL_AUTH_HEADER, signLocalAuth } from '../../packages/records/local-auth.ts';
import { parseGenesisJson } from '../../packages/types/genesis.ts';
import { Consortium, waitUntil } from './harness.ts';

const NAMES = ['hospital', 'clinic', 'lab', 'insurer'];
const HOSPITAL = 0;
const CLINIC = 1;
const LAB = 2;
const UNAVAILABLE_AFTER_MS = 3000;
const net = Consortium.create({ validators: 4, basePort: 24656, app: 'health', names: NAMES });
for (let i = 0; i < 4; i++) net.editConfig(i, (c) => (c.records.unavailable_after_ms = UNAVAILABLE_AFTER_MS));
const genesis = parseGenesisJson(readFileSync(join(net.homes[0]!, 'config', 'genesis.json'), 'utf8'));
const chainId = genesis.chainId;

const memberKey = (node: number): KeyPair => loadKeyFile(join(net.homes[node]!, 'config', 'member_key.json'));
const recordKey = (node: number): KeyPair =>
  loadRecordKeyFile(join(net.homes[node]!, 'config', 'member_record_key.json'));

function clientAt(node: number, key?: KeyPair): HealthClient {
  const rpc = new RpcClient(net.rpcs[node]!);
  const transport = rpcTransport(rpc, new LightClient(genesis, rpc));
  return new HealthClient({ chainId, transport, ...(key === undefined ? {} : { key }) });
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
  /** The JSON error body of a refusal: {code, message}. */
  json(): { code?: string; message?: string; [k: string]: unknown };
}

async function http(
  node: number,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: Uint8Array } = {},
): Promise<Answer> {
  const res = await fetch(`${net.rpcs[node]}${path}`, {
    method,
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: init.body }),
    signal: AbortSignal.timeout(60_000),
  });
  const body = new Uint8Array(await res.arrayBuffer());
  return {
    status: res.status,
    headers: res.headers,
    body,
    json: () => JSON.parse(Buffer.from(body).toString('utf8')),
  };
}

function auth(key: KeyPair, method: string, path: string, body: Uint8Array): string {
  return signLocalAuth({ chainId, method, path, bodyHash: sha256(body), key });
}

async function upload(
  node: number,
  key: KeyPair,
  envelope: Uint8Array,
  material: Uint8Array,
  header?: string,
) {
  const path = `/records/blobs/${toHex(sha256(envelope))}`;
  return http(node, 'PUT', path, {
    headers: {
      [LOCAL_AUTH_HEADER]:
        header ?? signLocalAuth({ chainId, method: 'PUT', path, bodyHash: sha256(envelope), key }),
      'x-careledger-key-material': Buffer.from(material).toString('base64'),
      'content-type': 'application/octet-stream',
    },
    body: envelope,
  });
}

async function vaultStatus(node: number, key: KeyPair, hash: Uint8Array): Promise<string> {
  const path = `/records/blobs/${toHex(hash)}/status`;
  const res = await http(node, 'GET', path, {
    headers: { [LOCAL_AUTH_HEADER]: auth(key, 'GET', path, new Uint8Array(0)) },
  });
  assert.is(res.status, 200, Buffer.from(res.body).toString());
  return res.json().status as string;
}

const fetchVia = (node: number, request: Uint8Array) =>
  http(node, 'POST', '/records/fetch', { body: request });

/** A refusal: its status and code, and a body that is only the JSON error (no record bytes). */
function assertRefused(res: Answer, status: number, code: string): void {
  assert.is(
    res.status,
    status,
    `expected ${status} ${code}, got ${res.status} ${Buffer.from(res.body).toString().slice(0, 200)}`,
  );
  assert.is(res.headers.get('x-careledger-wrapped-key'), null, 'no key released');
  const body = res.json();
  assert.is(body.code, code, body.message);
  assert.equal(Object.keys(body).sort(), ['code', 'message']);
}

/** Waits until node i has committed at least the height of `receipt`. */
async function seenBy<T extends { height: bigint }>(nodes: number[], write: Promise<T>): Promise<T> {
  const receipt = await write;
  await Promise.all(nodes.map((i) => net.waitForHeight(i, receipt.height, 30_000)));
  return receipt;
}

test.after(async () => {
  await net.destroy();
});

test.before.each(async () => {
  await net.ensureLive([0, 1, 2, 3]);
});

test('a record moves from the lab to the hospital through their nodes, audited; every refusal has its code', async () => {
  net.startAll();
  await net.waitForHeight(0, 2n, 60_000);
  const hospital = clientAt(HOSPITAL, memberKey(HOSPITAL));
  const clinic = clientAt(CLINIC, memberKey(CLINIC));
  const lab = clientAt(LAB, memberKey(LAB));
  const aliceKey = keyPairFromSeed(sha256(Buffer.from('records-e2e/alice')));
  const alice = patientIdOf(aliceKey.publicKey);
  const patient = clientAt(CLINIC, aliceKey);
  await seenBy([LAB], hospital.registerPatient(aliceKey));

  // The lab encrypts a result under a fresh data key and stores it in its own node's vault.
  const plaintext = Buffer.from('{"resourceType":"Observation","code":"lipid panel","value":4.2}');
  const dataKey = generateDataKey();
  const salt = new Uint8Array(randomBytes(16));
  const envelope = encryptRecord(plaintext, dataKey);
  const hash = sha256(envelope);
  const material = encodeKeyMaterial({ dataKey, salt });

  // Local API auth: none, another member's key on the lab's node, a wrong body hash.
  const path = `/records/blobs/${toHex(hash)}`;
  assertRefused(await http(LAB, 'PUT', path, { body: envelope }), 401, 'LOCAL_AUTH_REQUIRED');
  assertRefused(await upload(LAB, memberKey(HOSPITAL), envelope, material), 403, 'LOCAL_AUTH_FORBIDDEN');
  const wrongPath = `/records/blobs/${toHex(sha256(Buffer.from('other')))}`;
  const mismatch = await http(LAB, 'PUT', wrongPath, {
    headers: {
      [LOCAL_AUTH_HEADER]: signLocalAuth({
        chainId,
        method: 'PUT',
        path: wrongPath,
        bodyHash: sha256(Buffer.from('other')),
        key: memberKey(LAB),
      }),
      'x-careledger-key-material': Buffer.from(material).toString('base64'),
    },
    body: envelope,
  });
  assertRefused(mismatch, 400, 'VAULT_HASH_MISMATCH');
  assert.is(await vaultStatus(LAB, memberKey(LAB), sha256(Buffer.from('other'))), 'unknown');

  const header = signLocalAuth({ chainId, method: 'PUT', path, bodyHash: hash, key: memberKey(LAB) });
  const stored = await upload(LAB, memberKey(LAB), envelope, material, header);
  assert.is(stored.status, 201, Buffer.from(stored.body).toString());
  assert.equal(stored.json(), { sha256: toHex(hash), size: envelope.length, pending: true });
  assertRefused(await upload(LAB, memberKey(LAB), envelope, material, header), 401, 'LOCAL_AUTH_REPLAYED');
  assert.is(await vaultStatus(LAB, memberKey(LAB), hash), 'pending');

  // The lab anchors it; its node confirms the upload on seeing the committed anchor.
  const anchor = await seenBy(
    [HOSPITAL, LAB],
    lab.anchorRecord({
      patient: alice,
      category: 'Observation.laboratory',
      ...sealRecord(envelope, plaintext, salt),
    }),
  );
  await waitUntil(
    'the lab vault confirms the anchored upload',
    async () => (await vaultStatus(LAB, memberKey(LAB), hash)) === 'anchored',
    10_000,
    () => net.logTails(),
  );

  // The patient grants the hospital read for treatment.
  const grant = await seenBy(
    [LAB],
    patient.grantConsent(
      alice,
      'hospital',
      provision({ type: 'permit', actions: ['read'], purposes: ['TREAT'], categories: ['Observation'] }),
    ),
  );

  // The hospital fetches through its own node, from the lab's.
  const fetchOnce = async () => {
    const { bytes, releaseId } = await hospital.fetchRequest({ record: anchor.id, purpose: 'TREAT' });
    return { res: await fetchVia(HOSPITAL, bytes), bytes, releaseId };
  };
  const { res, bytes, releaseId } = await fetchOnce();
  assert.is(res.status, 200, Buffer.from(res.body).toString().slice(0, 300));
  assert.is(res.headers.get('x-careledger-release'), toHex(releaseId));
  const accessHeight = BigInt(res.headers.get('x-careledger-access-height')!);
  // Verify before decrypting: the bytes against the anchor proven by the light client.
  const onChain = (await hospital.record(anchor.id)).value!;
  assert.ok(equalBytes(sha256(res.body), onChain.ciphertextHash), 'the ciphertext is the anchored one');
  const key = await unwrapRecordKey(
    recordKey(HOSPITAL).secretKey,
    Buffer.from(res.headers.get('x-careledger-wrapped-key')!, 'base64'),
    {
      chainId,
      recordId: anchor.id,
      releaseId,
    },
  );
  const opened = decryptRecord(res.body, key.dataKey);
  assert.ok(
    equalBytes(recordCommitment(key.salt, opened), onChain.commitment),
    'the plaintext matches the commitment',
  );
  assert.is(Buffer.from(opened).toString(), plaintext.toString());
  // The clinic's record key does not open it.
  assert.is(
    await unwrapRecordKey(
      recordKey(CLINIC).secretKey,
      Buffer.from(res.headers.get('x-careledger-wrapped-key')!, 'base64'),
      {
        chainId,
        recordId: anchor.id,
        releaseId,
      },
    ).then(
      () => 'opened',
      (e: { code?: string }) => e.code,
    ),
    'RECORD_KEY_UNWRAP_FAILED',
  );

  // The release is audited: an access event naming it, at the height given, in the disclosures.
  await net.waitForHeight(HOSPITAL, accessHeight, 30_000);
  const eventId = (await hospital.release(releaseId)).value;
  assert.ok(eventId !== null, 'the release is recorded on chain');
  const trail = (await patient.disclosures(alice)).value;
  const event = trail.find((e) => e.id === eventId);
  assert.ok(event !== undefined, 'in the patient disclosures');
  assert.equal(
    [event.custodian, event.recipient, event.purpose, event.height],
    ['lab', 'hospital', 'TREAT', accessHeight],
  );
  assert.equal(event.items, [{ record: anchor.id, consent: grant.id }]);
  assert.ok(event.release !== null && equalBytes(event.release, releaseId));

  // Refusals, each with its code and no bytes.
  assertRefused(await fetchVia(HOSPITAL, bytes), 403, 'ACCESS_RELEASE_REPLAYED');
  const payment = await hospital.fetchRequest({ record: anchor.id, purpose: 'HPAYMT' });
  assertRefused(await fetchVia(HOSPITAL, payment.bytes), 403, 'ACCESS_NO_CONSENT');
  const noConsent = await clinic.fetchRequest({ record: anchor.id, purpose: 'TREAT' });
  assertRefused(await fetchVia(CLINIC, noConsent.bytes), 403, 'ACCESS_NO_CONSENT');
  // The hospital's request brought by the clinic's node: the lab refuses the peer.
  const relayed = await hospital.fetchRequest({ record: anchor.id, purpose: 'TREAT' });
  assertRefused(await fetchVia(CLINIC, relayed.bytes), 403, 'ACCESS_REQUESTER_PEER_INVALID');
  assertRefused(await fetchVia(HOSPITAL, Buffer.from('not a request')), 400, 'ACCESS_REQUEST_INVALID');
  assert.is(
    (await patient.disclosures(alice)).value.length,
    trail.length,
    'no refusal was audited as a release',
  );

  // A flipped byte in the lab's stored ciphertext: served, and caught by the requester's check.
  const blobPath = join(net.homes[LAB]!, 'vault', 'blobs', toHex(hash).slice(0, 2), toHex(hash));
  const original = readFileSync(blobPath);
  const flipped = Buffer.from(original);
  flipped[flipped.length >> 1]! ^= 0x01;
  writeFileSync(blobPath, flipped);
  try {
    const tampered = await fetchOnce();
    assert.is(tampered.res.status, 200);
    assert.not.ok(
      equalBytes(sha256(tampered.res.body), onChain.ciphertextHash),
      'the requester sees the hash mismatch',
    );
    assert.throws(() => decryptRecord(tampered.res.body, key.dataKey));
  } finally {
    writeFileSync(blobPath, original);
  }

  // The lab's node down: CUSTODIAN_UNAVAILABLE within a bounded time; after its restart, it works.
  await net.stop(LAB);
  const started = Date.now();
  const down = await fetchOnce();
  const waited = Date.now() - started;
  assertRefused(down.res, 503, 'CUSTODIAN_UNAVAILABLE');
  assert.ok(
    waited >= UNAVAILABLE_AFTER_MS - 200 && waited < UNAVAILABLE_AFTER_MS + 8000,
    `answered in ${waited} ms`,
  );
  net.start(LAB);
  await net.waitForHeight(LAB, await net.height(HOSPITAL), 60_000);
  await waitUntil(
    'a fetch from the restarted lab',
    async () => (await fetchOnce()).res.status === 200,
    30_000,
    () => net.logTails(),
  );

  // The patient fetches their own record, with their own X25519 key, through any member's node:
  // the lab's own (the custodian serves it locally) and the clinic's (a gateway).
  const own = await generateRecordKeyPair();
  for (const gateway of [LAB, CLINIC]) {
    const mine = await patient.fetchRequest({
      record: anchor.id,
      purpose: 'PATRQT',
      requester: { kind: 'patient', id: alice },
      recipientKey: own.publicKey,
    });
    const got = await fetchVia(gateway, mine.bytes);
    assert.is(got.status, 200, Buffer.from(got.body).toString().slice(0, 300));
    assert.ok(equalBytes(sha256(got.body), onChain.ciphertextHash));
    const k = await unwrapRecordKey(
      own.privateKey,
      Buffer.from(got.headers.get('x-careledger-wrapped-key')!, 'base64'),
      {
        chainId,
        recordId: anchor.id,
        releaseId: mine.releaseId,
      },
    );
    assert.is(Buffer.from(decryptRecord(got.body, k.dataKey)).toString(), plaintext.toString());
  }

  // Revoked: the next fetch is refused.
  await seenBy([LAB], patient.revokeConsent(grant.id));
  const afterRevoke = await fetchOnce();
  assertRefused(afterRevoke.res, 403, 'ACCESS_CONSENT_REVOKED');

  // Erased: the lab's node shreds the key on the committed erase; the fetch is RECORD_ERASED.
  await seenBy(
    [LAB],
    patient.grantConsent(
      alice,
      'hospital',
      provision({ type: 'permit', actions: ['read'], purposes: ['TREAT'], categories: ['Observation'] }),
    ),
  );
  await seenBy([HOSPITAL, LAB], lab.eraseRecord(anchor.id, 'PATIENT_REQUEST'));
  await waitUntil(
    'the lab vault erases the record',
    async () => (await vaultStatus(LAB, memberKey(LAB), hash)) === 'erased',
    10_000,
    () => net.logTails(),
  );
  assertRefused((await fetchOnce()).res, 410, 'RECORD_ERASED');
  assert.ok(
    trail.length >= 1 && (await patient.disclosures(alice)).value.some((e) => e.id === eventId),
    'the audit trail stays',
  );
});

test.run();
