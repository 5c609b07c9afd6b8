/**
 * The host's options: every limit, timeout and tuning knob in one typed object, their defaults
 * (`defaultP2POptions`), and `resolveP2POptions`, which merges what the caller gave over the
 * defaults and refuses any bad value with P2P_INVALID_OPTIONS before anything starts. The other
 * p2p modules take the resolved options (or the fields they need) and never read defaults
 * themselves.
 */
import { multiaddr } from '@multiformats/multiaddr';
import { CareLedgerError } from '../packages/core/errors.ts';
import { type BackoffOptions, checkBackoff } from './peers.ts';
import { checkChainId } from './topics.ts';

export const KiB = 1024;
export const MiB = 1024 * KiB;
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

/** The fields without a default: the node's identity, chain and peers. */
type RequiredFields = 'chainId' | 'nodeKeySeed' | 'listen' | 'members' | 'persistentPeers';
export type P2PInit = Pick<P2POptions, RequiredFields> & Partial<Omit<P2POptions, RequiredFields>>;

/**
 * Defaults for everything but the node's identity and peers. When `maxMessageBytes` is raised,
 * `maxRpcBytes` and `maxOutboundBufferBytes` that are not given grow with it.
 */
export const defaultP2POptions: Omit<P2POptions, RequiredFields> = {
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

/** Upper bound on every duration option and on a request's `timeoutMs`. */
export const MAX_TIMEOUT_MS = 10 * 60_000;

export function invalidOption(message: string): CareLedgerError {
  return new CareLedgerError('P2P_INVALID_OPTIONS', message);
}

export function checkPositiveInt(name: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
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
