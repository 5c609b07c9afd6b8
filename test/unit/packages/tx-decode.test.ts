/**
 * packages/types/tx.ts's fast read of a tx (`canonicalTxFields`, behind `decodeOwnedTx`) against
 * the generic strict decode (`decodeTx`): on seeded random valid txs (payloads across the bin 8 /
 * bin 16 boundary, nonces up to 2^63 - 1) the same fields, read in place; on seeded random
 * mutations of them, the same value or the same error; and whatever the fast read accepts, the
 * generic decoder accepts with the same fields. The sign bytes taken from a tx's bytes
 * (`txSignBytesOfEncoded`, what `verifyTxBytes` verifies) against `txSignBytes` on seeded random
 * txs and chain ids, and real signatures through `checkTxBytes`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { seededRandom } from '../../../packages/core/seeded-random.ts';
import { keyPairFromSeed } from '../../../packages/crypto/ed25519.ts';
import { sha256 } from '../../../packages/crypto/hash.ts';
import {
  canonicalTxFields,
  checkTxBytes,
  decodeOwnedTx,
  decodeTx,
  encodeTx,
  MAX_TX_BYTES,
  type SignedTx,
  signTx,
  txSignBytes,
  txSignBytesOfEncoded,
  verifyTxBytes,
} from '../../../packages/types/tx.ts';
import { checkMutations } from './fast-path-fixtures.ts';
import { throwsCode } from './fixtures.ts';

const SEED = 0x7e57_0d3c;

function randomBytes(rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

const NONCES = [0n, 1n, 127n, 255n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n];

function randomTx(rand: () => number): SignedTx {
  const sizes = [0, 1, 100, 255, 256, 257, 1000, 65_535 - 200, MAX_TX_BYTES - 200];
  const size = rand() < 0.5 ? Math.floor(rand() * 600) : sizes[Math.floor(rand() * sizes.length)]!;
  const nonce =
    rand() < 0.5
      ? NONCES[Math.floor(rand() * NONCES.length)]!
      : (BigInt(Math.floor(rand() * 2 ** 31)) << 32n) | BigInt(Math.floor(rand() * 2 ** 32));
  return {
    signer: randomBytes(rand, 32),
    nonce,
    payload: randomBytes(rand, Math.min(size, MAX_TX_BYTES - 120)),
    signature: randomBytes(rand, 64),
  };
}

test('valid txs: read in place, the same fields as the generic decode', () => {
  const rand = seededRandom(SEED);
  for (let i = 0; i < 2000; i++) {
    const tx = randomTx(rand);
    const bytes = encodeTx(tx);
    const fields = canonicalTxFields(bytes);
    assert.ok(fields !== null, `seed ${SEED}, tx ${i}: read in place`);
    assert.equal(fields, tx, `seed ${SEED}, tx ${i}`);
    assert.equal(decodeOwnedTx(bytes), decodeTx(bytes), `seed ${SEED}, tx ${i}`);
    // Views into the bytes, not copies.
    assert.is(fields.payload.buffer, bytes.buffer);
    assert.is(fields.signature.buffer, bytes.buffer);
  }
});

test('mutated txs: the same value or the same error as the generic decode', () => {
  const decoded = checkMutations({
    seed: SEED + 1,
    inputs: 20_000,
    valid: (rand) => encodeTx(randomTx(rand)),
    decode: decodeOwnedTx,
    generic: decodeTx,
    fast: canonicalTxFields,
  });
  // Some mutations keep a valid tx (a byte of a key, payload or signature changed).
  assert.ok(decoded > 1000, `${decoded} mutated inputs decoded`);
});

test('non-minimal and out-of-range forms are left to the generic decoder, which refuses them', () => {
  const tx = {
    signer: new Uint8Array(32),
    nonce: 5n,
    payload: new Uint8Array(16).fill(7),
    signature: new Uint8Array(64),
  };
  const bytes = encodeTx(tx);
  // The payload's bin 8 header rewritten as bin 16.
  const at = 3 + 32 + 9;
  const wide = Uint8Array.from([...bytes.subarray(0, at), 0xc5, 0, 16, ...bytes.subarray(at + 2)]);
  assert.is(canonicalTxFields(wide), null);
  throwsCode(() => decodeOwnedTx(wide), 'CODEC_NON_CANONICAL');
  // A nonce with its high bit set is a negative int64.
  const negative = Uint8Array.from(bytes);
  negative[3 + 32 + 1] = 0x80;
  assert.is(canonicalTxFields(negative), null);
  throwsCode(() => decodeOwnedTx(negative), 'CODEC_SCHEMA');
  // Too large: refused before any read.
  throwsCode(() => decodeOwnedTx(new Uint8Array(MAX_TX_BYTES + 1)), 'TX_TOO_LARGE');
});

function randomChainId(rand: () => number): string {
  const chars = ['a', '-', '9', 'é', '漢', '😀'];
  const lengths = [1, 5, 31, 32, 33, 255, 256, 300];
  const length = lengths[Math.floor(rand() * lengths.length)]!;
  let id = '';
  while (id.length < length) id += chars[Math.floor(rand() * (rand() < 0.7 ? 3 : chars.length))]!;
  return id;
}

test('sign bytes from the bytes of a tx: the same bytes as txSignBytes, chain ids changing between calls', () => {
  const rand = seededRandom(SEED + 2);
  const chainIds = Array.from({ length: 8 }, () => randomChainId(rand));
  for (let i = 0; i < 3000; i++) {
    const tx = randomTx(rand);
    const chainId = chainIds[Math.floor(rand() * chainIds.length)]!;
    const bytes = encodeTx(tx);
    // Compared as bytes: txSignBytes returns msgpackr's Buffer, the copy is a Uint8Array.
    const got = txSignBytesOfEncoded(chainId, bytes);
    assert.is(Buffer.compare(got, txSignBytes(chainId, tx)), 0, `seed ${SEED + 2}, tx ${i}`);
  }
});

test('real signatures verify from the bytes, on their chain only', () => {
  const key = keyPairFromSeed(sha256(Uint8Array.of(1, 2, 3)));
  const rand = seededRandom(SEED + 3);
  for (let i = 0; i < 50; i++) {
    const chainId = randomChainId(rand);
    const payload = Uint8Array.from({ length: Math.floor(rand() * 400) }, () => Math.floor(rand() * 256));
    const signed = signTx(chainId, key.secretKey, key.publicKey, BigInt(i), payload);
    assert.equal(checkTxBytes(chainId, signed.bytes), signed);
    const tx = decodeOwnedTx(signed.bytes);
    assert.ok(verifyTxBytes(chainId, signed.bytes, tx));
    assert.not.ok(verifyTxBytes(`${chainId}x`, signed.bytes, tx));
    throwsCode(() => checkTxBytes(`${chainId}x`, signed.bytes), 'TX_BAD_SIGNATURE');
  }
});

test.run();
