/**
 * Persistent peers: the members this node keeps a connection to. Each is dialled at start and,
 * whenever it is not connected, redialled after an exponential backoff (capped, with jitter so a
 * consortium that restarts together does not redial in lockstep). The random source is passed in,
 * so tests and the simulator can make it deterministic. A peer that is not (or no longer) a
 * member is not dialled; `refresh` re-examines everyone after a membership change.
 *
 * This module owns no sockets: it is given `dial` and `isConnected`, and the host reports
 * connects and disconnects to it.
 */
import { multiaddr } from '@multiformats/multiaddr';
import { CareLedgerError } from '../packages/core/errors.ts';
import { parsePeerId } from './identity.ts';

export interface BackoffOptions {
  /** Delay before the first redial after a disconnect or failed dial. */
  readonly initialMs: number;
  /** Upper bound on any delay, jitter included. */
  readonly maxMs: number;
  /** Each failed attempt multiplies the delay by this. */
  readonly factor: number;
  /** Fraction in [0, 1): the delay is scaled by a uniform factor in [1 - jitter, 1 + jitter]. */
  readonly jitter: number;
}

/** Delay before redial attempt `attempt` (0-based); `random` returns a number in [0, 1). */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number): number {
  const base = Math.min(opts.maxMs, opts.initialMs * opts.factor ** Math.min(attempt, 64));
  const scaled = base * (1 - opts.jitter + 2 * opts.jitter * random());
  return Math.max(0, Math.min(opts.maxMs, Math.round(scaled)));
}

export function checkBackoff(opts: BackoffOptions): void {
  const ok =
    Number.isFinite(opts.initialMs) &&
    opts.initialMs > 0 &&
    Number.isFinite(opts.maxMs) &&
    opts.maxMs >= opts.initialMs &&
    Number.isFinite(opts.factor) &&
    opts.factor >= 1 &&
    opts.jitter >= 0 &&
    opts.jitter < 1;
  if (!ok) {
    throw new CareLedgerError(
      'P2P_INVALID_OPTIONS',
      'redial backoff needs 0 < initialMs <= maxMs, factor >= 1 and 0 <= jitter < 1',
    );
  }
}

export interface PersistentPeer {
  readonly id: string;
  readonly addr: string;
}

/** Parses `/ip4/…/tcp/…/p2p/<id>` strings; each must name its peer. */
export function parsePersistentPeers(addrs: readonly string[]): PersistentPeer[] {
  const out: PersistentPeer[] = [];
  const seen = new Set<string>();
  for (const addr of addrs) {
    let id: string | null;
    try {
      id = multiaddr(addr).getPeerId();
    } catch {
      throw new CareLedgerError(
        'P2P_INVALID_OPTIONS',
        `persistent peer ${JSON.stringify(addr)} is not a multiaddr`,
      );
    }
    if (id === null) {
      throw new CareLedgerError('P2P_INVALID_OPTIONS', `persistent peer ${addr} has no /p2p/<peer id>`);
    }
    const canonical = parsePeerId(id).toString();
    if (seen.has(canonical)) {
      throw new CareLedgerError('P2P_INVALID_OPTIONS', `persistent peer ${canonical} is listed twice`);
    }
    seen.add(canonical);
    out.push({ id: canonical, addr });
  }
  return out;
}

export interface RedialerDeps {
  readonly peers: readonly PersistentPeer[];
  readonly backoff: BackoffOptions;
  readonly random: () => number;
  isMember(id: string): boolean;
  isConnected(id: string): boolean;
  /** Opens a connection; rejects if it could not. */
  dial(peer: PersistentPeer, signal: AbortSignal): Promise<void>;
  /** Time and timers (default: the real ones); tests pass a manual clock. */
  readonly clock?: RedialerClock;
}

export interface RedialerClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

const realClock: RedialerClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface Redialer {
  start(): void;
  /** Every persistent peer that is a member and not connected is dialled now. */
  refresh(): void;
  onConnect(id: string): void;
  onDisconnect(id: string): void;
  isPersistent(id: string): boolean;
  stop(): void;
}

interface PeerState {
  readonly peer: PersistentPeer;
  /** Consecutive failed dials and short-lived connections: the backoff exponent. */
  attempt: number;
  connectedAt: number | null;
  timer: unknown;
  dialing: boolean;
}

export function createRedialer(deps: RedialerDeps): Redialer {
  const states = new Map<string, PeerState>();
  for (const peer of deps.peers)
    states.set(peer.id, { peer, attempt: 0, connectedAt: null, timer: null, dialing: false });
  const abort = new AbortController();
  const clock = deps.clock ?? realClock;
  let running = false;

  const clearTimer = (s: PeerState): void => {
    if (s.timer !== null) clock.clearTimer(s.timer);
    s.timer = null;
  };

  /** Arms the next redial, one backoff step later than the last. */
  const schedule = (s: PeerState): void => {
    if (!running || s.timer !== null || s.dialing) return;
    const delayMs = backoffDelay(s.attempt, deps.backoff, deps.random);
    s.attempt++;
    s.timer = clock.setTimer(() => {
      s.timer = null;
      void dialNow(s);
    }, delayMs);
  };

  const dialNow = async (s: PeerState): Promise<void> => {
    if (!running || s.dialing || !deps.isMember(s.peer.id) || deps.isConnected(s.peer.id)) return;
    clearTimer(s);
    s.dialing = true;
    try {
      await deps.dial(s.peer, abort.signal);
    } catch {
      // The reason is the transport's; what matters here is to try again later.
    } finally {
      s.dialing = false;
    }
    if (running && deps.isMember(s.peer.id) && !deps.isConnected(s.peer.id)) schedule(s);
  };

  return {
    start() {
      running = true;
      for (const s of states.values()) void dialNow(s);
    },
    refresh() {
      for (const s of states.values()) {
        if (!deps.isMember(s.peer.id)) clearTimer(s);
        else if (!deps.isConnected(s.peer.id) && s.timer === null) void dialNow(s);
      }
    },
    onConnect(id) {
      const s = states.get(id);
      if (s === undefined) return;
      s.connectedAt = clock.now();
      clearTimer(s);
    },
    onDisconnect(id) {
      const s = states.get(id);
      if (s === undefined) return;
      // Only a connection that lasted resets the backoff: a peer that accepts and then drops us
      // at once is redialled ever more slowly, like one that refuses.
      if (s.connectedAt !== null && clock.now() - s.connectedAt >= deps.backoff.maxMs) s.attempt = 0;
      s.connectedAt = null;
      if (deps.isMember(id)) schedule(s);
    },
    isPersistent: (id) => states.has(id),
    stop() {
      running = false;
      abort.abort();
      for (const s of states.values()) clearTimer(s);
    },
  };
}

export interface PeerStatus {
  readonly id: string;
  readonly addrs: readonly string[];
  readonly connected: boolean;
  readonly persistent: boolean;
}

/**
 * Every persistent peer (connected or not, with its live addresses or its configured one), then
 * every other connected peer. `connections` are the open connections' remote peers and addresses.
 */
export function peerStatuses(
  persistent: readonly PersistentPeer[],
  connections: readonly { readonly peer: string; readonly addr: string }[],
): PeerStatus[] {
  const live = new Map<string, string[]>();
  for (const { peer, addr } of connections) live.set(peer, [...(live.get(peer) ?? []), addr]);
  const out: PeerStatus[] = [];
  for (const p of persistent) {
    const addrs = live.get(p.id);
    out.push({ id: p.id, addrs: addrs ?? [p.addr], connected: addrs !== undefined, persistent: true });
    live.delete(p.id);
  }
  for (const [id, addrs] of live) out.push({ id, addrs, connected: true, persistent: false });
  return out;
}
