/**
 * state/kvstore-app.ts's fast read of an op (`canonicalKvOp`, behind `decodeKvOp`) against the
 * generic strict decode (`decodeKvOpGeneric`): on seeded random valid ops (ASCII and non-ASCII
 * keys up to MAX_KEY_LENGTH, values across the bin 8 / bin 16 boundary up to MAX_VALUE_BYTES)
 * the same op; on seeded random mutations of them, the same value or the same error; and
 * whatever the fast read accepts, the generic decoder accepts with the same op.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encode } from '../../../packages/codec/canonical.ts';
import { seededRandom } from '../../../packages/core/seeded-random.ts';
import {
  canonicalKvOp,
  decodeKvOp,
  decodeKvOpGeneric,
  encodeKvOp,
  type KvOp,
  MAX_KEY_LENGTH,
  MAX_VALUE_BYTES,
} from '../../../state/kvstore-app.ts';
import { checkMutations } from '../packages/fast-path-fixtures.ts';
import { throwsCode } from '../packages/fixtures.ts';

const SEED = 0x6b76_0001;
const KEY_CHARS = ['a', 'Z', '0', '/', '-', ' ', '~', 'é', '漢', '😀'];

function randomKey(rand: () => number): string {
  const lengths = [1, 2, 31, 32, 33, 100, 255, MAX_KEY_LENGTH];
  const length = rand() < 0.5 ? 1 + Math.floor(rand() * 40) : lengths[Math.floor(rand() * lengths.length)]!;
  const ascii = rand() < 0.7;
  let key = '';
  while (key.length < length) {
    const c = KEY_CHARS[Math.floor(rand() * (ascii ? 7 : KEY_CHARS.length))]!;
    if (key.length + c.length > length) break;
    key += c;
  }
  return key.length === 0 ? 'k' : key;
}

function randomOp(rand: () => number): KvOp {
  const key = randomKey(rand);
  if (rand() < 0.2) return { op: 'del', key };
  const sizes = [0, 1, 255, 256, 257, 4096, MAX_VALUE_BYTES - 1, MAX_VALUE_BYTES];
  const size = rand() < 0.6 ? Math.floor(rand() * 400) : sizes[Math.floor(rand() * sizes.length)]!;
  const value = new Uint8Array(size);
  for (let i = 0; i < size; i++) value[i] = Math.floor(rand() * 256);
  return { op: 'set', key, value };
}

test('valid ops: the same op as the generic decode; ASCII keys are read in place', () => {
  const rand = seededRandom(SEED);
  let inPlace = 0;
  for (let i = 0; i < 3000; i++) {
    const op = randomOp(rand);
    const payload = encodeKvOp(op);
    const what = `seed ${SEED}, op ${i}`;
    assert.equal(decodeKvOp(payload), op, what);
    assert.equal(decodeKvOp(payload), decodeKvOpGeneric(payload), what);
    const fast = canonicalKvOp(payload);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range
    if (/^[\x00-\x7f]{1,255}$/.test(op.key)) {
      assert.ok(fast !== null, `${what}: an ASCII key of ${op.key.length} bytes is read in place`);
      inPlace++;
    }
    if (fast !== null) assert.equal(fast, op, what);
  }
  assert.ok(inPlace > 1500, `${inPlace} read in place`);
});

test('mutated ops: the same value or the same error as the generic decode', () => {
  const decoded = checkMutations({
    seed: SEED + 1,
    inputs: 20_000,
    valid: (rand) => encodeKvOp(randomOp(rand)),
    decode: decodeKvOp,
    generic: decodeKvOpGeneric,
    fast: canonicalKvOp,
  });
  assert.ok(decoded > 1000, `${decoded} mutated inputs decoded`);
});

test('non-minimal forms, empty keys and oversized values are refused as before', () => {
  // An empty key: fixstr 0xa0 is left to the generic decoder.
  assert.is(canonicalKvOp(encode(['del', ''])), null);
  throwsCode(() => decodeKvOp(encode(['del', ''])), 'KV_BAD_PAYLOAD');
  // A short key in str 8 form, and a short value in bin 16 form: not canonical.
  const strWide = Uint8Array.from([0x92, 0xa3, 0x64, 0x65, 0x6c, 0xd9, 1, 0x6b]);
  assert.is(canonicalKvOp(strWide), null);
  throwsCode(() => decodeKvOp(strWide), 'CODEC_NON_CANONICAL');
  const binWide = Uint8Array.from([0x93, 0xa3, 0x73, 0x65, 0x74, 0xa1, 0x6b, 0xc5, 0, 1, 7]);
  assert.is(canonicalKvOp(binWide), null);
  throwsCode(() => decodeKvOp(binWide), 'CODEC_NON_CANONICAL');
  const big = encode(['set', 'k', new Uint8Array(MAX_VALUE_BYTES + 1)]);
  assert.is(canonicalKvOp(big), null);
  throwsCode(() => decodeKvOp(big), 'CODEC_SCHEMA');
});

test.run();
