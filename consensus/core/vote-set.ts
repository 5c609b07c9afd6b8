/**
 * Votes of one height, by round and type, counted by voting power (never by heads).
 *
 * As in the paper, a threshold counts distinct validators that sent a vote for that value, so a
 * validator that equivocates counts towards each value it voted for. (Counting only each
 * validator's first vote would let a faulty validator show different nodes different polkas that
 * none of the others can ever see, and stall a locked node forever.) A conflicting vote is
 * reported so the caller can build evidence. How many different votes one validator may have in
 * one round and type is bounded. Thresholds use exact integer arithmetic.
 */
import { equalBytes, fromHex, toHex as keyOf } from '../../packages/crypto/hash.ts';
import { isTwoThirdsMajority, type ValidatorSet } from '../../packages/types/validator.ts';
import { type Vote, VoteType } from '../../packages/types/vote.ts';

/** Distinct votes kept per validator, round and type: enough to count any equivocation that matters. */
export const MAX_VOTES_PER_VALIDATOR = 4;

export type AddVoteResult =
  | { readonly kind: 'added' }
  | { readonly kind: 'duplicate' }
  /** A second vote for another value: counted for that value too, and evidence. */
  | { readonly kind: 'conflict'; readonly existing: Vote }
  /** Another conflicting vote past MAX_VOTES_PER_VALIDATOR: neither kept nor evidence. */
  | { readonly kind: 'dropped' };

/** The votes of one type in one round. */
export class VoteSet {
  readonly type: VoteType;
  readonly round: number;
  private readonly validators: ValidatorSet;
  /** Each validator's distinct votes, first one first. */
  private readonly byIndex: (Vote[] | undefined)[];
  private readonly powerByBlock = new Map<string, bigint>();
  /** Power of the distinct validators that voted anything. */
  private anyPower = 0n;

  constructor(type: VoteType, round: number, validators: ValidatorSet) {
    this.type = type;
    this.round = round;
    this.validators = validators;
    this.byIndex = new Array(validators.validators.length);
  }

  /**
   * True if this set already keeps the most votes it keeps of the vote's validator and none for
   * its block: `add` would drop it, so it is worth nothing (not even as new evidence).
   */
  isFullFor(vote: Vote): boolean {
    const existing = this.byIndex[vote.validatorIndex];
    return (
      existing !== undefined &&
      existing.length >= MAX_VOTES_PER_VALIDATOR &&
      !existing.some((v) => equalBytes(v.blockId, vote.blockId))
    );
  }

  /** The vote must already be verified (signature, index, height, round, type). */
  add(vote: Vote): AddVoteResult {
    const power = this.validators.validators[vote.validatorIndex]!.votingPower;
    const existing = this.byIndex[vote.validatorIndex];
    if (existing === undefined) {
      this.byIndex[vote.validatorIndex] = [vote];
      this.anyPower += power;
      this.count(vote, power);
      return { kind: 'added' };
    }
    if (existing.some((v) => equalBytes(v.blockId, vote.blockId))) return { kind: 'duplicate' };
    // Past the cap a conflicting vote is dropped, and reports no evidence: the first conflicts
    // already prove the equivocation, and one validator must not make the others keep or relay
    // any number of its votes.
    if (existing.length >= MAX_VOTES_PER_VALIDATOR) return { kind: 'dropped' };
    existing.push(vote);
    this.count(vote, power);
    return { kind: 'conflict', existing: existing[0]! };
  }

  private count(vote: Vote, power: bigint): void {
    const key = keyOf(vote.blockId);
    this.powerByBlock.set(key, (this.powerByBlock.get(key) ?? 0n) + power);
  }

  /** +2/3 of the voting power voted for this block id (empty id: nil). */
  hasTwoThirdsFor(blockId: Uint8Array): boolean {
    return isTwoThirdsMajority(this.powerByBlock.get(keyOf(blockId)) ?? 0n, this.validators.totalVotingPower);
  }

  /** +2/3 of the voting power voted, for anything. */
  hasTwoThirdsAny(): boolean {
    return isTwoThirdsMajority(this.anyPower, this.validators.totalVotingPower);
  }

  /** The block ids (possibly nil) with +2/3: more than one only if over a third is faulty. */
  twoThirdsMajorities(): Uint8Array[] {
    const ids: Uint8Array[] = [];
    for (const [key, power] of this.powerByBlock) {
      if (isTwoThirdsMajority(power, this.validators.totalVotingPower)) ids.push(fromHex(key));
    }
    return ids;
  }

  /** By validator index, the vote for `blockId` (undefined where none): the signatures of a commit. */
  votesFor(blockId: Uint8Array): (Vote | undefined)[] {
    return Array.from(this.byIndex, (votes) => votes?.find((v) => equalBytes(v.blockId, blockId)));
  }

  /** Every vote held, conflicting ones included, for re-gossip. */
  allVotes(): Vote[] {
    return this.byIndex.flatMap((votes) => votes ?? []);
  }

  /** How many validators voted. */
  get size(): number {
    return this.byIndex.reduce((n, v) => (v === undefined ? n : n + 1), 0);
  }
}

/** All rounds of one height: prevotes and precommits per round. */
export class HeightVoteSet {
  readonly height: bigint;
  private readonly validators: ValidatorSet;
  private readonly rounds = new Map<number, { prevotes: VoteSet; precommits: VoteSet }>();

  constructor(height: bigint, validators: ValidatorSet) {
    this.height = height;
    this.validators = validators;
  }

  private roundVotes(round: number): { prevotes: VoteSet; precommits: VoteSet } {
    let r = this.rounds.get(round);
    if (r === undefined) {
      r = {
        prevotes: new VoteSet(VoteType.prevote, round, this.validators),
        precommits: new VoteSet(VoteType.precommit, round, this.validators),
      };
      this.rounds.set(round, r);
    }
    return r;
  }

  add(vote: Vote): AddVoteResult {
    return this.get(vote.round, vote.type).add(vote);
  }

  get(round: number, type: VoteType): VoteSet {
    const r = this.roundVotes(round);
    return type === VoteType.prevote ? r.prevotes : r.precommits;
  }

  /** See VoteSet.isFullFor; false when the vote's round has no set yet (none is created). */
  isFullFor(vote: Vote): boolean {
    const r = this.rounds.get(vote.round);
    if (r === undefined) return false;
    return (vote.type === VoteType.prevote ? r.prevotes : r.precommits).isFullFor(vote);
  }

  /** The votes of `round` if any set of it exists, without creating one (a peer may name any round). */
  existing(round: number): readonly VoteSet[] {
    const r = this.rounds.get(round);
    return r === undefined ? [] : [r.prevotes, r.precommits];
  }

  prevotes(round: number): VoteSet {
    return this.get(round, VoteType.prevote);
  }

  precommits(round: number): VoteSet {
    return this.get(round, VoteType.precommit);
  }

  /** Rounds that hold any vote, ascending. */
  roundsSeen(): number[] {
    return [...this.rounds.keys()].sort((a, b) => a - b);
  }
}
