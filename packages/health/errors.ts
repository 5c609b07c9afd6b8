/**
 * Every way a health-data tx or query can fail: a stable string code (the CareLedgerError code,
 * carried as the result's codespace) and a stable number (the result's code). Numbers are never
 * reused once retired; a new failure gets a new number. Results hash (code, codespace), so a
 * change here changes results hashes: treat this table like an encoding.
 */
import { CareLedgerError } from '../core/errors.ts';

export const HEALTH_ERRORS = {
  // 1-9: the tx as a whole
  HEALTH_PAYLOAD_INVALID: 1,
  HEALTH_CODE_INVALID: 2,
  HEALTH_ID_INVALID: 3,
  HEALTH_NOT_INITIALIZED: 4,
  HEALTH_LIMIT: 5,
  HEALTH_INTERNAL: 6,
  // 10-19: signer and nonce
  HEALTH_NONCE_REPLAYED: 10,
  HEALTH_UNAUTHORIZED: 11,
  HEALTH_ROLE_REQUIRED: 12,
  HEALTH_KEY_IN_USE: 13,
  // 20-29: members
  MEMBER_NOT_FOUND: 20,
  MEMBER_EXISTS: 21,
  MEMBER_LAST: 22,
  MEMBER_NODE_IN_USE: 23,
  MEMBER_RECORD_KEY_MISSING: 24,
  // 30-39: patients and delegates
  PATIENT_NOT_FOUND: 30,
  PATIENT_EXISTS: 31,
  PATIENT_PROOF_INVALID: 32,
  DELEGATE_NOT_FOUND: 33,
  DELEGATE_LIMIT: 34,
  DELEGATE_POWER_DENIED: 35,
  DELEGATE_CONSENT_TOO_LONG: 36,
  DELEGATE_INVALID: 37,
  // 40-49: record anchors
  RECORD_NOT_FOUND: 40,
  RECORD_EXISTS: 41,
  RECORD_ERASED: 42,
  RECORD_PATIENT_MISMATCH: 43,
  RECORD_NOT_CUSTODIAN: 44,
  RECORD_ALREADY_SUPERSEDED: 45,
  /** A fetch names a record that no anchor on chain has (a release refusal). */
  RECORD_UNKNOWN: 46,
  // 50-59: consents
  CONSENT_NOT_FOUND: 50,
  CONSENT_ALREADY_REVOKED: 51,
  CONSENT_LIMIT: 52,
  CONSENT_PERIOD_INVALID: 53,
  CONSENT_GRANTEE_INVALID: 54,
  CONSENT_SCOPE_INVALID: 55,
  // 60-69: access requests
  REQUEST_NOT_FOUND: 60,
  REQUEST_CLOSED: 61,
  REQUEST_EXPIRED: 62,
  REQUEST_LIMIT: 63,
  REQUEST_EXPIRY_INVALID: 64,
  // 70-79: access events and break-glass (the ACCESS_ codes after 70 name the policy's reason)
  ACCESS_NO_CONSENT: 70,
  ACCESS_CONSENT_REVOKED: 71,
  ACCESS_CONSENT_NOT_IN_PERIOD: 72,
  ACCESS_DENY_PROVISION: 73,
  ACCESS_RECIPIENT_INVALID: 74,
  ACCESS_PURPOSE_INVALID: 75,
  BREAK_GLASS_INACTIVE: 76,
  ACCESS_RELEASE_REPLAYED: 77,
  ACCESS_REQUEST_STALE: 78,
  ACCESS_REQUEST_INVALID: 79,
  // 80-89: claims
  CLAIM_NOT_FOUND: 80,
  CLAIM_DUPLICATE: 81,
  CLAIM_WRONG_PAYER: 82,
  CLAIM_PAYER_INVALID: 83,
  CLAIM_CONSENT_MISSING: 84,
  CLAIM_ALREADY_ADJUDICATED: 85,
  CLAIM_AMOUNTS_INVALID: 86,
  CLAIM_DATE_INVALID: 87,
  CLAIM_SUPERSEDE_INVALID: 88,
  CLAIM_SUPERSEDED: 89,
  // 90-99: governance
  GOV_PROPOSAL_NOT_FOUND: 90,
  GOV_PROPOSAL_CLOSED: 91,
  GOV_ALREADY_VOTED: 92,
  GOV_DEADLINE_INVALID: 93,
  GOV_ACTION_INVALID: 94,
  GOV_LIMIT: 95,
  // 100-109: queries
  QUERY_UNKNOWN_PATH: 100,
  QUERY_DATA_INVALID: 101,
  QUERY_HEIGHT_INVALID: 102,
} as const;

export type HealthErrorCode = keyof typeof HEALTH_ERRORS;

/** The number for a result code; any code outside the table (a bug) maps to HEALTH_INTERNAL's. */
export function errorNumber(code: string): number {
  return (HEALTH_ERRORS as Record<string, number>)[code] ?? HEALTH_ERRORS.HEALTH_INTERNAL;
}

/** A rejected health tx or query: one code from the table and one clear sentence. */
export function healthError(code: HealthErrorCode, message: string): CareLedgerError {
  return new CareLedgerError(code, message, 'reject');
}
