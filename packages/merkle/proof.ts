/**
 * Proofs of the state tree, checked with nothing but an app hash from a header: pure, no I/O.
 *
 * A proof follows the path of sha256(key) from the root down to where it ends: at a leaf (the
 * key's own leaf, or another key's leaf that occupies the key's prefix) or at an empty subtree.
 * It carries the sibling hash at each level and, when the path ends at a leaf, that leaf's key
 * hash and value hash. The verifier hashes back up to a root and compares it with the app hash.
 *
 * Wire form (canonical codec): [1, siblings, leaf], where `siblings` lists the sibling hashes from
 * the top down, an empty subtree written as zero bytes (never as its 32-byte hash, so each proof
 * has exactly one encoding), and `leaf` is [keyHash, valueHash] or null. A proof has at most 256
 * siblings, so it is at most MAX_PROOF_BYTES long; decodeProof refuses anything else.
 */
import { type Canonical, decode, encode } from '../codec/canonical.ts';
import { CareLedgerError, invalid } from '../core/errors.ts';
import { equalBytes, HASH_BYTES } from '../crypto/hash.ts';
import {
  commonPrefixBits,
  emptyHash,
  internalHash,
  isEmptyHash,
  keyHashOf,
  leafHash,
  PATH_BITS,
  pathBit,
  valueHashOf,
} from './hash.ts';

/** The root of the empty tree (the app hash of a state with no keys). */
export function emptyRoot(): Uint8Array {
  return emptyHash();
}

/** The leaf at which a key's path ends. */
export interface ProofLeaf {
  readonly keyHash: Uint8Array;
  readonly valueHash: Uint8Array;
}

export interface MerkleProof {
  /**
   * Sibling hashes along the key's path, from the top: `siblings[i]` is the hash of the child of
   * the path's node at depth i that the path does not take (the empty hash for an empty subtree).
   */
  readonly siblings: readonly Uint8Array[];
  /** The leaf where the path ends, or null when it ends at an empty subtree. */
  readonly leaf: ProofLeaf | null;
}

const FORMAT = 1;
/** [1, siblings(256 × 34 bytes + 3), [32-byte, 32-byte]] with headers: 8778 bytes; rounded up. */
export const MAX_PROOF_BYTES = 9 * 1024;
const DECODE_LIMITS = { maxBytes: MAX_PROOF_BYTES, maxDepth: 3, maxItems: 3 + PATH_BITS + 4 };

const NO_BYTES = new Uint8Array(0);

function isHash(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array && x.length === HASH_BYTES;
}

/** True if `p` has the shape of a proof: at most 256 siblings of 32 bytes, a well-formed leaf. */
function wellFormed(p: MerkleProof): boolean {
  if (typeof p !== 'object' || p === null || !Array.isArray(p.siblings)) return false;
  if (p.siblings.length > PATH_BITS || !p.siblings.every(isHash)) return false;
  if (p.leaf === null) return true;
  return typeof p.leaf === 'object' && isHash(p.leaf.keyHash) && isHash(p.leaf.valueHash);
}

/**
 * The root that `proof` leads to for the path `keyHash`, or null if the proof is malformed or its
 * leaf does not lie on that path. Says nothing yet about membership: the callers below check that.
 */
export function rootFromProof(keyHash: Uint8Array, proof: MerkleProof): Uint8Array | null {
  if (!isHash(keyHash) || !wellFormed(proof)) return null;
  const { siblings, leaf } = proof;
  // A leaf stands at the end of the path only if its own path shares every bit above it.
  if (leaf !== null && commonPrefixBits(leaf.keyHash, keyHash) < siblings.length) return null;
  let hash = leaf === null ? emptyHash() : leafHash(leaf.keyHash, leaf.valueHash);
  for (let depth = siblings.length - 1; depth >= 0; depth--) {
    const sibling = siblings[depth]!;
    hash = pathBit(keyHash, depth) === 0 ? internalHash(hash, sibling) : internalHash(sibling, hash);
  }
  return hash;
}

/** True if `proof` shows that `key` has `value` in the tree whose root is `root`. */
export function verifyMembership(
  root: Uint8Array,
  key: Uint8Array,
  value: Uint8Array,
  proof: MerkleProof,
): boolean {
  if (!isHash(root) || !(key instanceof Uint8Array) || !(value instanceof Uint8Array)) return false;
  const keyHash = keyHashOf(key);
  if (!wellFormed(proof) || proof.leaf === null) return false;
  if (!equalBytes(proof.leaf.keyHash, keyHash) || !equalBytes(proof.leaf.valueHash, valueHashOf(value)))
    return false;
  const computed = rootFromProof(keyHash, proof);
  return computed !== null && equalBytes(computed, root);
}

/** True if `proof` shows that `key` is absent from the tree whose root is `root`. */
export function verifyNonMembership(root: Uint8Array, key: Uint8Array, proof: MerkleProof): boolean {
  if (!isHash(root) || !(key instanceof Uint8Array)) return false;
  const keyHash = keyHashOf(key);
  if (!wellFormed(proof)) return false;
  // The path must end at an empty subtree or at another key's leaf.
  if (proof.leaf !== null && equalBytes(proof.leaf.keyHash, keyHash)) return false;
  const computed = rootFromProof(keyHash, proof);
  return computed !== null && equalBytes(computed, root);
}

/** verifyMembership when `value` is bytes, verifyNonMembership when it is null. */
export function verifyProof(
  root: Uint8Array,
  key: Uint8Array,
  value: Uint8Array | null,
  proof: MerkleProof,
): boolean {
  return value === null ? verifyNonMembership(root, key, proof) : verifyMembership(root, key, value, proof);
}

/** Canonical bytes of a proof. Throws MERKLE_PROOF_MALFORMED if `p` is not a well-formed proof. */
export function encodeProof(p: MerkleProof): Uint8Array {
  if (!wellFormed(p)) throw new CareLedgerError('MERKLE_PROOF_MALFORMED', 'not a well-formed Merkle proof');
  const siblings = p.siblings.map((s) => (isEmptyHash(s) ? NO_BYTES : s));
  const leaf: Canonical = p.leaf === null ? null : [p.leaf.keyHash, p.leaf.valueHash];
  return encode([FORMAT, siblings, leaf]);
}

function malformed(why: string): CareLedgerError {
  return invalid('MERKLE_PROOF_MALFORMED', `malformed Merkle proof: ${why}`);
}

/**
 * Decodes a proof, strictly: bounded size, exactly one encoding per proof. Every failure is a
 * CareLedgerError: MERKLE_PROOF_TOO_LARGE or MERKLE_PROOF_MALFORMED, both with action `reject`.
 */
export function decodeProof(bytes: Uint8Array): MerkleProof {
  if (!(bytes instanceof Uint8Array)) throw malformed('expected bytes');
  if (bytes.length > MAX_PROOF_BYTES) {
    throw invalid(
      'MERKLE_PROOF_TOO_LARGE',
      `Merkle proof of ${bytes.length} bytes exceeds ${MAX_PROOF_BYTES}`,
    );
  }
  let value: Canonical;
  try {
    value = decode(bytes, DECODE_LIMITS);
  } catch (err) {
    const code = err instanceof CareLedgerError ? err.code : 'CODEC_MALFORMED';
    throw malformed(`${code}: ${(err as Error).message}`);
  }
  if (!Array.isArray(value) || value.length !== 3) throw malformed('expected [format, siblings, leaf]');
  const [format, rawSiblings, rawLeaf] = value as readonly Canonical[];
  if (format !== FORMAT) throw malformed(`unknown format ${String(format)}`);
  if (!Array.isArray(rawSiblings) || rawSiblings.length > PATH_BITS) throw malformed('bad sibling list');
  const siblings: Uint8Array[] = [];
  for (const s of rawSiblings as readonly Canonical[]) {
    if (!(s instanceof Uint8Array)) throw malformed('a sibling is not bytes');
    if (s.length === 0) siblings.push(emptyHash());
    else if (s.length !== HASH_BYTES) throw malformed('a sibling is not 32 bytes');
    else if (isEmptyHash(s)) throw malformed('an empty sibling must be written as zero bytes');
    else siblings.push(s);
  }
  let leaf: ProofLeaf | null = null;
  if (rawLeaf !== null) {
    if (!Array.isArray(rawLeaf) || rawLeaf.length !== 2) throw malformed('leaf is not [keyHash, valueHash]');
    const [keyHash, valueHash] = rawLeaf as readonly Canonical[];
    if (!isHash(keyHash) || !isHash(valueHash)) throw malformed('leaf hashes must be 32 bytes');
    leaf = { keyHash, valueHash };
  }
  return { siblings, leaf };
}
