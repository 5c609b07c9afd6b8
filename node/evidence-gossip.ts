/**
 * The node's evidence reactor, as CometBFT's: the one evidence pool (consensus/evidence-pool.ts)
 * and the evidence topic. Each tick publishes what the pool says is due (new evidence at once,
 * then again after 1 s, 2 s and every 4 s until a block carries it or it expires), in lists of at
 * most a block's `max_evidence`; a peer's list is checked here before any of it enters the pool.
 * A node that saw only one of an equivocator's two votes thus learns the evidence from a peer
 * that saw both, and whichever honest validator proposes next can put it in a block.
 *
 * The pool is in memory: a restarted node forgets what it held, and learns it again from its
 * peers' re-gossip, which goes on until a block carries the evidence.
 */
import type { EvidencePool } from '../consensus/evidence-pool.ts';
import { decodeEvidenceList, encodeEvidenceList } from '../consensus/messages.ts';
import type { Verdict } from '../p2p/host.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { checkEvidence } from '../packages/types/chain-state.ts';
import { type DuplicateVoteEvidence, evidenceHash } from '../packages/types/commit.ts';
import type { BlockStore } from '../state/block-store.ts';
import type { ChainHead } from './commit-pipeline.ts';
import type { Gossip } from './gossip.ts';
import type { Logger } from './log.ts';

/**
 * Evidence waiting for a block, at most; more is refused until some is committed. A block carries
 * up to max_evidence (100 by default), so a full pool drains in ten blocks.
 */
export const MAX_PENDING_EVIDENCE = 1000;

export interface EvidenceGossipModules {
  readonly pool: Pick<EvidencePool, 'due'>;
  readonly head: ChainHead;
  readonly gossip: Pick<Gossip, 'publish'>;
}

/** The sending side: the pool's due evidence to every peer, once a tick. */
export class EvidenceGossip {
  private readonly m: EvidenceGossipModules;

  constructor(modules: EvidenceGossipModules) {
    this.m = modules;
  }

  /** Publishes the evidence due at `now` (ms), in lists a peer's decoder takes whole. */
  tick(now: number): void {
    // A list holds at most what one block may carry: the receiver's bound (decodeEvidenceList).
    // A chain whose blocks carry none (max_evidence 0) has no use for it, and peers would refuse it.
    const max = this.m.head.chain.blockLimits.maxEvidence;
    if (max < 1) return;
    const due = this.m.pool.due(now);
    for (let i = 0; i < due.length; i += max)
      this.m.gossip.publish('evidence', encodeEvidenceList(due.slice(i, i + max)));
  }
}

export interface PeerEvidenceModules {
  readonly pool: Pick<EvidencePool, 'knows' | 'add'>;
  readonly head: ChainHead;
  readonly blocks: Pick<BlockStore, 'validatorsAt' | 'isEvidenceCommitted'>;
  /** The p2p module's logger. */
  readonly log: Logger;
}

/**
 * The receiving side: a peer's evidence list. Each evidence whose offence the pool does not know
 * is checked as a block's evidence is (checkEvidence: a committed height within the maximum age,
 * a proven equivocation by a member of that height's set) and added. A false proof rejects the
 * whole list, so it counts against the sender as any invalid gossip; evidence this node cannot
 * check yet (a height it has not committed) or any more (expired) is skipped, since a peer ahead
 * of or behind us sends it honestly and re-gossip brings it again. A valid list is not relayed
 * ('ignore'): every node re-gossips its own pool to every peer, which is what reaches them all.
 */
export function receiveEvidence(bytes: Uint8Array, m: PeerEvidenceModules, now: number): Verdict {
  const chain = m.head.chain;
  // Malformed bytes throw CODEC_* with action reject.
  const list = decodeEvidenceList(bytes, chain.blockLimits);
  const fresh: DuplicateVoteEvidence[] = [];
  for (const e of list) {
    // Known offences need no check; committed before a restart, the pool no longer knows it.
    if (m.pool.knows(e) || m.blocks.isEvidenceCommitted(evidenceHash(e))) continue;
    try {
      checkEvidence(chain, e, (h) => m.blocks.validatorsAt(h));
    } catch (err) {
      if (err instanceof CareLedgerError && err.action === 'ignore') continue;
      throw err;
    }
    fresh.push(e);
  }
  // Added only once the whole list is valid: a list with a forged proof brings nothing in.
  for (const e of fresh)
    if (m.pool.add(e, now))
      m.log.warn('equivocation learned from a peer', {
        validator: e.voteA.validatorIndex,
        height: e.voteA.height,
        round: e.voteA.round,
      });
  return 'ignore';
}
