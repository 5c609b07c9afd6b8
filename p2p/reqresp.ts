/**
 * Generic request/response over libp2p streams: one request and one response per stream, each a
 * single varint-length-prefixed frame whose length is checked before its body is read, so an
 * oversized frame costs the reader a few bytes, not memory. A protocol is added by `register`ing
 * its id, its bounds and a handler; the returned client sends requests on it. The layer gives
 * every protocol the same guarantees:
 *  - member-only: the gater admits members' connections only, and the client refuses to dial
 *    anyone else (P2P_NOT_MEMBER);
 *  - a peer that `refuse` names (graylisted) gets that code back without its request reaching the
 *    handler;
 *  - bounded sizes both ways (`maxRequestBytes`, `maxResponseBytes`), checked on both sides;
 *  - timeouts: the client's `timeoutMs`; on the server, the handler's `handlerTimeoutMs` and one
 *    budget for the whole stream (`timeoutMs + handlerTimeoutMs`), after which it is aborted;
 *  - at most `maxInFlightPerPeer` streams of the protocol per peer in each direction (libp2p
 *    enforces it per connection on both sides; the client also counts per peer and refuses the
 *    next one with P2P_TOO_MANY_REQUESTS instead of opening a stream libp2p would reset).
 *
 * Request frame:  the protocol's own bytes.
 * Response frame: [status u8][body]  status 0 = ok (body is the answer); 1 = unknown kind;
 *                                    2 = request too large; 3 = malformed request;
 *                                    4 = handler failed (body: its error code, ASCII);
 *                                    5 = handler timed out.
 *
 * Errors on the client side are CareLedgerErrors with stable codes; those caused by bytes the
 * peer sent carry the `reject` action.
 */
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import * as lp from 'it-length-prefixed';
import { CareLedgerError } from '../packages/core/errors.ts';
import { parsePeerId } from './identity.ts';
import { checkPositiveInt, invalidOption, MAX_TIMEOUT_MS } from './options.ts';

/** Bound on an error code carried in a response. */
export const MAX_ERROR_CODE_BYTES = 64;
const CODE = /^[A-Z0-9_]{1,64}$/;

export const Status = {
  ok: 0,
  unknownKind: 1,
  tooLarge: 2,
  malformed: 3,
  handlerFailed: 4,
  handlerTimeout: 5,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

export function encodeResponse(status: Status, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(1 + body.length);
  out[0] = status;
  out.set(body, 1);
  return out;
}

export function encodeErrorResponse(status: Status, code: string): Uint8Array {
  const ascii = CODE.test(code) ? code : 'P2P_HANDLER_FAILED';
  return encodeResponse(status, new TextEncoder().encode(ascii));
}

/** A response (or part of one) the peer sent that is not well formed. */
export function badResponse(peer: string, why: string): CareLedgerError {
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
      if (!CODE.test(code)) throw badResponse(peer, 'error code is not a code');
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

/** What a handler throws to answer with status 1, 2 or 3 instead of "handler failed". */
export class RequestRefused extends CareLedgerError {
  readonly status: Status;
  constructor(status: 'unknownKind' | 'tooLarge' | 'malformed', message: string) {
    const code = {
      unknownKind: 'P2P_UNKNOWN_REQUEST',
      tooLarge: 'P2P_REQUEST_TOO_LARGE',
      malformed: 'P2P_BAD_REQUEST',
    };
    super(code[status], message);
    this.name = 'RequestRefused';
    this.status = Status[status];
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
export async function readFrame(stream: Pick<Stream, 'source'>, maxBytes: number): Promise<Uint8Array> {
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
export async function writeFrame(stream: Pick<Stream, 'sink'>, bytes: Uint8Array): Promise<void> {
  await stream.sink([lp.encode.single(bytes)]);
}

/** Resolves to the value, or to `timedOut` if `ms` passes first (the work is not cancelled). */
export async function withDeadline<T>(work: Promise<T>, ms: number): Promise<{ value: T } | 'timedOut'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<'timedOut'>((resolve) => {
    timer = setTimeout(() => resolve('timedOut'), ms);
  });
  try {
    return await Promise.race([work.then((value) => ({ value })), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** One request/response protocol: its id, its bounds and the handler that serves it. */
export interface ProtocolSpec {
  /** The full protocol id, built by topics.ts (`protocolId`). */
  readonly protocol: string;
  /** Largest request frame served or sent. */
  readonly maxRequestBytes: number;
  /** Largest response body served; the client's default bound on an answer. */
  readonly maxResponseBytes: number;
  /** The client's default timeout; on the server, the budget to read the request and write the answer. */
  readonly timeoutMs: number;
  /** How long `handle` may take before the peer is told it timed out (status 5). */
  readonly handlerTimeoutMs: number;
  /** Streams of this protocol open per peer, each direction. */
  readonly maxInFlightPerPeer: number;
  /**
   * Serves one request from member `from`. Throw `RequestRefused` to answer unknown kind, too
   * large or malformed; a thrown CareLedgerError's code is sent back (the client sees
   * P2P_REMOTE_ERROR naming it); any other exception is reported locally and sent back as
   * P2P_HANDLER_FAILED. A response over `maxResponseBytes` is sent back as P2P_RESPONSE_TOO_LARGE.
   */
  handle(request: Uint8Array, from: string): Promise<Uint8Array>;
}

export interface RequestOptions {
  readonly timeoutMs?: number;
}

export interface ClientRequestOptions extends RequestOptions {
  /** Bound on the answer's body, when tighter than the protocol's `maxResponseBytes`. */
  readonly maxResponseBytes?: number;
}

/** Sends requests on one registered protocol. */
export interface ProtocolClient {
  readonly protocol: string;
  /** Resolves to the ok response's body, or throws a CareLedgerError (codes in p2p/README.md). */
  request(peer: string, request: Uint8Array, opts?: ClientRequestOptions): Promise<Uint8Array>;
}

export interface ReqRespDeps {
  readonly libp2p: Pick<Libp2p, 'dialProtocol' | 'handle'>;
  isMember(id: string): boolean;
  /** The error code a peer's requests are refused with before they are served (graylisted), or null. */
  refuse(from: string): string | null;
  isStopped(): boolean;
  /** Failures that have no caller to throw to (a handler that threw something unexpected). */
  reportError(err: unknown, where: string): void;
}

export interface ReqResp {
  /** Serves `spec.protocol` with `spec.handle` and returns the client for it. */
  register(spec: ProtocolSpec): Promise<ProtocolClient>;
}

function checkSpec(spec: ProtocolSpec): void {
  if (typeof spec.protocol !== 'string' || !spec.protocol.startsWith('/')) {
    throw invalidOption(`protocol id ${JSON.stringify(spec.protocol)} must start with /`);
  }
  for (const name of ['maxRequestBytes', 'maxResponseBytes', 'maxInFlightPerPeer'] as const) {
    checkPositiveInt(`${spec.protocol} ${name}`, spec[name]);
  }
  for (const name of ['timeoutMs', 'handlerTimeoutMs'] as const) {
    checkPositiveInt(`${spec.protocol} ${name}`, spec[name], MAX_TIMEOUT_MS);
  }
  if (typeof spec.handle !== 'function') throw invalidOption(`${spec.protocol} needs a handler`);
}

export function createReqResp(deps: ReqRespDeps): ReqResp {
  const registered = new Set<string>();

  /** The response frame for one request frame. */
  const answer = async (spec: ProtocolSpec, request: Uint8Array, from: string): Promise<Uint8Array> => {
    // Gossipsub drops a graylisted peer's gossip unread; request/response must not be a way
    // around that, so its requests are refused before any handler runs.
    const refused = deps.refuse(from);
    if (refused !== null) return encodeErrorResponse(Status.handlerFailed, refused);
    let result: { value: Uint8Array } | 'timedOut';
    try {
      result = await withDeadline(spec.handle(request, from), spec.handlerTimeoutMs);
    } catch (err) {
      if (err instanceof RequestRefused) return encodeResponse(err.status);
      if (err instanceof CareLedgerError) return encodeErrorResponse(Status.handlerFailed, err.code);
      deps.reportError(err, `handler ${spec.protocol}`);
      return encodeErrorResponse(Status.handlerFailed, 'P2P_HANDLER_FAILED');
    }
    if (result === 'timedOut') return encodeResponse(Status.handlerTimeout);
    if (!(result.value instanceof Uint8Array) || result.value.length > spec.maxResponseBytes) {
      return encodeErrorResponse(Status.handlerFailed, 'P2P_RESPONSE_TOO_LARGE');
    }
    return encodeResponse(Status.ok, result.value);
  };

  const serve = async (spec: ProtocolSpec, stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString();
    // One budget for the whole exchange, so a slow or silent peer cannot hold a stream open.
    const deadline = setTimeout(
      () => stream.abort(new Error(`${spec.protocol} stream timed out`)),
      spec.timeoutMs + spec.handlerTimeoutMs,
    );
    try {
      let response: Uint8Array;
      try {
        response = await answer(spec, await readFrame(stream, spec.maxRequestBytes), from);
      } catch (err) {
        if (!(err instanceof FrameTooLargeError)) throw err;
        response = encodeResponse(Status.tooLarge);
      }
      await writeFrame(stream, response);
      await stream.close();
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    } finally {
      clearTimeout(deadline);
    }
  };

  const client = (spec: ProtocolSpec): ProtocolClient => {
    const inFlight = new Map<string, number>();
    return {
      protocol: spec.protocol,
      async request(peer, request, ropts = {}) {
        if (deps.isStopped()) throw new CareLedgerError('P2P_STOPPED', 'the p2p host is stopped');
        const peerId = parsePeerId(peer);
        const id = peerId.toString();
        if (!deps.isMember(id)) throw new CareLedgerError('P2P_NOT_MEMBER', `peer ${id} is not a member`);
        const timeoutMs = ropts.timeoutMs ?? spec.timeoutMs;
        checkPositiveInt('timeoutMs', timeoutMs, MAX_TIMEOUT_MS);
        const maxBody = Math.min(ropts.maxResponseBytes ?? spec.maxResponseBytes, spec.maxResponseBytes);
        if (!(request instanceof Uint8Array) || request.length > spec.maxRequestBytes) {
          throw new CareLedgerError(
            'P2P_REQUEST_TOO_LARGE',
            `a ${spec.protocol} request must be bytes, at most ${spec.maxRequestBytes}`,
          );
        }
        const open = inFlight.get(id) ?? 0;
        if (open >= spec.maxInFlightPerPeer) {
          throw new CareLedgerError(
            'P2P_TOO_MANY_REQUESTS',
            `${open} ${spec.protocol} requests to peer ${id} are already in flight`,
          );
        }
        inFlight.set(id, open + 1);
        try {
          return await exchange(spec.protocol, peerId, request, maxBody, timeoutMs);
        } finally {
          const left = inFlight.get(id)! - 1;
          if (left === 0) inFlight.delete(id);
          else inFlight.set(id, left);
        }
      },
    };
  };

  const exchange = async (
    protocol: string,
    peerId: ReturnType<typeof parsePeerId>,
    frame: Uint8Array,
    maxBody: number,
    timeoutMs: number,
  ): Promise<Uint8Array> => {
    const id = peerId.toString();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let stream: Stream | undefined;
    let done = false;
    try {
      stream = await deps.libp2p.dialProtocol(peerId, protocol, { signal: controller.signal });
      const s = stream;
      controller.signal.addEventListener('abort', () => s.abort(new Error('request timed out')), {
        once: true,
      });
      // Read while writing: a peer may answer (too large, unknown kind) before reading it all.
      const writing = writeFrame(s, frame);
      writing.catch(() => {});
      let response: Uint8Array;
      try {
        // Room for an error answer (status + code) even where a good body is tiny (a verdict).
        response = await readFrame(s, Math.max(maxBody, MAX_ERROR_CODE_BYTES) + 1);
      } catch (err) {
        if (err instanceof FrameTooLargeError) {
          throw new CareLedgerError(
            'P2P_RESPONSE_TOO_LARGE',
            `peer ${id} answered more than ${maxBody} bytes`,
            'reject',
          );
        }
        throw err;
      }
      const body = decodeResponse(response, id);
      if (body.length > maxBody) {
        throw new CareLedgerError(
          'P2P_RESPONSE_TOO_LARGE',
          `peer ${id} answered more than ${maxBody} bytes`,
          'reject',
        );
      }
      await writing;
      await s.close({ signal: controller.signal });
      done = true;
      return body;
    } catch (err) {
      if (controller.signal.aborted) {
        throw new CareLedgerError('P2P_TIMEOUT', `peer ${id} did not answer within ${timeoutMs} ms`);
      }
      if (err instanceof CareLedgerError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new CareLedgerError('P2P_UNREACHABLE', `request to peer ${id} failed: ${message}`);
    } finally {
      clearTimeout(timer);
      if (stream !== undefined && !done) stream.abort(new Error('request abandoned'));
    }
  };

  return {
    async register(spec) {
      checkSpec(spec);
      if (registered.has(spec.protocol)) throw invalidOption(`${spec.protocol} is already registered`);
      await deps.libp2p.handle(
        spec.protocol,
        ({ stream, connection }) => {
          void serve(spec, stream, connection);
        },
        {
          maxInboundStreams: spec.maxInFlightPerPeer,
          maxOutboundStreams: spec.maxInFlightPerPeer,
          runOnLimitedConnection: false,
        },
      );
      registered.add(spec.protocol);
      return client(spec);
    },
  };
}
