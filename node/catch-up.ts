import { FUTURE_ROUND_WINDOW } from '../consensus/core/state-machine.ts';
import { MAX_VOTES_PER_VALIDATOR } from '../consensus/core/vote-set.ts';
import { decode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';

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
