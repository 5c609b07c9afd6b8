/**
 * HealthApp over real classic-level: genesis, the tx envelope rules (payload decoding, per-signer
 * nonces, checkTx, proposal ordering), patient registration, key rotation and delegates, with
 * every rejection path and its code.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encode } from '../../../../packages/codec/canonical.ts';
import { hasCode } from '../../../../packages/core/errors.ts';
import { signMessage } from '../../../../packages/crypto/ed25519.ts';
import {
  decodeIdList,
  decodeMember,
  decodeParams,
  decodeValidators,
} from '../../../../packages/health/model.ts';
import { idQueryData } from '../../../../packages/health/query.ts';
import { type HealthTx, registerProofBytes } from '../../../../packages/health/tx.ts';
import { signTx } from '../../../../packages/types/tx.ts';
import {
  anchorTx,
  blockAt,
  CHAIN_ID,
  DAY,
  genesisFor,
  grantTx,
  Harness,
  keyOf,
  member,
  patient,
  registerTx,
  rotateTx,
} from './fixtures.ts';

const hospital = member('city-hospital');
const lab = member('acme-lab');

test('genesis: members, parameters and validators are in the proven state', async () => {
  const h = await Harness.create();
  try {
    assert.is(h.app.info().lastHeight, 0n);
    assert.equal(h.app.info().appHash, h.genesisHash);
    const members = decodeIdList((await h.proven('/health/members', new Uint8Array(0)))!);
    assert.equal(members, ['acme-lab', 'city-hospital', 'good-insurance', 'north-clinic', 'uni-research']);
    const m = decodeMember((await h.proven('/health/member', idQueryData('good-insurance')))!);
    assert.equal(m.roles, ['payer']);
    assert.ok(m.active);
    assert.is(
      decodeParams((await h.proven('/health/params', new Uint8Array(0)))!).breakGlassWindowMs,
      4n * 3_600_000n,
    );
    assert.is(decodeValidators((await h.proven('/health/validators', new Uint8Array(0)))!).length, 4);
    const { genesis, appState } = genesisFor();
    await h.app.initChain(genesis, appState).then(
      () => assert.unreachable('a second genesis must be refused'),
      (err: unknown) => assert.ok(hasCode(err, 'HEALTH_ALREADY_INITIALIZED')),
    );
  } finally {
    await h.close();
  }
});

test('reopening the app reads its height and app hash back', async () => {
  const h = await Harness.create();
  try {
    await h.ok(hospital, registerTx(patient('reopen'), 'city-hospital'));
    const { HealthApp } = await import('../../../../state/health/app.ts');
    const again = await HealthApp.open(h.db);
    assert.is(again.info().lastHeight, 1n);
    assert.is(
      Buffer.from(again.info().appHash).toString('hex'),
      Buffer.from(h.app.info().appHash).toString('hex'),
    );
  } finally {
    await h.close();
  }
});

test('payloads are decoded strictly: bad bytes, unknown types and codes are refused everywhere', async () => {
  const h = await Harness.create();
  try {
    const junk = signTx(CHAIN_ID, hospital.secretKey, hospital.publicKey, 1n, encode(['record.burn', 'x']));
    assert.is(h.app.checkTx(junk, false)?.code, 'HEALTH_PAYLOAD_INVALID');
    assert.not.ok(h.app.processProposal(blockAt(1n, 1n), [junk]));
    const [r] = await h.block([junk]);
    assert.is(r!.codespace, 'HEALTH_PAYLOAD_INVALID');
    const badCode = encode(['breakglass.declare', patient('x').id, 'BECAUSE I SAID SO']);
    const tx = signTx(CHAIN_ID, hospital.secretKey, hospital.publicKey, 1n, badCode);
    assert.is(h.app.checkTx(tx, false)?.code, 'HEALTH_CODE_INVALID');
    const badId = encode(['consent.revoke', 'Jane Doe, born 1970']);
    assert.is(
      h.app.checkTx(signTx(CHAIN_ID, hospital.secretKey, hospital.publicKey, 1n, badId), false)?.code,
      'HEALTH_ID_INVALID',
    );
    const ok = h.tx(hospital, registerTx(patient('p'), 'city-hospital'));
    assert.is(h.app.checkTx(ok, false), null);
    assert.ok(h.app.processProposal(blockAt(2n, 2n), [ok]));
  } finally {
    await h.close();
  }
});

test('nonces: strictly increasing per signer, gaps allowed, a failed tx does not use its nonce', async () => {
  const h = await Harness.create();
  try {
    const a = patient('a');
    const b = patient('b');
    await h.ok(hospital, registerTx(a, 'city-hospital')); // nonce 1
    await h.fails(hospital, registerTx(b, 'city-hospital'), 'HEALTH_NONCE_REPLAYED', 1n);
    // checkTx knows the last committed nonce of recent signers.
    assert.is(
      h.app.checkTx(h.tx(hospital, registerTx(b, 'city-hospital'), 1n), false)?.code,
      'HEALTH_NONCE_REPLAYED',
    );
    // Stale, not invalid: gossip ignores it rather than scoring the relaying peer down.
    assert.is(h.app.checkTx(h.tx(hospital, registerTx(b, 'city-hospital'), 1n), true)?.action, 'ignore');
    // A gap is fine.
    const [r] = await h.block([h.tx(hospital, registerTx(b, 'city-hospital'), 10n)]);
    assert.is(r!.codespace, '');
    // Two txs with one nonce in one block: the second is a replay.
    const c = patient('c');
    const d = patient('d');
    const results = await h.block([
      h.tx(hospital, registerTx(c, 'city-hospital'), 11n),
      h.tx(hospital, registerTx(d, 'city-hospital'), 11n),
    ]);
    assert.equal(
      results.map((x) => x.codespace),
      ['', 'HEALTH_NONCE_REPLAYED'],
    );
    // A failed tx leaves its nonce unused: 12 fails (patient exists), then 12 succeeds.
    await h.fails(hospital, registerTx(c, 'city-hospital'), 'PATIENT_EXISTS', 12n);
    const [again] = await h.block([h.tx(hospital, registerTx(d, 'city-hospital'), 12n)]);
    assert.is(again!.codespace, '');
  } finally {
    await h.close();
  }
});

test('prepareProposal puts each signer’s txs in nonce order and drops undecodable ones', async () => {
  const h = await Harness.create();
  try {
    const t3 = h.tx(hospital, registerTx(patient('3'), 'city-hospital'), 3n);
    const other = h.tx(lab, registerTx(patient('o'), 'acme-lab'), 1n);
    const t1 = h.tx(hospital, registerTx(patient('1'), 'city-hospital'), 1n);
    const junk = signTx(CHAIN_ID, lab.secretKey, lab.publicKey, 2n, encode(['nope']));
    const t2 = h.tx(hospital, registerTx(patient('2'), 'city-hospital'), 2n);
    const out = h.app.prepareProposal([t3, other, t1, junk, t2]);
    assert.equal(
      out.map((t) => t.tx.nonce),
      [1n, 1n, 2n, 3n],
    );
    assert.is(out[1], other);
    const results = await h.block(out);
    assert.ok(results.every((r) => r.code === 0));
  } finally {
    await h.close();
  }
});

test('patient.register: enrolled by a member with the patient’s proof of possession', async () => {
  const h = await Harness.create();
  try {
    const p = patient('alice');
    const id = await h.ok(hospital, registerTx(p, 'city-hospital'));
    assert.is(id, p.id);
    assert.match(id, /^p[0-9a-f]{32}$/);
    const stored = (await h.patientOf(p.id))!;
    assert.is(stored.enrolledBy, 'city-hospital');
    assert.equal(stored.pubKey, p.key.publicKey);
    const events = h.lastResult!.txResults[0]!.events;
    assert.is(events[0]!.type, 'health.patient.registered');
    assert.ok(events[0]!.attributes.some((a) => a.key === 'patient' && a.value === p.id));

    const bob = patient('bob');
    // Only an active member enrols; the patient's own key cannot.
    await h.fails(bob.key, registerTx(bob, 'city-hospital'), 'HEALTH_UNAUTHORIZED');
    await h.fails(keyOf('stranger'), registerTx(bob, 'city-hospital'), 'HEALTH_UNAUTHORIZED');
    // The proof must be the patient's, for this member.
    await h.fails(lab, registerTx(bob, 'city-hospital'), 'PATIENT_PROOF_INVALID');
    const forged: HealthTx = {
      type: 'patient.register',
      patientKey: bob.key.publicKey,
      proof: signMessage(
        keyOf('mallory').secretKey,
        registerProofBytes(CHAIN_ID, 'city-hospital', bob.key.publicKey),
      ),
    };
    await h.fails(hospital, forged, 'PATIENT_PROOF_INVALID');
    await h.fails(hospital, registerTx(p, 'city-hospital'), 'PATIENT_EXISTS');
    // A member's key cannot become a patient's.
    const asPatient = { key: lab, id: '' };
    await h.fails(hospital, registerTx(asPatient, 'city-hospital'), 'HEALTH_KEY_IN_USE');
  } finally {
    await h.close();
  }
});

test('patient.rotate-key: signed by the old key; the id stays, the old key stops working', async () => {
  const h = await Harness.create();
  try {
    const p = patient('carol');
    await h.ok(hospital, registerTx(p, 'city-hospital'));
    const next = keyOf('carol-2');
    await h.fails(hospital, rotateTx(p, next), 'HEALTH_UNAUTHORIZED');
    await h.fails(
      p.key,
      {
        ...(rotateTx(p, next) as Extract<HealthTx, { type: 'patient.rotate-key' }>),
        proof: new Uint8Array(64),
      },
      'PATIENT_PROOF_INVALID',
    );
    await h.fails(p.key, rotateTx(p, hospital), 'HEALTH_KEY_IN_USE');
    await h.ok(p.key, rotateTx(p, next));
    const stored = (await h.patientOf(p.id))!;
    assert.equal(stored.pubKey, next.publicKey);
    assert.is(stored.keyRotations, 1);
    await h.ok(lab, anchorTx(p, 'carol-1'));
    await h.fails(p.key, grantTx(p, 'city-hospital'), 'HEALTH_UNAUTHORIZED');
    await h.ok(next, grantTx(p, 'city-hospital'));
    // A retired key can never be registered again.
    await h.fails(hospital, registerTx(p, 'city-hospital'), 'PATIENT_EXISTS');
    await h.fails(next, rotateTx({ key: next, id: p.id }, p.key), 'HEALTH_KEY_IN_USE');
  } finally {
    await h.close();
  }
});

test('delegates: act within the powers, purposes, duration and expiry the patient sets', async () => {
  const h = await Harness.create();
  try {
    const child = patient('minor');
    const parent = keyOf('guardian');
    await h.ok(hospital, registerTx(child, 'city-hospital'));
    const setGuardian = (over: object = {}): HealthTx => ({
      type: 'delegate.set',
      patient: child.id,
      delegate: {
        pubKey: parent.publicKey,
        role: 'guardian',
        powers: ['approve', 'grant'],
        purposes: ['TREAT'],
        expiresAt: h.time + 30n * DAY,
        maxConsentMs: 7n * DAY,
        ...over,
      },
    });
    await h.fails(parent, setGuardian(), 'HEALTH_UNAUTHORIZED');
    await h.fails(child.key, setGuardian({ pubKey: child.key.publicKey }), 'DELEGATE_INVALID');
    await h.fails(child.key, setGuardian({ expiresAt: h.time }), 'DELEGATE_INVALID');
    await h.ok(child.key, setGuardian());
    assert.is((await h.patientOf(child.id))!.delegates.length, 1);

    // Within limits: a 3-day TREAT consent.
    await h.ok(parent, grantTx(child, 'north-clinic', { end: h.time + 3n * DAY }));
    // Outside them: no end, too long, another purpose, a power it lacks, or setting delegates.
    await h.fails(parent, grantTx(child, 'north-clinic'), 'DELEGATE_CONSENT_TOO_LONG');
    await h.fails(
      parent,
      grantTx(child, 'north-clinic', { end: h.time + 8n * DAY }),
      'DELEGATE_CONSENT_TOO_LONG',
    );
    await h.fails(
      parent,
      grantTx(child, 'north-clinic', { end: h.time + DAY, purposes: ['HRESCH'] }),
      'DELEGATE_POWER_DENIED',
    );
    const consentId = await h.ok(child.key, grantTx(child, 'city-hospital'));
    await h.fails(parent, { type: 'consent.revoke', consent: consentId }, 'DELEGATE_POWER_DENIED');
    await h.fails(
      parent,
      {
        type: 'delegate.set',
        patient: child.id,
        delegate: {
          pubKey: keyOf('x').publicKey,
          role: 'proxy',
          powers: ['grant'],
          purposes: [],
          expiresAt: null,
          maxConsentMs: null,
        },
      },
      'HEALTH_UNAUTHORIZED',
    );
    // A stranger's key is not a delegate.
    await h.fails(
      keyOf('stranger'),
      grantTx(child, 'north-clinic', { end: h.time + DAY }),
      'HEALTH_UNAUTHORIZED',
    );
    // After its expiry the delegate can do nothing.
    await h.block([], 31n * DAY);
    await h.fails(parent, grantTx(child, 'north-clinic', { end: h.time + DAY }), 'DELEGATE_POWER_DENIED');

    // At most 8 delegates.
    for (let i = 0; i < 7; i++)
      await h.ok(child.key, setGuardian({ pubKey: keyOf(`proxy-${i}`).publicKey, role: 'proxy' }));
    await h.fails(child.key, setGuardian({ pubKey: keyOf('proxy-8').publicKey }), 'DELEGATE_LIMIT');
    // Replacing one is not adding one.
    await h.ok(child.key, setGuardian({ pubKey: keyOf('proxy-0').publicKey, powers: ['deny'] }));
    // A delegate steps down; the patient removes another; unknown keys are refused.
    await h.ok(keyOf('proxy-0'), {
      type: 'delegate.remove',
      patient: child.id,
      delegateKey: keyOf('proxy-0').publicKey,
    });
    await h.ok(child.key, { type: 'delegate.remove', patient: child.id, delegateKey: parent.publicKey });
    await h.fails(
      child.key,
      { type: 'delegate.remove', patient: child.id, delegateKey: parent.publicKey },
      'DELEGATE_NOT_FOUND',
    );
    await h.fails(
      hospital,
      { type: 'delegate.remove', patient: child.id, delegateKey: keyOf('proxy-1').publicKey },
      'HEALTH_UNAUTHORIZED',
    );
    assert.is((await h.patientOf(child.id))!.delegates.length, 6);
  } finally {
    await h.close();
  }
});

test.run();
