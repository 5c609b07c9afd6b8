/**
 * What peers send this node, routed to the module that handles it: gossip validation (a batch of
 * client txs to the mempool, a consensus message to consensus, an evidence list to the evidence
 * pool once checked: evidence-gossip.ts) and sync requests (sync/requests.ts).
 * This is the p2p host's handler object, built before the host.
 *
 * Consensus is closed until its WAL is replayed (`open`): before that the driver is fresh
 * (unlocked, round 0) and what it signed could break a lock the WAL holds, so consensus messages
 * are ignored and round requests answered with nothing. Peers re-send what matters.
 */
import type { EvidencePool } from '../consensus/evidence-pool.ts';
import type { P2PHandlers, TopicKind, Verdict } from '../p2p/host.ts';
import type { BlockStore } from '../state/block-store.ts';
import type { ChainHead } from './commit-pipeline.ts';
import { receiveEvidence } from './evidence-gossip.ts';
import type { Logger } from './log.ts';
import type { Mempool } from './mempool.ts';
import type { CheckedTxs } from './seen-txs.ts';
import { answerSyncRequest } from './sync/requests.ts';
import { decodeTxBatchMessage } from './tx-gossip.ts';

/** What consensus offers peers once open. */
export interface OpenConsensus {
  receive(bytes: Uint8Array, from: string): Verdict | Promise<Verdict>;
  roundMessages(height: bigint, round: number): Uint8Array[];
}

export interface InboundModules {
  readonly head: ChainHead;
  readonly blocks: Pick<BlockStore, 'storedBytes' | 'validatorsAt' | 'isEvidenceCommitted'>;
  readonly mempool: Pick<Mempool, 'add'>;
  readonly evidence: Pick<EvidencePool, 'knows' | 'add'>;
  readonly txs: Pick<CheckedTxs, 'local'>;
  isStopped(): boolean;
  /** The p2p module's logger. */
  readonly log: Logger;
}

export class Inbound implements P2PHandlers {
  private readonly m: InboundModules;
  /** Null until the consensus WAL is replayed. */
  private consensus: OpenConsensus | null = null;

  constructor(modules: InboundModules) {
    this.m = modules;
  }

  /** The consensus WAL is replayed: consensus messages and round requests are taken from now on. */
  open(consensus: OpenConsensus): void {
    this.consensus = consensus;
  }

  validate(kind: TopicKind, bytes: Uint8Array, from: string): Verdict | Promise<Verdict> {
    switch (kind) {
      case 'tx':
        return this.onTxBatch(bytes);
      case 'consensus':
        if (this.m.isStopped() || this.consensus === null) return 'ignore';
        return this.consensus.receive(bytes, from);
      case 'evidence': {
        if (this.m.isStopped()) return 'ignore';
        const { head, blocks, evidence, log } = this.m;
        return receiveEvidence(bytes, { pool: evidence, head, blocks, log }, Date.now());
      }
    }
  }

  onRequest(_kind: 'blocks', bytes: Uint8Array): Promise<Uint8Array> {
    return answerSyncRequest(bytes, {
      lastHeight: () => this.m.head.chain.lastHeight,
      stored: (h) => this.m.blocks.storedBytes(h),
      localTx: (hash) => this.m.txs.local(hash),
      roundMessages: (height, round) => this.consensus?.roundMessages(height, round) ?? null,
    });
  }

  onError(err: unknown, where: string): void {
    this.m.log.debug('p2p error', { where, error: (err as Error).message });
  }

  /**
   * A batch of txs: rejected if any tx is invalid; otherwise relayed ('accept') only if it brought
   * a new tx and its origin asked for relay, i.e. its publish did not reach every member
   * (node/tx-gossip.ts). Valid txs enter the mempool either way.
   */
  private onTxBatch(bytes: Uint8Array): Verdict {
    const batch = decodeTxBatchMessage(bytes);
    let fresh = false;
    for (const tx of batch.txs) {
      const result = this.m.mempool.add(tx);
      if (result.ok) {
        if (!result.duplicate) fresh = true;
      } else if (result.error.action === 'reject' && result.error.code !== 'MEMPOOL_FULL') {
        return 'reject';
      }
    }
    return fresh && batch.relay ? 'accept' : 'ignore';
  }
}
