/**
 * A CareLedger node: wires the store, the application, the mempool, the p2p host, the consensus
 * driver and the RPC server together, in one place, from one home folder.
 *
 * Commits are serialised: a decided (or block-synced) block is executed by the application and
 * written with its state changes, indexes and the chain state in one synced LevelDB batch; only
 * then does consensus move to the next height. A node that starts behind its peers block-syncs
 * (verifying every commit against the validator set) before and while it takes part.
 */
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { TimeoutStep } from '../consensus/core/state-machine.ts';
import {
  type Acceptance,
  ConsensusDriver,
  type ConsensusHost,
  defaultDriverOptions,
  type ProposedBlock,
  proposedBlock,
} from '../consensus/driver.ts';
import {
  type ConsensusMessage,
  encodeMessage,
  encodeProposalByHashes,
  isFullProposal,
  isProposalByHashes,
} from '../consensus/messages.ts';
import { DoubleSignGuard, FileSignStateStore } from '../consensus/privval.ts';
import { FileWal } from '../consensus/wal.ts';
import { createP2PHost, defaultP2POptions, type P2PHost, type Verdict } from '../p2p/host.ts';
import { peerIdFromNodeKey } from '../p2p/identity.ts';
import { parsePersistentPeers } from '../p2p/peers.ts';
import { decode, encode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { signerFor } from '../packages/crypto/ed25519.ts';
import { equalBytes, toHex } from '../packages/crypto/hash.ts';
import {
  type Block,
  blockTxHashes,
  encodeBlock,
  MAX_BLOCK_TXS_BYTES,
  txHash,
} from '../packages/types/block.ts';
import {
  buildBlock,
  type ChainState,
  checkBlockTimeNotAhead,
  evidenceForBlock,
  nextHeightStart,
  validateBlock,
} from '../packages/types/chain-state.ts';
import {
  type Commit,
  CommitFlag,
  type DuplicateVoteEvidence,
  evidenceHash,
  verifyCommit,
} from '../packages/types/commit.ts';
import { type CheckedTx, MAX_TX_BYTES } from '../packages/types/tx.ts';
import { addressOf } from '../packages/types/validator.ts';
import { MAX_ROUND } from '../packages/types/vote.ts';
import type { AppEvent, Application, ExecTxResult } from '../state/application.ts';
import { BlockStore } from '../state/block-store.ts';
import { type Db, openDb } from '../state/db.ts';
import { HealthApp } from '../state/health/app.ts';
import { initChain, openApplication } from './app.ts';
import { answerBlocksRequest, readBlocksAnswer, SYNC_BATCH, SyncPeers } from './block-sync.ts';
import { CatchUpPolicy, RoundCatchUpPolicy, readRoundAnswer } from './catch-up.ts';
import { executeBlock } from './executor.ts';
import type { Home } from './home.ts';
import type { Logger } from './log.ts';
import { checkTxHashed, Mempool } from './mempool.ts';
import { NodeMetrics } from './metrics.ts';
import { ProposalFiller } from './proposal-filler.ts';
import { answerTxsRequest, encodeTxsRequest, TXS_REQUEST, txsRequestHashes } from './proposal-txs.ts';
import { RecordsService } from './records/service.ts';
import { finishInterruptedRollback } from './rollback.ts';
import { rpcMethods } from './rpc/methods.ts';
import { startRpcServer } from './rpc/server.ts';
import { decodeTxBatchMessage, reachesAllMembers, TxBatcher } from './tx-gossip.ts';

/** Evidence waiting for a block, at most. */
const MAX_EVIDENCE_PENDING = 1000;
/** How long a peer that failed a block sync request is not asked again. */
const SYNC_SKIP_MS = 30_000;
/** The sync request for a round's proposal and votes. */
const ROUND_REQUEST = 'round';
const REQUEST_TIMEOUT_MS = 5000;
const RECENT_COMMITTED_TXS = 100_000;
/** Direct sends of re-gossiped messages per tick, across peers (the sync protocol's streams are shared). */
const MAX_DIRECT_SENDS_PER_TICK = 24;
/** How long a fetch of txs or of a round's messages may take: a round is short. */
const FETCH_TIMEOUT_MS = 2000;
/** How long client txs wait to be gossiped together. */
const TX_BATCH_INTERVAL_MS = 50;

export class CareLedgerNode {
  readonly home: Home;
  readonly log: Logger;
  /** Per-module loggers, so `log.levels` can quiet or open up one part. */
  private readonly logs: { readonly p2p: Logger; readonly consensus: Logger; readonly sync: Logger };
  readonly peerId: string;
  readonly db: Db;
  readonly blocks: BlockStore;
  readonly app: Application;
  readonly mempool: Mempool;
  chain: ChainState;
  p2p!: P2PHost;
  driver!: ConsensusDriver;
  private rpc: Server | null = null;
  /** The record vault, exchange and local API (node/records/); health app only. */
  private records: RecordsService | null = null;
  private metricsServer: Server | null = null;
  readonly metrics: NodeMetrics | null;
  private commitQueue: Promise<void> = Promise.resolve();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly syncPeers = new SyncPeers(SYNC_SKIP_MS);
  private readonly catchUp: CatchUpPolicy;
  private readonly roundCatchUp: RoundCatchUpPolicy;
  /** A round catch-up request is in flight (one at a time). */
  private catchingUpRound = false;
  private readonly recentCommitted = new Set<string>();
  private readonly blockTxs = new Map<string, CheckedTx>();
  private readonly evidencePool = new Map<string, DuplicateVoteEvidence>();
  /** Proposals that arrive by hashes: checked, filled in, then handed to consensus. */
  private readonly proposals = new ProposalFiller({
    driver: () => this.driver,
    blockLimits: () => this.chain.blockLimits,
    localTx: (hash) => this.localTx(hash),
    peers: () => this.p2p.topicPeers('consensus'),
    requestTxs: (peer, missing) =>
      this.p2p.request(peer, 'blocks', encodeTxsRequest(missing), { timeoutMs: FETCH_TIMEOUT_MS }),
    isStopped: () => this.stopped,
    fetched: (count) => this.metrics?.proposalTxsFetched.inc(this.metrics.labels, count),
    verdict: (outcome, from) => this.verdict(outcome, from),
    debug: (message, fields) => this.logs.consensus.debug(message, fields),
  });
  private syncing = false;
  /** Set once the consensus WAL has been replayed: consensus messages are taken from then on. */
  private recovered = false;
  /** Set once a decided block could not be written: the node takes no block after it. */
  private failure: CareLedgerError | null = null;
  /**
   * Until this node decides a block with the network, its configured persistent peers may connect
   * besides the members of the state it has replayed: a node syncing from genesis starts with the
   * genesis members, whose nodes may all be gone. What they send is verified all the same.
   */
  private catchingUp = true;
  private stopped = false;
  private lastTickHeight = -1n;
  private stuckTicks = 0;
  /** Client txs on their way to the peers, one gossip message per batch. */
  private readonly txBatcher = new TxBatcher(
    512 * 1024,
    (batch) => this.publish('tx', batch),
    // A batch our own publish hands to every member needs no relay by the receivers (tx-gossip.ts).
    () => !reachesAllMembers(this.peerId, this.p2p.members(), this.p2p.topicPeers('tx')),
  );
  private directBudget = MAX_DIRECT_SENDS_PER_TICK;
  /**
   * 'block' (block: Block, results: { txResults, events }, after: ChainState) after each commit,
   * for RPC subscriptions, and 'fatal' (error) when a decided block could not be written.
   */
  readonly events = new EventEmitter<{
    /** A decided block could not be written: the owner must stop the node (see `fail`). */
    fatal: [error: CareLedgerError];
    block: [
      block: Block,
      results: { txResults: readonly ExecTxResult[]; events: readonly AppEvent[] },
      after: ChainState,
    ];
  }>();

  private constructor(
    home: Home,
    log: Logger,
    db: Db,
    blocks: BlockStore,
    app: Application,
    chain: ChainState,
  ) {
    this.home = home;
    this.log = log;
    this.logs = { p2p: log.child('p2p'), consensus: log.child('consensus'), sync: log.child('sync') };
    this.db = db;
    this.blocks = blocks;
    this.app = app;
    this.chain = chain;
    this.peerId = peerIdFromNodeKey(home.nodeKeySeed);
    // Statuses come once per gossip interval: the second one at the same lagging height sends.
    const gossipMs = home.config.consensus.gossipIntervalMs;
    this.catchUp = new CatchUpPolicy(gossipMs / 2, 3 * gossipMs);
    this.roundCatchUp = new RoundCatchUpPolicy(gossipMs);
    const { instrumentation } = home.config;
    this.metrics = instrumentation.prometheus
      ? new NodeMetrics(instrumentation.namespace, chain.chainId)
      : null;
    this.mempool = new Mempool(
      chain.chainId,
      {
        checkTx: (tx, recheck) => app.checkTx(tx, recheck),
        isCommitted: (hash) => this.recentCommitted.has(toHex(hash)),
      },
      {
        maxTxs: home.config.mempool.maxTxs,
        maxBytes: home.config.mempool.maxBytes,
        // A tx a block may not carry is refused at the door, not proposed and then refused by all.
        maxTxBytes: Math.min(chain.blockLimits.maxTxBytes, MAX_TX_BYTES),
      },
      this.metrics?.forMempool() ?? null,
    );
  }

  /** True while block-syncing from peers (CometBFT's `catching_up`). */
  get isCatchingUp(): boolean {
    return this.syncing;
  }

  get chainId(): string {
    return this.chain.chainId;
  }

  static async start(home: Home, log: Logger): Promise<CareLedgerNode> {
    if (finishInterruptedRollback(home.paths.db))
      log.warn('finished a rollback that was interrupted between its renames', { db: home.paths.db });
    const db = await openDb(home.paths.db);
    const blocks = await BlockStore.open(db);
    const app = await openApplication(home.config.proxyApp, db, home.config.storage.keepStateVersions);
    let chain = await blocks.chainState();
    if (chain === null) {
      chain = await initChain(home.genesis, db, blocks, app);
      log.info('initialised from genesis', {
        chainId: chain.chainId,
        app: home.config.proxyApp,
        validators: chain.validators.set.validators.length,
      });
    }
    if (chain.chainId !== home.genesis.chainId) {
      throw new CareLedgerError(
        'HOME_MISMATCH',
        `data is for chain ${chain.chainId}, genesis is for ${home.genesis.chainId}`,
      );
    }
    if (app.info().lastHeight !== (chain.lastHeight < chain.initialHeight ? 0n : chain.lastHeight)) {
      throw new CareLedgerError(
        'STATE_INCONSISTENT',
        `application is at height ${app.info().lastHeight}, chain at ${chain.lastHeight}`,
      );
    }
    const node = new CareLedgerNode(home, log, db, blocks, app, chain);
    if (app instanceof HealthApp)
      node.records = await RecordsService.open({
        home: home.paths.root,
        config: home.config.records,
        chainId: chain.chainId,
        nodeKeySeed: home.nodeKeySeed,
        peerId: node.peerId,
        app,
        events: node.events,
        submitTx: (bytes) => node.submitTx(bytes),
        libp2p: () => node.p2p.libp2p,
        log: log.child('records'),
      });
    await node.startServices();
    await node.records?.serve();
    return node;
  }

  private async startServices(): Promise<void> {
    const { config, validatorKey, paths } = this.home;
    const members = await this.memberNodes();
    for (const peer of parsePersistentPeers(config.p2p.persistentPeers)) {
      if (members !== null && !members.includes(peer.id))
        this.logs.p2p.warn(
          'persistent peer is not a member node in the state at this height: admitted while catching up, refused after unless the chain admits it',
          { addr: peer.addr },
        );
    }
    this.p2p = await createP2PHost(
      {
        chainId: this.chainId,
        nodeKeySeed: this.home.nodeKeySeed,
        listen: config.p2p.listen,
        members: await this.admittedPeers(),
        persistentPeers: config.p2p.persistentPeers,
        maxMessageBytes: config.p2p.maxMessageBytes,
        redial: { ...defaultP2POptions.redial, maxMs: config.p2p.maxDialPeriodMs },
      },
      {
        validate: (kind, bytes, from) =>
          kind === 'tx' ? this.onGossipTx(bytes) : this.onConsensusMessage(bytes, from),
        onRequest: (kind, bytes) => this.onRequest(kind, bytes),
        onError: (err, where) => this.logs.p2p.debug('p2p error', { where, error: (err as Error).message }),
      },
      this.metrics?.forP2P() ?? null,
    );
    this.p2p.on('peer:disconnect', ({ id }) => this.syncPeers.forget(id));
    const guard = new DoubleSignGuard(
      new FileSignStateStore(paths.signState),
      signerFor(validatorKey.secretKey),
    );
    const c = config.consensus;
    this.driver = new ConsensusDriver(
      {
        chainId: this.chainId,
        blockLimits: this.chain.blockLimits,
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
      this.consensusHost(),
      FileWal.open(paths.wal),
      { guard, pubKey: validatorKey.publicKey },
      nextHeightStart(this.chain),
    );
    if (this.metrics !== null)
      this.metricsServer = await this.metrics.serve(config.instrumentation.prometheusListen);
    this.updateMetrics(null);
    this.rpc = await startRpcServer(rpcMethods(this), {
      listen: config.rpc.listen,
      maxBodyBytes: config.rpc.maxBodyBytes,
      maxBatch: 10,
      routes: this.records === null ? [] : [this.records.route],
    });
    this.log.info('node started', {
      moniker: config.moniker,
      peerId: this.peerId,
      p2p: config.p2p.listen,
      rpc: config.rpc.listen,
      height: this.chain.lastHeight,
    });
    const replayed = this.driver.recover(nextHeightStart(this.chain));
    this.recovered = true;
    if (replayed > 0)
      this.logs.consensus.info('replayed the consensus WAL', {
        records: replayed,
        height: this.chain.lastHeight + 1n,
      });
    this.every(config.consensus.gossipIntervalMs, () => this.tick());
    this.every(TX_BATCH_INTERVAL_MS, () => this.txBatcher.flush());
  }

  private every(ms: number, run: () => void): void {
    const timer = setInterval(run, ms);
    this.timers.add(timer);
  }

  private after(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) run();
    }, ms);
    this.timers.add(timer);
  }

  /** Periodic: re-gossip while stuck, announce our height, block-sync if peers are ahead. */
  private tick(): void {
    if (this.stopped) return;
    this.directBudget = MAX_DIRECT_SENDS_PER_TICK;
    const height = this.chain.lastHeight;
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
      this.publish('consensus', encodeMessage(status));
    }
    this.lastTickHeight = height;
    this.metrics?.rounds.set(this.metrics.labels, this.driver.round);
    const best = this.syncPeers.best();
    if (best !== null && best.height > this.chain.lastHeight + 1n && !this.syncing) void this.blockSync();
  }

  /**
   * Gossips a message. Gossipsub drops bytes it saw within its seen-cache TTL, but consensus
   * re-sends identical messages on purpose when a height is stuck: those go straight to each
   * peer, within a budget per tick, so that repair never starves block sync of streams.
   */
  private publish(kind: 'tx' | 'consensus', bytes: Uint8Array): void {
    this.p2p.publish(kind, bytes).then(
      (outcome) => {
        if (outcome.status !== 'duplicate') return;
        for (const peer of this.p2p.topicPeers(kind)) {
          if (this.directBudget <= 0) return;
          this.directBudget--;
          this.p2p.sendDirect(peer, kind, bytes).catch(() => undefined);
        }
      },
      (err: unknown) => this.logs.p2p.debug('publish failed', { kind, error: (err as Error).message }),
    );
  }

  // Gossip validation: decode and verify once, then accept, ignore or reject.

  /**
   * A batch of txs: rejected if any tx is invalid; otherwise relayed ('accept') only if it brought
   * a new tx and its origin asked for relay, i.e. its publish did not reach every member
   * (node/tx-gossip.ts). Valid txs enter the mempool either way.
   */
  private onGossipTx(bytes: Uint8Array): 'accept' | 'ignore' | 'reject' {
    const batch = decodeTxBatchMessage(bytes);
    let fresh = false;
    for (const tx of batch.txs) {
      const result = this.mempool.add(tx);
      if (result.ok) {
        if (!result.duplicate) fresh = true;
      } else if (result.error.action === 'reject' && result.error.code !== 'MEMPOOL_FULL') {
        return 'reject';
      }
    }
    return fresh && batch.relay ? 'accept' : 'ignore';
  }

  private onConsensusMessage(bytes: Uint8Array, from: string): Verdict | Promise<Verdict> {
    // Before the WAL is replayed the driver is fresh (unlocked, round 0): what it signed then
    // could break a lock the WAL holds. Peers re-send what matters.
    if (this.stopped || !this.recovered) return 'ignore';
    if (isProposalByHashes(bytes)) return this.proposals.receive(bytes, from);
    // No node sends it: a whole block for the next height would be held unchecked.
    if (isFullProposal(bytes))
      return this.verdict(
        { result: 'reject', code: 'PROPOSAL_FULL_FORM', reason: 'proposals travel by tx hashes' },
        from,
      );
    return this.verdict(this.driver.receive(bytes, from), from);
  }

  private verdict(outcome: Acceptance, from: string): Verdict {
    if (outcome.result === 'reject')
      this.logs.consensus.debug('rejected a consensus message', { from, code: outcome.code });
    return outcome.result;
  }

  /** A tx this node holds: pending in the mempool, or in a block seen at this height. */
  private localTx(hash: Uint8Array): Uint8Array | undefined {
    return this.mempool.get(hash)?.bytes ?? this.blockTxs.get(toHex(hash))?.bytes;
  }

  /**
   * How a consensus message travels: a proposal with its txs as hashes, the rest as encoded. Before
   * our own proposal, the txs accepted from our clients but not yet gossiped go out, so peers hold
   * them by the time the proposal arrives.
   */
  private wireForm(bytes: Uint8Array, message: ConsensusMessage, own: boolean): Uint8Array {
    if (message.kind !== 'proposal') return bytes;
    if (own) this.txBatcher.flush();
    return encodeProposalByHashes(message.proposal, message.block);
  }

  /**
   * The sync protocol's requests (node/README.md): ['status'] our height; ['blocks', from, to]
   * a range of blocks with their commits; ['txs', hashes] txs to fill in a proposal;
   * ['round', height, round] a round's proposal (by hashes) and votes, for a node behind it.
   */
  private async onRequest(_kind: 'blocks', bytes: Uint8Array): Promise<Uint8Array> {
    const request = decode(bytes);
    if (!Array.isArray(request))
      throw new CareLedgerError('SYNC_BAD_REQUEST', 'request must be a tuple', 'reject');
    if (request[0] === 'status') return encode([this.chain.lastHeight]);
    if (request[0] === TXS_REQUEST)
      return answerTxsRequest(txsRequestHashes(request), (hash) => this.localTx(hash));
    if (request[0] === ROUND_REQUEST) {
      const [, height, round] = s.tuple(request, 3, 'round request');
      if (!this.recovered) return encode([]);
      const messages = this.driver.roundMessages(
        s.u64(height!, 'height'),
        s.int(round!, 'round', 0, MAX_ROUND),
      );
      const { proposal } = messages;
      const wire = proposal === null ? [] : [encodeProposalByHashes(proposal.proposal, proposal.block)];
      return encode([...wire, ...messages.votes]);
    }
    const [, fromHeight, toHeight] = s.tuple(request, 3, 'blocks request');
    const last = s.u64(toHeight!, 'to');
    return answerBlocksRequest(
      s.u64(fromHeight!, 'from'),
      last < this.chain.lastHeight ? last : this.chain.lastHeight,
      async (h) => {
        const block = await this.blocks.block(h);
        const commit = await this.blocks.commit(h);
        return block === null || commit === null ? null : { block, commit };
      },
    );
  }

  /**
   * A peer is at our height in a later round: ask it for that round's proposal and votes and take
   * them as if gossiped (each checked by consensus; a proposal is filled in from our txs).
   */
  private async catchUpRound(peer: string, height: bigint, round: number): Promise<void> {
    this.catchingUpRound = true;
    try {
      const items = readRoundAnswer(
        await this.p2p.request(peer, 'blocks', encode([ROUND_REQUEST, height, round]), {
          timeoutMs: FETCH_TIMEOUT_MS,
        }),
        this.chain.validators.set.validators.length,
      );
      let accepted = 0;
      for (const item of items) {
        if (this.stopped || this.driver.height !== height) return;
        const verdict = await this.onConsensusMessage(item, peer);
        if (verdict === 'accept') accepted++;
        // The peer held it as valid: an invalid one in its answer counts against it.
        if (verdict === 'reject') this.p2p.reportInvalid(peer);
      }
      this.logs.consensus.info('caught up a round from a peer', {
        peer,
        height,
        round,
        messages: items.length,
        accepted,
      });
    } catch (err) {
      this.logs.consensus.debug('round catch-up failed', {
        peer,
        height,
        round,
        error: (err as Error).message,
      });
    } finally {
      this.catchingUpRound = false;
    }
  }

  /**
   * Fetches and applies blocks from the most advanced peer until we are within a height. A peer
   * whose request fails, or whose answer does not continue our chain, is skipped for a while and
   * the next best is asked.
   */
  private async blockSync(): Promise<void> {
    this.syncing = true;
    try {
      for (;;) {
        const best = this.syncPeers.best();
        // A node that could not write a block takes none after it: asking on would only mark
        // honest peers as failed.
        if (
          best === null ||
          best.height <= this.chain.lastHeight + 1n ||
          this.stopped ||
          this.failure !== null
        )
          return;
        try {
          await this.syncFrom(best.peer, best.height);
        } catch (err) {
          this.syncPeers.failed(best.peer);
          // An invalid answer is scored against the peer; a timeout or a remote error may be honest.
          if (err instanceof CareLedgerError && err.action === 'reject') this.p2p.reportInvalid(best.peer);
          this.logs.sync.warn('block sync from a peer failed; trying another', {
            peer: best.peer,
            error: (err as Error).message,
          });
        }
      }
    } finally {
      this.syncing = false;
    }
  }

  /** One sync request: up to SYNC_BATCH blocks after our last, each checked and committed. */
  private async syncFrom(peer: string, best: bigint): Promise<void> {
    const from = this.chain.lastHeight + 1n;
    const to = from + BigInt(SYNC_BATCH - 1) < best ? from + BigInt(SYNC_BATCH - 1) : best;
    this.logs.sync.info('block sync', { peer, from, to, best });
    const answer = await this.p2p.request(peer, 'blocks', encode(['blocks', from, to]), {
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    for (const { block, commit } of readBlocksAnswer(answer, from, this.chain.blockLimits))
      await this.enqueueCommit(() => this.applySynced(block, commit));
    this.advanceConsensus();
  }

  private async applySynced(block: Block, commit: Commit): Promise<void> {
    if (block.header.height !== this.chain.lastHeight + 1n) return;
    const id = proposedBlock(block).id;
    // Never trust a peer: the commit must carry +2/3 of this height's validator set.
    verifyCommit(this.chainId, commit, this.chain.validators.set, id);
    validateBlock(this.chain, block, this.evidenceLookup());
    await this.commitBlock(block, commit);
  }

  private advanceConsensus(): void {
    if (this.driver.height > this.chain.lastHeight) return;
    this.driver.startHeight(nextHeightStart(this.chain));
    void this.proposals.heightStarted();
  }

  private enqueueCommit(run: () => Promise<void>): Promise<void> {
    const next = this.commitQueue.then(run);
    this.commitQueue = next.catch((err: unknown) =>
      this.log.error('commit failed', { error: (err as Error).message }),
    );
    return next;
  }

  private evidenceLookup() {
    return {
      isCommitted: (h: Uint8Array) => this.blocks.isEvidenceCommitted(h),
      validatorsAt: (h: bigint) => this.blocks.validatorsAt(h),
    };
  }

  /** The checked txs of each block seen, so the block validated as a proposal is not redone at commit. */
  private readonly checkedByBlock = new WeakMap<Block, readonly CheckedTx[]>();

  /**
   * Txs of a block, decoded and verified once, each hashed once: from the mempool when it already
   * checked them. The result is a pure function of the block, kept per Block object.
   */
  private checkedTxs(block: Block): readonly CheckedTx[] {
    const done = this.checkedByBlock.get(block);
    if (done !== undefined) return done;
    const hashes = blockTxHashes(block);
    const txs = block.txs.map((bytes, i) => {
      const hash = hashes[i]!;
      const key = toHex(hash);
      const known = this.mempool.get(hash) ?? this.blockTxs.get(key);
      if (known !== undefined) return known;
      const checked = checkTxHashed(this.chainId, bytes, hash);
      this.blockTxs.set(key, checked);
      return checked;
    });
    this.checkedByBlock.set(block, txs);
    return txs;
  }

  /** Executes and durably writes a block; everything for one height in one batch. */
  private async commitBlock(block: Block, commit: Commit): Promise<void> {
    const height = block.header.height;
    if (this.failure !== null) throw this.failure;
    if (height !== this.chain.lastHeight + 1n) return;
    const started = performance.now();
    const previousTime = this.chain.lastBlockTime;
    const txs = this.checkedTxs(block);
    let executed: Awaited<ReturnType<typeof executeBlock>>;
    try {
      executed = await executeBlock(
        {
          db: this.db,
          blocks: this.blocks,
          app: this.app,
          chain: this.chain,
          recentlyCommitted: (key) => this.recentCommitted.has(key),
        },
        block,
        commit,
        txs,
      );
    } catch (err) {
      throw this.fail(height, err);
    }
    const { after, txResults, events, appHash, replayed } = executed;
    this.chain = after;
    for (const [i, tx] of txs.entries()) {
      if (replayed.has(i)) continue;
      this.rememberCommitted(tx.hash);
    }
    for (const e of block.evidence) this.evidencePool.delete(toHex(evidenceHash(e)));
    this.blockTxs.clear();
    this.mempool.update(txs.map((tx) => tx.hash));
    this.log.info('committed', {
      height,
      txs: block.txs.length,
      appHash: toHex(appHash).slice(0, 16),
    });
    this.events.emit('block', block, { txResults, events }, after);
    this.updateMetrics(block, previousTime, started);
    await this.followMembership();
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
      this.log.error(
        'a decided block could not be executed and written: the node stops; restarted, it resumes from its database',
        {
          height,
          error: reason,
        },
      );
      this.events.emit('fatal', this.failure);
    }
    return this.failure;
  }

  /**
   * Who may connect: the nodes of the application's members on chain (plus the configured
   * persistent peers while catching up), or, for an application without membership (kvstore),
   * the configured persistent peers.
   */
  private async admittedPeers(): Promise<string[]> {
    const members = await this.memberNodes();
    // The steady state, after every commit: no need to read the configured peers.
    if (members !== null && !this.catchingUp) return members;
    const configured = parsePersistentPeers(this.home.config.p2p.persistentPeers).map((peer) => peer.id);
    return members === null ? configured : [...new Set([...members, ...configured])];
  }

  /** The other nodes of on-chain members, or null for an application without membership. */
  private async memberNodes(): Promise<string[] | null> {
    if (this.app.allowedPeers === undefined) return null;
    return (await this.app.allowedPeers()).filter((id) => id !== this.peerId);
  }

  /** The first block decided with the network: from now on only on-chain members may connect. */
  private async caughtUp(): Promise<void> {
    this.catchingUp = false;
    this.logs.p2p.info('caught up: admitting the nodes of on-chain members only', {
      height: this.chain.lastHeight,
    });
    await this.followMembership();
  }

  /** After a commit: a member added, removed or given new nodes changes who may connect. */
  private async followMembership(): Promise<void> {
    if (this.app.allowedPeers === undefined) return;
    const next = await this.admittedPeers();
    const current = this.p2p.members();
    if (next.length === current.length && next.every((id) => current.includes(id))) return;
    this.logs.p2p.info('membership changed', {
      admitted: next.filter((id) => !current.includes(id)),
      removed: current.filter((id) => !next.includes(id)),
    });
    await this.p2p.setMembers(next);
  }

  /** Refreshes the gauges after a commit (or at start, with no block). */
  private updateMetrics(block: Block | null, previousTime = 0n, started = 0): void {
    const m = this.metrics;
    if (m === null) return;
    const labels = m.labels;
    const set = this.chain.validators.set;
    m.height.set(labels, Number(this.chain.lastHeight + 1n));
    m.latestBlockHeight.set(labels, Number(this.chain.lastHeight));
    m.validators.set(labels, set.validators.length);
    m.validatorsPower.set(labels, Number(set.totalVotingPower));
    m.syncing.set(labels, this.syncing ? 1 : 0);
    m.mempoolSize.set(labels, this.mempool.size);
    if (block === null) return;
    m.blockProcessingTime.observe(labels, performance.now() - started);
    if (previousTime > 0n) m.blockInterval.observe(labels, Number(block.header.time - previousTime) / 1000);
    m.numTxs.set(labels, block.txs.length);
    m.totalTxs.inc(labels, block.txs.length);
    m.blockSizeBytes.set(labels, encodeBlock(block).length);
    const signers = this.chain.lastValidators?.set;
    const missing =
      block.lastCommit?.signatures.flatMap((sig, i) =>
        sig.flag === CommitFlag.absent ? [signers?.validators[i]] : [],
      ) ?? [];
    m.missingValidators.set(labels, missing.length);
    m.missingValidatorsPower.set(labels, Number(missing.reduce((p, v) => p + (v?.votingPower ?? 0n), 0n)));
    const byzantine = block.evidence.map(
      (e) => this.blocks.validatorsAt(e.voteA.height)?.validators[e.voteA.validatorIndex],
    );
    m.byzantineValidators.set(labels, byzantine.length);
    m.byzantineValidatorsPower.set(
      labels,
      Number(byzantine.reduce((p, v) => p + (v?.votingPower ?? 0n), 0n)),
    );
  }

  private rememberCommitted(hash: Uint8Array): void {
    if (this.recentCommitted.size >= RECENT_COMMITTED_TXS)
      this.recentCommitted.delete(this.recentCommitted.values().next().value!);
    this.recentCommitted.add(toHex(hash));
  }

  private consensusHost(): ConsensusHost {
    const ownAddress = addressOf(this.home.validatorKey.publicKey);
    return {
      buildBlock: () => {
        const limits = this.chain.blockLimits;
        const txs = this.app.prepareProposal(this.mempool.reap(limits.maxTxs, MAX_BLOCK_TXS_BYTES));
        const { take: evidence, stale } = evidenceForBlock(
          this.chain,
          this.evidencePool,
          (hash) => this.blocks.isEvidenceCommitted(hash),
          limits.maxEvidence,
        );
        for (const key of stale) this.evidencePool.delete(key);
        const block = buildBlock(this.chain, {
          txs: txs.map((t) => t.bytes),
          txHashes: txs.map((t) => t.hash),
          evidence,
          time: BigInt(Date.now()),
          proposer: ownAddress,
        });
        this.checkedByBlock.set(block, txs);
        return block;
      },
      isValidBlock: (block) => {
        try {
          validateBlock(this.chain, block, this.evidenceLookup());
          return this.app.processProposal(block, this.checkedTxs(block));
        } catch (err) {
          this.logs.consensus.debug('invalid proposal', {
            height: block.header.height,
            error: (err as Error).message,
          });
          return false;
        }
      },
      isTimelyBlock: (block) => {
        try {
          checkBlockTimeNotAhead(block.header, BigInt(Date.now()));
          return true;
        } catch (err) {
          this.logs.consensus.debug('untimely proposal: prevoting nil', {
            height: block.header.height,
            error: (err as Error).message,
          });
          return false;
        }
      },
      broadcast: (bytes, message) => this.publish('consensus', this.wireForm(bytes, message, true)),
      relay: (bytes, message) => this.publish('consensus', this.wireForm(bytes, message, false)),
      scheduleTimeout: (height: bigint, round: number, step: TimeoutStep, delayMs: number) =>
        this.after(delayMs, () => this.driver.onTimeout(height, round, step)),
      decide: (value: ProposedBlock, commit: Commit) => {
        void this.enqueueCommit(async () => {
          await this.commitBlock(value.block, commit);
          if (this.catchingUp) await this.caughtUp();
        }).then(
          () => this.after(this.home.config.consensus.timeoutCommitMs, () => this.advanceConsensus()),
          () => {
            // Logged by enqueueCommit; a failed commit has stopped the node (fail).
          },
        );
      },
      evidence: (e: DuplicateVoteEvidence) => {
        const hash = evidenceHash(e);
        const key = toHex(hash);
        // Bounded: a block carries at most max_evidence, and the vote sets bound what one
        // validator's equivocation can produce; this caps what many could.
        if (this.evidencePool.size >= MAX_EVIDENCE_PENDING) return;
        if (!this.blocks.isEvidenceCommitted(hash) && !this.evidencePool.has(key)) {
          this.evidencePool.set(key, e);
          this.logs.consensus.warn('equivocation detected', {
            validator: e.voteA.validatorIndex,
            height: e.voteA.height,
            round: e.voteA.round,
          });
        }
      },
      peerStatus: (peer: string, height: bigint, round: number) => {
        this.syncPeers.claim(peer, height);
        if (this.catchUp.onStatus(peer, height, this.chain.lastHeight)) void this.sendCatchUp(peer, height);
        if (
          !this.catchingUpRound &&
          this.roundCatchUp.onStatus(height, round, this.driver.height, this.driver.round)
        )
          void this.catchUpRound(peer, height, round);
      },
    };
  }

  /** A peer is at a height we committed: send it the block and its commit directly. */
  private async sendCatchUp(peer: string, height: bigint): Promise<void> {
    const block = await this.blocks.block(height);
    const commit = await this.blocks.commit(height);
    if (block === null || commit === null) return;
    await this.p2p
      .sendDirect(peer, 'consensus', encodeMessage({ kind: 'catch-up', block, commit }))
      .catch(() => 'ignore');
  }

  /** Adds a tx from a client: checked once, then gossiped. */
  submitTx(
    bytes: Uint8Array,
  ): { ok: true; hash: Uint8Array } | { ok: false; hash: Uint8Array; error: CareLedgerError } {
    const hash = txHash(bytes);
    if (this.recentCommitted.has(toHex(hash))) {
      return {
        ok: false,
        hash,
        error: new CareLedgerError('TX_ALREADY_COMMITTED', 'tx was already committed'),
      };
    }
    const result = this.mempool.add(bytes, hash);
    if (!result.ok) return { ok: false, hash, error: result.error };
    if (!result.duplicate) this.txBatcher.add(bytes);
    return { ok: true, hash };
  }

  isValidatorAddress(address: Uint8Array): boolean {
    return this.chain.validators.set.validators.some((v) => equalBytes(v.address, address));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) {
      clearTimeout(timer);
      clearInterval(timer);
    }
    this.timers.clear();
    // Let the commit in progress finish its batch before closing the database.
    await this.commitQueue;
    await this.records?.stop();
    await new Promise<void>((resolve) =>
      this.metricsServer === null ? resolve() : this.metricsServer.close(() => resolve()),
    );
    const rpc = this.rpc;
    if (rpc !== null) {
      const closed = new Promise<void>((resolve) => rpc.close(() => resolve()));
      rpc.closeAllConnections();
      await closed;
    }
    await this.p2p.stop();
    await this.db.close();
    this.log.info('node stopped', { height: this.chain.lastHeight });
  }
}
