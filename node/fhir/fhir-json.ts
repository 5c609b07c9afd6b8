/**
 * The small vocabulary every FHIR mapping in this folder shares: the JSON value type, the code
 * systems and identifier systems the facade uses, and pure helpers for the FHIR datatypes it
 * emits (instant, date, Reference, Coding, Money, Meta). One place, so that two resources never
 * spell the same system two ways.
 *
 * What every resource carries: `meta.tag` with the block height it was read at (system
 * HEIGHT_TAG, code the height in decimal), so a client can prove the same leaf with the SDK at
 * that height; and `meta.source` naming the chain, when the node knows its chain id.
 */

/** A FHIR JSON object (a resource or a datatype). */
export type FhirJson = { [key: string]: unknown };

/** What every mapping needs besides the model object: where and when the state was read. */
export interface ReadContext {
  /** The block height whose committed state was read. */
  readonly height: bigint;
  /** That block's time (unix ms): a consent's expiry is judged against it. */
  readonly time: bigint;
  /** The chain id, for meta.source; null if unknown. */
  readonly chainId: string | null;
  /** The node's records API fetch URL (`…/records/fetch`), for DocumentReference content. */
  readonly recordsFetchUrl: string;
}

// --- systems (URNs: CareLedger owns no domain; HL7 and DICOM systems are the official ones) ---

export const SYSTEM = {
  heightTag: 'urn:careledger:block-height',
  patientId: 'urn:careledger:patient',
  memberId: 'urn:careledger:member',
  recordId: 'urn:careledger:record',
  consentId: 'urn:careledger:consent',
  requestId: 'urn:careledger:access-request',
  claimId: 'urn:careledger:claim',
  accessId: 'urn:careledger:access-event',
  breakGlassId: 'urn:careledger:break-glass',
  memberRole: 'urn:careledger:member-role',
  recordCategory: 'urn:careledger:record-category',
  breakGlassReason: 'urn:careledger:break-glass-reason',
  erasureReason: 'urn:careledger:erasure-reason',
  releaseId: 'urn:careledger:release',
  errorCode: 'urn:careledger:error-code',
  resourceTypes: 'http://hl7.org/fhir/resource-types',
  actReason: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  participationType: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  consentScope: 'http://terminology.hl7.org/CodeSystem/consentscope',
  consentAction: 'http://terminology.hl7.org/CodeSystem/consentaction',
  loinc: 'http://loinc.org',
  organizationType: 'http://terminology.hl7.org/CodeSystem/organization-type',
  dicom: 'http://dicom.nema.org/resources/ontology/DCM',
  iso21089: 'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle',
  auditEntityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
  objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
  securitySourceType: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  provenanceParticipant: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  dataOperation: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation',
  claimType: 'http://terminology.hl7.org/CodeSystem/claim-type',
  processPriority: 'http://terminology.hl7.org/CodeSystem/processpriority',
  claimInfoCategory: 'http://terminology.hl7.org/CodeSystem/claiminformationcategory',
  adjudication: 'http://terminology.hl7.org/CodeSystem/adjudication',
  carc: 'https://x12.org/codes/claim-adjustment-reason-codes',
  cpt: 'http://www.ama-assn.org/go/cpt',
  hcpcs: 'urn:oid:2.16.840.1.113883.6.285',
  ietfUri: 'urn:ietf:rfc:3986',
} as const;

/** The Extensions Pack extension for a hash other than Attachment.hash's SHA-1 (records-facts §5). */
export const ALTERNATE_HASH_URL = 'http://hl7.org/fhir/StructureDefinition/alternate-hash';
/** Where an erased record's erasure (height, time, reason) is carried on its DocumentReference. */
export const ERASURE_EXTENSION_URL = 'urn:careledger:fhir:extension:erasure';
/** The height at which the object was committed (a string: heights are 64-bit). */
export const COMMITTED_HEIGHT_URL = 'urn:careledger:fhir:extension:committed-height';

export const FHIR_VERSION = '4.0.1';
export const FHIR_JSON = 'application/fhir+json';

// --- datatypes ---

/** The last instant FHIR can write (its years have four digits). */
export const LAST_FHIR_MS = 253_402_300_799_999n; // 9999-12-31T23:59:59.999Z

/**
 * A FHIR instant (and dateTime) from unix ms: always with milliseconds and Z. The chain's times
 * are u64, so a consent may end after year 9999: such a time is written as the last instant
 * FHIR can express (in effect, no end).
 */
export function instant(ms: bigint): string {
  return new Date(Number(ms > LAST_FHIR_MS ? LAST_FHIR_MS : ms)).toISOString();
}

/** A FHIR date (YYYY-MM-DD, UTC) from unix ms. */
export function date(ms: bigint): string {
  return instant(ms).slice(0, 10);
}

export function reference(type: string, id: string): FhirJson {
  return { reference: `${type}/${id}` };
}

export function coding(system: string, code: string, display?: string): FhirJson {
  return display === undefined ? { system, code } : { system, code, display };
}

export function concept(system: string, code: string, display?: string): FhirJson {
  return { coding: [coding(system, code, display)] };
}

export function identifier(system: string, value: string): FhirJson {
  return { system, value };
}

/** Integer cents as FHIR Money in US dollars (exact: at most 2 decimals). */
export function money(cents: bigint): FhirJson {
  return { value: Number(cents) / 100, currency: 'USD' };
}

/** The extension recording the height at which an object was committed on chain. */
export function committedHeight(height: bigint): FhirJson {
  return { url: COMMITTED_HEIGHT_URL, valueString: height.toString() };
}

/** The meta every resource read from state carries (see the header). */
export function readMeta(ctx: ReadContext): FhirJson {
  const tag = {
    system: SYSTEM.heightTag,
    code: ctx.height.toString(),
    display: `read at block height ${ctx.height}`,
  };
  return ctx.chainId === null
    ? { tag: [tag] }
    : { source: `urn:careledger:chain:${ctx.chainId}`, tag: [tag] };
}
