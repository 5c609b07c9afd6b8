/**
 * What a holder of a record needs besides its ciphertext: the record's data key (32 bytes, fresh
 * per record) and the salt of its on-chain commitment (sha256(salt ‖ plaintext), see
 * `recordCommitment` in packages/health/tx.ts). The two travel and rest together, in one encoding:
 *
 *   version 0x01 (1 byte) ‖ data key (32 bytes) ‖ salt (16..64 bytes)
 *
 * The HPKE-wrapped key sent to a requester (key-wrap.ts) and the node's vault key file
 * (node/vault/key-store.ts) both hold exactly these bytes, encrypted.
 */
import { randomBytes } from 'node:crypto';
import { RecordErrorCode, recordError } from './errors.ts';

export const DATA_KEY_BYTES = 32;
/** The client refuses a salt shorter than 16 bytes (sealRecord); 64 bounds what a peer can send. */
export const SALT_MIN_BYTES = 16;
export const SALT_MAX_BYTES = 64;
const MATERIAL_VERSION = 0x01;

export interface KeyMaterial {
  readonly dataKey: Uint8Array;
  readonly salt: Uint8Array;
}

/** A fresh random data key for one record. Never reuse one for a second record. */
export function generateDataKey(): Uint8Array {
  return new Uint8Array(randomBytes(DATA_KEY_BYTES));
}

/** Throws RECORD_INPUT_INVALID unless `dataKey` is 32 bytes. */
export function checkDataKey(dataKey: Uint8Array): void {
  if (!(dataKey instanceof Uint8Array) || dataKey.length !== DATA_KEY_BYTES)
    throw recordError(RecordErrorCode.inputInvalid, `a record data key is ${DATA_KEY_BYTES} bytes`);
}

/** Throws RECORD_INPUT_INVALID unless the data key is 32 bytes and the salt 16..64 bytes. */
export function checkKeyMaterial(material: KeyMaterial): void {
  checkDataKey(material.dataKey);
  const { salt } = material;
  if (!(salt instanceof Uint8Array) || salt.length < SALT_MIN_BYTES || salt.length > SALT_MAX_BYTES)
    throw recordError(
      RecordErrorCode.inputInvalid,
      `a record salt is ${SALT_MIN_BYTES} to ${SALT_MAX_BYTES} bytes`,
    );
}

export function encodeKeyMaterial(material: KeyMaterial): Uint8Array {
  checkKeyMaterial(material);
  const out = new Uint8Array(1 + DATA_KEY_BYTES + material.salt.length);
  out[0] = MATERIAL_VERSION;
  out.set(material.dataKey, 1);
  out.set(material.salt, 1 + DATA_KEY_BYTES);
  return out;
}

/** The inverse of encodeKeyMaterial; RECORD_FORMAT_INVALID for anything it did not produce. */
export function decodeKeyMaterial(bytes: Uint8Array): KeyMaterial {
  const saltLength = bytes.length - 1 - DATA_KEY_BYTES;
  if (bytes[0] !== MATERIAL_VERSION || saltLength < SALT_MIN_BYTES || saltLength > SALT_MAX_BYTES)
    throw recordError(RecordErrorCode.formatInvalid, 'the key material is not in a known format');
  return {
    // Copies (not Buffer#slice views): the caller may zero `bytes` afterwards.
    dataKey: new Uint8Array(bytes.subarray(1, 1 + DATA_KEY_BYTES)),
    salt: new Uint8Array(bytes.subarray(1 + DATA_KEY_BYTES)),
  };
}
