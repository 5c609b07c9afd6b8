/**
 * p2p/reqresp.ts: the sync wire format. Requests and verdicts round-trip; every response status
 * maps to its error code; malformed frames (empty, unknown kind, unknown topic, unknown status,
 * bad verdicts, error bodies that are not codes) are refused with the right code and action.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeRequest,
  decodeResponse,
  decodeVerdict,
  encodeErrorResponse,
  encodeRequest,
  encodeResponse,
  encodeVerdict,
  Status,
  type Verdict,
} from '../../../p2p/reqresp.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';

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
  assert.equal(decodeRequest(encodeRequest({ type: 'blocks', body })), {
    ok: true,
    request: { type: 'blocks', body },
  });
  assert.equal(decodeRequest(encodeRequest({ type: 'direct', topic: 'consensus', body })), {
    ok: true,
    request: { type: 'direct', topic: 'consensus', body },
  });
  assert.equal(decodeRequest(Uint8Array.of(1)), {
    ok: true,
    request: { type: 'blocks', body: new Uint8Array(0) },
  });
});

test('malformed requests get the status to answer with', () => {
  assert.equal(decodeRequest(new Uint8Array(0)), { ok: false, status: Status.malformed });
  assert.equal(decodeRequest(Uint8Array.of(0x7f, 1)), { ok: false, status: Status.unknownKind });
  assert.equal(decodeRequest(Uint8Array.of(0, 1)), { ok: false, status: Status.unknownKind });
  assert.equal(decodeRequest(Uint8Array.of(2, 3, 1)), { ok: false, status: Status.malformed });
  assert.equal(decodeRequest(Uint8Array.of(2)), { ok: false, status: Status.malformed });
});

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

test('verdicts round-trip and anything else is a bad response', () => {
  for (const v of ['accept', 'ignore', 'reject'] as Verdict[])
    assert.is(decodeVerdict(encodeVerdict(v), PEER), v);
  for (const bad of [new Uint8Array(0), Uint8Array.of(3), Uint8Array.of(0, 0)]) {
    assert.is(caught(() => decodeVerdict(bad, PEER)).code, 'P2P_BAD_RESPONSE');
  }
});

test.run();
