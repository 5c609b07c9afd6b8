/**
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
