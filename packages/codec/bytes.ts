/**
 * Fixed-width big-endian integers as bytes: the one u64 helper for database keys and values
 * (heights and versions), so keys sort by number in a range scan. These are storage layouts, not
 * the canonical encoding (canonical.ts), which is what is hashed and signed.
 */
import { CareLedgerError } from '../core/errors.ts';

const U64_MAX = 2n ** 64n - 1n;

/** `n` as 8 bytes, big-endian. Throws U64_OUT_OF_RANGE unless 0 <= n < 2^64. */
export function u64be(n: bigint): Uint8Array {
  if (typeof n !== 'bigint' || n < 0n || n > U64_MAX) {
    throw new CareLedgerError('U64_OUT_OF_RANGE', `${String(n)} is not a u64`);
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}

/** The big-endian u64 at `offset` of `bytes`. Throws a RangeError if fewer than 8 bytes are there. */
export function readU64be(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset);
}
