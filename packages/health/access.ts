/**
 * The rules of an access event (a disclosure): who may receive which records for what purpose,
 * and what the audit entry says. One function serves both sides of a release, so they cannot
 * disagree: the chain runs it when it executes `access.record` (state/health/exec.ts), and a
 * custodian's node runs it on its latest committed state before it releases a record
 * (records.ts, `decideRelease`); a release the node allows is one the chain will record.
 *
 * Both sides read the state through `AccessReader` (the chain's TxContext implements it). Every
 * refusal throws a CareLedgerError with a code from errors.ts.
 */
import { CareLedgerError } from '../core/errors.ts';
import type { Purpose } from './codes.ts';
import { HEALTH_ERRORS, type HealthErrorCode, healthError } from './errors.ts';
import { ANY_MEMBER } from './ids.ts';
import type { BreakGlass, DisclosedRecord, Member, Patient, RecordAnchor } from './model.ts';
import { type DecisionReason, decideForRecord, type PolicyConsent } from './policy.ts';
import type { HealthTxOf } from './tx.ts';

/** The state an access decision reads. */
export interface AccessReader {
  member(id: string): Promise<Member | null>;
  patient(id: string): Promise<Patient | null>;
  record(id: string): Promise<RecordAnchor | null>;
  /** The consents of (patient, grantee) the policy engine reads (`h/grants/…`). */
  consentsFor(patient: string, grantee: string): Promise<readonly PolicyConsent[]>;
  /** The member's latest break-glass declaration for the patient. */
  breakGlass(patient: string, member: string): Promise<BreakGlass | null>;
  /** The access event that recorded this release, or null if none has. */
  release(releaseId: Uint8Array): Promise<string | null>;
}

/** The height and time at which the access is judged (the block's, or the next block's). */
export interface AccessAt {
  readonly height: bigint;
  readonly time: bigint;
}

/**
 * What a custodian discloses: the fields of `access.record` (its recipient a member, or the
 * patient itself receiving their own records) and who the custodian is.
 */
export type AccessClaim = Omit<HealthTxOf<'access.record'>, 'type'> & { readonly custodian: string };

/** What the audit entry records for an allowed access. */
export interface AccessOutcome {
  readonly items: readonly DisclosedRecord[];
  /** The break-glass declaration it is made under, or null. */
  readonly breakGlass: string | null;
}

/** The purpose of a patient's request for their own records (HL7 PATRQT: patient requested). */
export const SELF_ACCESS_PURPOSE: Purpose = 'PATRQT';

/** The consents the engine weighs for (patient, grantee): the grantee's and the denies to everyone. */
export async function policyConsents(
  reader: Pick<AccessReader, 'consentsFor'>,
  patient: string,
  grantee: string,
): Promise<PolicyConsent[]> {
  return [
    ...(await reader.consentsFor(patient, grantee)),
    ...(await reader.consentsFor(patient, ANY_MEMBER)),
  ];
}

const ACCESS_CODES: Record<Exclude<DecisionReason, 'PERMIT'>, HealthErrorCode> = {
  NO_CONSENT: 'ACCESS_NO_CONSENT',
  CONSENT_REVOKED: 'ACCESS_CONSENT_REVOKED',
  CONSENT_NOT_IN_PERIOD: 'ACCESS_CONSENT_NOT_IN_PERIOD',
  DENY_PROVISION: 'ACCESS_DENY_PROVISION',
  RECORD_NOT_FOUND: 'RECORD_NOT_FOUND',
  RECORD_PATIENT_MISMATCH: 'RECORD_PATIENT_MISMATCH',
  RECORD_ERASED: 'RECORD_ERASED',
};

/**
 * Checks an access and returns what its audit entry holds, or throws the refusal's code:
 * the patient exists; every record is the patient's, held by the custodian, not erased; the
 * recipient is another active member, or the patient itself (then the purpose is PATRQT and no
 * consent is needed: a patient's right of access); the release (if any) has not been recorded
 * before; and under break-glass (purpose ETREAT) the recipient's declaration is active, else the
 * policy engine permits the recipient each record.
 */
export async function checkAccess(
  reader: AccessReader,
  a: AccessClaim,
  at: AccessAt,
): Promise<AccessOutcome> {
  if ((await reader.patient(a.patient)) === null)
    throw healthError('PATIENT_NOT_FOUND', `patient ${a.patient} does not exist`);
  // Who may record comes first: a member recording another custodian's record is told that only
  // the custodian records its disclosures, whoever it names as the recipient.
  const records: RecordAnchor[] = [];
  for (const id of a.records) {
    const record = await reader.record(id);
    if (record === null) throw healthError('RECORD_NOT_FOUND', `record ${id} does not exist`);
    if (record.patient !== a.patient)
      throw healthError('RECORD_PATIENT_MISMATCH', `record ${id} belongs to another patient`);
    if (record.custodian !== a.custodian)
      throw healthError(
        'RECORD_NOT_CUSTODIAN',
        `record ${id} is held by ${record.custodian}: only the record's custodian records its disclosures`,
      );
    if (record.erasure !== null) throw healthError('RECORD_ERASED', `record ${id} is erased`);
    records.push(record);
  }
  const recipient = await reader.member(a.recipient);
  // A member whose id happened to equal the patient's would be judged as that member, never as
  // the patient: self-access needs the id to name no member at all.
  const self = a.recipient === a.patient && recipient === null;
  if (!self && (recipient === null || !recipient.active || recipient.id === a.custodian))
    throw healthError(
      'ACCESS_RECIPIENT_INVALID',
      recipient?.id === a.custodian
        ? 'a custodian does not disclose to itself: the recipient is another active member, or the patient'
        : `the recipient ${a.recipient} is not an active member (nor the patient)`,
    );
  if (a.release !== null) {
    const earlier = await reader.release(a.release);
    if (earlier !== null)
      throw healthError(
        'ACCESS_RELEASE_REPLAYED',
        `this release was already recorded by access event ${earlier}`,
      );
  }
  if (self) {
    if (a.breakGlass)
      throw healthError('ACCESS_PURPOSE_INVALID', "break-glass is a provider's emergency access");
    if (a.purpose !== SELF_ACCESS_PURPOSE)
      throw healthError(
        'ACCESS_PURPOSE_INVALID',
        `a patient receives their own records for ${SELF_ACCESS_PURPOSE}`,
      );
    return { items: records.map((r) => ({ record: r.id, consent: null })), breakGlass: null };
  }
  if (a.breakGlass) {
    if (a.purpose !== 'ETREAT')
      throw healthError('ACCESS_PURPOSE_INVALID', 'break-glass access is for ETREAT');
    const declared = await reader.breakGlass(a.patient, a.recipient);
    if (declared === null || at.time >= declared.until)
      throw healthError('BREAK_GLASS_INACTIVE', `${a.recipient} has no active break-glass for this patient`);
    return { items: records.map((r) => ({ record: r.id, consent: null })), breakGlass: declared.id };
  }
  const consents = await policyConsents(reader, a.patient, a.recipient);
  const items = records.map((r) => {
    const d = decideForRecord(
      consents,
      { ...r, erased: false },
      {
        patient: a.patient,
        grantee: a.recipient,
        action: a.action,
        purpose: a.purpose,
        recordId: r.id,
        time: at.time,
        height: at.height,
      },
    );
    if (!d.permit) {
      const reason = d.reason as Exclude<DecisionReason, 'PERMIT'>;
      throw healthError(ACCESS_CODES[reason], `record ${r.id}: ${d.reason}`);
    }
    return { record: r.id, consent: d.consentId };
  });
  return { items, breakGlass: null };
}

/** True if `err` is a refusal with a code from the health error table (not a bug). */
export function isHealthRefusal(err: unknown): err is CareLedgerError & { code: HealthErrorCode } {
  return err instanceof CareLedgerError && Object.hasOwn(HEALTH_ERRORS, err.code);
}
