/**
 * The CareLedger network host, composed from the p2p modules (read this file as their table of
 * contents):
 *  - options.ts    every limit and timeout, its default, and the checks on it;
 *  - identity.ts   node key -> libp2p key and peer id;
 *  - gater.ts      the member-only connection gater;
 *  - libp2p.ts     the libp2p node (TCP, noise, yamux, identify, gossipsub);
 *  - scoring.ts    peer scores and the penalties gossipsub does not see;
 *  - gossip.ts     topics, publish, and the bounded validation path of every incoming message;
 *  - reqresp.ts    generic request/response protocols (bounded, timed, member-only);
 *  - sync-protocol.ts  block sync and direct sends, one protocol on reqresp;
 *  - peers.ts      persistent peers and their redial backoff.
 *
 * The host talks to the rest of the node only through `P2PHandlers`, typed events and the
 * returned `P2PHost`; metrics are passed in and may be null. Further request/response protocols
 * are added with `registerProtocol` (see p2p/README.md).
 */
import { multiaddr } from '@multiformats/multiaddr';
import { listenFailed } from '../packages/core/errors.ts';
import { createMemberGater } from './gater.ts';
import {
  createGossip,
  createMessageValidator,
  type GossipHandlers,
  type GossipMetrics,
  gossipsubOptions,
  type PublishOutcome,
  type Verdict,
} from './gossip.ts';
import { parsePeerId, peerIdFromNodeKey, privateKeyFromNodeKey } from './identity.ts';
import { type CareLedgerLibp2p, createLibp2pNode } from './libp2p.ts';
import { type P2PInit, resolveP2POptions } from './options.ts';
import {
  type BackoffOptions,
  createRedialer,
  type PeerStatus,
  parsePersistentPeers,
  peerStatuses,
} from './peers.ts';
import { createReqResp, type ProtocolClient, type ProtocolSpec, type RequestOptions } from './reqresp.ts';
import { GRAYLIST_THRESHOLD, Penalties } from './scoring.ts';
import {
  type RequestKind,
  registerSyncProtocol,
  type SyncHandlers,
  type SyncProtocol,
} from './sync-protocol.ts';
import { protocolId, type TopicKind } from './topics.ts';

export type { P2PCounter, PublishOutcome, Verdict, Via } from './gossip.ts';
export type { P2PInit, P2POptions } from './options.ts';
export { defaultP2POptions, resolveP2POptions } from './options.ts';
export type { ClientRequestOptions, ProtocolClient, RequestOptions } from './reqresp.ts';
export { RequestRefused } from './reqresp.ts';
export { Penalties } from './scoring.ts';
export type { BackoffOptions, PeerStatus, RequestKind, TopicKind };
export { peerIdFromNodeKey };

export interface P2PHandlers extends GossipHandlers, SyncHandlers {
  /** Failures inside the host that have no caller to throw to (a handler that threw, …). */
  onError?(err: unknown, where: string): void;
}

export interface P2PGauge {
  set(value: number): void;
}
export interface P2PMetrics extends GossipMetrics {
  readonly peersConnected: P2PGauge | null;
}

export interface P2PEvents {
  'peer:connect': { readonly id: string };
  'peer:disconnect': { readonly id: string };
}

/**
 * A request/response protocol to add to the host: `/careledger/<chainId>/<name>/<version>`.
 * Sizes must be given; timeouts and the in-flight bound default to the sync protocol's
 * (`requestTimeoutMs`, `requestHandlerTimeoutMs`, `maxSyncStreamsPerConnection`).
 */
export interface HostProtocolSpec
  extends Pick<ProtocolSpec, 'maxRequestBytes' | 'maxResponseBytes' | 'handle'>,
    Partial<Pick<ProtocolSpec, 'timeoutMs' | 'handlerTimeoutMs' | 'maxInFlightPerPeer'>> {
  readonly name: string;
  readonly version: number;
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
  /** Serves one more request/response protocol and returns its client (p2p/README.md). */
  registerProtocol(spec: HostProtocolSpec): Promise<ProtocolClient>;
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
  readonly libp2p: CareLedgerLibp2p;
}

/** Creates, starts and returns a host: listening, subscribed, dialling its persistent peers. */
export async function createP2PHost(
  init: P2PInit,
  handlers: P2PHandlers,
  metrics: P2PMetrics | null = null,
): Promise<P2PHost> {
  const opts = resolveP2POptions(init);
  const selfId = peerIdFromNodeKey(opts.nodeKeySeed);
  const gate = createMemberGater(opts.members);
  const persistent = parsePersistentPeers(opts.persistentPeers).filter((p) => p.id !== selfId);
  const penalties = new Penalties();

  const libp2p = await createLibp2pNode(opts, {
    privateKey: privateKeyFromNodeKey(opts.nodeKeySeed),
    gater: gate.gater,
    gossip: gossipsubOptions(opts, penalties),
  });
  const pubsub = libp2p.services.pubsub;

  let stopped = false;
  const isStopped = (): boolean => stopped;
  const reportError = (err: unknown, where: string): void => {
    try {
      handlers.onError?.(err, where);
    } catch {
      // An error reporter that throws has nowhere left to report to.
    }
  };

  // Peers: events, and the redialer that keeps persistent peers connected.
  const listeners: { [E in keyof P2PEvents]: Set<(detail: P2PEvents[E]) => void> } = {
    'peer:connect': new Set(),
    'peer:disconnect': new Set(),
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
  const redialer = createRedialer({
    peers: persistent,
    backoff: opts.redial,
    random: opts.random,
    isMember: gate.isMember,
    isConnected: (id) => libp2p.getPeers().some((p) => p.toString() === id),
    async dial(peer, signal) {
      await libp2p.dial(multiaddr(peer.addr), { signal });
    },
  });
  for (const event of ['peer:connect', 'peer:disconnect'] as const) {
    libp2p.addEventListener(event, (evt) => {
      const id = evt.detail.toString();
      if (event === 'peer:connect') redialer.onConnect(id);
      else redialer.onDisconnect(id);
      metrics?.peersConnected?.set(libp2p.getPeers().length);
      emit(event, { id });
    });
  }

  // Gossip, and the validation path it shares with direct sends.
  const validator = createMessageValidator({
    maxMessageBytes: opts.maxMessageBytes,
    maxPendingValidations: opts.maxPendingValidations,
    handlers,
    metrics,
    reportError,
  });
  const gossip = createGossip({
    chainId: opts.chainId,
    maxMessageBytes: opts.maxMessageBytes,
    pubsub,
    validator,
    isStopped,
  });

  // Request/response: member-only, and closed to graylisted peers like gossip is.
  const reqresp = createReqResp({
    libp2p,
    isMember: gate.isMember,
    refuse: (from) => (pubsub.getScore(from) < GRAYLIST_THRESHOLD ? 'P2P_PEER_GRAYLISTED' : null),
    isStopped,
    reportError,
  });

  let sync: SyncProtocol;
  try {
    await libp2p.start();
  } catch (err) {
    await Promise.resolve(libp2p.stop()).catch(() => undefined);
    throw listenFailed('p2p.listen', opts.listen, err);
  }
  try {
    gossip.subscribe();
    sync = await registerSyncProtocol({ opts, reqresp, handlers, validator, penalties });
  } catch (err) {
    await libp2p.stop();
    throw err;
  }
  redialer.start();

  return {
    peerId: selfId,
    chainId: opts.chainId,
    libp2p,
    addresses: () => libp2p.getMultiaddrs().map((a) => a.toString()),
    publish: (kind, bytes) => gossip.publish(kind, bytes),
    sendDirect: (peerId, kind, bytes, ropts) => sync.sendDirect(peerId, kind, bytes, ropts),
    request: (peerId, kind, bytes, ropts) => sync.request(peerId, kind, bytes, ropts),

    registerProtocol: (spec) =>
      reqresp.register({
        protocol: protocolId(opts.chainId, spec.name, spec.version),
        maxRequestBytes: spec.maxRequestBytes,
        maxResponseBytes: spec.maxResponseBytes,
        timeoutMs: spec.timeoutMs ?? opts.requestTimeoutMs,
        handlerTimeoutMs: spec.handlerTimeoutMs ?? opts.requestHandlerTimeoutMs,
        maxInFlightPerPeer: spec.maxInFlightPerPeer ?? opts.maxSyncStreamsPerConnection,
        handle: spec.handle,
      }),

    async setMembers(ids) {
      const removed = gate.setMembers(ids);
      const connected = connectedIds();
      await Promise.all(
        removed.filter((id) => connected.has(id)).map((id) => libp2p.hangUp(parsePeerId(id)).catch(() => {})),
      );
      redialer.refresh();
    },
    members: () => gate.members(),
    peers: () =>
      peerStatuses(
        persistent,
        libp2p
          .getConnections()
          .map((c) => ({ peer: c.remotePeer.toString(), addr: c.remoteAddr.toString() })),
      ),
    topicPeers: (kind) => gossip.topicPeers(kind),
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
