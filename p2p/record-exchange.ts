/**
 * The record exchange protocol between members' nodes, `/careledger/record/1` (RECORDS-CONTRACT
 * "Exchange protocol"): a requester's node sends a custodian's node one signed fetch request; the
 * custodian answers with a header frame and then, if it releases, the ciphertext.
 *
 *   request  = one frame: the encoded signed fetch request (at most 4 KiB)
 *   response = header frame: canonical ['ok', releaseId(32), accessHeight(u64), wrappedKey, size(u64)]
 *                         or canonical ['refused', code, message]
 *              then, after 'ok', the ciphertext in frames of at most 64 KiB, exactly `size` bytes,
 *              then the end of the stream.
 * Every frame is varint-length-prefixed (it-length-prefixed), its length checked before its body
 * is read. The protocol knows nothing of records' meaning: the custodian's decision is the
 * `RecordServer` callback (node/records/), and the requester checks the bytes against the anchor.
 *
 * Bounds: request and header sizes; frame size; `size` at most `maxRecordBytes`; a deadline for
 * the request to arrive, one for the header (the custodian waits for its access event to commit),
 * and one per body frame (a stalled peer is cut off, on both sides); at most 4 requests in flight
 * per peer on the serving side (the fifth is answered ['refused', 'BUSY', …] at once). Peers are
 * members only: the host's connection gater admits no one else.
 */
import type { Libp2p, Stream } from '@libp2p/interface';
import * as lp from 'it-length-prefixed';
import { decode, encode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { parsePeerId } from './identity.ts';

export const RECORD_PROTOCOL = '/careledger/record/1';
export const MAX_RECORD_REQUEST_BYTES = 4 * 1024;
/** A header: an ok one is ~150 bytes (the wrapped key ~100); a refusal's message is cut to fit. */
export const MAX_RECORD_HEADER_BYTES = 4 * 1024;
export const MAX_RECORD_FRAME_BYTES = 64 * 1024;
export const MAX_IN_FLIGHT_PER_PEER = 4;
const MAX_CODE_CHARS = 64;
const MAX_MESSAGE_CHARS = 1024;
const MAX_WRAPPED_KEY_BYTES = 512;
const ID_BYTES = 32;

export const RecordExchangeCode = {
  /** The custodian serves as many requests of this peer as it may: retry later. */
  busy: 'BUSY',
  /** The peer could not be reached, or the stream failed before a header. */
  unreachable: 'RECORD_PEER_UNREACHABLE',
  /** No header (or no next body frame) within its deadline. */
  timeout: 'RECORD_STREAM_TIMEOUT',
  /** The peer sent bytes that are not the protocol: oversized, malformed, more or fewer than `size`. */
  badResponse: 'RECORD_STREAM_INVALID',
  /** The custodian's service failed on this request (a bug or an I/O failure there). */
  serveFailed: 'RECORD_RELEASE_FAILED',
} as const;

export interface RecordExchangeOptions {
  /** The largest ciphertext a header may announce. */
  readonly maxRecordBytes: number;
  /** Serving: how long the request frame may take to arrive. Requesting: how long the dial may take. */
  readonly requestTimeoutMs: number;
  /** How long the custodian may take to send its header (its decision and the access event's commit). */
  readonly headerTimeoutMs: number;
  /** The longest pause between two body frames, either side. */
  readonly frameTimeoutMs: number;
  readonly maxInFlightPerPeer: number;
}

export const defaultRecordExchangeOptions: RecordExchangeOptions = {
  maxRecordBytes: 64 * 1024 * 1024,
  requestTimeoutMs: 5000,
  headerTimeoutMs: 30_000,
  frameTimeoutMs: 10_000,
  maxInFlightPerPeer: MAX_IN_FLIGHT_PER_PEER,
};

export interface RecordRelease {
  readonly releaseId: Uint8Array;
  readonly accessHeight: bigint;
  readonly wrappedKey: Uint8Array;
  readonly size: number;
}

/** A typed refusal: no bytes and no key. */
export interface RecordRefusal {
  readonly ok: false;
  readonly code: string;
  readonly message: string;
}

export type RecordHeader = ({ readonly ok: true } & RecordRelease) | RecordRefusal;

/** The custodian's answer: a refusal, or a release with its ciphertext to stream. */
export type RecordAnswer =
  | RecordRefusal
  | ({
      readonly ok: true;
      /** Exactly `size` bytes, in chunks of any size (re-framed to ≤ 64 KiB). */
      readonly body: AsyncIterable<Uint8Array>;
      /** Called when the body will not be read to its end (the peer went away): free its file. */
      readonly discard: () => void;
    } & RecordRelease);

/** What the serving node does with a request: `peer` is the requesting node's peer id. */
export type RecordServer = (request: Uint8Array, peer: string) => Promise<RecordAnswer>;

/** The requester's view of an answer: a refusal, or a release whose body is checked as it streams. */
export type RecordResponse =
  | RecordRefusal
  | ({
      readonly ok: true;
      readonly body: AsyncIterable<Uint8Array>;
      readonly cancel: () => void;
    } & RecordRelease);

export function encodeRecordHeader(h: RecordHeader): Uint8Array {
  if (!h.ok) return encode(['refused', h.code, h.message.slice(0, MAX_MESSAGE_CHARS)]);
  return encode(['ok', h.releaseId, h.accessHeight, h.wrappedKey, BigInt(h.size)]);
}

/** Strict decode of a header frame; RECORD_STREAM_INVALID for anything else. */
export function decodeRecordHeader(bytes: Uint8Array, maxRecordBytes: number): RecordHeader {
  try {
    const value = decode(bytes);
    if (!Array.isArray(value)) throw new Error('not a tuple');
    if (value[0] === 'refused') {
      const [, code, message] = s.tuple(value, 3, 'refusal');
      const c = s.string(code!, 'code', MAX_CODE_CHARS);
      if (!/^[A-Z][A-Z0-9_]*$/.test(c)) throw new Error('code is not a code');
      return { ok: false, code: c, message: s.string(message!, 'message', MAX_MESSAGE_CHARS) };
    }
    if (value[0] !== 'ok') throw new Error('unknown header kind');
    const [, releaseId, accessHeight, wrappedKey, size] = s.tuple(value, 5, 'release');
    const n = s.u64(size!, 'size');
    if (n > BigInt(maxRecordBytes)) throw new Error(`size over ${maxRecordBytes} bytes`);
    return {
      ok: true,
      releaseId: s.bytes(releaseId!, 'releaseId', ID_BYTES),
      accessHeight: s.u64(accessHeight!, 'accessHeight'),
      wrappedKey: s.boundedBytes(wrappedKey!, 'wrappedKey', MAX_WRAPPED_KEY_BYTES),
      size: Number(n),
    };
  } catch (err) {
    throw exchangeError('badResponse', `the record header is invalid: ${(err as Error).message}`);
  }
}

function exchangeError(code: keyof typeof RecordExchangeCode, message: string): CareLedgerError {
  return new CareLedgerError(
    RecordExchangeCode[code],
    message,
    code === 'badResponse' ? 'reject' : undefined,
  );
}

/** Splits chunks into frames of at most MAX_RECORD_FRAME_BYTES (views, no copies). */
async function* reframe(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    for (let at = 0; at < chunk.length; at += MAX_RECORD_FRAME_BYTES)
      yield chunk.subarray(at, Math.min(chunk.length, at + MAX_RECORD_FRAME_BYTES));
  }
}

/**
 * A timer that aborts `stream` unless `touch` is called within `ms` of the last call (the deadline
 * of the current step: request, header, then each frame). `stop` ends it.
 */
function watchdog(
  stream: Stream,
  firstMs: number,
): { touch: (ms: number) => void; stop: () => void; fired: () => boolean } {
  let fired = false;
  let timer: NodeJS.Timeout | undefined;
  const touch = (ms: number): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      fired = true;
      stream.abort(new Error(`no progress on the record stream within ${ms} ms`));
    }, ms);
  };
  touch(firstMs);
  return { touch, stop: () => clearTimeout(timer), fired: () => fired };
}

/** The part of a libp2p node the protocol uses (so tests can pass a bare libp2p). */
export type RecordLibp2p = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>;

/**
 * Serves the protocol on `libp2p` with `serve` deciding each request. Returns a function that
 * stops serving (new streams are refused by libp2p; streams in progress finish or time out).
 */
export async function serveRecordExchange(
  libp2p: RecordLibp2p,
  serve: RecordServer,
  options: Partial<RecordExchangeOptions> = {},
  onError?: (err: unknown) => void,
  /** Told of each request answered BUSY (the node's metrics count them). */
  onBusy?: (peer: string) => void,
): Promise<() => Promise<void>> {
  const opts = { ...defaultRecordExchangeOptions, ...options };
  const inFlight = new Map<string, number>();
  const handleStream = async (stream: Stream, peer: string): Promise<void> => {
    const dog = watchdog(stream, opts.requestTimeoutMs);
    let answer: RecordAnswer | undefined;
    let reading = false;
    try {
      const frames = lp.decode(stream.source, { maxDataLength: MAX_RECORD_REQUEST_BYTES });
      let request: Uint8Array | undefined;
      for await (const frame of frames) {
        request = frame.subarray();
        break;
      }
      if (request === undefined) throw new Error('the stream ended before the request');
      const count = inFlight.get(peer) ?? 0;
      if (count >= opts.maxInFlightPerPeer) {
        answer = { ok: false, code: RecordExchangeCode.busy, message: 'too many record requests in flight' };
        onBusy?.(peer);
      } else {
        inFlight.set(peer, count + 1);
        reading = true;
        // The decision may wait for a commit: the header deadline, not the request's, applies.
        dog.stop();
        answer = await serve(request, peer).catch(
          (err: unknown): RecordAnswer => ({
            ok: false,
            code: err instanceof CareLedgerError ? err.code : RecordExchangeCode.serveFailed,
            message: err instanceof Error ? err.message : String(err),
          }),
        );
      }
      const header = encodeRecordHeader(answer);
      const body = answer.ok ? answer.body : null;
      dog.touch(opts.frameTimeoutMs);
      await stream.sink(
        (async function* () {
          yield lp.encode.single(header);
          if (body === null) return;
          for await (const frame of reframe(body)) {
            dog.touch(opts.frameTimeoutMs);
            yield lp.encode.single(frame);
          }
        })(),
      );
      await stream.close();
    } catch (err) {
      if (answer?.ok === true) answer.discard();
      stream.abort(err instanceof Error ? err : new Error(String(err)));
      if (!dog.fired()) onError?.(err);
    } finally {
      dog.stop();
      if (reading) {
        const left = (inFlight.get(peer) ?? 1) - 1;
        if (left <= 0) inFlight.delete(peer);
        else inFlight.set(peer, left);
      }
    }
  };
  await libp2p.handle(
    RECORD_PROTOCOL,
    ({ stream, connection }) => {
      void handleStream(stream, connection.remotePeer.toString());
    },
    // Room above the in-flight bound, so a fifth request is answered BUSY instead of reset.
    {
      maxInboundStreams: 4 * opts.maxInFlightPerPeer,
      maxOutboundStreams: 4 * opts.maxInFlightPerPeer,
      runOnLimitedConnection: false,
    },
  );
  return () => libp2p.unhandle(RECORD_PROTOCOL);
}

/**
 * Sends `request` to the node `peer` and reads its header. A refusal comes back as a value; a
 * release's body is an iterable that yields exactly `size` bytes or throws (RECORD_STREAM_INVALID
 * for more or fewer, RECORD_STREAM_TIMEOUT for a stall). Throws RECORD_PEER_UNREACHABLE (dial or
 * stream failure before a header), RECORD_STREAM_TIMEOUT, RECORD_STREAM_INVALID.
 * The caller reads the body to its end or calls `cancel`.
 */
export async function requestRecord(
  libp2p: RecordLibp2p,
  peer: string,
  request: Uint8Array,
  options: Partial<RecordExchangeOptions> = {},
): Promise<RecordResponse> {
  const opts = { ...defaultRecordExchangeOptions, ...options };
  if (request.length > MAX_RECORD_REQUEST_BYTES)
    throw new CareLedgerError(
      'ACCESS_REQUEST_INVALID',
      `a fetch request is at most ${MAX_RECORD_REQUEST_BYTES} bytes`,
    );
  let stream: Stream;
  const dial = AbortSignal.timeout(opts.requestTimeoutMs);
  try {
    stream = await libp2p.dialProtocol(parsePeerId(peer), RECORD_PROTOCOL, { signal: dial });
  } catch (err) {
    throw exchangeError(
      'unreachable',
      `could not open a record stream to ${peer}: ${(err as Error).message}`,
    );
  }
  const dog = watchdog(stream, opts.headerTimeoutMs);
  let finished = false;
  const cancel = (): void => {
    if (finished) return;
    finished = true;
    dog.stop();
    stream.abort(new Error('record fetch cancelled'));
  };
  const failure = (err: unknown, during: string): CareLedgerError => {
    if (dog.fired()) return exchangeError('timeout', `peer ${peer} stalled during ${during}`);
    if (err instanceof CareLedgerError) return err;
    if (err instanceof Error && err.name === 'InvalidDataLengthError')
      return exchangeError('badResponse', `peer ${peer} sent a frame over the bound during ${during}`);
    return exchangeError(
      'unreachable',
      `the record stream from ${peer} failed during ${during}: ${(err as Error).message}`,
    );
  };
  let frames: AsyncIterator<{ subarray(): Uint8Array }>;
  let header: RecordHeader;
  try {
    const writing = stream.sink([lp.encode.single(request)]);
    writing.catch(() => {});
    // The header bound first; body frames are checked against their own bound below.
    frames = lp
      .decode(stream.source, { maxDataLength: Math.max(MAX_RECORD_HEADER_BYTES, MAX_RECORD_FRAME_BYTES) })
      [Symbol.asyncIterator]();
    const first = await frames.next();
    if (first.done === true) throw new Error('the stream ended before the header');
    const bytes = first.value.subarray();
    if (bytes.length > MAX_RECORD_HEADER_BYTES)
      throw exchangeError('badResponse', `peer ${peer} sent an oversized header`);
    header = decodeRecordHeader(bytes, opts.maxRecordBytes);
    await writing;
  } catch (err) {
    cancel();
    throw failure(err, 'the header');
  }
  if (!header.ok) {
    cancel();
    return header;
  }
  const size = header.size;
  dog.touch(opts.frameTimeoutMs);
  const iterator = frames;
  async function* body(): AsyncGenerator<Uint8Array> {
    let received = 0;
    try {
      for (;;) {
        dog.touch(opts.frameTimeoutMs);
        const next = await iterator.next();
        if (next.done === true) break;
        const chunk = next.value.subarray();
        received += chunk.length;
        if (received > size)
          throw exchangeError('badResponse', `peer ${peer} sent more than the ${size} bytes announced`);
        yield chunk;
      }
      if (received !== size)
        throw exchangeError('badResponse', `peer ${peer} sent ${received} of the ${size} bytes announced`);
      finished = true;
      dog.stop();
      await stream.close().catch(() => undefined);
    } catch (err) {
      const wasCancelled = finished;
      cancel();
      if (wasCancelled) return;
      throw failure(err, 'the body');
    } finally {
      // A consumer that stops early (break, or an error of its own) ends the stream too.
      if (!finished) cancel();
    }
  }
  return { ...header, body: body(), cancel };
}
