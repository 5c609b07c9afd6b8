/**
 * packages/records/local-auth.ts: the local API's auth header verifies only for the chain, method,
 * path and body it was signed for, inside ±2 minutes, with the signer's key; its bytes are the
 * canonical list of the contract (golden); any altered byte is refused; the replay cache refuses
 * a second use, forgets nonces once they are out of the window, and refuses rather than forgets
 * when full. Keys and nonces are fixed bytes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Canonical, decode, encode } from '../../../../packages/codec/canonical.ts';
import { SignDomain } from '../../../../packages/crypto/domain.ts';
import { keyPairFromSeed } from '../../../../packages/crypto/ed25519.ts';
import { sha256 } from '../../../../packages/crypto/hash.ts';
import {
  LOCAL_AUTH_WINDOW_MS,
  LocalAuthReplayCache,
  type LocalAuthTarget,
  signLocalAuth,
  verifyLocalAuth,
} from '../../../../packages/records/local-auth.ts';
import { CHAIN_ID, hex, throwsCode } from '../fixtures.ts';

const key = keyPairFromSeed(new Uint8Array(32).fill(7));
const other = keyPairFromSeed(new Uint8Array(32).fill(8));
const body = sha256(Buffer.from('ciphertext'));
const target: LocalAuthTarget = {
  chainId: CHAIN_ID,
  method: 'PUT',
  path: `/records/blobs/${hex(body)}`,
  bodyHash: body,
};
const T = 1_800_000_000_000;
const nonce = new Uint8Array(16).fill(3);
const header = signLocalAuth({ ...target, key, timeMs: T, nonce });

test('a header verifies for its request and returns the signer, time and nonce', () => {
  const v = verifyLocalAuth(header, { ...target, now: T + 1000 });
  assert.is(hex(v.signerPubKey), hex(key.publicKey));
  assert.is(v.timeMs, T);
  assert.is(hex(v.nonce), hex(nonce));
});

test('GOLDEN: the header is base64 of canonical [tag, chain, method, path, bodyHash, time, nonce, pubkey, signature]', () => {
  const f = decode(Buffer.from(header, 'base64')) as unknown[];
  assert.is(f.length, 9);
  assert.is(f[0], SignDomain.localApi);
  assert.is(f[0], 'careledger/local-api/v1');
  assert.is(f[1], CHAIN_ID);
  assert.is(f[2], 'PUT');
  assert.is(f[3], target.path);
  assert.is(hex(f[4] as Uint8Array), hex(body));
  assert.is(f[5], BigInt(T));
  assert.is(hex(f[6] as Uint8Array), hex(nonce));
  assert.is(hex(f[7] as Uint8Array), hex(key.publicKey));
  assert.is((f[8] as Uint8Array).length, 64);
  // ed25519 signing is deterministic: the same inputs give the same header.
  assert.is(signLocalAuth({ ...target, key, timeMs: T, nonce }), header);
});

test('a missing header is LOCAL_AUTH_REQUIRED', () => {
  throwsCode(() => verifyLocalAuth(undefined, { ...target, now: T }), 'LOCAL_AUTH_REQUIRED');
  throwsCode(() => verifyLocalAuth('', { ...target, now: T }), 'LOCAL_AUTH_REQUIRED');
});

test('another chain, method, path or body is LOCAL_AUTH_INVALID', () => {
  const now = T;
  throwsCode(
    () => verifyLocalAuth(header, { ...target, chainId: 'other', now }),
    'LOCAL_AUTH_INVALID',
    /chain/,
  );
  throwsCode(
    () => verifyLocalAuth(header, { ...target, method: 'GET', now }),
    'LOCAL_AUTH_INVALID',
    /signed for/,
  );
  throwsCode(() => verifyLocalAuth(header, { ...target, path: '/records/fetch', now }), 'LOCAL_AUTH_INVALID');
  throwsCode(
    () => verifyLocalAuth(header, { ...target, bodyHash: sha256(Buffer.from('x')), now }),
    'LOCAL_AUTH_INVALID',
    /body/,
  );
});

test('a time more than 2 minutes from the node clock is LOCAL_AUTH_INVALID; exactly 2 minutes passes', () => {
  verifyLocalAuth(header, { ...target, now: T + LOCAL_AUTH_WINDOW_MS });
  verifyLocalAuth(header, { ...target, now: T - LOCAL_AUTH_WINDOW_MS });
  throwsCode(
    () => verifyLocalAuth(header, { ...target, now: T + LOCAL_AUTH_WINDOW_MS + 1 }),
    'LOCAL_AUTH_INVALID',
    /clock/,
  );
  throwsCode(
    () => verifyLocalAuth(header, { ...target, now: T - LOCAL_AUTH_WINDOW_MS - 1 }),
    'LOCAL_AUTH_INVALID',
    /clock/,
  );
});

test('every single-byte change of the header bytes is refused', () => {
  const bytes = Buffer.from(header, 'base64');
  for (let i = 0; i < bytes.length; i++) {
    const flipped = Buffer.from(bytes);
    flipped[i] = flipped[i]! ^ 0x01;
    throwsCode(
      () => verifyLocalAuth(flipped.toString('base64'), { ...target, now: T }),
      'LOCAL_AUTH_INVALID',
    );
  }
});

test('a signature by another key over the same fields does not verify as this key', () => {
  const forged = decode(
    Buffer.from(signLocalAuth({ ...target, key: other, timeMs: T, nonce }), 'base64'),
  ) as unknown[];
  const mine = decode(Buffer.from(header, 'base64')) as unknown[];
  // Keep my public key, put the other key's signature: refused.
  const mixed = [...mine.slice(0, 8), forged[8]] as Canonical[];
  throwsCode(
    () => verifyLocalAuth(Buffer.from(encode(mixed)).toString('base64'), { ...target, now: T }),
    'LOCAL_AUTH_INVALID',
    /signature/,
  );
});

test('garbage, oversized and non-base64 headers are LOCAL_AUTH_INVALID', () => {
  for (const h of ['not base64!', 'AAAA', 'A'.repeat(5000), Buffer.from('hello').toString('base64')])
    throwsCode(() => verifyLocalAuth(h, { ...target, now: T }), 'LOCAL_AUTH_INVALID');
});

test('signing refuses a bad method, path, body hash or nonce', () => {
  throwsCode(() => signLocalAuth({ ...target, method: 'put', key }), 'LOCAL_AUTH_INVALID');
  throwsCode(() => signLocalAuth({ ...target, path: 'records', key }), 'LOCAL_AUTH_INVALID');
  throwsCode(() => signLocalAuth({ ...target, bodyHash: new Uint8Array(31), key }), 'LOCAL_AUTH_INVALID');
  throwsCode(() => signLocalAuth({ ...target, nonce: new Uint8Array(15), key }), 'LOCAL_AUTH_INVALID');
});

test('without a nonce, two headers differ (random nonce) and both verify', () => {
  const a = signLocalAuth({ ...target, key, timeMs: T });
  const b = signLocalAuth({ ...target, key, timeMs: T });
  assert.is.not(a, b);
  verifyLocalAuth(a, { ...target, now: T });
  verifyLocalAuth(b, { ...target, now: T });
});

test('the replay cache refuses a second use of a nonce (LOCAL_AUTH_REPLAYED), per signer', () => {
  const cache = new LocalAuthReplayCache({ capacity: 10 });
  const v = verifyLocalAuth(header, { ...target, now: T });
  cache.check(v, T);
  throwsCode(() => cache.check(v, T + 1), 'LOCAL_AUTH_REPLAYED');
  // The same nonce from another signer is another request.
  cache.check({ ...v, signerPubKey: other.publicKey }, T + 1);
  assert.is(cache.size, 2);
});

test('the replay cache forgets a nonce once its time is out of the window, never before', () => {
  const cache = new LocalAuthReplayCache({ capacity: 10 });
  const v = { signerPubKey: key.publicKey, nonce, timeMs: T };
  cache.check(v, T);
  throwsCode(() => cache.check(v, T + LOCAL_AUTH_WINDOW_MS), 'LOCAL_AUTH_REPLAYED');
  // Past the window verifyLocalAuth refuses the header anyway, so forgetting it is safe.
  cache.check({ ...v, nonce: new Uint8Array(16).fill(9) }, T + LOCAL_AUTH_WINDOW_MS + 1);
  assert.is(cache.size, 1);
});

test('a full replay cache refuses new nonces (LOCAL_AUTH_BUSY) rather than forget a live one', () => {
  const cache = new LocalAuthReplayCache({ capacity: 2 });
  const at = (n: number, time = T) => ({
    signerPubKey: key.publicKey,
    nonce: new Uint8Array(16).fill(n),
    timeMs: time,
  });
  cache.check(at(1), T);
  cache.check(at(2), T);
  throwsCode(() => cache.check(at(3), T), 'LOCAL_AUTH_BUSY');
  throwsCode(() => cache.check(at(1), T), 'LOCAL_AUTH_REPLAYED');
  // An entry out of order but expired is found and dropped when full.
  const cache2 = new LocalAuthReplayCache({ capacity: 2 });
  cache2.check(at(1, T + 60_000), T);
  cache2.check(at(2, T - 60_000), T);
  cache2.check(at(3, T + 60_000), T + LOCAL_AUTH_WINDOW_MS - 60_000 + 1);
  assert.is(cache2.size, 2);
  throwsCode(() => new LocalAuthReplayCache({ capacity: 0 }), 'CONFIG_INVALID');
});

test.run();
