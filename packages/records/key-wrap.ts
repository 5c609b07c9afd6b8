/**
 * A record's data key and commitment salt, wrapped for one requester with HPKE (RFC 9180, base
 * mode) via @hpke/core: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, every algorithm set
 * here explicitly. The recipient key is the member's record-encryption key published on chain.
 *
 * The HPKE `info` is sha256(canonical ['careledger/record/key/v1', chain id, record id, release
 * id]), so a wrapped key opens only for the record and the release (the committed access event's
 * 32-byte id) it was made for, on that chain: it cannot be replayed for another record or
 * release. (Hashed because the info length is bounded in older HPKE libraries.)
 *
 * Wrapped form: version 0x01 ‖ enc (32 bytes, the sender's ephemeral key) ‖ HPKE ciphertext of
 * the key material (key-material.ts). A custodian makes it at release time, in memory, and never
 * stores it: a stored copy would be one more thing to destroy at erasure.
 */
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { x25519 } from '@noble/curves/ed25519.js';
import { encode } from '../codec/canonical.ts';
import { sha256 } from '../crypto/hash.ts';
import { isIdOf } from '../health/ids.ts';
import { RecordErrorCode, recordError } from './errors.ts';
import {
  DATA_KEY_BYTES,
  decodeKeyMaterial,
  encodeKeyMaterial,
  type KeyMaterial,
  SALT_MAX_BYTES,
  SALT_MIN_BYTES,
} from './key-material.ts';

export const X25519_KEY_BYTES = 32;
export const RELEASE_ID_BYTES = 32;
const WRAP_VERSION = 0x01;
const ENC_BYTES = 32;
const HPKE_TAG_BYTES = 16;
const INFO_DOMAIN = 'careledger/record/key/v1';
const MAX_CHAIN_ID = 64;
const MIN_WRAPPED = 1 + ENC_BYTES + 1 + DATA_KEY_BYTES + SALT_MIN_BYTES + HPKE_TAG_BYTES;
const MAX_WRAPPED = 1 + ENC_BYTES + 1 + DATA_KEY_BYTES + SALT_MAX_BYTES + HPKE_TAG_BYTES;

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});

/** A member's record-encryption key pair, raw X25519 (RFC 7748) bytes. */
export interface RecordKeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/** What a wrapped key is bound to. */
export interface WrapContext {
  readonly chainId: string;
  /** The record's id (`r` + 32 hex digits). */
  readonly recordId: string;
  /** The 32-byte id of this release (e.g. the hash naming the committed access event). */
  readonly releaseId: Uint8Array;
}

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== X25519_KEY_BYTES)
    throw recordError(RecordErrorCode.inputInvalid, `${what} is ${X25519_KEY_BYTES} bytes`);
}

/** The HPKE info for `ctx`, after checking it. */
function infoOf(ctx: WrapContext): Uint8Array {
  if (typeof ctx.chainId !== 'string' || ctx.chainId.length === 0 || ctx.chainId.length > MAX_CHAIN_ID)
    throw recordError(RecordErrorCode.inputInvalid, `a chain id is 1 to ${MAX_CHAIN_ID} characters`);
  if (!isIdOf('record', ctx.recordId))
    throw recordError(RecordErrorCode.inputInvalid, 'a record id is r and 32 hex digits');
  if (!(ctx.releaseId instanceof Uint8Array) || ctx.releaseId.length !== RELEASE_ID_BYTES)
    throw recordError(RecordErrorCode.inputInvalid, `a release id is ${RELEASE_ID_BYTES} bytes`);
  return sha256(encode([INFO_DOMAIN, ctx.chainId, ctx.recordId, ctx.releaseId]));
}

export async function generateRecordKeyPair(): Promise<RecordKeyPair> {
  const pair = await suite.kem.generateKeyPair();
  return {
    publicKey: new Uint8Array(await suite.kem.serializePublicKey(pair.publicKey)),
    privateKey: new Uint8Array(await suite.kem.serializePrivateKey(pair.privateKey)),
  };
}

/** The key pair derived from `ikm` (RFC 9180 DeriveKeyPair, at least 32 bytes): for tests and vectors. */
export async function deriveRecordKeyPair(ikm: Uint8Array): Promise<RecordKeyPair> {
  if (!(ikm instanceof Uint8Array) || ikm.length < 32)
    throw recordError(RecordErrorCode.inputInvalid, 'key derivation input is at least 32 bytes');
  const pair = await suite.kem.deriveKeyPair(ikm);
  return {
    publicKey: new Uint8Array(await suite.kem.serializePublicKey(pair.publicKey)),
    privateKey: new Uint8Array(await suite.kem.serializePrivateKey(pair.privateKey)),
  };
}

/** The public key of a raw X25519 private key (to publish it on chain from a stored private key). */
export function recordPublicKeyOf(privateKey: Uint8Array): Uint8Array {
  checkKey(privateKey, 'a record-encryption private key');
  return x25519.getPublicKey(privateKey);
}

/** Throws RECORD_INPUT_INVALID unless `publicKey` is a usable raw X25519 public key. */
export async function checkRecordPublicKey(publicKey: Uint8Array): Promise<void> {
  checkKey(publicKey, 'a record-encryption public key');
  try {
    await suite.kem.deserializePublicKey(publicKey);
  } catch {
    throw recordError(RecordErrorCode.inputInvalid, 'not a usable X25519 public key');
  }
}

/** The data key and salt of a record, wrapped for the holder of `recipientPublicKey`. */
export async function wrapRecordKey(
  recipientPublicKey: Uint8Array,
  material: KeyMaterial,
  ctx: WrapContext,
): Promise<Uint8Array> {
  checkKey(recipientPublicKey, 'a record-encryption public key');
  const info = infoOf(ctx);
  const plaintext = encodeKeyMaterial(material);
  let sealed: { ct: ArrayBuffer; enc: ArrayBuffer };
  try {
    const recipientKey = await suite.kem.deserializePublicKey(recipientPublicKey);
    sealed = await suite.seal({ recipientPublicKey: recipientKey, info }, plaintext);
  } catch {
    // A low-order point makes the X25519 shared secret zero, which WebCrypto refuses.
    throw recordError(RecordErrorCode.inputInvalid, 'not a usable X25519 public key');
  } finally {
    plaintext.fill(0);
  }
  const enc = new Uint8Array(sealed.enc);
  const ct = new Uint8Array(sealed.ct);
  const out = new Uint8Array(1 + enc.length + ct.length);
  out[0] = WRAP_VERSION;
  out.set(enc, 1);
  out.set(ct, 1 + enc.length);
  return out;
}

/**
 * The data key and salt in `wrapped`, if it was made for this private key and exactly this
 * (chain, record, release); RECORD_KEY_UNWRAP_FAILED otherwise, RECORD_FORMAT_INVALID if the
 * bytes are not a wrapped key at all.
 */
export async function unwrapRecordKey(
  recipientPrivateKey: Uint8Array,
  wrapped: Uint8Array,
  ctx: WrapContext,
): Promise<KeyMaterial> {
  checkKey(recipientPrivateKey, 'a record-encryption private key');
  const info = infoOf(ctx);
  if (
    !(wrapped instanceof Uint8Array) ||
    wrapped[0] !== WRAP_VERSION ||
    wrapped.length < MIN_WRAPPED ||
    wrapped.length > MAX_WRAPPED
  )
    throw recordError(RecordErrorCode.formatInvalid, 'not a wrapped record key of a known version');
  let recipientKey: Awaited<ReturnType<typeof suite.kem.deserializePrivateKey>>;
  try {
    recipientKey = await suite.kem.deserializePrivateKey(recipientPrivateKey);
  } catch {
    throw recordError(RecordErrorCode.inputInvalid, 'not a usable X25519 private key');
  }
  let opened: Uint8Array;
  try {
    opened = new Uint8Array(
      await suite.open(
        { recipientKey, enc: wrapped.slice(1, 1 + ENC_BYTES), info },
        wrapped.slice(1 + ENC_BYTES),
      ),
    );
  } catch {
    throw recordError(RecordErrorCode.keyUnwrapFailed, 'the wrapped key does not open for this recipient');
  }
  try {
    return decodeKeyMaterial(opened);
  } finally {
    opened.fill(0);
  }
}
