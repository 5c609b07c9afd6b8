/**
 * packages/crypto/hash.ts: SHA-256 against FIPS 180-2 vectors; the Merkle root against the published
 * vectors of CometBFT (crypto/merkle/tree_test.go, TestHashFromByteSlices) and of RFC 6962 /
 * Certificate Transparency (transparency-dev/merkle testonly/constants.go, RootHashes), against
 * trees built by hand for 2, 3 and 5 leaves, and against an independent implementation of RFC 6962
 * section 2.1 for every size up to 70; leaf/inner domain separation; the hex helpers.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  equalBytes,
  fromHex,
  HASH_BYTES,
  innerHash,
  leafHash,
  merkleAunts,
  merkleProver,
  merkleRoot,
  merkleRootFromAunts,
  sha256,
  toHex,
} from '../../../packages/crypto/hash.ts';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const enc = new TextEncoder();

/** SHA-256 straight from node:crypto over the concatenation, independent of the module. */
function h(...parts: Uint8Array[]): Uint8Array {
  return createHash('sha256').update(Buffer.concat(parts)).digest();
}
const L = (item: Uint8Array) => h(Uint8Array.of(0), item);
const N = (left: Uint8Array, right: Uint8Array) => h(Uint8Array.of(1), left, right);

test('sha256: FIPS 180-2 vectors', () => {
  assert.is(toHex(sha256()), EMPTY_SHA256);
  assert.is(toHex(sha256(new Uint8Array(0))), EMPTY_SHA256);
  assert.is(
    toHex(sha256(enc.encode('abc'))),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  assert.is(
    toHex(sha256(enc.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  );
  assert.is(sha256().length, HASH_BYTES);
});

test('sha256 of several parts is the hash of their concatenation', () => {
  assert.is(toHex(sha256(enc.encode('a'), enc.encode('bc'))), toHex(sha256(enc.encode('abc'))));
});

test('property: sha256 of 1 to 3 parts equals node:crypto over their concatenation, on both sides of the libsodium size limit', () => {
  // Short inputs go through libsodium, long ones through node:crypto, joined parts through a
  // reused buffer: every path must give the same digest, and a result must not change later.
  const part = fc.uint8Array({ maxLength: 300 });
  fc.assert(
    fc.property(fc.array(part, { minLength: 1, maxLength: 3 }), (parts) => {
      const digest = sha256(...parts);
      const again = sha256(...parts.map((p) => p.slice()));
      sha256(new Uint8Array(100).fill(0xaa)); // reuses the scratch and pool behind the first
      assert.is(toHex(digest), toHex(h(...parts)));
      assert.is(toHex(again), toHex(digest));
    }),
    { seed: 1207, numRuns: 2000 },
  );
});

test('leafHash is sha256(0x00 || item), innerHash is sha256(0x01 || left || right)', () => {
  const a = enc.encode('a');
  const b = enc.encode('b');
  assert.is(toHex(leafHash(a)), toHex(L(a)));
  assert.is(toHex(innerHash(a, b)), toHex(N(a, b)));
  assert.is.not(toHex(innerHash(a, b)), toHex(innerHash(b, a)));
  // RFC 6962: the leaf hash of the empty string.
  assert.is(
    toHex(leafHash(new Uint8Array(0))),
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  );
});

test('merkleRoot: the empty list is sha256 of nothing; one item is its leaf hash', () => {
  assert.is(toHex(merkleRoot([])), EMPTY_SHA256);
  const item = enc.encode('only');
  assert.is(toHex(merkleRoot([item])), toHex(h(Uint8Array.of(0), item)));
});

test('merkleRoot: CometBFT TestHashFromByteSlices vectors', () => {
  // github.com/cometbft/cometbft crypto/merkle/tree_test.go
  const cases: [Uint8Array[], string][] = [
    [[], EMPTY_SHA256],
    [[Uint8Array.of(1, 2, 3)], '054edec1d0211f624fed0cbca9d4f9400b0e491c43742af2c5b0abebf0c990d8'],
    [[new Uint8Array(0)], '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'],
    [
      [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6)],
      '82e6cfce00453804379b53962939eaa7906b39904be0813fcadd31b100773c4b',
    ],
    [
      [
        Uint8Array.of(1, 2),
        Uint8Array.of(3, 4),
        Uint8Array.of(5, 6),
        Uint8Array.of(7, 8),
        Uint8Array.of(9, 10),
      ],
      'f326493eceab4f2d9ffbc78c59432a0a005d6ea98392045c74df5d14a113be18',
    ],
  ];
  for (const [items, expected] of cases) assert.is(toHex(merkleRoot(items)), expected);
});

test('merkleRoot: RFC 6962 / Certificate Transparency reference roots for sizes 0 to 8', () => {
  // transparency-dev/merkle testonly/constants.go: LeafInputs() and RootHashes().
  const leaves = [
    '',
    '00',
    '10',
    '2021',
    '3031',
    '40414243',
    '5051525354555657',
    '606162636465666768696a6b6c6d6e6f',
  ].map(fromHex);
  const roots = [
    EMPTY_SHA256,
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];
  for (let size = 0; size <= 8; size++) {
    assert.is(toHex(merkleRoot(leaves.slice(0, size))), roots[size], `tree of ${size}`);
  }
});

const items = ['a', 'b', 'c', 'd', 'e'].map((x) => enc.encode(x));
const [a, b, c, d, e] = items.map(L) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];

test('merkleRoot: 2, 3 and 5 leaves match trees built by hand (split at the largest power of two below n)', () => {
  assert.is(toHex(merkleRoot(items.slice(0, 2))), toHex(N(a, b)));
  // 3 leaves: split 2 | 1, and the odd leaf is promoted, not duplicated (unlike Bitcoin).
  assert.is(toHex(merkleRoot(items.slice(0, 3))), toHex(N(N(a, b), c)));
  assert.is.not(toHex(merkleRoot(items.slice(0, 3))), toHex(N(N(a, b), N(c, c))));
  assert.is(toHex(merkleRoot(items.slice(0, 4))), toHex(N(N(a, b), N(c, d))));
  // 5 leaves: split 4 | 1.
  assert.is(toHex(merkleRoot(items)), toHex(N(N(N(a, b), N(c, d)), e)));
});

test('merkleRoot: order matters and a leaf cannot pass for an inner node', () => {
  assert.is.not(toHex(merkleRoot([items[0]!, items[1]!])), toHex(merkleRoot([items[1]!, items[0]!])));
  // The second-preimage trick: one item equal to the concatenation of two leaf hashes.
  const forged = Buffer.concat([a, b]);
  assert.is.not(toHex(merkleRoot([forged])), toHex(merkleRoot(items.slice(0, 2))));
});

/** RFC 6962 section 2.1 MTH, written from the RFC: k is the largest power of two smaller than n. */
function referenceRoot(list: readonly Uint8Array[]): Uint8Array {
  if (list.length === 0) return h();
  if (list.length === 1) return L(list[0]!);
  let k = 1;
  while (k << 1 < list.length) k <<= 1;
  return N(referenceRoot(list.slice(0, k)), referenceRoot(list.slice(k)));
}

test('merkleRoot agrees with an independent RFC 6962 implementation for every size 0..70', () => {
  const all = Array.from({ length: 70 }, (_, i) => Uint8Array.of(i, i * 3, 255 - i));
  for (let n = 0; n <= 70; n++) {
    assert.is(toHex(merkleRoot(all.slice(0, n))), toHex(referenceRoot(all.slice(0, n))), `size ${n}`);
  }
});

test('property: merkleRoot agrees with the reference on arbitrary lists', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 40 }), (list) => {
      assert.is(toHex(merkleRoot(list)), toHex(referenceRoot(list)));
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('toHex and fromHex round trip; toHex honours a view offset', () => {
  const bytes = Uint8Array.of(0, 1, 0xab, 0xff);
  assert.is(toHex(bytes), '0001abff');
  assert.equal(new Uint8Array(fromHex('0001abff')), bytes);
  assert.equal(new Uint8Array(fromHex('0001ABFF')), bytes);
  assert.is(toHex(bytes.subarray(2)), 'abff');
  assert.is(fromHex('').length, 0);
});

test('fromHex refuses odd lengths and non-hex characters', () => {
  for (const bad of ['0', 'abc', 'zz', '0x00', '00 ', 'g0']) {
    assert.throws(
      () => fromHex(bad),
      (err: unknown) => err instanceof TypeError,
      bad,
    );
  }
});

test('equalBytes compares length and content', () => {
  assert.ok(equalBytes(Uint8Array.of(1, 2), Buffer.from([1, 2])));
  assert.not.ok(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)));
  assert.not.ok(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0)));
  assert.ok(equalBytes(new Uint8Array(0), new Uint8Array(0)));
});

test('inclusion proofs: every leaf of every tree up to 33 leaves proves the root; a changed proof does not', () => {
  for (let n = 1; n <= 33; n++) {
    const items = Array.from({ length: n }, (_, i) => Uint8Array.of(n, i));
    const leaves = items.map(leafHash);
    const root = merkleRoot(items);
    for (let i = 0; i < n; i++) {
      const aunts = merkleAunts(leaves, i);
      assert.ok(equalBytes(merkleRootFromAunts(i, n, leaves[i]!, aunts)!, root), `n=${n} i=${i}`);
      const other = merkleRootFromAunts(i, n, leafHash(Uint8Array.of(255)), aunts);
      assert.ok(other === null || !equalBytes(other, root), `wrong leaf n=${n} i=${i}`);
      if (aunts.length > 0) {
        const bent = aunts.map((a, j) => (j === 0 ? innerHash(a, a) : a));
        assert.not.ok(equalBytes(merkleRootFromAunts(i, n, leaves[i]!, bent)!, root), `bent n=${n} i=${i}`);
        assert.is(merkleRootFromAunts(i, n, leaves[i]!, aunts.slice(1)), null, `short n=${n} i=${i}`);
      }
    }
    assert.is(merkleRootFromAunts(n, n, leaves[0]!, merkleAunts(leaves, 0)), null, 'index past the end');
    // One prover for many leaves (its subtree roots remembered) gives the same proofs, in any order.
    const prove = merkleProver(leaves);
    for (const i of [...Array(n).keys()].reverse().concat([...Array(n).keys()])) {
      assert.equal(prove(i).map(toHex), merkleAunts(leaves, i).map(toHex), `prover n=${n} i=${i}`);
    }
  }
});

test.run();
