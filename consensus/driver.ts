/**
 * The serial driver around the pure consensus core: the one place that feeds it inputs and carries
 * out its effects, through small interfaces (WAL, double-sign guard, host for blocks, network and
 * timers). The same driver runs in the deterministic simulator and in the node.
 *
 * Order of durability, as CometBFT: every input is appended to the WAL before the core sees it;
 * a message this node signs is fsynced to the WAL (and the guard's state saved) before it is
 * broadcast. On restart, `recover` replays the WAL of the current height through the core; the
 * guard returns the same signature for the same sign bytes and refuses anything else, so a replay
 * can never make the node equivocate.
 *
 * Why one file of this size: it is the one serial owner of consensus state (as CometBFT's
 * consensus/state.go); its WAL order, replay and effect handling must be read together.
 */
import { hash } from 'node:crypto';
import { type Canonical, decode, encode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { CareLedgerError, hasCode } from '../packages/core/errors.ts';
import { equalBytes } from '../packages/crypto/hash.ts';
import {
  type Block,
  type BlockLimits,
  blockIdOf,
  type Header,
  validateBlockBody,
} from '../packages/types/block.ts';
import {
  type Commit,
  CommitFlag,
  type DuplicateVoteEvidence,
  makeCommit,
  makeDuplicateVoteEvidence,
  verifyCommit,
} from '../packages/types/commit.ts';
import type { HeightStart } from '../packages/types/validator-set.ts';
import {
  MAX_ROUND,
  type Proposal,
  proposalSignBytes,
  type Vote,
  type VoteType,
  VoteType as VoteTypes,
  verifyProposal,
  verifyVote,
  voteSignBytes,
} from '../packages/types/vote.ts';
import {
  type ConsensusOptions,
  type ConsensusState,
  type Effect,
  FUTURE_ROUND_WINDOW,
  type Input,
  initialState,
  proposerOf,
  startHeight,
  step,
  type TimeoutStep,
} from './core/state-machine.ts';
import { type ConsensusMessage, decodeMessage, encodeMessage } from './messages.ts';
import { type DoubleSignGuard, SignStep } from './privval.ts';
import type { WalStorage } from './wal.ts';

/** A block with its id, hashed once and carried along. */
export interface ProposedBlock {
  readonly id: Uint8Array;
  readonly block: Block;
}

export function proposedBlock(block: Block): ProposedBlock {
  return { id: blockIdOf(block.header), block };
}

/** What the driver needs from the node (or the simulator) around it. */
export interface ConsensusHost {
  /** prepareProposal: a new block for this height (the proposer's own value). */
  buildBlock(height: bigint, round: number): Block;
  /** Stateful checks and the application's processProposal; the body was already checked. */
  isValidBlock(block: Block): boolean;
  /**
   * Whether a proposed block's time is acceptable by this node's clock (default: always). An
   * untimely block gets a nil prevote but can still be decided: a node whose clock is off must
   * not refuse what the others committed.
   */
  isTimelyBlock?(block: Block): boolean;
  /** Sends a message we signed (or our status) to every peer. */
  broadcast(bytes: Uint8Array, message: ConsensusMessage): void;
  /** Forwards another validator's message to every peer. */
  relay(bytes: Uint8Array, message: ConsensusMessage): void;
  scheduleTimeout(height: bigint, round: number, step: TimeoutStep, delayMs: number): void;
  /** A decision: the host commits the block durably, then calls `startHeight` for the next one. */
  decide(block: ProposedBlock, commit: Commit): void;
  /**
   * After `decide`: every validator of the height has now precommitted the decided block (in the
   * round it was decided), so waiting for late precommits buys nothing (CometBFT's
   * skip_timeout_commit). Called once per height, from inside the driver: the host must not call
   * `startHeight` from it, only schedule it.
   */
  allPrecommitsIn?(height: bigint): void;
  evidence(evidence: DuplicateVoteEvidence): void;
  /** A peer told us its height and round; a host ahead of it answers with a catch-up. */
  peerStatus(peer: string, height: bigint, round: number): void;
}

export interface DriverOptions {
  readonly chainId: string;
  readonly consensus: ConsensusOptions;
  readonly blockLimits: BlockLimits;
  /** Messages of the next height kept until we get there (a quarter of them at most from one peer). */
  readonly maxBufferedMessages: number;
  /** Message hashes remembered per height, so a duplicate is never verified twice. */
  readonly maxSeenMessages: number;
}

export const defaultDriverOptions = { maxBufferedMessages: 1000, maxSeenMessages: 100_000 } as const;

/** The outcome of a peer's message, as gossip validation needs it. */
export type Acceptance =
  | { readonly result: 'accept' }
  | { readonly result: 'ignore'; readonly reason: string }
  | { readonly result: 'reject'; readonly code: string; readonly reason: string };

/** A height's decision: the block id and the round whose precommits decided it. */
interface Decided {
  readonly id: Uint8Array;
  readonly round: number;
  /** Set once every validator precommitted it (the host was told). */
  all: boolean;
}

const WalRecord = { height: 1, received: 2, timeout: 3, own: 4 } as const;
const timeoutSteps: readonly TimeoutStep[] = ['propose', 'prevote', 'precommit'];

export class ConsensusDriver {
  private readonly opts: DriverOptions;
  private readonly host: ConsensusHost;
  private readonly wal: WalStorage;
  private readonly guard: DoubleSignGuard | null;
  private readonly ownPubKey: Uint8Array | null;
  private state: ConsensusState<ProposedBlock>;
  private readonly queue: Input<ProposedBlock>[] = [];
  private running = false;
  private replaying = false;
  private seen = new Set<string>();
  /** Votes taken only as a round hint (beyond the window): a repeat is dropped while it still is. */
  private hinted = new Set<string>();
  /** Next-height messages by hash (so repeats cannot fill it), fed in once we get there. */
  private future = new Map<string, Uint8Array>();
  /** How many of `future` each peer sent: one peer may fill a quarter of it, not all. */
  private futureBy = new Map<string, number>();
  /** Own proposals found in the WAL: after a crash we must re-propose the same block. */
  private recoveredProposals = new Map<number, ProposedBlock>();
  /** The bytes each accepted vote arrived in, so re-gossip does not re-encode. */
  private voteBytes = new WeakMap<Vote, Uint8Array>();
  /** Own signed messages of this height, re-sent by `rebroadcast`. */
  private ownMessages: Uint8Array[] = [];
  /** This height's decision, whose precommits are still counted as late ones arrive. */
  private decided: Decided | null = null;

  constructor(
    opts: DriverOptions,
    host: ConsensusHost,
    wal: WalStorage,
    signer: { readonly guard: DoubleSignGuard; readonly pubKey: Uint8Array } | null,
    start: HeightStart,
  ) {
    this.opts = opts;
    this.host = host;
    this.wal = wal;
    this.guard = signer?.guard ?? null;
    this.ownPubKey = signer?.pubKey ?? null;
    this.state = initialState<ProposedBlock>(start, this.ownIndexIn(start), opts.consensus);
  }

  /** Our index in the set of `start.height`: indexes move when voting powers change. */
  private ownIndexIn(start: HeightStart): number {
    const key = this.ownPubKey;
    return key === null ? -1 : start.validators.validators.findIndex((v) => equalBytes(v.pubKey, key));
  }

  get height(): bigint {
    return this.state.height;
  }

  get round(): number {
    return this.state.round;
  }

  get stepName(): string {
    return this.state.step;
  }

  /** A read-only view for tests and status pages. */
  get consensusState(): Readonly<ConsensusState<ProposedBlock>> {
    return this.state;
  }

  /**
   * Starts a height with a fresh WAL: at first start, and after each decision once the host has
   * committed the block (never from inside `decide`: the host calls it later, after its commit).
   */
  startHeight(start: HeightStart): void {
    if (this.running) throw new Error('startHeight called from inside a consensus effect');
    this.wal.reset([encode([WalRecord.height, start.height])]);
    this.resetHeightCaches();
    this.apply(startHeight(this.state, start, this.ownIndexIn(start)).effects);
    this.drain();
    const buffered = [...this.future.values()];
    this.future = new Map();
    this.futureBy = new Map();
    for (const bytes of buffered) this.receive(bytes, null);
  }

  /**
   * Restarts at `start.height` after a crash. If the WAL belongs to that height, the height is
   * started again and every recorded input is fed in its original order: the core is
   * deterministic, so it reaches the state it had, and our own proposal is reused rather than
   * rebuilt. Otherwise the height starts afresh. Returns how many records were replayed.
   */
  recover(start: HeightStart): number {
    const { records } = this.wal.readAll();
    const first = records[0] === undefined ? undefined : decode(records[0]);
    if (!Array.isArray(first) || first[0] !== WalRecord.height || first[1] !== start.height) {
      this.startHeight(start);
      return 0;
    }
    this.resetHeightCaches();
    for (const record of records) this.learnOwnProposal(record);
    this.replaying = true;
    try {
      this.apply(startHeight(this.state, start, this.ownIndexIn(start)).effects);
      this.drain();
      for (const record of records.slice(1)) this.replay(record);
    } finally {
      this.replaying = false;
    }
    return records.length - 1;
  }

  private resetHeightCaches(): void {
    this.decided = null;
    this.seen = new Set();
    this.hinted = new Set();
    this.recoveredProposals = new Map();
    this.ownMessages = [];
  }

  private learnOwnProposal(record: Uint8Array): void {
    const [kind, payload] = decode(record) as Canonical[];
    if (kind !== WalRecord.own || !(payload instanceof Uint8Array)) return;
    const message = decodeMessage(payload, this.opts.blockLimits);
    if (message.kind === 'proposal')
      this.recoveredProposals.set(message.proposal.round, proposedBlock(message.block));
  }

  private replay(record: Uint8Array): void {
    const fields = decode(record) as Canonical[];
    switch (fields[0]) {
      case WalRecord.received:
        this.receive(fields[1] as Uint8Array, null);
        break;
      case WalRecord.own:
        // Our own signed message: re-sent by rebroadcast, even if the guard now refuses to re-sign it.
        if (!this.ownMessages.some((m) => equalBytes(m, fields[1] as Uint8Array)))
          this.ownMessages.push(fields[1] as Uint8Array);
        this.receive(fields[1] as Uint8Array, null);
        break;
      case WalRecord.timeout: {
        const [, height, round, stepIndex] = s.tuple(fields, 4, 'wal timeout');
        this.onTimeout(
          s.u64(height!, 'height'),
          s.int(round!, 'round', 0, MAX_ROUND),
          timeoutSteps[s.int(stepIndex!, 'step', 0, 2)]!,
        );
        break;
      }
    }
  }

  /** A timer set through `scheduleTimeout` fired. */
  onTimeout(height: bigint, round: number, stepName: TimeoutStep): void {
    if (height !== this.state.height) return;
    if (!this.replaying)
      this.wal.append(encode([WalRecord.timeout, height, round, timeoutSteps.indexOf(stepName)]), false);
    this.enqueue({ type: 'timeout', height, round, step: stepName });
  }

  /**
   * A consensus message from a peer (or our own, replayed). Decodes, checks and verifies it once,
   * then feeds it to the core. The result says whether gossip should relay it or score the sender.
   */
  receive(bytes: Uint8Array, from: string | null): Acceptance {
    const key = seenKey(bytes);
    if (this.isDuplicate(key)) return { result: 'ignore', reason: 'duplicate' };
    let message: ConsensusMessage;
    try {
      message = decodeMessage(bytes, this.opts.blockLimits);
    } catch (err) {
      return rejection(err);
    }
    return this.accept(message, bytes, key, from);
  }

  /**
   * A message the host decoded from another wire form (a proposal that carried tx hashes, its
   * block filled in by the host): `wireBytes` are what arrived, so repeats are dropped unverified.
   */
  receiveDecoded(message: ConsensusMessage, wireBytes: Uint8Array, from: string | null): Acceptance {
    const key = seenKey(wireBytes);
    if (this.isDuplicate(key)) return { result: 'ignore', reason: 'duplicate' };
    return this.accept(message, null, key, from);
  }

  /**
   * Bytes taken (or found stale) at this height, or buffered for the next: dropped before they are
   * decoded. With many validators every vote arrives once from each peer that relays it, and
   * decoding each copy of an old height's votes was much of the simulator's time at 49 validators.
   */
  private isDuplicate(key: string): boolean {
    return this.seen.has(key) || this.future.has(key);
  }

  /** True if these bytes were already accepted at this height (the host may skip work on them). */
  hasSeen(wireBytes: Uint8Array): boolean {
    return this.seen.has(seenKey(wireBytes));
  }

  /** True if this round's proposal of this block was already taken (maybe in another wire form). */
  hasProposal(proposal: Proposal): boolean {
    const taken =
      proposal.height === this.state.height ? this.state.proposals.get(proposal.round) : undefined;
    return taken !== undefined && equalBytes(taken.value.id, proposal.blockId);
  }

  /**
   * Checks a proposal of this height: in the round window, signed by that round's proposer, for
   * this header. The host runs it before it fetches the block's txs from peers.
   */
  checkProposal(proposal: Proposal, header: Header): Acceptance {
    try {
      return this.checkProposalFor(proposal, blockIdOf(header));
    } catch (err) {
      return rejection(err);
    }
  }

  /** `bytes`: the message's canonical encoding if it arrived in it (else encoded when needed). */
  private accept(
    message: ConsensusMessage,
    bytes: Uint8Array | null,
    key: string,
    from: string | null,
  ): Acceptance {
    try {
      // A vote of this height beyond the round window only tells the core that its round exists
      // (the f+1 round skip); the core does not keep it. It is written (a replay must skip as
      // the node did) but not remembered as seen: a copy that comes once this node has reached
      // that round must count. Until then a repeat is dropped.
      const hintOnly =
        message.kind === 'vote' &&
        message.vote.height === this.state.height &&
        message.vote.round > this.state.round + FUTURE_ROUND_WINDOW;
      if (hintOnly && this.hinted.has(key)) return { result: 'ignore', reason: 'duplicate' };
      const outcome = this.check(message, bytes, key, from);
      if (outcome.result === 'accept') {
        const remembered = hintOnly ? this.hinted : this.seen;
        if (remembered.size < this.opts.maxSeenMessages) remembered.add(key);
        if (!this.replaying && message.kind !== 'status')
          this.wal.append(encode([WalRecord.received, bytes ?? encodeMessage(message)]), false);
        this.feed(message, bytes);
      }
      return outcome;
    } catch (err) {
      return rejection(err);
    }
  }

  private check(
    message: ConsensusMessage,
    bytes: Uint8Array | null,
    key: string,
    from: string | null,
  ): Acceptance {
    const st = this.state;
    switch (message.kind) {
      case 'status':
        if (from !== null) this.host.peerStatus(from, message.height, message.round);
        return { result: 'ignore', reason: 'status is not relayed' };
      case 'catch-up': {
        if (message.commit.height !== st.height || message.block.header.height !== st.height) {
          return { result: 'ignore', reason: 'catch-up for another height' };
        }
        if (st.decision !== null) return { result: 'ignore', reason: 'already decided' };
        const block = proposedBlock(message.block);
        verifyCommit(this.opts.chainId, message.commit, st.validators, block.id);
        return { result: 'accept' };
      }
      case 'proposal':
      case 'vote': {
        const height = message.kind === 'vote' ? message.vote.height : message.proposal.height;
        if (height < st.height) {
          // Stale for good (heights only grow): a copy is dropped undecoded for this height.
          if (this.seen.size < this.opts.maxSeenMessages) this.seen.add(key);
          return { result: 'ignore', reason: 'stale height' };
        }
        if (height > st.height) {
          const sent = from === null ? 0 : (this.futureBy.get(from) ?? 0);
          if (
            height === st.height + 1n &&
            this.future.size < this.opts.maxBufferedMessages &&
            sent < this.opts.maxBufferedMessages / 4
          ) {
            const full = bytes ?? encodeMessage(message);
            const fullKey = bytes === null ? seenKey(full) : key;
            if (!this.future.has(fullKey) && from !== null) this.futureBy.set(from, sent + 1);
            this.future.set(fullKey, full);
          }
          return { result: 'ignore', reason: 'future height' };
        }
        if (message.kind === 'vote') {
          if (st.votes.isFullFor(message.vote))
            return { result: 'ignore', reason: 'the validator already has the most conflicting votes kept' };
          verifyVote(this.opts.chainId, message.vote, st.validators);
          return { result: 'accept' };
        }
        return this.checkProposalFor(message.proposal, blockIdOf(message.block.header));
      }
    }
  }

  /** A proposal of the current height: in the round window, signed by its proposer, for this block. */
  private checkProposalFor(proposal: Proposal, blockId: Uint8Array): Acceptance {
    const st = this.state;
    if (proposal.height !== st.height) return { result: 'ignore', reason: 'not the current height' };
    // Before the proposer lookup, which costs in proportion to the round: a far round from a
    // peer must not stall the driver (the core would drop it anyway).
    if (proposal.round > st.round + FUTURE_ROUND_WINDOW)
      return { result: 'ignore', reason: 'round too far ahead' };
    const proposer = st.validators.validators[proposerOf(st, proposal.round)]!;
    verifyProposal(this.opts.chainId, proposal, proposer.pubKey);
    if (!equalBytes(blockId, proposal.blockId)) {
      throw new CareLedgerError('PROPOSAL_INVALID', 'proposal block does not match its block id', 'reject');
    }
    return { result: 'accept' };
  }

  private validity(block: Block): boolean {
    try {
      validateBlockBody(block);
    } catch {
      return false;
    }
    return this.host.isValidBlock(block);
  }

  private feed(message: ConsensusMessage, bytes: Uint8Array | null): void {
    switch (message.kind) {
      case 'proposal': {
        const value = proposedBlock(message.block);
        this.enqueue({
          type: 'proposal',
          proposal: message.proposal,
          value,
          valid: this.validity(message.block),
          timely: this.host.isTimelyBlock?.(message.block) ?? true,
        });
        break;
      }
      case 'vote':
        if (bytes !== null) this.voteBytes.set(message.vote, bytes);
        this.enqueue({ type: 'vote', vote: message.vote });
        break;
      case 'catch-up': {
        const value = proposedBlock(message.block);
        const { round } = message.commit;
        const precommits = votesOfCommit(message.commit, this.state);
        this.enqueue({ type: 'commit', value, valid: this.validity(message.block), round, precommits });
        break;
      }
      case 'status':
        break;
    }
  }

  private enqueue(input: Input<ProposedBlock>): void {
    this.queue.push(input);
    this.drain();
  }

  /** Runs queued inputs one at a time: effects may enqueue more (our own votes). */
  private drain(): void {
    if (this.running) return;
    this.running = true;
    try {
      for (let input = this.queue.shift(); input !== undefined; input = this.queue.shift()) {
        this.apply(step(this.state, input).effects);
        // The core keeps taking votes after its decision: the last precommit may come now.
        if (this.decided !== null && !this.decided.all) this.checkAllPrecommits(this.decided);
      }
    } finally {
      this.running = false;
    }
  }

  private apply(effects: readonly Effect<ProposedBlock>[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case 'get-value': {
          const value =
            this.recoveredProposals.get(effect.round) ??
            proposedBlock(this.host.buildBlock(effect.height, effect.round));
          this.queue.push({ type: 'value-to-propose', height: effect.height, round: effect.round, value });
          break;
        }
        case 'broadcast-proposal':
          this.signProposal(effect.height, effect.round, effect.polRound, effect.value);
          break;
        case 'broadcast-vote':
          this.signVote(effect.voteType, effect.height, effect.round, effect.blockId);
          break;
        case 'schedule-timeout':
          this.host.scheduleTimeout(effect.height, effect.round, effect.step, effect.delayMs);
          break;
        case 'decide': {
          const commit = makeCommit(
            effect.height,
            effect.round,
            effect.value.id,
            effect.precommits,
            this.state.validators.validators.length,
          );
          this.decided = { id: effect.value.id, round: effect.round, all: false };
          this.host.decide(effect.value, commit);
          break;
        }
        case 'evidence':
          this.host.evidence(makeDuplicateVoteEvidence(effect.first, effect.second));
          break;
        default: {
          const unreachable: never = effect;
          throw new Error(`unknown effect ${String(unreachable)}`);
        }
      }
    }
  }

  /** True once the decided block has precommits of this round from all of the voting power. */
  get allPrecommitsIn(): boolean {
    return this.decided?.all ?? false;
  }

  private checkAllPrecommits(decided: Decided): void {
    const { validators, totalVotingPower } = this.state.validators;
    let power = 0n;
    this.state.votes
      .precommits(decided.round)
      .votesFor(decided.id)
      .forEach((vote, index) => {
        if (vote !== undefined) power += validators[index]!.votingPower;
      });
    if (power < totalVotingPower) return;
    decided.all = true;
    this.host.allPrecommitsIn?.(this.state.height);
  }

  /** Signs through the guard; a refusal (a replay that would equivocate) sends nothing. */
  private sign(height: bigint, round: number, signStep: number, bytes: Uint8Array): Uint8Array | null {
    if (this.guard === null) return null;
    try {
      return this.guard.sign(height, round, signStep, bytes);
    } catch (err) {
      if (hasCode(err, 'DOUBLE_SIGN_REFUSED')) return null;
      throw err;
    }
  }

  private signProposal(height: bigint, round: number, polRound: number, value: ProposedBlock): void {
    const unsigned = { height, round, polRound, blockId: value.id };
    const signature = this.sign(
      height,
      round,
      SignStep.proposal,
      proposalSignBytes(this.opts.chainId, unsigned),
    );
    if (signature === null) return;
    const proposal: Proposal = { ...unsigned, signature };
    this.emitOwn({ kind: 'proposal', proposal, block: value.block });
    this.queue.push({ type: 'proposal', proposal, value, valid: true });
  }

  private signVote(type: VoteType, height: bigint, round: number, blockId: Uint8Array): void {
    const own = this.state.validators.validators[this.state.ownIndex];
    if (own === undefined) return;
    const signStep = type === VoteTypes.prevote ? SignStep.prevote : SignStep.precommit;
    const signature = this.sign(
      height,
      round,
      signStep,
      voteSignBytes(this.opts.chainId, { type, height, round, blockId }),
    );
    if (signature === null) return;
    const vote: Vote = {
      type,
      height,
      round,
      blockId,
      validatorIndex: this.state.ownIndex,
      validatorAddress: own.address,
      signature,
    };
    this.emitOwn({ kind: 'vote', vote });
    this.queue.push({ type: 'vote', vote });
  }

  /** Our signed message: fsynced to the WAL before it leaves the process. */
  private emitOwn(message: ConsensusMessage): void {
    const bytes = encodeMessage(message);
    this.seen.add(seenKey(bytes));
    if (!this.replaying) this.wal.append(encode([WalRecord.own, bytes]), true);
    this.ownMessages.push(bytes);
    this.host.broadcast(bytes, message);
  }

  /**
   * What a peer that fell behind to an earlier round of this height asks for: the proposal of
   * `round` (if we have it) and every prevote and precommit of `round` we hold, as received.
   * Nothing for another height.
   */
  roundMessages(
    height: bigint,
    round: number,
  ): {
    readonly proposal: { readonly proposal: Proposal; readonly block: Block } | null;
    readonly votes: Uint8Array[];
  } {
    const st = this.state;
    if (height !== st.height) return { proposal: null, votes: [] };
    const votes: Uint8Array[] = [];
    for (const set of st.votes.existing(round)) {
      for (const vote of set.allVotes())
        votes.push(this.voteBytes.get(vote) ?? encodeMessage({ kind: 'vote', vote }));
    }
    const proposed = st.proposals.get(round);
    const proposal =
      proposed === undefined ? null : { proposal: proposed.proposal, block: proposed.value.block };
    return { proposal, votes };
  }

  /**
   * Re-sends what peers may have missed when this height is not progressing: our own signed
   * messages, the votes of the current round, and the prevotes that justify our valid value (the
   * proof a re-proposal with a POL round needs), then our status. Like CometBFT's vote gossip, it
   * lets a node that lost messages (drops, a crash) catch up; receivers drop duplicates unverified.
   */
  rebroadcast(): void {
    for (const bytes of this.ownMessages.slice(-12)) {
      this.host.broadcast(bytes, decodeMessage(bytes, this.opts.blockLimits));
    }
    const st = this.state;
    const rounds = new Set([st.round, st.validRound, st.lockedRound].filter((r) => r >= 0));
    for (const round of rounds) {
      for (const type of [VoteTypes.prevote, VoteTypes.precommit]) {
        for (const vote of st.votes.get(round, type).allVotes()) {
          if (vote.validatorIndex !== st.ownIndex)
            this.host.relay(this.voteBytes.get(vote) ?? encodeMessage({ kind: 'vote', vote }), {
              kind: 'vote',
              vote,
            });
        }
      }
    }
    const proposal = st.proposals.get(st.round);
    if (proposal !== undefined && proposerOf(st, st.round) !== st.ownIndex) {
      const message: ConsensusMessage = {
        kind: 'proposal',
        proposal: proposal.proposal,
        block: proposal.value.block,
      };
      this.host.relay(encodeMessage(message), message);
    }
    const status: ConsensusMessage = { kind: 'status', height: st.height, round: st.round };
    this.host.broadcast(encodeMessage(status), status);
  }
}

/**
 * How a message's bytes are remembered in `seen` and `future`: their SHA-256 as a string, made in
 * one call (every copy of every message is hashed here, so the one-shot form's speed matters).
 */
function seenKey(bytes: Uint8Array): string {
  return hash('sha256', bytes, 'binary');
}

/** What a failed check means for gossip: a CareLedgerError says ignore or reject; anything else rejects. */
export function rejection(err: unknown): Acceptance {
  if (err instanceof CareLedgerError) {
    if (err.action === 'ignore') return { result: 'ignore', reason: err.message };
    return { result: 'reject', code: err.code, reason: err.message };
  }
  return { result: 'reject', code: 'MESSAGE_INVALID', reason: (err as Error).message };
}

/** The precommits a verified commit stands for, by validator index. */
function votesOfCommit(commit: Commit, state: ConsensusState<ProposedBlock>): (Vote | undefined)[] {
  const votes: (Vote | undefined)[] = [];
  commit.signatures.forEach((sig, index) => {
    if (sig.flag === CommitFlag.absent) return;
    const validator = state.validators.validators[index]!;
    const blockId = sig.flag === CommitFlag.commit ? commit.blockId : new Uint8Array(0);
    votes[index] = {
      type: VoteTypes.precommit,
      height: commit.height,
      round: commit.round,
      blockId,
      validatorIndex: index,
      validatorAddress: validator.address,
      signature: sig.signature,
    };
  });
  return votes;
}
