/**
 * node/rpc/server.ts's route hook: a route gets every request under its prefix (exactly the
 * prefix, or the prefix and a slash), with any method, before JSON-RPC dispatch; paths that only
 * start with the same letters, and every other path, still reach JSON-RPC.
 */
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type HttpRoute, startRpcServer } from '../../../../node/rpc/server.ts';

const seen: string[] = [];
const route: HttpRoute = {
  prefix: '/records',
  async handle(req, res, url) {
    seen.push(`${req.method} ${url.pathname}${url.search}`);
    res.writeHead(299, { 'content-type': 'text/plain' });
    res.end('routed');
  },
};
const methods = new Map([['status', { params: [], run: async () => ({ up: true }) }]]);
const server = await startRpcServer(methods, {
  listen: '127.0.0.1:0',
  maxBodyBytes: 1000,
  maxBatch: 2,
  routes: [route],
});
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

test.after(() => new Promise<void>((r) => server.close(() => r())));

test('requests under the prefix go to the route, with their method, path and query', async () => {
  for (const [method, path] of [
    ['GET', '/records'],
    ['PUT', '/records/blobs/ab?x=1'],
    ['POST', '/records/fetch'],
    ['DELETE', '/records/x/'],
  ] as const) {
    const res = await fetch(`${base}${path}`, { method, signal: AbortSignal.timeout(3000) });
    assert.is(res.status, 299, `${method} ${path}`);
    assert.is(await res.text(), 'routed');
  }
  assert.equal(seen, [
    'GET /records',
    'PUT /records/blobs/ab?x=1',
    'POST /records/fetch',
    'DELETE /records/x/',
  ]);
});

test('other paths, and paths that merely start with the prefix letters, reach JSON-RPC', async () => {
  const before = seen.length;
  const status = await fetch(`${base}/status`, { signal: AbortSignal.timeout(3000) });
  assert.equal(await status.json(), { jsonrpc: '2.0', id: -1, result: { up: true } });
  const near = await fetch(`${base}/recordsx`, { signal: AbortSignal.timeout(3000) });
  assert.is(near.status, 404);
  assert.is(seen.length, before);
});

test.run();
