/**
 * The failures of the record envelope, each with a stable code. A failed check never says which
 * byte was wrong: a decryption or unwrap failure is one code, whatever the cause, so an attacker
 * learns nothing from the error beyond "refused".
 */
import { CareLedgerError } from '../core/errors.ts';

export const RecordErrorCode = {
  /** The ciphertext does not authenticate under the key (tampered, truncated, or the wrong key). */
  decryptFailed: 'RECORD_DECRYPT_FAILED',
  /** The wrapped key does not open with this recipient key and this (chain, record, release). */
  keyUnwrapFailed: 'RECORD_KEY_UNWRAP_FAILED',
  /** Bytes that are not in the envelope's format (wrong magic, version or length). */
  formatInvalid: 'RECORD_FORMAT_INVALID',
  /** A key, salt or id given by the caller has the wrong shape. */
  inputInvalid: 'RECORD_INPUT_INVALID',
} as const;
export type RecordErrorCode = (typeof RecordErrorCode)[keyof typeof RecordErrorCode];

export function recordError(code: RecordErrorCode, message: string): CareLedgerError {
  return new CareLedgerError(code, message);
}
