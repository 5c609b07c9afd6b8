/**
 * A CareLedger node: opens the store and the application from one home folder and wires the
 * node's modules together, in one place. Each job has its own module; this file is their table of
 * contents, in the order they are built (each gets its dependencies in its constructor):
 *
 *  - seen-txs.ts        txs already checked (blocks seen this height) or committed (recently)
 *  - mempool.ts         client txs, checked once, bounded
 *  - the evidence pool  equivocation evidence waiting for a block (consensus/evidence-pool.ts)
 *  - inbound.ts         what peers send, routed: gossip validation, sync requests (sync/requests.ts)
 *  - p2p/host.ts        the p2p host (libp2p), with `inbound` as its handlers
 *  - gossip.ts          publishing, with direct re-sends for a stuck height
 *  - evidence-gossip.ts the evidence reactor: the pool's due evidence to every peer each tick, and
 *                       peers' evidence checked before it enters the pool (called by inbound.ts)
 *  - tx-gossip.ts       client txs gossiped in batches
 *  - membership.ts      who may connect, following the chain
 *  - commit-pipeline.ts executing and writing each block, serialised; the chain head
 *  - consensus-host.ts  the consensus driver and its host; catch-up with peers (sync/catch-up.ts)
 *  - sync/block-sync.ts block sync from peers while behind
 *  - rpc/, metrics.ts   the RPC (rpc/server.ts, rpc/methods.ts) and metrics servers
 *
 * A node that starts behind its peers block-syncs (verifying every commit against the validator
 * set) before and while it takes part in consensus.
 */
import type { Server } from 'node:http';
import type { ConsensusDriver } from '../consensus/driver.ts';
import { EvidencePool } from '../consensus/evidence-pool.ts';
import { createP2PHost, defaultP2POptions, type P2PHost } from '../p2p/host.ts';
import { peerIdFromNodeKey } from '../p2p/identity.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { equalBytes } from '../packages/crypto/hash.ts';
import { txHash } from '../packages/types/block.ts';
import type { ChainState } from '../packages/types/chain-state.ts';
import { MAX_TX_BYTES } from '../packages/types/tx.ts';
import type { Application } from '../state/application.ts';
import { BlockStore } from '../state/block-store.ts';
import { type Db, openDb } from '../state/db.ts';
import { HealthApp } from '../state/health/app.ts';
import { initChain, openApplication } from './app.ts';
import { ChainHead, CommitPipeline } from './commit-pipeline.ts';
import { NodeConsensus } from './consensus-host.ts';
import { EvidenceGossip, MAX_PENDING_EVIDENCE } from './evidence-gossip.ts';
import { fhirRoute } from './fhir/router.ts';
import { defaultGossipOptions, Gossip } from './gossip.ts';
import type { Home } from './home.ts';
import { Inbound } from './inbound.ts';
import type { Logger } from './log.ts';
import { Membership } from './membership.ts';
import { Mempool, type SubmitResult } from './mempool.ts';
import { NodeMetrics } from './metrics.ts';
import { RecordsService } from './records/service.ts';
import { finishInterruptedRollback } from './rollback.ts';
import { rpcMethods } from './rpc/methods.ts';
import { defaultRpcOptions, type HttpRoute, startRpcServer } from './rpc/server.ts';
import { CheckedTxs, RecentlyCommitted } from './seen-txs.ts';
import { BlockSync, SYNC_SKIP_MS, SyncPeers } from './sync/block-sync.ts';
import { OffThreadVerifier } from './sync/tx-verifier.ts';
import { NodeTimers } from './timers.ts';
import { reachesAllMembers, TxBatcher } from './tx-gossip.ts';

/** How long client txs wait to be gossiped together. */
const TX_BATCH_INTERVAL_MS = 50;
/** Bytes of client txs in one gossip batch. */
const TX_BATCH_BYTES = 512 * 1024;

/** Everything the node is made of, built in `start` in this order. */
interface NodeModules {
  readonly home: Home;
  readonly log: Logger;
  readonly peerId: string;
  readonly db: Db;
  readonly blocks: BlockStore;
  readonly app: Application;
  readonly metrics: NodeMetrics | null;
  readonly timers: NodeTimers;
  readonly head: ChainHead;
  readonly recent: RecentlyCommitted;
  readonly mempool: Mempool;
  readonly inbound: Inbound;
  readonly p2p: P2PHost;
  readonly gossip: Gossip;
  readonly evidenceGossip: EvidenceGossip;
  readonly txBatcher: TxBatcher;
  readonly commits: CommitPipeline;
  readonly consensus: NodeConsensus;
  readonly sync: BlockSync;
  /** The record vault, exchange and local API (node/records/); the health app only. */
  readonly records: RecordsService | null;
}

export class CareLedgerNode {
  readonly home: Home;
  readonly log: Logger;
  readonly peerId: string;
  readonly db: Db;
  readonly blocks: BlockStore;
  readonly app: Application;
  readonly mempool: Mempool;
  readonly p2p: P2PHost;
  readonly metrics: NodeMetrics | null;
  private readonly m: NodeModules;
  private rpc: Server | null = null;
  private metricsServer: Server | null = null;

  private constructor(modules: NodeModules) {
    this.m = modules;
    this.home = modules.home;
    this.log = modules.log;
    this.peerId = modules.peerId;
    this.db = modules.db;
    this.blocks = modules.blocks;
    this.app = modules.app;
    this.mempool = modules.mempool;
    this.p2p = modules.p2p;
    this.metrics = modules.metrics;
  }

  // What the RPC and the CLI read (RpcNode in rpc/rpc-node.ts).

  get chain(): ChainState {
    return this.m.head.chain;
  }

  get chainId(): string {
    return this.m.head.chain.chainId;
  }

  get driver(): ConsensusDriver {
    return this.m.consensus.driver;
  }

  /** True while block-syncing from peers (CometBFT's `catching_up`). */
  get isCatchingUp(): boolean {
    return this.m.sync.active;
  }

  /**
   * 'block' after each commit (the RPC's subscriptions and broadcast_tx_commit answers, the
   * records service); 'fatal' when a decided block could not be written.
   */
  get events(): CommitPipeline['events'] {
    return this.m.commits.events;
  }

  /** Opens the home's store and application, builds the modules in order, and starts. */
  static async start(home: Home, log: Logger): Promise<CareLedgerNode> {
    const { db, blocks, app, chain } = await openStore(home, log);
    const { config } = home;
    const logs = { p2p: log.child('p2p'), consensus: log.child('consensus'), sync: log.child('sync') };
    const peerId = peerIdFromNodeKey(home.nodeKeySeed);
    const metrics = config.instrumentation.prometheus
      ? new NodeMetrics(config.instrumentation.namespace, chain.chainId)
      : null;
    metrics?.mempoolMaxTxs.set(metrics.labels, config.mempool.maxTxs);
    const timers = new NodeTimers();
    const head = new ChainHead(chain);
    const recent = new RecentlyCommitted();
    const mempool = new Mempool(
      chain.chainId,
      { checkTx: (tx, recheck) => app.checkTx(tx, recheck), isCommitted: (hash) => recent.has(hash) },
      {
        maxTxs: config.mempool.maxTxs,
        maxBytes: config.mempool.maxBytes,
        // A tx a block may not carry is refused at the door, not proposed and then refused by all.
        maxTxBytes: Math.min(chain.blockLimits.maxTxBytes, MAX_TX_BYTES),
      },
      metrics?.forMempool() ?? null,
    );
    const txs = new CheckedTxs(chain.chainId, mempool);
    const evidence = new EvidencePool(MAX_PENDING_EVIDENCE);
    const membership = new Membership(
      { peerId, persistentPeers: config.p2p.persistentPeers },
      { app, log: logs.p2p },
    );
    await membership.warnUnlistedPeers();
    const isStopped = () => timers.stopped;
    const inbound = new Inbound({ head, blocks, mempool, evidence, txs, isStopped, log: logs.p2p });
    const p2p = await createP2PHost(
      {
        chainId: chain.chainId,
        nodeKeySeed: home.nodeKeySeed,
        listen: config.p2p.listen,
        members: await membership.admitted(),
        persistentPeers: config.p2p.persistentPeers,
        maxMessageBytes: config.p2p.maxMessageBytes,
        redial: { ...defaultP2POptions.redial, maxMs: config.p2p.maxDialPeriodMs },
      },
      inbound,
      metrics?.forP2P() ?? null,
    );
    const syncPeers = new SyncPeers(SYNC_SKIP_MS);
    p2p.on('peer:disconnect', ({ id }) => syncPeers.forget(id));
    const gossip = new Gossip(defaultGossipOptions, { p2p, log: logs.p2p });
    const evidenceGossip = new EvidenceGossip({ pool: evidence, head, gossip });
    const txBatcher = new TxBatcher(
      TX_BATCH_BYTES,
      (batch) => gossip.publish('tx', batch),
      // A batch our own publish hands to every member needs no relay by the receivers (tx-gossip.ts).
      () => !reachesAllMembers(peerId, p2p.members(), p2p.topicPeers('tx')),
    );
    const commits = new CommitPipeline({
      head,
      db,
      blocks,
      app,
      mempool,
      evidence,
      txs,
      recent,
      membership,
      gate: p2p,
      metrics,
      log,
    });
    const consensus = new NodeConsensus(
      { consensus: config.consensus, validatorKey: home.validatorKey, paths: home.paths },
      {
        head,
        p2p,
        gossip,
        txBatcher,
        app,
        mempool,
        blocks,
        evidence,
        txs,
        commits,
        syncPeers,
        timers,
        metrics,
        log: logs.consensus,
      },
    );
    const sync = new BlockSync({
      p2p,
      peers: syncPeers,
      commits,
      advanceConsensus: () => consensus.advance(),
      isStopped,
      metrics,
      log: logs.sync,
      preverify: { verifier: new OffThreadVerifier(), checked: txs },
    });
    const records =
      app instanceof HealthApp
        ? await RecordsService.open({
            home: home.paths.root,
            config: config.records,
            chainId: chain.chainId,
            nodeKeySeed: home.nodeKeySeed,
            peerId,
            app,
            events: commits.events,
            blocks,
            submitTx: (bytes, hash) => submitTx({ recent, mempool, txBatcher }, bytes, hash),
            libp2p: () => p2p.libp2p,
            log: log.child('records'),
            metrics: metrics?.forRecords() ?? null,
          })
        : null;
    const node = new CareLedgerNode({
      home,
      log,
      peerId,
      db,
      blocks,
      app,
      metrics,
      timers,
      head,
      recent,
      mempool,
      inbound,
      p2p,
      gossip,
      evidenceGossip,
      txBatcher,
      commits,
      consensus,
      sync,
      records,
    });
    await node.startServices();
    await records?.serve();
    return node;
  }

  /** What the RPC listener serves besides the RPC: the records API and FHIR (health app only). */
  private routes(): HttpRoute[] {
    const routes: HttpRoute[] = [];
    if (this.m.records !== null) routes.push(this.m.records.route);
    if (this.app instanceof HealthApp) {
      const log = this.log.child('fhir');
      routes.push(
        fhirRoute({
          app: this.app,
          chainId: this.chainId,
          onError: (err) => log.error('FHIR request failed', { error: (err as Error).message }),
        }),
      );
    }
    return routes;
  }

  private async startServices(): Promise<void> {
    const { config } = this.home;
    if (this.metrics !== null)
      this.metricsServer = await this.metrics.serve(config.instrumentation.prometheusListen);
    this.m.commits.updateMetrics(null);
    this.rpc = await startRpcServer(rpcMethods(this), {
      listen: config.rpc.listen,
      maxBodyBytes: config.rpc.maxBodyBytes,
      maxOpenConnections: config.rpc.maxOpenConnections,
      maxConnectionsPerAddress: config.rpc.maxConnectionsPerAddress,
      idleTimeoutMs: config.rpc.idleTimeoutMs,
      maxBatch: defaultRpcOptions.maxBatch,
      routes: this.routes(),
    });
    this.log.info('node started', {
      moniker: config.moniker,
      peerId: this.peerId,
      p2p: config.p2p.listen,
      rpc: config.rpc.listen,
      height: this.chain.lastHeight,
    });
    const { consensus, inbound, timers, txBatcher } = this.m;
    const replayed = consensus.recover();
    inbound.open(consensus);
    if (replayed > 0)
      this.log.child('consensus').info('replayed the consensus WAL', {
        records: replayed,
        height: this.chain.lastHeight + 1n,
      });
    timers.every(config.consensus.gossipIntervalMs, () => this.tick());
    timers.every(TX_BATCH_INTERVAL_MS, () => txBatcher.flush());
  }

  /**
   * Periodic: re-gossip while stuck or announce our height, the evidence due to every peer, then
   * block-sync if peers are ahead.
   */
  private tick(): void {
    if (this.m.timers.stopped) return;
    this.m.gossip.tick();
    this.m.consensus.tick();
    this.m.evidenceGossip.tick(Date.now());
    this.m.sync.tick();
  }

  /** Adds a tx from a client: checked once, then gossiped. */
  submitTx(bytes: Uint8Array, hash?: Uint8Array): SubmitResult {
    return submitTx(this.m, bytes, hash);
  }

  isValidatorAddress(address: Uint8Array): boolean {
    return this.chain.validators.set.validators.some((v) => equalBytes(v.address, address));
  }

  async stop(): Promise<void> {
    if (this.m.timers.stopped) return;
    this.m.timers.stop();
    // Let the commit in progress finish its batch before closing the database.
    await this.m.commits.drain();
    this.m.sync.stop();
    await this.m.records?.stop();
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

/**
 * The database, the block store and the application, checked to agree with each other and with
 * the genesis; an empty database is initialised from the genesis first.
 */
async function openStore(
  home: Home,
  log: Logger,
): Promise<{ db: Db; blocks: BlockStore; app: Application; chain: ChainState }> {
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
  return { db, blocks, app, chain };
}

/**
 * A tx from this node's clients (the RPC, the records service's access events): refused if
 * committed, else into the mempool and, if new, out to the peers.
 */
function submitTx(
  m: Pick<NodeModules, 'recent' | 'mempool' | 'txBatcher'>,
  bytes: Uint8Array,
  hash: Uint8Array = txHash(bytes),
): SubmitResult {
  if (m.recent.has(hash))
    return {
      ok: false,
      hash,
      error: new CareLedgerError('TX_ALREADY_COMMITTED', 'tx was already committed'),
    };
  const result = m.mempool.add(bytes, hash);
  if (!result.ok) return { ok: false, hash, error: result.error };
  if (!result.duplicate) m.txBatcher.add(bytes);
  return { ok: true, hash };
}
