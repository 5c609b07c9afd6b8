/**
 * The FHIR facade's pure parts, without state: each mapping from the health model (edge cases the
 * journey in facade.test.ts does not reach), the search parameter readers (date ranges and
 * prefixes, references, tokens, unknown parameters), the searchset links, and the error table.
 * Every resource built here is validated against HL7's R4 schema, and the validator itself is
 * shown to refuse invalid resources (so a passing validation means something).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { disclosureAuditEvent } from '../../../../node/fhir/audit-event.ts';
import { claimResponseResource } from '../../../../node/fhir/claim.ts';
import { consentResource, consentStatus } from '../../../../node/fhir/consent.ts';
import { documentReferenceResource, documentStatus } from '../../../../node/fhir/document-reference.ts';
import type { ReadContext } from '../../../../node/fhir/fhir-json.ts';
import { FHIR_ERRORS, outcomeOf } from '../../../../node/fhir/outcome.ts';
import {
  dateTest,
  parseSearch,
  referenceId,
  searchsetBundle,
  tokenCodes,
} from '../../../../node/fhir/search.ts';
import { CareLedgerError } from '../../../../packages/core/errors.ts';
import type { AccessEvent, Claim, Consent, RecordAnchor } from '../../../../packages/health/model.ts';
import { provision } from '../../../../packages/health/provision.ts';
import { assertValidFhir, fhirErrors } from './fixtures.ts';

// biome-ignore lint/suspicious/noExplicitAny: the assertions walk FHIR JSON by path
type Json = Record<string, any>;

const T = 1_767_225_600_000n; // 2026-01-01T00:00:00Z
const ctx: ReadContext = { height: 42n, time: T, chainId: null, recordsFetchUrl: 'http://n/records/fetch' };
const P = `p${'a'.repeat(32)}`;
const R = `r${'b'.repeat(32)}`;

function throwsCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, CareLedgerError);
    assert.is((err as CareLedgerError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('the validator refuses invalid resources, also inside a Bundle', () => {
  assert.ok(fhirErrors({ resourceType: 'Consent', id: 'c1', status: 'active' }).length > 0, 'missing scope');
  assert.ok(fhirErrors({ resourceType: 'Patient', id: 'x', nickname: 'y' }).length > 0, 'unknown element');
  assert.ok(
    fhirErrors({
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [{ resource: { resourceType: 'Patient', active: 'yes' } }],
    }).length > 0,
    'invalid entry',
  );
});

const consent = (over: Partial<Consent>): Consent => ({
  id: `c${'1'.repeat(32)}`,
  patient: P,
  grantee: 'north-clinic',
  provision: provision({
    type: 'permit',
    actions: ['read'],
    purposes: ['TREAT'],
    categories: ['Observation'],
  }),
  grantedBy: new Uint8Array(32),
  createdAt: 5n,
  createdTime: T - 1000n,
  request: null,
  revokedAt: null,
  revokedBy: null,
  ...over,
});

test('Consent: expiry at exactly the end is inactive (the end is exclusive); revocation wins', () => {
  const ends = (end: bigint) => consent({ provision: { ...consent({}).provision, end } });
  assert.is(consentStatus(ends(T + 1n), T), 'active');
  assert.is(consentStatus(ends(T), T), 'inactive');
  assert.is(consentStatus(consent({ revokedAt: 9n }), T), 'inactive');
});

test('Consent: an end beyond year 9999 (the chain allows any u64) is written as the last FHIR instant', () => {
  const far = consentResource(
    consent({ provision: { ...consent({}).provision, end: 2n ** 63n } }),
    ctx,
  ) as Json;
  assertValidFhir(far);
  assert.is(far.provision.period.end, '9999-12-31T23:59:59.999Z');
  assert.is(far.status, 'active');
});

test('Consent: a deny for every member has no actor; records become data; a 3-deep tree maps', () => {
  const rule = provision({
    type: 'deny',
    records: [R],
    purposes: ['HMARKT'],
    provisions: [
      provision({
        type: 'permit',
        categories: ['Procedure'],
        provisions: [provision({ type: 'deny', actions: ['disclose'] })],
      }),
    ],
  });
  const c = consentResource(consent({ grantee: '*', provision: rule }), ctx) as Json;
  assertValidFhir(c);
  assert.is(c.provision.actor, undefined);
  assert.equal(c.policyRule.coding[0].code, 'OPTOUT');
  assert.equal(c.provision.data, [
    { meaning: 'instance', reference: { reference: `DocumentReference/${R}` } },
  ]);
  assert.is(c.provision.provision[0].provision[0].action[0].coding[0].code, 'disclose');
  assert.equal(c.meta.tag[0].code, '42');
});

const record = (over: Partial<RecordAnchor>): RecordAnchor => ({
  id: R,
  patient: P,
  custodian: 'acme-lab',
  category: 'DiagnosticReport.LAB',
  ciphertextHash: new Uint8Array(32).fill(7),
  commitment: new Uint8Array(32),
  size: 10n,
  supersedes: null,
  supersededBy: null,
  anchoredAt: 3n,
  anchoredTime: T,
  erasure: null,
  ...over,
});

test('DocumentReference: status after erasure and superseding; a size beyond unsignedInt is left out', () => {
  const erased = (reason: 'ENTERED_IN_ERROR' | 'LEGAL_ORDER' | 'RETENTION_EXPIRED') =>
    record({ erasure: { height: 9n, time: T, reason } });
  assert.is(documentStatus(record({})), 'current');
  assert.is(documentStatus(record({ supersededBy: `r${'c'.repeat(32)}` })), 'superseded');
  assert.is(documentStatus(erased('ENTERED_IN_ERROR')), 'entered-in-error');
  assert.is(documentStatus(erased('LEGAL_ORDER')), 'superseded');
  assert.is(documentStatus(erased('RETENTION_EXPIRED')), 'superseded');
  const big = documentReferenceResource(record({ size: 2n ** 31n }), ctx) as Json;
  assertValidFhir(big);
  assert.is(big.content[0].attachment.size, undefined);
  assert.is(big.type.coding[0].code, 'DiagnosticReport');
  const fits = documentReferenceResource(record({ size: 2n ** 31n - 1n }), ctx) as Json;
  assert.is(fits.content[0].attachment.size, 2 ** 31 - 1);
});

test('AuditEvent: a patient receiving their own copy is the recipient agent; the release id is an entity', () => {
  const event: AccessEvent = {
    id: `a${'d'.repeat(32)}`,
    patient: P,
    custodian: 'acme-lab',
    recipient: P,
    purpose: 'PATRQT',
    action: 'read',
    items: [{ record: R, consent: null }],
    breakGlass: null,
    release: new Uint8Array(32).fill(0xab),
    height: 7n,
    time: T,
  };
  const a = disclosureAuditEvent(event, ctx) as Json;
  assertValidFhir(a);
  assert.equal(a.agent[1].who, { reference: `Patient/${P}` });
  assert.ok((a.entity as Json[]).some((e) => e.what.identifier?.value === 'ab'.repeat(32)));
  assert.is((a.entity as Json[]).filter((e) => e.what.reference?.startsWith('Consent/')).length, 0);
});

test('ClaimResponse: approved pays as billed without a reason; denied pays nothing', () => {
  const claim: Claim = {
    id: `k${'e'.repeat(32)}`,
    patient: P,
    provider: 'city-hospital',
    payer: 'good-insurance',
    lines: [{ code: '99213', date: T, amount: 10_001n, records: [R] }],
    supersedes: null,
    supersededBy: null,
    status: 'approved',
    history: [],
  };
  const approved = claimResponseResource(
    claim,
    { status: 'approved', height: 8n, time: T, amounts: [], reason: null },
    ctx,
  ) as Json;
  assertValidFhir(approved);
  assert.is(approved.outcome, 'complete');
  assert.equal(approved.item[0].adjudication[1].amount, { value: 100.01, currency: 'USD' });
  assert.is(approved.item[0].adjudication[1].reason, undefined);
  const denied = claimResponseResource(
    claim,
    { status: 'denied', height: 8n, time: T, amounts: [], reason: 'PR-204' },
    ctx,
  ) as Json;
  assertValidFhir(denied);
  assert.equal(denied.total[0].amount.value, 0);
  assert.equal(denied.item[0].adjudication[1].reason.coding[0], {
    system: 'https://x12.org/codes/claim-adjustment-reason-codes',
    code: '204',
    display: 'PR-204',
  });
});

test('date parameters: precision makes a range, prefixes compare with it as FHIR says', () => {
  const ms = (iso: string) => BigInt(Date.parse(iso));
  const cases: [string, string, boolean][] = [
    ['2026-03', '2026-03-31T23:59:59.999Z', true],
    ['2026-03', '2026-04-01T00:00:00.000Z', false],
    ['ge2026-03', '2026-03-01T00:00:00.000Z', true],
    ['gt2026-03', '2026-03-31T23:59:59.999Z', false],
    ['gt2026-03', '2026-04-01T00:00:00.000Z', true],
    ['lt2026-03-02', '2026-03-01T23:59:59.999Z', true],
    ['lt2026-03-02', '2026-03-02T00:00:00.000Z', false],
    ['le2026-03-02', '2026-03-02T23:59:59.999Z', true],
    ['le2026', '2027-01-01T00:00:00.000Z', false],
    ['eq2026-03-02T10:00:00+02:00', '2026-03-02T08:00:00.500Z', true],
    ['ge2026-03-02T10:00Z', '2026-03-02T09:59:59.999Z', false],
    ['2026-03-02T10:00:00.250Z', '2026-03-02T10:00:00.250Z', true],
    ['2026-03-02T10:00:00.250Z', '2026-03-02T10:00:00.251Z', false],
    ['2024-02-29', '2024-02-29T12:00:00.000Z', true],
  ];
  for (const [value, at, expected] of cases)
    assert.is(dateTest('date', value)(ms(at)), expected, `${value} at ${at}`);
  for (const bad of [
    '2026-02-29',
    '2026-1-01',
    'sa2026',
    '2026-03-02T10:00',
    '2026-03-02T24:00Z',
    '26',
    'ge',
  ])
    throwsCode(() => dateTest('date', bad), 'FHIR_PARAM_INVALID');
});

test('reference, token and unknown parameters', () => {
  const isP = (id: string) => id === P;
  assert.is(referenceId('patient', P, 'Patient', isP), P);
  assert.is(referenceId('patient', `Patient/${P}`, 'Patient', isP), P);
  assert.is(referenceId('patient', `https://node.example/fhir/Patient/${P}`, 'Patient', isP), P);
  throwsCode(() => referenceId('patient', `Group/${P}`, 'Patient', isP), 'FHIR_PARAM_INVALID');
  throwsCode(() => referenceId('patient', `x/Patient/${P}`, 'Patient', isP), 'FHIR_PARAM_INVALID');
  assert.equal(tokenCodes('status', 'active,proposed', ['active', 'proposed']), ['active', 'proposed']);
  throwsCode(() => tokenCodes('status', 'active,', ['active']), 'FHIR_PARAM_INVALID');
  const specs = [{ name: 'patient', type: 'reference' as const, documentation: '', required: true }];
  const q = parseSearch(new URLSearchParams(`patient=${P}&_count=0&_offset=7&_format=json`), specs);
  assert.equal([q.count, q.offset, q.values.get('patient')], [0, 7, [P]]);
  throwsCode(
    () => parseSearch(new URLSearchParams(`patient=${P}&_summary=count`), specs),
    'FHIR_PARAM_UNKNOWN',
  );
  throwsCode(() => parseSearch(new URLSearchParams(`patient=${P}&_count=1.5`), specs), 'FHIR_PARAM_INVALID');
  throwsCode(() => parseSearch(new URLSearchParams('_count=5'), specs), 'FHIR_PARAM_INVALID');
});

test('searchset links: next only while matches remain, previous from the second page', () => {
  const linksAt = (offset: number, count: number, total: number) => {
    const bundle = searchsetBundle({
      base: 'http://n/fhir',
      requestUrl: new URL(`http://n/fhir/Consent?patient=${P}`),
      query: { values: new Map(), count, offset },
      total,
      page: [],
      meta: {},
    }) as Json;
    assertValidFhir(bundle);
    return Object.fromEntries(
      (bundle.link as Json[]).map((l) => [l.relation, new URL(l.url).searchParams.get('_offset')]),
    );
  };
  assert.equal(linksAt(0, 10, 10), { self: '0' });
  assert.equal(linksAt(0, 10, 11), { self: '0', next: '10' });
  assert.equal(linksAt(10, 10, 11), { self: '10', previous: '0' });
  assert.equal(linksAt(3, 10, 30), { self: '3', next: '13', previous: '0' });
  assert.equal(linksAt(0, 0, 30), { self: '0' });
});

test('errors: each code has its status; an unexpected error is a 500 that tells nothing of its cause', () => {
  for (const [code, { status }] of Object.entries(FHIR_ERRORS)) {
    const { status: got, outcome } = outcomeOf(new CareLedgerError(code, 'why'));
    assert.is(got, status, code);
    assertValidFhir(outcome);
  }
  const hidden = outcomeOf(new Error('/home/secret'));
  assert.is(hidden.status, 500);
  assert.not.match(JSON.stringify(hidden.outcome), /secret/);
  assert.is(outcomeOf(new CareLedgerError('STATE_CORRUPT', 'x')).status, 500);
});

test.run();
