/**
 * p2p/record-exchange.ts over two real in-process hosts (loopback): a release streams its header
 * and exactly `size` bytes in frames of at most 64 KiB; a refusal carries its code and no body;
 * the serving side answers a fifth concurrent request of one peer BUSY; a body shorter or longer
 * than announced, a stalled custodian and an oversized announced size are errors on the
 * requester; a dial to a peer that is down is RECORD_PEER_UNREACHABLE. Headers round-trip and
 * malformed ones are refused. Payload bytes are fixed (seeded fill).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { P2PHost } from '../../../p2p/host.ts';
import {
  decodeRecordHeader,
  encodeRecordHeader,
  MAX_RECORD_FRAME_BYTES,
  type RecordAnswer,
  type RecordServer,
  requestRecord,
  serveRecordExchange,
} from '../../../p2p/record-exchange.ts';
import { encode } from '../../../packages/codec/canonical.ts';
import { errorCode, hex, idOf, recorder, startHost, stopAll, waitFor } from './helpers.ts';

const A = 1;
const B = 2;
const MEMBERS = [idOf(A), idOf(B)];
const RELEASE = new Uint8Array(32).fill(5);
const KEY = new Uint8Array(80).fill(6);

function payload(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

function release(body: Uint8Array, size = body.length, chunks: Uint8Array[] = [body]): RecordAnswer {
  return {
    ok: true,
    releaseId: RELEASE,
    accessHeight: 42n,
    wrappedKey: KEY,
    size,
    body: (async function* () {
      yield* chunks;
    })(),
    discard: () => undefined,
  };
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<{ bytes: Uint8Array; frames: number[] }> {
  const parts: Uint8Array[] = [];
  for await (const chunk of body) parts.push(chunk);
  return { bytes: new Uint8Array(Buffer.concat(parts)), frames: parts.map((p) => p.length) };
}

/** Two connected hosts; `b` serves the protocol with `serve`. */
async function pair(serve: RecordServer, options = {}) {
  const a = await startHost(A, { members: MEMBERS }, recorder().handlers);
  const addr = a.addresses()[0]!;
  const b = await startHost(B, { members: MEMBERS, persistentPeers: [addr] }, recorder().handlers);
  await waitFor('a and b connected', () => a.libp2p.getPeers().some((p) => p.toString() === b.peerId));
  const stop = await serveRecordExchange(b.libp2p, serve, options);
  return { a, b, stop };
}

async function withPair(
  serve: RecordServer,
  run: (a: P2PHost, b: P2PHost) => Promise<void>,
  options = {},
): Promise<void> {
  const { a, b, stop } = await pair(serve, options);
  try {
    await run(a, b);
  } finally {
    await stop();
    await stopAll([a, b]);
  }
}

test('headers round-trip; malformed or oversized ones are RECORD_STREAM_INVALID', () => {
  const ok = { ok: true as const, releaseId: RELEASE, accessHeight: 7n, wrappedKey: KEY, size: 100 };
  const back = decodeRecordHeader(encodeRecordHeader(ok), 1000);
  assert.equal(
    { ...back, ...(back.ok ? { releaseId: hex(back.releaseId), wrappedKey: hex(back.wrappedKey) } : {}) },
    {
      ...ok,
      releaseId: hex(RELEASE),
      wrappedKey: hex(KEY),
    },
  );
  assert.equal(
    decodeRecordHeader(encodeRecordHeader({ ok: false, code: 'ACCESS_NO_CONSENT', message: 'no' }), 10),
    {
      ok: false,
      code: 'ACCESS_NO_CONSENT',
      message: 'no',
    },
  );
  for (const bad of [
    encode(['ok', RELEASE, 7n, KEY, 1001n]), // over maxRecordBytes
    encode(['ok', new Uint8Array(31), 7n, KEY, 1n]),
    encode(['refused', 'lower case', 'x']),
    encode(['maybe']),
    new Uint8Array([0xc1]),
  ])
    assert.throws(
      () => decodeRecordHeader(bad, 1000),
      (err: { code?: string }) => err.code === 'RECORD_STREAM_INVALID',
    );
});

test('a release streams the header and exactly its bytes, in frames of at most 64 KiB', async () => {
  const body = payload(3 * MAX_RECORD_FRAME_BYTES + 17);
  const seen: { request: string; peer: string }[] = [];
  await withPair(
    async (request, peer) => {
      seen.push({ request: hex(request), peer });
      return release(body);
    },
    async (a, b) => {
      const res = await requestRecord(a.libp2p, b.peerId, Uint8Array.of(1, 2, 3));
      assert.ok(res.ok);
      if (!res.ok) return;
      assert.is(res.accessHeight, 42n);
      assert.is(hex(res.releaseId), hex(RELEASE));
      assert.is(hex(res.wrappedKey), hex(KEY));
      assert.is(res.size, body.length);
      const got = await collect(res.body);
      assert.is(hex(got.bytes), hex(body));
      assert.ok(Math.max(...got.frames) <= MAX_RECORD_FRAME_BYTES, `frames ${got.frames}`);
      assert.equal(seen, [{ request: '010203', peer: a.peerId }]);
    },
  );
});

test('a refusal carries its code and message and no body', async () => {
  await withPair(
    async () => ({ ok: false, code: 'ACCESS_NO_CONSENT', message: 'no consent covers this' }),
    async (a, b) => {
      const res = await requestRecord(a.libp2p, b.peerId, Uint8Array.of(1));
      assert.equal(res, { ok: false, code: 'ACCESS_NO_CONSENT', message: 'no consent covers this' });
    },
  );
});

test('a server that throws answers RECORD_RELEASE_FAILED (or its own code), never hangs', async () => {
  await withPair(
    async () => {
      throw new Error('disk on fire');
    },
    async (a, b) => {
      const res = await requestRecord(a.libp2p, b.peerId, Uint8Array.of(1));
      assert.is(res.ok ? 'ok' : res.code, 'RECORD_RELEASE_FAILED');
    },
  );
});

test('the fifth concurrent request of one peer is refused BUSY; the four finish', async () => {
  let started = 0;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  await withPair(
    async () => {
      started++;
      await gate;
      return release(payload(10));
    },
    async (a, b) => {
      const first = [1, 2, 3, 4].map((n) => requestRecord(a.libp2p, b.peerId, Uint8Array.of(n)));
      await waitFor('four requests in the server', () => started === 4);
      const fifth = await requestRecord(a.libp2p, b.peerId, Uint8Array.of(5));
      assert.is(fifth.ok ? 'ok' : fifth.code, 'BUSY');
      open();
      for (const res of await Promise.all(first)) {
        assert.ok(res.ok);
        if (res.ok) assert.is((await collect(res.body)).bytes.length, 10);
      }
      // Slots are freed: a new request is served.
      const again = await requestRecord(a.libp2p, b.peerId, Uint8Array.of(6));
      assert.ok(again.ok);
      if (again.ok) await collect(again.body);
      assert.is(started, 5);
    },
  );
});

test('fewer bytes than announced is RECORD_STREAM_INVALID on the requester', async () => {
  await withPair(
    async () => release(payload(100), 101),
    async (a, b) => {
      const res = await requestRecord(a.libp2p, b.peerId, Uint8Array.of(1));
      assert.ok(res.ok);
      if (res.ok) assert.is(await errorCode(collect(res.body)), 'RECORD_STREAM_INVALID');
    },
  );
});

test('more bytes than announced is RECORD_STREAM_INVALID on the requester', async () => {
  await withPair(
    async () => release(payload(100), 50),
    async (a, b) => {
      const res = await requestRecord(a.libp2p, b.peerId, Uint8Array.of(1));
      assert.ok(res.ok);
      if (res.ok) assert.is(await errorCode(collect(res.body)), 'RECORD_STREAM_INVALID');
    },
  );
});

test('an announced size over the bound is refused before any body is read', async () => {
  await withPair(
    async () => release(payload(10), 2000),
    async (a, b) => {
      assert.is(
        await errorCode(requestRecord(a.libp2p, b.peerId, Uint8Array.of(1), { maxRecordBytes: 1000 })),
        'RECORD_STREAM_INVALID',
      );
    },
  );
});

test('a custodian that stalls mid-body is cut off: RECORD_STREAM_TIMEOUT', async () => {
  const never = new Promise<Uint8Array>(() => undefined);
  await withPair(
    async () => ({
      ...release(new Uint8Array(0), 20),
      body: (async function* () {
        yield payload(10);
        yield await never;
      })(),
    }),
    async (a, b) => {
      const res = await requestRecord(a.libp2p, b.peerId, Uint8Array.of(1), { frameTimeoutMs: 300 });
      assert.ok(res.ok);
      if (res.ok) assert.is(await errorCode(collect(res.body)), 'RECORD_STREAM_TIMEOUT');
    },
    { frameTimeoutMs: 60_000 },
  );
});

test('a custodian that sends no header in time: RECORD_STREAM_TIMEOUT', async () => {
  await withPair(
    () => new Promise<RecordAnswer>(() => undefined),
    async (a, b) => {
      assert.is(
        await errorCode(requestRecord(a.libp2p, b.peerId, Uint8Array.of(1), { headerTimeoutMs: 300 })),
        'RECORD_STREAM_TIMEOUT',
      );
    },
  );
});

test('a peer that does not serve the protocol, or is down, is RECORD_PEER_UNREACHABLE', async () => {
  const { a, b, stop } = await pair(async () => release(payload(1)));
  try {
    await stop();
    assert.is(
      await errorCode(requestRecord(a.libp2p, b.peerId, Uint8Array.of(1))),
      'RECORD_PEER_UNREACHABLE',
    );
    await b.stop();
    assert.is(
      await errorCode(requestRecord(a.libp2p, b.peerId, Uint8Array.of(1), { requestTimeoutMs: 1000 })),
      'RECORD_PEER_UNREACHABLE',
    );
  } finally {
    await stopAll([a, b]);
  }
});

test.run();
