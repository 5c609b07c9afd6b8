/**
 * packages/crypto/verifier-rules.ts: the chain's verifier gives the pinned answer on each of the
 * twelve ed25519-speccheck cases (only case 3 accepted), and so does Node's OpenSSL (the previous
 * verifier: the switch changed no answer); a verifier with other rules (noble's ZIP-215) is
 * caught, naming the cases; and `careledger start` refuses to start, exit 2, before it opens its
 * home when its sodium-native verifier has been replaced by one with other rules.
 */
import { spawnSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { verifySignature, verifyUncached } from '../../../packages/crypto/ed25519.ts';
import {
  assertChainVerifier,
  SPECCHECK_CASES,
  verifierDisagreements,
} from '../../../packages/crypto/verifier-rules.ts';
import { throwsCode, unhex } from './fixtures.ts';

const root = join(import.meta.dirname, '..', '..', '..');

test('the pinned cases are the twelve published ones, and the chain accepts exactly case 3', () => {
  assert.equal(
    SPECCHECK_CASES.map((c) => c.case),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  assert.equal(
    SPECCHECK_CASES.filter((c) => c.accepted).map((c) => c.case),
    [3],
  );
});

for (const c of SPECCHECK_CASES) {
  test(`speccheck case ${c.case} (${c.what}): ${c.accepted ? 'accepted' : 'refused'} by the chain's verifier`, () => {
    const args = [unhex(c.publicKey), unhex(c.message), unhex(c.signature)] as const;
    assert.is(verifyUncached(...args), c.accepted);
    // Through the cached entry point too, twice: a cache hit must give the same answer.
    assert.is(verifySignature(...args), c.accepted);
    assert.is(verifySignature(...args), c.accepted);
  });
}

test("Node's OpenSSL verify answers every case as the chain does (the switch changed no answer)", () => {
  const spki = Buffer.from('302a300506032b6570032100', 'hex');
  const openssl = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
    try {
      const key = createPublicKey({ key: Buffer.concat([spki, publicKey]), format: 'der', type: 'spki' });
      return verify(null, message, key, signature);
    } catch {
      return false;
    }
  };
  assert.equal(verifierDisagreements(openssl), []);
  assertChainVerifier(openssl);
});

test('a verifier with other rules (noble ZIP-215) is caught, naming the cases it answers differently', () => {
  const zip215 = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
    try {
      return ed25519.verify(signature, message, publicKey);
    } catch {
      return false;
    }
  };
  const wrong = verifierDisagreements(zip215).map((c) => c.case);
  assert.ok(wrong.length > 0, 'ZIP-215 accepts small-order cases the chain refuses');
  assert.not.ok(wrong.includes(3), 'both accept case 3');
  const err = throwsCode(() => assertChainVerifier(zip215), 'VERIFIER_RULES_MISMATCH');
  for (const n of wrong) assert.ok(err.message.includes(`case ${n} `), `names case ${n}`);
});

test('a verifier that refuses everything is caught too (case 3 must pass)', () => {
  assert.equal(
    verifierDisagreements(() => false).map((c) => c.case),
    [3],
  );
});

test('careledger start refuses to start (exit 2, VERIFIER_RULES_MISMATCH) with another verifier', () => {
  const run = spawnSync(
    process.execPath,
    [
      '--import',
      join(root, 'test', 'fixtures', 'lenient-verifier.ts'),
      join(root, 'node', 'cli.ts'),
      'start',
      '--home',
      join(root, 'no-such-home-the-check-comes-first'),
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.is(run.status, 2, run.stderr);
  assert.match(run.stderr, /VERIFIER_RULES_MISMATCH/);
  assert.match(run.stderr, /case 0 /);
});

test.run();
