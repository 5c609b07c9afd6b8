/**
 * packages/crypto/ed25519.ts: RFC 8032 section 7.1 TEST 1 and TEST 2 (seed -> public key, signature
 * over the message); verification refuses any flipped bit, malformed keys and non-canonical S, and
 * returns false (never throws) on wrong lengths; OpenSSL's keys and signatures (verified by
 * libsodium) agree with
 * @noble/curves; the consensus verifier refuses a small-order forgery that noble's default
 * (ZIP-215) accepts; seeds of the wrong length are refused with KEY_INVALID.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  generateKeyPair,
  keyPairFromSeed,
  PUBLIC_KEY_BYTES,
  SECRET_KEY_BYTES,
  SIGNATURE_BYTES,
  signerFor,
  signMessage,
  txVerifyId,
  verifySignature,
} from '../../../packages/crypto/ed25519.ts';
import { flipBit, hex, throwsCode, unhex } from './fixtures.ts';

// RFC 8032, section 7.1 "Test Vectors for Ed25519", TEST 1 (empty message) and TEST 2 (one octet).
const RFC8032 = [
  {
    name: 'TEST 1',
    secretKey: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155' +
      '5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2',
    secretKey: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da' +
      '085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

for (const v of RFC8032) {
  test(`RFC 8032 7.1 ${v.name}: seed -> public key, signature, verification`, () => {
    const pair = keyPairFromSeed(unhex(v.secretKey));
    assert.is(hex(pair.publicKey), v.publicKey);
    assert.is(hex(pair.secretKey), v.secretKey);
    assert.is(hex(signMessage(pair.secretKey, unhex(v.message))), v.signature);
    assert.is(hex(signerFor(pair.secretKey)(unhex(v.message))), v.signature);
    assert.ok(verifySignature(unhex(v.publicKey), unhex(v.message), unhex(v.signature)));
  });
}

const pair = keyPairFromSeed(new Uint8Array(32).fill(7));
const message = new TextEncoder().encode('careledger: flip me');
const signature = signMessage(pair.secretKey, message);

test('sizes are those of ed25519', () => {
  assert.is(PUBLIC_KEY_BYTES, 32);
  assert.is(SECRET_KEY_BYTES, 32);
  assert.is(SIGNATURE_BYTES, 64);
  assert.is(pair.publicKey.length, 32);
  assert.is(signature.length, 64);
});

test('verify refuses a flipped bit anywhere in the message', () => {
  assert.ok(verifySignature(pair.publicKey, message, signature));
  for (let bit = 0; bit < message.length * 8; bit += 7) {
    assert.not.ok(verifySignature(pair.publicKey, flipBit(message, bit), signature), `message bit ${bit}`);
  }
});

test('verify refuses a flipped bit anywhere in the signature (R and S)', () => {
  for (let bit = 0; bit < 512; bit += 5) {
    assert.not.ok(verifySignature(pair.publicKey, message, flipBit(signature, bit)), `signature bit ${bit}`);
  }
});

test('verify refuses a flipped bit anywhere in the public key, without throwing', () => {
  for (let bit = 0; bit < 256; bit += 3) {
    assert.not.ok(verifySignature(flipBit(pair.publicKey, bit), message, signature), `key bit ${bit}`);
  }
});

test('verify refuses a signature by another key and over another message', () => {
  const other = keyPairFromSeed(new Uint8Array(32).fill(8));
  assert.not.ok(verifySignature(other.publicKey, message, signature));
  assert.not.ok(verifySignature(pair.publicKey, new Uint8Array(0), signature));
});

test('wrong lengths verify as false and never throw', () => {
  const cases: [Uint8Array, Uint8Array][] = [
    [pair.publicKey.subarray(0, 31), signature],
    [Uint8Array.from([...pair.publicKey, 0]), signature],
    [new Uint8Array(0), signature],
    [pair.publicKey, signature.subarray(0, 63)],
    [pair.publicKey, Uint8Array.from([...signature, 0])],
    [pair.publicKey, new Uint8Array(0)],
    [new Uint8Array(0), new Uint8Array(0)],
  ];
  for (const [key, sig] of cases) {
    let result: boolean | undefined;
    try {
      result = verifySignature(key, message, sig);
    } catch (err) {
      assert.unreachable(`threw for key ${key.length} / signature ${sig.length}: ${String(err)}`);
    }
    assert.is(result, false, `key ${key.length} / signature ${sig.length}`);
  }
});

test('a 32-byte key that is not a curve point verifies as false', () => {
  const notAPoint = new Uint8Array(32);
  notAPoint[0] = 2; // y = 2 has no x on edwards25519
  assert.throws(() => ed25519.Point.fromBytes(notAPoint));
  assert.is(verifySignature(notAPoint, message, signature), false);
});

test('a non-canonical S (S + L) is refused, as RFC 8032 requires', () => {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const s = BigInt(`0x${hex(Uint8Array.from(signature.subarray(32)).reverse())}`);
  const sPlusL = unhex((s + L).toString(16).padStart(64, '0')).reverse();
  const malleated = Uint8Array.from([...signature.subarray(0, 32), ...sPlusL]);
  assert.is.not(hex(malleated), hex(signature));
  assert.not.ok(verifySignature(pair.publicKey, message, malleated));
});

test('the consensus verifier refuses a small-order forgery that noble (ZIP-215) accepts', () => {
  // Public key and R both the identity point, S = 0: "valid" for every message under ZIP-215.
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const forged = Uint8Array.from([...identity, ...new Uint8Array(32)]);
  assert.ok(ed25519.verify(forged, message, identity), 'noble ZIP-215 accepts the forgery');
  assert.not.ok(verifySignature(identity, message, forged));
});

test('property: OpenSSL keys and signatures agree with @noble/curves, both ways', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 200 }),
      (seed, msg) => {
        const keys = keyPairFromSeed(seed);
        const sig = signMessage(keys.secretKey, msg);
        assert.is(hex(keys.publicKey), hex(ed25519.getPublicKey(seed)));
        assert.ok(ed25519.verify(sig, msg, keys.publicKey), 'noble verifies the OpenSSL signature');
        // ed25519 is deterministic: noble signs the very same bytes, and OpenSSL verifies them.
        const nobleSig = ed25519.sign(msg, seed);
        assert.is(hex(nobleSig), hex(sig));
        assert.ok(verifySignature(keys.publicKey, msg, nobleSig));
      },
    ),
    { seed: 42, numRuns: 60 },
  );
});

test('seeds and secret keys of the wrong length are refused with KEY_INVALID', () => {
  for (const length of [0, 31, 33, 64]) {
    throwsCode(() => keyPairFromSeed(new Uint8Array(length)), 'KEY_INVALID');
    throwsCode(() => signMessage(new Uint8Array(length), message), 'KEY_INVALID');
    throwsCode(() => signerFor(new Uint8Array(length)), 'KEY_INVALID');
  }
});

test('keyPairFromSeed copies the seed', () => {
  const seed = new Uint8Array(32).fill(9);
  const keys = keyPairFromSeed(seed);
  seed.fill(0);
  assert.is(hex(keys.secretKey), '09'.repeat(32));
});

test('generateKeyPair gives fresh, working key pairs', () => {
  const one = generateKeyPair();
  const two = generateKeyPair();
  assert.is.not(hex(one.secretKey), hex(two.secretKey));
  assert.is(hex(keyPairFromSeed(one.secretKey).publicKey), hex(one.publicKey));
  assert.ok(verifySignature(one.publicKey, message, signMessage(one.secretKey, message)));
  assert.not.ok(verifySignature(two.publicKey, message, signMessage(one.secretKey, message)));
});

test('a caller-supplied cache id: verifies as usual, then answers from the cache by that id alone', () => {
  const pair = keyPairFromSeed(unhex('11'.repeat(32)));
  const message = new TextEncoder().encode('cache id test');
  const signature = signMessage(pair.secretKey, message);
  const id = `test:${hex(signature)}`;
  const bad = flipBit(signature, 3);
  // A failure is not remembered under its id.
  assert.not.ok(verifySignature(pair.publicKey, message, bad, `test:bad:${hex(signature)}`));
  assert.not.ok(verifySignature(pair.publicKey, message, bad, `test:bad:${hex(signature)}`));
  assert.ok(verifySignature(pair.publicKey, message, signature, id));
  // The id is trusted to bind key, signature and message (which is why it must be such a hash):
  // the same id answers without looking at them again.
  assert.ok(verifySignature(pair.publicKey, message, bad, id));
  assert.not.ok(verifySignature(pair.publicKey, message, bad), 'the built-in id still checks');
  // Wrong lengths stay false, and an id that could collide with the built-in ones is refused.
  assert.not.ok(verifySignature(pair.publicKey.subarray(1), message, signature, id));
  throwsCode(
    () => verifySignature(pair.publicKey, message, signature, 'no-colon'),
    'CRYPTO_ARGUMENT_INVALID',
  );
  const hash = unhex('ab'.repeat(32));
  assert.is(txVerifyId('chain-a', hash), `tx:chain-a:${'ab'.repeat(32)}`);
  assert.is.not(txVerifyId('chain-a', hash), txVerifyId('chain-b', hash));
});

test.run();
