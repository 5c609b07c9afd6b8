/**
 * node/records/release.ts with access-auditor.ts, over a real HealthApp (temp LevelDB) and a real
 * Vault (temp folder): the custodian releases only after its node-signed access event commits
 * with code 0, and then the ciphertext and a key that only the requester unwraps (for that
 * record and release); every refusal has its code, submits nothing or fails at commit, and
 * releases no byte. The "network" is a stub submitTx that commits the tx in the app's next block
 * and hands the block to the auditor, as the node's 'block' event does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { x25519 } from '@noble/curves/ed25519.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AccessAuditor } from '../../../../node/records/access-auditor.ts';
import { healthChainView } from '../../../../node/records/chain-view.ts';
import { ReleaseService } from '../../../../node/records/release.ts';
import { Vault } from '../../../../node/vault/vault.ts';
import { sha256, toHex } from '../../../../packages/crypto/hash.ts';
import { nodePeerIdOf } from '../../../../packages/health/ids.ts';
import {
  encodeFetchRequest,
  fetchRequest,
  type Requester,
  releaseIdOf,
  signFetchRequest,
} from '../../../../packages/health/records.ts';
import { type HealthTx, recordCommitment } from '../../../../packages/health/tx.ts';
import { decryptRecord, encryptRecord } from '../../../../packages/records/envelope.ts';
import { generateDataKey } from '../../../../packages/records/key-material.ts';
import { unwrapRecordKey } from '../../../../packages/records/key-wrap.ts';
import type { CheckedTx } from '../../../../packages/types/tx.ts';
import { checkTxBytes, decodeTx } from '../../../../packages/types/tx.ts';
import {
  blockAt,
  CHAIN_ID,
  grantTx,
  Harness,
  keyOf,
  MEMBERS,
  member,
  patient,
  registerTx,
  type TestMember,
} from '../../state/health/fixtures.ts';

const utf8 = new TextEncoder();
const labNode = keyOf('node/acme-lab/0');
const hospitalNode = keyOf('node/city-hospital/0');
const LAB_PEER = nodePeerIdOf(labNode.publicKey);
const HOSPITAL_PEER = nodePeerIdOf(hospitalNode.publicKey);
const recordSecret = (id: string) => sha256(utf8.encode(`x25519/${id}`));
const lab = member('acme-lab');
const alice = patient('alice');
const bob = patient('bob');
const asHospital: Requester = { kind: 'member', id: 'city-hospital' };

const WITH_NODES: readonly TestMember[] = MEMBERS.map((m) => ({
  ...m,
  ...(m.id === 'acme-lab' ? { nodes: [LAB_PEER] } : {}),
  ...(m.id === 'city-hospital' ? { nodes: [HOSPITAL_PEER] } : {}),
  recordKey: x25519.getPublicKey(recordSecret(m.id)),
}));

interface Stored {
  readonly id: string;
  readonly plaintext: Uint8Array;
  readonly envelope: Uint8Array;
  readonly hash: Uint8Array;
}

interface World {
  readonly h: Harness;
  readonly vault: Vault;
  readonly service: ReleaseService;
  /** Txs the auditor submitted, in order. */
  readonly submitted: CheckedTx[];
  /** Txs to put in the same block before the next access event (a revoke racing a release). */
  readonly racing: CheckedTx[];
  readonly aliceLab: Stored;
  readonly bobLab: Stored;
}

/** Uploads a ciphertext to the vault and anchors it on chain as the lab. */
async function store(h: Harness, vault: Vault, p: typeof alice, label: string): Promise<Stored> {
  const plaintext = utf8.encode(`{"resourceType":"Observation","id":"${label}"}`);
  const dataKey = generateDataKey();
  const salt = sha256(utf8.encode(`salt/${label}`)).subarray(0, 16);
  const envelope = encryptRecord(plaintext, dataKey);
  const hash = sha256(envelope);
  const up = await vault.upload(
    (async function* () {
      yield envelope;
    })(),
    { dataKey, salt },
  );
  assert.is(toHex(up.sha256), toHex(hash));
  const anchor: HealthTx = {
    type: 'record.anchor',
    patient: p.id,
    category: 'Observation.laboratory',
    ciphertextHash: hash,
    commitment: recordCommitment(salt, plaintext),
    size: BigInt(envelope.length),
    supersedes: null,
  };
  const id = await h.ok(lab, anchor);
  return { id, plaintext, envelope, hash };
}

/** `commits` false: submitted txs never commit (a stalled chain). */
async function world(
  fn: (w: World) => Promise<void>,
  { timeoutMs = 5000, commits = true } = {},
): Promise<void> {
  const h = await Harness.create(WITH_NODES);
  const dir = mkdtempSync(join(tmpdir(), 'careledger-release-'));
  const vault = await Vault.open(dir);
  const submitted: CheckedTx[] = [];
  const racing: CheckedTx[] = [];
  const auditor = new AccessAuditor({
    chainId: CHAIN_ID,
    nodeKey: labNode,
    timeoutMs,
    maxWaiting: 8,
    nowMs: () => Number(h.time),
    submitTx: (bytes) => {
      const tx = checkTxBytes(CHAIN_ID, bytes);
      submitted.push(tx);
      if (commits) {
        // Committed in the next block (after the submit returns, as gossip and consensus would).
        setImmediate(async () => {
          const txs = [...racing.splice(0), tx];
          const results = await h.block(txs);
          auditor.onBlock(
            { ...blockAt(h.height, h.time), txs: txs.map((t) => t.bytes) },
            { txResults: results, events: [] },
            undefined as never,
          );
        });
      }
      return { ok: true, hash: tx.hash };
    },
  });
  try {
    await h.block([h.tx(member('city-hospital'), registerTx(alice, 'city-hospital'))]);
    await h.block([h.tx(member('city-hospital'), registerTx(bob, 'city-hospital'))]);
    const aliceLab = await store(h, vault, alice, 'alice-lab');
    const bobLab = await store(h, vault, bob, 'bob-lab');
    await h.ok(alice.key, grantTx(alice, 'city-hospital'));
    const service = new ReleaseService({
      chainId: CHAIN_ID,
      peerId: LAB_PEER,
      chain: healthChainView(h.app),
      vault,
      audit: auditor,
      nowMs: () => Number(h.time),
    });
    await fn({ h, vault, service, submitted, racing, aliceLab, bobLab });
  } finally {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

let serial = 0;
function requestBytes(
  h: Harness,
  record: string,
  spec: { requester?: Requester; purpose?: 'TREAT' | 'HPAYMT' } = {},
) {
  const nonce = sha256(utf8.encode(`nonce/${serial++}`)).subarray(0, 16);
  const r = fetchRequest(
    { chainId: CHAIN_ID, record, requester: spec.requester ?? asHospital, purpose: spec.purpose ?? 'TREAT' },
    nonce,
    h.time,
  );
  const signed = signFetchRequest(r, member('city-hospital').secretKey);
  return { bytes: encodeFetchRequest(signed), releaseId: releaseIdOf(r) };
}

async function bodyOf(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of body) parts.push(chunk);
  return new Uint8Array(Buffer.concat(parts));
}

test('a permitted request: the access event commits first, then the ciphertext and a key only the hospital unwraps', async () => {
  await world(async ({ h, service, submitted, aliceLab }) => {
    const { bytes, releaseId } = requestBytes(h, aliceLab.id);
    const answer = await service.release(bytes, HOSPITAL_PEER);
    assert.ok(answer.ok, answer.ok ? '' : `${answer.code}: ${answer.message}`);
    if (!answer.ok) return;
    // The access event: one tx, signed by the lab's node key, committed at the answer's height.
    assert.is(submitted.length, 1);
    const tx = decodeTx(submitted[0]!.bytes);
    assert.is(toHex(tx.signer), toHex(labNode.publicKey));
    assert.is(answer.accessHeight, h.height);
    assert.is(toHex(answer.releaseId), toHex(releaseId));
    const ciphertext = await bodyOf(answer.body);
    assert.is(answer.size, aliceLab.envelope.length);
    assert.is(toHex(sha256(ciphertext)), toHex(aliceLab.hash));
    const ctx = { chainId: CHAIN_ID, recordId: aliceLab.id, releaseId };
    const material = await unwrapRecordKey(recordSecret('city-hospital'), answer.wrappedKey, ctx);
    assert.is(toHex(decryptRecord(ciphertext, material.dataKey)), toHex(aliceLab.plaintext));
    // Bound to this release: another release id does not open it; nor another member's key.
    let refused = 0;
    await unwrapRecordKey(recordSecret('city-hospital'), answer.wrappedKey, {
      ...ctx,
      releaseId: new Uint8Array(32),
    }).catch(() => refused++);
    await unwrapRecordKey(recordSecret('north-clinic'), answer.wrappedKey, ctx).catch(() => refused++);
    assert.is(refused, 2);
  });
});

test('the same request again is ACCESS_RELEASE_REPLAYED, with nothing submitted', async () => {
  await world(async ({ h, service, submitted, aliceLab }) => {
    const { bytes } = requestBytes(h, aliceLab.id);
    const first = await service.release(bytes, HOSPITAL_PEER);
    assert.ok(first.ok);
    if (first.ok) await bodyOf(first.body);
    const again = await service.release(bytes, HOSPITAL_PEER);
    assert.equal(again.ok ? 'ok' : again.code, 'ACCESS_RELEASE_REPLAYED');
    assert.is(submitted.length, 1);
  });
});

test('refusals before anything is submitted: no consent, other purpose, wrong peer, unknown record, garbage', async () => {
  await world(async ({ h, service, submitted, bobLab, aliceLab }) => {
    const code = async (bytes: Uint8Array, peer = HOSPITAL_PEER) => {
      const a = await service.release(bytes, peer);
      return a.ok ? 'ok' : a.code;
    };
    assert.is(await code(requestBytes(h, bobLab.id).bytes), 'ACCESS_NO_CONSENT');
    assert.is(await code(requestBytes(h, aliceLab.id, { purpose: 'HPAYMT' }).bytes), 'ACCESS_NO_CONSENT');
    // The hospital's request brought by the lab's own node (or any node not the hospital's).
    assert.is(await code(requestBytes(h, aliceLab.id).bytes, LAB_PEER), 'ACCESS_REQUESTER_PEER_INVALID');
    assert.is(await code(requestBytes(h, `r${'0'.repeat(32)}`).bytes), 'RECORD_UNKNOWN');
    assert.is(await code(Uint8Array.of(1, 2, 3)), 'ACCESS_REQUEST_INVALID');
    assert.is(submitted.length, 0);
  });
});

test('a record erased in the vault is RECORD_ERASED, before any access event', async () => {
  await world(async ({ h, vault, service, submitted, aliceLab }) => {
    await vault.erase(aliceLab.hash);
    const a = await service.release(requestBytes(h, aliceLab.id).bytes, HOSPITAL_PEER);
    assert.is(a.ok ? 'ok' : a.code, 'RECORD_ERASED');
    assert.is(submitted.length, 0);
  });
});

test('a record erased on chain in the block that would carry the access event: refused at commit, nothing released', async () => {
  await world(async ({ h, service, submitted, racing, aliceLab }) => {
    racing.push(h.tx(lab, { type: 'record.erase', record: aliceLab.id, reason: 'PATIENT_REQUEST' }));
    const a = await service.release(requestBytes(h, aliceLab.id).bytes, HOSPITAL_PEER);
    assert.is(a.ok ? 'ok' : a.code, 'RECORD_ERASED');
    assert.is(submitted.length, 1);
  });
});

test('an access event that does not commit in time is RELEASE_TIMEOUT, nothing released', async () => {
  await world(
    async ({ h, service, submitted, aliceLab }) => {
      const a = await service.release(requestBytes(h, aliceLab.id).bytes, HOSPITAL_PEER);
      assert.is(a.ok ? 'ok' : a.code, 'RELEASE_TIMEOUT');
      assert.is(submitted.length, 1);
    },
    { timeoutMs: 50, commits: false },
  );
});

test.run();
