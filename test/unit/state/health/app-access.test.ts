/**
 * HealthApp: access events (the disclosure audit trail, accepted only when the policy engine
 * permits at that height), break-glass access, and claims (consent to read for HPAYMT, duplicate
 * detection, adjudication by the named payer only), with every rejection path and its code.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Canonical, encode } from '../../../../packages/codec/canonical.ts';
import {
  accessEventFromFields,
  breakGlassFromFields,
  type ClaimLine,
  decodeCount,
} from '../../../../packages/health/model.ts';
import { provision } from '../../../../packages/health/provision.ts';
import { idQueryData } from '../../../../packages/health/query.ts';
import type { HealthTx } from '../../../../packages/health/tx.ts';
import {
  accessTx,
  anchorTx,
  DAY,
  GENESIS_TIME,
  grantTx,
  Harness,
  HOUR,
  MEMBERS,
  member,
  patient,
  registerTx,
} from './fixtures.ts';

const hospital = member('city-hospital');
const clinic = member('north-clinic');
const lab = member('acme-lab');
const insurer = member('good-insurance');
const research = member('uni-research');

const alice = patient('alice');
const bob = patient('bob');

/** Alice and Bob registered; a lab result and a hospital procedure note anchored for each. */
async function scenario(fn: (h: Harness, r: { aLab: string; aProc: string; bLab: string }) => Promise<void>) {
  const h = await Harness.create();
  try {
    await h.block([
      h.tx(hospital, registerTx(alice, 'city-hospital')),
      h.tx(hospital, registerTx(bob, 'city-hospital')),
    ]);
    const aLab = await h.ok(lab, anchorTx(alice, 'a-lab'));
    const aProc = await h.ok(hospital, anchorTx(alice, 'a-proc', 'Procedure'));
    const bLab = await h.ok(lab, anchorTx(bob, 'b-lab'));
    await fn(h, { aLab, aProc, bLab });
  } finally {
    await h.close();
  }
}

test('access.record: accepted under consent, recorded in the patient’s disclosures with the consent', () =>
  scenario(async (h, { aLab }) => {
    await h.fails(lab, accessTx(alice, 'city-hospital', [aLab]), 'ACCESS_NO_CONSENT');
    const c = await h.ok(alice.key, grantTx(alice, 'city-hospital'));
    const a = await h.ok(lab, accessTx(alice, 'city-hospital', [aLab]));
    const events = h.lastResult!.txResults[0]!.events;
    assert.is(events[0]!.type, 'health.access.recorded');
    const attrs = Object.fromEntries(events[0]!.attributes.map((x) => [x.key, x.value]));
    assert.equal(attrs, {
      patient: alice.id,
      custodian: 'acme-lab',
      recipient: 'city-hospital',
      purpose: 'TREAT',
      access: a,
      record: aLab,
      consent: c,
      break_glass: 'false',
    });
    const disclosures = (await h.list('/health/disclosures', alice.id)).map((e) => accessEventFromFields(e));
    assert.is(disclosures.length, 1);
    assert.equal(disclosures[0]!.items, [{ record: aLab, consent: c }]);
    assert.is(disclosures[0]!.recipient, 'city-hospital');
    assert.is(disclosures[0]!.breakGlass, null);
    assert.is(disclosures[0]!.time, h.time);
  }));

test('access.record: every way a disclosure is refused', () =>
  scenario(async (h, { aLab, aProc, bLab }) => {
    await h.ok(alice.key, grantTx(alice, 'city-hospital', { end: h.time + 60_000n }));
    // Wrong purpose or action: no consent covers it.
    await h.fails(lab, accessTx(alice, 'city-hospital', [aLab], 'HRESCH'), 'ACCESS_NO_CONSENT');
    await h.fails(
      lab,
      {
        ...(accessTx(alice, 'city-hospital', [aLab]) as Extract<HealthTx, { type: 'access.record' }>),
        action: 'disclose',
      },
      'ACCESS_NO_CONSENT',
    );
    // Not the custodian, another patient's record, self-disclosure, unknown recipient.
    await h.fails(hospital, accessTx(alice, 'north-clinic', [aLab]), 'RECORD_NOT_CUSTODIAN');
    await h.fails(lab, accessTx(alice, 'city-hospital', [bLab]), 'RECORD_PATIENT_MISMATCH');
    await h.fails(hospital, accessTx(alice, 'city-hospital', [aProc]), 'ACCESS_RECIPIENT_INVALID');
    await h.fails(lab, accessTx(alice, 'nobody-here', [aLab]), 'ACCESS_RECIPIENT_INVALID');
    await h.fails(lab, accessTx(alice, 'city-hospital', [`r${'0'.repeat(32)}`]), 'RECORD_NOT_FOUND');
    await h.fails(insurer, accessTx(alice, 'city-hospital', [aLab]), 'RECORD_NOT_CUSTODIAN');
    // A member recording a disclosure of another custodian's record to itself is told who may
    // record it (the custodian), not that it is the wrong recipient.
    await h.fails(hospital, accessTx(alice, 'city-hospital', [aLab]), 'RECORD_NOT_CUSTODIAN');
    assert.match(
      h.lastResult!.txResults[0]!.log,
      "held by acme-lab: only the record's custodian records its disclosures",
    );
    await h.fails(lab, accessTx(alice, 'acme-lab', [aLab]), 'ACCESS_RECIPIENT_INVALID');
    assert.match(h.lastResult!.txResults[0]!.log, 'a custodian does not disclose to itself');
    await h.fails(alice.key, accessTx(alice, 'city-hospital', [aLab]), 'HEALTH_UNAUTHORIZED');
    // A deny exception in another consent overrides the permit.
    const deny = await h.ok(alice.key, {
      type: 'consent.grant',
      patient: alice.id,
      grantee: '*',
      provision: provision({ type: 'deny', categories: ['Observation.laboratory'], end: h.time + 3000n }),
    });
    const refused = await h.fails(lab, accessTx(alice, 'city-hospital', [aLab]), 'ACCESS_DENY_PROVISION');
    assert.match(refused.log, /DENY_PROVISION/);
    await h.block([], 5000n);
    await h.ok(lab, accessTx(alice, 'city-hospital', [aLab]));
    // The permit expires: out of its period.
    await h.block([], 60_000n);
    await h.fails(lab, accessTx(alice, 'city-hospital', [aLab]), 'ACCESS_CONSENT_NOT_IN_PERIOD');
    assert.ok(deny.startsWith('c'));
  }));

test('break-glass: a provider declares; the custodian discloses under it, flagged; it ends with its window', () =>
  scenario(async (h, { aLab }) => {
    await h.fails(
      lab,
      { type: 'breakglass.declare', patient: alice.id, reason: 'PATIENT_UNCONSCIOUS' },
      'HEALTH_ROLE_REQUIRED',
    );
    await h.fails(
      clinic,
      { type: 'breakglass.declare', patient: patient('ghost').id, reason: 'PATIENT_UNCONSCIOUS' },
      'PATIENT_NOT_FOUND',
    );
    // Without a declaration there is no break-glass.
    await h.fails(lab, accessTx(alice, 'north-clinic', [aLab], 'ETREAT', true), 'BREAK_GLASS_INACTIVE');
    const bg = await h.ok(clinic, {
      type: 'breakglass.declare',
      patient: alice.id,
      reason: 'PATIENT_UNCONSCIOUS',
    });
    const declared = h.lastResult!.txResults[0]!.events[0]!;
    assert.is(declared.type, 'health.breakglass.declared');
    assert.ok(declared.attributes.some((a) => a.key === 'flagged' && a.value === 'true'));
    await h.fails(lab, accessTx(alice, 'north-clinic', [aLab], 'TREAT', true), 'ACCESS_PURPOSE_INVALID');
    const a = await h.ok(lab, accessTx(alice, 'north-clinic', [aLab], 'ETREAT', true));
    const [event] = (await h.list('/health/disclosures', alice.id)).map((e) => accessEventFromFields(e));
    assert.is(event!.id, a);
    assert.is(event!.breakGlass, bg);
    assert.equal(event!.items, [{ record: aLab, consent: null }]);
    // Visible to the patient, counted per member.
    const [entry] = (await h.list('/health/breakglass', alice.id)).map((e) => breakGlassFromFields(e));
    assert.is(entry!.member, 'north-clinic');
    assert.is(entry!.until - entry!.from, 4n * HOUR);
    assert.is(decodeCount((await h.proven('/health/breakglass/count', idQueryData('north-clinic')))!), 1);
    // Only the declaring provider is covered, and only within the window.
    await h.fails(lab, accessTx(alice, 'city-hospital', [aLab], 'ETREAT', true), 'BREAK_GLASS_INACTIVE');
    await h.block([], 4n * HOUR);
    await h.fails(lab, accessTx(alice, 'north-clinic', [aLab], 'ETREAT', true), 'BREAK_GLASS_INACTIVE');
  }));

function line(code: string, day: bigint, amount: bigint, records: string[]): ClaimLine {
  return { code, date: GENESIS_TIME - day * DAY, amount, records: records.sort() };
}

function claimTx(
  lines: ClaimLine[],
  payer = 'good-insurance',
  who = alice,
  supersedes: string | null = null,
): HealthTx {
  return { type: 'claim.submit', patient: who.id, payer, lines, supersedes };
}

const payForLabs = (h: Harness) =>
  h.ok(
    alice.key,
    grantTx(alice, 'good-insurance', { purposes: ['HPAYMT'], categories: ['Observation', 'Procedure'] }),
  );

test('claims: a consented claim is accepted and adjudicated by the named payer only', () =>
  scenario(async (h, { aLab, aProc }) => {
    await payForLabs(h);
    const k = await h.ok(
      hospital,
      claimTx([line('99213', 1n, 12_500n, [aProc]), line('80053', 1n, 4_200n, [aLab])]),
    );
    let claim = await h.claimOf(k);
    assert.is(claim.status, 'submitted');
    assert.is(claim.provider, 'city-hospital');
    assert.equal(await h.list('/health/claims', alice.id), [k]);
    const memberClaims = await h.proven('/health/list', encode(['member-claims', 'good-insurance', 0]));
    assert.ok(memberClaims !== null);

    await h.fails(
      clinic,
      { type: 'claim.adjudicate', claim: k, outcome: 'approved', amounts: [], reason: null },
      'CLAIM_WRONG_PAYER',
    );
    await h.fails(
      insurer,
      {
        type: 'claim.adjudicate',
        claim: `k${'0'.repeat(32)}`,
        outcome: 'approved',
        amounts: [],
        reason: null,
      },
      'CLAIM_NOT_FOUND',
    );
    await h.fails(
      insurer,
      { type: 'claim.adjudicate', claim: k, outcome: 'partial', amounts: [12_500n, 4_200n], reason: 'CO-45' },
      'CLAIM_AMOUNTS_INVALID',
    );
    await h.fails(
      insurer,
      { type: 'claim.adjudicate', claim: k, outcome: 'partial', amounts: [12_600n, 0n], reason: 'CO-45' },
      'CLAIM_AMOUNTS_INVALID',
    );
    await h.fails(
      insurer,
      { type: 'claim.adjudicate', claim: k, outcome: 'partial', amounts: [10_000n], reason: 'CO-45' },
      'CLAIM_AMOUNTS_INVALID',
    );
    await h.ok(insurer, {
      type: 'claim.adjudicate',
      claim: k,
      outcome: 'partial',
      amounts: [10_000n, 4_200n],
      reason: 'CO-45',
    });
    claim = await h.claimOf(k);
    assert.is(claim.status, 'partial');
    assert.equal(
      claim.history.map((s) => [s.status, s.amounts, s.reason]),
      [
        ['submitted', [], null],
        ['partial', [10_000n, 4_200n], 'CO-45'],
      ],
    );
    await h.fails(
      insurer,
      { type: 'claim.adjudicate', claim: k, outcome: 'approved', amounts: [], reason: null },
      'CLAIM_ALREADY_ADJUDICATED',
    );
  }));

test('claims: consent, records, payer and dates are checked; duplicates are refused', () =>
  scenario(async (h, { aLab, aProc, bLab }) => {
    // No consent for the payer to read for payment.
    await h.fails(hospital, claimTx([line('99213', 1n, 100n, [aProc])]), 'CLAIM_CONSENT_MISSING');
    // A consent for treatment is not a consent for payment.
    await h.ok(alice.key, grantTx(alice, 'good-insurance', { categories: ['Procedure'] }));
    await h.fails(hospital, claimTx([line('99213', 1n, 100n, [aProc])]), 'CLAIM_CONSENT_MISSING');
    const c = await payForLabs(h);
    await h.fails(hospital, claimTx([line('99213', 1n, 100n, [bLab])]), 'RECORD_PATIENT_MISMATCH');
    await h.fails(hospital, claimTx([line('99213', 1n, 100n, [`r${'0'.repeat(32)}`])]), 'RECORD_NOT_FOUND');
    await h.fails(hospital, claimTx([line('99213', 1n, 100n, [aProc])], 'acme-lab'), 'CLAIM_PAYER_INVALID');
    await h.fails(
      hospital,
      claimTx([line('99213', 1n, 100n, [aProc])], 'no-such-payer'),
      'CLAIM_PAYER_INVALID',
    );
    await h.fails(lab, claimTx([line('80053', 1n, 100n, [aLab])]), 'HEALTH_ROLE_REQUIRED');
    await h.fails(research, claimTx([line('80053', 1n, 100n, [aLab])]), 'HEALTH_ROLE_REQUIRED');
    await h.fails(
      hospital,
      claimTx([{ ...line('99213', 1n, 100n, [aProc]), date: GENESIS_TIME - DAY + 1n }]),
      'CLAIM_DATE_INVALID',
    );
    await h.fails(hospital, claimTx([line('99213', -2n, 100n, [aProc])]), 'CLAIM_DATE_INVALID');
    await h.fails(
      hospital,
      claimTx([line('99213', 1n, 100n, [aProc]), line('99213', 1n, 200n, [aLab])]),
      'CLAIM_DUPLICATE',
    );

    const k = await h.ok(hospital, claimTx([line('99213', 1n, 100n, [aProc])]));
    // The same patient, provider, service and day again: a duplicate, even in another claim.
    await h.fails(
      hospital,
      claimTx([line('80053', 2n, 50n, [aLab]), line('99213', 1n, 100n, [aProc])]),
      'CLAIM_DUPLICATE',
    );
    // Another provider billing the same service on the same day to the same payer is a duplicate
    // too (the cross-institution case), and the refusal names the claim that holds it.
    await h.fails(clinic, claimTx([line('99213', 1n, 100n, [aProc])]), 'CLAIM_DUPLICATE');
    assert.match(h.lastResult!.txResults[0]!.log, k);
    // Another day is not.
    await h.ok(hospital, claimTx([line('99213', 2n, 100n, [aProc])]));
    // A denied claim's lines may be billed again, corrected, by any provider.
    await h.ok(insurer, {
      type: 'claim.adjudicate',
      claim: k,
      outcome: 'denied',
      amounts: [],
      reason: 'CO-16',
    });
    assert.is((await h.claimOf(k)).status, 'denied');
    await h.ok(clinic, claimTx([line('99213', 1n, 90n, [aProc])]));
    // Erased records and revoked consent stop claims.
    await h.ok(lab, { type: 'record.erase', record: aLab, reason: 'ENTERED_IN_ERROR' });
    await h.fails(hospital, claimTx([line('80053', 3n, 50n, [aLab])]), 'RECORD_ERASED');
    await h.ok(alice.key, { type: 'consent.revoke', consent: c });
    await h.fails(hospital, claimTx([line('99214', 3n, 50n, [aProc])]), 'CLAIM_CONSENT_MISSING');
    const all = await h.list('/health/claims', alice.id);
    assert.is(all.length, 3);
    assert.ok(all.every((id: Canonical) => typeof id === 'string'));
  }));

test('claims: the same service and day billed to another payer is not a duplicate', async () => {
  const h = await Harness.create([...MEMBERS, { id: 'other-insurance', roles: ['payer'] }]);
  try {
    await h.ok(hospital, registerTx(alice, 'city-hospital'));
    const r = await h.ok(hospital, anchorTx(alice, 'proc', 'Procedure'));
    for (const payer of ['good-insurance', 'other-insurance'])
      await h.ok(alice.key, grantTx(alice, payer, { purposes: ['HPAYMT'], categories: ['Procedure'] }));
    await h.ok(hospital, claimTx([line('99213', 1n, 100n, [r])]));
    await h.ok(clinic, claimTx([line('99213', 1n, 100n, [r])], 'other-insurance'));
    await h.fails(clinic, claimTx([line('99213', 1n, 100n, [r])]), 'CLAIM_DUPLICATE');
  } finally {
    await h.close();
  }
});

const adjudicate = (claim: string, outcome: 'approved' | 'denied'): HealthTx => ({
  type: 'claim.adjudicate',
  claim,
  outcome,
  amounts: [],
  reason: outcome === 'denied' ? 'CO-16' : null,
});

test('claims: an amendment supersedes the provider’s unadjudicated claim and may bill its lines again', () =>
  scenario(async (h, { aLab, aProc }) => {
    await payForLabs(h);
    const k1 = await h.ok(
      hospital,
      claimTx([line('99213', 1n, 100n, [aProc]), line('80053', 1n, 50n, [aLab])]),
    );
    // Without supersedes the corrected claim is a duplicate of the first.
    await h.fails(hospital, claimTx([line('99213', 1n, 120n, [aProc])]), 'CLAIM_DUPLICATE');
    const k2 = await h.ok(hospital, claimTx([line('99213', 1n, 120n, [aProc])], 'good-insurance', alice, k1));
    const first = await h.claimOf(k1);
    assert.is(first.status, 'superseded');
    assert.is(first.supersededBy, k2);
    assert.equal(
      first.history.map((s) => s.status),
      ['submitted', 'superseded'],
    );
    const second = await h.claimOf(k2);
    assert.is(second.status, 'submitted');
    assert.is(second.supersedes, k1);
    assert.is(second.supersededBy, null);
    const submitted = h.lastResult!.txResults[0]!.events[0]!;
    assert.ok(submitted.attributes.some((a) => a.key === 'supersedes' && a.value === k1));
    // The superseded claim's line the amendment dropped (80053) is free again; its other is now k2's.
    await h.ok(hospital, claimTx([line('80053', 1n, 50n, [aLab])]));
    await h.fails(hospital, claimTx([line('99213', 1n, 100n, [aProc])]), 'CLAIM_DUPLICATE');
    assert.match(h.lastResult!.txResults[0]!.log, k2);
    // The payer cannot adjudicate the superseded claim, and it cannot be superseded twice.
    await h.fails(insurer, adjudicate(k1, 'approved'), 'CLAIM_SUPERSEDED');
    await h.fails(
      hospital,
      claimTx([line('99213', 1n, 130n, [aProc])], 'good-insurance', alice, k1),
      'CLAIM_SUPERSEDED',
    );
    // Both stay in the patient's list: the amendment does not hide the claim it replaced.
    const listedClaims = await h.list('/health/claims', alice.id);
    assert.equal(listedClaims.slice(0, 2), [k1, k2]);
    assert.is(listedClaims.length, 3);
  }));

test('claims: only the same provider amends, for the same patient and payer, before adjudication', () =>
  scenario(async (h, { aProc }) => {
    await payForLabs(h);
    const k = await h.ok(hospital, claimTx([line('99213', 1n, 100n, [aProc])]));
    const amend = (who = alice, payer = 'good-insurance') =>
      claimTx([line('99213', 1n, 110n, [aProc])], payer, who, k);
    // Another provider cannot replace the hospital's claim (and so cannot free its lines).
    await h.fails(clinic, amend(), 'CLAIM_SUPERSEDE_INVALID');
    assert.is((await h.claimOf(k)).status, 'submitted');
    // Nor can it be moved to another payer by an amendment.
    await h.fails(hospital, amend(alice, 'acme-lab'), 'CLAIM_PAYER_INVALID');
    await h.fails(
      hospital,
      claimTx([line('99213', 1n, 100n, [aProc])], 'good-insurance', alice, `k${'0'.repeat(32)}`),
      'CLAIM_NOT_FOUND',
    );
    // Once adjudicated, it is the payer's decision: no amendment.
    await h.ok(insurer, adjudicate(k, 'approved'));
    await h.fails(hospital, amend(), 'CLAIM_ALREADY_ADJUDICATED');
    assert.is((await h.claimOf(k)).status, 'approved');
  }));

test('claims: an amendment for another patient is refused', async () => {
  const h = await Harness.create([...MEMBERS, { id: 'other-insurance', roles: ['payer'] }]);
  try {
    await h.block([
      h.tx(hospital, registerTx(alice, 'city-hospital')),
      h.tx(hospital, registerTx(bob, 'city-hospital')),
    ]);
    const a = await h.ok(hospital, anchorTx(alice, 'a', 'Procedure'));
    const b = await h.ok(hospital, anchorTx(bob, 'b', 'Procedure'));
    for (const [who, payer] of [
      [alice, 'good-insurance'],
      [bob, 'good-insurance'],
      [alice, 'other-insurance'],
    ] as const)
      await h.ok(who.key, grantTx(who, payer, { purposes: ['HPAYMT'], categories: ['Procedure'] }));
    const k = await h.ok(hospital, claimTx([line('99213', 1n, 100n, [a])]));
    await h.fails(
      hospital,
      claimTx([line('99213', 1n, 100n, [b])], 'good-insurance', bob, k),
      'CLAIM_SUPERSEDE_INVALID',
    );
    await h.fails(
      hospital,
      claimTx([line('99213', 1n, 100n, [a])], 'other-insurance', alice, k),
      'CLAIM_SUPERSEDE_INVALID',
    );
    assert.is((await h.claimOf(k)).status, 'submitted');
  } finally {
    await h.close();
  }
});

test('claims: a member that is both provider and payer cannot pay its own claim', async () => {
  const h = await Harness.create([...MEMBERS, { id: 'mega-health', roles: ['payer', 'provider'] }]);
  try {
    const mega = member('mega-health');
    await h.ok(mega, registerTx(alice, 'mega-health'));
    const r = await h.ok(mega, anchorTx(alice, 'own'));
    await h.ok(alice.key, grantTx(alice, 'mega-health', { purposes: ['HPAYMT'] }));
    await h.fails(mega, claimTx([line('99213', 1n, 100n, [r])], 'mega-health'), 'CLAIM_PAYER_INVALID');
  } finally {
    await h.close();
  }
});

test.run();
