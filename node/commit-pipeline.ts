/**
 * The commit pipeline: the one way a block becomes part of this node's chain, whether consensus
 * decided it or block sync fetched it. Commits are serialised: a block is executed by the
 * application and written with its state changes, indexes and the chain state in one synced
 * LevelDB batch (executor.ts); only then does anything after it run. After each commit: the txs
 * are remembered as committed, the mempool and the evidence pool drop what the block carried (and
 * the pool what has expired), the 'block' event goes out (the RPC answers its broadcast_tx_commit
 * waiters and subscribers from it, the records service its vault), and the p2p gater follows
 * the member list.
 *
 * A decided block that cannot be executed and written stops the pipeline for good (`fail`).
 */
import { EventEmitter } from 'node:events';
import { proposedBlock } from '../consensus/driver.ts';
import type { EvidencePool } from '../consensus/evidence-pool.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { toHex } from '../packages/crypto/hash.ts';
import type { Block } from '../packages/types/block.ts';
import { type ChainState, validateBlock } from '../packages/types/chain-state.ts';
import { type Commit, CommitFlag, verifyCommit } from '../packages/types/commit.ts';
import type { AppEvent, Application, ExecTxResult } from '../state/application.ts';
import type { BlockStore } from '../state/block-store.ts';
import type { Db } from '../state/db.ts';
import { executeBlock } from './executor.ts';
import type { Logger } from './log.ts';
import type { MemberGate, Membership } from './membership.ts';
import type { Mempool } from './mempool.ts';
import type { NodeMetrics } from './metrics.ts';
import type { CheckedTxs, RecentlyCommitted } from './seen-txs.ts';

/**
 * The chain state this node has committed to: read by every module, advanced only by the commit
 * pipeline. Its own object so that the sync request handler, built before the p2p host (which
 * the pipeline needs), can read it.
 */
export class ChainHead {
  chain: ChainState;

  constructor(chain: ChainState) {
    this.chain = chain;
  }
}

/** What a committed block did, as the 'block' event announces it. */
export type BlockResults = {
  readonly txResults: readonly ExecTxResult[];
  readonly events: readonly AppEvent[];
  /**
   * Indexes of txs that were replays of committed ones (not executed again: their result is a
   * refusal, and their commit is an earlier block's). Absent: none.
   */
  readonly replayed?: ReadonlySet<number>;
};

/** The node's events (see `CommitPipeline.events`). */
export type NodeEvents = {
  /** A decided block could not be written: the owner must stop the node (see `fail`). */
  fatal: [error: CareLedgerError];
  block: [block: Block, results: BlockResults, after: ChainState];
};

export interface CommitPipelineModules {
  readonly head: ChainHead;
  readonly db: Db;
  readonly blocks: BlockStore;
  readonly app: Application;
  readonly mempool: Pick<Mempool, 'update' | 'size'>;
  readonly evidence: Pick<EvidencePool, 'committed'>;
  readonly txs: Pick<CheckedTxs, 'of' | 'committed'>;
  readonly recent: Pick<RecentlyCommitted, 'add' | 'hasKey'>;
  readonly membership: Membership;
  readonly gate: MemberGate;
  readonly metrics: NodeMetrics | null;
  readonly log: Logger;
}

export class CommitPipeline {
  private readonly m: CommitPipelineModules;
  private queue: Promise<void> = Promise.resolve();
  /** Set once a decided block could not be written: the node takes no block after it. */
  private failure: CareLedgerError | null = null;
  /**
   * 'block' (block, results: { txResults, events }, after: ChainState) after each commit, for RPC
   * subscriptions, and 'fatal' (error) when a decided block could not be written.
   */
  readonly events = new EventEmitter<NodeEvents>();
  constructor(modules: CommitPipelineModules) {
    this.m = modules;
  }

  get chain(): ChainState {
    return this.m.head.chain;
  }

  /** True once a decided block could not be written. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Stateful checks of a block on top of our chain (not the application's). Throws BLOCK_INVALID. */
  validate(block: Block): void {
    validateBlock(this.chain, block, {
      isCommitted: (h: Uint8Array) => this.m.blocks.isEvidenceCommitted(h),
      validatorsAt: (h: bigint) => this.m.blocks.validatorsAt(h),
    });
  }

  /** Consensus decided `block`: commit it, and the first one decided with the network ends catching up. */
  decided(block: Block, commit: Commit): Promise<void> {
    return this.enqueue(async () => {
      await this.commitBlock(block, commit);
      if (this.m.membership.isCatchingUp)
        await this.m.membership.caughtUp(this.m.gate, this.chain.lastHeight);
    });
  }

  /** Block sync fetched `block`: commit it if it is the next one and its commit holds. */
  synced(block: Block, commit: Commit): Promise<void> {
    return this.enqueue(async () => {
      if (block.header.height !== this.chain.lastHeight + 1n) return;
      const id = proposedBlock(block).id;
      // Never trust a peer: the commit must carry +2/3 of this height's validator set.
      verifyCommit(this.chain.chainId, commit, this.chain.validators.set, id);
      this.validate(block);
      await this.commitBlock(block, commit);
    });
  }

  /** Resolves once the commit in progress (if any) has finished its batch. */
  async drain(): Promise<void> {
    await this.queue;
  }

  private enqueue(run: () => Promise<void>): Promise<void> {
    const next = this.queue.then(run);
    this.queue = next.catch((err: unknown) =>
      this.m.log.error('commit failed', { error: (err as Error).message }),
    );
    return next;
  }

  /** Executes and durably writes a block; everything for one height in one batch. */
  private async commitBlock(block: Block, commit: Commit): Promise<void> {
    const m = this.m;
    const height = block.header.height;
    if (this.failure !== null) throw this.failure;
    if (height !== this.chain.lastHeight + 1n) return;
    const started = performance.now();
    const previousTime = this.chain.lastBlockTime;
    const txs = m.txs.of(block);
    let executed: Awaited<ReturnType<typeof executeBlock>>;
    try {
      executed = await executeBlock(
        {
          db: m.db,
          blocks: m.blocks,
          app: m.app,
          chain: this.chain,
          recentlyCommitted: (key) => m.recent.hasKey(key),
        },
        block,
        commit,
        txs,
      );
    } catch (err) {
      throw this.fail(height, err);
    }
    const { after, txResults, events, appHash, replayed, blockBytes } = executed;
    m.head.chain = after;
    for (const [i, tx] of txs.entries()) {
      if (replayed.has(i)) continue;
      m.recent.add(tx.hash);
    }
    m.evidence.committed(block.evidence, after);
    m.txs.committed(block);
    m.mempool.update(txs.map((tx) => tx.hash));
    m.log.info('committed', {
      height,
      // A round above 0 means the first round failed (a late proposal, a missing vote).
      round: commit.round,
      txs: block.txs.length,
      appHash: toHex(appHash).slice(0, 16),
      // Execution and the synced write, the part of the block interval this node spends alone.
      ms: Math.round(performance.now() - started),
    });
    this.events.emit('block', block, { txResults, events, replayed }, after);
    this.updateMetrics({ block, bytes: blockBytes }, previousTime, started);
    await m.membership.follow(m.gate);
  }

  /**
   * A decided block could not be executed or written (the application's state, the database, the
   * disk): nothing after it can be. Its batch may even have been written while this node's memory
   * still holds the height before, so the node stops taking blocks and asks its owner to stop it
   * ('fatal'); restarted, it resumes from its database, which is consistent by construction.
   */
  private fail(height: bigint, err: unknown): CareLedgerError {
    if (this.failure === null) {
      const reason = err instanceof Error ? err.message : String(err);
      this.failure = new CareLedgerError(
        'NODE_COMMIT_FAILED',
        `block ${height} could not be executed and written (${reason}); the node stops`,
      );
      this.m.log.error(
        'a decided block could not be executed and written: the node stops; restarted, it resumes from its database',
        { height, error: reason },
      );
      this.events.emit('fatal', this.failure);
    }
    return this.failure;
  }

  /** Refreshes the gauges after a commit (or at start, with no block). */
  updateMetrics(committed: { block: Block; bytes: number } | null, previousTime = 0n, started = 0): void {
    const m = this.m.metrics;
    if (m === null) return;
    const labels = m.labels;
    const chain = this.chain;
    const set = chain.validators.set;
    m.height.set(labels, Number(chain.lastHeight + 1n));
    m.latestBlockHeight.set(labels, Number(chain.lastHeight));
    m.validators.set(labels, set.validators.length);
    m.validatorsPower.set(labels, Number(set.totalVotingPower));
    m.mempoolSize.set(labels, this.m.mempool.size);
    if (committed === null) return;
    const { block, bytes } = committed;
    m.blockProcessingTime.observe(labels, performance.now() - started);
    if (previousTime > 0n) m.blockInterval.observe(labels, Number(block.header.time - previousTime) / 1000);
    m.numTxs.set(labels, block.txs.length);
    m.totalTxs.inc(labels, block.txs.length);
    m.blockSizeBytes.set(labels, bytes);
    const signers = chain.lastValidators?.set;
    const missing =
      block.lastCommit?.signatures.flatMap((sig, i) =>
        sig.flag === CommitFlag.absent ? [signers?.validators[i]] : [],
      ) ?? [];
    m.missingValidators.set(labels, missing.length);
    m.missingValidatorsPower.set(labels, Number(missing.reduce((p, v) => p + (v?.votingPower ?? 0n), 0n)));
    const byzantine = block.evidence.map(
      (e) => this.m.blocks.validatorsAt(e.voteA.height)?.validators[e.voteA.validatorIndex],
    );
    m.byzantineValidators.set(labels, byzantine.length);
    m.byzantineValidatorsPower.set(
      labels,
      Number(byzantine.reduce((p, v) => p + (v?.votingPower ?? 0n), 0n)),
    );
  }
}
