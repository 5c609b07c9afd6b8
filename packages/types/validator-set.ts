/**
 * Validator-set arithmetic shared by consensus and the chain state: weighted round-robin proposer
 * rotation, exactly as CometBFT's `types/validator_set.go`
 * (IncrementProposerPriority, RescalePriorities, shiftByAvgProposerPriority,
 * incrementProposerPriority, updateWithChangeSet), so that a CareLedger node and a CometBFT node
 * given the same validators pick the same proposer at every height and round.
 *
 * Pure: no I/O, no clock, no randomness. Functions never mutate their inputs; they return new
 * arrays whose elements are copies made with object spread (`{ ...v, proposerPriority }`), so a
 * caller's richer validator type (with `pubKey`) passes through as long as it is plain data.
 *
 * Integer semantics follow Go's int64, on bigint:
 * - per-validator additions and subtractions clip at the int64 bounds (safeAddClip/safeSubClip);
 * - the average priority is the big.Int `Div` of the exact sum by n: Euclidean, so it rounds
 *   towards minus infinity for a negative sum (Go's `/` and JS bigint `/` would round towards 0);
 * - the rescale ratio `(diff + diffMax - 1) / diffMax` and `priority /= ratio` are int64
 *   operations: truncation towards zero, and wrap-around on overflow, reproduced with
 *   `BigInt.asIntN(64, ·)` (reachable only from priorities that the algorithm itself never makes);
 * - a new validator starts at `-(T + (T >> 3))`, about -1.125 T, where T is the total power after
 *   the updates but before the removals.
 *
 * Proposer: CometBFT's proposer for a set is the validator chosen in the LAST step of the
 * increment that produced the set (`ValidatorSet.Proposer`), not the validator that now has the
 * highest priority (that one has just had the total power subtracted). `rotateProposer` and
 * `newValidatorSet` return it; `proposerIndex` is CometBFT's `findProposer`, the fallback for a
 * set whose proposer is not known.
 *
 * Error codes (CareLedgerError.code):
 * - VALIDATOR_SET_INVALID: a validator set given as input is malformed (empty where a set is
 *   needed, bad address, voting power not in 1..MAX_TOTAL_VOTING_POWER, priority outside int64,
 *   duplicate address, total power above MAX_TOTAL_VOTING_POWER).
 * - PROPOSER_TIMES_INVALID: `times` is not an integer in 1..2^31-1 (CometBFT's int32 > 0).
 * - VALIDATOR_UPDATE_INVALID: a change is malformed (bad address, power not a bigint, negative
 *   power, power above MAX_TOTAL_VOTING_POWER, two changes for one address, a removal where none
 *   is allowed).
 * - VALIDATOR_UPDATE_UNKNOWN: a removal names a validator that is not in the set.
 * - VALIDATOR_SET_EMPTY: the changes would leave the set empty.
 * - VALIDATOR_SET_POWER_OVERFLOW: the changes would raise the total power above the maximum.
 */
import { CareLedgerError } from '../core/errors.ts';
import { toHex as hex } from '../crypto/hash.ts';
import { byPowerThenAddress, compareBytes, MAX_TOTAL_VOTING_POWER, type ValidatorSet } from './validator.ts';

/** What the consensus core needs to start a height: its set and the proposer of round 0. */
export interface HeightStart {
  readonly height: bigint;
  /** The validator set of this height, priorities as at round 0. */
  readonly validators: ValidatorSet;
  /** Index of the proposer of round 0. */
  readonly proposer: number;
}

export interface PriorityValidator {
  readonly address: Uint8Array;
  readonly votingPower: bigint;
  readonly proposerPriority: bigint;
}

/** A set after a rotation: the validators (same order as given) and CometBFT's proposer index. */
export interface ProposerRotation<V extends PriorityValidator> {
  readonly validators: V[];
  /** Index in `validators` of the validator chosen in the last round (CometBFT's `Proposer`). */
  readonly proposer: number;
}

const MAX_INT64 = 2n ** 63n - 1n;
const MIN_INT64 = -(2n ** 63n);
const MAX_TIMES = 2 ** 31 - 1;

/** As CometBFT: priorities are rescaled so that max - min stays within this many total powers. */
export const PRIORITY_WINDOW_SIZE_FACTOR = 2n;

/**
 * As CometBFT's IncrementProposerPriority: returns a NEW array, in the given order, with the
 * priorities advanced `times` rounds. Use `rotateProposer` to also learn who proposes.
 */
export function incrementProposerPriority<V extends PriorityValidator>(
  validators: readonly V[],
  times: number,
): V[] {
  return rotateProposer(validators, times).validators;
}

/**
 * As CometBFT's IncrementProposerPriority followed by GetProposer: the advanced set (NEW array,
 * same order) and the index of the validator chosen in the last of the `times` rounds.
 */
export function rotateProposer<V extends PriorityValidator>(
  validators: readonly V[],
  times: number,
): ProposerRotation<V> {
  const total = checkSet(validators, false);
  if (!Number.isInteger(times) || times < 1 || times > MAX_TIMES) {
    throw new CareLedgerError('PROPOSER_TIMES_INVALID', `times must be an integer from 1 to ${MAX_TIMES}`);
  }
  const powers = validators.map((v) => v.votingPower);
  const addresses = validators.map((v) => v.address);
  const priorities = centered(
    validators.map((v) => v.proposerPriority),
    PRIORITY_WINDOW_SIZE_FACTOR * total,
  );
  let proposer = -1;
  for (let round = 0; round < times; round++) {
    for (let i = 0; i < priorities.length; i++) priorities[i] = clip(priorities[i]! + powers[i]!);
    proposer = indexOfMostPriority(priorities, addresses);
    priorities[proposer] = clip(priorities[proposer]! - total);
  }
  return { validators: withPriorities(validators, priorities), proposer };
}

/**
 * Index of the validator with the highest priority, ties to the lowest address (bytes compare).
 * This is CometBFT's `findProposer`; after an increment, CometBFT's proposer is the one returned
 * by `rotateProposer`, which in general is NOT this one.
 */
export function proposerIndex(validators: readonly PriorityValidator[]): number {
  checkSet(validators, false);
  return indexOfMostPriority(
    validators.map((v) => v.proposerPriority),
    validators.map((v) => v.address),
  );
}

/**
 * As CometBFT's UpdateWithChangeSet. `changes` are validators of the caller's own type: voting
 * power 0 removes the validator with that address, any other power adds it or sets its power
 * (the change's object, e.g. with a new public key, replaces the old one). The `proposerPriority`
 * of a change is ignored: a validator already in the set keeps its priority, a new one gets
 * -(T + T >> 3). Then priorities are rescaled and re-centred, and the result is sorted by voting
 * power descending, then address ascending. With no changes the set is returned unchanged (as a
 * new array), as CometBFT does. `validators` may be empty (a genesis set built from changes).
 * Throws, changing nothing, on an invalid change set.
 */
export function applyValidatorUpdates<V extends PriorityValidator>(
  validators: readonly V[],
  changes: readonly V[],
): V[] {
  return updateWithChangeSet(validators, changes, true);
}

/**
 * As CometBFT's NewValidatorSet: builds a set from validators in any order (every power must be
 * positive, priorities given are ignored) and advances it one round, returning the set sorted by
 * power then address, with its first proposer.
 */
export function newValidatorSet<V extends PriorityValidator>(validators: readonly V[]): ProposerRotation<V> {
  if (validators.length === 0) {
    throw new CareLedgerError('VALIDATOR_SET_EMPTY', 'a validator set needs at least one validator');
  }
  return rotateProposer(updateWithChangeSet([], validators, false), 1);
}

function updateWithChangeSet<V extends PriorityValidator>(
  validators: readonly V[],
  changes: readonly V[],
  allowRemovals: boolean,
): V[] {
  const total = checkSet(validators, true);
  if (!Array.isArray(changes))
    throw new CareLedgerError('VALIDATOR_UPDATE_INVALID', 'changes must be an array');
  if (changes.length === 0) return validators.slice();

  // processChanges: sorted by address, so the first error found is the one CometBFT reports.
  for (const change of changes) checkAddress(change, 'UPDATE');
  const sorted = changes.slice().sort((a, b) => compareBytes(a.address, b.address));
  const updates: V[] = [];
  const removals: V[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const change = sorted[i]!;
    if (i > 0 && compareBytes(change.address, sorted[i - 1]!.address) === 0) {
      throw new CareLedgerError(
        'VALIDATOR_UPDATE_INVALID',
        `two changes for validator ${hex(change.address)}`,
      );
    }
    const power = change.votingPower;
    if (typeof power !== 'bigint') {
      throw new CareLedgerError('VALIDATOR_UPDATE_INVALID', 'a change voting power must be a bigint');
    }
    if (power < 0n) throw new CareLedgerError('VALIDATOR_UPDATE_INVALID', `negative voting power ${power}`);
    if (power > MAX_TOTAL_VOTING_POWER) {
      throw new CareLedgerError(
        'VALIDATOR_UPDATE_INVALID',
        `voting power ${power} is above ${MAX_TOTAL_VOTING_POWER}`,
      );
    }
    if (power === 0n) removals.push(change);
    else updates.push(change);
  }
  if (!allowRemovals && removals.length > 0) {
    throw new CareLedgerError(
      'VALIDATOR_UPDATE_INVALID',
      'a new validator set cannot have validators of power 0',
    );
  }

  const byAddress = new Map<string, V>();
  for (const v of validators) byAddress.set(hex(v.address), v);
  const newCount = updates.filter((u) => !byAddress.has(hex(u.address))).length;
  if (newCount === 0 && validators.length === removals.length) {
    throw new CareLedgerError('VALIDATOR_SET_EMPTY', 'the validator changes would leave the set empty');
  }

  // verifyRemovals
  let removedPower = 0n;
  for (const r of removals) {
    const old = byAddress.get(hex(r.address));
    if (old === undefined) {
      throw new CareLedgerError(
        'VALIDATOR_UPDATE_UNKNOWN',
        `cannot remove unknown validator ${hex(r.address)}`,
      );
    }
    removedPower += old.votingPower;
  }

  // verifyUpdates: apply power decreases first, so no intermediate total exceeds the maximum falsely.
  const deltas = updates
    .map((u) => u.votingPower - (byAddress.get(hex(u.address))?.votingPower ?? 0n))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let afterRemovals = total - removedPower;
  for (const d of deltas) {
    afterRemovals += d;
    if (afterRemovals > MAX_TOTAL_VOTING_POWER) {
      throw new CareLedgerError(
        'VALIDATOR_SET_POWER_OVERFLOW',
        `total voting power would exceed the maximum ${MAX_TOTAL_VOTING_POWER}`,
      );
    }
  }
  const totalBeforeRemovals = afterRemovals + removedPower;

  // computeNewPriorities, applyUpdates, applyRemovals
  const merged = new Map(byAddress);
  for (const u of updates) {
    const key = hex(u.address);
    const old = byAddress.get(key);
    const priority =
      old === undefined ? -(totalBeforeRemovals + (totalBeforeRemovals >> 3n)) : old.proposerPriority;
    merged.set(key, { ...u, proposerPriority: priority });
  }
  for (const r of removals) merged.delete(hex(r.address));

  const next = [...merged.values()];
  const newTotal = next.reduce((sum, v) => sum + v.votingPower, 0n);
  const priorities = centered(
    next.map((v) => v.proposerPriority),
    PRIORITY_WINDOW_SIZE_FACTOR * newTotal,
  );
  return withPriorities(next, priorities).sort(byPowerThenAddress);
}

/** RescalePriorities(diffMax) then shiftByAvgProposerPriority, on a fresh array. */
function centered(priorities: readonly bigint[], diffMax: bigint): bigint[] {
  const out = priorities.slice();
  if (diffMax > 0n) {
    let max = MIN_INT64;
    let min = MAX_INT64;
    for (const p of out) {
      if (p > max) max = p;
      if (p < min) min = p;
    }
    let diff = int64(max - min);
    if (diff < 0n) diff = int64(-diff);
    if (diff > diffMax) {
      // ceil(diff / diffMax), computed as CometBFT does, in int64.
      const ratio = int64(diff + diffMax - 1n) / diffMax;
      for (let i = 0; i < out.length; i++) out[i] = int64(out[i]! / ratio);
    }
  }
  const n = BigInt(out.length);
  const sum = out.reduce((a, p) => a + p, 0n);
  const avg = floorDiv(sum, n);
  for (let i = 0; i < out.length; i++) out[i] = clip(out[i]! - avg);
  return out;
}

/** CometBFT's getValWithMostPriority: highest priority, ties to the lowest address. */
function indexOfMostPriority(priorities: readonly bigint[], addresses: readonly Uint8Array[]): number {
  let best = 0;
  for (let i = 1; i < priorities.length; i++) {
    const p = priorities[i]!;
    const b = priorities[best]!;
    if (p > b || (p === b && compareBytes(addresses[i]!, addresses[best]!) < 0)) best = i;
  }
  return best;
}

/** Checks a validator set given as input; returns its total voting power. */
function checkSet(validators: readonly PriorityValidator[], allowEmpty: boolean): bigint {
  if (!Array.isArray(validators))
    throw new CareLedgerError('VALIDATOR_SET_INVALID', 'validators must be an array');
  if (validators.length === 0 && !allowEmpty) {
    throw new CareLedgerError('VALIDATOR_SET_INVALID', 'the validator set is empty');
  }
  let total = 0n;
  for (const v of validators) {
    checkAddress(v, 'SET');
    if (typeof v.votingPower !== 'bigint' || v.votingPower <= 0n || v.votingPower > MAX_TOTAL_VOTING_POWER) {
      throw new CareLedgerError(
        'VALIDATOR_SET_INVALID',
        `voting power of ${hex(v.address)} must be a bigint from 1 to ${MAX_TOTAL_VOTING_POWER}`,
      );
    }
    if (
      typeof v.proposerPriority !== 'bigint' ||
      v.proposerPriority < MIN_INT64 ||
      v.proposerPriority > MAX_INT64
    ) {
      throw new CareLedgerError(
        'VALIDATOR_SET_INVALID',
        `priority of ${hex(v.address)} must be an int64 bigint`,
      );
    }
    total += v.votingPower;
  }
  if (total > MAX_TOTAL_VOTING_POWER) {
    throw new CareLedgerError(
      'VALIDATOR_SET_INVALID',
      `total voting power is above ${MAX_TOTAL_VOTING_POWER}`,
    );
  }
  const addresses = validators.map((v) => v.address).sort(compareBytes);
  for (let i = 1; i < addresses.length; i++) {
    if (compareBytes(addresses[i]!, addresses[i - 1]!) === 0) {
      throw new CareLedgerError('VALIDATOR_SET_INVALID', `duplicate validator ${hex(addresses[i]!)}`);
    }
  }
  return total;
}

function checkAddress(v: PriorityValidator, where: 'SET' | 'UPDATE'): Uint8Array {
  if (!(v?.address instanceof Uint8Array) || v.address.length === 0) {
    throw new CareLedgerError(
      where === 'SET' ? 'VALIDATOR_SET_INVALID' : 'VALIDATOR_UPDATE_INVALID',
      'a validator address must be a non-empty Uint8Array',
    );
  }
  return v.address;
}

function withPriorities<V extends PriorityValidator>(
  validators: readonly V[],
  priorities: readonly bigint[],
): V[] {
  return validators.map((v, i) => ({ ...v, proposerPriority: priorities[i]! }));
}

/** Go's safeAddClip/safeSubClip: the exact result clipped to the int64 range. */
function clip(x: bigint): bigint {
  return x > MAX_INT64 ? MAX_INT64 : x < MIN_INT64 ? MIN_INT64 : x;
}

/** Go int64 wrap-around. */
function int64(x: bigint): bigint {
  return BigInt.asIntN(64, x);
}

/** big.Int Div for a positive divisor: rounds towards minus infinity. */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b < 0n ? q - 1n : q;
}
