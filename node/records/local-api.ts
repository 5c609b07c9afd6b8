/**
 * The local records API (RECORDS-CONTRACT "Local API"): how an institution's own systems use
 * their node's vault and fetch records through it, on the RPC listener under /records/.
 *
 *   PUT  /records/blobs/<sha256hex>          upload a ciphertext (auth: this node's member key)
 *   GET  /records/blobs/<sha256hex>/status   pending | anchored | erased | unknown (auth: same)
 *   POST /records/fetch                      a signed fetch request in, the record out (the
 *                                            request is its own authentication)
 *
 * Auth (packages/records/local-auth.ts): the signature must verify for this chain, method, path
 * and body hash, within ±2 min; then the key must be this node's member's key on chain
 * (LOCAL_AUTH_FORBIDDEN otherwise); then the nonce is consumed (LOCAL_AUTH_REPLAYED on reuse).
 * Errors answer JSON {"code", "message"} with the status of refusals.ts; a fetch that is refused
 * releases no bytes. An upload is hashed as it streams and refused (VAULT_HASH_MISMATCH, nothing
 * kept) unless it hashes to its path.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MAX_RECORD_REQUEST_BYTES } from '../../p2p/record-exchange.ts';
import { CareLedgerError } from '../../packages/core/errors.ts';
import { equalBytes, fromHex, sha256, toHex } from '../../packages/crypto/hash.ts';
import { decodeKeyMaterial } from '../../packages/records/key-material.ts';
import {
  LOCAL_AUTH_HEADER,
  LocalAuthErrorCode,
  type LocalAuthReplayCache,
  localAuthError,
  verifyLocalAuth,
} from '../../packages/records/local-auth.ts';
import type { HttpRoute } from '../rpc/server.ts';
import type { Vault } from '../vault/vault.ts';
import type { RecordsChain } from './chain-view.ts';
import type { FetchResult } from './forward.ts';
import { countApiRefusal, type RecordsMetrics } from './metrics.ts';
import { httpStatusOf, RecordsCode, recordsError } from './refusals.ts';

export const KEY_MATERIAL_HEADER = 'x-careledger-key-material';
const EMPTY_BODY_HASH = sha256(new Uint8Array(0));
const BLOB = /^\/records\/blobs\/([0-9a-f]{64})$/;
const STATUS = /^\/records\/blobs\/([0-9a-f]{64})\/status$/;

export interface LocalApiDeps {
  readonly chainId: string;
  readonly peerId: string;
  readonly chain: RecordsChain;
  /** The open vault, or null while the service is not running. */
  readonly vault: () => Vault | null;
  readonly fetch: (request: Uint8Array) => Promise<FetchResult>;
  readonly replay: LocalAuthReplayCache;
  /** How long a request's body may take to arrive (records.upload_timeout_ms); the RPC server enforces it. */
  readonly requestTimeoutMs?: number;
  readonly metrics?: RecordsMetrics | null;
  readonly nowMs?: () => number;
}

function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(text);
}

function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  err: unknown,
  metrics: RecordsMetrics | null,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const known = err instanceof CareLedgerError;
  const code = known ? err.code : 'RECORDS_INTERNAL';
  countApiRefusal(metrics, code);
  const status = known ? httpStatusOf(code) : 500;
  // A refused upload's body is not read: close the connection rather than drain it.
  const unread = !req.readableEnded;
  sendJson(res, status, { code, message: known ? err.message : 'internal error' }, unread);
  if (unread) res.once('finish', () => req.destroy());
}

/** The body, at most `max` bytes (RECORDS_REQUEST_INVALID past it). */
async function readSmallBody(req: IncomingMessage, max: number): Promise<Uint8Array> {
  if (Number(req.headers['content-length'] ?? 0) > max)
    throw recordsError(RecordsCode.requestInvalid, `the body is at most ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw recordsError(RecordsCode.requestInvalid, `the body is at most ${max} bytes`);
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** The request's chunks, hashed on the way; the end throws VAULT_HASH_MISMATCH unless it is `expected`. */
async function* hashedBody(req: IncomingMessage, expected: Uint8Array): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  for await (const chunk of req as AsyncIterable<Buffer>) {
    hash.update(chunk);
    yield chunk;
  }
  if (!equalBytes(new Uint8Array(hash.digest()), expected))
    throw recordsError(RecordsCode.hashMismatch, 'the uploaded bytes do not hash to the sha256 of the path');
}

export class LocalRecordsApi implements HttpRoute {
  readonly prefix = '/records';
  readonly requestTimeoutMs: number | undefined;
  readonly #d: LocalApiDeps;

  constructor(deps: LocalApiDeps) {
    this.#d = deps;
    this.requestTimeoutMs = deps.requestTimeoutMs;
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      const path = url.pathname;
      const blob = BLOB.exec(path);
      const status = STATUS.exec(path);
      if (req.method === 'PUT' && blob !== null) return await this.#upload(req, res, path, fromHex(blob[1]!));
      if (req.method === 'GET' && status !== null)
        return await this.#status(req, res, path, fromHex(status[1]!));
      if (req.method === 'POST' && path === '/records/fetch') return await this.#fetch(req, res);
      throw recordsError(RecordsCode.routeUnknown, `no route ${req.method} ${path}`);
    } catch (err) {
      sendError(req, res, err, this.#d.metrics ?? null);
    }
  }

  #vault(): Vault {
    const vault = this.#d.vault();
    if (vault === null) throw recordsError(RecordsCode.unavailable, 'the records service is not running');
    return vault;
  }

  /** Checks the auth header; the signer must be this node's member. */
  async #authorize(req: IncomingMessage, method: string, path: string, bodyHash: Uint8Array): Promise<void> {
    const now = (this.#d.nowMs ?? Date.now)();
    const header = req.headers[LOCAL_AUTH_HEADER];
    if (Array.isArray(header))
      throw localAuthError(LocalAuthErrorCode.invalid, 'one auth header per request');
    const auth = verifyLocalAuth(header, { chainId: this.#d.chainId, method, path, bodyHash, now });
    const own = await this.#d.chain.memberOfNode(this.#d.peerId);
    if (own === null || !equalBytes(own.pubKey, auth.signerPubKey))
      throw localAuthError(LocalAuthErrorCode.forbidden, "the signer is not this node's member");
    this.#d.replay.check(auth, now);
  }

  async #upload(req: IncomingMessage, res: ServerResponse, path: string, hash: Uint8Array): Promise<void> {
    await this.#authorize(req, 'PUT', path, hash);
    const vault = this.#vault();
    const materialHeader = req.headers[KEY_MATERIAL_HEADER];
    if (
      typeof materialHeader !== 'string' ||
      !/^[A-Za-z0-9+/]+=*$/.test(materialHeader) ||
      materialHeader.length > 200
    )
      throw recordsError(
        RecordsCode.requestInvalid,
        `the ${KEY_MATERIAL_HEADER} header is base64 key material`,
      );
    const material = decodeKeyMaterial(new Uint8Array(Buffer.from(materialHeader, 'base64')));
    try {
      const stored = await vault.upload(hashedBody(req, hash), material);
      const state = await vault.status(stored.sha256);
      sendJson(res, 201, { sha256: toHex(stored.sha256), size: stored.size, pending: state === 'pending' });
    } finally {
      material.dataKey.fill(0);
    }
  }

  async #status(req: IncomingMessage, res: ServerResponse, path: string, hash: Uint8Array): Promise<void> {
    await this.#authorize(req, 'GET', path, EMPTY_BODY_HASH);
    sendJson(res, 200, { status: await this.#vault().status(hash) });
  }

  async #fetch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const request = await readSmallBody(req, MAX_RECORD_REQUEST_BYTES);
    const result = await this.#d.fetch(request);
    if (!result.ok) {
      countApiRefusal(this.#d.metrics ?? null, result.code);
      sendJson(res, httpStatusOf(result.code), { code: result.code, message: result.message });
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': result.size,
      'x-careledger-release': toHex(result.releaseId),
      'x-careledger-access-height': result.accessHeight.toString(),
      'x-careledger-wrapped-key': Buffer.from(result.wrappedKey).toString('base64'),
    });
    try {
      await pipeline(Readable.from(result.body), res);
    } catch {
      // The client went away or the custodian's stream failed: a short body tells the client.
      result.cancel();
      res.destroy();
    }
  }
}
