/**
 * Votes of one height, by round and type, counted by voting power (never by heads).
 *
 * Each validator counts once per (round, type): the first vote is kept, and a second vote for a
 * different block id is returned as a conflict, from which the caller builds evidence. Thresholds
 * (+2/3 for a block, +2/3 of any votes, +1/3) use exact integer arithmetic.
 */
import { equalBytes } from '../../packages/crypto/hash.ts';
import { isTwoThirdsMajority, type ValidatorSet } from '../../packages/types/validator.ts';
import { type Vote, VoteType } from '../../packages/types/vote.ts';

function keyOf(blockId: Uint8Array): string {
  return Buffer.from(blockId).toString('hex');
}

export type AddVoteResult =
  | { readonly kind: 'added' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'conflict'; readonly existing: Vote };

/** The votes of one type in one round. */
export class VoteSet {
  readonly type: VoteType;
  readonly round: number;
  private readonly validators: ValidatorSet;
  private readonly byIndex: (Vote | undefined)[];
  private readonly powerByBlock = new Map<string, bigint>();
  private totalPower = 0n;

  constructor(type: VoteType, round: number, validators: ValidatorSet) {
    this.type = type;
    this.round = round;
    this.validators = validators;
    this.byIndex = new Array(validators.validators.length);
  }

  /** The vote must already be verified (signature, index, height, round, type). */
  add(vote: Vote): AddVoteResult {
    const existing = this.byIndex[vote.validatorIndex];
    if (existing !== undefined) {
      return equalBytes(existing.blockId, vote.blockId)
        ? { kind: 'duplicate' }
        : { kind: 'conflict', existing };
    }
    this.byIndex[vote.validatorIndex] = vote;
    const power = this.validators.validators[vote.validatorIndex]!.votingPower;
    const key = keyOf(vote.blockId);
    this.powerByBlock.set(key, (this.powerByBlock.get(key) ?? 0n) + power);
    this.totalPower += power;
    return { kind: 'added' };
  }

  /** +2/3 of the voting power voted for this block id (empty id: nil). */
  hasTwoThirdsFor(blockId: Uint8Array): boolean {
    return isTwoThirdsMajority(this.powerByBlock.get(keyOf(blockId)) ?? 0n, this.validators.totalVotingPower);
  }

  /** +2/3 of the voting power voted, for anything. */
  hasTwoThirdsAny(): boolean {
    return isTwoThirdsMajority(this.totalPower, this.validators.totalVotingPower);
  }

  /** The block id (possibly nil) with +2/3, if any. */
  twoThirdsMajority(): Uint8Array | null {
    for (const [key, power] of this.powerByBlock) {
      if (isTwoThirdsMajority(power, this.validators.totalVotingPower)) return Buffer.from(key, 'hex');
    }
    return null;
  }

  /** Votes by validator index (undefined where none), e.g. to build a commit. */
  votes(): readonly (Vote | undefined)[] {
    return this.byIndex;
  }

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
