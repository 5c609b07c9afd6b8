/**
 * The stored form of state-tree nodes (state/merkle/node.ts): the direct encoder gives exactly the
 * bytes of the canonical encoder (packages/codec/canonical.ts) for the node layouts, on seeded
 * random nodes with every mask form and every bin length form, and what it writes decodes back to
 * the same node.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Canonical, encode } from '../../../packages/codec/canonical.ts';
import { seededRandom } from '../../../packages/core/seeded-random.ts';
import { toHex } from '../../../packages/crypto/hash.ts';
import { keyHashOf, valueHashOf } from '../../../packages/merkle/hash.ts';
import {
  childAt,
  decodeNode,
  EMPTY,
  EMPTY_REF,
  encodeNode,
  INTERNAL,
  type InternalNode,
  LEAF,
  type LeafNode,
  leafRef,
  makeInternal,
  makeLeaf,
  nodeId,
  RADIX,
  type Ref,
} from '../../../state/merkle/node.ts';

/** The node as canonical.ts's `encode` writes it: the layouts of node.ts's header comment. */
function canonicalBytes(node: LeafNode | InternalNode, birth: bigint): Uint8Array {
  if (node.kind === LEAF) return encode([birth, LEAF, node.key, node.valueHash, node.value]);
  let childMask = 0;
  let leafMask = 0;
  const nodeHashes: Uint8Array[] = [];
  const leafHashes: Uint8Array[] = [];
  for (let slot = 0; slot < RADIX; slot++) {
    const child = childAt(node, slot);
    if (child.kind === EMPTY) continue;
    childMask |= 1 << slot;
    if (child.kind === LEAF) {
      leafMask |= 1 << slot;
      leafHashes.push(child.keyHash, child.valueHash);
    } else nodeHashes.push(child.hash);
  }
  const fields: Canonical[] = [birth, INTERNAL, childMask, leafMask];
  return encode([...fields, Buffer.concat(nodeHashes), Buffer.concat(leafHashes)]);
}

const SEED = 20261207;
const random = seededRandom(SEED);
const int = (n: number) => Math.floor(random() * n);
const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
const BIRTHS = [0n, 1n, 127n, 128n, 2n ** 32n, 2n ** 63n - 1n];
const birth = () =>
  random() < 0.5 ? BIRTHS[int(BIRTHS.length)]! : BigInt(int(2 ** 31)) * BigInt(int(2 ** 31));
const LENGTHS = [1, 31, 32, 33, 255, 256, 257, 1023, 1024, 65_535, 65_536, 65_537, 200_000];

function randomInternal(): InternalNode | null {
  // Masks of every width, so every integer form (fixint, uint8, uint16) is written.
  const width = 1 + int(RADIX);
  const mask = int(2 ** RADIX) & ((1 << width) - 1);
  const children: Ref[] = [];
  for (let slot = 0; slot < RADIX; slot++) {
    if ((mask & (1 << slot)) === 0) children.push(EMPTY_REF);
    else if (random() < 0.5) children.push(leafRef(bytes(32), bytes(32)));
    else children.push({ kind: INTERNAL, hash: bytes(32) });
  }
  return makeInternal(children).node;
}

test(`encodeNode gives the canonical encoder's bytes, and decodeNode reads them back (seed ${SEED})`, () => {
  let internals = 0;
  for (let i = 0; i < 3000; i++) {
    const b = birth();
    const node = randomInternal();
    if (node === null) continue;
    internals++;
    const bytesOut = encodeNode(node, b);
    assert.is(toHex(bytesOut), toHex(canonicalBytes(node, b)), `internal node ${i}, seed ${SEED}`);
    const back = decodeNode(node.hash, bytesOut);
    assert.is(back.birth, b);
    assert.is(toHex((back.node as InternalNode).hashes), toHex(node.hashes));
  }
  assert.ok(internals > 2000, `${internals} internal nodes`);
  for (let i = 0; i < 400; i++) {
    const b = birth();
    const key = bytes(random() < 0.3 ? LENGTHS[int(9)]! : 1 + int(64));
    const value = bytes(random() < 0.3 ? LENGTHS[int(LENGTHS.length)]! - 1 : int(300));
    const leaf = makeLeaf(key, keyHashOf(key), value, valueHashOf(value));
    const bytesOut = encodeNode(leaf, b);
    assert.is(toHex(bytesOut), toHex(canonicalBytes(leaf, b)), `leaf ${i}, seed ${SEED}`);
    const back = decodeNode(leaf.hash, bytesOut).node as LeafNode;
    assert.is(toHex(back.value), toHex(value));
  }
});

test(`nodeId is one character per byte: equal for equal hashes, distinct for distinct ones (seed ${SEED})`, () => {
  const seen = new Map<string, string>();
  for (let i = 0; i < 2000; i++) {
    const hash = bytes(32);
    const id = nodeId(hash);
    assert.is(id.length, 32);
    assert.is(id, Buffer.from(hash).toString('latin1'));
    // The same bytes at another offset of another buffer give the same id.
    const elsewhere = new Uint8Array(40);
    elsewhere.set(hash, 5);
    assert.is(nodeId(elsewhere.subarray(5, 37)), id);
    const before = seen.get(id);
    if (before !== undefined) assert.is(before, toHex(hash), 'two hashes share an id');
    seen.set(id, toHex(hash));
  }
  for (let byte = 0; byte < 256; byte++) assert.is(nodeId(Uint8Array.of(byte)).charCodeAt(0), byte);
});

test('encodeNode refuses a birth outside int64, as the canonical encoder does', () => {
  const leaf = makeLeaf(
    Uint8Array.of(1),
    keyHashOf(Uint8Array.of(1)),
    Uint8Array.of(2),
    valueHashOf(Uint8Array.of(2)),
  );
  assert.throws(() => encodeNode(leaf, 2n ** 63n));
  assert.throws(() => encode([2n ** 63n]));
});

test.run();
