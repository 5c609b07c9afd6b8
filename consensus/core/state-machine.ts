/**
 * The Tendermint consensus algorithm ("The latest gossip on BFT consensus", Buchman, Kwon and
 * Milosevic, 2018, Algorithm 1) as a deterministic state machine:
 *
 *   step(state, input) -> { state, effects }
 *
 * No timers, sockets, disk or clock: inputs are verified messages, timeouts and the value to
 * propose; effects ask the driver to sign and broadcast, schedule a timeout, build a value, or
 * commit a decision. Comments cite the paper's line numbers. Field names follow the paper
 * (lockedValue, lockedRound, validValue, validRound). The state object is owned by the caller and
 * updated in place for speed; nothing else holds a reference to it.
 *
 * Inputs are trusted to be verified by the driver (decoding, signatures, membership); the core
 * still ignores anything not for its height and bounds what a validator can make it store.
 */
import { equalBytes, toHex as hex } from '../../packages/crypto/hash.ts';
import { isOneThirdPlus, type ValidatorSet } from '../../packages/types/validator.ts';
import { type HeightStart, rotateProposer } from '../../packages/types/validator-set.ts';
import { isNil, NIL_BLOCK_ID, type Proposal, type Vote, VoteType } from '../../packages/types/vote.ts';
import { HeightVoteSet } from './vote-set.ts';

/** A proposed value: the core needs only its id (the block id); the driver knows the rest. */
export interface Value {
  readonly id: Uint8Array;
}

export type Step = 'propose' | 'prevote' | 'precommit';
export type TimeoutStep = Step;

export interface TimeoutParams {
  readonly proposeMs: number;
  readonly proposeDeltaMs: number;
  readonly prevoteMs: number;
  readonly prevoteDeltaMs: number;
  readonly precommitMs: number;
  readonly precommitDeltaMs: number;
}

/** CometBFT's defaults: timeouts grow by the delta each round, so they eventually exceed the real delay. */
export const defaultTimeouts: TimeoutParams = {
  proposeMs: 3000,
  proposeDeltaMs: 500,
  prevoteMs: 1000,
  prevoteDeltaMs: 500,
  precommitMs: 1000,
  precommitDeltaMs: 500,
};

/**
 * Votes for rounds further ahead than this are not stored (a faulty validator could otherwise make
 * a node allocate a vote set per round); they still count towards skipping rounds (line 55).
 */
export const FUTURE_ROUND_WINDOW = 8;

export interface ConsensusOptions {
  readonly timeouts: TimeoutParams;
  /**
   * Breaks the lock rule of lines 22-33 (prevote whatever is proposed). Exists only so the
   * simulator can prove that its checker catches a safety violation. Never set in a node.
   */
  readonly unsafeIgnoreLock?: boolean;
}

export type Input<V extends Value> =
  /**
   * A proposal signed by proposer(height, round); `value.id` equals `proposal.blockId`; `valid` is
   * valid(v). `timely` (default true) is the host's judgement of its time against its clock: an
   * untimely new proposal gets a nil prevote (line 22) but can still be decided (line 49) and
   * re-proposed with a polka (line 28), as in CometBFT's proposer-based timestamps.
   */
  | {
      readonly type: 'proposal';
      readonly proposal: Proposal;
      readonly value: V;
      readonly valid: boolean;
      readonly timely?: boolean;
    }
  /** A value learnt without its proposal (a peer's catch-up for a height we lag on). */
  | { readonly type: 'value'; readonly value: V; readonly valid: boolean }
  | { readonly type: 'vote'; readonly vote: Vote }
  /**
   * A decision proven by a commit the driver verified (+2/3 precommits signed for `value` in
   * `round`), as block sync applies it. Needed because a node counts each validator's first vote
   * only, so a faulty validator's conflicting vote can hide a commit that exists.
   */
  | {
      readonly type: 'commit';
      readonly value: V;
      readonly valid: boolean;
      readonly round: number;
      readonly precommits: readonly (Vote | undefined)[];
    }
  | { readonly type: 'timeout'; readonly height: bigint; readonly round: number; readonly step: TimeoutStep }
  /** The driver's answer to `get-value`. */
  | { readonly type: 'value-to-propose'; readonly height: bigint; readonly round: number; readonly value: V };

export type Effect<V extends Value> =
  | { readonly type: 'get-value'; readonly height: bigint; readonly round: number }
  | {
      readonly type: 'broadcast-proposal';
      readonly height: bigint;
      readonly round: number;
      readonly polRound: number;
      readonly value: V;
    }
  | {
      readonly type: 'broadcast-vote';
      readonly voteType: VoteType;
      readonly height: bigint;
      readonly round: number;
      readonly blockId: Uint8Array;
    }
  | {
      readonly type: 'schedule-timeout';
      readonly height: bigint;
      readonly round: number;
      readonly step: TimeoutStep;
      readonly delayMs: number;
    }
  | {
      readonly type: 'decide';
      readonly height: bigint;
      readonly round: number;
      readonly value: V;
      /** The precommits of the deciding round, by validator index: the commit. */
      readonly precommits: readonly (Vote | undefined)[];
    }
  | { readonly type: 'evidence'; readonly first: Vote; readonly second: Vote };

interface KnownValue<V> {
  readonly value: V;
  readonly valid: boolean;
}

export interface ConsensusState<V extends Value> {
  readonly options: ConsensusOptions;
  /** Our index in this height's validator set (it moves when powers change), or -1: we do not vote. */
  ownIndex: number;
  height: bigint;
  round: number;
  step: Step;
  decision: V | null;
  validators: ValidatorSet;
  lockedValue: V | null;
  lockedRound: number;
  validValue: V | null;
  validRound: number;
  /** The first proposal of each round from that round's proposer. */
  proposals: Map<
    number,
    { readonly proposal: Proposal; readonly value: V; readonly valid: boolean; readonly timely: boolean }
  >;
  /** Every value seen at this height, by block id (hex), with its validity. */
  values: Map<string, KnownValue<V>>;
  votes: HeightVoteSet;
  /** Highest round each validator sent a message in, for the round skip of line 55. */
  messageRounds: number[];
  /** Rules that fire only "for the first time" in a round, as `rule:round`. */
  fired: Set<string>;
  proposers: Map<number, number>;
  /** Set while waiting for the driver's value to propose in this round. */
  awaitingValue: boolean;
}

export interface StepResult<V extends Value> {
  readonly state: ConsensusState<V>;
  readonly effects: readonly Effect<V>[];
}

function freshHeight<V extends Value>(state: ConsensusState<V>, start: HeightStart, ownIndex: number): void {
  state.ownIndex = ownIndex;
  state.height = start.height;
  state.round = 0;
  state.step = 'propose';
  state.decision = null;
  state.validators = start.validators;
  state.lockedValue = null;
  state.lockedRound = -1;
  state.validValue = null;
  state.validRound = -1;
  state.proposals = new Map();
  state.values = new Map();
  state.votes = new HeightVoteSet(start.height, start.validators);
  state.messageRounds = new Array<number>(start.validators.validators.length).fill(-1);
  state.fired = new Set();
  state.proposers = new Map([[0, start.proposer]]);
  state.awaitingValue = false;
}

/** A state for the first height; call `startHeight` to begin it. */
export function initialState<V extends Value>(
  start: HeightStart,
  ownIndex: number,
  options: ConsensusOptions,
): ConsensusState<V> {
  const state = { options } as ConsensusState<V>;
  freshHeight(state, start, ownIndex);
  return state;
}

/** Index of the proposer of `round` at the state's height (CometBFT's weighted rotation). */
export function proposerOf(state: ConsensusState<Value>, round: number): number {
  let index = state.proposers.get(round);
  if (index === undefined) {
    index = rotateProposer(state.validators.validators, round).proposer;
    // Rounds are bounded by MAX_ROUND; cache only a window so a far round cannot grow the map.
    if (state.proposers.size < 64) state.proposers.set(round, index);
  }
  return index;
}

function timeoutFor(options: ConsensusOptions, step: TimeoutStep, round: number): number {
  const t = options.timeouts;
  switch (step) {
    case 'propose':
      return t.proposeMs + round * t.proposeDeltaMs;
    case 'prevote':
      return t.prevoteMs + round * t.prevoteDeltaMs;
    case 'precommit':
      return t.precommitMs + round * t.precommitDeltaMs;
  }
}

class Machine<V extends Value> {
  readonly effects: Effect<V>[] = [];
  readonly s: ConsensusState<V>;

  constructor(state: ConsensusState<V>) {
    this.s = state;
  }

  private get isValidator(): boolean {
    return this.s.ownIndex >= 0;
  }

  private vote(voteType: VoteType, blockId: Uint8Array): void {
    if (!this.isValidator) return;
    this.effects.push({
      type: 'broadcast-vote',
      voteType,
      height: this.s.height,
      round: this.s.round,
      blockId,
    });
  }

  private schedule(step: TimeoutStep, round: number): void {
    const { height, options } = this.s;
    this.effects.push({
      type: 'schedule-timeout',
      height,
      round,
      step,
      delayMs: timeoutFor(options, step, round),
    });
  }

  private firstTime(rule: string, round: number): boolean {
    const key = `${rule}:${round}`;
    if (this.s.fired.has(key)) return false;
    this.s.fired.add(key);
    return true;
  }

  /** Lines 11-21: StartRound(round). */
  startRound(round: number): void {
    const s = this.s;
    s.round = round;
    s.step = 'propose';
    s.awaitingValue = false;
    this.schedule('propose', round);
    if (this.isValidator && proposerOf(s, round) === s.ownIndex) {
      if (s.validValue !== null) {
        // Line 15: re-propose the valid value with the round of its polka.
        this.effects.push({
          type: 'broadcast-proposal',
          height: s.height,
          round,
          polRound: s.validRound,
          value: s.validValue,
        });
      } else {
        // Line 18: getValue(), answered by a 'value-to-propose' input.
        s.awaitingValue = true;
        this.effects.push({ type: 'get-value', height: s.height, round });
      }
    }
    this.evaluate();
  }

  input(input: Input<V>): void {
    const s = this.s;
    switch (input.type) {
      case 'proposal':
        this.onProposal(input.proposal, input.value, input.valid, input.timely ?? true);
        break;
      case 'value':
        if (input.value.id.length > 0 && !s.values.has(hex(input.value.id))) {
          s.values.set(hex(input.value.id), { value: input.value, valid: input.valid });
        }
        break;
      case 'vote':
        this.onVote(input.vote);
        break;
      case 'commit':
        if (input.value.id.length > 0 && input.valid && s.decision === null) {
          s.decision = input.value;
          this.effects.push({
            type: 'decide',
            height: s.height,
            round: input.round,
            value: input.value,
            precommits: input.precommits,
          });
        }
        return;
      case 'timeout':
        this.onTimeout(input.height, input.round, input.step);
        break;
      case 'value-to-propose':
        if (input.height === s.height && input.round === s.round && s.awaitingValue && s.decision === null) {
          s.awaitingValue = false;
          this.effects.push({
            type: 'broadcast-proposal',
            height: s.height,
            round: s.round,
            polRound: -1,
            value: input.value,
          });
        }
        return;
      default: {
        const unreachable: never = input;
        throw new Error(`unknown input ${String(unreachable)}`);
      }
    }
    this.evaluate();
  }

  private noteMessageRound(index: number, round: number): void {
    if (round > this.s.messageRounds[index]!) this.s.messageRounds[index] = round;
  }

  private onProposal(proposal: Proposal, value: V, valid: boolean, timely: boolean): void {
    const s = this.s;
    if (proposal.height !== s.height || !equalBytes(proposal.blockId, value.id)) return;
    if (proposal.round > s.round + FUTURE_ROUND_WINDOW) return;
    if (s.proposals.has(proposal.round)) return; // a second proposal for a round is ignored
    s.proposals.set(proposal.round, { proposal, value, valid, timely });
    if (!s.values.has(hex(value.id))) s.values.set(hex(value.id), { value, valid });
    this.noteMessageRound(proposerOf(s, proposal.round), proposal.round);
  }

  private onVote(vote: Vote): void {
    const s = this.s;
    if (vote.height !== s.height || vote.validatorIndex >= s.validators.validators.length) return;
    this.noteMessageRound(vote.validatorIndex, vote.round);
    if (vote.round > s.round + FUTURE_ROUND_WINDOW) return;
    const result = s.votes.add(vote);
    if (result.kind === 'conflict')
      this.effects.push({ type: 'evidence', first: result.existing, second: vote });
  }

  private onTimeout(height: bigint, round: number, step: TimeoutStep): void {
    const s = this.s;
    // Stale timeouts are recognised by (height, round, step) and dropped.
    if (height !== s.height || round !== s.round || s.decision !== null) return;
    if (step === 'propose' && s.step === 'propose') {
      // Lines 57-60.
      this.vote(VoteType.prevote, NIL_BLOCK_ID);
      s.step = 'prevote';
    } else if (step === 'prevote' && s.step === 'prevote') {
      // Lines 61-64.
      this.vote(VoteType.precommit, NIL_BLOCK_ID);
      s.step = 'precommit';
    } else if (step === 'precommit') {
      // Lines 65-67.
      this.startRound(round + 1);
    }
  }

  /** Applies every rule whose condition holds, until none does. */
  private evaluate(): void {
    while (this.s.decision === null && this.applyOneRule()) {
      // each rule changes the state; look again
    }
  }

  private applyOneRule(): boolean {
    const s = this.s;
    const r = s.round;
    const proposal = s.proposals.get(r);
    const prevotes = s.votes.prevotes(r);

    if (s.step === 'propose' && proposal !== undefined) {
      const { value, valid, timely } = proposal;
      const vr = proposal.proposal.polRound;
      const ignoreLock = s.options.unsafeIgnoreLock === true;
      const lockedOnIt = s.lockedValue !== null && equalBytes(s.lockedValue.id, value.id);
      if (vr === -1) {
        // Lines 22-27 (a new value must also be timely).
        const ok = valid && timely && (ignoreLock || s.lockedRound === -1 || lockedOnIt);
        this.vote(VoteType.prevote, ok ? value.id : NIL_BLOCK_ID);
        s.step = 'prevote';
        return true;
      }
      if (vr < r && s.votes.prevotes(vr).hasTwoThirdsFor(value.id)) {
        // Lines 28-33.
        const ok = valid && (ignoreLock || s.lockedRound <= vr || lockedOnIt);
        this.vote(VoteType.prevote, ok ? value.id : NIL_BLOCK_ID);
        s.step = 'prevote';
        return true;
      }
    }

    if (s.step === 'prevote' && prevotes.hasTwoThirdsAny() && this.firstTime('L34', r)) {
      // Lines 34-35.
      this.schedule('prevote', r);
      return true;
    }

    if (
      s.step !== 'propose' &&
      proposal !== undefined &&
      proposal.valid &&
      prevotes.hasTwoThirdsFor(proposal.value.id) &&
      this.firstTime('L36', r)
    ) {
      // Lines 36-43.
      if (s.step === 'prevote') {
        s.lockedValue = proposal.value;
        s.lockedRound = r;
        this.vote(VoteType.precommit, proposal.value.id);
        s.step = 'precommit';
      }
      s.validValue = proposal.value;
      s.validRound = r;
      return true;
    }

    if (s.step === 'prevote' && prevotes.hasTwoThirdsFor(NIL_BLOCK_ID)) {
      // Lines 44-46.
      this.vote(VoteType.precommit, NIL_BLOCK_ID);
      s.step = 'precommit';
      return true;
    }

    if (s.votes.precommits(r).hasTwoThirdsAny() && this.firstTime('L47', r)) {
      // Lines 47-48.
      this.schedule('precommit', r);
      return true;
    }

    // Lines 49-54, for any round.
    for (const round of s.votes.roundsSeen()) {
      const precommits = s.votes.precommits(round);
      for (const id of precommits.twoThirdsMajorities()) {
        if (isNil(id)) continue;
        const known = s.values.get(hex(id));
        if (known === undefined || !known.valid) continue;
        s.decision = known.value;
        this.effects.push({
          type: 'decide',
          height: s.height,
          round,
          value: known.value,
          precommits: precommits.votesFor(id),
        });
        return true;
      }
    }

    // Line 55: f+1 (more than a third of the power) sent messages of rounds above ours.
    const skipTo = this.roundSupportedByOneThird();
    if (skipTo > r) {
      this.startRound(skipTo);
      return true;
    }
    return false;
  }

  /** The highest round R such that validators with messages of round >= R hold > 1/3 of the power. */
  private roundSupportedByOneThird(): number {
    const s = this.s;
    const ahead = s.messageRounds
      .map((round, index) => ({ round, power: s.validators.validators[index]!.votingPower }))
      .filter((m) => m.round > s.round)
      .sort((a, b) => b.round - a.round);
    let power = 0n;
    for (const m of ahead) {
      power += m.power;
      if (isOneThirdPlus(power, s.validators.totalVotingPower)) return m.round;
    }
    return -1;
  }
}

/**
 * Begins `start.height` (lines 10 and 54): resets the per-height state and starts round 0.
 * `ownIndex` is our index in this height's set, or -1 if we do not vote at this height.
 */
export function startHeight<V extends Value>(
  state: ConsensusState<V>,
  start: HeightStart,
  ownIndex: number,
): StepResult<V> {
  freshHeight(state, start, ownIndex);
  const machine = new Machine(state);
  machine.startRound(0);
  return { state, effects: machine.effects };
}

/** Feeds one input to the state machine. */
export function step<V extends Value>(state: ConsensusState<V>, input: Input<V>): StepResult<V> {
  const machine = new Machine(state);
  if (state.decision === null || input.type === 'vote') machine.input(input);
  return { state, effects: machine.effects };
}
