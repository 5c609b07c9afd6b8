/**
 * Health queries with proofs: each answer verifies against the committed app hash with
 * verifyMembership / verifyNonMembership (packages/merkle/proof.ts), at the latest height and at
 * older ones; lists are proven page by page, their end by a short page or a proven absence; the
 * decision answer is re-derived from its proven leaves by the same policy engine, and any
 * tampering is caught; bad paths, data and heights get their codes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encode } from '../../../../packages/codec/canonical.ts';
import { toHex } from '../../../../packages/crypto/hash.ts';
import { keyBytes, stateKey } from '../../../../packages/health/keys.ts';
import { decodeCount, decodePage, decodeRecord, LIST_PAGE_SIZE } from '../../../../packages/health/model.ts';
import {
  type DecisionRequest,
  decisionQueryData,
  decodeBundle,
  decodeDecisionAnswer,
  encodeBundle,
  encodeDecisionAnswer,
  idQueryData,
  listCountQueryData,
  patientListQueryData,
  verifyAnswer,
  verifyDecision,
} from '../../../../packages/health/query.ts';
import { signHealthTx } from '../../../../packages/health/tx.ts';
import { decodeProof, verifyMembership, verifyNonMembership } from '../../../../packages/merkle/proof.ts';
import { openDb } from '../../../../state/db.ts';
import { HealthApp } from '../../../../state/health/app.ts';
import {
  anchorTx,
  blockAt,
  CHAIN_ID,
  GENESIS_TIME,
  genesisFor,
  grantTx,
  Harness,
  HOUR,
  member,
  patient,
  registerTx,
} from './fixtures.ts';

const hospital = member('city-hospital');
const lab = member('acme-lab');
const alice = patient('alice');

test('single-key answers verify against the app hash, present or absent, now and at older heights', async () => {
  const h = await Harness.create();
  try {
    await h.ok(hospital, registerTx(alice, 'city-hospital'));
    const r1 = await h.ok(lab, anchorTx(alice, 'one'));
    const hashAtR1 = h.app.info().appHash;
    const heightAtR1 = h.height;
    await h.ok(lab, { type: 'record.erase', record: r1, reason: 'PATIENT_REQUEST' });

    const now = await h.app.query('/health/record', idQueryData(r1), null, true);
    assert.is(now.code, 0);
    assert.is(now.height, h.height);
    assert.equal(now.key, keyBytes(stateKey.record(r1)));
    assert.ok(verifyMembership(h.app.info().appHash, now.key, now.value!, decodeProof(now.proof!)));
    assert.not.equal(decodeRecord(now.value!).erasure, null);
    // The same record at the height it was anchored: not yet erased, proven against that hash.
    const then = await h.app.query('/health/record', idQueryData(r1), heightAtR1, true);
    assert.is(then.height, heightAtR1);
    assert.is(decodeRecord(then.value!).erasure, null);
    assert.ok(verifyMembership(hashAtR1, then.key, then.value!, decodeProof(then.proof!)));
    assert.not.ok(verifyMembership(h.app.info().appHash, then.key, then.value!, decodeProof(then.proof!)));
    // An absent record: a non-membership proof.
    const missing = await h.app.query('/health/record', idQueryData(`r${'0'.repeat(32)}`), null, true);
    assert.is(missing.value, null);
    assert.ok(verifyNonMembership(h.app.info().appHash, missing.key, decodeProof(missing.proof!)));
    // The genesis state answers at height 0.
    const genesis = await h.app.query('/health/patient', idQueryData(alice.id), 0n, true);
    assert.is(genesis.value, null);
    assert.ok(verifyNonMembership(h.genesisHash, genesis.key, decodeProof(genesis.proof!)));
    // Without prove, no proof.
    const plain = await h.app.query('/health/patient', idQueryData(alice.id), null, false);
    assert.is(plain.proof, null);
    assert.ok(plain.value !== null);
    // A client's next nonce.
    const nonce = await h.app.query('/health/nonce', lab.publicKey, null, true);
    assert.ok(verifyAnswer(h.app.info().appHash, nonce.key, nonce.value, nonce.proof!));
  } finally {
    await h.close();
  }
});

test('lists are proven page by page; a short page or a proven absence ends them; the count is a leaf', async () => {
  const h = await Harness.create();
  try {
    await h.ok(hospital, registerTx(alice, 'city-hospital'));
    const n = LIST_PAGE_SIZE + 2;
    const anchors = Array.from({ length: n }, (_, i) => h.tx(lab, anchorTx(alice, `bulk-${i}`)));
    const results = await h.block(anchors);
    assert.ok(results.every((r) => r.code === 0));
    const root = h.app.info().appHash;
    const page0 = await h.app.query('/health/records', patientListQueryData(alice.id, 0), null, true);
    const page1 = await h.app.query('/health/records', patientListQueryData(alice.id, 1), null, true);
    const page2 = await h.app.query('/health/records', patientListQueryData(alice.id, 2), null, true);
    assert.ok(verifyAnswer(root, page0.key, page0.value, page0.proof!));
    assert.ok(verifyAnswer(root, page1.key, page1.value, page1.proof!));
    assert.ok(verifyAnswer(root, page2.key, page2.value, page2.proof!));
    assert.is(decodePage(page0.value!).length, LIST_PAGE_SIZE);
    assert.equal(
      decodePage(page1.value!),
      results.slice(LIST_PAGE_SIZE).map((r) => r.log),
    );
    assert.is(page2.value, null);
    // A node cannot pass page 1 off as page 0, nor hide a page.
    assert.not.ok(verifyAnswer(root, page0.key, page1.value, page1.proof!));
    assert.not.ok(verifyAnswer(root, page1.key, null, page2.proof!));
    const count = await h.app.query(
      '/health/list/count',
      listCountQueryData('records', alice.id),
      null,
      true,
    );
    assert.ok(verifyAnswer(root, count.key, count.value, count.proof!));
    assert.is(decodeCount(count.value!), n);
    assert.is((await h.list('/health/records', alice.id)).length, n);
    // The generic list path reads the same leaf.
    const same = await h.app.query('/health/list', encode(['records', alice.id, 1]), null, true);
    assert.equal(same.value, page1.value);
  } finally {
    await h.close();
  }
});

test('the decision answer is re-derived from its proven leaves; tampering is caught', async () => {
  const h = await Harness.create();
  try {
    await h.ok(hospital, registerTx(alice, 'city-hospital'));
    const r = await h.ok(lab, anchorTx(alice, 'a1'));
    const c = await h.ok(alice.key, grantTx(alice, 'north-clinic', { end: h.time + HOUR }));
    const root = h.app.info().appHash;
    const ask = (over: Partial<DecisionRequest> = {}): DecisionRequest => ({
      patient: alice.id,
      grantee: 'north-clinic',
      record: r,
      purpose: 'TREAT',
      action: 'read',
      time: null,
      ...over,
    });
    const answer = async (req: DecisionRequest) => {
      const res = await h.app.query('/health/decision', decisionQueryData(req), null, true);
      assert.is(res.code, 0, res.log);
      return res;
    };
    const yes = await answer(ask());
    const checked = verifyDecision(root, ask(), yes.value!, yes.proof!);
    assert.ok(checked);
    assert.equal(
      { permit: checked!.permit, consentId: checked!.consentId, reason: checked!.reason },
      { permit: true, consentId: c, reason: 'PERMIT' },
    );
    assert.is(checked!.height, h.height + 1n);
    // Other purposes, grantees and later times deny, each proven the same way.
    for (const [req, reason] of [
      [ask({ purpose: 'HRESCH' }), 'NO_CONSENT'],
      [ask({ grantee: 'city-hospital' }), 'NO_CONSENT'],
      [ask({ time: h.time + 2n * HOUR }), 'CONSENT_NOT_IN_PERIOD'],
      [ask({ record: `r${'0'.repeat(32)}` }), 'RECORD_NOT_FOUND'],
    ] as const) {
      const res = await answer(req);
      const d = verifyDecision(root, req, res.value!, res.proof!);
      assert.ok(d, `${reason}: verifies`);
      assert.is(d!.reason, reason);
      assert.not.ok(d!.permit);
    }
    // Tampering: a flipped answer, a bundle without the consent, a wrong root, another request.
    const flipped = encodeDecisionAnswer({
      ...decodeDecisionAnswer(yes.value!),
      permit: false,
      reason: 'NO_CONSENT',
    });
    assert.is(verifyDecision(root, ask(), flipped, yes.proof!), null);
    const leaves = decodeBundle(yes.proof!);
    const withoutConsent = encodeBundle(
      leaves.filter((l) => !toHex(l.key).includes(toHex(keyBytes(`h/consent/${c}`)))),
    );
    assert.is(verifyDecision(root, ask(), yes.value!, withoutConsent), null);
    const forgedList = encodeBundle(
      leaves.map((l) =>
        Buffer.from(l.key).toString() === stateKey.grants(alice.id, 'north-clinic')
          ? { ...l, value: encode([]) }
          : l,
      ),
    );
    assert.is(verifyDecision(root, ask(), yes.value!, forgedList), null);
    assert.is(verifyDecision(h.genesisHash, ask(), yes.value!, yes.proof!), null);
    assert.is(verifyDecision(root, ask({ purpose: 'HPAYMT' }), yes.value!, yes.proof!), null);
    // After revocation (effective next block) the proven answer changes.
    await h.ok(alice.key, { type: 'consent.revoke', consent: c });
    const after = await answer(ask());
    const d = verifyDecision(h.app.info().appHash, ask(), after.value!, after.proof!);
    assert.is(d?.reason, 'CONSENT_REVOKED');
  } finally {
    await h.close();
  }
});

test('heights are block heights whatever the initial height: genesis answers at initialHeight - 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-health-'));
  const db = await openDb(dir);
  try {
    const app = await HealthApp.open(db);
    const { genesis, appState } = genesisFor();
    const init = await app.initChain({ ...genesis, initialHeight: 100n }, appState);
    await db.batch(init.ops.slice());
    app.commit(99n, init.appHash);
    assert.is(app.info().lastHeight, 0n, 'before the first block, as the node expects');
    const p = patient('late');
    const reg = signHealthTx(CHAIN_ID, hospital, 1n, registerTx(p, 'city-hospital'));
    const r = await app.finalizeBlock(blockAt(100n, GENESIS_TIME + 1000n), [reg]);
    assert.is(r.txResults[0]!.codespace, '');
    await db.batch(r.ops.slice());
    app.commit(100n, r.appHash);
    assert.is(app.info().lastHeight, 100n);
    const before = await app.query('/health/patient', idQueryData(p.id), 99n, true);
    const after = await app.query('/health/patient', idQueryData(p.id), 100n, true);
    assert.is(before.height, 99n);
    assert.ok(verifyAnswer(init.appHash, before.key, null, before.proof!));
    assert.ok(verifyAnswer(r.appHash, after.key, after.value, after.proof!));
    assert.is(
      (await app.query('/health/patient', idQueryData(p.id), 98n, false)).codespace,
      'QUERY_HEIGHT_INVALID',
    );
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad paths, data and heights get their codes', async () => {
  const h = await Harness.create();
  try {
    const unknown = await h.app.query('/health/secrets', new Uint8Array(0), null, true);
    assert.is(unknown.codespace, 'QUERY_UNKNOWN_PATH');
    assert.ok(unknown.code !== 0);
    assert.is(
      (await h.app.query('/health/record', idQueryData('Jane Doe'), null, true)).codespace,
      'QUERY_DATA_INVALID',
    );
    assert.is(
      (await h.app.query('/health/nonce', new Uint8Array(3), null, true)).codespace,
      'QUERY_DATA_INVALID',
    );
    assert.is(
      (await h.app.query('/health/records', encode([alice.id]), null, true)).codespace,
      'QUERY_DATA_INVALID',
    );
    assert.is(
      (await h.app.query('/health/list', encode(['secrets', alice.id, 0]), null, true)).codespace,
      'QUERY_DATA_INVALID',
    );
    assert.is(
      (await h.app.query('/health/decision', encode([1, 2]), null, true)).codespace,
      'QUERY_DATA_INVALID',
    );
    assert.is(
      (await h.app.query('/health/record', idQueryData(`r${'0'.repeat(32)}`), 99n, true)).codespace,
      'QUERY_HEIGHT_INVALID',
    );
  } finally {
    await h.close();
  }
});

test.run();
