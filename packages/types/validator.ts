/**
 * Validators and validator sets. A validator's address is the first 20 bytes of the SHA-256 of
 * its public key (as CometBFT). The set is kept sorted by voting power (descending), then address,
 * and a validator's index is its position in that order; votes and commits refer to validators by
 * index. The set hash commits to each validator's key and power, not to its rotating priority.
 */
import { type Canonical, encode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { CareLedgerError } from '../core/errors.ts';
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.ts';
import { equalBytes, merkleRoot, sha256 } from '../crypto/hash.ts';

export const ADDRESS_BYTES = 20;
export const MAX_VALIDATORS = 200;
/**
 * As CometBFT: MaxInt64 / 8, so total power stays far enough below 2^63 that priority arithmetic
 * (validator-set.ts) never clips in practice.
 */
export const MAX_TOTAL_VOTING_POWER: bigint = (2n ** 63n - 1n) / 8n;

export interface Validator {
  readonly address: Uint8Array;
  readonly pubKey: Uint8Array;
  readonly votingPower: bigint;
  readonly proposerPriority: bigint;
}

export interface ValidatorSet {
  readonly validators: readonly Validator[];
  readonly totalVotingPower: bigint;
}

export function addressOf(pubKey: Uint8Array): Uint8Array {
  return sha256(pubKey).subarray(0, ADDRESS_BYTES);
}

/** Go's bytes.Compare: lexicographic on unsigned bytes, a proper prefix sorts first. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** The order of a validator set: voting power descending, then address ascending. */
export function byPowerThenAddress(
  a: Pick<Validator, 'address' | 'votingPower'>,
  b: Pick<Validator, 'address' | 'votingPower'>,
): number {
  if (a.votingPower !== b.votingPower) return a.votingPower > b.votingPower ? -1 : 1;
  return compareBytes(a.address, b.address);
}

/** Builds a validated set from validators in any order. */
export function makeValidatorSet(validators: readonly Validator[]): ValidatorSet {
  if (validators.length === 0 || validators.length > MAX_VALIDATORS) {
    throw new CareLedgerError(
      'VALIDATOR_SET_INVALID',
      `a validator set has 1 to ${MAX_VALIDATORS} validators`,
    );
  }
  let total = 0n;
  const seen = new Set<string>();
  for (const v of validators) {
    if (v.pubKey.length !== PUBLIC_KEY_BYTES || !equalBytes(v.address, addressOf(v.pubKey))) {
      throw new CareLedgerError('VALIDATOR_SET_INVALID', 'validator address does not match its public key');
    }
    if (v.votingPower <= 0n)
      throw new CareLedgerError('VALIDATOR_SET_INVALID', 'voting power must be positive');
    const id = Buffer.from(v.address).toString('hex');
    if (seen.has(id)) throw new CareLedgerError('VALIDATOR_SET_INVALID', `duplicate validator ${id}`);
    seen.add(id);
    total += v.votingPower;
  }
  if (total > MAX_TOTAL_VOTING_POWER)
    throw new CareLedgerError('VALIDATOR_SET_INVALID', 'total voting power too large');
  return { validators: [...validators].sort(byPowerThenAddress), totalVotingPower: total };
}

export function newValidator(pubKey: Uint8Array, votingPower: bigint): Validator {
  return { address: addressOf(pubKey), pubKey, votingPower, proposerPriority: 0n };
}

export function validatorSetHash(set: ValidatorSet): Uint8Array {
  return merkleRoot(set.validators.map((v) => encode([v.pubKey, v.votingPower])));
}

export function indexOfAddress(set: ValidatorSet, address: Uint8Array): number {
  return set.validators.findIndex((v) => equalBytes(v.address, address));
}

/** Voting power strictly above two thirds of the total: exact integer arithmetic, no division. */
export function isTwoThirdsMajority(power: bigint, total: bigint): boolean {
  return power * 3n > total * 2n;
}

/** Voting power strictly above one third: at least one honest validator is among them. */
export function isOneThirdPlus(power: bigint, total: bigint): boolean {
  return power * 3n > total;
}

export function encodeValidatorSetFields(set: ValidatorSet): Canonical {
  return set.validators.map((v) => [v.pubKey, v.votingPower, v.proposerPriority]);
}

export function decodeValidatorSetFields(value: Canonical): ValidatorSet {
  const items = s.list(value, MAX_VALIDATORS, 'validators');
  const validators = items.map((item, i) => {
    const [pubKey, power, priority] = s.tuple(item, 3, `validators[${i}]`);
    const key = s.bytes(pubKey!, `validators[${i}].pubKey`, PUBLIC_KEY_BYTES);
    return {
      address: addressOf(key),
      pubKey: key,
      votingPower: s.u64(power!, `validators[${i}].votingPower`),
      proposerPriority: s.i64(priority!, `validators[${i}].proposerPriority`),
    };
  });
  return makeValidatorSet(validators);
}
