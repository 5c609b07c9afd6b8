/**
 * HealthApp, the chain half of moving records (packages/health/records.ts, access.ts): the
 * member record-encryption key (genesis, `member.set-record-key`, governance), `access.record`
 * signed by a node of the custodian (that tx only, that custodian only), the release id unique on
 * chain, a patient's own access, and `decideRelease` on the committed state with each refusal —
 * and that what it allows, the chain records.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type KeyPair, keyPairFromSeed } from '../../../../packages/crypto/ed25519.ts';
import { sha256, toHex } from '../../../../packages/crypto/hash.ts';
import type { Purpose } from '../../../../packages/health/codes.ts';
import { nodePeerIdOf } from '../../../../packages/health/ids.ts';
import { accessEventFromFields, decodeMember } from '../../../../packages/health/model.ts';
import { idQueryData } from '../../../../packages/health/query.ts';
import {
  fetchRequest,
  type Requester,
  releaseIdOf,
  type SignedFetchRequest,
  signFetchRequest,
} from '../../../../packages/health/records.ts';
import { accessRecordTx, type HealthTx } from '../../../../packages/health/tx.ts';
import {
  accessTx,
  anchorTx,
  CHAIN_ID,
  grantTx,
  Harness,
  keyOf,
  MEMBERS,
  member,
  patient,
  registerTx,
  type TestMember,
} from './fixtures.ts';

const utf8 = new TextEncoder();
const nodeKey = (label: string): KeyPair => keyOf(`node/${label}`);
const recordKeyOf = (label: string): Uint8Array =>
  x25519.getPublicKey(sha256(utf8.encode(`x25519/${label}`)));

const labNode = nodeKey('acme-lab/0');
const hospitalNode = nodeKey('city-hospital/0');
const hospital = member('city-hospital');
const lab = member('acme-lab');
const alice = patient('alice');
const bob = patient('bob');
const stranger = keyOf('stranger');

/** The consortium with nodes for the lab and the hospital; every member but the clinic has a record key. */
const WITH_NODES: readonly TestMember[] = MEMBERS.map((m) => ({
  ...m,
  ...(m.id === 'acme-lab' ? { nodes: [nodePeerIdOf(labNode.publicKey)] } : {}),
  ...(m.id === 'city-hospital' ? { nodes: [nodePeerIdOf(hospitalNode.publicKey)] } : {}),
  ...(m.id === 'north-clinic' ? {} : { recordKey: recordKeyOf(m.id) }),
}));

/** Alice and Bob registered; a lab result anchored for each; the hospital may read Alice's for TREAT. */
async function scenario(fn: (h: Harness, r: { aLab: string; bLab: string }) => Promise<void>) {
  const h = await Harness.create(WITH_NODES);
  try {
    await h.block([
      h.tx(hospital, registerTx(alice, 'city-hospital')),
      h.tx(hospital, registerTx(bob, 'city-hospital')),
    ]);
    const aLab = await h.ok(lab, anchorTx(alice, 'a-lab'));
    const bLab = await h.ok(lab, anchorTx(bob, 'b-lab'));
    await h.ok(alice.key, grantTx(alice, 'city-hospital'));
    await fn(h, { aLab, bLab });
  } finally {
    await h.close();
  }
}

let serial = 0;
/** A request signed by `key`, made at `time`, with a fresh (deterministic) nonce. */
function request(
  key: KeyPair,
  spec: {
    record: string;
    requester: Requester;
    purpose?: Purpose;
    breakGlass?: boolean;
    recipientKey?: Uint8Array | null;
    time: bigint;
    chainId?: string;
  },
): SignedFetchRequest {
  const nonce = sha256(utf8.encode(`nonce/${serial++}`)).subarray(0, 16);
  const r = fetchRequest(
    {
      chainId: spec.chainId ?? CHAIN_ID,
      record: spec.record,
      requester: spec.requester,
      purpose: spec.purpose ?? 'TREAT',
      breakGlass: spec.breakGlass ?? false,
      recipientKey: spec.recipientKey ?? null,
    },
    nonce,
    spec.time,
  );
  return signFetchRequest(r, key.secretKey);
}

const asHospital = { kind: 'member', id: 'city-hospital' } as const;

function release(record: string, bytes: Uint8Array | null): HealthTx {
  return accessRecordTx({
    patient: alice.id,
    recipient: 'city-hospital',
    purpose: 'TREAT',
    action: 'read',
    records: [record],
    release: bytes,
  });
}

test('the node peer id of a key is libp2p’s (so Member.nodes names node keys)', async () => {
  const { peerIdFromNodeKey } = await import('../../../../p2p/identity.ts');
  for (let i = 0; i < 16; i++) {
    const seed = sha256(utf8.encode(`peer/${i}`));
    assert.is(nodePeerIdOf(keyPairFromSeed(seed).publicKey), peerIdFromNodeKey(seed), `seed ${i}`);
  }
});

test('access.record signed by a node of the custodian: accepted, and the audit names the release and the node', () =>
  scenario(async (h, { aLab }) => {
    const id = sha256(utf8.encode('release/1'));
    const a = await h.ok(labNode, release(aLab, id));
    const attrs = Object.fromEntries(
      h.lastResult!.txResults[0]!.events[0]!.attributes.map((x) => [x.key, x.value]),
    );
    assert.is(attrs.custodian, 'acme-lab');
    assert.is(attrs.release, toHex(id));
    assert.is(attrs.node, nodePeerIdOf(labNode.publicKey));
    const [event] = (await h.list('/health/disclosures', alice.id)).map((e) => accessEventFromFields(e));
    assert.is(event!.id, a);
    assert.is(toHex(event!.release!), toHex(id));
    assert.is(event!.custodian, 'acme-lab');
    // The release is proven on chain: the requester checks its release was recorded.
    assert.is(new TextDecoder().decode((await h.proven('/health/release', id))!), a);
    assert.is(await h.proven('/health/release', sha256(id)), null);
    // A member-signed access.record (manual, no release) still works, and its event has no node.
    await h.ok(lab, release(aLab, null));
    assert.not.ok(h.lastResult!.txResults[0]!.events[0]!.attributes.some((x) => x.key === 'node'));
  }));

test('a node key signs access.record of its own member’s records only, and no other tx', () =>
  scenario(async (h, { aLab }) => {
    // The hospital's node is a node, but not of the custodian.
    await h.fails(hospitalNode, release(aLab, sha256(utf8.encode('r/2'))), 'HEALTH_UNAUTHORIZED');
    await h.fails(stranger, release(aLab, sha256(utf8.encode('r/3'))), 'HEALTH_UNAUTHORIZED');
    // The lab's node cannot act as the lab in anything else.
    await h.fails(labNode, anchorTx(alice, 'by-node'), 'HEALTH_UNAUTHORIZED');
    await h.fails(
      labNode,
      { type: 'record.erase', record: aLab, reason: 'PATIENT_REQUEST' },
      'HEALTH_UNAUTHORIZED',
    );
    await h.fails(
      labNode,
      { type: 'member.set-record-key', recordKey: recordKeyOf('x') },
      'HEALTH_UNAUTHORIZED',
    );
    await h.fails(
      labNode,
      { type: 'gov.vote', proposal: `g${'0'.repeat(32)}`, approve: true },
      'HEALTH_UNAUTHORIZED',
    );
    // A node of a member whose nodes the consortium replaced signs nothing any more.
    const g = await h.ok(hospital, {
      type: 'gov.propose',
      action: { kind: 'member.nodes', member: 'acme-lab', nodes: [] },
      deadline: h.height + 100n,
    });
    for (const id of ['north-clinic', 'acme-lab', 'good-insurance'])
      await h.ok(member(id), { type: 'gov.vote', proposal: g, approve: true });
    await h.fails(labNode, release(aLab, sha256(utf8.encode('r/4'))), 'HEALTH_UNAUTHORIZED');
  }));

test('a release is recorded once: the same release id again is ACCESS_RELEASE_REPLAYED, whoever signs', () =>
  scenario(async (h, { aLab }) => {
    const id = sha256(utf8.encode('release/once'));
    await h.ok(labNode, release(aLab, id));
    await h.fails(labNode, release(aLab, id), 'ACCESS_RELEASE_REPLAYED');
    await h.fails(lab, release(aLab, id), 'ACCESS_RELEASE_REPLAYED');
    // Two releases in one block: the second sees the first.
    const twice = sha256(utf8.encode('release/twice'));
    const [first, second] = await h.block([
      h.tx(labNode, release(aLab, twice)),
      h.tx(lab, release(aLab, twice)),
    ]);
    assert.is(first!.codespace, '');
    assert.is(second!.codespace, 'ACCESS_RELEASE_REPLAYED');
  }));

test('a patient receives their own records without consent, for PATRQT only', () =>
  scenario(async (h, { aLab, bLab }) => {
    const own = (purpose: Purpose, records = [aLab], p = alice) => accessTx(p, p.id, records, purpose);
    await h.fails(lab, own('TREAT'), 'ACCESS_PURPOSE_INVALID');
    await h.fails(lab, accessTx(alice, alice.id, [aLab], 'ETREAT', true), 'ACCESS_PURPOSE_INVALID');
    const a = await h.ok(lab, own('PATRQT'));
    const [event] = (await h.list('/health/disclosures', alice.id)).map((e) => accessEventFromFields(e));
    assert.is(event!.id, a);
    assert.is(event!.recipient, alice.id);
    assert.equal(event!.items, [{ record: aLab, consent: null }]);
    // Bob is not the patient of Alice's record, and no member.
    await h.fails(lab, accessTx(alice, bob.id, [aLab], 'PATRQT'), 'ACCESS_RECIPIENT_INVALID');
    await h.fails(lab, own('PATRQT', [bLab]), 'RECORD_PATIENT_MISMATCH');
  }));

test('member.set-record-key: the member sets, rotates and clears its own key; no one else can', () =>
  scenario(async (h) => {
    const keyOfMember = async (id: string) =>
      decodeMember((await h.proven('/health/member', idQueryData(id)))!).recordKey;
    assert.equal(await keyOfMember('city-hospital'), recordKeyOf('city-hospital'), 'from genesis');
    assert.is(await keyOfMember('north-clinic'), null);
    await h.ok(member('north-clinic'), { type: 'member.set-record-key', recordKey: recordKeyOf('clinic/1') });
    assert.equal(await keyOfMember('north-clinic'), recordKeyOf('clinic/1'));
    assert.is(h.lastResult!.txResults[0]!.events[0]!.type, 'health.member.record-key-set');
    await h.ok(member('north-clinic'), { type: 'member.set-record-key', recordKey: null });
    assert.is(await keyOfMember('north-clinic'), null);
    await h.fails(
      alice.key,
      { type: 'member.set-record-key', recordKey: recordKeyOf('p') },
      'HEALTH_UNAUTHORIZED',
    );
    await h.fails(
      stranger,
      { type: 'member.set-record-key', recordKey: recordKeyOf('s') },
      'HEALTH_UNAUTHORIZED',
    );
  }));

test('governance sets the record key of a member that lost it (member.record-key)', () =>
  scenario(async (h) => {
    const action = {
      kind: 'member.record-key',
      member: 'acme-lab',
      recordKey: recordKeyOf('lab/new'),
    } as const;
    const g = await h.ok(hospital, { type: 'gov.propose', action, deadline: h.height + 100n });
    for (const id of ['north-clinic', 'good-insurance'])
      await h.ok(member(id), { type: 'gov.vote', proposal: g, approve: true });
    assert.is((await h.proposalOf(g)).status, 'open', '3 of 5 is not more than 2/3');
    await h.ok(member('uni-research'), { type: 'gov.vote', proposal: g, approve: true });
    assert.is((await h.proposalOf(g)).status, 'passed');
    const lab = decodeMember((await h.proven('/health/member', idQueryData('acme-lab')))!);
    assert.equal(lab.recordKey, recordKeyOf('lab/new'));
    // For a member that does not exist, the proposal is refused at once.
    await h.fails(
      hospital,
      { type: 'gov.propose', action: { ...action, member: 'no-such' }, deadline: h.height + 100n },
      'MEMBER_NOT_FOUND',
    );
  }));

test('decideRelease: a permitted request gives the access.record to submit, and the chain records it once', () =>
  scenario(async (h, { aLab }) => {
    const now = h.time + 2000n;
    const signed = request(hospital, { record: aLab, requester: asHospital, time: now });
    const d = await h.app.decideRelease(signed, 'acme-lab', now);
    if (!d.release) throw new Error(`refused: ${d.code} ${d.message}`);
    assert.equal(d.releaseId, releaseIdOf(signed.request));
    assert.equal(d.recipientKey, recordKeyOf('city-hospital'));
    assert.is(d.record.id, aLab);
    assert.equal(d.tx, release(aLab, d.releaseId));
    await h.ok(labNode, d.tx);
    const again = await h.app.decideRelease(signed, 'acme-lab', now + 1000n);
    assert.equal([again.release, !again.release && again.code], [false, 'ACCESS_RELEASE_REPLAYED']);
  }));

test('decideRelease: each refusal with its code, the same code the chain gives', () =>
  scenario(async (h, { aLab, bLab }) => {
    const now = h.time + 2000n;
    const refusal = async (signed: SignedFetchRequest, custodian = 'acme-lab', at = now) => {
      const d = await h.app.decideRelease(signed, custodian, at);
      return d.release ? 'released' : d.code;
    };
    const asClinic = { kind: 'member', id: 'north-clinic' } as const;
    const asInsurer = { kind: 'member', id: 'good-insurance' } as const;
    const base = { record: aLab, requester: asHospital, time: now };
    assert.is(await refusal(request(hospital, { ...base, record: `r${'0'.repeat(32)}` })), 'RECORD_UNKNOWN');
    assert.is(await refusal(request(hospital, base), 'city-hospital'), 'RECORD_NOT_CUSTODIAN');
    assert.is(
      await refusal(request(hospital, { ...base, chainId: 'other-chain' })),
      'ACCESS_REQUEST_INVALID',
    );
    assert.is(await refusal(request(lab, base)), 'ACCESS_REQUEST_INVALID', 'signed by another key');
    assert.is(
      await refusal(request(hospital, { ...base, time: now - 5n * 60_000n - 1n })),
      'ACCESS_REQUEST_STALE',
    );
    assert.is(
      await refusal(request(hospital, { ...base, time: now + 5n * 60_000n + 1n })),
      'ACCESS_REQUEST_STALE',
    );
    assert.is(await refusal(request(hospital, { ...base, time: now - 5n * 60_000n })), 'released');
    assert.is(
      await refusal(request(member('good-insurance'), { ...base, requester: asInsurer })),
      'ACCESS_NO_CONSENT',
    );
    assert.is(await refusal(request(hospital, { ...base, purpose: 'HRESCH' })), 'ACCESS_NO_CONSENT');
    assert.is(await refusal(request(hospital, { ...base, breakGlass: true })), 'ACCESS_PURPOSE_INVALID');
    assert.is(
      await refusal(request(hospital, { ...base, breakGlass: true, purpose: 'ETREAT' })),
      'BREAK_GLASS_INACTIVE',
    );
    // The clinic has consent but no record key on chain: nothing to wrap the data key to.
    await h.ok(alice.key, grantTx(alice, 'north-clinic'));
    const clinicAsk = request(member('north-clinic'), { ...base, requester: asClinic, time: h.time });
    assert.is(await refusal(clinicAsk, 'acme-lab', h.time), 'MEMBER_RECORD_KEY_MISSING');
    // Refusals of the chain's own rules: submitting the tx gives the same code.
    const insurerAsk = request(member('good-insurance'), { ...base, requester: asInsurer, time: h.time });
    await h.fails(
      labNode,
      accessRecordTx({
        patient: alice.id,
        recipient: 'good-insurance',
        purpose: 'TREAT',
        action: 'read',
        records: [aLab],
        release: releaseIdOf(insurerAsk.request),
      }),
      'ACCESS_NO_CONSENT',
    );
    // An erased record is refused, by the decision and by the chain.
    await h.ok(lab, { type: 'record.erase', record: aLab, reason: 'PATIENT_REQUEST' });
    assert.is(
      await refusal(request(hospital, { ...base, time: h.time }), 'acme-lab', h.time),
      'RECORD_ERASED',
    );
    await h.fails(labNode, release(aLab, sha256(utf8.encode('after-erase'))), 'RECORD_ERASED');
    // A member asking for another patient's record under a consent from Alice: no consent of Bob.
    assert.is(
      await refusal(request(hospital, { ...base, record: bLab, time: h.time }), 'acme-lab', h.time),
      'ACCESS_NO_CONSENT',
    );
  }));

test('decideRelease: a patient fetches their own record with their key, wrapped to the key they signed', () =>
  scenario(async (h, { aLab, bLab }) => {
    const now = h.time + 1000n;
    const mine = recordKeyOf('alice/device');
    const ask = (key: KeyPair, record: string, p = alice, purpose: Purpose = 'PATRQT') =>
      request(key, {
        record,
        requester: { kind: 'patient', id: p.id },
        purpose,
        recipientKey: mine,
        time: now,
      });
    const d = await h.app.decideRelease(ask(alice.key, aLab), 'acme-lab', now);
    if (!d.release) throw new Error(`refused: ${d.code} ${d.message}`);
    assert.equal(d.recipientKey, mine);
    assert.is(d.tx.recipient, alice.id);
    assert.is(d.tx.purpose, 'PATRQT');
    await h.ok(labNode, d.tx);
    const refused = async (signed: SignedFetchRequest) => {
      const r = await h.app.decideRelease(signed, 'acme-lab', now);
      return r.release ? 'released' : r.code;
    };
    assert.is(await refused(ask(alice.key, aLab, alice, 'TREAT')), 'ACCESS_PURPOSE_INVALID');
    assert.is(await refused(ask(alice.key, bLab, bob)), 'ACCESS_REQUEST_INVALID', "Alice's key is not Bob's");
    assert.is(
      await refused(ask(alice.key, bLab, alice)),
      'ACCESS_RECIPIENT_INVALID',
      "Bob's record to Alice",
    );
    // A gateway that swaps in its own key breaks the patient's signature.
    const signed = ask(alice.key, aLab);
    const swapped = { ...signed, request: { ...signed.request, recipientKey: recordKeyOf('gateway') } };
    assert.is(await refused(swapped), 'ACCESS_REQUEST_INVALID');
  }));

test.run();
