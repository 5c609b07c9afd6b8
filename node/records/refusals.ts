/**
 * The records service's own refusal codes and the HTTP status of every code the local API can
 * answer (RECORDS-CONTRACT "Local API"). One table, so the custodian's refusal, carried over
 * /careledger/record/1 as a code, gets the same status on whichever node the client asked.
 */
import { CareLedgerError } from '../../packages/core/errors.ts';

export const RecordsCode = {
  /** No node of the custodian answered within `records.unavailable_after_ms` (503). */
  custodianUnavailable: 'CUSTODIAN_UNAVAILABLE',
  /** The access event was not committed within `records.release_timeout_ms`: nothing released (504). */
  releaseTimeout: 'RELEASE_TIMEOUT',
  /** Too many releases wait for their access event at once (503). */
  releaseBusy: 'RELEASE_BUSY',
  /** The requesting node is not one of the requester member's nodes (a patient's: not a member's node) (403). */
  peerInvalid: 'ACCESS_REQUESTER_PEER_INVALID',
  /** The custodian's node does not hold the anchored ciphertext (404). */
  blobMissing: 'RECORD_BLOB_MISSING',
  /** The uploaded bytes do not hash to the path's sha256: nothing kept (400). */
  hashMismatch: 'VAULT_HASH_MISMATCH',
  /** A malformed local API request (path, header, body) (400). */
  requestInvalid: 'RECORDS_REQUEST_INVALID',
  /** No such method and path under /records (404). */
  routeUnknown: 'RECORDS_ROUTE_UNKNOWN',
  /** The records service is not running on this node (kvstore app, stopping) (503). */
  unavailable: 'RECORDS_UNAVAILABLE',
} as const;

export function recordsError(code: (typeof RecordsCode)[keyof typeof RecordsCode], message: string) {
  return new CareLedgerError(code, message);
}

const STATUS: Readonly<Record<string, number>> = {
  ACCESS_REQUEST_INVALID: 400,
  ACCESS_REQUEST_STALE: 400,
  VAULT_HASH_MISMATCH: 400,
  VAULT_INPUT_INVALID: 400,
  RECORD_FORMAT_INVALID: 400,
  RECORD_INPUT_INVALID: 400,
  RECORDS_REQUEST_INVALID: 400,
  LOCAL_AUTH_REQUIRED: 401,
  LOCAL_AUTH_INVALID: 401,
  LOCAL_AUTH_REPLAYED: 401,
  RECORD_UNKNOWN: 404,
  RECORDS_ROUTE_UNKNOWN: 404,
  RECORD_BLOB_MISSING: 404,
  VAULT_BLOB_UNKNOWN: 404,
  VAULT_DUPLICATE: 409,
  RECORD_ERASED: 410,
  VAULT_ERASED: 410,
  VAULT_TOO_LARGE: 413,
  RECORD_RELEASE_FAILED: 500,
  RECORD_STREAM_INVALID: 502,
  CUSTODIAN_UNAVAILABLE: 503,
  RELEASE_BUSY: 503,
  LOCAL_AUTH_BUSY: 503,
  RECORDS_UNAVAILABLE: 503,
  RELEASE_TIMEOUT: 504,
};

/**
 * The HTTP status for a code: the table above, else 403 for the policy's and the chain's
 * refusals (ACCESS_*, BREAK_GLASS_*, MEMBER_*, RECORD_NOT_CUSTODIAN, HEALTH_*, LOCAL_AUTH_FORBIDDEN…),
 * which all mean "not allowed", and 500 for anything that is no refusal code at all.
 */
export function httpStatusOf(code: string): number {
  const known = STATUS[code];
  if (known !== undefined) return known;
  return /^[A-Z][A-Z0-9_]*$/.test(code) ? 403 : 500;
}
