/**
 * HealthApp: record anchors (amendment, erasure), consents (grant, revoke effective from the next
 * block, nested deny exceptions, limits) and access requests (approve, deny, expiry), with every
 * rejection path and its code, and the lists a patient reads back with proofs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { provision } from '../../../../packages/health/provision.ts';
import type { HealthTx } from '../../../../packages/health/tx.ts';
import {
  accessTx,
  anchorTx,
  DAY,
  grantTx,
  Harness,
  HOUR,
  MEMBERS,
  member,
  patient,
  recordId,
  registerTx,
} from './fixtures.ts';

const hospital = member('city-hospital');
const clinic = member('north-clinic');
const lab = member('acme-lab');
const insurer = member('good-insurance');

async function withPatients(fn: (h: Harness) => Promise<void>, members = MEMBERS): Promise<void> {
  const h = await Harness.create(members);
  try {
    await h.block([
      h.tx(hospital, registerTx(patient('alice'), 'city-hospital')),
      h.tx(hospital, registerTx(patient('bob'), 'city-hospital')),
    ]);
    await fn(h);
  } finally {
    await h.close();
  }
}

const alice = patient('alice');
const bob = patient('bob');

test('record.anchor: a provider or lab anchors; amendments chain; the patient lists them', () =>
  withPatients(async (h) => {
    const r1 = await h.ok(lab, anchorTx(alice, 'cbc'));
    assert.is(r1, recordId('acme-lab', alice, 'cbc'));
    const rec = await h.recordOf(r1);
    assert.is(rec.custodian, 'acme-lab');
    assert.is(rec.category, 'Observation.laboratory');
    assert.is(rec.erasure, null);
    await h.fails(insurer, anchorTx(alice, 'x'), 'HEALTH_ROLE_REQUIRED');
    await h.fails(alice.key, anchorTx(alice, 'x'), 'HEALTH_UNAUTHORIZED');
    await h.fails(lab, anchorTx(patient('nobody'), 'x'), 'PATIENT_NOT_FOUND');
    await h.fails(lab, anchorTx(alice, 'cbc'), 'RECORD_EXISTS');
    // Amendment: a new record that supersedes the old; the old one is kept and points to it.
    const r2 = await h.ok(lab, anchorTx(alice, 'cbc-corrected', 'Observation.laboratory', r1));
    assert.is((await h.recordOf(r1)).supersededBy, r2);
    assert.is((await h.recordOf(r2)).supersedes, r1);
    await h.fails(lab, anchorTx(alice, 'cbc-v3', 'Observation.laboratory', r1), 'RECORD_ALREADY_SUPERSEDED');
    await h.fails(hospital, anchorTx(alice, 'h', 'Observation.laboratory', r2), 'RECORD_NOT_CUSTODIAN');
    await h.fails(lab, anchorTx(bob, 'b', 'Observation.laboratory', r2), 'RECORD_PATIENT_MISMATCH');
    await h.fails(
      lab,
      anchorTx(alice, 'z', 'Observation.laboratory', `r${'0'.repeat(32)}`),
      'RECORD_NOT_FOUND',
    );
    assert.equal(await h.list('/health/records', alice.id), [r1, r2]);
    assert.equal(await h.list('/health/records', bob.id), []);
  }));

test('record.erase: only the custodian marks erasure, once; an erased record is kept but unusable', () =>
  withPatients(async (h) => {
    const r = await h.ok(lab, anchorTx(alice, 'mri'));
    await h.fails(
      hospital,
      { type: 'record.erase', record: r, reason: 'PATIENT_REQUEST' },
      'RECORD_NOT_CUSTODIAN',
    );
    await h.fails(
      lab,
      { type: 'record.erase', record: `r${'0'.repeat(32)}`, reason: 'PATIENT_REQUEST' },
      'RECORD_NOT_FOUND',
    );
    await h.ok(lab, { type: 'record.erase', record: r, reason: 'PATIENT_REQUEST' });
    const rec = await h.recordOf(r);
    assert.is(rec.erasure?.reason, 'PATIENT_REQUEST');
    assert.is(rec.erasure?.height, h.height);
    assert.is(h.lastResult!.txResults[0]!.events[0]!.type, 'health.record.erased');
    await h.fails(lab, { type: 'record.erase', record: r, reason: 'PATIENT_REQUEST' }, 'RECORD_ERASED');
    await h.fails(lab, anchorTx(alice, 'mri-2', 'Observation.laboratory', r), 'RECORD_ERASED');
    await h.ok(alice.key, grantTx(alice, 'city-hospital'));
    await h.fails(lab, accessTx(alice, 'city-hospital', [r]), 'RECORD_ERASED');
  }));

test('consent.grant: by the patient, to an active member, with an explicit scope', () =>
  withPatients(async (h) => {
    const r = await h.ok(lab, anchorTx(alice, 'a1'));
    const rb = await h.ok(lab, anchorTx(bob, 'b1'));
    const c = await h.ok(alice.key, grantTx(alice, 'city-hospital', { end: h.time + DAY }));
    const consent = await h.consentOf(c);
    assert.is(consent.grantee, 'city-hospital');
    assert.equal(consent.grantedBy, alice.key.publicKey);
    assert.equal(await h.list('/health/consents', alice.id), [c]);
    await h.ok(lab, accessTx(alice, 'city-hospital', [r]));

    await h.fails(hospital, grantTx(alice, 'city-hospital'), 'HEALTH_UNAUTHORIZED');
    await h.fails(bob.key, grantTx(alice, 'city-hospital'), 'HEALTH_UNAUTHORIZED');
    await h.fails(alice.key, grantTx(alice, 'no-such-member'), 'CONSENT_GRANTEE_INVALID');
    await h.fails(alice.key, grantTx(alice, '*'), 'CONSENT_GRANTEE_INVALID');
    await h.fails(alice.key, grantTx(alice, 'city-hospital', { purposes: [] }), 'CONSENT_SCOPE_INVALID');
    await h.fails(alice.key, grantTx(alice, 'city-hospital', { categories: [] }), 'CONSENT_SCOPE_INVALID');
    await h.fails(alice.key, grantTx(alice, 'city-hospital', { end: h.time }), 'CONSENT_PERIOD_INVALID');
    await h.fails(alice.key, grantTx(alice, 'city-hospital', { records: [rb] }), 'RECORD_PATIENT_MISMATCH');
    await h.fails(
      alice.key,
      grantTx(alice, 'city-hospital', { records: [`r${'9'.repeat(32)}`] }),
      'RECORD_NOT_FOUND',
    );
    // A deny for every member is allowed.
    await h.ok(alice.key, {
      type: 'consent.grant',
      patient: alice.id,
      grantee: '*',
      provision: provision({ type: 'deny', purposes: ['HMARKT'] }),
    });
  }));

test('consent limits: at most 32 live consents per grantee; revoked and ended ones make room', () =>
  withPatients(async (h) => {
    const grants = Array.from({ length: 32 }, (_, i) =>
      h.tx(alice.key, grantTx(alice, 'north-clinic', { end: h.time + 10_000n + BigInt(i) })),
    );
    const results = await h.block(grants);
    assert.ok(results.every((r) => r.code === 0));
    await h.fails(alice.key, grantTx(alice, 'north-clinic'), 'CONSENT_LIMIT');
    // Another grantee has its own list.
    await h.ok(alice.key, grantTx(alice, 'city-hospital'));
    // Once they have ended, they are dropped and new ones fit.
    await h.block([], 20_000n);
    await h.ok(alice.key, grantTx(alice, 'north-clinic'));
    const grants2 = (await h.app.idList(`h/grants/${alice.id}/north-clinic`)).length;
    assert.is(grants2, 1);
  }));

test('consent.revoke: effective from the next block; a revoked consent never permits again', () =>
  withPatients(async (h) => {
    const r = await h.ok(lab, anchorTx(alice, 'a1'));
    const c = await h.ok(alice.key, grantTx(alice, 'city-hospital'));
    // Revocation and an access in the same block: the access still stands (effective next block).
    const both = await h.block([
      h.tx(alice.key, { type: 'consent.revoke', consent: c }),
      h.tx(lab, accessTx(alice, 'city-hospital', [r])),
    ]);
    assert.equal(
      both.map((x) => x.codespace),
      ['', ''],
    );
    assert.is((await h.consentOf(c)).revokedAt, h.height);
    await h.fails(lab, accessTx(alice, 'city-hospital', [r]), 'ACCESS_CONSENT_REVOKED');
    await h.fails(alice.key, { type: 'consent.revoke', consent: c }, 'CONSENT_ALREADY_REVOKED');
    await h.fails(bob.key, { type: 'consent.revoke', consent: c }, 'HEALTH_UNAUTHORIZED');
    await h.fails(alice.key, { type: 'consent.revoke', consent: `c${'0'.repeat(32)}` }, 'CONSENT_NOT_FOUND');
  }));

test('access requests: a member asks, the patient approves (a consent results) or denies', () =>
  withPatients(async (h) => {
    const r = await h.ok(lab, anchorTx(alice, 'a1'));
    const ask = (over: Partial<Extract<HealthTx, { type: 'request.create' }>> = {}): HealthTx => ({
      type: 'request.create',
      patient: alice.id,
      categories: ['Observation'],
      records: [],
      purposes: ['TREAT'],
      actions: ['read'],
      reason: 'NEW_PATIENT',
      periodEnd: h.time + 90n * DAY,
      expiresAt: h.time + DAY,
      ...over,
    });
    const q = await h.ok(clinic, ask());
    assert.equal(await h.pending(alice.id), [q]);
    assert.is((await h.requestOf(q)).status, 'pending');
    // The clinic cannot disclose-receive yet.
    await h.fails(lab, accessTx(alice, 'north-clinic', [r]), 'ACCESS_NO_CONSENT');
    // Only the patient (or a delegate with the power) answers.
    await h.fails(
      clinic,
      { type: 'request.approve', request: q, periodEnd: null, exceptions: [] },
      'HEALTH_UNAUTHORIZED',
    );
    const c = await h.ok(alice.key, { type: 'request.approve', request: q, periodEnd: null, exceptions: [] });
    const consent = await h.consentOf(c);
    assert.is(consent.grantee, 'north-clinic');
    assert.is(consent.request, q);
    assert.is(consent.provision.end, (await h.requestOf(q)).periodEnd);
    const req = await h.requestOf(q);
    assert.is(req.status, 'approved');
    assert.is(req.consent, c);
    assert.equal(await h.pending(alice.id), []);
    await h.ok(lab, accessTx(alice, 'north-clinic', [r]));
    await h.fails(
      alice.key,
      { type: 'request.approve', request: q, periodEnd: null, exceptions: [] },
      'REQUEST_CLOSED',
    );

    // Deny.
    const q2 = await h.ok(insurer, ask({ purposes: ['HPAYMT'] }));
    await h.ok(alice.key, { type: 'request.deny', request: q2 });
    assert.is((await h.requestOf(q2)).status, 'denied');
    await h.fails(alice.key, { type: 'request.deny', request: q2 }, 'REQUEST_CLOSED');
    await h.fails(alice.key, { type: 'request.deny', request: `q${'0'.repeat(32)}` }, 'REQUEST_NOT_FOUND');

    // An approval may narrow with deny exceptions, never widen with permits.
    const q3 = await h.ok(hospital, ask());
    const widen = provision({ type: 'permit', purposes: ['HMARKT'] });
    await h.fails(
      alice.key,
      { type: 'request.approve', request: q3, periodEnd: null, exceptions: [widen] },
      'CONSENT_SCOPE_INVALID',
    );
    const noLab = provision({ type: 'deny', categories: ['Observation.laboratory'] });
    await h.ok(alice.key, {
      type: 'request.approve',
      request: q3,
      periodEnd: h.time + DAY,
      exceptions: [noLab],
    });
    await h.fails(lab, accessTx(alice, 'city-hospital', [r]), 'ACCESS_DENY_PROVISION');
    // Exceptions each within the limits alone but not under the approval's top permit (3 deep
    // there makes 4) are refused: stored, such a consent could never be read back.
    const q4 = await h.ok(clinic, ask({ purposes: ['HPAYMT'] }));
    const lab3 = { categories: ['Observation.laboratory' as const] };
    const deep = provision({
      type: 'deny',
      ...lab3,
      provisions: [provision({ type: 'deny', ...lab3, provisions: [provision({ type: 'deny', ...lab3 })] })],
    });
    await h.fails(
      alice.key,
      { type: 'request.approve', request: q4, periodEnd: null, exceptions: [deep] },
      'HEALTH_LIMIT',
    );
    await h.ok(alice.key, { type: 'request.deny', request: q4 });
    await h.ok(lab, accessTx(alice, 'north-clinic', [r]));

    // Bad requests.
    await h.fails(clinic, ask({ expiresAt: h.time }), 'REQUEST_EXPIRY_INVALID');
    await h.fails(clinic, ask({ expiresAt: h.time + 31n * DAY }), 'REQUEST_EXPIRY_INVALID');
    await h.fails(clinic, ask({ purposes: [] }), 'CONSENT_SCOPE_INVALID');
    await h.fails(clinic, ask({ categories: [] }), 'CONSENT_SCOPE_INVALID');
    await h.fails(clinic, ask({ periodEnd: h.time }), 'CONSENT_PERIOD_INVALID');
    await h.fails(alice.key, ask(), 'HEALTH_UNAUTHORIZED');
    assert.is((await h.list('/health/requests', alice.id)).length, 4);
  }));

test('access requests expire: approval after expiry is refused and the request closes itself', () =>
  withPatients(async (h) => {
    const q = await h.ok(clinic, {
      type: 'request.create',
      patient: alice.id,
      categories: ['Condition'],
      records: [],
      purposes: ['TREAT'],
      actions: ['read'],
      reason: 'REFERRAL',
      periodEnd: null,
      expiresAt: h.time + HOUR,
    });
    await h.block([], HOUR - 500n);
    // Expired by time, though the minute it expires in has not passed yet.
    await h.fails(
      alice.key,
      { type: 'request.approve', request: q, periodEnd: null, exceptions: [] },
      'REQUEST_EXPIRED',
    );
    assert.is((await h.requestOf(q)).status, 'pending');
    await h.block([], 2n * 60_000n);
    assert.is((await h.requestOf(q)).status, 'expired');
    assert.equal(await h.pending(alice.id), []);
    const events = h.lastResult!.events;
    assert.ok(events.some((e) => e.type === 'health.request.expired'));
    await h.fails(
      alice.key,
      { type: 'request.approve', request: q, periodEnd: null, exceptions: [] },
      'REQUEST_CLOSED',
    );
  }));

/** With seven more clinics: nine providers, of whom eight can fill a patient's 32 pending requests. */
const ASKERS = [
  ...MEMBERS,
  ...['east', 'west', 'south', 'mid', 'far', 'old', 'new'].map((w) => ({
    id: `${w}-clinic`,
    roles: ['provider' as const],
  })),
];
const PROVIDERS = ASKERS.filter((m) => m.roles.includes('provider')).map((m) => m.id);

test('access requests: at most 4 pending per member and 32 per patient', () =>
  withPatients(async (h) => {
    const ask = (who: string, i: number) =>
      h.tx(member(who), {
        type: 'request.create',
        patient: bob.id,
        categories: ['Condition'],
        records: [],
        purposes: ['TREAT'],
        actions: ['read'],
        reason: 'REFERRAL',
        periodEnd: null,
        expiresAt: h.time + DAY + BigInt(i),
      });
    // One member: four, then refused, and the others are not shut out.
    const own = await h.block([0, 1, 2, 3, 4].map((i) => ask('north-clinic', i)));
    assert.equal(
      own.map((r) => r.codespace),
      ['', '', '', '', 'REQUEST_LIMIT'],
    );
    assert.match(own[4]!.log, /a member has at most 4 pending requests to one patient/);
    // With seven more members at four each the patient has 32; the ninth member is refused.
    const others = PROVIDERS.filter((id) => id !== 'north-clinic');
    assert.is(others.length, 8);
    const rest = await h.block(others.flatMap((id, j) => [0, 1, 2, 3].map((i) => ask(id, 10 + 4 * j + i))));
    assert.is(rest.filter((r) => r.code === 0).length, 28);
    for (const r of rest.slice(28)) assert.match(r.log, /a patient has at most 32 pending requests/);
    assert.is((await h.pending(bob.id)).length, 32);
  }, ASKERS));

test.run();
