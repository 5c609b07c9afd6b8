/**
 * Shared pieces of the p2p tests: deterministic node keys, hosts on 127.0.0.1 with OS-assigned
 * ports and fast timers, handlers that record what reached them, metrics that count, and bounded
 * waits (every wait polls a condition and fails with what it waited for when time runs out).
 */

import {
  createP2PHost,
  type P2PCounter,
  type P2PHandlers,
  type P2PHost,
  type P2PInit,
  type P2PMetrics,
  peerIdFromNodeKey,
  type RequestKind,
  type TopicKind,
  type Verdict,
  type Via,
} from '../../../p2p/host.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';

export const CHAIN = 'careledger-test';

export function seed(n: number): Uint8Array {
  return new Uint8Array(32).fill(n);
}

export function idOf(n: number): string {
  return peerIdFromNodeKey(seed(n));
}

/** A deterministic source in [0, 1) (a small LCG): redial jitter is reproducible. */
export function seededRandom(start: number): () => number {
  let state = start >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export interface Received {
  readonly kind: TopicKind;
  readonly hex: string;
  readonly from: string;
  readonly via: Via;
}

export interface Validated {
  readonly kind: TopicKind;
  readonly hex: string;
  readonly from: string;
  readonly verdict: Verdict;
}

export interface Recorder {
  readonly handlers: P2PHandlers;
  readonly validated: Validated[];
  readonly received: Received[];
  readonly requests: { kind: RequestKind; hex: string; from: string }[];
  readonly errors: unknown[];
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Handlers that record everything; `judge` decides validation (accept by default). */
export function recorder(
  judge: (kind: TopicKind, bytes: Uint8Array) => Verdict = () => 'accept',
  onRequest: (kind: RequestKind, bytes: Uint8Array, from: string) => Promise<Uint8Array> = async (
    _k,
    bytes,
  ) => bytes,
): Recorder {
  const validated: Validated[] = [];
  const received: Received[] = [];
  const requests: { kind: RequestKind; hex: string; from: string }[] = [];
  const errors: unknown[] = [];
  return {
    validated,
    received,
    requests,
    errors,
    handlers: {
      validate(kind, bytes, from) {
        const verdict = judge(kind, bytes);
        validated.push({ kind, hex: hex(bytes), from, verdict });
        return verdict;
      },
      onMessage(kind, bytes, from, via) {
        received.push({ kind, hex: hex(bytes), from, via });
      },
      onRequest(kind, bytes, from) {
        requests.push({ kind, hex: hex(bytes), from });
        return onRequest(kind, bytes, from);
      },
      onError(err) {
        errors.push(err);
      },
    },
  };
}

export interface CountingMetrics {
  readonly metrics: P2PMetrics;
  get(name: string, topic: TopicKind): number;
  peers(): number;
}

export function countingMetrics(): CountingMetrics {
  const counts = new Map<string, number>();
  let peers = -1;
  const counter = (name: string): P2PCounter => ({
    inc(labels, value = 1) {
      const key = `${name}:${labels.topic}`;
      counts.set(key, (counts.get(key) ?? 0) + value);
    },
  });
  return {
    metrics: {
      messagesReceived: counter('received'),
      bytesReceived: counter('bytes'),
      messagesRejected: counter('rejected'),
      messagesIgnored: counter('ignored'),
      messagesDropped: counter('dropped'),
      peersConnected: {
        set(value) {
          peers = value;
        },
      },
    },
    get: (name, topic) => counts.get(`${name}:${topic}`) ?? 0,
    peers: () => peers,
  };
}

/** Test hosts: loopback, port 0, fast heartbeat and redial, deterministic jitter. */
export function startHost(
  n: number,
  init: Partial<P2PInit> & Pick<P2PInit, 'members'>,
  handlers: P2PHandlers,
  metrics: P2PMetrics | null = null,
): Promise<P2PHost> {
  return createP2PHost(
    {
      chainId: CHAIN,
      nodeKeySeed: seed(n),
      listen: '/ip4/127.0.0.1/tcp/0',
      persistentPeers: [],
      heartbeatIntervalMs: 100,
      dialTimeoutMs: 2_000,
      redial: { initialMs: 50, maxMs: 400, factor: 2, jitter: 0.2 },
      random: seededRandom(n),
      ...init,
    },
    handlers,
    metrics,
  );
}

/** Polls `condition` every 10 ms; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The CareLedgerError code `work` rejects with; fails if it resolves or throws something else. */
export async function errorCode(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    if (err instanceof CareLedgerError) return err.code;
    throw new Error(`expected a CareLedgerError, got ${String(err)}`);
  }
  throw new Error('expected a CareLedgerError, but the call succeeded');
}

/** Stops every host even if some fail, then rethrows the first failure. */
export async function stopAll(hosts: readonly (P2PHost | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(hosts.map((h) => h?.stop()));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/** Handles that keep a process alive and that a host owns: TCP servers and sockets. */
export function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap' || r === 'TCPSocketWrap')
    .length;
}

/** The TCP handle count once it stops changing (handles of stopped hosts close a tick later). */
export async function settledTcpHandles(timeoutMs = 3_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = tcpHandles();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = tcpHandles();
    if (now === last || Date.now() > deadline) return now;
    last = now;
  }
}
