/**
 * Gossip: the topics (tx, consensus, evidence; topics.ts), publishing on them, and the one validation path every
 * incoming message takes, whether it came by gossip or straight over the sync protocol.
 *
 * Validation is bounded per topic (`maxPendingValidations` in flight; beyond it new messages are
 * ignored and counted in `messagesDropped`, as Lodestar's bounded gossip queues drop), an
 * oversized message is rejected before the caller's `validate` sees it, and the caller's verdict
 * maps straight to gossipsub's result: accept relays, ignore drops, reject drops and lowers the
 * relayer's P4 score. A CareLedgerError thrown by `validate` counts as its action.
 *
 * `gossipsubOptions` sets every gossipsub option whose default would decide behaviour.
 */
import type { GossipSub, GossipsubOpts } from '@chainsafe/libp2p-gossipsub';
import { TopicValidatorResult } from '@libp2p/interface';
import { CareLedgerError } from '../packages/core/errors.ts';
import { sha256, toHex } from '../packages/crypto/hash.ts';
import type { P2POptions } from './options.ts';
import { type Penalties, SCORE_THRESHOLDS, scoreParams } from './scoring.ts';
import { isTopicKind, parseTopic, TOPIC_KINDS, type TopicKind, topicName } from './topics.ts';

/** The outcome of validating a message, gossip or direct. */
export type Verdict = 'accept' | 'ignore' | 'reject';

/** How a message arrived: relayed by gossipsub or sent straight to us. */
export type Via = 'gossip' | 'direct';

export interface GossipHandlers {
  /**
   * Every incoming message, gossip or direct, before it is relayed or delivered. The caller
   * decodes and verifies. A thrown CareLedgerError with an action counts as that verdict; any
   * other exception as 'ignore'.
   */
  validate(kind: TopicKind, bytes: Uint8Array, from: string): Verdict | Promise<Verdict>;
  /** A message `validate` accepted. */
  onMessage?(kind: TopicKind, bytes: Uint8Array, from: string, via: Via): void;
}

/** prom-client's `Counter.inc(labels, value)` fits. */
export interface P2PCounter {
  inc(labels: { topic: TopicKind }, value?: number): void;
}

/** Counters of incoming messages, gossip and direct alike; any may be null. */
export interface GossipMetrics {
  readonly messagesReceived: P2PCounter | null;
  readonly bytesReceived: P2PCounter | null;
  readonly messagesRejected: P2PCounter | null;
  readonly messagesIgnored: P2PCounter | null;
  /** Ignored because the topic's validation queue was full (also counted in messagesIgnored). */
  readonly messagesDropped: P2PCounter | null;
}

export type PublishOutcome =
  | { readonly status: 'published'; readonly recipients: number }
  /** The same bytes were published or received within seenTtlMs: gossipsub will not send them
   * again. Use `sendDirect` to push them to a peer that needs them. */
  | { readonly status: 'duplicate' }
  /** No connected peer is subscribed; nothing was sent or remembered, a later publish may work. */
  | { readonly status: 'no-peers' };

export function checkTopicKind(kind: TopicKind): void {
  if (!isTopicKind(kind)) throw new CareLedgerError('P2P_UNKNOWN_TOPIC', `no topic kind ${String(kind)}`);
}

export function checkBytes(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array)) throw new CareLedgerError('P2P_BAD_MESSAGE', 'message must be bytes');
}

/** A message of ours to send (publish or direct): a known topic, bytes, within the size limit. */
export function checkOutgoing(kind: TopicKind, bytes: Uint8Array, maxMessageBytes: number): void {
  checkTopicKind(kind);
  checkBytes(bytes);
  if (bytes.length > maxMessageBytes) {
    throw new CareLedgerError(
      'P2P_MESSAGE_TOO_LARGE',
      `message of ${bytes.length} bytes is over the limit of ${maxMessageBytes}`,
    );
  }
}

export interface ValidatorDeps {
  readonly maxMessageBytes: number;
  readonly maxPendingValidations: number;
  readonly handlers: GossipHandlers;
  readonly metrics: GossipMetrics | null;
  /** Where a handler's unexpected failure goes (it has no caller to throw to). */
  reportError(err: unknown, where: string): void;
}

/** The validation path shared by gossip and direct messages. */
export interface MessageValidator {
  /** Checks size and queue bound, runs `validate`, counts the outcome. Never throws. */
  validate(kind: TopicKind, data: Uint8Array, from: string): Promise<Verdict>;
  /** Hands an accepted message to `onMessage`; its failure is reported, not thrown. */
  deliver(kind: TopicKind, data: Uint8Array, from: string, via: Via): void;
  /** Validations of this topic in flight now. */
  pending(kind: TopicKind): number;
}

export function createMessageValidator(deps: ValidatorDeps): MessageValidator {
  const { handlers, metrics } = deps;
  const pending = new Map<TopicKind, number>(TOPIC_KINDS.map((k) => [k, 0]));
  const count = (counter: P2PCounter | null | undefined, kind: TopicKind, value = 1): void => {
    counter?.inc({ topic: kind }, value);
  };

  return {
    async validate(kind, data, from) {
      count(metrics?.messagesReceived, kind);
      count(metrics?.bytesReceived, kind, data.length);
      let verdict: Verdict;
      if (data.length > deps.maxMessageBytes) {
        verdict = 'reject';
      } else if (pending.get(kind)! >= deps.maxPendingValidations) {
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
          if (!(err instanceof CareLedgerError)) deps.reportError(err, `validate ${kind}`);
        } finally {
          pending.set(kind, pending.get(kind)! - 1);
        }
      }
      if (verdict === 'reject') count(metrics?.messagesRejected, kind);
      if (verdict === 'ignore') count(metrics?.messagesIgnored, kind);
      return verdict;
    },
    deliver(kind, data, from, via) {
      try {
        handlers.onMessage?.(kind, data, from, via);
      } catch (err) {
        deps.reportError(err, `onMessage ${kind}`);
      }
    },
    pending: (kind) => pending.get(kind) ?? 0,
  };
}

const VALIDATION_RESULT: Record<Verdict, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
};

/** The part of GossipSub the gossip layer uses (a fake of it is enough to test this module). */
export type GossipPubSub = Pick<
  GossipSub,
  'addEventListener' | 'publish' | 'subscribe' | 'getSubscribers' | 'reportMessageValidationResult'
>;

export interface GossipDeps {
  readonly chainId: string;
  readonly maxMessageBytes: number;
  readonly pubsub: GossipPubSub;
  readonly validator: MessageValidator;
  isStopped(): boolean;
}

export interface Gossip {
  /** Joins every topic; called once the node has started. */
  subscribe(): void;
  publish(kind: TopicKind, bytes: Uint8Array): Promise<PublishOutcome>;
  /** Connected peers subscribed to the topic (who a publish can reach now). */
  topicPeers(kind: TopicKind): string[];
}

/** Wires incoming gossip through the validator and returns publish and topic queries. */
export function createGossip(deps: GossipDeps): Gossip {
  const { pubsub, validator } = deps;
  const topics = new Map<TopicKind, string>(TOPIC_KINDS.map((k) => [k, topicName(deps.chainId, k)]));
  const topicOf = (kind: TopicKind): string => topics.get(kind)!;

  pubsub.addEventListener('gossipsub:message', (evt) => {
    const { propagationSource, msgId, msg } = evt.detail;
    const from = propagationSource.toString();
    const kind = parseTopic(deps.chainId, msg.topic);
    if (kind === null) {
      // allowedTopics already keeps other topics out; this guards the mapping itself.
      pubsub.reportMessageValidationResult(msgId, from, TopicValidatorResult.Reject);
      return;
    }
    void validator.validate(kind, msg.data, from).then((verdict) => {
      if (deps.isStopped()) return;
      pubsub.reportMessageValidationResult(msgId, from, VALIDATION_RESULT[verdict]);
      if (verdict === 'accept') validator.deliver(kind, msg.data, from, 'gossip');
    });
  });

  return {
    subscribe() {
      for (const topic of topics.values()) pubsub.subscribe(topic);
    },
    async publish(kind, bytes) {
      if (deps.isStopped()) throw new CareLedgerError('P2P_STOPPED', 'the p2p host is stopped');
      checkOutgoing(kind, bytes, deps.maxMessageBytes);
      try {
        const result = await pubsub.publish(topicOf(kind), bytes);
        return { status: 'published', recipients: result.recipients.length };
      } catch (err) {
        // gossipsub reports these two outcomes only as errors with fixed messages.
        const message = err instanceof Error ? err.message : String(err);
        if (message === 'PublishError.Duplicate') return { status: 'duplicate' };
        if (message === 'PublishError.NoPeersSubscribedToTopic') return { status: 'no-peers' };
        throw new CareLedgerError('P2P_PUBLISH_FAILED', `publish on ${kind} failed: ${message}`);
      }
    },
    topicPeers(kind) {
      checkTopicKind(kind);
      return pubsub.getSubscribers(topicOf(kind)).map((p) => p.toString());
    },
  };
}

/** Gossipsub configured for CareLedger: every option that decides behaviour is set here. */
export function gossipsubOptions(opts: P2POptions, penalties: Penalties): Partial<GossipsubOpts> {
  const topics = TOPIC_KINDS.map((k) => topicName(opts.chainId, k));
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
    // IDONTWANT (gossipsub 1.2) goes to every other mesh peer as soon as a message arrives, before
    // validation, to spare a duplicate of it. In the full mesh of a consortium the origin reaches
    // every member itself and receivers do not relay (node/tx-gossip.ts), so no duplicate comes
    // and each one is an extra RPC per message and peer. Kept for messages large enough that a
    // duplicate costs more than the notice (a partial mesh relays). Quiet 4-validator runs at
    // 2,000 tx/s, 3 alternating pairs against 512 bytes: node CPU per tx 0.923 against 0.928 ms,
    // p99 0.90-1.05 s against 1.18-1.37 s.
    idontwantMinDataSize: 64 * 1024,
    idontwantMaxMessages: 512,
    awaitRpcHandler: false,
    awaitRpcMessageHandler: false,
    tagMeshPeers: false,
    maxInboundStreams: 2,
    maxOutboundStreams: 2,
    runOnLimitedConnection: false,
    metricsRegister: null,
    scoreParams: scoreParams(topics, penalties),
    scoreThresholds: SCORE_THRESHOLDS,
  };
}
