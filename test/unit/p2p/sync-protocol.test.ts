/**
 * p2p/sync-protocol.ts without libp2p: requests and verdicts round-trip through the wire format,
 * malformed requests are refused with the status to answer, and the served handler sends blocks
 * requests to `onRequest` within their own bound and direct messages through the validator
 * (accepted ones delivered, rejected ones counted against the sender). The generic layer is a
 * fake that only captures what the protocol registers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMessageValidator, type Verdict } from '../../../p2p/gossip.ts';
import { defaultP2POptions } from '../../../p2p/options.ts';
import type { ProtocolSpec, ReqResp } from '../../../p2p/reqresp.ts';
import { RequestRefused, Status } from '../../../p2p/reqresp.ts';
import { Penalties } from '../../../p2p/scoring.ts';
import {
  decodeRequest,
  decodeVerdict,
  encodeRequest,
  encodeVerdict,
  HEADER_BYTES,
  registerSyncProtocol,
} from '../../../p2p/sync-protocol.ts';
import { syncProtocol } from '../../../p2p/topics.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { CHAIN, idOf } from './helpers.ts';

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

test('requests round-trip through the wire format', () => {
  const body = Uint8Array.of(9, 8, 7);
  assert.equal([...encodeRequest({ type: 'blocks', body })], [1, 9, 8, 7]);
  assert.equal([...encodeRequest({ type: 'direct', topic: 'tx', body })], [2, 1, 9, 8, 7]);
  assert.equal([...encodeRequest({ type: 'direct', topic: 'consensus', body })], [2, 2, 9, 8, 7]);
  assert.equal([...encodeRequest({ type: 'direct', topic: 'evidence', body })], [2, 3, 9, 8, 7]);
  assert.equal(decodeRequest(encodeRequest({ type: 'blocks', body })), { type: 'blocks', body });
  for (const topic of ['tx', 'consensus', 'evidence'] as const)
    assert.equal(decodeRequest(encodeRequest({ type: 'direct', topic, body })), {
      type: 'direct',
      topic,
      body,
    });
  assert.equal(decodeRequest(Uint8Array.of(1)), { type: 'blocks', body: new Uint8Array(0) });
});

test('malformed requests are refused with the status to answer', () => {
  const cases: [Uint8Array, Status][] = [
    [new Uint8Array(0), Status.malformed],
    [Uint8Array.of(0x7f, 1), Status.unknownKind],
    [Uint8Array.of(0, 1), Status.unknownKind],
    [Uint8Array.of(2, 4, 1), Status.malformed],
    [Uint8Array.of(2, 0, 1), Status.malformed],
    [Uint8Array.of(2), Status.malformed],
  ];
  for (const [frame, status] of cases) {
    const err = caught(() => decodeRequest(frame));
    assert.ok(err instanceof RequestRefused, `[${[...frame]}] is refused`);
    assert.is(err.status, status, `[${[...frame]}]`);
  }
});

test('verdicts round-trip and anything else is a bad response', () => {
  for (const v of ['accept', 'ignore', 'reject'] as Verdict[])
    assert.is(decodeVerdict(encodeVerdict(v), PEER), v);
  for (const bad of [new Uint8Array(0), Uint8Array.of(3), Uint8Array.of(0, 0)]) {
    const err = caught(() => decodeVerdict(bad, PEER));
    assert.is(err.code, 'P2P_BAD_RESPONSE');
    assert.is(err.action, 'reject');
  }
});

test('the served handler: blocks go to onRequest within their bound, direct messages through the validator', async () => {
  let spec: ProtocolSpec | undefined;
  const reqresp: ReqResp = {
    async register(s) {
      spec = s;
      return { protocol: s.protocol, request: async () => new Uint8Array(0) };
    },
  };
  const requests: string[] = [];
  const delivered: string[] = [];
  const verdicts: Record<number, Verdict> = { 1: 'accept', 2: 'ignore', 3: 'reject' };
  const handlers = {
    validate: (_kind: 'tx' | 'consensus', bytes: Uint8Array) => verdicts[bytes[0]!] ?? 'ignore',
    onMessage: (kind: 'tx' | 'consensus', bytes: Uint8Array, from: string, via: string) =>
      delivered.push(`${kind}:${bytes[0]}:${from}:${via}`),
    onRequest: async (_kind: 'blocks', bytes: Uint8Array, from: string) => {
      requests.push(`${bytes.length}:${from}`);
      return Uint8Array.of(42);
    },
  };
  const opts = { ...defaultP2POptions, chainId: CHAIN, maxRequestBytes: 8, maxMessageBytes: 16 };
  const penalties = new Penalties(() => 0);
  const validator = createMessageValidator({
    maxMessageBytes: opts.maxMessageBytes,
    maxPendingValidations: 4,
    handlers,
    metrics: null,
    reportError: () => {},
  });
  await registerSyncProtocol({ opts, reqresp, handlers, validator, penalties });
  assert.ok(spec !== undefined, 'the protocol was registered');
  const s = spec;
  assert.is(s.protocol, syncProtocol(CHAIN));
  assert.is(s.maxRequestBytes, 16 + HEADER_BYTES, 'the frame bound fits the larger of the two bodies');
  assert.is(s.maxInFlightPerPeer, defaultP2POptions.maxSyncStreamsPerConnection);

  const from = idOf(7);
  assert.equal([...(await s.handle(encodeRequest({ type: 'blocks', body: new Uint8Array(8) }), from))], [42]);
  assert.equal(requests, [`8:${from}`]);
  try {
    await s.handle(encodeRequest({ type: 'blocks', body: new Uint8Array(9) }), from);
    assert.unreachable('a blocks body over maxRequestBytes');
  } catch (err) {
    assert.ok(err instanceof RequestRefused && err.status === Status.tooLarge, String(err));
  }
  assert.is(requests.length, 1, 'the oversized request never reached onRequest');

  const direct = (first: number) =>
    s.handle(encodeRequest({ type: 'direct', topic: 'tx', body: Uint8Array.of(first) }), from);
  assert.is(decodeVerdict(await direct(1), PEER), 'accept');
  assert.is(decodeVerdict(await direct(2), PEER), 'ignore');
  assert.is(decodeVerdict(await direct(3), PEER), 'reject');
  assert.equal(delivered, [`tx:1:${from}:direct`], 'only the accepted message is delivered');
  assert.is(penalties.count(from), 1, 'the rejected one counts against the sender');
});

test.run();
