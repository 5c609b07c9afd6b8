import { FUTURE_ROUND_WINDOW } from '../../consensus/core/state-machine.ts';
import { MAX_VOTES_PER_VALIDATOR } from '../../consensus/core/vote-set.ts';
import { encodeMessage } from '../../consensus/messages.ts';
import type { P2PHost, Verdict } from '../../p2p/host.ts';
import { decode } from '../../packages/codec/canonical.ts';
import * as s from '../../packages/codec/schema.ts';
import type { BlockStore } from '../../state/block-store.ts';
import type { ChainHead } from '../commit-pipeline.ts';
import type { Logger } from '../log.ts';
import type { SyncPeers } from './block-sync.ts';
import { encodeSyncRequest } from './protocol.ts';

/**
 * When a node helps a peer that fell behind (CatchUpPolicy: a height; below it a node asks for a
 * round it fell behind in, RoundCatchUpPolicy).
 *
 * When to send a peer the block and commit of a height it is still deciding but we have
 * committed (a catch-up). A peer one height behind is usually just finishing that height: its
 * commit is being written, or the last precommits are on their way. Sending it the whole block
 * then costs both sides a large message that it ignores, and under load these made up most of
 * the consensus traffic. So a catch-up goes out only after the peer has reported the same lagging
 * height for `graceMs`, and again only after `resendMs` in case that one was lost. CometBFT's
 * gossip also sends a lagging peer only what it lacks.
 */
export class CatchUpPolicy {
  private readonly graceMs: number;
  private readonly resendMs: number;
  private readonly now: () => number;
  /** By peer (members only: the gater admits no one else, so the map stays small). */
  private readonly lagging = new Map<string, { height: bigint; since: number; sentAt: number }>();

  constructor(graceMs: number, resendMs: number, now: () => number = Date.now) {
    this.graceMs = graceMs;
    this.resendMs = resendMs;
    this.now = now;
  }

  /** A peer says it is deciding `peerHeight`; true if it should be sent that height's block now. */
  onStatus(peer: string, peerHeight: bigint, lastCommitted: bigint): boolean {
    if (peerHeight > lastCommitted) {
      this.lagging.delete(peer);
      return false;
    }
    const t = this.now();
    const entry = this.lagging.get(peer);
    if (entry === undefined || entry.height !== peerHeight) {
      this.lagging.set(peer, { height: peerHeight, since: t, sentAt: Number.NEGATIVE_INFINITY });
      return false;
    }
    if (t - entry.since < this.graceMs || t - entry.sentAt < this.resendMs) return false;
    entry.sentAt = t;
    return true;
  }
}

/**
 * When to ask a peer for a round's proposal and votes: the peer reports our height at a higher
 * round, so this node fell behind a round (its messages were lost, or it restarted). Its votes
 * show this node, by the rules of the algorithm, that the round moved on (f+1 of them skip it
 * there). Pull, not only push: the peer re-sends its own messages only once its height has been
 * stuck for a while. Within `intervalMs` only a round later than the last one asked for is asked
 * for, whichever peer reports it, so peers at different rounds (or one naming rounds at random)
 * cost at most a request per later round; the node also keeps one request in flight.
 */
export class RoundCatchUpPolicy {
  private readonly intervalMs: number;
  private readonly now: () => number;
  private last: { height: bigint; round: number; at: number } | null = null;

  constructor(intervalMs: number, now: () => number = Date.now) {
    this.intervalMs = intervalMs;
    this.now = now;
  }

  /** A peer says it is at `peerHeight`/`peerRound`; true if we should ask it for that round now. */
  onStatus(peerHeight: bigint, peerRound: number, ourHeight: bigint, ourRound: number): boolean {
    // Beyond the window consensus takes rounds from, a claimed round is worth nothing to ask for.
    if (peerHeight !== ourHeight || peerRound <= ourRound || peerRound > ourRound + FUTURE_ROUND_WINDOW)
      return false;
    const t = this.now();
    const last = this.last;
    if (
      last !== null &&
      last.height === peerHeight &&
      peerRound <= last.round &&
      t - last.at < this.intervalMs
    )
      return false;
    this.last = { height: peerHeight, round: peerRound, at: t };
    return true;
  }
}

/**
 * The messages of an answer to ['round', height, round]: the proposal and, per validator of a set
 * of `validators`, its prevotes and precommits, conflicting ones included (an equivocating
 * validator's are exactly what a node behind should see), up to what a vote set keeps of one.
 */
export function readRoundAnswer(bytes: Uint8Array, validators: number): Uint8Array[] {
  const most = 1 + 2 * MAX_VOTES_PER_VALIDATOR * validators;
  return s
    .list(decode(bytes), most, 'round messages')
    .map((item, i) => s.bytes(item, `round messages[${i}]`));
}

/** How long a fetch of a round's messages may take: a round is short. */
export const ROUND_FETCH_TIMEOUT_MS = 2000;

export interface PeerCatchUpOptions {
  /** The consensus gossip interval: peers report their height and round once per interval. */
  readonly gossipIntervalMs: number;
  /** The clock (tests pass their own). */
  readonly now?: () => number;
}

/** What catching up with peers needs of the node. */
export interface PeerCatchUpModules {
  readonly p2p: Pick<P2PHost, 'sendDirect' | 'request' | 'reportInvalid'>;
  readonly blocks: Pick<BlockStore, 'block' | 'commit'>;
  readonly head: ChainHead;
  /** Peers' claimed heights, for block sync. */
  readonly syncPeers: SyncPeers;
  /** Where consensus stands, and how it takes a message as if gossiped. */
  readonly consensus: {
    readonly height: bigint;
    readonly round: number;
    receive(bytes: Uint8Array, from: string): Verdict | Promise<Verdict>;
  };
  isStopped(): boolean;
  readonly log: Logger;
}

/**
 * What a peer's status (its height and round) sets off: block sync learns its height; a peer
 * deciding a height we committed is sent that block (CatchUpPolicy); a peer at our height in a
 * later round is asked for that round's messages (RoundCatchUpPolicy, one request in flight).
 */
export class PeerCatchUp {
  private readonly m: PeerCatchUpModules;
  private readonly heights: CatchUpPolicy;
  private readonly rounds: RoundCatchUpPolicy;
  /** A round catch-up request is in flight (one at a time). */
  private catchingUpRound = false;

  constructor(opts: PeerCatchUpOptions, modules: PeerCatchUpModules) {
    this.m = modules;
    // Statuses come once per gossip interval: the second one at the same lagging height sends.
    const now = opts.now ?? Date.now;
    this.heights = new CatchUpPolicy(opts.gossipIntervalMs / 2, 3 * opts.gossipIntervalMs, now);
    this.rounds = new RoundCatchUpPolicy(opts.gossipIntervalMs, now);
  }

  peerStatus(peer: string, height: bigint, round: number): void {
    const { consensus } = this.m;
    this.m.syncPeers.claim(peer, height);
    if (this.heights.onStatus(peer, height, this.m.head.chain.lastHeight)) void this.sendBlock(peer, height);
    if (!this.catchingUpRound && this.rounds.onStatus(height, round, consensus.height, consensus.round))
      void this.catchUpRound(peer, height, round);
  }

  /** A peer is at a height we committed: send it the block and its commit directly. */
  private async sendBlock(peer: string, height: bigint): Promise<void> {
    const block = await this.m.blocks.block(height);
    const commit = await this.m.blocks.commit(height);
    if (block === null || commit === null) return;
    await this.m.p2p
      .sendDirect(peer, 'consensus', encodeMessage({ kind: 'catch-up', block, commit }))
      .catch(() => 'ignore');
  }

  /**
   * A peer is at our height in a later round: ask it for that round's proposal and votes and take
   * them as if gossiped (each checked by consensus; a proposal is filled in from our txs).
   */
  private async catchUpRound(peer: string, height: bigint, round: number): Promise<void> {
    const { p2p, consensus, log } = this.m;
    this.catchingUpRound = true;
    try {
      const items = readRoundAnswer(
        await p2p.request(peer, 'blocks', encodeSyncRequest({ kind: 'round', height, round }), {
          timeoutMs: ROUND_FETCH_TIMEOUT_MS,
        }),
        this.m.head.chain.validators.set.validators.length,
      );
      let accepted = 0;
      for (const item of items) {
        if (this.m.isStopped() || consensus.height !== height) return;
        const verdict = await consensus.receive(item, peer);
        if (verdict === 'accept') accepted++;
        // The peer held it as valid: an invalid one in its answer counts against it.
        if (verdict === 'reject') p2p.reportInvalid(peer);
      }
      log.info('caught up a round from a peer', { peer, height, round, messages: items.length, accepted });
    } catch (err) {
      log.debug('round catch-up failed', { peer, height, round, error: (err as Error).message });
    } finally {
      this.catchingUpRound = false;
    }
  }
}
