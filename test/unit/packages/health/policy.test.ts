/**
 * The policy engine (packages/health/policy.ts): unit tests of each rule, and fast-check
 * properties: deny overrides permit; expired or revoked consents never permit; adding a deny
 * exception never turns a deny into a permit; a permit requires purpose, action and scope to all
 * match; the answer does not depend on the order of the consents.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { categoryCovers } from '../../../../packages/health/codes.ts';
import {
  type AccessQuery,
  decide,
  decideForRecord,
  isActive,
  type PolicyConsent,
} from '../../../../packages/health/policy.ts';
import { type Provision, provision } from '../../../../packages/health/provision.ts';

const P = `p${'1'.repeat(32)}`;
const OTHER = `p${'2'.repeat(32)}`;
const R1 = `r${'a'.repeat(32)}`;
const R2 = `r${'b'.repeat(32)}`;
const R3 = `r${'c'.repeat(32)}`;
const cid = (n: number) => `c${n.toString(16).padStart(32, '0')}`;

const query: AccessQuery = {
  patient: P,
  grantee: 'city-hospital',
  action: 'read',
  record: { id: R1, category: 'Observation.laboratory' },
  purpose: 'TREAT',
  time: 1000n,
  height: 10n,
};

function consent(n: number, rule: Provision, over: Partial<PolicyConsent> = {}): PolicyConsent {
  return { id: cid(n), patient: P, grantee: 'city-hospital', provision: rule, revokedAt: null, ...over };
}

const permitLab = provision({
  type: 'permit',
  actions: ['read'],
  purposes: ['TREAT'],
  categories: ['Observation'],
});

test('permit when action, purpose and scope match, naming the consent', () => {
  assert.equal(decide([consent(1, permitLab)], query), { permit: true, consentId: cid(1), reason: 'PERMIT' });
});

test('no permit when the purpose, action or scope differs', () => {
  const c = [consent(1, permitLab)];
  assert.is(decide(c, { ...query, purpose: 'HPAYMT' }).reason, 'NO_CONSENT');
  assert.is(decide(c, { ...query, action: 'disclose' }).reason, 'NO_CONSENT');
  assert.is(decide(c, { ...query, record: { id: R1, category: 'Condition' } }).reason, 'NO_CONSENT');
  assert.is(decide(c, { ...query, grantee: 'north-clinic' }).reason, 'NO_CONSENT');
  assert.is(decide(c, { ...query, patient: OTHER }).reason, 'NO_CONSENT');
  assert.is(decide([], query).reason, 'NO_CONSENT');
});

test('scope: a category covers its sub-classes, a record id covers that record', () => {
  assert.ok(categoryCovers('Observation', 'Observation.laboratory'));
  assert.ok(categoryCovers('Observation', 'Observation'));
  assert.not.ok(categoryCovers('Observation.laboratory', 'Observation'));
  assert.not.ok(categoryCovers('Observation', 'ObservationX'));
  const byId = provision({ type: 'permit', actions: ['read'], purposes: ['TREAT'], records: [R1] });
  assert.ok(decide([consent(1, byId)], query).permit);
  assert.not.ok(
    decide([consent(1, byId)], { ...query, record: { id: R2, category: 'Observation.laboratory' } }).permit,
  );
});

test('a top permit with an empty list grants nothing', () => {
  for (const rule of [
    provision({ type: 'permit', actions: [], purposes: ['TREAT'], categories: ['Observation'] }),
    provision({ type: 'permit', actions: ['read'], purposes: [], categories: ['Observation'] }),
    provision({ type: 'permit', actions: ['read'], purposes: ['TREAT'] }),
  ]) {
    assert.not.ok(decide([consent(1, rule)], query).permit);
  }
});

test('a nested deny exception overrides its permit; a permit nested in it re-allows', () => {
  const denyLab = provision({ type: 'deny', categories: ['Observation.laboratory'] });
  const withDeny = { ...permitLab, provisions: [denyLab] };
  assert.equal(decide([consent(1, withDeny)], query), {
    permit: false,
    consentId: cid(1),
    reason: 'DENY_PROVISION',
  });
  // The exception does not touch what it does not match.
  assert.ok(
    decide([consent(1, withDeny)], { ...query, record: { id: R2, category: 'Observation.vital-signs' } })
      .permit,
  );
  // An exception to the exception: R1 is allowed again, other lab results stay denied.
  const reallow = {
    ...withDeny,
    provisions: [{ ...denyLab, provisions: [provision({ type: 'permit', records: [R1] })] }],
  };
  assert.ok(decide([consent(1, reallow)], query).permit);
  assert.not.ok(
    decide([consent(1, reallow)], { ...query, record: { id: R2, category: 'Observation.laboratory' } })
      .permit,
  );
  // A nested deny limited to a purpose or a period applies only there.
  const denyResearch = {
    ...permitLab,
    purposes: ['HRESCH', 'TREAT'] as const,
    provisions: [provision({ type: 'deny', purposes: ['HRESCH'] })],
  };
  assert.ok(decide([consent(1, { ...denyResearch, purposes: ['HRESCH', 'TREAT'] })], query).permit);
  assert.not.ok(
    decide([consent(1, { ...denyResearch, purposes: ['HRESCH', 'TREAT'] })], { ...query, purpose: 'HRESCH' })
      .permit,
  );
  const denyLater = { ...permitLab, provisions: [provision({ type: 'deny', start: 2000n })] };
  assert.ok(decide([consent(1, denyLater)], query).permit);
  assert.not.ok(decide([consent(1, denyLater)], { ...query, time: 2000n }).permit);
});

test('deny overrides permit across consents, including a deny for every member', () => {
  const deny = provision({ type: 'deny', categories: ['Observation'] });
  assert.equal(decide([consent(1, permitLab), consent(2, deny)], query), {
    permit: false,
    consentId: cid(2),
    reason: 'DENY_PROVISION',
  });
  assert.not.ok(decide([consent(1, permitLab), consent(2, deny, { grantee: '*' })], query).permit);
  // A permit for every member is not a thing: '*' only carries denies.
  assert.not.ok(decide([consent(1, permitLab, { grantee: '*' })], query).permit);
});

test('revocation takes effect from the block after the revoking one', () => {
  const c = [consent(1, permitLab, { revokedAt: 10n })];
  assert.ok(decide(c, { ...query, height: 10n }).permit);
  assert.equal(decide(c, { ...query, height: 11n }), {
    permit: false,
    consentId: cid(1),
    reason: 'CONSENT_REVOKED',
  });
  // A revoked deny denies nothing any more.
  const d = [consent(1, permitLab), consent(2, provision({ type: 'deny' }), { revokedAt: 5n })];
  assert.ok(decide(d, query).permit);
});

test('the period is [start, end) in block time', () => {
  const c = [consent(1, { ...permitLab, start: 500n, end: 1500n })];
  assert.ok(decide(c, { ...query, time: 500n }).permit);
  assert.ok(decide(c, { ...query, time: 1499n }).permit);
  assert.is(decide(c, { ...query, time: 1500n }).reason, 'CONSENT_NOT_IN_PERIOD');
  assert.is(decide(c, { ...query, time: 499n }).reason, 'CONSENT_NOT_IN_PERIOD');
  assert.ok(isActive(c[0]!, 1n, 500n));
  assert.not.ok(isActive(c[0]!, 1n, 1500n));
});

test('the permitting consent is the first by id, whatever the order given', () => {
  const c = [consent(3, permitLab), consent(1, permitLab), consent(2, permitLab)];
  assert.is(decide(c, query).consentId, cid(1));
});

test('decideForRecord: the record must exist, be the patient’s, and not be erased', () => {
  const c = [consent(1, permitLab)];
  const q = { ...query, recordId: R1 };
  const rec = { id: R1, patient: P, category: 'Observation.laboratory', erased: false };
  assert.ok(decideForRecord(c, rec, q).permit);
  assert.is(decideForRecord(c, null, q).reason, 'RECORD_NOT_FOUND');
  assert.is(decideForRecord(c, { ...rec, patient: OTHER }, q).reason, 'RECORD_PATIENT_MISMATCH');
  assert.is(decideForRecord(c, { ...rec, erased: true }, q).reason, 'RECORD_ERASED');
});

// --- properties ---

const ACTIONS = ['read', 'use', 'disclose'] as const;
const PURPOSES = ['TREAT', 'HPAYMT', 'HRESCH'] as const;
const CATEGORIES = ['Observation', 'Observation.laboratory', 'Condition', 'Procedure'] as const;
const RECORDS = [R1, R2, R3];
const GRANTEES = ['city-hospital', 'north-clinic', '*'];

const time = fc.bigInt({ min: 0n, max: 100n });
const period = fc.oneof(
  fc.constant([null, null] as const),
  fc
    .tuple(fc.option(time, { nil: null }), fc.option(time, { nil: null }))
    .filter(([s, e]) => s === null || e === null || s < e),
);
const subset = <T>(xs: readonly T[]) => fc.subarray([...xs]);

/** Provision trees at most 3 deep (as on chain), up to 2 nested provisions per level. */
function provisionAt(depth: number): fc.Arbitrary<Provision> {
  const nested =
    depth >= 3 ? fc.constant([] as Provision[]) : fc.array(provisionAt(depth + 1), { maxLength: 2 });
  return fc
    .record({
      type: fc.constantFrom<'permit' | 'deny'>('permit', 'deny'),
      period,
      actions: subset(ACTIONS),
      purposes: subset(PURPOSES),
      categories: subset(CATEGORIES),
      records: subset(RECORDS),
      provisions: nested,
    })
    .map((r) =>
      provision({
        type: r.type,
        start: r.period[0],
        end: r.period[1],
        actions: r.actions,
        purposes: r.purposes,
        categories: r.categories,
        records: r.records,
        provisions: r.provisions,
      }),
    );
}
const provisionArb = provisionAt(1);

const consentsArb = fc
  .array(
    fc.record({
      provision: provisionArb,
      grantee: fc.constantFrom(...GRANTEES),
      patient: fc.constantFrom(P, P, P, OTHER),
      revokedAt: fc.option(fc.bigInt({ min: 0n, max: 10n }), { nil: null }),
    }),
    { maxLength: 5 },
  )
  .map((list) => list.map((c, i): PolicyConsent => ({ id: cid(i + 1), ...c })));

const queryArb: fc.Arbitrary<AccessQuery> = fc.record({
  patient: fc.constant(P),
  grantee: fc.constantFrom('city-hospital', 'north-clinic'),
  action: fc.constantFrom(...ACTIONS),
  record: fc.record({ id: fc.constantFrom(...RECORDS), category: fc.constantFrom(...CATEGORIES) }),
  purpose: fc.constantFrom(...PURPOSES),
  time,
  height: fc.bigInt({ min: 0n, max: 10n }),
});

const RUNS = { seed: 5, numRuns: 200 };

test('property: deny overrides permit', () => {
  fc.assert(
    fc.property(
      consentsArb,
      queryArb,
      fc.constantFrom('city-hospital', 'north-clinic', '*'),
      (consents, q, who) => {
        // Any consent that on its own denies makes the whole answer a deny.
        for (const c of consents) {
          if (decide([c], q).reason === 'DENY_PROVISION') assert.not.ok(decide(consents, q).permit);
        }
        // And an applicable deny consent added to any set wins.
        const grantee = who === '*' ? '*' : q.grantee;
        const blanket: PolicyConsent = {
          id: cid(99),
          patient: P,
          grantee,
          provision: provision({ type: 'deny' }),
          revokedAt: null,
        };
        const d = decide([...consents, blanket], q);
        assert.not.ok(d.permit);
        assert.is(d.reason, 'DENY_PROVISION');
      },
    ),
    RUNS,
  );
});

test('property: expired or revoked consents never permit', () => {
  fc.assert(
    fc.property(consentsArb, queryArb, (consents, q) => {
      const d = decide(consents, q);
      if (d.permit) {
        const c = consents.find((x) => x.id === d.consentId)!;
        assert.ok(isActive(c, q.height, q.time), 'the permitting consent is active');
      }
      // Make every consent inactive, one way or the other: nothing permits.
      const inactive = consents.map((c, i) =>
        i % 2 === 0
          ? { ...c, revokedAt: q.height - 1n }
          : { ...c, provision: { ...c.provision, start: null, end: q.time } },
      );
      assert.not.ok(decide(inactive, q).permit);
    }),
    RUNS,
  );
});

/** Every node of a provision tree, as a path of child indexes. */
function paths(p: Provision, at: number[] = []): number[][] {
  return [at, ...p.provisions.flatMap((c, i) => paths(c, [...at, i]))];
}

function insertAt(p: Provision, path: readonly number[], extra: Provision): Provision {
  if (path.length === 0) return { ...p, provisions: [...p.provisions, extra] };
  const [head, ...rest] = path;
  return { ...p, provisions: p.provisions.map((c, i) => (i === head ? insertAt(c, rest, extra) : c)) };
}

// The exception added is a plain deny (no nested permits): a deny with a nested permit is a
// carve-out that re-allows what the permit names, by design (rule 4).
test('property: adding a deny exception never turns a deny into a permit', () => {
  const leafDeny = provisionArb.map((p) => ({ ...p, type: 'deny' as const, provisions: [] }));
  fc.assert(
    fc.property(consentsArb, queryArb, fc.nat(), fc.nat(), leafDeny, (consents, q, which, where, extra) => {
      if (consents.length === 0) return;
      const before = decide(consents, q);
      const i = which % consents.length;
      const target = consents[i]!;
      const spots = paths(target.provision);
      const spot = spots[where % spots.length]!;
      const changed = consents.map((c, j) =>
        j === i ? { ...c, provision: insertAt(c.provision, spot, extra) } : c,
      );
      const after = decide(changed, q);
      if (!before.permit) assert.not.ok(after.permit, 'a deny stays a deny');
      // Adding a whole deny consent is monotone too.
      const added = decide(
        [
          ...consents,
          {
            id: cid(50),
            patient: P,
            grantee: q.grantee,
            provision: { ...extra, type: 'deny' },
            revokedAt: null,
          },
        ],
        q,
      );
      if (!before.permit) assert.not.ok(added.permit);
    }),
    RUNS,
  );
});

test('property: a permit requires purpose, action and scope to all match', () => {
  fc.assert(
    fc.property(consentsArb, queryArb, (consents, q) => {
      const d = decide(consents, q);
      if (!d.permit) return;
      const c = consents.find((x) => x.id === d.consentId)!;
      const top = c.provision;
      assert.is(top.type, 'permit');
      assert.is(c.patient, q.patient);
      assert.is(c.grantee, q.grantee);
      assert.ok(top.purposes.includes(q.purpose));
      assert.ok(top.actions.includes(q.action));
      assert.ok(
        top.records.includes(q.record.id) || top.categories.some((x) => categoryCovers(x, q.record.category)),
      );
    }),
    RUNS,
  );
});

test('property: the decision does not depend on the order of the consents', () => {
  fc.assert(
    fc.property(consentsArb, queryArb, fc.nat(), (consents, q, seed) => {
      const shuffled = consents
        .map((c, i) => ({ c, k: (i * 7919 + seed) % 101 }))
        .sort((a, b) => a.k - b.k)
        .map((x) => x.c);
      assert.equal(decide(shuffled, q), decide(consents, q));
    }),
    RUNS,
  );
});

test.run();
