/**
 * The RPC WebSocket at `/websocket` (same port as HTTP): JSON-RPC calls, one per message, and
 * event subscriptions. `EventBus` holds the subscriptions (a parsed query each) and pushes every
 * matching event to its connection in CometBFT's envelope:
 *
 *   {"jsonrpc":"2.0","id":"<the subscribe call's id>#event","result":{"query":"…",
 *    "data":{"type":"tendermint/event/NewBlock","value":{…}},"events":{"tm.event":["NewBlock"],…}}}
 *
 * The id is a string, the subscribe call's id followed by `#event` (id 1 -> "1#event"), exactly as
 * CometBFT's rpc/core/events.go writes it: its clients match event frames by that string.
 *
 * Bounded: connections, subscriptions per connection, message size, calls in flight per
 * connection, and the bytes waiting to be written: a client that falls that far behind is
 * disconnected rather than buffered for without end. The server pings every `pingIntervalMs` and
 * drops a connection that has not answered (pong or any message) by the next ping. Browser origins
 * are refused unless listed (CORS is off by default); non-browser clients send no Origin.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { type EventMap, matches, type Query } from './events-query.ts';
import type { Envelope } from './jsonrpc.ts';

export interface WsOptions {
  readonly maxConnections: number;
  readonly maxSubscriptionsPerConnection: number;
  readonly maxMessageBytes: number;
  /** A connection with more than this many bytes waiting to be written is closed (slow client). */
  readonly maxBufferedBytes: number;
  readonly pingIntervalMs: number;
  readonly maxInFlight: number;
  readonly allowedOrigins: readonly string[];
}

/** CometBFT's defaults where it has one (max_subscription_clients, max_subscriptions_per_client). */
export const defaultWsOptions: WsOptions = {
  maxConnections: 100,
  maxSubscriptionsPerConnection: 5,
  maxMessageBytes: 1_000_000,
  maxBufferedBytes: 8 * 1024 * 1024,
  pingIntervalMs: 15_000,
  maxInFlight: 16,
  allowedOrigins: [],
};

let nextSessionId = 1;

/** One WebSocket connection. */
export class WsSession {
  readonly id = nextSessionId++;
  readonly remote: string;
  readonly maxSubscriptions: number;
  /** Subscriptions of this connection by canonical query text. */
  readonly subscriptions = new Map<string, Subscription>();
  alive = true;
  inFlight = 0;
  private readonly ws: WebSocket;
  private readonly maxBufferedBytes: number;
  private readonly closeHooks: (() => void)[] = [];
  private closed = false;

  constructor(ws: WebSocket, remote: string, opts: WsOptions) {
    this.ws = ws;
    this.remote = remote;
    this.maxSubscriptions = opts.maxSubscriptionsPerConnection;
    this.maxBufferedBytes = opts.maxBufferedBytes;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  onClose(hook: () => void): void {
    if (this.closed) hook();
    else this.closeHooks.push(hook);
  }

  /** Queues a message; a client too far behind is disconnected instead. False if not sent. */
  sendText(text: string): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.ws.bufferedAmount + Buffer.byteLength(text) > this.maxBufferedBytes) {
      this.drop(1008, 'slow client');
      return false;
    }
    this.ws.send(text);
    return true;
  }

  send(envelope: Envelope): boolean {
    return this.sendText(JSON.stringify(envelope));
  }

  ping(): void {
    if (!this.alive) {
      this.ws.terminate();
      return;
    }
    this.alive = false;
    try {
      this.ws.ping();
    } catch {
      this.ws.terminate();
    }
  }

  /** Closes with a reason; terminates if the close handshake does not finish within a second. */
  drop(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), 1000).unref();
    this.closed = true;
    this.runHooks();
  }

  terminate(): void {
    this.ws.terminate();
    this.closed = true;
    this.runHooks();
  }

  /** Called when the socket is gone. */
  ended(): void {
    this.closed = true;
    this.runHooks();
  }

  private runHooks(): void {
    for (const hook of this.closeHooks.splice(0)) hook();
  }
}

export interface Subscription {
  readonly session: WsSession;
  /** The id of the subscribe call: every event of this subscription carries it, as `<id>#event`. */
  readonly id: string | number;
  /** The query as the client wrote it (CometBFT echoes it in each event). */
  readonly text: string;
  readonly query: Query;
  /** The `tm.event = '…'` the query requires, if any: other events skip it unexamined. */
  readonly eventType: string | null;
}

export class SubscriptionError extends Error {}

/** The id CometBFT gives a subscription's event frames: the subscribe call's id and `#event`. */
export function eventId(subscribeId: string | number): string {
  return `${subscribeId}#event`;
}

/** Subscriptions of all connections, and the fan-out of events to them. */
export class EventBus {
  private readonly subs = new Set<Subscription>();
  private readonly hooked = new WeakSet<WsSession>();

  get size(): number {
    return this.subs.size;
  }

  /** `key` is the query's canonical text: one subscription per query per connection. */
  subscribe(session: WsSession, id: string | number, text: string, key: string, query: Query): void {
    if (session.isClosed) throw new SubscriptionError('connection is closed');
    if (session.subscriptions.has(key)) throw new SubscriptionError('already subscribed');
    if (session.subscriptions.size >= session.maxSubscriptions)
      throw new SubscriptionError(`max_subscriptions_per_client ${session.maxSubscriptions} reached`);
    const typed = query.conditions.find(
      (c) => c.tag === 'tm.event' && c.op === '=' && c.arg?.kind === 'string',
    );
    const eventType = typed?.arg?.kind === 'string' ? typed.arg.value : null;
    const sub: Subscription = { session, id, text, query, eventType };
    session.subscriptions.set(key, sub);
    this.subs.add(sub);
    if (!this.hooked.has(session)) {
      this.hooked.add(session);
      session.onClose(() => this.unsubscribeAll(session));
    }
  }

  unsubscribe(session: WsSession, key: string): boolean {
    const sub = session.subscriptions.get(key);
    if (sub === undefined) return false;
    session.subscriptions.delete(key);
    this.subs.delete(sub);
    return true;
  }

  unsubscribeAll(session: WsSession): number {
    const n = session.subscriptions.size;
    for (const sub of session.subscriptions.values()) this.subs.delete(sub);
    session.subscriptions.clear();
    return n;
  }

  /**
   * Delivers one event to every subscription whose query matches `events`. `data` (the event's
   * `{type, value}`) is built and serialised at most once, and only if someone listens.
   */
  publish(events: EventMap, data: () => unknown): number {
    let dataJson: string | null = null;
    let eventsJson: string | null = null;
    let delivered = 0;
    const type = events.get('tm.event')?.[0] ?? null;
    for (const sub of [...this.subs]) {
      if (sub.eventType !== null && sub.eventType !== type) continue;
      if (!matches(sub.query, events)) continue;
      dataJson ??= JSON.stringify(data());
      eventsJson ??= JSON.stringify(Object.fromEntries(events));
      const text = `{"jsonrpc":"2.0","id":${JSON.stringify(eventId(sub.id))},"result":{"query":${JSON.stringify(sub.text)},"data":${dataJson},"events":${eventsJson}}}`;
      if (sub.session.sendText(text)) delivered++;
    }
    return delivered;
  }
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: null,
    error: { code: -32600, message: 'Invalid Request', data: reason },
  });
  socket.end(
    `HTTP/1.1 ${status} ${reason.replace(/[^\x20-\x7e]/g, '')}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function originAllowed(req: IncomingMessage, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  return origin === undefined || allowed.includes('*') || allowed.includes(origin);
}

/**
 * Serves WebSocket upgrades on `/websocket`. `handle` answers one message's text (null: nothing
 * to send, a notification).
 */
export function attachWebSocket(
  server: Server,
  opts: WsOptions,
  handle: (session: WsSession, text: string) => Promise<Envelope | null>,
): { closeAll(): void; readonly sessions: ReadonlySet<WsSession> } {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxMessageBytes,
    perMessageDeflate: false,
  });
  const sessions = new Set<WsSession>();
  const pinger = setInterval(() => {
    for (const s of sessions) s.ping();
  }, opts.pingIntervalMs);
  pinger.unref();

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    if (path !== '/websocket') return refuseUpgrade(socket, 404, 'Not Found');
    if (!originAllowed(req, opts.allowedOrigins)) return refuseUpgrade(socket, 403, 'Forbidden origin');
    if (sessions.size >= opts.maxConnections)
      return refuseUpgrade(socket, 503, `max_subscription_clients ${opts.maxConnections} reached`);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new WsSession(
        ws,
        `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`,
        opts,
      );
      sessions.add(session);
      ws.on('pong', () => {
        session.alive = true;
      });
      ws.on('message', (data) => {
        session.alive = true;
        if (session.inFlight >= opts.maxInFlight) {
          session.send({
            jsonrpc: '2.0',
            id: null,
            error: {
              code: -32000,
              message: 'Server error',
              data: `over ${opts.maxInFlight} calls in flight`,
            },
          });
          return;
        }
        const bytes = Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.isBuffer(data)
            ? data
            : Buffer.from(new Uint8Array(data));
        const text = bytes.toString('utf8');
        session.inFlight++;
        handle(session, text)
          .then((envelope) => {
            if (envelope !== null) session.send(envelope);
          })
          .catch(() => undefined)
          .finally(() => {
            session.inFlight--;
          });
      });
      ws.on('error', () => ws.terminate());
      ws.on('close', () => {
        sessions.delete(session);
        session.ended();
      });
    });
  });

  return {
    sessions,
    closeAll() {
      clearInterval(pinger);
      for (const s of sessions) s.terminate();
      sessions.clear();
      wss.close();
    },
  };
}
