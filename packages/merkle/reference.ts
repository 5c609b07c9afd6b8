/**
 * The root of a complete set of entries, computed from scratch with the rules of hash.ts: the
 * definition of the state root, in a dozen lines. The store computes the same root incrementally;
 * this is what a snapshot (state sync) or a test checks it against. Memory and time are O(n log n).
 */
import { CareLedgerError } from '../core/errors.ts';
import { emptyHash, internalHash, keyHashOf, leafHash, pathBit, valueHashOf } from './hash.ts';

interface Entry {
  readonly keyHash: Uint8Array;
  readonly leaf: Uint8Array;
}

/** The root of the subtree at `depth` holding entries[lo, hi), which share their first `depth` bits. */
function subtree(entries: readonly Entry[], lo: number, hi: number, depth: number): Uint8Array {
  if (lo === hi) return emptyHash();
  if (hi - lo === 1) return entries[lo]!.leaf;
  let mid = lo;
  while (mid < hi && pathBit(entries[mid]!.keyHash, depth) === 0) mid++;
  // Two or more keys below: an internal node, even if one side is empty (the keys split deeper).
  return internalHash(subtree(entries, lo, mid, depth + 1), subtree(entries, mid, hi, depth + 1));
}

/** The state root of exactly these entries (key, value). Throws MERKLE_DUPLICATE_KEY if a key repeats. */
export function rootOfEntries(entries: Iterable<readonly [key: Uint8Array, value: Uint8Array]>): Uint8Array {
  const list: Entry[] = [];
  for (const [key, value] of entries) {
    const keyHash = keyHashOf(key);
    list.push({ keyHash, leaf: leafHash(keyHash, valueHashOf(value)) });
  }
  list.sort((a, b) => Buffer.compare(a.keyHash, b.keyHash));
  for (let i = 1; i < list.length; i++) {
    if (Buffer.compare(list[i - 1]!.keyHash, list[i]!.keyHash) === 0) {
      throw new CareLedgerError('MERKLE_DUPLICATE_KEY', 'a key appears twice in the entries');
    }
  }
  return subtree(list, 0, list.length, 0);
}
