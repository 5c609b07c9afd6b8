/**
 * packages/crypto/domain.ts: sign bytes are the canonical array [domain tag, chain id, ...fields],
 * byte for byte, so a signature made in one role or on one chain never verifies in another.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../../packages/codec/canonical.ts';
import { SignDomain, signBytes } from '../../../packages/crypto/domain.ts';
import { signMessage, verifySignature } from '../../../packages/crypto/ed25519.ts';
import { CHAIN_ID, hex, KEYS, throwsCode } from './fixtures.ts';

const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');

test('the domain tags are fixed strings (changing one breaks every signature)', () => {
  assert.equal(
    { ...SignDomain },
    {
      tx: 'careledger/tx/v1',
      proposal: 'careledger/proposal/v1',
      vote: 'careledger/vote/v1',
      recordFetch: 'careledger/record-fetch/v1',
      localApi: 'careledger/local-api/v1',
    },
  );
});

test('GOLDEN: tx sign bytes are [tag, chain id, ...fields] in canonical msgpack', () => {
  // A change here is a consensus-breaking encoding change.
  // 93 fixarray(3) | b0 fixstr(16) "careledger/tx/v1" | a1 "c" | d3 int64 1
  const expected = `93b0${ascii('careledger/tx/v1')}a163d30000000000000001`;
  assert.is(hex(signBytes(SignDomain.tx, 'c', [1n])), expected);
  assert.is(hex(signBytes(SignDomain.tx, 'c', [1n])), hex(encode(['careledger/tx/v1', 'c', 1n])));
});

test('sign bytes decode back to the tag, the chain id and the fields in order', () => {
  const fields = [2, 7n, Uint8Array.of(1, 2), 'x', null, true, [1, 2]];
  const decoded = decode(signBytes(SignDomain.vote, CHAIN_ID, fields)) as unknown[];
  assert.is(decoded[0], 'careledger/vote/v1');
  assert.is(decoded[1], CHAIN_ID);
  assert.is(decoded.length, 2 + fields.length);
  assert.is(hex(encode(decoded.slice(2) as never)), hex(encode(fields)));
});

test('another domain or another chain id gives other bytes for the same fields', () => {
  const fields = [1, 2n, Uint8Array.of(3)];
  const all = [
    signBytes(SignDomain.tx, CHAIN_ID, fields),
    signBytes(SignDomain.vote, CHAIN_ID, fields),
    signBytes(SignDomain.proposal, CHAIN_ID, fields),
    signBytes(SignDomain.vote, `${CHAIN_ID}x`, fields),
  ].map(hex);
  assert.is(new Set(all).size, all.length);
});

test('a signature made for one role or chain does not verify for another', () => {
  const key = KEYS[0]!;
  const fields = [5n, 0, Uint8Array.of(9)];
  const sig = signMessage(key.secretKey, signBytes(SignDomain.vote, CHAIN_ID, fields));
  assert.ok(verifySignature(key.publicKey, signBytes(SignDomain.vote, CHAIN_ID, fields), sig));
  assert.not.ok(verifySignature(key.publicKey, signBytes(SignDomain.proposal, CHAIN_ID, fields), sig));
  assert.not.ok(verifySignature(key.publicKey, signBytes(SignDomain.tx, CHAIN_ID, fields), sig));
  assert.not.ok(verifySignature(key.publicKey, signBytes(SignDomain.vote, 'other-chain', fields), sig));
});

test('fields outside the canonical subset are refused', () => {
  throwsCode(() => signBytes(SignDomain.tx, CHAIN_ID, [1.5]), 'CODEC_UNSUPPORTED');
});

test.run();
