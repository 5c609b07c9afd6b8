/**
 * Prometheus metrics (prom-client) with CometBFT's names under a configurable namespace (default
 * `cometbft`, so existing CometBFT dashboards work unchanged), every series labelled with
 * `chain_id` as CometBFT does. Served as Prometheus text at /metrics on their own address, like
 * CometBFT's `prometheus_listen_addr`.
 */
import { createServer, type Server } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { P2PMetrics } from '../p2p/host.ts';
import { listenOn } from './listen.ts';
import type { MempoolMetrics } from './mempool.ts';
import type { RecordsMetrics } from './records/metrics.ts';

export class NodeMetrics {
  readonly registry = new Registry();
  readonly height: Gauge;
  readonly latestBlockHeight: Gauge;
  readonly rounds: Gauge;
  readonly validators: Gauge;
  readonly validatorsPower: Gauge;
  readonly missingValidators: Gauge;
  readonly missingValidatorsPower: Gauge;
  readonly byzantineValidators: Gauge;
  readonly byzantineValidatorsPower: Gauge;
  readonly blockInterval: Histogram;
  readonly numTxs: Gauge;
  readonly totalTxs: Gauge;
  readonly blockSizeBytes: Gauge;
  readonly mempoolSize: Gauge;
  readonly proposalTxsFetched: Counter;
  readonly mempoolFailedTxs: Counter;
  readonly mempoolEvictedTxs: Counter;
  readonly peers: Gauge;
  readonly receiveBytes: Counter;
  readonly messagesRejected: Counter;
  readonly messagesIgnored: Counter;
  readonly messagesDropped: Counter;
  readonly messagesReceived: Counter;
  readonly blockProcessingTime: Histogram;
  readonly syncing: Gauge;
  readonly mempoolMaxTxs: Gauge;
  readonly walRepairs: Counter;
  readonly walDroppedRecords: Counter;
  readonly recordsReleases: Counter;
  readonly recordsReleaseRefusals: Counter;
  readonly recordsApiRefusals: Counter;
  readonly recordsBusyRefusals: Counter;
  readonly recordsReplayRefusals: Counter;
  readonly recordsVaultBytes: Gauge;
  /** What recordsVaultBytes reads at each scrape (the records service's vault), if any. */
  private vaultBytes: (() => number) | null = null;
  private readonly chainId: string;

  constructor(namespace: string, chainId: string) {
    this.chainId = chainId;
    const registers = [this.registry];
    const labelNames = ['chain_id'] as const;
    const gauge = (subsystem: string, name: string, help: string): Gauge =>
      new Gauge({ name: `${namespace}_${subsystem}_${name}`, help, labelNames, registers });
    const counter = (subsystem: string, name: string, help: string, extra: string[] = []): Counter =>
      new Counter({
        name: `${namespace}_${subsystem}_${name}`,
        help,
        labelNames: [...labelNames, ...extra],
        registers,
      });
    this.height = gauge('consensus', 'height', 'Height of the chain.');
    this.latestBlockHeight = gauge('consensus', 'latest_block_height', 'The latest block height.');
    this.rounds = gauge('consensus', 'rounds', 'Number of rounds at the current height.');
    this.validators = gauge('consensus', 'validators', 'Number of validators.');
    this.validatorsPower = gauge('consensus', 'validators_power', 'Total voting power of all validators.');
    this.missingValidators = gauge(
      'consensus',
      'missing_validators',
      'Number of validators who did not sign the last block.',
    );
    this.missingValidatorsPower = gauge(
      'consensus',
      'missing_validators_power',
      'Voting power of the missing validators.',
    );
    this.byzantineValidators = gauge(
      'consensus',
      'byzantine_validators',
      'Number of validators with evidence in the last block.',
    );
    this.byzantineValidatorsPower = gauge(
      'consensus',
      'byzantine_validators_power',
      'Voting power of the byzantine validators.',
    );
    this.blockInterval = new Histogram({
      name: `${namespace}_consensus_block_interval_seconds`,
      help: 'Time between this and the last block.',
      labelNames,
      buckets: [0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30],
      registers,
    });
    this.numTxs = gauge('consensus', 'num_txs', 'Number of transactions in the last block.');
    this.totalTxs = gauge('consensus', 'total_txs', 'Total number of transactions committed.');
    this.blockSizeBytes = gauge('consensus', 'block_size_bytes', 'Size of the last block.');
    // Ours, not CometBFT's (its blocks travel in parts): proposals carry tx hashes here.
    this.proposalTxsFetched = counter(
      'consensus',
      'proposal_txs_fetched_total',
      'Transactions of proposals that were not in the mempool and were fetched from a peer.',
    );
    this.mempoolSize = gauge('mempool', 'size', 'Number of uncommitted transactions in the mempool.');
    this.mempoolFailedTxs = counter('mempool', 'failed_txs', 'Number of transactions the mempool refused.', [
      'code',
    ]);
    this.mempoolEvictedTxs = counter(
      'mempool',
      'evicted_txs',
      'Transactions evicted by the re-check after a block.',
    );
    this.peers = gauge('p2p', 'peers', 'Number of connected peers.');
    this.receiveBytes = counter(
      'p2p',
      'message_receive_bytes_total',
      'Bytes received from peers, by topic.',
      ['message_type'],
    );
    this.messagesReceived = counter('p2p', 'messages_received_total', 'Gossip messages received, by topic.', [
      'message_type',
    ]);
    this.messagesRejected = counter(
      'p2p',
      'messages_rejected_total',
      'Gossip messages rejected as invalid, by topic.',
      ['message_type'],
    );
    this.messagesIgnored = counter(
      'p2p',
      'messages_ignored_total',
      'Gossip messages ignored (stale, duplicate), by topic.',
      ['message_type'],
    );
    this.messagesDropped = counter(
      'p2p',
      'messages_dropped_total',
      'Gossip messages dropped because a validation queue was full.',
      ['message_type'],
    );
    this.blockProcessingTime = new Histogram({
      name: `${namespace}_state_block_processing_time`,
      help: 'Time spent executing and writing a block, in milliseconds.',
      labelNames,
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000],
      registers,
    });
    this.syncing = gauge('blocksync', 'syncing', 'Whether the node is block-syncing (1) or not (0).');
    // Ours, not CometBFT's: the limit mempool_size is measured against (the mempool-full alert).
    this.mempoolMaxTxs = gauge('mempool', 'max_txs', 'The mempool.max_txs limit of this node.');
    this.walRepairs = counter('consensus', 'wal_repairs_total', 'Consensus WAL repairs made at start.');
    this.walDroppedRecords = counter(
      'consensus',
      'wal_dropped_records_total',
      'Intact WAL records lost behind a damaged part, dropped by repairs.',
    );
    // Ours, not CometBFT's: the records service (node/records/metrics.ts says what each counts).
    this.recordsReleases = counter('records', 'releases_total', 'Records this custodian released.');
    this.recordsReleaseRefusals = counter(
      'records',
      'release_refusals_total',
      "The custodian's refusals to release, by code.",
      ['code'],
    );
    this.recordsApiRefusals = counter(
      'records',
      'api_refusals_total',
      "The local records API's error answers, by code.",
      ['code'],
    );
    this.recordsBusyRefusals = counter(
      'records',
      'busy_refusals_total',
      'Records requests refused for load (BUSY, RELEASE_BUSY, LOCAL_AUTH_BUSY), by code.',
      ['code'],
    );
    this.recordsReplayRefusals = counter(
      'records',
      'replay_refusals_total',
      'Local API requests refused by the replay cache: a nonce used again, or the cache full.',
      ['reason'],
    );
    const metrics = this;
    this.recordsVaultBytes = new Gauge({
      name: `${namespace}_records_vault_bytes`,
      help: 'Ciphertext bytes held in the record vault.',
      labelNames,
      registers,
      collect() {
        if (metrics.vaultBytes !== null) this.set(metrics.labels, metrics.vaultBytes());
      },
    });
    // The process's own health (CPU, memory, event-loop lag, GC), as every Node exporter has.
    collectDefaultMetrics({
      register: this.registry,
      prefix: `${namespace}_process_`,
      labels: { chain_id: chainId },
    });
  }

  get labels(): { chain_id: string } {
    return { chain_id: this.chainId };
  }

  forMempool(): MempoolMetrics {
    return {
      size: (n) => this.mempoolSize.set(this.labels, n),
      failedTx: (code) => this.mempoolFailedTxs.inc({ ...this.labels, code }),
      evicted: (n) => this.mempoolEvictedTxs.inc(this.labels, n),
    };
  }

  forP2P(): P2PMetrics {
    const byTopic = (c: Counter) => ({
      inc: (labels: { topic: string }, value?: number) =>
        c.inc({ ...this.labels, message_type: labels.topic }, value ?? 1),
    });
    return {
      messagesReceived: byTopic(this.messagesReceived),
      bytesReceived: byTopic(this.receiveBytes),
      messagesRejected: byTopic(this.messagesRejected),
      messagesIgnored: byTopic(this.messagesIgnored),
      messagesDropped: byTopic(this.messagesDropped),
      peersConnected: { set: (n: number) => this.peers.set(this.labels, n) },
    };
  }

  forRecords(): RecordsMetrics {
    return {
      released: () => this.recordsReleases.inc(this.labels),
      releaseRefused: (code) => this.recordsReleaseRefusals.inc({ ...this.labels, code }),
      apiRefused: (code) => this.recordsApiRefusals.inc({ ...this.labels, code }),
      busy: (code) => this.recordsBusyRefusals.inc({ ...this.labels, code }),
      replayRefused: (reason) => this.recordsReplayRefusals.inc({ ...this.labels, reason }),
      watchVault: (bytes) => {
        this.vaultBytes = bytes;
      },
    };
  }

  /** Serves /metrics; resolves once listening. */
  async serve(listen: string): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    await listenOn(server, listen, 'instrumentation.prometheus_listen');
    return server;
  }
}
