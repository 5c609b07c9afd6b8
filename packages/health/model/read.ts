/**
 * Small readers shared by the state objects' decoders (optional fields, 32-byte keys and hashes,
 * the strict decode of a stored value) and the exhaustiveness check of the unions.
 */
import { type Canonical, decode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import { PUBLIC_KEY_BYTES } from '../../crypto/ed25519.ts';
import { HASH_BYTES } from '../../crypto/hash.ts';
import { healthError } from '../errors.ts';

export function opt<T>(value: Canonical, read: (v: Canonical) => T): T | null {
  return value === null ? null : read(value);
}

export function key32(value: Canonical, what: string): Uint8Array {
  return s.bytes(value, what, PUBLIC_KEY_BYTES);
}

export function hash32(value: Canonical, what: string): Uint8Array {
  return s.bytes(value, what, HASH_BYTES);
}

export function readBytes(bytes: Uint8Array, what: string): Canonical {
  try {
    return decode(bytes);
  } catch (err) {
    throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: ${(err as Error).message}`);
  }
}

export function unreachable(x: never): never {
  throw healthError('HEALTH_INTERNAL', `unexpected value ${String(x)}`);
}
