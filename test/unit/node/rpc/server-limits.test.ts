/**
 * node/rpc/server.ts and connections.ts against abuse found by the bad-input campaign (issue 13):
 * a JSON-RPC body nested 10,000 levels deep is a bad request (-32600), not an internal error, over
 * HTTP and the WebSocket; and hundreds of idle TCP connections on loopback cannot lock clients out:
 * connections are bounded per listener and per remote address, the oldest idle one makes room for a
 * newcomer, idle ones are closed early, and /health and /status answer while the attack is open.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { RpcCode } from '../../../../node/rpc/jsonrpc.ts';
import {
  intParam,
  MAX_JSON_DEPTH,
  nestedDeeperThan,
  type RpcMethod,
  type RpcOptions,
  startRpcServer,
} from '../../../../node/rpc/server.ts';
import { seededRandom } from '../../../../packages/core/seeded-random.ts';

// A method that reads a parameter, as `block` reads `height`: it is what a deep value used to
// break (the error message previews the value, and writing it out overflowed the stack).
const methods = new Map<string, RpcMethod>([
  ['health', { params: [], run: async () => ({}) }],
  ['status', { params: [], run: async () => ({ node_info: { id: 'x' } }) }],
  ['block', { params: ['height'], run: async (p) => ({ height: String(intParam(p, 'height')) }) }],
]);

const servers: Server[] = [];
async function serve(options: Partial<RpcOptions> = {}): Promise<string> {
  const server = await startRpcServer(methods, {
    listen: '127.0.0.1:0',
    maxBodyBytes: 1_000_000,
    maxBatch: 10,
    ...options,
  });
  servers.push(server);
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test.after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

const nested = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
const blockCall = (depth: number): string =>
  `{"jsonrpc":"2.0","id":1,"method":"block","params":{"height":${nested(depth)}}}`;

async function post(
  host: string,
  body: string,
): Promise<{ status: number; error: { code: number; data?: string } }> {
  const res = await fetch(`http://${host}/`, { method: 'POST', body, signal: AbortSignal.timeout(5000) });
  return {
    status: res.status,
    error: ((await res.json()) as { error: { code: number; data?: string } }).error,
  };
}

test('nestedDeeperThan counts arrays and objects, not brackets inside strings', () => {
  assert.is(nestedDeeperThan(nested(3), 3), false);
  assert.is(nestedDeeperThan(nested(4), 3), true);
  assert.is(nestedDeeperThan('{"a":{"b":[{}]}}', 4), false);
  assert.is(nestedDeeperThan('{"a":{"b":[{}]}}', 3), true);
  assert.is(nestedDeeperThan(`{"a":"${'['.repeat(100)}\\"{{{"}`, 1), false, 'brackets in strings');
});

/** nestedDeeperThan before its bracket count: the character walk alone. */
function walkDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

test('nestedDeeperThan: the same answers as the plain walk on seeded random texts', () => {
  const seed = 0x0de9_7401;
  const rand = seededRandom(seed);
  const chars = ['[', ']', '{', '}', '"', '\\', 'a', ':', ',', ' '];
  for (let i = 0; i < 5000; i++) {
    const length = Math.floor(rand() * 200);
    let text = '';
    for (let j = 0; j < length; j++) text += chars[Math.floor(rand() * chars.length)]!;
    for (const max of [0, 1, 2, 3, 5, 10, 64]) {
      assert.is(
        nestedDeeperThan(text, max),
        walkDeeperThan(text, max),
        `seed ${seed}, text ${i}, max ${max}`,
      );
    }
  }
});

test('a body nested 10,000 levels deep is a bad request (-32600), as at 1,000; within the bound, the params are read', async () => {
  const host = await serve();
  for (const depth of [MAX_JSON_DEPTH, 1000, 10_000]) {
    const r = await post(host, blockCall(depth));
    assert.is(r.status, 400, `depth ${depth}`);
    assert.is(r.error.code, RpcCode.invalidRequest, `depth ${depth}`);
    assert.match(r.error.data ?? '', /deeper than 64 levels/);
  }
  // 62 levels of params inside the envelope's 2: read, and refused as a parameter.
  const within = await post(host, blockCall(MAX_JSON_DEPTH - 2));
  assert.equal([within.status, within.error.code], [200, RpcCode.invalidParams]);
  assert.match(within.error.data ?? '', /height must be an integer, got \[\[\[/);

  const ws = new WebSocket(`ws://${host}/websocket`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const reply = new Promise<{ error: { code: number } }>((resolve) =>
    ws.once('message', (d) => resolve(JSON.parse(d.toString()))),
  );
  ws.send(blockCall(10_000));
  assert.is((await reply).error.code, RpcCode.invalidRequest);
  ws.terminate();
});

/** Opens `n` idle TCP connections from `localAddress`, one after another (so their order is known). */
async function idleSockets(host: string, n: number, localAddress: string): Promise<Socket[]> {
  const [hostname, port] = host.split(':') as [string, string];
  const out: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const socket = connect({ host: hostname, port: Number(port), localAddress });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    out.push(socket);
  }
  return out;
}

/** Resolves once every socket the server is to close is closed (bounded: fails after `ms`). */
async function closedCount(sockets: Socket[], atLeast: number, ms = 5000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const closed = sockets.filter((s) => s.closed).length;
    if (closed >= atLeast || Date.now() > deadline) return closed;
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('300 idle connections on loopback: bounded per address, the oldest idle make room, /health and /status answer', async () => {
  // Idle timeout long enough not to act here: only the bounds are under test.
  const host = await serve({ maxOpenConnections: 150, maxConnectionsPerAddress: 100, idleTimeoutMs: 60_000 });
  const attack = await idleSockets(host, 300, '127.0.0.2');
  try {
    // Per address: each connection past 100 closed the oldest idle one, so the newest 100 remain.
    assert.is(await closedCount(attack, 200), 200);
    assert.ok(
      attack.slice(0, 200).every((s) => s.closed),
      'the oldest were closed',
    );
    assert.ok(
      attack.slice(200).every((s) => !s.closed),
      'the newest 100 remain',
    );
    // Another address gets in while the attack holds its 100 idle connections, over and over.
    for (let i = 0; i < 5; i++) {
      const health = await fetch(`http://${host}/health`, { signal: AbortSignal.timeout(2000) });
      assert.is(health.status, 200);
      const status = await fetch(`http://${host}/status`, { signal: AbortSignal.timeout(2000) });
      assert.is(status.status, 200);
      await status.json();
    }
    // The listener's bound: a second attacking address fills the last 50 slots, then makes room by
    // closing the oldest idle connections of any address (the first attacker's).
    const second = await idleSockets(host, 60, '127.0.0.3');
    try {
      assert.ok((await closedCount(attack, 200 + 11)) >= 211, 'the listener bound took the oldest idle');
      assert.is(second.filter((s) => s.closed).length, 0);
      const health = await fetch(`http://${host}/health`, { signal: AbortSignal.timeout(2000) });
      assert.is(health.status, 200);
    } finally {
      for (const s of second) s.destroy();
    }
  } finally {
    for (const s of attack) s.destroy();
  }
});

test('an idle connection is closed after idleTimeoutMs, one that never sent a request too', async () => {
  const host = await serve({ idleTimeoutMs: 200 });
  const started = Date.now();
  const [silent] = await idleSockets(host, 1, '127.0.0.1');
  assert.is(await closedCount([silent!], 1, 3000), 1, 'closed by the server');
  assert.ok(Date.now() - started >= 150, 'not before the timeout');
});

test.run();
