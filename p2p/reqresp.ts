/**
 * The sync protocol's wire format and stream helpers: one request and one response per stream,
 * each a single varint-length-prefixed frame whose length is checked before its body is read, so
 * an oversized frame costs the reader a few bytes, not memory.
 *
 * Request frame:  [kind u8][body]           kind 1 = blocks
 *                 [kind u8][topic u8][msg]  kind 2 = direct send of a tx (1) or consensus (2) message
 * Response frame: [status u8][body]         status 0 = ok (body is the answer; for a direct send one
 *                                           byte: 0 accept, 1 ignore, 2 reject); 1 = unknown kind;
 *                                           2 = request too large; 3 = malformed request;
 *                                           4 = handler failed (body: its error code, ASCII);
 *                                           5 = handler timed out.
 *
 * Errors on the client side are CareLedgerErrors with stable codes; those caused by bytes the
 * peer sent carry the `reject` action.
 */
import type { Stream } from '@libp2p/interface';
import * as lp from 'it-length-prefixed';
import { CareLedgerError } from '../packages/core/errors.ts';
import type { TopicKind } from './topics.ts';

/** What a caller may ask a peer for. */
export type RequestKind = 'blocks';
export const REQUEST_KINDS: readonly RequestKind[] = ['blocks'];

/** The outcome of validating a message, gossip or direct. */
export type Verdict = 'accept' | 'ignore' | 'reject';

/** Bytes a request or response frame adds around its body. */
export const HEADER_BYTES = 2;
/** Bound on an error code carried in a response. */
export const MAX_ERROR_CODE_BYTES = 64;

const KIND_BLOCKS = 1;
const KIND_DIRECT = 2;
const TOPIC_TAG: Record<TopicKind, number> = { tx: 1, consensus: 2 };
const VERDICT_TAG: Record<Verdict, number> = { accept: 0, ignore: 1, reject: 2 };

export const Status = {
  ok: 0,
  unknownKind: 1,
  tooLarge: 2,
  malformed: 3,
  handlerFailed: 4,
  handlerTimeout: 5,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

export type WireRequest =
  | { readonly type: 'blocks'; readonly body: Uint8Array }
  | { readonly type: 'direct'; readonly topic: TopicKind; readonly body: Uint8Array };

/** A request frame's decoding: the request, or the status to answer with. */
export type DecodedRequest =
  | { readonly ok: true; readonly request: WireRequest }
  | { readonly ok: false; readonly status: Status };

function concat(head: number[], body: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

export function encodeRequest(req: WireRequest): Uint8Array {
  switch (req.type) {
    case 'blocks':
      return concat([KIND_BLOCKS], req.body);
    case 'direct':
      return concat([KIND_DIRECT, TOPIC_TAG[req.topic]], req.body);
    default: {
      const never: never = req;
      throw new Error(`unhandled request ${String(never)}`);
    }
  }
}

export function decodeRequest(frame: Uint8Array): DecodedRequest {
  const kind = frame[0];
  if (kind === KIND_BLOCKS) return { ok: true, request: { type: 'blocks', body: frame.subarray(1) } };
  if (kind === KIND_DIRECT) {
    const tag = frame[1];
    const topic = tag === TOPIC_TAG.tx ? 'tx' : tag === TOPIC_TAG.consensus ? 'consensus' : null;
    if (topic === null) return { ok: false, status: Status.malformed };
    return { ok: true, request: { type: 'direct', topic, body: frame.subarray(2) } };
  }
  return { ok: false, status: kind === undefined ? Status.malformed : Status.unknownKind };
}

export function encodeResponse(status: Status, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concat([status], body);
}

export function encodeErrorResponse(status: Status, code: string): Uint8Array {
  const ascii = /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'P2P_HANDLER_FAILED';
  return encodeResponse(status, new TextEncoder().encode(ascii));
}

export function encodeVerdict(verdict: Verdict): Uint8Array {
  return Uint8Array.of(VERDICT_TAG[verdict]);
}

function badResponse(peer: string, why: string): CareLedgerError {
  return new CareLedgerError('P2P_BAD_RESPONSE', `peer ${peer} sent a malformed response: ${why}`, 'reject');
}

/** The body of an ok response; any other status becomes the CareLedgerError it stands for. */
export function decodeResponse(frame: Uint8Array, peer: string): Uint8Array {
  const status = frame[0];
  const body = frame.subarray(1);
  switch (status) {
    case Status.ok:
      return body;
    case Status.unknownKind:
      return fail('P2P_UNKNOWN_REQUEST', `peer ${peer} does not serve this request kind`);
    case Status.tooLarge:
      return fail('P2P_REQUEST_TOO_LARGE', `peer ${peer} refused the request as too large`);
    case Status.malformed:
      return fail('P2P_BAD_REQUEST', `peer ${peer} could not parse the request`);
    case Status.handlerFailed: {
      const code = new TextDecoder().decode(body.subarray(0, MAX_ERROR_CODE_BYTES));
      if (!/^[A-Z0-9_]{1,64}$/.test(code)) throw badResponse(peer, 'error code is not a code');
      return fail('P2P_REMOTE_ERROR', `peer ${peer} failed the request: ${code}`);
    }
    case Status.handlerTimeout:
      return fail('P2P_REMOTE_TIMEOUT', `peer ${peer} did not answer in time`);
    default:
      throw badResponse(peer, `unknown status ${String(status)}`);
  }
}

function fail(code: string, message: string): never {
  throw new CareLedgerError(code, message);
}

export function decodeVerdict(body: Uint8Array, peer: string): Verdict {
  if (body.length !== 1) throw badResponse(peer, 'a direct-send answer is one byte');
  switch (body[0]) {
    case VERDICT_TAG.accept:
      return 'accept';
    case VERDICT_TAG.ignore:
      return 'ignore';
    case VERDICT_TAG.reject:
      return 'reject';
    default:
      throw badResponse(peer, `unknown verdict ${String(body[0])}`);
  }
}

/** Thrown by `readFrame` when the announced length is over the bound. */
export class FrameTooLargeError extends Error {
  constructor(max: number) {
    super(`frame over ${max} bytes`);
    this.name = 'FrameTooLargeError';
  }
}

/** Reads exactly one length-prefixed frame of at most `maxBytes`, then stops reading. */
export async function readFrame(stream: Stream, maxBytes: number): Promise<Uint8Array> {
  try {
    for await (const frame of lp.decode(stream.source, { maxDataLength: maxBytes })) {
      return frame.subarray();
    }
  } catch (err) {
    // it-length-prefixed checks the varint length before buffering the body.
    if (err instanceof Error && err.name === 'InvalidDataLengthError') throw new FrameTooLargeError(maxBytes);
    throw err;
  }
  throw new Error('stream ended before a complete frame');
}

/** Writes one length-prefixed frame and closes the writing side. */
export async function writeFrame(stream: Stream, bytes: Uint8Array): Promise<void> {
  await stream.sink([lp.encode.single(bytes)]);
}
