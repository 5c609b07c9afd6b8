/**
 * The records service of a node: wires the vault, the vault's sync with the chain, the
 * custodian's release service, the requester's forwarding, the record exchange protocol and the
 * local API, from explicit dependencies. The node constructs it (`open`, before its services
 * start, so it sees every committed block), mounts `route` on its RPC listener, calls
 * `serve` once its libp2p host runs, and `stop` before closing its database.
 */
import { type RecordLibp2p, type RecordServer, serveRecordExchange } from '../../p2p/record-exchange.ts';
import { keyPairFromSeed } from '../../packages/crypto/ed25519.ts';
import { LocalAuthReplayCache } from '../../packages/records/local-auth.ts';
import type { HealthApp } from '../../state/health/app.ts';
import type { RecordsConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { SubmitTx } from '../mempool.ts';
import type { BlockListener } from '../rpc/rpc-node.ts';
import type { HttpRoute } from '../rpc/server.ts';
import { Vault } from '../vault/vault.ts';
import { AccessAuditor } from './access-auditor.ts';
import { healthChainView } from './chain-view.ts';
import { RecordForwarder } from './forward.ts';
import { LocalRecordsApi } from './local-api.ts';
import { countedRelease, type RecordsMetrics } from './metrics.ts';
import { ReleaseService } from './release.ts';
import { type CommittedResults, VaultSync } from './vault-sync.ts';

/** Local API nonces remembered at once: 1000 requests/s over the ±2 min window. */
const REPLAY_CACHE_CAPACITY = 240_000;
/** Releases waiting for their access event at once. */
const MAX_RELEASES_WAITING = 256;
/** How long a request may take to arrive, or a dial to connect. */
const REQUEST_TIMEOUT_MS = 5000;
const FRAME_TIMEOUT_MS = 10_000;
/** Above the custodian's release timeout: its RELEASE_TIMEOUT answer should arrive first. */
const HEADER_MARGIN_MS = 5000;

export interface RecordsDeps {
  /** The node's home folder (the vault lives in <home>/vault). */
  readonly home: string;
  readonly config: RecordsConfig;
  readonly chainId: string;
  /** node_key.json's seed: the libp2p identity, which signs access events. */
  readonly nodeKeySeed: Uint8Array;
  readonly peerId: string;
  readonly app: HealthApp;
  /** The node's events: 'block' after each commit (CareLedgerNode.events). */
  readonly events: {
    on(event: 'block', listener: BlockListener): unknown;
    off(event: 'block', listener: BlockListener): unknown;
  };
  /** The committed blocks' results (the node's block store), replayed at start. */
  readonly blocks: Pick<CommittedResults, 'results'> & {
    block(height: bigint): Promise<{ readonly header: { readonly time: bigint } } | null>;
  };
  readonly submitTx: SubmitTx;
  /** The node's libp2p, once its host runs. */
  readonly libp2p: () => RecordLibp2p;
  readonly log: Logger;
  /** The node's metrics (node/metrics.ts `forRecords`), or null. */
  readonly metrics: RecordsMetrics | null;
}

export class RecordsService {
  readonly route: HttpRoute;
  readonly vault: Vault;
  readonly #d: RecordsDeps;
  readonly #sync: VaultSync;
  /** The custodian's release, counted in the metrics. */
  readonly #release: RecordServer;
  readonly #onBlock: BlockListener;
  #unserve: (() => Promise<void>) | null = null;
  #running = true;

  private constructor(deps: RecordsDeps, vault: Vault) {
    this.#d = deps;
    this.vault = vault;
    const c = deps.config;
    const chain = healthChainView(deps.app);
    const auditor = new AccessAuditor({
      chainId: deps.chainId,
      nodeKey: keyPairFromSeed(deps.nodeKeySeed),
      submitTx: deps.submitTx,
      timeoutMs: c.releaseTimeoutMs,
      maxWaiting: MAX_RELEASES_WAITING,
    });
    this.#sync = new VaultSync({
      vault,
      chain,
      blocks: {
        lastHeight: () => deps.app.info().lastHeight,
        results: (h) => deps.blocks.results(h),
        time: async (h) => (await deps.blocks.block(h))?.header.time ?? null,
      },
      peerId: deps.peerId,
      log: deps.log,
      sweepIntervalMs: c.sweepIntervalMs,
    });
    const release = new ReleaseService({
      chainId: deps.chainId,
      peerId: deps.peerId,
      chain,
      vault,
      audit: auditor,
    });
    this.#release = countedRelease(deps.metrics, (request, peer) => release.release(request, peer));
    deps.metrics?.watchVault(() => vault.storedBytes);
    const forwarder = new RecordForwarder({
      peerId: deps.peerId,
      chain,
      libp2p: deps.libp2p,
      releaseLocally: (request, peer) => this.#release(request, peer),
      options: {
        unavailableAfterMs: c.unavailableAfterMs,
        initialBackoffMs: 200,
        maxBackoffMs: 2000,
        exchange: this.#exchangeOptions(),
      },
    });
    this.route = new LocalRecordsApi({
      chainId: deps.chainId,
      peerId: deps.peerId,
      chain,
      vault: () => (this.#running ? vault : null),
      fetch: (request) => forwarder.fetch(request),
      replay: new LocalAuthReplayCache({ capacity: REPLAY_CACHE_CAPACITY }),
      requestTimeoutMs: c.uploadTimeoutMs,
      metrics: deps.metrics,
    });
    this.#onBlock = (block, results, after) => {
      auditor.onBlock(block, results, after);
      this.#sync.onBlock(block, results, after);
    };
    deps.events.on('block', this.#onBlock);
  }

  #exchangeOptions() {
    const c = this.#d.config;
    return {
      maxRecordBytes: c.maxRecordBytes,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      headerTimeoutMs: c.releaseTimeoutMs + HEADER_MARGIN_MS,
      frameTimeoutMs: FRAME_TIMEOUT_MS,
    };
  }

  /**
   * Opens the vault (repairing what a crash left), replays the committed blocks it has not
   * applied (vault-sync.ts `reconcile`), and starts following committed blocks and sweeping.
   */
  static async open(deps: RecordsDeps): Promise<RecordsService> {
    const vault = await Vault.open(deps.home, {
      maxRecordBytes: deps.config.maxRecordBytes,
      pendingTtlMs: deps.config.pendingTtlMs,
    });
    const r = vault.recovery;
    if (r.uploadsRolledBack + r.erasuresFinished + r.orphanBlobsRemoved + r.blobsMissing.length > 0)
      deps.log.warn('vault repaired at open', {
        uploadsRolledBack: r.uploadsRolledBack,
        erasuresFinished: r.erasuresFinished,
        orphanBlobsRemoved: r.orphanBlobsRemoved,
        blobsMissing: r.blobsMissing.length,
      });
    const service = new RecordsService(deps, vault);
    try {
      const rec = await service.#sync.reconcile();
      if (rec.confirmed + rec.erased + rec.missingHeights > 0 || rec.to - rec.from > 1n)
        deps.log.info('vault reconciled with the chain', {
          from: rec.from.toString(),
          to: rec.to.toString(),
          confirmed: rec.confirmed,
          erased: rec.erased,
          missingHeights: rec.missingHeights,
        });
    } catch (err) {
      await service.stop();
      throw err;
    }
    service.#sync.startSweeping();
    return service;
  }

  /** Serves /careledger/record/1 on the node's libp2p. */
  async serve(): Promise<void> {
    this.#unserve = await serveRecordExchange(
      this.#d.libp2p(),
      this.#release,
      this.#exchangeOptions(),
      (err) => this.#d.log.debug('record exchange stream failed', { error: (err as Error).message }),
      () => this.#d.metrics?.busy('BUSY'),
    );
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#d.events.off('block', this.#onBlock);
    await this.#unserve?.().catch(() => undefined);
    await this.#sync.stop();
  }
}
