/**
 * Nodes of the state tree as they sit in LevelDB, and a bounded cache of decoded nodes.
 *
 * Storage is 16-ary, hashing is binary, as in Diem's Jellyfish Merkle tree. A stored internal
 * node covers four bits of the path (a nibble) and has 16 child slots; its hash is the root of
 * the binary tree over those slots built with the rules of packages/merkle/hash.ts (an empty half
 * is the empty hash, a half holding a single leaf is that leaf's hash). So the root hash and the
 * proofs are exactly those of the binary sparse Merkle tree the verifier knows, while a path of n
 * keys costs about log16(n) stored nodes to read or write instead of log2(n).
 *
 * A node is stored under its own hash (content-addressed), so a node shared by many versions is
 * stored once. The stored bytes are the canonical encoding of
 *   internal: [birth, 2, childMask, leafMask, nodeHashes, leafHashes]
 *             bit i of childMask: slot i is not empty; of leafMask: slot i holds a leaf.
 *             nodeHashes: the hashes of the internal children, in slot order;
 *             leafHashes: keyHash || valueHash of each leaf child, in slot order. A parent so
 *             knows its leaves without reading them: a version is prepared by reading internal
 *             nodes only, and a leaf's hash is recomputed from what its parent holds.
 *   leaf:     [birth, 1, key, valueHash, value]
 * `birth` is the last version that wrote the node. A node can die (become stale) and later be
 * written again with the same content (a key set back to an earlier value): pruning deletes a
 * stale node only if it was not born again after it went stale (see store.ts).
 * The hash is not stored: it is the key, and decodeNode checks the bytes against it.
 */
import { type Canonical, decode } from '../../packages/codec/canonical.ts';
import { CareLedgerError } from '../../packages/core/errors.ts';
import { HASH_BYTES, toHex } from '../../packages/crypto/hash.ts';
import { emptyHash, internalHashInto, keyHashOf, leafHash, valueHashOf } from '../../packages/merkle/hash.ts';

export const EMPTY = 0;
export const LEAF = 1;
export const INTERNAL = 2;
export type NodeKind = typeof EMPTY | typeof LEAF | typeof INTERNAL;

/** Children of a stored internal node, and path nibbles (4 bits each). */
export const RADIX = 16;

/** A reference to a subtree: its hash, what is there, and for a leaf what it commits to. */
export type Ref =
  | { readonly kind: typeof EMPTY; readonly hash: Uint8Array }
  | { readonly kind: typeof INTERNAL; readonly hash: Uint8Array }
  | LeafRef;

export interface LeafRef {
  readonly kind: typeof LEAF;
  readonly hash: Uint8Array;
  readonly keyHash: Uint8Array;
  readonly valueHash: Uint8Array;
}

export interface LeafNode extends LeafRef {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/**
 * A stored internal node with the binary tree inside it, numbered as a heap: position 1 is the
 * node itself, positions p*2 and p*2+1 are the halves of p, and positions 16..31 are the 16 slots.
 * `kinds[p]` and the 32 bytes of `hashes` at p*32 describe the subtree at position p, after
 * lifting (a position whose only content is one leaf is that leaf). `leaves` holds, for each leaf
 * slot s, its keyHash at s*64 and its valueHash at s*64+32.
 */
export interface InternalNode {
  readonly kind: typeof INTERNAL;
  readonly hash: Uint8Array;
  readonly kinds: Uint8Array;
  readonly hashes: Uint8Array;
  readonly leaves: Uint8Array;
}

export type TreeNode = LeafNode | InternalNode;

export const EMPTY_REF: Ref = { kind: EMPTY, hash: emptyHash() };
const LEAF_BYTES = 2 * HASH_BYTES;

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (start: number, end: number) => string })
  .latin1Slice;

/**
 * The map key of a node by its hash (cache, per-prepare maps): one character per byte (latin1),
 * half the length of hex and about half its cost, for ids made several times per tx. Only for
 * maps: messages show hashes as hex. latin1Slice is the method behind Buffer#toString('latin1')
 * and takes any Uint8Array; hex is the fallback should a Node version lack it.
 */
export function nodeId(hash: Uint8Array): string {
  return latin1Slice !== undefined ? latin1Slice.call(hash, 0, hash.length) : toHex(hash);
}

/** Nibble `depth` of a path: the slot the path takes in a stored node at that depth. */
export function nibbleAt(path: Uint8Array, depth: number): number {
  const byte = path[depth >> 1]!;
  return (depth & 1) === 0 ? byte >> 4 : byte & 0x0f;
}

export function leafRef(keyHash: Uint8Array, valueHash: Uint8Array): LeafRef {
  return { kind: LEAF, hash: leafHash(keyHash, valueHash), keyHash, valueHash };
}

export function makeLeaf(
  key: Uint8Array,
  keyHash: Uint8Array,
  value: Uint8Array,
  valueHash: Uint8Array,
): LeafNode {
  return { ...leafRef(keyHash, valueHash), key, value };
}

function leafInSlot(node: Pick<InternalNode, 'hashes' | 'leaves'>, slot: number): LeafRef {
  const at = slot * LEAF_BYTES;
  return {
    kind: LEAF,
    hash: node.hashes.subarray((RADIX + slot) * HASH_BYTES, (RADIX + slot + 1) * HASH_BYTES),
    keyHash: node.leaves.subarray(at, at + HASH_BYTES),
    valueHash: node.leaves.subarray(at + HASH_BYTES, at + LEAF_BYTES),
  };
}

/** The subtree at heap position `pos` (1..31) of an internal node. */
export function refAt(node: Pick<InternalNode, 'kinds' | 'hashes' | 'leaves'>, pos: number): Ref {
  const kind = node.kinds[pos] as NodeKind;
  const hash = node.hashes.subarray(pos * HASH_BYTES, (pos + 1) * HASH_BYTES);
  if (kind !== LEAF) return { kind, hash };
  // A leaf here is the one non-empty slot below `pos`.
  let lo = pos;
  while (lo < RADIX) lo *= 2;
  for (let slot = lo - RADIX; ; slot++) if (node.kinds[RADIX + slot] !== EMPTY) return leafInSlot(node, slot);
}

/** The child in slot `slot` (0..15) of an internal node. */
export function childAt(node: InternalNode, slot: number): Ref {
  return refAt(node, RADIX + slot);
}

/**
 * What a set of children amounts to: a stored internal node (`node`, and `ref` points to it), or,
 * when they hold no key or a single leaf, no node: `ref` is then the empty subtree or that leaf,
 * which moves up in place of the node (leaf compression).
 */
export interface Subtree {
  readonly ref: Ref;
  readonly node: InternalNode | null;
}

/** Recomputes the heap positions in `dirty` (a bit per position 1..15), deepest first. */
function rehash(kinds: Uint8Array, hashes: Uint8Array, leaves: Uint8Array, dirty: number): Subtree {
  for (let pos = RADIX - 1; pos >= 1; pos--) {
    if ((dirty & (1 << pos)) === 0) continue;
    const l = 2 * pos;
    const r = l + 1;
    const lk = kinds[l]!;
    const rk = kinds[r]!;
    // The binary rules: a half holding only a leaf, or nothing, beside an empty half moves up.
    const from = lk === EMPTY && rk !== INTERNAL ? r : rk === EMPTY && lk !== INTERNAL ? l : 0;
    if (from !== 0) {
      kinds[pos] = kinds[from]!;
      hashes.copyWithin(pos * HASH_BYTES, from * HASH_BYTES, (from + 1) * HASH_BYTES);
    } else {
      kinds[pos] = INTERNAL;
      internalHashInto(hashes, l * HASH_BYTES, r * HASH_BYTES, pos * HASH_BYTES);
    }
  }
  if (kinds[1] !== INTERNAL) return { ref: refAt({ kinds, hashes, leaves }, 1), node: null };
  // A view: a node never changes once made (withChildren copies), and callers get copies.
  const hash = hashes.subarray(HASH_BYTES, 2 * HASH_BYTES);
  return { ref: { kind: INTERNAL, hash }, node: { kind: INTERNAL, hash, kinds, hashes, leaves } };
}

function setChild(kinds: Uint8Array, hashes: Uint8Array, leaves: Uint8Array, slot: number, child: Ref): void {
  kinds[RADIX + slot] = child.kind;
  hashes.set(child.hash, (RADIX + slot) * HASH_BYTES);
  if (child.kind === LEAF) {
    leaves.set(child.keyHash, slot * LEAF_BYTES);
    leaves.set(child.valueHash, slot * LEAF_BYTES + HASH_BYTES);
  }
}

const KINDS_BYTES = 2 * RADIX;
const HASHES_BYTES = 2 * RADIX * HASH_BYTES;
const LEAVES_BYTES = RADIX * LEAF_BYTES;

/**
 * The three arrays of a new internal node, as views of one pooled buffer: one allocation instead
 * of three array buffers (nodes are made several times per tx, and array buffers are costly).
 * `old`, when given, is copied in; otherwise the arrays are zeroed.
 */
function nodeArrays(old: InternalNode | null): Pick<InternalNode, 'kinds' | 'hashes' | 'leaves'> {
  const buf = Buffer.allocUnsafe(KINDS_BYTES + HASHES_BYTES + LEAVES_BYTES);
  const at = buf.byteOffset;
  const kinds = new Uint8Array(buf.buffer, at, KINDS_BYTES);
  const hashes = new Uint8Array(buf.buffer, at + KINDS_BYTES, HASHES_BYTES);
  const leaves = new Uint8Array(buf.buffer, at + KINDS_BYTES + HASHES_BYTES, LEAVES_BYTES);
  if (old === null) buf.fill(0);
  else {
    kinds.set(old.kinds);
    hashes.set(old.hashes);
    leaves.set(old.leaves);
  }
  return { kinds, hashes, leaves };
}

/** The subtree over 16 children. */
export function makeInternal(children: readonly Ref[]): Subtree {
  const { kinds, hashes, leaves } = nodeArrays(null);
  for (let slot = 0; slot < RADIX; slot++) setChild(kinds, hashes, leaves, slot, children[slot]!);
  return rehash(kinds, hashes, leaves, 0xfffe);
}

/** The subtree over the children of `old` with the slots in `changes` replaced; rehashes only their paths. */
export function withChildren(old: InternalNode, changes: ReadonlyMap<number, Ref>): Subtree {
  const { kinds, hashes, leaves } = nodeArrays(old);
  let dirty = 0;
  for (const [slot, child] of changes) {
    setChild(kinds, hashes, leaves, slot, child);
    for (let p = (RADIX + slot) >> 1; p >= 1; p >>= 1) dirty |= 1 << p;
  }
  return rehash(kinds, hashes, leaves, dirty);
}

/** Bytes of a MessagePack bin header for `length` bytes (canonical: the shortest form). */
function binHeaderBytes(length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** Writes a canonical MessagePack bin header for `length` bytes at `at`; returns the offset after it. */
function writeBinHeader(out: Buffer, at: number, length: number): number {
  if (length < 0x100) {
    out[at] = 0xc4;
    out[at + 1] = length;
    return at + 2;
  }
  if (length < 0x10000) {
    out[at] = 0xc5;
    out.writeUInt16BE(length, at + 1);
    return at + 3;
  }
  out[at] = 0xc6;
  out.writeUInt32BE(length, at + 1);
  return at + 5;
}

/** Writes `bytes` as a canonical MessagePack bin at `at`; returns the offset after it. */
function writeBin(out: Buffer, at: number, bytes: Uint8Array): number {
  const start = writeBinHeader(out, at, bytes.length);
  out.set(bytes, start);
  return start + bytes.length;
}

/**
 * Copies to `out` at `at`, in slot order, the `size` bytes of each slot of kind `kind` (slot s's
 * bytes are at from + s*size of `src`), a run of neighbouring slots at a time; returns the end.
 */
function copySlots(
  kinds: Uint8Array,
  kind: NodeKind,
  src: Uint8Array,
  from: number,
  size: number,
  out: Uint8Array,
  at: number,
): number {
  let slot = 0;
  while (slot < RADIX) {
    if (kinds[RADIX + slot] !== kind) {
      slot++;
      continue;
    }
    let end = slot + 1;
    while (end < RADIX && kinds[RADIX + end] === kind) end++;
    out.set(src.subarray(from + slot * size, from + end * size), at);
    at += (end - slot) * size;
    slot = end;
  }
  return at;
}

/** Writes a mask (0..0xffff) as a canonical MessagePack unsigned integer; returns the offset after it. */
function writeMask(out: Buffer, at: number, mask: number): number {
  if (mask < 0x80) out[at++] = mask;
  else if (mask < 0x100) {
    out[at++] = 0xcc;
    out[at++] = mask;
  } else {
    out[at++] = 0xcd;
    out.writeUInt16BE(mask, at);
    at += 2;
  }
  return at;
}

/** Writes the fixarray header and `birth` (always int64, as the canonical encoder writes a bigint). */
function writeHead(out: Buffer, fields: number, kind: number, birth: bigint): number {
  out[0] = 0x90 | fields;
  out[1] = 0xd3;
  out.writeBigInt64BE(birth, 2);
  out[10] = kind;
  return 11;
}

/**
 * The stored bytes of a node: exactly what packages/codec/canonical.ts's `encode` gives for the
 * layouts in the header comment (a test compares the two on random nodes), written directly,
 * since the layouts are fixed and every node of every block goes through here.
 */
export function encodeNode(node: TreeNode, birth: bigint): Uint8Array {
  if (node.kind === LEAF) {
    const { key, value } = node;
    const size = 11 + binHeaderBytes(key.length) + key.length + 2 + HASH_BYTES + binHeaderBytes(value.length);
    const out = Buffer.allocUnsafe(size + value.length);
    let at = writeHead(out, 5, LEAF, birth);
    at = writeBin(out, at, key);
    at = writeBin(out, at, node.valueHash);
    writeBin(out, at, value);
    return out;
  }
  const { kinds, hashes, leaves } = node;
  let childMask = 0;
  let leafMask = 0;
  let internals = 0;
  let leafCount = 0;
  for (let slot = 0; slot < RADIX; slot++) {
    const kind = kinds[RADIX + slot];
    if (kind === EMPTY) continue;
    childMask |= 1 << slot;
    if (kind === LEAF) {
      leafMask |= 1 << slot;
      leafCount++;
    } else internals++;
  }
  const nodeBytes = internals * HASH_BYTES;
  const leafBytes = leafCount * LEAF_BYTES;
  const maskBytes = (mask: number) => (mask < 0x80 ? 1 : mask < 0x100 ? 2 : 3);
  const out = Buffer.allocUnsafe(
    11 +
      maskBytes(childMask) +
      maskBytes(leafMask) +
      binHeaderBytes(nodeBytes) +
      nodeBytes +
      binHeaderBytes(leafBytes) +
      leafBytes,
  );
  let at = writeHead(out, 6, INTERNAL, birth);
  at = writeMask(out, at, childMask);
  at = writeMask(out, at, leafMask);
  at = writeBinHeader(out, at, nodeBytes);
  at = copySlots(kinds, INTERNAL, hashes, RADIX * HASH_BYTES, HASH_BYTES, out, at);
  at = writeBinHeader(out, at, leafBytes);
  copySlots(kinds, LEAF, leaves, 0, LEAF_BYTES, out, at);
  return out;
}

function corrupt(hash: Uint8Array, why: string): CareLedgerError {
  return new CareLedgerError('STATE_CORRUPT', `state node ${toHex(hash)} is corrupt: ${why}`);
}

function decodeInternal(hash: Uint8Array, fields: readonly Canonical[]): InternalNode {
  const [, , childMask, leafMask, nodeHashes, leafHashes] = fields;
  if (
    typeof childMask !== 'number' ||
    typeof leafMask !== 'number' ||
    !(nodeHashes instanceof Uint8Array) ||
    !(leafHashes instanceof Uint8Array)
  ) {
    throw corrupt(hash, 'bad internal node');
  }
  if (childMask < 1 || childMask > 0xffff || leafMask < 0 || (leafMask & ~childMask) !== 0) {
    throw corrupt(hash, 'bad child masks');
  }
  const children: Ref[] = [];
  let nodeAt = 0;
  let leafAt = 0;
  for (let slot = 0; slot < RADIX; slot++) {
    const bit = 1 << slot;
    if ((childMask & bit) === 0) {
      children.push(EMPTY_REF);
    } else if ((leafMask & bit) !== 0) {
      if (leafAt + LEAF_BYTES > leafHashes.length) throw corrupt(hash, 'leaf hashes too short');
      const keyHash = leafHashes.subarray(leafAt, leafAt + HASH_BYTES);
      children.push(leafRef(keyHash, leafHashes.subarray(leafAt + HASH_BYTES, leafAt + LEAF_BYTES)));
      leafAt += LEAF_BYTES;
    } else {
      if (nodeAt + HASH_BYTES > nodeHashes.length) throw corrupt(hash, 'child hashes too short');
      children.push({ kind: INTERNAL, hash: nodeHashes.subarray(nodeAt, nodeAt + HASH_BYTES) });
      nodeAt += HASH_BYTES;
    }
  }
  if (nodeAt !== nodeHashes.length || leafAt !== leafHashes.length)
    throw corrupt(hash, 'child hashes too long');
  const { node } = makeInternal(children);
  if (node === null) throw corrupt(hash, 'an internal node needs two keys below it');
  return node;
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
    if (!(valueHash instanceof Uint8Array) || valueHash.length !== HASH_BYTES) {
      throw corrupt(hash, 'bad leaf');
    }
    // The node's hash covers the value only through valueHash: check the value against it.
    if (Buffer.compare(valueHashOf(value), valueHash) !== 0)
      throw corrupt(hash, 'value does not match its hash');
    node = makeLeaf(key, keyHashOf(key), value, valueHash);
  } else if (fields[1] === INTERNAL && fields.length === 6) {
    node = decodeInternal(hash, fields);
  } else {
    throw corrupt(hash, 'unknown node kind');
  }
  if (Buffer.compare(node.hash, hash) !== 0) throw corrupt(hash, 'content does not match its hash');
  return { node, birth };
}

/**
 * The birth version of a stored node, read from the front of its bytes (a fixarray of 5 or 6 whose
 * first element is an int64) without decoding the rest; anything else is decoded in full.
 */
export function birthOf(hash: Uint8Array, bytes: Uint8Array): bigint {
  if (bytes.length >= 10 && (bytes[0] === 0x95 || bytes[0] === 0x96) && bytes[1] === 0xd3) {
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigInt64(2);
  }
  return decodeNode(hash, bytes).birth;
}

/** Rough memory cost of a decoded node, for the cache's byte budget. */
function costOf(node: TreeNode): number {
  return node.kind === LEAF ? 300 + node.key.length + node.value.length : 2000;
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
