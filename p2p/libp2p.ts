/**
 * The libp2p node itself: TCP, noise, yamux, identify and gossipsub, behind the member-only
 * gater, with every library option whose default would decide behaviour set here explicitly.
 * The node is created stopped; the host starts it once its protocols are wired. Nothing here
 * knows about topics, validation or requests: gossipsub's own options come from gossip.ts.
 */
import {
  type GossipSub,
  type GossipSubComponents,
  type GossipsubOpts,
  gossipsub,
} from '@chainsafe/libp2p-gossipsub';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { type Identify, identify } from '@libp2p/identify';
import type { ConnectionGater, Libp2p, PrivateKey } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { KiB, MiB, type P2POptions } from './options.ts';

// A type alias, not an interface: libp2p's ServiceMap needs the implicit index signature.
export type CareLedgerServices = { identify: Identify; pubsub: GossipSub };
export type CareLedgerLibp2p = Libp2p<CareLedgerServices>;

export interface Libp2pParts {
  readonly privateKey: PrivateKey;
  readonly gater: ConnectionGater;
  readonly gossip: Partial<GossipsubOpts>;
}

/** Creates the (stopped) libp2p node for these options. */
export function createLibp2pNode(
  opts: Pick<P2POptions, 'chainId' | 'listen' | 'maxConnections' | 'dialTimeoutMs'>,
  { privateKey, gater, gossip }: Libp2pParts,
): Promise<CareLedgerLibp2p> {
  return createLibp2p<CareLedgerServices>({
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
    connectionGater: gater,
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
      pubsub: gossipsub(gossip) as unknown as (components: GossipSubComponents) => GossipSub,
    },
  });
}
