/**
 * node/rpc/server.ts's per-request bound on how long a body may take to arrive: JSON-RPC and
 * routes without their own bound keep the server's (`requestTimeoutMs`, 10 s in a node), a route
 * with `requestTimeoutMs` (the records API, `records.upload_timeout_ms`) gets its own, and a
 * request over its bound gets 408 and a closed connection. Bodies are trickled over a raw socket:
 * half, a pause well past the server's bound, the rest.
 */

import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type HttpRoute, startRpcServer } from '../../../../node/rpc/server.ts';

const SERVER_BOUND_MS = 300;
const PAUSE_MS = 900;

function counting(prefix: string, requestTimeoutMs?: number): HttpRoute {
  return {
    prefix,
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    async handle(req, res) {
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) size += chunk.length;
      const text = String(size);
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': text.length,
        connection: 'close',
      });
      res.end(text);
    },
  };
}

const methods = new Map([['status', { params: [], run: async () => ({ up: true }) }]]);
const server = await startRpcServer(methods, {
  listen: '127.0.0.1:0',
  maxBodyBytes: 100_000,
  maxBatch: 2,
  requestTimeoutMs: SERVER_BOUND_MS,
  routes: [counting('/upload', 10_000), counting('/short', SERVER_BOUND_MS / 2), counting('/plain')],
});
const port = (server.address() as AddressInfo).port;

test.after(() => new Promise<void>((r) => server.close(() => r())));

/** Sends a POST whose body arrives in two halves PAUSE_MS apart; resolves with what came back before the close. */
function trickle(path: string, bytes = 20_000): Promise<{ status: number; body: string; elapsedMs: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    const half = Buffer.alloc(bytes / 2, 0x61);
    socket.on('data', (d) => got.push(d));
    socket.on('error', () => undefined); // the server may close while the second half is written
    socket.on('close', () => {
      const text = Buffer.concat(got).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.split('\r\n\r\n')[1] ?? '', elapsedMs: Date.now() - started });
    });
    socket.once('connect', () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${bytes}\r\nconnection: close\r\n\r\n`,
      );
      socket.write(half);
      setTimeout(() => {
        if (!socket.destroyed) socket.end(half);
      }, PAUSE_MS);
    });
    setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref();
  });
}

test("a route's own bound lets a slow upload through", async () => {
  const r = await trickle('/upload/blob');
  assert.is(r.status, 200, r.body);
  assert.is(r.body, '20000');
});

test('JSON-RPC keeps the server bound: a slow body gets 408 before it is complete', async () => {
  const r = await trickle('/');
  assert.is(r.status, 408);
  assert.match(r.body, /did not arrive within 300 ms/);
  assert.ok(r.elapsedMs < PAUSE_MS, `answered after ${r.elapsedMs} ms`);
});

test('a route without its own bound has the server bound; one with a shorter bound has that', async () => {
  assert.is((await trickle('/plain/x')).status, 408);
  const short = await trickle('/short');
  assert.is(short.status, 408);
  assert.match(short.body, /within 150 ms/);
});

test('a request whose body arrives in time is untouched by the bound', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(3000) });
  assert.equal(await res.json(), { jsonrpc: '2.0', id: -1, result: { up: true } });
  // The timer of a completed request does not fire later on the kept-alive connection.
  await new Promise((r) => setTimeout(r, SERVER_BOUND_MS + 100));
  const again = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(3000) });
  assert.is(again.status, 200);
});

test.run();
