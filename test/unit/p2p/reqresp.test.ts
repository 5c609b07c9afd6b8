/**
 * p2p/reqresp.ts without the host: every response status maps to its error code; a frame over
 * its bound is refused from its length prefix alone; and the generic layer, run over an
 * in-memory fake of libp2p's streams, keeps its promises for any registered protocol: round
 * trip, refusals and handler errors with their codes, sizes bounded on both sides, the handler
 * timeout, at most N requests in flight per peer, member-only, refused peers, stop.
 */
import type { Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  createReqResp,
  decodeResponse,
  encodeErrorResponse,
  encodeResponse,
  FrameTooLargeError,
  type ProtocolSpec,
  type ReqResp,
  RequestRefused,
  readFrame,
  Status,
  writeFrame,
} from '../../../p2p/reqresp.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { errorCode, idOf } from './helpers.ts';

const PEER = 'peer-x';

function caught(run: () => unknown): CareLedgerError {
  try {
    run();
  } catch (err) {
    if (err instanceof CareLedgerError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

test('each response status maps to its error code', () => {
  assert.equal([...decodeResponse(encodeResponse(Status.ok, Uint8Array.of(5, 6)), PEER)], [5, 6]);
  const cases: [Uint8Array, string][] = [
    [encodeResponse(Status.unknownKind), 'P2P_UNKNOWN_REQUEST'],
    [encodeResponse(Status.tooLarge), 'P2P_REQUEST_TOO_LARGE'],
    [encodeResponse(Status.malformed), 'P2P_BAD_REQUEST'],
    [encodeErrorResponse(Status.handlerFailed, 'SYNC_NO_BLOCK'), 'P2P_REMOTE_ERROR'],
    [encodeResponse(Status.handlerTimeout), 'P2P_REMOTE_TIMEOUT'],
    [Uint8Array.of(99), 'P2P_BAD_RESPONSE'],
    [new Uint8Array(0), 'P2P_BAD_RESPONSE'],
    [encodeResponse(Status.handlerFailed, new TextEncoder().encode('lower case')), 'P2P_BAD_RESPONSE'],
  ];
  for (const [frame, code] of cases) {
    const err = caught(() => decodeResponse(frame, PEER));
    assert.is(err.code, code, `status ${frame[0]}`);
    assert.ok(err.message.includes(PEER), 'the message names the peer');
    assert.is(err.action, code === 'P2P_BAD_RESPONSE' ? 'reject' : undefined);
  }
  assert.match(
    caught(() => decodeResponse(encodeErrorResponse(Status.handlerFailed, 'SYNC_NO_BLOCK'), PEER)).message,
    /SYNC_NO_BLOCK/,
  );
  // A code that is not a code is replaced before it is sent.
  assert.match(
    caught(() => decodeResponse(encodeErrorResponse(Status.handlerFailed, 'not a code!'), PEER)).message,
    /P2P_HANDLER_FAILED/,
  );
});

/** An unbounded in-memory byte queue, read as an async iterable; `end` finishes it. */
class Channel {
  private readonly items: Uint8Array[] = [];
  private ended = false;
  private waiter: (() => void) | null = null;

  push(chunk: Uint8Array): void {
    if (this.ended) return;
    this.items.push(chunk);
    this.wake();
  }
  end(): void {
    this.ended = true;
    this.wake();
  }
  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.items.shift();
      if (next !== undefined) yield next;
      else if (this.ended) return;
      else
        await new Promise<void>((resolve) => {
          this.waiter = resolve;
        });
    }
  }
}

type FakeStream = Pick<Stream, 'source' | 'sink' | 'close' | 'abort'>;

/** Two stream ends: what one writes the other reads. */
function streamPair(): [FakeStream, FakeStream] {
  const ab = new Channel();
  const ba = new Channel();
  const end = (inbound: Channel, outbound: Channel): FakeStream => ({
    source: inbound as unknown as Stream['source'],
    async sink(source) {
      for await (const chunk of source) outbound.push(chunk.subarray());
      outbound.end();
    },
    async close() {},
    abort() {
      inbound.end();
      outbound.end();
    },
  });
  return [end(ba, ab), end(ab, ba)];
}

type Handler = Parameters<Libp2p['handle']>[1];

/** Nodes that reach each other's registered protocols through in-memory streams. */
function fakeNetwork() {
  const handlers = new Map<string, Map<string, Handler>>();
  const node = (self: string): Pick<Libp2p, 'dialProtocol' | 'handle'> => {
    handlers.set(self, new Map());
    return {
      async handle(protocol, handler) {
        const mine = handlers.get(self)!;
        if (!Array.isArray(protocol)) mine.set(protocol as string, handler);
      },
      async dialProtocol(peer, protocol) {
        const handler = handlers.get(peer.toString())?.get(protocol as string);
        if (handler === undefined) throw new Error('protocol selection failed');
        const [client, server] = streamPair();
        const connection = { remotePeer: peerIdFromString(self) };
        void handler({ stream: server as Stream, connection } as unknown as Parameters<Handler>[0]);
        return client as Stream;
      },
    } as Pick<Libp2p, 'dialProtocol' | 'handle'>;
  };
  return { node };
}

const A = idOf(1);
const B = idOf(2);
const OUTSIDER = idOf(9);
const PROTOCOL = '/careledger/test-chain/echo/1';

interface Side {
  readonly reqresp: ReqResp;
  readonly errors: unknown[];
  refused: Set<string>;
  stopped: boolean;
}

function side(net: ReturnType<typeof fakeNetwork>, self: string): Side {
  const s: Side = {
    errors: [],
    refused: new Set(),
    stopped: false,
    reqresp: undefined as unknown as ReqResp,
  };
  return Object.assign(s, {
    reqresp: createReqResp({
      libp2p: net.node(self),
      isMember: (id) => id === A || id === B,
      refuse: (from) => (s.refused.has(from) ? 'P2P_PEER_GRAYLISTED' : null),
      isStopped: () => s.stopped,
      reportError: (err) => s.errors.push(err),
    }),
  });
}

function spec(handle: ProtocolSpec['handle'], change: Partial<ProtocolSpec> = {}): ProtocolSpec {
  return {
    protocol: PROTOCOL,
    maxRequestBytes: 16,
    maxResponseBytes: 32,
    timeoutMs: 2_000,
    handlerTimeoutMs: 100,
    maxInFlightPerPeer: 2,
    handle,
    ...change,
  };
}

test('a frame over its bound is refused from its length prefix, before its body is read', async () => {
  const [writer, reader] = streamPair();
  // Only the varint prefix announcing 1000 bytes: the reader must decide from it alone.
  await writer.sink([Uint8Array.of(0xe8, 0x07)]);
  try {
    await readFrame(reader, 999);
    assert.unreachable('a 1000-byte frame read with a bound of 999');
  } catch (err) {
    assert.ok(err instanceof FrameTooLargeError, String(err));
  }
  const [w2, r2] = streamPair();
  await writeFrame(w2, Uint8Array.of(1, 2, 3));
  assert.equal([...(await readFrame(r2, 3))], [1, 2, 3], 'a frame exactly at its bound is read');
  const [w3, r3] = streamPair();
  await w3.sink([Uint8Array.of(5, 1, 2)]); // announces 5 bytes, sends 2, then ends
  try {
    await readFrame(r3, 64);
    assert.unreachable('a truncated frame');
  } catch (err) {
    assert.not.ok(err instanceof FrameTooLargeError);
  }
});

test('a registered protocol: round trip, refusals, handler errors, sizes and the handler timeout', async () => {
  const net = fakeNetwork();
  const a = side(net, A);
  const b = side(net, B);
  let release: () => void = () => {};
  const hanging = new Promise<void>((resolve) => {
    release = resolve;
  });
  const served: string[] = [];
  const handle = async (request: Uint8Array, from: string): Promise<Uint8Array> => {
    served.push(from);
    switch (request[0]) {
      case 0:
        return Uint8Array.from(request).reverse();
      case 1:
        throw new RequestRefused('malformed', 'no');
      case 2:
        throw new RequestRefused('unknownKind', 'no');
      case 3:
        throw new CareLedgerError('RECORD_UNKNOWN', 'no such record');
      case 4:
        await hanging;
        return new Uint8Array(1);
      case 5:
        return new Uint8Array(33);
      case 6:
        return new Uint8Array(20);
      default:
        throw new Error('a bug in the handler');
    }
  };
  await b.reqresp.register(spec(handle));
  // A's client allows bigger requests than B serves, to reach B's bound.
  const client = await a.reqresp.register(spec(handle, { maxRequestBytes: 64 }));
  try {
    assert.equal([...(await client.request(B, Uint8Array.of(0, 1, 2)))], [2, 1, 0]);
    assert.equal(served, [A], 'the handler learns who asked');
    assert.is(await errorCode(client.request(B, Uint8Array.of(1))), 'P2P_BAD_REQUEST');
    assert.is(await errorCode(client.request(B, Uint8Array.of(2))), 'P2P_UNKNOWN_REQUEST');
    const remote = await client.request(B, Uint8Array.of(3)).catch((err: unknown) => err);
    assert.ok(remote instanceof CareLedgerError && remote.code === 'P2P_REMOTE_ERROR', String(remote));
    assert.match(remote.message, /RECORD_UNKNOWN/);
    assert.is(await errorCode(client.request(B, Uint8Array.of(9))), 'P2P_REMOTE_ERROR');
    assert.is(b.errors.length, 1, 'a non-CareLedger failure is reported where it happened');
    assert.is(await errorCode(client.request(B, Uint8Array.of(4))), 'P2P_REMOTE_TIMEOUT');

    // Sizes: a response over the server's bound, over the client's, a request over the server's.
    const tooBig = await client.request(B, Uint8Array.of(5)).catch((err: unknown) => err);
    assert.ok(tooBig instanceof CareLedgerError && tooBig.code === 'P2P_REMOTE_ERROR', String(tooBig));
    assert.match(tooBig.message, /P2P_RESPONSE_TOO_LARGE/);
    const bounded = await client
      .request(B, Uint8Array.of(6), { maxResponseBytes: 19 })
      .catch((err: unknown) => err);
    assert.ok(bounded instanceof CareLedgerError && bounded.code === 'P2P_RESPONSE_TOO_LARGE');
    assert.is(bounded.action, 'reject', 'an oversized answer is the peer’s fault');
    const count = served.length;
    assert.is(await errorCode(client.request(B, new Uint8Array(17))), 'P2P_REQUEST_TOO_LARGE');
    assert.is(served.length, count, 'the oversized request never reached the handler');
    assert.is(await errorCode(client.request(B, new Uint8Array(65))), 'P2P_REQUEST_TOO_LARGE');
    assert.is(served.length, count, 'nor did one over our own bound (never sent)');
  } finally {
    release();
  }
});

test('member-only, refused peers, bad options, stop', async () => {
  const net = fakeNetwork();
  const a = side(net, A);
  const b = side(net, B);
  const served: string[] = [];
  const handle = async (request: Uint8Array, from: string) => {
    served.push(from);
    return request;
  };
  await b.reqresp.register(spec(handle));
  const client = await a.reqresp.register(spec(handle));
  assert.is(await errorCode(client.request(OUTSIDER, Uint8Array.of(1))), 'P2P_NOT_MEMBER');
  assert.is(await errorCode(client.request('not-a-peer-id', Uint8Array.of(1))), 'P2P_BAD_PEER_ID');
  assert.is(await errorCode(client.request(B, Uint8Array.of(1), { timeoutMs: 0 })), 'P2P_INVALID_OPTIONS');
  b.refused.add(A);
  const refused = await client.request(B, Uint8Array.of(1)).catch((err: unknown) => err);
  assert.ok(refused instanceof CareLedgerError && refused.code === 'P2P_REMOTE_ERROR', String(refused));
  assert.match(refused.message, /P2P_PEER_GRAYLISTED/);
  assert.equal(served, [], 'a refused peer never reaches the handler');
  b.refused.clear();
  assert.equal([...(await client.request(B, Uint8Array.of(1)))], [1]);

  assert.is(await errorCode(a.reqresp.register(spec(handle))), 'P2P_INVALID_OPTIONS', 'registered twice');
  for (const bad of [
    { protocol: 'echo' },
    { maxRequestBytes: 0 },
    { maxInFlightPerPeer: 1.5 },
    { handlerTimeoutMs: 24 * 3600 * 1000 },
  ]) {
    assert.is(
      await errorCode(a.reqresp.register(spec(handle, { ...bad, protocol: bad.protocol ?? '/other/1' }))),
      'P2P_INVALID_OPTIONS',
      JSON.stringify(bad),
    );
  }
  a.stopped = true;
  assert.is(await errorCode(client.request(B, Uint8Array.of(1))), 'P2P_STOPPED');
});

test('at most maxInFlightPerPeer requests to one peer are in flight; the next is refused', async () => {
  const net = fakeNetwork();
  const a = side(net, A);
  const b = side(net, B);
  // The server holds every request until the test answers it, and says when one has arrived.
  const waiting: (() => void)[] = [];
  let arrived: () => void = () => {};
  const handle = (request: Uint8Array) =>
    new Promise<Uint8Array>((resolve) => {
      waiting.push(() => resolve(request));
      arrived();
    });
  const served = (n: number) =>
    new Promise<void>((resolve) => {
      arrived = () => {
        if (waiting.length >= n) resolve();
      };
      arrived();
    });
  const answerAll = (): void => {
    for (const answer of waiting.splice(0)) answer();
  };
  await b.reqresp.register(spec(handle, { handlerTimeoutMs: 5_000 }));
  const client = await a.reqresp.register(spec(handle));
  const first = client.request(B, Uint8Array.of(1));
  const second = client.request(B, Uint8Array.of(2));
  // Should an assertion below fail, these must not end the run as unhandled rejections.
  for (const pending of [first, second]) pending.catch(() => {});
  assert.is(await errorCode(client.request(B, Uint8Array.of(3))), 'P2P_TOO_MANY_REQUESTS');
  await served(2);
  answerAll();
  assert.equal([...(await first), ...(await second)], [1, 2]);
  const third = client.request(B, Uint8Array.of(3));
  await served(1);
  answerAll();
  assert.equal([...(await third)], [3], 'a slot frees once an answer is in');
});

test.run();
