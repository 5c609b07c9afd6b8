/**
 * Evidence of equivocation waiting for a block: reported by consensus, taken into our own
 * proposals (at most a block's `max_evidence`), dropped once committed or older than the chain's
 * evidence max age. Bounded: a block carries at most max_evidence, and the vote sets bound what
 * one validator's equivocation can produce; the bound caps what many could.
 */
import { toHex } from '../packages/crypto/hash.ts';
import { type ChainState, evidenceForBlock } from '../packages/types/chain-state.ts';
import { type DuplicateVoteEvidence, evidenceHash } from '../packages/types/commit.ts';

export interface EvidencePoolOptions {
  /** Evidence waiting for a block, at most; more is dropped until some is committed. */
  readonly maxPending: number;
}

export const defaultEvidencePoolOptions: EvidencePoolOptions = { maxPending: 1000 };

export interface EvidencePoolModules {
  /** Whether the evidence with this hash is already in a committed block (the block store). */
  isCommitted(hash: Uint8Array): boolean;
}

export class EvidencePool {
  private readonly opts: EvidencePoolOptions;
  private readonly isCommitted: (hash: Uint8Array) => boolean;
  private readonly pending = new Map<string, DuplicateVoteEvidence>();

  constructor(opts: EvidencePoolOptions, modules: EvidencePoolModules) {
    this.opts = opts;
    this.isCommitted = (hash) => modules.isCommitted(hash);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Adds evidence consensus found; true if it is new (not pending, not committed, pool not full). */
  add(evidence: DuplicateVoteEvidence): boolean {
    if (this.pending.size >= this.opts.maxPending) return false;
    const hash = evidenceHash(evidence);
    const key = toHex(hash);
    if (this.pending.has(key) || this.isCommitted(hash)) return false;
    this.pending.set(key, evidence);
    return true;
  }

  /**
   * The evidence for a block proposed on top of `chain`, at most `max`; evidence too old for the
   * chain, or already committed, is dropped from the pool.
   */
  forBlock(chain: ChainState, max: number): DuplicateVoteEvidence[] {
    const { take, stale } = evidenceForBlock(chain, this.pending, this.isCommitted, max);
    for (const key of stale) this.pending.delete(key);
    return take;
  }

  /** A block was committed: its evidence is no longer pending. */
  committed(evidence: readonly DuplicateVoteEvidence[]): void {
    for (const e of evidence) this.pending.delete(toHex(evidenceHash(e)));
  }
}
