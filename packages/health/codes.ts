/**
 * The closed code lists of the health-data application and the format checks that keep free text
 * off the chain: every string a tx carries is an id, or a code from one of these lists, or matches
 * a short fixed format (a CPT/HCPCS service code, an X12 claim adjustment reason). Nothing here
 * can hold a name, a note or a diagnosis.
 *
 * Codes follow the standards where one exists: record categories are FHIR R4 resource types (with
 * a coarse sub-class after a dot, e.g. `Observation.laboratory`, that does not reveal a
 * diagnosis); purposes of use are HL7 v3 PurposeOfUse codes; actions are FHIR consentaction codes
 * (FHIR's `access` is our `read`).
 */
import { invalid } from '../core/errors.ts';

export const ROLES = ['lab', 'payer', 'provider', 'research'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Coarse record categories, sorted. A consent scope entry covers its own category and every
 * sub-class below it: `Observation` covers `Observation.laboratory`.
 */
export const CATEGORIES = [
  'AllergyIntolerance',
  'CarePlan',
  'Condition',
  'DiagnosticReport',
  'DiagnosticReport.LAB',
  'DiagnosticReport.RAD',
  'DocumentReference',
  'Encounter',
  'FamilyMemberHistory',
  'ImagingStudy',
  'Immunization',
  'MedicationDispense',
  'MedicationRequest',
  'MedicationStatement',
  'Observation',
  'Observation.imaging',
  'Observation.laboratory',
  'Observation.social-history',
  'Observation.vital-signs',
  'Procedure',
  'Specimen',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** HL7 v3 PurposeOfUse (a subset), sorted. */
export const PURPOSES = [
  'CAREMGT',
  'CLMATTCH',
  'COVERAGE',
  'ETREAT',
  'FAMRQT',
  'HLEGAL',
  'HMARKT',
  'HOPERAT',
  'HPAYMT',
  'HRESCH',
  'PATRQT',
  'PUBHLTH',
  'PWATRNY',
  'TREAT',
] as const;
export type Purpose = (typeof PURPOSES)[number];

/** FHIR consentaction codes, sorted (`read` is FHIR's `access`). */
export const ACTIONS = ['collect', 'correct', 'disclose', 'read', 'use'] as const;
export type Action = (typeof ACTIONS)[number];

/** Why a provider declares break-glass (emergency) access. */
export const BREAK_GLASS_REASONS = [
  'LIFE_THREATENING',
  'NO_PROXY_AVAILABLE',
  'OTHER_EMERGENCY',
  'PATIENT_INCAPACITATED',
  'PATIENT_UNCONSCIOUS',
] as const;
export type BreakGlassReason = (typeof BREAK_GLASS_REASONS)[number];

/** Why a custodian marks a record erased (its key destroyed off chain). */
export const ERASURE_REASONS = [
  'ENTERED_IN_ERROR',
  'LEGAL_ORDER',
  'PATIENT_REQUEST',
  'RETENTION_EXPIRED',
] as const;
export type ErasureReason = (typeof ERASURE_REASONS)[number];

/** Why a member asks a patient for access. */
export const REQUEST_REASONS = [
  'CARE_COORDINATION',
  'CLAIM_REVIEW',
  'CONTINUITY_OF_CARE',
  'NEW_PATIENT',
  'REFERRAL',
  'SECOND_OPINION',
  'STUDY_ENROLLMENT',
] as const;
export type RequestReason = (typeof REQUEST_REASONS)[number];

export const DELEGATE_ROLES = ['guardian', 'proxy'] as const;
export type DelegateRole = (typeof DELEGATE_ROLES)[number];

/** What a delegate may do for the patient: grant and revoke consents, approve and deny requests. */
export const DELEGATE_POWERS = ['approve', 'deny', 'grant', 'revoke'] as const;
export type DelegatePower = (typeof DELEGATE_POWERS)[number];

export const CLAIM_OUTCOMES = ['approved', 'denied', 'partial'] as const;
export type ClaimOutcome = (typeof CLAIM_OUTCOMES)[number];

/** A CPT (5 digits, or 4 digits and a letter) or HCPCS level II (a letter and 4 digits) code. */
export const SERVICE_CODE = /^(?:[0-9]{4}[0-9A-Z]|[A-V][0-9]{4})$/;
/** An X12 claim adjustment reason: group code, dash, reason code (e.g. `CO-45`, `PR-1`). */
export const ADJUSTMENT_REASON = /^(?:CO|CR|OA|PI|PR)-[A-Z0-9]{1,4}$/;

export const DAY_MS = 86_400_000n;

/** A chain time (unix ms) as ISO 8601, or as ms where a date cannot hold it (a u64 can be past year 275760). */
export function isoTime(ms: bigint): string {
  return ms <= 8_640_000_000_000_000n ? new Date(Number(ms)).toISOString() : `${ms} ms`;
}

const DURATION_PARTS: readonly (readonly [bigint, string])[] = [
  [DAY_MS, 'd'],
  [3_600_000n, 'h'],
  [60_000n, 'min'],
  [1000n, 's'],
  [1n, 'ms'],
];

/** A duration in ms for people: its two largest units, `90 d`, `1 d 12 h`, `30 min`, `0 ms`. */
export function humanDuration(ms: bigint): string {
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, name] of DURATION_PARTS) {
    if (rest >= unit && parts.length < 2) {
      parts.push(`${rest / unit} ${name}`);
      rest %= unit;
    } else if (parts.length > 0) break;
  }
  return parts.length === 0 ? '0 ms' : parts.join(' ');
}

/** One of `list`, or HEALTH_CODE_INVALID naming the field. */
export function oneOf<T extends string>(list: readonly T[], value: unknown, what: string): T {
  if (typeof value !== 'string' || !(list as readonly string[]).includes(value)) {
    throw invalid('HEALTH_CODE_INVALID', `${what}: ${short(value)} is not a known code`);
  }
  return value as T;
}

/** A string matching `format`, at most 16 characters, or HEALTH_CODE_INVALID. */
export function formatted(format: RegExp, value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length > 16 || !format.test(value)) {
    throw invalid('HEALTH_CODE_INVALID', `${what}: ${short(value)} is not a valid code`);
  }
  return value;
}

/** True if the scope entry `scope` covers the record category `category`. */
export function categoryCovers(scope: string, category: string): boolean {
  return category === scope || (category.startsWith(scope) && category.charAt(scope.length) === '.');
}

function short(value: unknown): string {
  const text = typeof value === 'string' ? value : typeof value;
  return JSON.stringify(text.length > 24 ? `${text.slice(0, 24)}…` : text);
}
