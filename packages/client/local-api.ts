/**
 * The client of a node's local records API (RECORDS-CONTRACT "Local API"): how an institution's
 * own systems reach their node's vault, on the node's RPC listener under /records/.
 *
 *   PUT  /records/blobs/<sha256hex>          upload a ciphertext envelope (streamed) with its key material
 *   POST /records/fetch                      a signed fetch request in, the ciphertext and wrapped key out
 *   GET  /records/blobs/<sha256hex>/status   pending | anchored | erased | unknown
 *
 * Every request but the fetch (which carries the requester's own signature) is signed with
 * `x-careledger-auth` (packages/records/local-auth.ts) by the key given here, fresh per request.
 * Plain node:http rather than `fetch`: an upload streams a file of known length (content-length,
 * not chunked), and a release streams back without being buffered.
 *
 * A refusal (`{"code", "message"}` with a 4xx/5xx status) becomes a ClientError with the node's
 * code (ACCESS_NO_CONSENT, RECORD_ERASED, CUSTODIAN_UNAVAILABLE, LOCAL_AUTH_INVALID, …) and the
 * HTTP status in `details.status`. Transport failures are CLIENT_RPC_UNREACHABLE /
 * CLIENT_RPC_TIMEOUT, and anything malformed CLIENT_RESPONSE_INVALID, as for the JSON-RPC client.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import type { KeyPair } from '../crypto/ed25519.ts';
import { HASH_BYTES, sha256, toHex } from '../crypto/hash.ts';
import { encodeKeyMaterial, type KeyMaterial } from '../records/key-material.ts';
import { LOCAL_AUTH_HEADER, signLocalAuth } from '../records/local-auth.ts';
import { ClientError, nodeUrl } from './rpc.ts';

export const KEY_MATERIAL_HEADER = 'x-careledger-key-material';
export const RELEASE_HEADER = 'x-careledger-release';
export const ACCESS_HEIGHT_HEADER = 'x-careledger-access-height';
export const WRAPPED_KEY_HEADER = 'x-careledger-wrapped-key';

/** The status of a ciphertext in a node's vault. */
export type BlobStatus = 'pending' | 'anchored' | 'erased' | 'unknown';
const BLOB_STATUSES: readonly BlobStatus[] = ['pending', 'anchored', 'erased', 'unknown'];

export interface LocalApiOptions {
  /** The node's RPC address: http(s)://host:port, or tcp://host:port. */
  readonly nodeUrl: string;
  readonly chainId: string;
  /** Signs x-careledger-auth: the member's key (or the patient's). */
  readonly key: KeyPair;
  /** Longest silence on a connection before it is given up (default 120 s: a release waits for a block). */
  readonly idleTimeoutMs?: number;
}

/** A release as the node sent it: not yet verified (records.ts does that). */
export interface ReleaseResponse {
  readonly releaseId: Uint8Array;
  readonly accessHeight: bigint;
  readonly wrappedKey: Uint8Array;
  /** The content-length the node declared. */
  readonly size: bigint;
  /** The ciphertext envelope; the caller consumes or destroys it. */
  readonly body: Readable;
}

/** The largest JSON answer read (a refusal, an upload receipt, a status). */
const MAX_JSON_BYTES = 16 * 1024;
const EMPTY_HASH = sha256(new Uint8Array(0));

function badResponse(what: string, why: string): ClientError {
  return new ClientError('CLIENT_RESPONSE_INVALID', `local API: ${what} ${why}`, { field: what });
}

export class LocalApi {
  readonly #base: URL;
  readonly #chainId: string;
  readonly #key: KeyPair;
  readonly #idleMs: number;

  constructor(options: LocalApiOptions) {
    this.#base = nodeUrl(options.nodeUrl, 'node url');
    this.#chainId = options.chainId;
    this.#key = options.key;
    this.#idleMs = options.idleTimeoutMs ?? 120_000;
  }

  /**
   * Uploads the envelope whose sha256 is `hash` and length `size`, read from `body`, with its key
   * material. Resolves when the node has stored it (pending until the anchor commits).
   */
  async putBlob(hash: Uint8Array, size: bigint, body: Readable, material: KeyMaterial): Promise<void> {
    const path = `/records/blobs/${blobName(hash)}`;
    const encoded = encodeKeyMaterial(material);
    const headers = {
      ...this.#auth('PUT', path, hash),
      [KEY_MATERIAL_HEADER]: Buffer.from(encoded).toString('base64'),
      'content-type': 'application/octet-stream',
      'content-length': size.toString(),
    };
    encoded.fill(0);
    const res = await this.#send('PUT', path, headers, body);
    const answer = await jsonOf(res, 201, 'upload');
    if (answer.sha256 !== toHex(hash) || answer.size !== Number(size))
      throw badResponse('upload', 'acknowledged other bytes than those sent');
  }

  /** Sends an encoded signed fetch request; the node answers with the release or a refusal. */
  async fetch(requestBytes: Uint8Array): Promise<ReleaseResponse> {
    const res = await this.#send(
      'POST',
      '/records/fetch',
      { 'content-type': 'application/octet-stream', 'content-length': String(requestBytes.length) },
      requestBytes,
    );
    if (res.statusCode !== 200) throw await refusalOf(res, 'fetch');
    try {
      return {
        releaseId: hexHeader(res, RELEASE_HEADER, HASH_BYTES),
        accessHeight: uintHeader(res, ACCESS_HEIGHT_HEADER),
        wrappedKey: base64Header(res, WRAPPED_KEY_HEADER),
        size: uintHeader(res, 'content-length'),
        body: res,
      };
    } catch (err) {
      res.destroy();
      throw err;
    }
  }

  /** Where the ciphertext `hash` stands in the node's vault. */
  async status(hash: Uint8Array): Promise<BlobStatus> {
    const path = `/records/blobs/${blobName(hash)}/status`;
    const res = await this.#send('GET', path, this.#auth('GET', path, EMPTY_HASH), null);
    const answer = await jsonOf(res, 200, 'status');
    const status = answer.status;
    if (!BLOB_STATUSES.includes(status as BlobStatus)) throw badResponse('status', 'is not a known status');
    return status as BlobStatus;
  }

  #auth(method: string, path: string, bodyHash: Uint8Array): OutgoingHttpHeaders {
    return {
      [LOCAL_AUTH_HEADER]: signLocalAuth({ chainId: this.#chainId, method, path, bodyHash, key: this.#key }),
    };
  }

  /** One request; resolves with the response once its headers arrive. */
  #send(
    method: string,
    path: string,
    headers: OutgoingHttpHeaders,
    body: Readable | Uint8Array | null,
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.#base);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers }, (res) => {
        // The response is the caller's now; a stall while it reads is still bounded.
        res.setTimeout(this.#idleMs, () => res.destroy(timeoutError(method, path, this.#idleMs)));
        resolve(res);
      });
      req.setTimeout(this.#idleMs, () => req.destroy(timeoutError(method, path, this.#idleMs)));
      req.on('error', (err) => {
        if (body !== null && !(body instanceof Uint8Array)) body.destroy();
        if (err instanceof ClientError) reject(err);
        else
          reject(
            new ClientError(
              'CLIENT_RPC_UNREACHABLE',
              `${method} ${path}: cannot reach ${this.#base.host} (${(err as NodeJS.ErrnoException).code ?? err.message})`,
            ),
          );
      });
      if (body === null) req.end();
      else if (body instanceof Uint8Array) req.end(body);
      else {
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      }
    });
  }
}

function timeoutError(method: string, path: string, ms: number): ClientError {
  return new ClientError('CLIENT_RPC_TIMEOUT', `${method} ${path}: no progress for ${ms} ms`);
}

function blobName(hash: Uint8Array): string {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_BYTES)
    throw new ClientError('CLIENT_INPUT_INVALID', 'a ciphertext hash is 32 bytes');
  return toHex(hash);
}

/** The body as text, refused past MAX_JSON_BYTES. */
async function textOf(res: IncomingMessage, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BYTES) {
      res.destroy();
      throw badResponse(what, `is longer than ${MAX_JSON_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function objectOf(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badResponse(what, 'is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw badResponse(what, 'is not a JSON object');
  return value as Record<string, unknown>;
}

/** The JSON answer of a request that succeeds with `status`; a refusal otherwise. */
async function jsonOf(res: IncomingMessage, status: number, what: string): Promise<Record<string, unknown>> {
  if (res.statusCode !== status) throw await refusalOf(res, what);
  return objectOf(await textOf(res, what), what);
}

/** The node's refusal as a ClientError with its code; the status alone if the body says nothing usable. */
async function refusalOf(res: IncomingMessage, what: string): Promise<ClientError> {
  const status = res.statusCode ?? 0;
  const text = await textOf(res, what);
  let answer: Record<string, unknown> | null = null;
  try {
    answer = objectOf(text, what);
  } catch {
    // Not a refusal in the contract's form: reported by its status below.
  }
  const code = answer?.code;
  const message = answer?.message;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code))
    return new ClientError(code, typeof message === 'string' ? message.slice(0, 500) : `${what} refused`, {
      status,
    });
  return new ClientError('CLIENT_RESPONSE_INVALID', `local API: ${what} answered HTTP ${status}`, { status });
}

function header(res: IncomingMessage, name: string): string {
  const value = res.headers[name];
  if (typeof value !== 'string' || value.length === 0) throw badResponse(name, 'is missing');
  return value;
}

function uintHeader(res: IncomingMessage, name: string): bigint {
  const value = header(res, name);
  if (!/^(0|[1-9][0-9]{0,18})$/.test(value)) throw badResponse(name, 'is not a whole number');
  return BigInt(value);
}

function hexHeader(res: IncomingMessage, name: string, length: number): Uint8Array {
  const value = header(res, name);
  if (!new RegExp(`^[0-9a-f]{${2 * length}}$`).test(value))
    throw badResponse(name, `is not ${length} bytes in lower-case hex`);
  return new Uint8Array(Buffer.from(value, 'hex'));
}

function base64Header(res: IncomingMessage, name: string): Uint8Array {
  const value = header(res, name);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length === 0 || bytes.length > 1024 || bytes.toString('base64') !== value)
    throw badResponse(name, 'is not canonical base64');
  return new Uint8Array(bytes);
}
