/**
 * Shared fixtures for the tests of packages/ (and the node's): fixed keys, a 4-validator set,
 * signed votes, txs by hash, and `throwsCode` / `rejectsCode`, which check that a call (a
 * promise) fails with one exact CareLedgerError code.
 * Not a test file itself (no `.test.ts`), so the runner does not pick it up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { type KeyPair, keyPairFromSeed, signMessage } from '../../../packages/crypto/ed25519.ts';
import { fromHex, sha256, toHex } from '../../../packages/crypto/hash.ts';
import { makeValidatorSet, newValidator, type ValidatorSet } from '../../../packages/types/validator.ts';
import { type Vote, type VoteType, voteSignBytes } from '../../../packages/types/vote.ts';

export const CHAIN_ID = 'careledger-test-1';

/** Runs `fn`, which must throw a CareLedgerError with exactly `code`; returns the error. */
export function throwsCode(fn: () => unknown, code: string, message?: RegExp): CareLedgerError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  return expectCode(thrown, code, message);
}

/** Awaits `promise`, which must reject with a CareLedgerError with exactly `code`; returns the error. */
export async function rejectsCode(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
): Promise<CareLedgerError> {
  let thrown: unknown;
  try {
    await promise;
  } catch (err) {
    thrown = err;
  }
  return expectCode(thrown, code, message);
}

function expectCode(thrown: unknown, code: string, message?: RegExp): CareLedgerError {
  if (thrown === undefined) assert.unreachable(`expected a CareLedgerError ${code}, but nothing was thrown`);
  if (!(thrown instanceof CareLedgerError)) {
    throw new assert.Assertion({
      message: `expected a CareLedgerError ${code}, got ${String(thrown)}`,
      operator: 'throwsCode',
      actual: thrown,
      expects: code,
      generated: true,
    });
  }
  assert.is(thrown.code, code, `expected code ${code}, got ${thrown.code}: ${thrown.message}`);
  if (message !== undefined) assert.match(thrown.message, message);
  return thrown;
}

export const hex = toHex;
export const unhex = fromHex;

/** A copy as a plain Uint8Array (decoders hand back Buffers; uvu's deep equality compares constructors). */
export function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** A lookup of txs by their sha256, as a node's `localTx`: undefined for a tx it does not hold. */
export function holding(txs: readonly Uint8Array[]): (hash: Uint8Array) => Uint8Array | undefined {
  const byHash = new Map(txs.map((t) => [toHex(sha256(t)), t]));
  return (hash) => byHash.get(toHex(hash));
}

/** Runs `fn` in a fresh temp folder (named after `prefix`), removed afterwards. */
export function inTempDir(prefix: string, fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), `careledger-${prefix}-`));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function filled(length: number, byte: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

/** Validator i (0..3) has the seed of 32 bytes all equal to i + 1. */
export const KEYS: readonly KeyPair[] = [1, 2, 3, 4].map((i) => keyPairFromSeed(filled(32, i)));

/** Four validators of equal power 10, in set order (power desc, then address). */
export const SET: ValidatorSet = makeValidatorSet(KEYS.map((k) => newValidator(k.publicKey, 10n)));

/** The key pair of the validator at `index` in SET. */
export function keyAt(set: ValidatorSet, index: number): KeyPair {
  const v = set.validators[index]!;
  const key = KEYS.find((k) => Buffer.compare(k.publicKey, v.pubKey) === 0);
  if (key === undefined) throw new Error(`no fixture key for validator ${index}`);
  return key;
}

export const BLOCK_A = filled(32, 0xaa);
export const BLOCK_B = filled(32, 0xbb);

/** A vote signed by the validator at `index` of SET. */
export function signedVote(
  index: number,
  fields: { type: VoteType; height: bigint; round: number; blockId: Uint8Array },
  set: ValidatorSet = SET,
  chainId: string = CHAIN_ID,
): Vote {
  const validator = set.validators[index]!;
  const signature = signMessage(keyAt(set, index).secretKey, voteSignBytes(chainId, fields));
  return { ...fields, validatorIndex: index, validatorAddress: validator.address, signature };
}

/** The same bytes with one bit flipped. */
export function flipBit(bytes: Uint8Array, bit = 0): Uint8Array {
  const copy = new Uint8Array(bytes);
  const i = bit >> 3;
  copy[i] = copy[i]! ^ (1 << (bit & 7));
  return copy;
}
