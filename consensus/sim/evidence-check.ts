/**
 * The simulator's evidence check: every equivocation an honest validator saw must reach a block.
 *
 * The bound is per block, not a fixed number of heights: a block proposed by an honest validator
 * that still had room for evidence (fewer than max_evidence) must carry every equivocation that
 * validator could have had in its pool by then. With the evidence reactor's re-gossip
 * (consensus/evidence-pool.ts), that is every equivocation first seen, by any honest node, at least
 * EVIDENCE_DELIVERY_MS before the block was built, counted from stabilisation at the earliest (before
 * it, gossip may be lost or partitioned for any time) and from when the proposer could verify it
 * (it had committed the height before the evidence's, so it knew that height's validator set).
 * A fixed "by height h+3" bound is wrong once there are many byzantine validators: three byzantine
 * proposers in a row carry nothing, and many equivocators per round can fill blocks. This bound
 * still fails as soon as evidence is left out of a block that could have carried it, so a run where
 * evidence is never committed fails at the first honest block after the allowance.
 */
import type { Block } from '../../packages/types/block.ts';
import type { DuplicateVoteEvidence } from '../../packages/types/commit.ts';
import { EVIDENCE_REGOSSIP_MS } from '../evidence-pool.ts';

/**
 * After GST, how long evidence may take to reach every honest node: the longest re-gossip delay,
 * plus a node's 1 s tick on which it sends, plus the network's 100 ms bound and a margin.
 */
export const EVIDENCE_DELIVERY_MS = Math.max(...EVIDENCE_REGOSSIP_MS) + 1000 + 100 + 900;

/** The offence an equivocation is, as the checker names it: validator index, height, round, type. */
export function equivocationKey(e: DuplicateVoteEvidence): string {
  return `${e.voteA.validatorIndex}:${e.voteA.height}:${e.voteA.round}:${e.voteA.type}`;
}

export class EvidenceChecker {
  private readonly gst: number;
  private readonly maxEvidence: number;
  /** Equivocations seen by an honest node and not yet committed: height and first-seen time. */
  private readonly pending = new Map<string, { readonly height: bigint; readonly seenAt: number }>();
  /** Equivocations some committed block carries. */
  private readonly committedKeys = new Set<string>();
  /** When each honest node committed each height (the first time). */
  private readonly reachedAt = new Map<number, Map<bigint, number>>();

  constructor(gst: number, maxEvidence: number) {
    this.gst = gst;
    this.maxEvidence = maxEvidence;
  }

  get committed(): number {
    return this.committedKeys.size;
  }

  /** An honest node formed or received this evidence at `now`. */
  seen(e: DuplicateVoteEvidence, now: number): void {
    const key = equivocationKey(e);
    if (!this.committedKeys.has(key) && !this.pending.has(key))
      this.pending.set(key, { height: e.voteA.height, seenAt: now });
  }

  /** Honest node `node` committed `height` at `now`. */
  reached(node: number, height: bigint, now: number): void {
    const heights = this.reachedAt.get(node) ?? new Map<bigint, number>();
    this.reachedAt.set(node, heights);
    if (!heights.has(height)) heights.set(height, now);
  }

  /** Keys of the equivocations this block carries, now committed. */
  private commit(block: Block): Set<string> {
    const keys = new Set(block.evidence.map(equivocationKey));
    for (const key of keys) {
      this.pending.delete(key);
      this.committedKeys.add(key);
    }
    return keys;
  }

  /**
   * A block committed for the first time, built by `proposer` (null if byzantine): a violation
   * message if an honest proposer left out evidence it must have had while its block had room.
   */
  check(block: Block, proposer: number | null): string | null {
    const carried = this.commit(block);
    if (proposer === null || block.evidence.length >= this.maxEvidence) return null;
    const builtAt = Number(block.header.time);
    const height = block.header.height;
    for (const [key, { height: h, seenAt }] of this.pending) {
      if (carried.has(key) || h >= height) continue;
      const known = h <= 1n ? 0 : (this.reachedAt.get(proposer)?.get(h - 1n) ?? Number.POSITIVE_INFINITY);
      const due = Math.max(seenAt, this.gst, known) + EVIDENCE_DELIVERY_MS;
      if (builtAt >= due) {
        return `evidence: equivocation ${key} (first seen at ${seenAt} ms) is missing from block ${height}, built at ${builtAt} ms by honest node ${proposer} with room for ${this.maxEvidence - block.evidence.length} more`;
      }
    }
    return null;
  }

  /**
   * An equivocation still uncommitted at `now` though seen (after GST) more than twice the
   * delivery allowance ago: the run goes on while there is one, and fails on it at its deadline.
   */
  overdue(now: number): string | null {
    // Called after every simulated event: the oldest (first inserted) pending one is enough.
    for (const [key, { seenAt }] of this.pending) {
      if (Math.max(seenAt, this.gst) + 2 * EVIDENCE_DELIVERY_MS > now) return null;
      return `evidence: equivocation ${key} (first seen at ${seenAt} ms) was never committed`;
    }
    return null;
  }
}
