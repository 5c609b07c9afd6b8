/**
 * The state tree's hashing rules and proofs, without a database: golden vectors (an accidental
 * change of a rule fails loudly), a root worked out by hand from the rules, proofs built by hand
 * and checked, and a strict decoder that refuses garbage, truncation, oversized input and every
 * second encoding of a proof.
 */
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encode } from '../../../packages/codec/canonical.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { seededRandom } from '../../../packages/core/seeded-random.ts';
import { sha256, toHex } from '../../../packages/crypto/hash.ts';
import {
  commonPrefixBits,
  emptyHash,
  internalHash,
  internalHashInto,
  keyHashOf,
  leafHash,
  pathBit,
  valueHashOf,
} from '../../../packages/merkle/hash.ts';
import {
  decodeProof,
  emptyRoot,
  encodeProof,
  MAX_PROOF_BYTES,
  type MerkleProof,
  verifyMembership,
  verifyNonMembership,
  verifyProof,
} from '../../../packages/merkle/proof.ts';
import { rootOfEntries } from '../../../packages/merkle/reference.ts';

const utf8 = new TextEncoder();
const b = (s: string) => utf8.encode(s);
const leafOf = (k: string, v: string) => leafHash(keyHashOf(b(k)), valueHashOf(b(v)));

/** `fn` must throw a CareLedgerError with `code`; `why` names the case in a failure message. */
function throwsCode(fn: () => unknown, code: string, why = ''): void {
  const label = why === '' ? '' : `${why}: `;
  try {
    fn();
  } catch (err) {
    assert.instance(err, CareLedgerError, `${label}not a CareLedgerError`);
    assert.is((err as CareLedgerError).code, code, `${label}${(err as Error).message}`);
    return;
  }
  assert.unreachable(`${label}expected ${code}`);
}

test('golden vectors of the hashing rules and the proof encoding', () => {
  assert.is(toHex(emptyRoot()), '7823f63912c3075756b2aff843e13a79dfaf7dc2f48154ac183111db565aa2f0');
  assert.is(toHex(leafOf('a', '1')), 'a5b5573761abd402ba51c6e08d2256989df37ee152285bc3e5b0798a10e78075');
  assert.is(
    toHex(internalHash(emptyHash(), emptyHash())),
    'bfe125f008228184d85e51208c2f53d526fc1d20f08da8ac6b5d829fc1a852c3',
  );
  const abc = rootOfEntries([
    [b('a'), b('1')],
    [b('b'), b('2')],
    [b('c'), b('3')],
  ]);
  assert.is(toHex(abc), '96ae7b44af0eb6f76f0aa727b3581e04fa7073fcad4fafde0e5ad86aadd46ca8');
  const proof: MerkleProof = {
    siblings: [emptyHash(), keyHashOf(b('x'))],
    leaf: { keyHash: keyHashOf(b('a')), valueHash: valueHashOf(b('1')) },
  };
  assert.is(
    toHex(encodeProof(proof)),
    '930192c400c4202d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a488192c420ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bbc4206b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b',
  );
});

test('the root of a small tree follows the rules by hand: leaf compression, empty siblings', () => {
  // Paths: a = 0xca.. (1...), b = 0x3e.. (0011...), c = 0x2e.. (0010...): b and c part at bit 3.
  assert.is(pathBit(keyHashOf(b('a')), 0), 1);
  assert.is(commonPrefixBits(keyHashOf(b('b')), keyHashOf(b('c'))), 3);
  const bc = internalHash(leafOf('c', '3'), leafOf('b', '2'));
  const left = internalHash(internalHash(emptyHash(), bc), emptyHash());
  const expected = internalHash(left, leafOf('a', '1'));
  const entries: [Uint8Array, Uint8Array][] = [
    [b('c'), b('3')],
    [b('a'), b('1')],
    [b('b'), b('2')],
  ];
  assert.equal(rootOfEntries(entries), expected);
  assert.equal(rootOfEntries([[b('a'), b('1')]]), leafOf('a', '1'), 'one key: the root is its leaf');
  assert.equal(rootOfEntries([]), emptyRoot());
  throwsCode(
    () =>
      rootOfEntries([
        [b('a'), b('1')],
        [b('a'), b('2')],
      ]),
    'MERKLE_DUPLICATE_KEY',
  );

  // Proofs by hand in that tree.
  const proofA: MerkleProof = {
    siblings: [left],
    leaf: { keyHash: keyHashOf(b('a')), valueHash: valueHashOf(b('1')) },
  };
  assert.ok(verifyMembership(expected, b('a'), b('1'), proofA));
  assert.ok(verifyProof(expected, b('a'), b('1'), proofA));
  const proofB: MerkleProof = {
    siblings: [leafOf('a', '1'), emptyHash(), emptyHash(), leafOf('c', '3')],
    leaf: { keyHash: keyHashOf(b('b')), valueHash: valueHashOf(b('2')) },
  };
  assert.ok(verifyMembership(expected, b('b'), b('2'), proofB));
  assert.not.ok(verifyMembership(expected, b('b'), b('3'), proofB), 'another value');
  assert.not.ok(verifyNonMembership(expected, b('b'), proofB), 'a member is not absent');
  // An absent key whose path starts with bit 1 ends at a's leaf: non-membership with that leaf.
  let absent = '';
  for (let i = 0; absent === ''; i++) if (pathBit(keyHashOf(b(`z${i}`)), 0) === 1) absent = `z${i}`;
  const proofAbsent: MerkleProof = { siblings: [left], leaf: proofA.leaf };
  assert.ok(verifyNonMembership(expected, b(absent), proofAbsent));
  assert.ok(verifyProof(expected, b(absent), null, proofAbsent));
  assert.not.ok(verifyMembership(expected, b(absent), b('1'), proofAbsent));
});

test('internalHashInto computes internalHash in place', () => {
  const buf = new Uint8Array(96);
  buf.set(leafOf('a', '1'), 0);
  buf.set(leafOf('b', '2'), 32);
  internalHashInto(buf, 0, 32, 64);
  assert.is(toHex(buf.subarray(64)), toHex(internalHash(leafOf('a', '1'), leafOf('b', '2'))));
});

test('leafHash, internalHashInto, keyHashOf and valueHashOf equal the rules over node:crypto on seeded random hashes', () => {
  const seed = 4242;
  const random = seededRandom(seed);
  const hashOf = () => Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256));
  const leafTag = utf8.encode('careledger/smt/v1/leaf');
  const nodeTag = utf8.encode('careledger/smt/v1/node');
  for (let i = 0; i < 500; i++) {
    const [k, v] = [hashOf(), hashOf()];
    assert.is(
      toHex(leafHash(k, v)),
      toHex(createHash('sha256').update(leafTag).update(k).update(v).digest()),
      `seed ${seed}`,
    );
    // Three hashes at random, distinct 32-byte slots of a larger buffer.
    const buf = Uint8Array.from({ length: 8 * 32 }, () => Math.floor(random() * 256));
    const slots = [0, 1, 2, 3, 4, 5, 6, 7];
    for (let j = slots.length - 1; j > 0; j--) {
      const o = Math.floor(random() * (j + 1));
      [slots[j], slots[o]] = [slots[o]!, slots[j]!];
    }
    const [l, r, out] = slots.map((slot) => slot * 32) as [number, number, number];
    const expected = createHash('sha256')
      .update(nodeTag)
      .update(buf.subarray(l, l + 32))
      .update(buf.subarray(r, r + 32))
      .digest();
    const before = buf.slice();
    internalHashInto(buf, l, r, out);
    assert.is(toHex(buf.subarray(out, out + 32)), toHex(expected), `seed ${seed}`);
    before.set(expected, out);
    assert.is(toHex(buf), toHex(before), 'only the output slot changes');
  }
  // keyHashOf and valueHashOf: libsodium up to 256 bytes, node:crypto above; the same hash for every length.
  for (let length = 0; length <= 600; length++) {
    const input = Uint8Array.from({ length }, () => Math.floor(random() * 256));
    const expected = toHex(createHash('sha256').update(input).digest());
    assert.is(toHex(keyHashOf(input)), expected, `length ${length}, seed ${seed}`);
    assert.is(toHex(valueHashOf(input.subarray(0))), expected, `length ${length}, seed ${seed}`);
  }
});

test('leafHash, keyHashOf and valueHashOf (one-shot, over a reused buffer) hash the bytes the rules say', () => {
  const tag = utf8.encode('careledger/smt/v1/leaf');
  const k1 = sha256(b('key 1'));
  const v1 = sha256(b('value 1'));
  const k2 = sha256(b('key 2'));
  const v2 = sha256(b('value 2'));
  const first = leafHash(k1, v1);
  // A second call reuses the scratch buffer: the first result must not change with it.
  const second = leafHash(k2, v2);
  assert.is(toHex(first), toHex(sha256(tag, k1, v1)));
  assert.is(toHex(second), toHex(sha256(tag, k2, v2)));
  // Inputs of another length (a malformed proof's leaf) are hashed as they come, not padded.
  const short = k1.subarray(0, 31);
  assert.is(toHex(leafHash(short, v1)), toHex(sha256(tag, short, v1)));
  assert.is(toHex(leafHash(k1, new Uint8Array(0))), toHex(sha256(tag, k1)));
  assert.is(toHex(keyHashOf(b('key 1'))), toHex(k1));
  assert.is(toHex(valueHashOf(new Uint8Array(0))), toHex(sha256(new Uint8Array(0))));
});

test('a proof survives encode and decode; empty siblings travel as zero bytes', () => {
  const proofs: MerkleProof[] = [
    { siblings: [], leaf: null },
    { siblings: [emptyHash(), leafOf('q', 'r')], leaf: null },
    {
      siblings: Array.from({ length: 256 }, (_, i) => (i % 3 === 0 ? emptyHash() : keyHashOf(b(`s${i}`)))),
      leaf: { keyHash: keyHashOf(b('k')), valueHash: valueHashOf(b('v')) },
    },
  ];
  for (const p of proofs) {
    const bytes = encodeProof(p);
    assert.ok(bytes.length <= MAX_PROOF_BYTES);
    const back = decodeProof(bytes);
    assert.equal(back.siblings, p.siblings);
    assert.equal(back.leaf, p.leaf);
    assert.equal(encodeProof(back), bytes);
  }
  const withEmpty = encodeProof({ siblings: [emptyHash()], leaf: null });
  assert.is(toHex(withEmpty), '930191c400c0', '[1, [<0 bytes>], nil]');
});

test('decodeProof refuses garbage, truncation, oversized input and non-canonical forms', () => {
  const good = encodeProof({
    siblings: [leafOf('x', '1'), emptyHash(), leafOf('y', '2')],
    leaf: { keyHash: keyHashOf(b('k')), valueHash: valueHashOf(b('v')) },
  });
  for (let n = 0; n < good.length; n++)
    throwsCode(() => decodeProof(good.subarray(0, n)), 'MERKLE_PROOF_MALFORMED');
  throwsCode(() => decodeProof(Uint8Array.of(...good, 0)), 'MERKLE_PROOF_MALFORMED');
  throwsCode(() => decodeProof(b('not a proof at all')), 'MERKLE_PROOF_MALFORMED');
  throwsCode(() => decodeProof(Uint8Array.of(0xc1)), 'MERKLE_PROOF_MALFORMED');
  throwsCode(() => decodeProof(new Uint8Array(MAX_PROOF_BYTES + 1)), 'MERKLE_PROOF_TOO_LARGE');
  throwsCode(() => decodeProof('930190c0' as unknown as Uint8Array), 'MERKLE_PROOF_MALFORMED');

  const h = leafOf('x', '1');
  const kv = [keyHashOf(b('k')), valueHashOf(b('v'))];
  const bad: [string, Parameters<typeof encode>[0]][] = [
    ['not a tuple', 'proof'],
    ['wrong format', [2, [h], null]],
    ['extra field', [1, [h], null, null]],
    ['missing field', [1, [h]]],
    ['siblings not a list', [1, h, null]],
    ['257 siblings', [1, Array.from({ length: 257 }, () => h), null]],
    ['short sibling', [1, [h.subarray(0, 31)], null]],
    ['sibling not bytes', [1, ['x'], null]],
    ['empty sibling as its hash', [1, [emptyHash()], null]],
    ['leaf of one hash', [1, [h], [kv[0]!]]],
    ['leaf hash too long', [1, [h], [kv[0]!, new Uint8Array(33)]]],
    ['leaf not a tuple', [1, [h], kv[0]!]],
  ];
  for (const [why, value] of bad) {
    const bytes = encode(value);
    const code = bytes.length > MAX_PROOF_BYTES ? 'MERKLE_PROOF_TOO_LARGE' : 'MERKLE_PROOF_MALFORMED';
    throwsCode(() => decodeProof(bytes), code, why);
  }
});

test('verifiers return false, never throw, on malformed proofs and inputs', () => {
  const root = leafOf('a', '1');
  const proof: MerkleProof = {
    siblings: [],
    leaf: { keyHash: keyHashOf(b('a')), valueHash: valueHashOf(b('1')) },
  };
  assert.ok(verifyMembership(root, b('a'), b('1'), proof));
  const broken: unknown[] = [
    null,
    {},
    { siblings: 'x', leaf: null },
    { siblings: [new Uint8Array(31)], leaf: null },
    { siblings: Array.from({ length: 257 }, () => emptyHash()), leaf: null },
    { siblings: [], leaf: { keyHash: new Uint8Array(32) } },
  ];
  for (const p of broken) {
    assert.not.ok(verifyMembership(root, b('a'), b('1'), p as MerkleProof));
    assert.not.ok(verifyNonMembership(root, b('z'), p as MerkleProof));
  }
  assert.not.ok(verifyMembership(root.subarray(1), b('a'), b('1'), proof), 'a root is 32 bytes');
  assert.throws(
    () => encodeProof({ siblings: [new Uint8Array(3)], leaf: null }),
    (e: unknown) => {
      return e instanceof CareLedgerError && e.code === 'MERKLE_PROOF_MALFORMED';
    },
  );
  // A leaf off the key's path cannot stand at the end of it.
  const other = keyHashOf(b('a'));
  let off = '';
  for (let i = 0; off === ''; i++) if (pathBit(keyHashOf(b(`o${i}`)), 0) !== pathBit(other, 0)) off = `o${i}`;
  const twoLevel = internalHash(root, emptyHash());
  const lying: MerkleProof = { siblings: [emptyHash()], leaf: proof.leaf };
  assert.not.ok(verifyNonMembership(twoLevel, b(off), lying));
});

test.run();
