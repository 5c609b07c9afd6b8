/**
 * packages/records/key-wrap.ts and key-material.ts: a record's data key and salt, HPKE-wrapped
 * for a member, open only with that member's private key and only for the chain, record and
 * release they were wrapped for; any single bit flip in the wrapped key (version, enc or
 * ciphertext) is refused; the whole path encrypt → wrap → unwrap → decrypt round-trips.
 * Seeded (fast-check prints the seed of a failure); key pairs derive from fixed bytes.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hasCode } from '../../../../packages/core/errors.ts';
import { recordCommitment } from '../../../../packages/health/tx.ts';
import { decryptRecord, encryptRecord } from '../../../../packages/records/envelope.ts';
import {
  decodeKeyMaterial,
  encodeKeyMaterial,
  generateDataKey,
} from '../../../../packages/records/key-material.ts';
import {
  checkRecordPublicKey,
  deriveRecordKeyPair,
  generateRecordKeyPair,
  recordPublicKeyOf,
  unwrapRecordKey,
  type WrapContext,
  wrapRecordKey,
} from '../../../../packages/records/key-wrap.ts';

const FC = { seed: 20261207, numRuns: 60 } as const;
const ctx: WrapContext = {
  chainId: 'careledger-test',
  recordId: `r${'ab'.repeat(16)}`,
  releaseId: new Uint8Array(32).fill(5),
};
const alice = await deriveRecordKeyPair(new Uint8Array(32).fill(1));
const bob = await deriveRecordKeyPair(new Uint8Array(32).fill(2));
const material = { dataKey: new Uint8Array(32).fill(0xd1), salt: new Uint8Array(24).fill(0x5a) };

async function refusal(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => null,
    (e: unknown) => e,
  );
}

test('key pairs are raw 32-byte X25519 keys; derivation is deterministic', async () => {
  const fresh = await generateRecordKeyPair();
  assert.is(fresh.publicKey.length, 32);
  assert.is(fresh.privateKey.length, 32);
  assert.equal(await deriveRecordKeyPair(new Uint8Array(32).fill(1)), alice);
  // The public key follows from the private one (RFC 7748), as HPKE computes it.
  assert.equal(recordPublicKeyOf(fresh.privateKey), fresh.publicKey);
  assert.equal(recordPublicKeyOf(alice.privateKey), alice.publicKey);
  assert.not.equal(alice.publicKey, bob.publicKey);
  await checkRecordPublicKey(alice.publicKey);
  assert.ok(hasCode(await refusal(checkRecordPublicKey(new Uint8Array(31))), 'RECORD_INPUT_INVALID'));
});

test('encrypt → wrap → unwrap → decrypt round-trips, and the salt checks the commitment', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 2000 }),
      fc.uint8Array({ minLength: 16, maxLength: 64 }),
      async (plaintext, salt) => {
        const dataKey = generateDataKey();
        const envelope = encryptRecord(plaintext, dataKey);
        const commitment = recordCommitment(salt, plaintext);
        const wrapped = await wrapRecordKey(alice.publicKey, { dataKey, salt }, ctx);
        const opened = await unwrapRecordKey(alice.privateKey, wrapped, ctx);
        assert.equal(opened, { dataKey, salt });
        const back = decryptRecord(envelope, opened.dataKey);
        assert.equal(back, plaintext);
        assert.equal(recordCommitment(opened.salt, back), commitment);
      },
    ),
    FC,
  );
});

test('another recipient cannot unwrap', async () => {
  const wrapped = await wrapRecordKey(alice.publicKey, material, ctx);
  const err = await refusal(unwrapRecordKey(bob.privateKey, wrapped, ctx));
  assert.ok(hasCode(err, 'RECORD_KEY_UNWRAP_FAILED'), String(err));
});

test('a wrapped key does not open for another chain, record or release', async () => {
  const wrapped = await wrapRecordKey(alice.publicKey, material, ctx);
  const others: WrapContext[] = [
    { ...ctx, chainId: 'careledger-other' },
    { ...ctx, recordId: `r${'ac'.repeat(16)}` },
    { ...ctx, releaseId: new Uint8Array(32).fill(6) },
  ];
  for (const other of others) {
    const err = await refusal(unwrapRecordKey(alice.privateKey, wrapped, other));
    assert.ok(hasCode(err, 'RECORD_KEY_UNWRAP_FAILED'), JSON.stringify(other));
  }
});

test('any single bit flip in the wrapped key (version, enc, ciphertext, tag) is refused', async () => {
  const wrapped = await wrapRecordKey(alice.publicKey, material, ctx);
  // Every bit, not a sample: the wrapped key is 1 + 32 + 73 + 16 bytes.
  for (let bit = 0; bit < wrapped.length * 8; bit++) {
    const bad = Uint8Array.from(wrapped);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    const err = await refusal(unwrapRecordKey(alice.privateKey, bad, ctx));
    assert.ok(
      hasCode(err, 'RECORD_KEY_UNWRAP_FAILED') || hasCode(err, 'RECORD_FORMAT_INVALID'),
      `bit ${bit}: ${String(err)}`,
    );
  }
});

test('a truncated or extended wrapped key is refused as malformed', async () => {
  const wrapped = await wrapRecordKey(alice.publicKey, material, ctx);
  for (const bad of [wrapped.subarray(0, 40), new Uint8Array([...wrapped, ...new Uint8Array(64)])]) {
    assert.ok(hasCode(await refusal(unwrapRecordKey(alice.privateKey, bad, ctx)), 'RECORD_FORMAT_INVALID'));
  }
  const shorter = wrapped.subarray(0, wrapped.length - 1);
  const err = await refusal(unwrapRecordKey(alice.privateKey, shorter, ctx));
  assert.ok(hasCode(err, 'RECORD_KEY_UNWRAP_FAILED') || hasCode(err, 'RECORD_FORMAT_INVALID'));
});

test('bad inputs are refused with RECORD_INPUT_INVALID', async () => {
  const bad: [string, () => Promise<unknown>][] = [
    ['short public key', () => wrapRecordKey(new Uint8Array(31), material, ctx)],
    [
      'short data key',
      () => wrapRecordKey(alice.publicKey, { ...material, dataKey: new Uint8Array(31) }, ctx),
    ],
    ['short salt', () => wrapRecordKey(alice.publicKey, { ...material, salt: new Uint8Array(15) }, ctx)],
    ['long salt', () => wrapRecordKey(alice.publicKey, { ...material, salt: new Uint8Array(65) }, ctx)],
    ['empty chain id', () => wrapRecordKey(alice.publicKey, material, { ...ctx, chainId: '' })],
    ['bad record id', () => wrapRecordKey(alice.publicKey, material, { ...ctx, recordId: 'c'.repeat(33) })],
    [
      'short release id',
      () => wrapRecordKey(alice.publicKey, material, { ...ctx, releaseId: new Uint8Array(31) }),
    ],
    ['low-order public key', () => wrapRecordKey(new Uint8Array(32), material, ctx)],
    ['short private key', () => unwrapRecordKey(new Uint8Array(16), new Uint8Array(130), ctx)],
  ];
  for (const [what, call] of bad) {
    const err = await refusal(call());
    assert.ok(hasCode(err, 'RECORD_INPUT_INVALID'), `${what}: ${String(err)}`);
  }
});

test('golden vector: a wrapped key made by this code opens (pins the layout and the info)', async () => {
  // Made once with wrapRecordKey(alice, material, ctx). If this fails, wrapped keys already in
  // flight would no longer open: change WRAP_VERSION or the info domain instead of the format.
  const golden = Buffer.from(
    '01bc86904066d57b54af192a770dcd255a4e35350e2fbe265676cba1894b7e1b54c42668ecb6064d8de5aed9950d03' +
      '3fc673eada2114f9697d0d7e98597f557440e1fa86719b613659aaa992a2e98ca4a0da8a732275d980444058da7d8b' +
      '2dad70d3dcdf9876b8e69465',
    'hex',
  );
  assert.is(
    Buffer.from(alice.publicKey).toString('hex'),
    '41852320ff367495fa522c94cb83af391e4e89018392725bbf2098dd931bc424',
  );
  assert.equal(await unwrapRecordKey(alice.privateKey, new Uint8Array(golden), ctx), material);
});

test('key material encodes as version ‖ key ‖ salt and refuses other shapes', () => {
  const bytes = encodeKeyMaterial(material);
  assert.is(bytes.length, 1 + 32 + 24);
  assert.is(bytes[0], 1);
  assert.equal(decodeKeyMaterial(bytes), material);
  for (const bad of [bytes.subarray(0, 48), Uint8Array.of(2, ...bytes.subarray(1)), new Uint8Array(120)]) {
    assert.throws(
      () => decodeKeyMaterial(bad),
      (e: unknown) => hasCode(e, 'RECORD_FORMAT_INVALID'),
    );
  }
});

test.run();
