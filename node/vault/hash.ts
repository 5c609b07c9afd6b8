/**
 * Ciphertext hashes as the vault names files: a 32-byte sha256 at the API, 64 lower-case hex
 * digits on disk. Every hash from a caller or a directory listing passes through here.
 */
import { VaultErrorCode, vaultError } from './errors.ts';

export const HASH_BYTES = 32;
const HEX_NAME = /^[0-9a-f]{64}$/;

/** The file name of `hash`; VAULT_INPUT_INVALID unless it is 32 bytes. */
export function hashHex(hash: Uint8Array): string {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_BYTES)
    throw vaultError(VaultErrorCode.inputInvalid, `a ciphertext hash is ${HASH_BYTES} bytes`);
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');
}

/** True if `name` is a file name the vault makes for a hash. */
export function isHashName(name: string): boolean {
  return HEX_NAME.test(name);
}

export function hashOfHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
