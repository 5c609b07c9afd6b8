/**
 * The CareLedger network host: one libp2p 2.x node (TCP, noise, yamux, identify, gossipsub) that
 * only consortium members can connect to, with
 *  - two gossip topics (txs, consensus) whose every incoming message goes through the caller's
 *    `validate` before gossipsub relays it (async validation; reject lowers the sender's score);
 *  - one request/response protocol for block sync and for direct sends (the fallback when
 *    gossipsub's seen-cache would drop a deliberate re-publish of identical bytes);
 *  - persistent peers, dialled at start and redialled with capped exponential backoff.
 *
 * Every library option whose default would decide behaviour is set here explicitly. The host
 * talks to the rest of the node only through `P2PHandlers`, typed events and the returned
 * `P2PHost`; metrics are passed in and may be null.
 */
import {
  type GossipSub,
  type GossipSubComponents,
  type GossipsubOpts,
  gossipsub,
} from '@chainsafe/libp2p-gossipsub';
import type { PeerScoreParams, TopicScoreParams } from '@chainsafe/libp2p-gossipsub/score';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { type Identify, identify } from '@libp2p/identify';
import { type Connection, type Libp2p, type Stream, TopicValidatorResult } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { CareLedgerError, listenFailed } from '../packages/core/errors.ts';
import { sha256, toHex } from '../packages/crypto/hash.ts';
import { createMemberGater } from './gater.ts';
import { parsePeerId, peerIdFromNodeKey, privateKeyFromNodeKey } from './identity.ts';
import { type BackoffOptions, checkBackoff, createRedialer, parsePersistentPeers } from './peers.ts';
import {
  decodeRequest,
  decodeResponse,
  decodeVerdict,
  encodeErrorResponse,
  encodeRequest,
  encodeResponse,
  encodeVerdict,
  FrameTooLargeError,
  HEADER_BYTES,
  MAX_ERROR_CODE_BYTES,
  REQUEST_KINDS,
  type RequestKind,
  readFrame,
  Status,
  type Verdict,
  type WireRequest,
  writeFrame,
} from './reqresp.ts';
import {
  checkChainId,
  isTopicKind,
  parseTopic,
  syncProtocol,
  TOPIC_KINDS,
  type TopicKind,
  topicName,
} from './topics.ts';

export type { BackoffOptions, RequestKind, TopicKind, Verdict };
export { peerIdFromNodeKey };

const KiB = 1024;
const MiB = 1024 * KiB;
/** Protobuf fields around a message's data in a gossipsub RPC (topic, tags, lengths). */
const RPC_OVERHEAD_BYTES = KiB;

export interface P2POptions {
  readonly chainId: string;
  /** The node key: a 32-byte ed25519 seed; its peer id is the node's identity. */
  readonly nodeKeySeed: Uint8Array;
  /** Listen multiaddr, e.g. /ip4/127.0.0.1/tcp/26656 (tcp/0 picks a free port). */
  readonly listen: string;
  /** Peer ids allowed to connect (and to be dialled). */
  readonly members: readonly string[];
  /** Multiaddrs with /p2p/<peer id> kept connected. */
  readonly persistentPeers: readonly string[];
  /** Largest gossip message (its data) published, sent directly or accepted. */
  readonly maxMessageBytes: number;
  /** Largest gossipsub RPC frame read from a peer; at least maxMessageBytes + 1 KiB. */
  readonly maxRpcBytes: number;
  /** Bytes queued towards one peer before gossipsub refuses to queue more. */
  readonly maxOutboundBufferBytes: number;
  /** Largest sync request body (sent or served). */
  readonly maxRequestBytes: number;
  /** Largest sync response body (accepted or served). */
  readonly maxResponseBytes: number;
  /** Default timeout of `request` and `sendDirect`; also the server's budget to read and write. */
  readonly requestTimeoutMs: number;
  /** How long `onRequest` may take before the peer is told it timed out. */
  readonly requestHandlerTimeoutMs: number;
  /** Concurrent sync streams per connection, each direction. */
  readonly maxSyncStreamsPerConnection: number;
  /** Messages per topic waiting for `validate`; beyond it new ones are ignored and counted. */
  readonly maxPendingValidations: number;
  readonly maxConnections: number;
  readonly dialTimeoutMs: number;
  readonly redial: BackoffOptions;
  /** Source of jitter for redials: a number in [0, 1). */
  readonly random: () => number;
  readonly heartbeatIntervalMs: number;
  /** How long a message id stays in gossipsub's seen-cache (identical bytes are dropped). */
  readonly seenTtlMs: number;
}

type Required = 'chainId' | 'nodeKeySeed' | 'listen' | 'members' | 'persistentPeers';
export type P2PInit = Pick<P2POptions, Required> & Partial<Omit<P2POptions, Required>>;

/**
 * Defaults for everything but the node's identity and peers. When `maxMessageBytes` is raised,
 * `maxRpcBytes` and `maxOutboundBufferBytes` that are not given grow with it.
 */
export const defaultP2POptions: Omit<P2POptions, Required> = {
  maxMessageBytes: 1 * MiB,
  maxRpcBytes: 4 * MiB,
  maxOutboundBufferBytes: 16 * MiB,
  maxRequestBytes: 64 * KiB,
  maxResponseBytes: 16 * MiB,
  requestTimeoutMs: 10_000,
  requestHandlerTimeoutMs: 5_000,
  maxSyncStreamsPerConnection: 16,
  maxPendingValidations: 1024,
  maxConnections: 64,
  dialTimeoutMs: 5_000,
  redial: { initialMs: 1_000, maxMs: 60_000, factor: 2, jitter: 0.2 },
  random: Math.random,
  heartbeatIntervalMs: 700,
  seenTtlMs: 120_000,
};

/** How a message arrived: relayed by gossipsub or sent straight to us. */
export type Via = 'gossip' | 'direct';

export interface P2PHandlers {
  /**
   * Every incoming message, gossip or direct, before it is relayed or delivered. The caller
   * decodes and verifies. A thrown CareLedgerError with an action counts as that verdict; any
   * other exception as 'ignore'.
   */
  validate(kind: TopicKind, bytes: Uint8Array, from: string): Verdict | Promise<Verdict>;
  /** A message `validate` accepted. */
  onMessage?(kind: TopicKind, bytes: Uint8Array, from: string, via: Via): void;
  /** Serves a peer's sync request; a thrown CareLedgerError's code is sent back. */
  onRequest(kind: RequestKind, bytes: Uint8Array, from: string): Promise<Uint8Array>;
  /** Failures inside the host that have no caller to throw to (a handler that threw, …). */
  onError?(err: unknown, where: string): void;
}

/** prom-client's `Counter.inc(labels, value)` fits. */
export interface P2PCounter {
  inc(labels: { topic: TopicKind }, value?: number): void;
}
export interface P2PGauge {
  set(value: number): void;
}
export interface P2PMetrics {
  readonly messagesReceived: P2PCounter | null;
  readonly bytesReceived: P2PCounter | null;
  readonly messagesRejected: P2PCounter | null;
  readonly messagesIgnored: P2PCounter | null;
  /** Ignored because the topic's validation queue was full (also counted in messagesIgnored). */
  readonly messagesDropped: P2PCounter | null;
  readonly peersConnected: P2PGauge | null;
}

export interface P2PEvents {
  'peer:connect': { readonly id: string };
  'peer:disconnect': { readonly id: string };
}

export type PublishOutcome =
  | { readonly status: 'published'; readonly recipients: number }
  /** The same bytes were published or received within seenTtlMs: gossipsub will not send them
   * again. Use `sendDirect` to push them to a peer that needs them. */
  | { readonly status: 'duplicate' }
  /** No connected peer is subscribed; nothing was sent or remembered, a later publish may work. */
  | { readonly status: 'no-peers' };

export interface PeerStatus {
  readonly id: string;
  readonly addrs: readonly string[];
  readonly connected: boolean;
  readonly persistent: boolean;
}

export interface RequestOptions {
  readonly timeoutMs?: number;
}

export interface P2PHost {
  readonly peerId: string;
  readonly chainId: string;
  /** Listening addresses, each ending in /p2p/<peerId>. */
  addresses(): string[];
  publish(kind: TopicKind, bytes: Uint8Array): Promise<PublishOutcome>;
  /** Sends one message over the sync protocol; resolves to the peer's verdict on it. */
  sendDirect(peerId: string, kind: TopicKind, bytes: Uint8Array, opts?: RequestOptions): Promise<Verdict>;
  request(peerId: string, kind: RequestKind, bytes: Uint8Array, opts?: RequestOptions): Promise<Uint8Array>;
  /** Replaces the member set and closes connections to peers that are no longer members. */
  setMembers(ids: readonly string[]): Promise<void>;
  members(): string[];
  peers(): PeerStatus[];
  /** Connected peers subscribed to the topic (who a publish can reach now). */
  topicPeers(kind: TopicKind): string[];
  /** This node's gossipsub score of a peer (0 for unknown peers). */
  score(peerId: string): number;
  /** The peer sent something invalid outside gossip (a sync answer): score it as an invalid message. */
  reportInvalid(peerId: string): void;
  on<E extends keyof P2PEvents>(event: E, listener: (detail: P2PEvents[E]) => void): () => void;
  stop(): Promise<void>;
  /** The libp2p node, for diagnostics and tests. Going around the host bypasses its checks. */
  readonly libp2p: Libp2p<{ identify: Identify; pubsub: GossipSub }>;
}

const MAX_TIMEOUT_MS = 10 * 60_000;

function invalidOption(message: string): CareLedgerError {
  return new CareLedgerError('P2P_INVALID_OPTIONS', message);
}

function checkPositiveInt(name: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value <= 0 || value > max) {
    throw invalidOption(`${name} must be an integer in 1..${max}, got ${String(value)}`);
  }
}

/** Merges `init` over the defaults and checks every field. */
export function resolveP2POptions(init: P2PInit): P2POptions {
  const merged: P2POptions = { ...defaultP2POptions, ...init };
  // The RPC and buffer bounds follow a raised message limit unless they are set themselves.
  const maxRpcBytes =
    init.maxRpcBytes ?? Math.max(defaultP2POptions.maxRpcBytes, merged.maxMessageBytes + RPC_OVERHEAD_BYTES);
  const maxOutboundBufferBytes =
    init.maxOutboundBufferBytes ?? Math.max(defaultP2POptions.maxOutboundBufferBytes, maxRpcBytes);
  const opts: P2POptions = { ...merged, maxRpcBytes, maxOutboundBufferBytes };
  checkChainId(opts.chainId);
  try {
    multiaddr(opts.listen);
  } catch {
    throw invalidOption(`listen address ${JSON.stringify(opts.listen)} is not a multiaddr`);
  }
  const counts = [
    'maxMessageBytes',
    'maxRpcBytes',
    'maxOutboundBufferBytes',
    'maxRequestBytes',
    'maxResponseBytes',
    'maxSyncStreamsPerConnection',
    'maxPendingValidations',
    'maxConnections',
  ] as const;
  for (const name of counts) checkPositiveInt(name, opts[name]);
  const durations = [
    'requestTimeoutMs',
    'requestHandlerTimeoutMs',
    'dialTimeoutMs',
    'heartbeatIntervalMs',
    'seenTtlMs',
  ] as const;
  for (const name of durations) checkPositiveInt(name, opts[name], MAX_TIMEOUT_MS);
  if (opts.maxRpcBytes < opts.maxMessageBytes + RPC_OVERHEAD_BYTES) {
    throw invalidOption('maxRpcBytes must be at least maxMessageBytes + 1 KiB (an RPC wraps the message)');
  }
  if (opts.maxOutboundBufferBytes < opts.maxRpcBytes) {
    throw invalidOption('maxOutboundBufferBytes must hold at least one RPC (maxRpcBytes)');
  }
  checkBackoff(opts.redial);
  if (typeof opts.random !== 'function') throw invalidOption('random must be a function');
  return opts;
}

/** Below this gossip score a peer is ignored: its gossip, its direct messages and its requests. */
const GRAYLIST_THRESHOLD = -2_500;

/**
 * Invalid messages gossipsub never sees: direct messages the validator rejected, and sync answers
 * the node found invalid (`reportInvalid`). They count as gossipsub's P4 does, through the
 * application-specific score: -100 x count^2, the count decaying by 1 % a second, so a peer cannot
 * go around its score over the sync protocol.
 */
export class Penalties {
  private readonly counts = new Map<string, { count: number; at: number }>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  add(peer: string): void {
    this.counts.set(peer, { count: this.count(peer) + 1, at: this.now() });
  }

  /** The decayed count; a peer whose count has decayed to nothing is forgotten. */
  count(peer: string): number {
    const entry = this.counts.get(peer);
    if (entry === undefined) return 0;
    const count = entry.count * 0.99 ** ((this.now() - entry.at) / 1_000);
    if (count < 0.01) this.counts.delete(peer);
    return count < 0.01 ? 0 : count;
  }

  /** For gossipsub's appSpecificScore (weight PENALTY_WEIGHT). */
  score(peer: string): number {
    const count = this.count(peer);
    return count === 0 ? 0 : -(count * count);
  }
}
const PENALTY_WEIGHT = 100;

/** Gossip scoring for a small, permissioned mesh. */
function scoreParams(topics: readonly string[], penalties: Penalties): Partial<PeerScoreParams> {
  // P3/P3b (mesh delivery rate) are off: a quiet consortium delivers few messages, and gossipsub's
  // default threshold (20 per window) would push honest peers below zero. P4 (invalid messages)
  // carries the weight: the penalty is -100 x (invalid messages on the topic)^2, so six get a peer
  // graylisted (five give exactly the threshold, which is not below it).
  const topic: TopicScoreParams = {
    topicWeight: 1,
    timeInMeshWeight: 0.1,
    timeInMeshQuantum: 1_000,
    timeInMeshCap: 100,
    firstMessageDeliveriesWeight: 1,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 50,
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.9,
    meshMessageDeliveriesCap: 100,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5_000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.9,
    invalidMessageDeliveriesWeight: -100,
    invalidMessageDeliveriesDecay: 0.99,
  };
  return {
    topics: Object.fromEntries(topics.map((t) => [t, topic])),
    topicScoreCap: 100,
    appSpecificScore: (peer) => penalties.score(peer),
    appSpecificWeight: PENALTY_WEIGHT,
    // Members are authenticated by key, and a local consortium shares one IP.
    IPColocationFactorWeight: 0,
    IPColocationFactorThreshold: 1,
    IPColocationFactorWhitelist: new Set(),
    behaviourPenaltyWeight: -10,
    behaviourPenaltyThreshold: 6,
    behaviourPenaltyDecay: 0.9,
    decayInterval: 1_000,
    decayToZero: 0.01,
    retainScore: 10 * 60_000,
  };
}

function gossipOptions(
  opts: P2POptions,
  topics: readonly string[],
  penalties: Penalties,
): Partial<GossipsubOpts> {
  return {
    // Messages carry their own application signatures (tx, vote, proposal); libp2p's envelope
    // signature, author and seqno would only break content addressing.
    globalSignaturePolicy: 'StrictNoSign',
    msgIdFn: (msg) => sha256(msg.data),
    msgIdToStrFn: (id) => toHex(id),
    asyncValidation: true,
    allowPublishToZeroTopicPeers: false,
    ignoreDuplicatePublishError: false,
    emitSelf: false,
    fallbackToFloodsub: false,
    floodPublish: true,
    batchPublish: false,
    doPX: false,
    directPeers: [],
    allowedTopics: new Set(topics),
    maxInboundDataLength: opts.maxRpcBytes,
    maxOutboundBufferSize: opts.maxOutboundBufferBytes,
    decodeRpcLimits: {
      maxSubscriptions: topics.length * 2,
      maxMessages: 64,
      maxIhaveMessageIDs: 5_000,
      maxIwantMessageIDs: 5_000,
      maxIdontwantMessageIDs: 5_000,
      maxControlMessages: 128,
      maxPeerInfos: 0,
    },
    D: 6,
    Dlo: 4,
    Dhi: 12,
    Dscore: 4,
    Dout: 2,
    Dlazy: 6,
    heartbeatInterval: opts.heartbeatIntervalMs,
    fanoutTTL: 60_000,
    mcacheLength: 6,
    mcacheGossip: 3,
    seenTTL: opts.seenTtlMs,
    gossipsubIWantFollowupMs: 3_000,
    prunePeers: 0,
    pruneBackoff: 60_000,
    unsubcribeBackoff: 10_000,
    graftFloodThreshold: 10_000,
    opportunisticGraftPeers: 2,
    opportunisticGraftTicks: 60,
    directConnectTicks: 300,
    gossipFactor: 0.25,
    idontwantMinDataSize: 512,
    idontwantMaxMessages: 512,
    awaitRpcHandler: false,
    awaitRpcMessageHandler: false,
    tagMeshPeers: false,
    maxInboundStreams: 2,
    maxOutboundStreams: 2,
    runOnLimitedConnection: false,
    metricsRegister: null,
    scoreParams: scoreParams(topics, penalties),
    scoreThresholds: {
      gossipThreshold: -500,
      publishThreshold: -1_000,
      graylistThreshold: GRAYLIST_THRESHOLD,
      acceptPXThreshold: 1_000,
      opportunisticGraftThreshold: 5,
    },
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolves to the value, or to `timedOut` if `ms` passes first (the work is not cancelled). */
async function withDeadline<T>(work: Promise<T>, ms: number): Promise<{ value: T } | 'timedOut'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<'timedOut'>((resolve) => {
    timer = setTimeout(() => resolve('timedOut'), ms);
  });
  try {
    return await Promise.race([work.then((value) => ({ value })), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const VALIDATION_RESULT: Record<Verdict, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
};

/** Creates, starts and returns a host: listening, subscribed, dialling its persistent peers. */
export async function createP2PHost(
  init: P2PInit,
  handlers: P2PHandlers,
  metrics: P2PMetrics | null = null,
): Promise<P2PHost> {
  const opts = resolveP2POptions(init);
  const privateKey = privateKeyFromNodeKey(opts.nodeKeySeed);
  const selfId = peerIdFromNodeKey(opts.nodeKeySeed);
  const gate = createMemberGater(opts.members);
  const persistent = parsePersistentPeers(opts.persistentPeers).filter((p) => p.id !== selfId);
  const topics = new Map<TopicKind, string>(TOPIC_KINDS.map((k) => [k, topicName(opts.chainId, k)]));
  const penalties = new Penalties();
  const topicOf = (kind: TopicKind): string => topics.get(kind)!;
  const protocol = syncProtocol(opts.chainId);
  // The sync server reads a frame big enough for either request type, then checks by type.
  const maxRequestFrame = Math.max(opts.maxRequestBytes, opts.maxMessageBytes) + HEADER_BYTES;

  const libp2p = await createLibp2p<{ identify: Identify; pubsub: GossipSub }>({
    start: false,
    privateKey,
    nodeInfo: { name: 'careledger', version: '1', userAgent: 'careledger/1' },
    addresses: { listen: [opts.listen], announce: [], noAnnounce: [], appendAnnounce: [] },
    transports: [
      tcp({
        inboundSocketInactivityTimeout: 5 * 60_000,
        outboundSocketInactivityTimeout: 5 * 60_000,
        socketCloseTimeout: 2_000,
        maxConnections: opts.maxConnections,
        backlog: 64,
        dialOpts: { noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 },
        listenOpts: { noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 },
      }),
    ],
    // The prologue binds the handshake to the chain: nodes of another chain fail it.
    connectionEncrypters: [noise({ prologueBytes: new TextEncoder().encode(`/careledger/${opts.chainId}`) })],
    streamMuxers: [
      yamux({
        enableKeepAlive: true,
        keepAliveInterval: 30_000,
        maxInboundStreams: 256,
        maxOutboundStreams: 256,
        initialStreamWindowSize: 256 * KiB,
        maxStreamWindowSize: 16 * MiB,
        maxMessageSize: 64 * KiB,
      }),
    ],
    connectionGater: gate.gater,
    connectionManager: {
      maxConnections: opts.maxConnections,
      maxParallelDials: 16,
      maxDialQueueLength: 128,
      maxPeerAddrsToDial: 8,
      dialTimeout: opts.dialTimeoutMs,
      inboundUpgradeTimeout: opts.dialTimeoutMs,
      inboundStreamProtocolNegotiationTimeout: opts.dialTimeoutMs,
      outboundStreamProtocolNegotiationTimeout: opts.dialTimeoutMs,
      maxIncomingPendingConnections: 16,
      inboundConnectionThreshold: 32,
      // Redialling is ours (persistent peers), not libp2p's KEEP_ALIVE reconnect queue.
      reconnectRetries: 0,
      allow: [],
      deny: [],
    },
    connectionMonitor: {
      enabled: true,
      pingInterval: 10_000,
      abortConnectionOnPingFailure: true,
      pingTimeout: { minTimeout: 2_000, maxTimeout: 10_000 },
    },
    peerDiscovery: [],
    services: {
      identify: identify({
        protocolPrefix: 'ipfs',
        timeout: 5_000,
        maxMessageSize: 8 * KiB,
        maxInboundStreams: 1,
        maxOutboundStreams: 1,
        maxObservedAddresses: 0,
        runOnLimitedConnection: false,
        runOnConnectionOpen: true,
      }),
      // gossipsub() is typed as returning the generic PubSub; the instance is a GossipSub, whose
      // getScore and reportMessageValidationResult the host needs.
      pubsub: gossipsub(gossipOptions(opts, [...topics.values()], penalties)) as unknown as (
        components: GossipSubComponents,
      ) => GossipSub,
    },
  });
  const pubsub = libp2p.services.pubsub;

  let stopped = false;
  const listeners: { [E in keyof P2PEvents]: Set<(detail: P2PEvents[E]) => void> } = {
    'peer:connect': new Set(),
    'peer:disconnect': new Set(),
  };
  const reportError = (err: unknown, where: string): void => {
    try {
      handlers.onError?.(err, where);
    } catch {
      // An error reporter that throws has nowhere left to report to.
    }
  };
  const emit = <E extends keyof P2PEvents>(event: E, detail: P2PEvents[E]): void => {
    for (const listener of listeners[event]) {
      try {
        listener(detail);
      } catch (err) {
        reportError(err, `listener ${event}`);
      }
    }
  };
  const connectedIds = (): Set<string> => new Set(libp2p.getPeers().map((p) => p.toString()));
  const isConnected = (id: string): boolean => libp2p.getPeers().some((p) => p.toString() === id);

  const redialer = createRedialer({
    peers: persistent,
    backoff: opts.redial,
    random: opts.random,
    isMember: gate.isMember,
    isConnected,
    async dial(peer, signal) {
      await libp2p.dial(multiaddr(peer.addr), { signal });
    },
  });

  libp2p.addEventListener('peer:connect', (evt) => {
    const id = evt.detail.toString();
    redialer.onConnect(id);
    metrics?.peersConnected?.set(libp2p.getPeers().length);
    emit('peer:connect', { id });
  });
  libp2p.addEventListener('peer:disconnect', (evt) => {
    const id = evt.detail.toString();
    redialer.onDisconnect(id);
    metrics?.peersConnected?.set(libp2p.getPeers().length);
    emit('peer:disconnect', { id });
  });

  // Validation: one path for gossip and direct messages, bounded per topic.
  const pending = new Map<TopicKind, number>(TOPIC_KINDS.map((k) => [k, 0]));
  const count = (counter: P2PCounter | null | undefined, kind: TopicKind, value = 1): void => {
    counter?.inc({ topic: kind }, value);
  };

  const validateIncoming = async (kind: TopicKind, data: Uint8Array, from: string): Promise<Verdict> => {
    count(metrics?.messagesReceived, kind);
    count(metrics?.bytesReceived, kind, data.length);
    let verdict: Verdict;
    if (data.length > opts.maxMessageBytes) {
      verdict = 'reject';
    } else if (pending.get(kind)! >= opts.maxPendingValidations) {
      count(metrics?.messagesDropped, kind);
      verdict = 'ignore';
    } else {
      pending.set(kind, pending.get(kind)! + 1);
      try {
        const result = await handlers.validate(kind, data, from);
        // A verdict outside the three is a bug of ours, not the peer's fault: ignore.
        verdict = result === 'accept' || result === 'reject' ? result : 'ignore';
      } catch (err) {
        verdict = err instanceof CareLedgerError && err.action !== undefined ? err.action : 'ignore';
        if (!(err instanceof CareLedgerError)) reportError(err, `validate ${kind}`);
      } finally {
        pending.set(kind, pending.get(kind)! - 1);
      }
    }
    if (verdict === 'reject') count(metrics?.messagesRejected, kind);
    if (verdict === 'ignore') count(metrics?.messagesIgnored, kind);
    return verdict;
  };

  const deliver = (kind: TopicKind, data: Uint8Array, from: string, via: Via): void => {
    try {
      handlers.onMessage?.(kind, data, from, via);
    } catch (err) {
      reportError(err, `onMessage ${kind}`);
    }
  };

  pubsub.addEventListener('gossipsub:message', (evt) => {
    const { propagationSource, msgId, msg } = evt.detail;
    const from = propagationSource.toString();
    const kind = parseTopic(opts.chainId, msg.topic);
    if (kind === null) {
      // allowedTopics already keeps other topics out; this guards the mapping itself.
      pubsub.reportMessageValidationResult(msgId, from, TopicValidatorResult.Reject);
      return;
    }
    void validateIncoming(kind, msg.data, from).then((verdict) => {
      if (stopped) return;
      pubsub.reportMessageValidationResult(msgId, from, VALIDATION_RESULT[verdict]);
      if (verdict === 'accept') deliver(kind, msg.data, from, 'gossip');
    });
  });

  // Sync protocol: server side.
  const answer = async (request: WireRequest, from: string): Promise<Uint8Array> => {
    // Gossipsub drops a graylisted peer's gossip unread; the sync protocol must not be a way around
    // that, so its direct messages and requests are refused unread too.
    if (pubsub.getScore(from) < GRAYLIST_THRESHOLD)
      return encodeErrorResponse(Status.handlerFailed, 'P2P_PEER_GRAYLISTED');
    switch (request.type) {
      case 'blocks': {
        if (request.body.length > opts.maxRequestBytes) return encodeResponse(Status.tooLarge);
        let result: { value: Uint8Array } | 'timedOut';
        try {
          result = await withDeadline(
            handlers.onRequest('blocks', request.body, from),
            opts.requestHandlerTimeoutMs,
          );
        } catch (err) {
          if (!(err instanceof CareLedgerError)) reportError(err, 'onRequest blocks');
          return encodeErrorResponse(
            Status.handlerFailed,
            err instanceof CareLedgerError ? err.code : 'P2P_HANDLER_FAILED',
          );
        }
        if (result === 'timedOut') return encodeResponse(Status.handlerTimeout);
        if (!(result.value instanceof Uint8Array) || result.value.length > opts.maxResponseBytes) {
          return encodeErrorResponse(Status.handlerFailed, 'P2P_RESPONSE_TOO_LARGE');
        }
        return encodeResponse(Status.ok, result.value);
      }
      case 'direct': {
        // An oversized message is a rejected message, as on gossip (validateIncoming checks).
        const verdict = await validateIncoming(request.topic, request.body, from);
        if (verdict === 'accept') deliver(request.topic, request.body, from, 'direct');
        if (verdict === 'reject') penalties.add(from);
        return encodeResponse(Status.ok, encodeVerdict(verdict));
      }
      default: {
        const never: never = request;
        throw new Error(`unhandled request ${String(never)}`);
      }
    }
  };

  const serve = async (stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString();
    // One budget for the whole exchange, so a slow or silent peer cannot hold a stream open.
    const deadline = setTimeout(
      () => stream.abort(new Error('sync stream timed out')),
      opts.requestTimeoutMs + opts.requestHandlerTimeoutMs,
    );
    try {
      let response: Uint8Array;
      try {
        const decoded = decodeRequest(await readFrame(stream, maxRequestFrame));
        response = decoded.ok ? await answer(decoded.request, from) : encodeResponse(decoded.status);
      } catch (err) {
        if (!(err instanceof FrameTooLargeError)) throw err;
        response = encodeResponse(Status.tooLarge);
      }
      await writeFrame(stream, response);
      await stream.close();
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    } finally {
      clearTimeout(deadline);
    }
  };

  // Sync protocol: client side.
  const exchange = async (
    peer: string,
    frame: Uint8Array,
    maxBody: number,
    timeoutMs: number,
  ): Promise<Uint8Array> => {
    if (stopped) throw new CareLedgerError('P2P_STOPPED', 'the p2p host is stopped');
    const peerId = parsePeerId(peer);
    const id = peerId.toString();
    if (!gate.isMember(id)) throw new CareLedgerError('P2P_NOT_MEMBER', `peer ${id} is not a member`);
    checkPositiveInt('timeoutMs', timeoutMs, MAX_TIMEOUT_MS);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let stream: Stream | undefined;
    let done = false;
    try {
      stream = await libp2p.dialProtocol(peerId, protocol, { signal: controller.signal });
      const s = stream;
      controller.signal.addEventListener('abort', () => s.abort(new Error('request timed out')), {
        once: true,
      });
      // Read while writing: a peer may answer (too large, unknown kind) before reading it all.
      const writing = writeFrame(s, frame);
      writing.catch(() => {});
      let response: Uint8Array;
      try {
        // Room for an error answer (status + code) even where a good body is tiny (a verdict).
        response = await readFrame(s, Math.max(maxBody, MAX_ERROR_CODE_BYTES) + 1);
      } catch (err) {
        if (err instanceof FrameTooLargeError) {
          throw new CareLedgerError(
            'P2P_RESPONSE_TOO_LARGE',
            `peer ${id} answered more than ${maxBody} bytes`,
            'reject',
          );
        }
        throw err;
      }
      const body = decodeResponse(response, id);
      await writing;
      await s.close({ signal: controller.signal });
      done = true;
      return body;
    } catch (err) {
      if (controller.signal.aborted) {
        throw new CareLedgerError('P2P_TIMEOUT', `peer ${id} did not answer within ${timeoutMs} ms`);
      }
      if (err instanceof CareLedgerError) throw err;
      throw new CareLedgerError('P2P_UNREACHABLE', `request to peer ${id} failed: ${errorMessage(err)}`);
    } finally {
      clearTimeout(timer);
      if (stream !== undefined && !done) stream.abort(new Error('request abandoned'));
    }
  };

  try {
    await libp2p.start();
  } catch (err) {
    await Promise.resolve(libp2p.stop()).catch(() => undefined);
    throw listenFailed('p2p.listen', opts.listen, err);
  }
  try {
    for (const topic of topics.values()) pubsub.subscribe(topic);
    await libp2p.handle(
      protocol,
      ({ stream, connection }) => {
        void serve(stream, connection);
      },
      {
        maxInboundStreams: opts.maxSyncStreamsPerConnection,
        maxOutboundStreams: opts.maxSyncStreamsPerConnection,
        runOnLimitedConnection: false,
      },
    );
  } catch (err) {
    await libp2p.stop();
    throw err;
  }
  redialer.start();

  const checkKind = (kind: TopicKind): void => {
    if (!isTopicKind(kind)) throw new CareLedgerError('P2P_UNKNOWN_TOPIC', `no topic kind ${String(kind)}`);
  };
  const checkBytes = (bytes: Uint8Array): void => {
    if (!(bytes instanceof Uint8Array)) throw new CareLedgerError('P2P_BAD_MESSAGE', 'message must be bytes');
  };
  /** A message of ours to send: bytes, within the gossip message limit. */
  const checkMessage = (kind: TopicKind, bytes: Uint8Array): void => {
    checkKind(kind);
    checkBytes(bytes);
    if (bytes.length > opts.maxMessageBytes) {
      throw new CareLedgerError(
        'P2P_MESSAGE_TOO_LARGE',
        `message of ${bytes.length} bytes is over the limit of ${opts.maxMessageBytes}`,
      );
    }
  };

  return {
    peerId: selfId,
    chainId: opts.chainId,
    libp2p,
    addresses: () => libp2p.getMultiaddrs().map((a) => a.toString()),

    async publish(kind, bytes) {
      if (stopped) throw new CareLedgerError('P2P_STOPPED', 'the p2p host is stopped');
      checkMessage(kind, bytes);
      try {
        const result = await pubsub.publish(topicOf(kind), bytes);
        return { status: 'published', recipients: result.recipients.length };
      } catch (err) {
        // gossipsub reports these two outcomes only as errors with fixed messages.
        const message = errorMessage(err);
        if (message === 'PublishError.Duplicate') return { status: 'duplicate' };
        if (message === 'PublishError.NoPeersSubscribedToTopic') return { status: 'no-peers' };
        throw new CareLedgerError('P2P_PUBLISH_FAILED', `publish on ${kind} failed: ${message}`);
      }
    },

    async sendDirect(peerId, kind, bytes, ropts = {}) {
      checkMessage(kind, bytes);
      const frame = encodeRequest({ type: 'direct', topic: kind, body: bytes });
      const body = await exchange(peerId, frame, 1, ropts.timeoutMs ?? opts.requestTimeoutMs);
      return decodeVerdict(body, peerId);
    },

    async request(peerId, kind, bytes, ropts = {}) {
      if (!REQUEST_KINDS.includes(kind)) {
        throw new CareLedgerError('P2P_UNKNOWN_REQUEST', `no request kind ${String(kind)}`);
      }
      checkBytes(bytes);
      if (bytes.length > opts.maxRequestBytes) {
        throw new CareLedgerError(
          'P2P_REQUEST_TOO_LARGE',
          `request of ${bytes.length} bytes is over the limit of ${opts.maxRequestBytes}`,
        );
      }
      const frame = encodeRequest({ type: kind, body: bytes });
      return exchange(peerId, frame, opts.maxResponseBytes, ropts.timeoutMs ?? opts.requestTimeoutMs);
    },

    async setMembers(ids) {
      const removed = gate.setMembers(ids);
      const connected = connectedIds();
      await Promise.all(
        removed.filter((id) => connected.has(id)).map((id) => libp2p.hangUp(parsePeerId(id)).catch(() => {})),
      );
      redialer.refresh();
    },

    members: () => gate.members(),

    peers() {
      const connections = new Map<string, string[]>();
      for (const conn of libp2p.getConnections()) {
        const id = conn.remotePeer.toString();
        connections.set(id, [...(connections.get(id) ?? []), conn.remoteAddr.toString()]);
      }
      const out: PeerStatus[] = [];
      for (const p of persistent) {
        const live = connections.get(p.id);
        out.push({ id: p.id, addrs: live ?? [p.addr], connected: live !== undefined, persistent: true });
        connections.delete(p.id);
      }
      for (const [id, addrs] of connections) out.push({ id, addrs, connected: true, persistent: false });
      return out;
    },

    topicPeers(kind) {
      checkKind(kind);
      return pubsub.getSubscribers(topicOf(kind)).map((p) => p.toString());
    },

    score: (peerId) => pubsub.getScore(parsePeerId(peerId).toString()),
    reportInvalid: (peerId) => penalties.add(parsePeerId(peerId).toString()),

    on(event, listener) {
      const set = listeners[event];
      set.add(listener);
      return () => {
        set.delete(listener);
      };
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      redialer.stop();
      await libp2p.stop();
    },
  };
}
