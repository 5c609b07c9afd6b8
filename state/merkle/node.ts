/**
 * Nodes of the state tree as they sit in LevelDB, and a bounded cache of decoded nodes.
 *
 * A node is stored under its own hash (content-addressed), so a node shared by many versions is
 * stored once. The stored bytes are the canonical encoding of
 *   internal: [birth, 0, left, right, leafMask]     (an empty child is zero bytes; bit 0 of
 *             leafMask says the left child is a leaf, bit 1 the right: a parent must know whether
 *             a child is a leaf to lift it up when its sibling empties, without reading it)
 *   leaf:     [birth, 1, key, valueHash, value]
 * `birth` is the last version that wrote the node. A node can die (become stale) and later be
 * written again with the same content (a key set back to an earlier value): pruning deletes a
 * stale node only if it was not born again after it went stale (see store.ts).
 * The hash is not stored: it is the key, and decodeNode checks the bytes against it.
 */
import { type Canonical, decode, encode } from '../../packages/codec/canonical.ts';
import { CareLedgerError } from '../../packages/core/errors.ts';
import { HASH_BYTES, toHex } from '../../packages/crypto/hash.ts';
import { emptyHash, internalHash, keyHashOf, leafHash } from '../../packages/merkle/hash.ts';

export const EMPTY = 0;
export const LEAF = 1;
export const INTERNAL = 2;
export type NodeKind = typeof EMPTY | typeof LEAF | typeof INTERNAL;

/** A reference to a subtree: its hash and what kind of node is there. */
export interface Ref {
  readonly hash: Uint8Array;
  readonly kind: NodeKind;
}

export interface LeafNode {
  readonly kind: typeof LEAF;
  readonly hash: Uint8Array;
  readonly keyHash: Uint8Array;
  readonly valueHash: Uint8Array;
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface InternalNode {
  readonly kind: typeof INTERNAL;
  readonly hash: Uint8Array;
  readonly left: Ref;
  readonly right: Ref;
}

export type TreeNode = LeafNode | InternalNode;

export const EMPTY_REF: Ref = { hash: emptyHash(), kind: EMPTY };
const NO_BYTES = new Uint8Array(0);

export function makeLeaf(
  key: Uint8Array,
  keyHash: Uint8Array,
  value: Uint8Array,
  valueHash: Uint8Array,
): LeafNode {
  return { kind: LEAF, hash: leafHash(keyHash, valueHash), keyHash, valueHash, key, value };
}

export function makeInternal(left: Ref, right: Ref): InternalNode {
  return { kind: INTERNAL, hash: internalHash(left.hash, right.hash), left, right };
}

export function encodeNode(node: TreeNode, birth: bigint): Uint8Array {
  if (node.kind === LEAF) return encode([birth, LEAF, node.key, node.valueHash, node.value]);
  const child = (r: Ref) => (r.kind === EMPTY ? NO_BYTES : r.hash);
  const mask = (node.left.kind === LEAF ? 1 : 0) | (node.right.kind === LEAF ? 2 : 0);
  return encode([birth, INTERNAL, child(node.left), child(node.right), mask]);
}

function corrupt(hash: Uint8Array, why: string): CareLedgerError {
  return new CareLedgerError('STATE_CORRUPT', `state node ${toHex(hash)} is corrupt: ${why}`);
}

function childRef(hash: Uint8Array, bytes: Canonical | undefined, isLeaf: boolean): Ref {
  if (!(bytes instanceof Uint8Array)) throw corrupt(hash, 'child is not bytes');
  if (bytes.length === 0) {
    if (isLeaf) throw corrupt(hash, 'an empty child marked as a leaf');
    return EMPTY_REF;
  }
  if (bytes.length !== HASH_BYTES) throw corrupt(hash, 'child hash is not 32 bytes');
  return { hash: bytes, kind: isLeaf ? LEAF : INTERNAL };
}

/** Decodes the stored bytes of the node whose hash is `hash`, checking that they hash to it. */
export function decodeNode(hash: Uint8Array, bytes: Uint8Array): { node: TreeNode; birth: bigint } {
  let fields: Canonical;
  try {
    fields = decode(bytes);
  } catch (err) {
    throw corrupt(hash, (err as Error).message);
  }
  if (!Array.isArray(fields) || typeof fields[0] !== 'bigint') throw corrupt(hash, 'not a node');
  const birth = fields[0];
  let node: TreeNode;
  if (fields[1] === LEAF && fields.length === 5) {
    const [, , key, valueHash, value] = fields;
    if (!(key instanceof Uint8Array) || !(value instanceof Uint8Array)) throw corrupt(hash, 'bad leaf');
    if (!(valueHash instanceof Uint8Array) || valueHash.length !== HASH_BYTES)
      throw corrupt(hash, 'bad leaf');
    node = makeLeaf(key, keyHashOf(key), value, valueHash);
  } else if (fields[1] === INTERNAL && fields.length === 5) {
    const mask = fields[4];
    if (typeof mask !== 'number' || mask < 0 || mask > 3) throw corrupt(hash, 'bad leaf mask');
    const left = childRef(hash, fields[2], (mask & 1) !== 0);
    const right = childRef(hash, fields[3], (mask & 2) !== 0);
    if (left.kind === EMPTY && right.kind === EMPTY) throw corrupt(hash, 'internal node without children');
    node = makeInternal(left, right);
  } else {
    throw corrupt(hash, 'unknown node kind');
  }
  if (Buffer.compare(node.hash, hash) !== 0) throw corrupt(hash, 'content does not match its hash');
  return { node, birth };
}

/** Rough memory cost of a decoded node, for the cache's byte budget. */
function costOf(node: TreeNode): number {
  return node.kind === LEAF ? 200 + node.key.length + node.value.length : 200;
}

/**
 * Decoded nodes by hash, bounded by an approximate byte budget. Two generations instead of a
 * strict LRU list: new and recently read nodes go to the young generation; when it holds half the
 * budget it becomes the old one and the previous old one is dropped whole. A hit in the old
 * generation moves the node back to the young one. Every operation is O(1), with no per-read
 * reordering (a Map used as an LRU list degrades badly under constant delete-and-reinsert).
 * Nodes are immutable, so a cached node is never stale; pruning evicts what it deletes only to
 * free memory.
 */
export class NodeCache {
  readonly maxBytes: number;
  private young = new Map<string, TreeNode>();
  private old = new Map<string, TreeNode>();
  private youngBytes = 0;
  hits = 0;
  misses = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  get(id: string): TreeNode | undefined {
    const node = this.young.get(id);
    if (node !== undefined) {
      this.hits++;
      return node;
    }
    const aged = this.old.get(id);
    if (aged === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.old.delete(id);
    this.add(id, aged);
    return aged;
  }

  set(id: string, node: TreeNode): void {
    if (this.young.has(id)) return;
    this.old.delete(id);
    this.add(id, node);
  }

  delete(id: string): void {
    const node = this.young.get(id);
    if (node !== undefined) {
      this.young.delete(id);
      this.youngBytes -= costOf(node);
    }
    this.old.delete(id);
  }

  private add(id: string, node: TreeNode): void {
    const cost = costOf(node);
    if (cost * 2 > this.maxBytes) return;
    if (this.youngBytes + cost > this.maxBytes / 2) {
      this.old = this.young;
      this.young = new Map();
      this.youngBytes = 0;
    }
    this.young.set(id, node);
    this.youngBytes += cost;
  }
}
