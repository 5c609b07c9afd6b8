/**
 * The evidence pool and its gossip rule, as CometBFT's evidence pool and evidence reactor: evidence
 * of an equivocation, whether this node formed it from two conflicting votes or a peer sent it, is
 * kept until a committed block carries it or it expires, and is re-sent to every peer until then.
 * A node that saw only one of the two votes (a loss, a partition, a crash) learns the evidence
 * from a peer that saw both, so whichever honest validator proposes next can put it in a block.
 *
 * One evidence per offence (validator, height, round, vote type) is enough to prove it, so the pool
 * keeps one: a validator that signs four different votes in one step makes one entry, not six.
 * Proposers take the oldest offences first, so a backlog (many equivocators, or byzantine
 * proposers whose blocks carry none) drains in order and no offence waits behind newer ones.
 *
 * No I/O: the host stores it (the simulator keeps it across crashes, as CometBFT's pool is on
 * disk), sends what `due` returns, and calls `committed` for each block it commits.
 */
import { toHex } from '../packages/crypto/hash.ts';
import { type ChainState, evidenceForBlock } from '../packages/types/chain-state.ts';
import type { DuplicateVoteEvidence } from '../packages/types/commit.ts';

/** Re-gossip delays after the first send, doubling up to the last: lost copies are re-sent. */
export const EVIDENCE_REGOSSIP_MS: readonly number[] = [1000, 2000, 4000];

/** The offence an evidence proves: its validator, height, round and vote type. */
export function offenceKey(e: DuplicateVoteEvidence): string {
  const v = e.voteA;
  return `${toHex(v.validatorAddress)}:${v.height}:${v.round}:${v.type}`;
}

interface Pending {
  readonly evidence: DuplicateVoteEvidence;
  readonly seq: number;
  /** Simulated or wall time of the next send to every peer, and how many sends were made. */
  nextGossip: number;
  sends: number;
}

export class EvidencePool {
  private readonly maxPending: number;
  private readonly pending = new Map<string, Pending>();
  /** Offences already in a committed block, by height, so another proof of one is not re-added. */
  private readonly committedOffences = new Map<string, bigint>();
  private seq = 0;

  constructor(maxPending: number) {
    this.maxPending = maxPending;
  }

  get size(): number {
    return this.pending.size;
  }

  /** True if a proof of this evidence's offence is pending or committed: a copy needs no check. */
  knows(e: DuplicateVoteEvidence): boolean {
    const key = offenceKey(e);
    return this.pending.has(key) || this.committedOffences.has(key);
  }

  /**
   * Adds verified evidence, to be gossiped at once (at `now`). False if its offence is already
   * known or the pool is full (a block carries at most max_evidence, so a bounded pool drains).
   */
  add(e: DuplicateVoteEvidence, now: number): boolean {
    if (this.knows(e) || this.pending.size >= this.maxPending) return false;
    this.pending.set(offenceKey(e), { evidence: e, seq: this.seq++, nextGossip: now, sends: 0 });
    return true;
  }

  /**
   * The evidence a block built on `chain` carries: oldest height first, at most `max`, by
   * validateBlock's rules. Drops from the pool what no later block may carry (expired, committed).
   */
  forBlock(
    chain: ChainState,
    isCommitted: (hash: Uint8Array) => boolean,
    max: number,
  ): DuplicateVoteEvidence[] {
    const ordered = [...this.pending].sort(([, a], [, b]) => {
      const ha = a.evidence.voteA.height;
      const hb = b.evidence.voteA.height;
      return ha < hb ? -1 : ha > hb ? 1 : a.seq - b.seq;
    });
    const { take, stale } = evidenceForBlock(
      chain,
      ordered.map(([key, p]) => [key, p.evidence] as const),
      isCommitted,
      max,
    );
    for (const key of stale) this.pending.delete(key);
    return take;
  }

  /**
   * A block was committed and `chain` is the state after it: the block's offences leave the pool
   * for good, and so does evidence past the maximum age (no block may carry it any more).
   */
  committed(evidence: readonly DuplicateVoteEvidence[], chain: ChainState): void {
    for (const e of evidence) {
      const key = offenceKey(e);
      this.pending.delete(key);
      this.committedOffences.set(key, e.voteA.height);
    }
    const expired = (height: bigint) => chain.lastHeight - height > chain.evidenceMaxAge;
    for (const [key, p] of this.pending) if (expired(p.evidence.voteA.height)) this.pending.delete(key);
    for (const [key, height] of this.committedOffences)
      if (expired(height)) this.committedOffences.delete(key);
  }

  /**
   * The pending evidence to send to every peer at `now`: new evidence at once, then again after
   * each delay of EVIDENCE_REGOSSIP_MS (the last repeating) until it is committed or expires.
   */
  due(now: number): DuplicateVoteEvidence[] {
    const out: DuplicateVoteEvidence[] = [];
    for (const p of this.pending.values()) {
      if (p.nextGossip > now) continue;
      out.push(p.evidence);
      p.nextGossip = now + EVIDENCE_REGOSSIP_MS[Math.min(p.sends, EVIDENCE_REGOSSIP_MS.length - 1)]!;
      p.sends++;
    }
    return out;
  }
}
