/**
 * The RPC listener's connection bounds, so idle sockets cannot lock clients out (issue 13: 900 idle
 * TCP connections once held every slot of `max_open_connections` for ~16 s):
 *
 * 1. At most `maxOpen` connections at once, and at most `maxPerAddress` from one remote address.
 * 2. A new connection over either bound closes the oldest *idle* connection in its way (of that
 *    address, or of any address for the listener bound) rather than being refused: a connection
 *    that holds no request costs its owner nothing to reopen, while a refused client could never
 *    get in. Only when every connection in the way is busy is the new one closed at once.
 * 3. A connection with no request in flight for `idleTimeoutMs` is closed (before its first
 *    request too: Node's own headers timeout is checked only every 30 s).
 * A connection is busy from the moment its request's headers are read until the response is
 * finished; an upgraded one (WebSocket) is busy for good and bounded by ws.ts instead.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface ConnectionLimits {
  readonly maxOpen: number;
  readonly maxPerAddress: number;
  readonly idleTimeoutMs: number;
}

interface Connection {
  readonly socket: Socket;
  readonly address: string;
  /** Requests in flight; Infinity once upgraded to a WebSocket. */
  busy: number;
  timer: NodeJS.Timeout | null;
}

/** Applies `limits` to `server`'s connections; returns a count of connections per state, for tests. */
export function limitConnections(
  server: Server,
  limits: ConnectionLimits,
): { open(): number; closedIdle(): number; refused(): number } {
  // Insertion order is connection order: the first idle entry found is the oldest idle one.
  const all = new Map<Socket, Connection>();
  const byAddress = new Map<string, Set<Connection>>();
  let closedIdle = 0;
  let refused = 0;

  const idle = (c: Connection): void => {
    if (c.timer !== null) clearTimeout(c.timer);
    c.timer = setTimeout(() => {
      closedIdle++;
      c.socket.destroy();
    }, limits.idleTimeoutMs);
    c.timer.unref();
  };
  const busy = (c: Connection): void => {
    if (c.timer !== null) clearTimeout(c.timer);
    c.timer = null;
  };
  /** Closes the oldest idle connection among `candidates`; false if all are busy. */
  const evictIdle = (candidates: Iterable<Connection>): boolean => {
    for (const c of candidates) {
      if (c.busy > 0) continue;
      forget(c);
      closedIdle++;
      c.socket.destroy();
      return true;
    }
    return false;
  };
  const forget = (c: Connection): void => {
    busy(c);
    all.delete(c.socket);
    const peers = byAddress.get(c.address);
    peers?.delete(c);
    if (peers?.size === 0) byAddress.delete(c.address);
  };

  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const peers = byAddress.get(address);
    const room =
      (peers === undefined || peers.size < limits.maxPerAddress || evictIdle(peers)) &&
      (all.size < limits.maxOpen || evictIdle(all.values()));
    if (!room) {
      refused++;
      socket.destroy();
      return;
    }
    const c: Connection = { socket, address, busy: 0, timer: null };
    all.set(socket, c);
    const set = byAddress.get(address) ?? new Set<Connection>();
    set.add(c);
    byAddress.set(address, set);
    socket.once('close', () => forget(c));
    idle(c);
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const c = all.get(req.socket as Socket);
    if (c === undefined) return;
    c.busy++;
    busy(c);
    res.once('close', () => {
      c.busy--;
      if (c.busy === 0 && all.has(c.socket)) idle(c);
    });
  });

  server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
    const c = all.get(socket as Socket);
    if (c === undefined) return;
    c.busy = Number.POSITIVE_INFINITY;
    busy(c);
  });

  return { open: () => all.size, closedIdle: () => closedIdle, refused: () => refused };
}
