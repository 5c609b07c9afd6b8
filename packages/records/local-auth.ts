/**
 * The `x-careledger-auth` header of the node's local records API (RECORDS-CONTRACT "Local API"):
 * an institution's own systems prove each request to their node with a signature of a member key
 * (or a patient key), bound to the chain, the method, the path and the body, fresh, and used once.
 *
 *   sign bytes = canonical [ 'careledger/local-api/v1', chainId, method, path, bodyHash(32),
 *                            timeMs(u64), nonce(16), signerPubKey(32) ]
 *   header     = base64 of canonical [ ...the sign bytes' elements, signature(64) ]
 *
 * `bodyHash` is the sha256 of the body (for an upload, the ciphertext's sha256, which is also the
 * blob's name, so the node checks it while streaming instead of buffering the body first).
 * The node accepts a time within ±2 minutes of its clock (LOCAL_AUTH_WINDOW_MS) and remembers
 * the nonces it has seen for as long as their time is inside that window (`LocalAuthReplayCache`),
 * so a captured header works at most once. Who the signer may be (an active member of this node,
 * a patient) is the node's decision, not this module's: it only returns the verified key.
 * Used by both sides: the client signs, the node verifies.
 */
import { randomBytes } from 'node:crypto';
import { type Canonical, decode, encode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { CareLedgerError } from '../core/errors.ts';
import { SignDomain, signBytes } from '../crypto/domain.ts';
import {
  type KeyPair,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  signMessage,
  verifySignature,
} from '../crypto/ed25519.ts';
import { equalBytes, HASH_BYTES } from '../crypto/hash.ts';
import { MAX_CHAIN_ID_LENGTH } from '../types/block.ts';

export const LOCAL_AUTH_HEADER = 'x-careledger-auth';
export const LOCAL_AUTH_NONCE_BYTES = 16;
/** How far a request's time may be from the node's clock, either way. */
export const LOCAL_AUTH_WINDOW_MS = 2 * 60_000;
/** A valid header is under 400 characters; anything far longer is refused before decoding. */
const MAX_HEADER_CHARS = 2048;
const MAX_METHOD_CHARS = 16;
const MAX_PATH_CHARS = 512;

export const LocalAuthErrorCode = {
  /** No header on a route that needs one (HTTP 401). */
  required: 'LOCAL_AUTH_REQUIRED',
  /** Malformed, for another chain/method/path/body, out of the time window, or a bad signature (401). */
  invalid: 'LOCAL_AUTH_INVALID',
  /** A header already used inside the window (401). */
  replayed: 'LOCAL_AUTH_REPLAYED',
  /** A valid signature by a key that may not use this route (403; decided by the node). */
  forbidden: 'LOCAL_AUTH_FORBIDDEN',
  /** The replay cache is full of live nonces: refused rather than forgetting one (503). */
  busy: 'LOCAL_AUTH_BUSY',
} as const;
export type LocalAuthErrorCode = (typeof LocalAuthErrorCode)[keyof typeof LocalAuthErrorCode];

export function localAuthError(code: LocalAuthErrorCode, message: string): CareLedgerError {
  return new CareLedgerError(code, message);
}

/** What one request is: the fields both sides must agree on. */
export interface LocalAuthTarget {
  readonly chainId: string;
  /** Upper-case HTTP method, e.g. 'PUT'. */
  readonly method: string;
  /** The request path without the query, e.g. '/records/blobs/<sha256hex>'. */
  readonly path: string;
  /** sha256 of the body (of the empty body for a GET). */
  readonly bodyHash: Uint8Array;
}

export interface LocalAuthSignInput extends LocalAuthTarget {
  readonly key: KeyPair;
  /** Unix ms; default Date.now(). */
  readonly timeMs?: number;
  /** 16 bytes; default random. Tests pass fixed ones. */
  readonly nonce?: Uint8Array;
}

export interface VerifiedLocalAuth {
  readonly signerPubKey: Uint8Array;
  readonly timeMs: number;
  readonly nonce: Uint8Array;
}

function checkTarget(t: LocalAuthTarget): void {
  if (typeof t.method !== 'string' || !/^[A-Z]{1,16}$/.test(t.method))
    throw localAuthError(LocalAuthErrorCode.invalid, 'the method is an upper-case HTTP method');
  if (typeof t.path !== 'string' || !t.path.startsWith('/') || t.path.length > MAX_PATH_CHARS)
    throw localAuthError(
      LocalAuthErrorCode.invalid,
      `the path starts with / and is at most ${MAX_PATH_CHARS} characters`,
    );
  if (!(t.bodyHash instanceof Uint8Array) || t.bodyHash.length !== HASH_BYTES)
    throw localAuthError(LocalAuthErrorCode.invalid, 'the body hash is 32 bytes');
}

function authFields(
  t: LocalAuthTarget,
  timeMs: number,
  nonce: Uint8Array,
  signerPubKey: Uint8Array,
): Canonical[] {
  return [t.method, t.path, t.bodyHash, BigInt(timeMs), nonce, signerPubKey];
}

/** What the signer signs. */
export function localAuthSignBytes(
  t: LocalAuthTarget,
  timeMs: number,
  nonce: Uint8Array,
  signerPubKey: Uint8Array,
): Uint8Array {
  return signBytes(SignDomain.localApi, t.chainId, authFields(t, timeMs, nonce, signerPubKey));
}

/** The header value for one request. */
export function signLocalAuth(input: LocalAuthSignInput): string {
  checkTarget(input);
  const timeMs = input.timeMs ?? Date.now();
  const nonce = input.nonce ?? new Uint8Array(randomBytes(LOCAL_AUTH_NONCE_BYTES));
  if (!Number.isSafeInteger(timeMs) || timeMs < 0)
    throw localAuthError(LocalAuthErrorCode.invalid, 'the time is a non-negative integer of ms');
  if (nonce.length !== LOCAL_AUTH_NONCE_BYTES)
    throw localAuthError(LocalAuthErrorCode.invalid, `the nonce is ${LOCAL_AUTH_NONCE_BYTES} bytes`);
  const pub = input.key.publicKey;
  const signature = signMessage(input.key.secretKey, localAuthSignBytes(input, timeMs, nonce, pub));
  const bytes = encode([
    SignDomain.localApi,
    input.chainId,
    ...authFields(input, timeMs, nonce, pub),
    signature,
  ]);
  return Buffer.from(bytes).toString('base64');
}

interface DecodedLocalAuth {
  readonly chainId: string;
  readonly method: string;
  readonly path: string;
  readonly bodyHash: Uint8Array;
  readonly timeMs: number;
  readonly nonce: Uint8Array;
  readonly signerPubKey: Uint8Array;
  readonly signature: Uint8Array;
}

function decodeHeader(header: string): DecodedLocalAuth {
  if (header.length > MAX_HEADER_CHARS || !/^[A-Za-z0-9+/]+=*$/.test(header))
    throw localAuthError(LocalAuthErrorCode.invalid, 'the auth header is not base64 of a known size');
  try {
    const f = s.tuple(decode(Buffer.from(header, 'base64')), 9, 'local auth');
    if (f[0] !== SignDomain.localApi) throw new Error('not a local API authorization');
    const time = s.u64(f[5]!, 'timeMs');
    if (time > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('timeMs: out of range');
    return {
      chainId: s.string(f[1]!, 'chainId', MAX_CHAIN_ID_LENGTH),
      method: s.string(f[2]!, 'method', MAX_METHOD_CHARS),
      path: s.string(f[3]!, 'path', MAX_PATH_CHARS),
      bodyHash: s.bytes(f[4]!, 'bodyHash', HASH_BYTES),
      timeMs: Number(time),
      nonce: s.bytes(f[6]!, 'nonce', LOCAL_AUTH_NONCE_BYTES),
      signerPubKey: s.bytes(f[7]!, 'signerPubKey', PUBLIC_KEY_BYTES),
      signature: s.bytes(f[8]!, 'signature', SIGNATURE_BYTES),
    };
  } catch (err) {
    throw localAuthError(
      LocalAuthErrorCode.invalid,
      `the auth header does not decode: ${(err as Error).message}`,
    );
  }
}

/**
 * Verifies a header against the request the node received, at the node's clock `now` (unix ms).
 * Throws LOCAL_AUTH_REQUIRED (no header) or LOCAL_AUTH_INVALID (anything else wrong). Does not
 * consult the replay cache: the node calls `LocalAuthReplayCache.check` next (kept apart so this
 * stays a pure function of its inputs, testable without state).
 */
export function verifyLocalAuth(
  header: string | undefined | null,
  expect: LocalAuthTarget & { readonly now: number },
): VerifiedLocalAuth {
  if (header === undefined || header === null || header === '')
    throw localAuthError(LocalAuthErrorCode.required, `this route needs an ${LOCAL_AUTH_HEADER} header`);
  checkTarget(expect);
  const h = decodeHeader(header);
  if (h.chainId !== expect.chainId)
    throw localAuthError(LocalAuthErrorCode.invalid, `the request was signed for chain ${h.chainId}`);
  if (h.method !== expect.method || h.path !== expect.path)
    throw localAuthError(LocalAuthErrorCode.invalid, `the request was signed for ${h.method} ${h.path}`);
  if (!equalBytes(h.bodyHash, expect.bodyHash))
    throw localAuthError(LocalAuthErrorCode.invalid, 'the request was signed for another body');
  const skew = Math.abs(h.timeMs - expect.now);
  if (skew > LOCAL_AUTH_WINDOW_MS)
    throw localAuthError(
      LocalAuthErrorCode.invalid,
      `the request's time is ${skew} ms from the node's clock (at most ${LOCAL_AUTH_WINDOW_MS})`,
    );
  const message = localAuthSignBytes(h, h.timeMs, h.nonce, h.signerPubKey);
  if (!verifySignature(h.signerPubKey, message, h.signature))
    throw localAuthError(LocalAuthErrorCode.invalid, 'the signature does not verify');
  return { signerPubKey: h.signerPubKey, timeMs: h.timeMs, nonce: h.nonce };
}

export interface ReplayCacheOptions {
  /** The most live nonces remembered; past it, new requests are refused (LOCAL_AUTH_BUSY). */
  readonly capacity: number;
  /** How long a nonce is remembered after its time: the acceptance window (default ±2 min). */
  readonly windowMs?: number;
}

/**
 * The nonces seen inside the acceptance window. A nonce whose request time is more than the window
 * in the past cannot pass `verifyLocalAuth` again, so it is forgotten then. When full of live
 * nonces the cache refuses new ones (never forgets a live one: that would let it be replayed).
 * Keyed by (signer, nonce), so one client cannot burn another's nonces.
 */
export class LocalAuthReplayCache {
  readonly #capacity: number;
  readonly #windowMs: number;
  /** key -> the time after which it may be forgotten; insertion order ≈ expiry order. */
  readonly #seen = new Map<string, number>();

  constructor(options: ReplayCacheOptions) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1)
      throw new CareLedgerError('CONFIG_INVALID', 'the replay cache capacity is a positive integer');
    this.#capacity = options.capacity;
    this.#windowMs = options.windowMs ?? LOCAL_AUTH_WINDOW_MS;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Records the header's nonce; throws LOCAL_AUTH_REPLAYED if seen, LOCAL_AUTH_BUSY if full. */
  check(auth: VerifiedLocalAuth, now: number): void {
    const key = `${Buffer.from(auth.signerPubKey).toString('hex')}:${Buffer.from(auth.nonce).toString('hex')}`;
    this.#prune(now);
    if (this.#seen.has(key))
      throw localAuthError(LocalAuthErrorCode.replayed, 'this request was already received');
    if (this.#seen.size >= this.#capacity) {
      // Times are not monotonic across clients: look for any expired entry before refusing.
      for (const [k, until] of this.#seen) if (until < now) this.#seen.delete(k);
      if (this.#seen.size >= this.#capacity)
        throw localAuthError(LocalAuthErrorCode.busy, 'too many requests in the replay window; retry later');
    }
    this.#seen.set(key, auth.timeMs + this.#windowMs);
  }

  /** Drops expired entries from the front (the common case: times arrive roughly in order). */
  #prune(now: number): void {
    for (const [k, until] of this.#seen) {
      if (until >= now) return;
      this.#seen.delete(k);
    }
  }
}
