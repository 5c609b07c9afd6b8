/**
 * ed25519 keys, signing and the one verifier of the chain: txs, votes, proposals, commits,
 * evidence, block sync and the light client all verify through `verifySignature`.
 *
 * Which signatures are valid is a consensus rule: two nodes that disagree on one signature can
 * split on a block. The rule is libsodium's `crypto_sign_verify_detached` (sodium-native, exact
 * version pinned in package.json), about 2.35x OpenSSL's `crypto.verify` here and 30x pure JS:
 *  - A (public key) and R must be canonical encodings of points not of small order;
 *  - S must be canonical (S < L);
 *  - the equation is checked without the cofactor ([S]B = R + [k]A);
 *  - keys and signatures of the wrong length are invalid (false, never an exception).
 * On the ed25519-speccheck edge cases this accepts exactly case 3 of 0..11 (mixed-order A and R,
 * everything canonical) — the same answers as Node 24's OpenSSL — and `verifier-rules.ts` pins
 * them: a node whose build answers otherwise refuses to start. Noble's default (ZIP-215) accepts
 * more and is never used to verify.
 *
 * Signing stays with OpenSSL (RFC 8032 signing is deterministic: every library gives the same
 * bytes, so it is no consensus rule).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import sodium from 'sodium-native';
import { FifoKeys } from '../core/bounded-keys.ts';
import { CareLedgerError } from '../core/errors.ts';

export const PUBLIC_KEY_BYTES = 32;
export const SECRET_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

// DER prefixes that wrap a raw 32-byte key as SPKI (public) and PKCS#8 (private) for OpenSSL.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface KeyPair {
  readonly publicKey: Uint8Array;
  /** The 32-byte seed. */
  readonly secretKey: Uint8Array;
}

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  if (secretKey.length !== SECRET_KEY_BYTES)
    throw new CareLedgerError('KEY_INVALID', 'secret key must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
}

export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  const publicDer = createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' });
  return {
    publicKey: new Uint8Array(publicDer.subarray(SPKI_PREFIX.length)),
    secretKey: new Uint8Array(seed),
  };
}

export function generateKeyPair(): KeyPair {
  return keyPairFromSeed(randomBytes(SECRET_KEY_BYTES));
}

/** A signer bound to one secret key, so the key object is built once. */
export function signerFor(secretKey: Uint8Array): (message: Uint8Array) => Uint8Array {
  const key = privateKeyObject(secretKey);
  return (message) => new Uint8Array(sign(null, message, key));
}

export function signMessage(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  return signerFor(secretKey)(message);
}

/**
 * Signatures already verified, by a hash of (key, signature, message). The same vote reaches a
 * node in gossip, then in a commit, then in catch-ups: a hit costs about a fortieth of a verify.
 * Only successes are remembered, so invalid input cannot fill it. Eviction is first-in first-out
 * (packages/core/bounded-keys.ts: deleting from the front of a large Set is slow in V8).
 */
const VERIFIED_CACHE_LIMIT = 50_000;
const verified = new FifoKeys(VERIFIED_CACHE_LIMIT);

/**
 * The consensus verifier. Malformed keys or signatures verify as false, never throw.
 *
 * `cacheId` spares the hash of (key, signature, message) that keys the verified cache, for a
 * caller that already holds a hash binding all three: it must be a string that no other (key,
 * signature, message) can produce, and must contain a ':' (the built-in ids are base64, which has
 * none, so the two kinds never collide). A tx uses `tx:<chain id>:<tx hash hex>` (txVerifyId): the tx
 * hash is the sha256 of the encoded signer, nonce, payload and signature, and with the chain id
 * they fix the signed message. An id without a ':' is the caller's bug and throws.
 */
export function verifySignature(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  cacheId?: string,
): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  if (cacheId !== undefined && !cacheId.includes(':'))
    throw new CareLedgerError('CRYPTO_ARGUMENT_INVALID', 'a verify cache id must contain a colon');
  const id =
    cacheId ?? createHash('sha256').update(publicKey).update(signature).update(message).digest('base64');
  if (verified.has(id)) return true;
  if (!verifyUncached(publicKey, message, signature)) return false;
  verified.add(id);
  return true;
}

/** The chain's rule itself, without the verified cache (the start-up self-check runs this). */
export function verifyUncached(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  return verifyDetached(signature, message, publicKey);
}

/**
 * libsodium's crypto_sign_verify_detached. sodium-native 5 takes any typed array (it checks
 * ArrayBuffer.isView); its type package says Buffer, and wrapping each argument in a Buffer view
 * was 1 % of a loaded node's CPU.
 */
const verifyDetached = sodium.crypto_sign_verify_detached as (
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
) => boolean;

/** The verified-cache id of a tx's signature (see verifySignature): its chain and its hash. */
export function txVerifyId(chainId: string, txHash: Uint8Array): string {
  return `tx:${chainId}:${Buffer.from(txHash.buffer, txHash.byteOffset, txHash.byteLength).toString('hex')}`;
}
