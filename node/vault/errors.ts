/**
 * The vault's failures, each with a stable code (see README.md for when each is raised).
 */
import { CareLedgerError } from '../../packages/core/errors.ts';

export const VaultErrorCode = {
  /** No stored record has this ciphertext hash (never uploaded, or swept before it was anchored). */
  blobUnknown: 'VAULT_BLOB_UNKNOWN',
  /** The upload passed the configured size bound; it was stopped there and nothing was kept. */
  tooLarge: 'VAULT_TOO_LARGE',
  /** The record was erased (crypto-shredded); it is never served or stored again on this node. */
  erased: 'VAULT_ERASED',
  /** These bytes are already stored with another data key or salt. */
  duplicate: 'VAULT_DUPLICATE',
  /** A hash, key or chunk given by the caller has the wrong shape. */
  inputInvalid: 'VAULT_INPUT_INVALID',
  /** A key file does not open under the vault key, or the vault key file is damaged. */
  keyCorrupt: 'VAULT_KEY_CORRUPT',
} as const;
export type VaultErrorCode = (typeof VaultErrorCode)[keyof typeof VaultErrorCode];

export function vaultError(code: VaultErrorCode, message: string): CareLedgerError {
  return new CareLedgerError(code, message);
}
