/**
 * The sync protocol `/careledger/<chainId>/sync/1`, one protocol on the generic request/response
 * layer (reqresp.ts) carrying two kinds of request:
 *  - `blocks`: served by the node's `onRequest` (block sync, txs, status, round; bodies in
 *    node/README.md);
 *  - `direct`: one gossip message sent straight to a peer (the fallback when gossipsub's seen-cache
 *    would drop a deliberate re-publish of identical bytes). The receiver runs it through the same
 *    validator as gossip and answers its verdict; a rejected one counts against the sender.
 *
 * Request frame:  [kind u8][body]           kind 1 = blocks
 *                 [kind u8][topic u8][msg]  kind 2 = direct send of a tx (1) or consensus (2) message
 * An ok answer to a direct send is one byte: 0 accept, 1 ignore, 2 reject.
 */
import { CareLedgerError } from '../packages/core/errors.ts';
import { checkBytes, checkOutgoing, type MessageValidator, type Verdict } from './gossip.ts';
import type { P2POptions } from './options.ts';
import {
  badResponse,
  type ProtocolClient,
  type ReqResp,
  type RequestOptions,
  RequestRefused,
} from './reqresp.ts';
import type { Penalties } from './scoring.ts';
import { syncProtocol, TOPIC_KINDS, type TopicKind } from './topics.ts';

/** What a caller may ask a peer for. */
export type RequestKind = 'blocks';
export const REQUEST_KINDS: readonly RequestKind[] = ['blocks'];

/** Bytes a request frame adds around its body. */
export const HEADER_BYTES = 2;

const KIND_BLOCKS = 1;
const KIND_DIRECT = 2;
const TOPIC_TAG: Record<TopicKind, number> = { tx: 1, consensus: 2, evidence: 3 };
const VERDICT_TAG: Record<Verdict, number> = { accept: 0, ignore: 1, reject: 2 };

export type SyncRequest =
  | { readonly type: 'blocks'; readonly body: Uint8Array }
  | { readonly type: 'direct'; readonly topic: TopicKind; readonly body: Uint8Array };

function concat(head: number[], body: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

export function encodeRequest(req: SyncRequest): Uint8Array {
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

/** The request a frame holds; throws RequestRefused (unknown kind, malformed) otherwise. */
export function decodeRequest(frame: Uint8Array): SyncRequest {
  const kind = frame[0];
  if (kind === KIND_BLOCKS) return { type: 'blocks', body: frame.subarray(1) };
  if (kind === KIND_DIRECT) {
    const tag = frame[1];
    const topic = TOPIC_KINDS.find((kind) => TOPIC_TAG[kind] === tag);
    if (topic === undefined) throw new RequestRefused('malformed', `unknown topic tag ${String(tag)}`);
    return { type: 'direct', topic, body: frame.subarray(2) };
  }
  if (kind === undefined) throw new RequestRefused('malformed', 'empty request');
  throw new RequestRefused('unknownKind', `unknown request kind ${kind}`);
}

export function encodeVerdict(verdict: Verdict): Uint8Array {
  return Uint8Array.of(VERDICT_TAG[verdict]);
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

export interface SyncHandlers {
  /** Serves a peer's sync request; a thrown CareLedgerError's code is sent back. */
  onRequest(kind: RequestKind, bytes: Uint8Array, from: string): Promise<Uint8Array>;
}

export interface SyncDeps {
  readonly opts: Pick<
    P2POptions,
    | 'chainId'
    | 'maxMessageBytes'
    | 'maxRequestBytes'
    | 'maxResponseBytes'
    | 'requestTimeoutMs'
    | 'requestHandlerTimeoutMs'
    | 'maxSyncStreamsPerConnection'
  >;
  readonly reqresp: ReqResp;
  readonly handlers: SyncHandlers;
  readonly validator: MessageValidator;
  readonly penalties: Penalties;
}

export interface SyncProtocol {
  /** Sends one message; resolves to the peer's verdict on it. */
  sendDirect(peerId: string, kind: TopicKind, bytes: Uint8Array, opts?: RequestOptions): Promise<Verdict>;
  request(peerId: string, kind: RequestKind, bytes: Uint8Array, opts?: RequestOptions): Promise<Uint8Array>;
}

/** Serves the sync protocol and returns its client side. */
export async function registerSyncProtocol(deps: SyncDeps): Promise<SyncProtocol> {
  const { opts, handlers, validator, penalties } = deps;

  const handle = async (frame: Uint8Array, from: string): Promise<Uint8Array> => {
    const request = decodeRequest(frame);
    switch (request.type) {
      case 'blocks':
        if (request.body.length > opts.maxRequestBytes) {
          throw new RequestRefused('tooLarge', `a blocks request is at most ${opts.maxRequestBytes} bytes`);
        }
        return handlers.onRequest('blocks', request.body, from);
      case 'direct': {
        // An oversized message is a rejected message, as on gossip (the validator checks).
        const verdict = await validator.validate(request.topic, request.body, from);
        if (verdict === 'accept') validator.deliver(request.topic, request.body, from, 'direct');
        if (verdict === 'reject') penalties.add(from);
        return encodeVerdict(verdict);
      }
      default: {
        const never: never = request;
        throw new Error(`unhandled request ${String(never)}`);
      }
    }
  };

  const client: ProtocolClient = await deps.reqresp.register({
    protocol: syncProtocol(opts.chainId),
    // A frame big enough for either request type; each is then checked against its own bound.
    maxRequestBytes: Math.max(opts.maxRequestBytes, opts.maxMessageBytes) + HEADER_BYTES,
    maxResponseBytes: opts.maxResponseBytes,
    timeoutMs: opts.requestTimeoutMs,
    handlerTimeoutMs: opts.requestHandlerTimeoutMs,
    maxInFlightPerPeer: opts.maxSyncStreamsPerConnection,
    handle,
  });

  return {
    async sendDirect(peerId, kind, bytes, ropts = {}) {
      checkOutgoing(kind, bytes, opts.maxMessageBytes);
      const frame = encodeRequest({ type: 'direct', topic: kind, body: bytes });
      const body = await client.request(peerId, frame, { ...ropts, maxResponseBytes: 1 });
      return decodeVerdict(body, peerId);
    },

    async request(peerId, kind, bytes, ropts = {}) {
      if (!REQUEST_KINDS.includes(kind)) {
        throw new CareLedgerError('P2P_UNKNOWN_REQUEST', `no request kind ${String(kind)}`);
      }
      checkBytes(bytes);
      if (bytes.length > opts.maxRequestBytes) {
        throw new CareLedgerError(
          'P2P_REQUEST_TOO_LARGE',
          `request of ${bytes.length} bytes is over the limit of ${opts.maxRequestBytes}`,
        );
      }
      return client.request(peerId, encodeRequest({ type: kind, body: bytes }), ropts);
    },
  };
}
