/**
 * Consensus in the node: the consensus driver (consensus/driver.ts) and the node's side of its
 * `ConsensusHost` seam. The host builds our proposals (mempool txs the application prepared, the
 * evidence pool's evidence), checks peers' blocks (chain rules, then the application), sends our
 * messages on gossip (proposals by tx hashes), schedules timeouts, hands decisions to the commit
 * pipeline and peers' statuses to catch-up (sync/catch-up.ts). Proposals that arrive by hashes are
 * filled in first (proposal-filler.ts).
 *
 * `NodeConsensus` constructs the driver itself, with itself as the host: the driver calls the
 * host only once it is running, so neither needs the other assigned late.
 */
import type { TimeoutStep } from '../consensus/core/state-machine.ts';
import {
  type Acceptance,
  ConsensusDriver,
  type ConsensusHost,
  defaultDriverOptions,
  type ProposedBlock,
} from '../consensus/driver.ts';
import type { EvidencePool } from '../consensus/evidence-pool.ts';
import {
  type ConsensusMessage,
  encodeMessage,
  encodeProposalByHashes,
  isFullProposal,
  isProposalByHashes,
} from '../consensus/messages.ts';
import { DoubleSignGuard, FileSignStateStore } from '../consensus/privval.ts';
import { FileWal } from '../consensus/wal.ts';
import type { P2PHost, Verdict } from '../p2p/host.ts';
import { type KeyPair, signerFor } from '../packages/crypto/ed25519.ts';
import { type Block, MAX_BLOCK_TXS_BYTES } from '../packages/types/block.ts';
import { buildBlock, checkBlockTimeNotAhead, nextHeightStart } from '../packages/types/chain-state.ts';
import type { Commit, DuplicateVoteEvidence } from '../packages/types/commit.ts';
import { addressOf } from '../packages/types/validator.ts';
import type { Application } from '../state/application.ts';
import type { BlockStore } from '../state/block-store.ts';
import type { ChainHead, CommitPipeline } from './commit-pipeline.ts';
import type { NodeConfig } from './config.ts';
import type { Gossip } from './gossip.ts';
import type { OpenConsensus } from './inbound.ts';
import type { Logger } from './log.ts';
import type { Mempool } from './mempool.ts';
import type { NodeMetrics } from './metrics.ts';
import { ProposalFiller } from './proposal-filler.ts';
import type { CheckedTxs } from './seen-txs.ts';
import type { SyncPeers } from './sync/block-sync.ts';
import { PeerCatchUp } from './sync/catch-up.ts';
import { encodeSyncRequest } from './sync/protocol.ts';
import type { NodeTimers } from './timers.ts';
import type { TxBatcher } from './tx-gossip.ts';

/** How long a fetch of a proposal's txs may take: a round is short. */
const TXS_FETCH_TIMEOUT_MS = 2000;

export interface NodeConsensusOptions {
  readonly consensus: NodeConfig['consensus'];
  readonly validatorKey: KeyPair;
  /** The WAL and the double-sign guard's state file. */
  readonly paths: { readonly wal: string; readonly signState: string };
}

export interface NodeConsensusModules {
  readonly head: ChainHead;
  readonly p2p: Pick<P2PHost, 'topicPeers' | 'request' | 'sendDirect' | 'reportInvalid'>;
  readonly gossip: Pick<Gossip, 'publish'>;
  readonly txBatcher: Pick<TxBatcher, 'flush'>;
  readonly app: Pick<Application, 'prepareProposal' | 'processProposal'>;
  readonly mempool: Pick<Mempool, 'reap' | 'size'>;
  readonly blocks: Pick<BlockStore, 'block' | 'commit' | 'isEvidenceCommitted'>;
  readonly evidence: Pick<EvidencePool, 'forBlock' | 'add'>;
  readonly txs: CheckedTxs;
  readonly commits: Pick<CommitPipeline, 'validate' | 'decided'>;
  readonly syncPeers: SyncPeers;
  readonly timers: NodeTimers;
  readonly metrics: NodeMetrics | null;
  /** The consensus module's logger. */
  readonly log: Logger;
}

export class NodeConsensus implements ConsensusHost, OpenConsensus {
  readonly driver: ConsensusDriver;
  private readonly opts: NodeConsensusOptions;
  private readonly m: NodeConsensusModules;
  private readonly ownAddress: Uint8Array;
  /** Proposals that arrive by hashes: checked, filled in, then handed to consensus. */
  private readonly proposals: ProposalFiller;
  private readonly catchUp: PeerCatchUp;
  private lastTickHeight = -1n;
  private stuckTicks = 0;

  constructor(opts: NodeConsensusOptions, modules: NodeConsensusModules) {
    this.opts = opts;
    this.m = modules;
    const { validatorKey, paths } = opts;
    this.ownAddress = addressOf(validatorKey.publicKey);
    const c = opts.consensus;
    const chain = modules.head.chain;
    const wal = FileWal.open(paths.wal);
    if (wal.repairedOnOpen !== null) {
      // Damage cost the records behind it: say so, so an operator can look at the disk.
      modules.log.warn('consensus WAL repaired: dropped a damaged part and every record after it', {
        wal: paths.wal,
        ...wal.repairedOnOpen,
      });
      modules.metrics?.walRepairs.inc(modules.metrics.labels);
      modules.metrics?.walDroppedRecords.inc(modules.metrics.labels, wal.repairedOnOpen.droppedRecords);
    }
    this.driver = new ConsensusDriver(
      {
        chainId: chain.chainId,
        blockLimits: chain.blockLimits,
        consensus: {
          timeouts: {
            proposeMs: c.timeoutProposeMs,
            proposeDeltaMs: c.timeoutProposeDeltaMs,
            prevoteMs: c.timeoutPrevoteMs,
            prevoteDeltaMs: c.timeoutPrevoteDeltaMs,
            precommitMs: c.timeoutPrecommitMs,
            precommitDeltaMs: c.timeoutPrecommitDeltaMs,
          },
        },
        ...defaultDriverOptions,
      },
      this,
      wal,
      {
        guard: new DoubleSignGuard(
          new FileSignStateStore(paths.signState),
          signerFor(validatorKey.secretKey),
        ),
        pubKey: validatorKey.publicKey,
      },
      nextHeightStart(chain),
    );
    const { p2p, metrics, log } = modules;
    this.proposals = new ProposalFiller({
      driver: this.driver,
      blockLimits: () => modules.head.chain.blockLimits,
      localTx: (hash) => modules.txs.local(hash),
      peers: () => p2p.topicPeers('consensus'),
      requestTxs: (peer, missing) =>
        p2p.request(peer, 'blocks', encodeSyncRequest({ kind: 'txs', hashes: missing }), {
          timeoutMs: TXS_FETCH_TIMEOUT_MS,
        }),
      isStopped: () => modules.timers.stopped,
      fetched: (count) => metrics?.proposalTxsFetched.inc(metrics.labels, count),
      verdict: (outcome, from) => this.verdict(outcome, from),
      debug: (message, fields) => log.debug(message, fields),
    });
    this.catchUp = new PeerCatchUp(
      { gossipIntervalMs: c.gossipIntervalMs },
      {
        p2p,
        blocks: modules.blocks,
        head: modules.head,
        syncPeers: modules.syncPeers,
        consensus: this,
        isStopped: () => modules.timers.stopped,
        log,
      },
    );
  }

  get height(): bigint {
    return this.driver.height;
  }

  get round(): number {
    return this.driver.round;
  }

  /** Replays the WAL into the driver; the number of records replayed. */
  recover(): number {
    return this.driver.recover(nextHeightStart(this.m.head.chain));
  }

  /** Moves consensus to the height after our last commit, if it is not there yet. */
  advance(): void {
    if (this.driver.height > this.m.head.chain.lastHeight) return;
    this.driver.startHeight(nextHeightStart(this.m.head.chain));
    void this.proposals.heightStarted();
  }

  /** `advance`, if consensus is still at `height` (a timer set for an earlier height does nothing). */
  private advanceFrom(height: bigint): void {
    if (this.driver.height === height) this.advance();
  }

  /** Periodic: re-gossip while stuck, otherwise announce our height and round. */
  tick(): void {
    const height = this.m.head.chain.lastHeight;
    this.stuckTicks = height === this.lastTickHeight ? this.stuckTicks + 1 : 0;
    // A height normally spans a tick or two (commit pause included): re-gossip only when stuck
    // longer, so that repair traffic never competes with a healthy chain.
    if (this.stuckTicks >= 2) this.driver.rebroadcast();
    else {
      const status: ConsensusMessage = {
        kind: 'status',
        height: this.driver.height,
        round: this.driver.round,
      };
      this.m.gossip.publish('consensus', encodeMessage(status));
    }
    this.lastTickHeight = height;
    this.m.metrics?.rounds.set(this.m.metrics.labels, this.driver.round);
  }

  /** A consensus message from a peer (gossiped, or in a round catch-up answer). */
  receive(bytes: Uint8Array, from: string): Verdict | Promise<Verdict> {
    if (isProposalByHashes(bytes)) return this.proposals.receive(bytes, from);
    // No node sends it: a whole block for the next height would be held unchecked.
    if (isFullProposal(bytes))
      return this.verdict(
        { result: 'reject', code: 'PROPOSAL_FULL_FORM', reason: 'proposals travel by tx hashes' },
        from,
      );
    return this.verdict(this.driver.receive(bytes, from), from);
  }

  /** A round's proposal (by hashes) and votes, for a peer behind it. */
  roundMessages(height: bigint, round: number): Uint8Array[] {
    const { proposal, votes } = this.driver.roundMessages(height, round);
    const wire = proposal === null ? [] : [encodeProposalByHashes(proposal.proposal, proposal.block)];
    return [...wire, ...votes];
  }

  private verdict(outcome: Acceptance, from: string): Verdict {
    if (outcome.result === 'reject')
      this.m.log.debug('rejected a consensus message', { from, code: outcome.code });
    return outcome.result;
  }

  /**
   * How a consensus message travels: a proposal with its txs as hashes, the rest as encoded. Before
   * our own proposal, the txs accepted from our clients but not yet gossiped go out, so peers hold
   * them by the time the proposal arrives.
   */
  private wireForm(bytes: Uint8Array, message: ConsensusMessage, own: boolean): Uint8Array {
    if (message.kind !== 'proposal') return bytes;
    if (own) this.m.txBatcher.flush();
    return encodeProposalByHashes(message.proposal, message.block);
  }

  // The ConsensusHost seam (consensus/driver.ts).

  buildBlock(): Block {
    const { head, app, mempool, blocks, evidence, txs: checked } = this.m;
    const chain = head.chain;
    const limits = chain.blockLimits;
    const txs = app.prepareProposal(mempool.reap(limits.maxTxs, MAX_BLOCK_TXS_BYTES));
    const block = buildBlock(chain, {
      txs: txs.map((t) => t.bytes),
      txHashes: txs.map((t) => t.hash),
      evidence: evidence.forBlock(chain, (hash) => blocks.isEvidenceCommitted(hash), limits.maxEvidence),
      time: BigInt(Date.now()),
      proposer: this.ownAddress,
    });
    checked.remember(block, txs);
    return block;
  }

  isValidBlock(block: Block): boolean {
    try {
      this.m.commits.validate(block);
      return this.m.app.processProposal(block, this.m.txs.of(block));
    } catch (err) {
      this.m.log.debug('invalid proposal', { height: block.header.height, error: (err as Error).message });
      return false;
    }
  }

  isTimelyBlock(block: Block): boolean {
    try {
      checkBlockTimeNotAhead(block.header, BigInt(Date.now()));
      return true;
    } catch (err) {
      this.m.log.debug('untimely proposal: prevoting nil', {
        height: block.header.height,
        error: (err as Error).message,
      });
      return false;
    }
  }

  broadcast(bytes: Uint8Array, message: ConsensusMessage): void {
    this.m.gossip.publish('consensus', this.wireForm(bytes, message, true));
  }

  relay(bytes: Uint8Array, message: ConsensusMessage): void {
    this.m.gossip.publish('consensus', this.wireForm(bytes, message, false));
  }

  scheduleTimeout(height: bigint, round: number, step: TimeoutStep, delayMs: number): void {
    this.m.timers.after(delayMs, () => this.driver.onTimeout(height, round, step));
  }

  /**
   * Once the block is written, the next height starts after timeout_commit (the chain's pace, and
   * time for a slower validator to finish the height); at once if every validator's precommit is
   * already in and txs are waiting for a block (skip_timeout_commit), as the pause can then wait
   * for nobody; an idle chain keeps the pause, so it makes one empty block per pause, not one as
   * fast as consensus runs. The next block's
   * LastCommit is the decision's commit either way (the +2/3 held at the decision).
   * The pause's timer is bound to this height: if `allPrecommitsIn` started the next one early,
   * it must not cut that height's own pause short.
   */
  decide(value: ProposedBlock, commit: Commit): void {
    const height = commit.height;
    this.m.commits.decided(value.block, commit).then(
      () => {
        const skip = this.driver.allPrecommitsIn && this.mayStartEarly();
        this.m.timers.after(skip ? 0 : this.opts.consensus.timeoutCommitMs, () => this.advanceFrom(height));
      },
      () => {
        // Logged by the commit pipeline; a failed commit has stopped the node.
      },
    );
  }

  allPrecommitsIn(height: bigint): void {
    // From inside the driver (no startHeight there): advanceFrom waits for the block to be written.
    if (this.mayStartEarly()) this.m.timers.after(0, () => this.advanceFrom(height));
  }

  /** skip_timeout_commit applies: it is on, and the mempool holds txs for the next block. */
  private mayStartEarly(): boolean {
    return this.opts.consensus.skipTimeoutCommit && this.m.mempool.size > 0;
  }

  evidence(e: DuplicateVoteEvidence): void {
    // Gossiped to every peer from the next tick on (evidence-gossip.ts).
    if (this.m.evidence.add(e, Date.now()))
      this.m.log.warn('equivocation detected', {
        validator: e.voteA.validatorIndex,
        height: e.voteA.height,
        round: e.voteA.round,
      });
  }

  peerStatus(peer: string, height: bigint, round: number): void {
    this.catchUp.peerStatus(peer, height, round);
  }
}
