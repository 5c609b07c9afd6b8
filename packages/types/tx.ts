/**
 * The transaction envelope every CareLedger tx travels in: who signs it, a nonce, the
 * application's payload (its own canonical encoding), and an ed25519 signature over the chain id,
 * the tx domain tag and those fields. The tx hash is the SHA-256 of the envelope's bytes; a
 * committed hash can never be committed again, which is the chain-wide replay protection
 * (applications may add per-signer nonce rules on top).
 */
import { decode, encode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { invalid } from '../core/errors.ts';
import { SignDomain, signBytes } from '../crypto/domain.ts';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, signerFor, verifySignature } from '../crypto/ed25519.ts';
import { sha256 } from '../crypto/hash.ts';

export const MAX_TX_BYTES = 64 * 1024;

export interface SignedTx {
  readonly signer: Uint8Array;
  readonly nonce: bigint;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

/** A decoded tx with its bytes and hash, computed once and carried along. */
export interface CheckedTx {
  readonly tx: SignedTx;
  readonly bytes: Uint8Array;
  readonly hash: Uint8Array;
}

export function txSignBytes(chainId: string, tx: Omit<SignedTx, 'signature'>): Uint8Array {
  return signBytes(SignDomain.tx, chainId, [tx.signer, tx.nonce, tx.payload]);
}

export function encodeTx(tx: SignedTx): Uint8Array {
  return encode([tx.signer, tx.nonce, tx.payload, tx.signature]);
}

/** Strict decode of a tx's bytes; does not check the signature. The fields are copies. */
export function decodeTx(bytes: Uint8Array): SignedTx {
  if (bytes.length > MAX_TX_BYTES)
    throw invalid('TX_TOO_LARGE', `tx of ${bytes.length} bytes exceeds ${MAX_TX_BYTES}`);
  const [signer, nonce, payload, signature] = s.tuple(decode(bytes), 4, 'tx');
  return {
    signer: s.bytes(signer!, 'tx.signer', PUBLIC_KEY_BYTES),
    nonce: s.u64(nonce!, 'tx.nonce'),
    payload: s.boundedBytes(payload!, 'tx.payload', MAX_TX_BYTES),
    signature: s.bytes(signature!, 'tx.signature', SIGNATURE_BYTES),
  };
}

/**
 * `decodeTx` for a caller that owns `bytes` and never changes them (the mempool's own copy, a
 * decoded block's tx): the same answer, but the fields are views into `bytes`, not copies. A tx
 * laid out exactly as `encodeTx` writes it (canonicalTxFields) is read in place; anything else
 * goes through `decodeTx`, which accepts or refuses it with its own error.
 */
export function decodeOwnedTx(bytes: Uint8Array): SignedTx {
  return (bytes.length <= MAX_TX_BYTES ? canonicalTxFields(bytes) : null) ?? decodeTx(bytes);
}

const SIGNER_AT = 3;
const NONCE_AT = SIGNER_AT + PUBLIC_KEY_BYTES;
const PAYLOAD_AT = NONCE_AT + 9;
/** The smallest tx: the fixed fields with an empty payload. */
const MIN_TX_BYTES = PAYLOAD_AT + 2 + 2 + SIGNATURE_BYTES;

/**
 * The fields of a tx's bytes read at their places, as views into `bytes`, if the bytes are
 * exactly the canonical encoding `encodeTx` writes (msgpackr, codec/canonical.ts) of a tx that
 * `decodeTx` accepts; else null. That encoding is: 0x94 (a 4-array); 0xc4 0x20 and the 32-byte
 * signer; 0xd3 and the nonce as 8 bytes big-endian, high bit clear (a bigint is always int64,
 * and a nonce is non-negative); the payload as bin 8 (0xc4, 1-byte length) below 256 bytes, else
 * bin 16 (0xc5, 2-byte length) below 65,536, else bin 32 (0xc6): the shortest form, as msgpackr
 * writes it; 0xc4 0x40 and the 64-byte signature; nothing after. Bytes accepted here re-encode to
 * themselves, so the generic decoder accepts them with the same fields; null only means "not
 * read here" (test/unit/types/tx-fast-decode.test.ts checks both on seeded random inputs).
 */
export function canonicalTxFields(bytes: Uint8Array): SignedTx | null {
  const end = bytes.length;
  if (end < MIN_TX_BYTES) return null;
  if (
    bytes[0] !== 0x94 ||
    bytes[1] !== 0xc4 ||
    bytes[2] !== PUBLIC_KEY_BYTES ||
    bytes[NONCE_AT] !== 0xd3 ||
    bytes[NONCE_AT + 1]! >= 0x80
  )
    return null;
  let start: number;
  let length: number;
  switch (bytes[PAYLOAD_AT]) {
    case 0xc4:
      start = PAYLOAD_AT + 2;
      length = bytes[PAYLOAD_AT + 1]!;
      break;
    case 0xc5:
      start = PAYLOAD_AT + 3;
      length = (bytes[PAYLOAD_AT + 1]! << 8) | bytes[PAYLOAD_AT + 2]!;
      if (length < 0x100) return null;
      break;
    default:
      // bin 32 is only for payloads of 64 KiB and more, which no tx within MAX_TX_BYTES carries.
      return null;
  }
  const sigAt = start + length;
  if (sigAt + 2 + SIGNATURE_BYTES !== end || bytes[sigAt] !== 0xc4 || bytes[sigAt + 1] !== SIGNATURE_BYTES)
    return null;
  const { buffer, byteOffset } = bytes;
  return {
    signer: new Uint8Array(buffer, byteOffset + SIGNER_AT, PUBLIC_KEY_BYTES),
    nonce: readNonce(bytes, NONCE_AT + 1),
    payload: new Uint8Array(buffer, byteOffset + start, length),
    signature: new Uint8Array(buffer, byteOffset + sigAt + 2, SIGNATURE_BYTES),
  };
}

/** The 8-byte big-endian nonce at `at`, high bit clear; one BigInt when it is below 2^53, as nonces are. */
function readNonce(bytes: Uint8Array, at: number): bigint {
  const high = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  const low =
    ((bytes[at + 4]! << 24) | (bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!) >>> 0;
  return high < 0x200000 ? BigInt(high * 0x100000000 + low) : (BigInt(high) << 32n) | BigInt(low);
}

/** Builds and signs a tx. */
export function signTx(
  chainId: string,
  secretKey: Uint8Array,
  signer: Uint8Array,
  nonce: bigint,
  payload: Uint8Array,
): CheckedTx {
  const unsigned = { signer, nonce, payload };
  const tx: SignedTx = { ...unsigned, signature: signerFor(secretKey)(txSignBytes(chainId, unsigned)) };
  const bytes = encodeTx(tx);
  return { tx, bytes, hash: sha256(bytes) };
}

/**
 * Whether an accepted tx's signature verifies (the built-in verifier, `cacheId` as
 * verifySignature's): `tx` must be what decodeTx (or decodeOwnedTx) made of `bytes`.
 *
 * The sign bytes are not encoded again. They are the canonical encoding of [domain, chain id,
 * signer, nonce, payload]; accepted tx bytes are the canonical encoding of [signer, nonce,
 * payload, signature] (decode refuses any other form); and an array's encoding is its header then
 * each item's encoding alone. So the sign bytes are a prefix fixed by the chain id (0x95, the
 * domain, the chain id) followed by the tx's bytes without their array header (0x94) and the
 * encoded signature (0xc4 0x40 and 64 bytes) at the end. They are assembled in one reused buffer:
 * the verify is synchronous and keeps nothing of the message.
 */
export function verifyTxBytes(chainId: string, bytes: Uint8Array, tx: SignedTx, cacheId?: string): boolean {
  return verifySignature(tx.signer, writeTxSignBytes(chainId, bytes), tx.signature, cacheId);
}

/** `txSignBytes(chainId, decodeTx(bytes))` for accepted tx bytes, built as verifyTxBytes builds it (a copy). */
export function txSignBytesOfEncoded(chainId: string, bytes: Uint8Array): Uint8Array {
  return writeTxSignBytes(chainId, bytes).slice();
}

// The last chain id's sign-bytes prefix (a node checks the txs of one chain), and the buffer the
// sign bytes are assembled in: at most the prefix and MAX_TX_BYTES.
let prefixChainId: string | null = null;
let signPrefix = new Uint8Array(0);
let signScratch = new Uint8Array(1024);
const ENCODED_SIGNATURE_BYTES = 2 + SIGNATURE_BYTES;

/** The sign bytes of accepted tx bytes, as a view into signScratch: valid until the next call. */
function writeTxSignBytes(chainId: string, bytes: Uint8Array): Uint8Array {
  if (chainId !== prefixChainId) {
    // [domain, chain id] encoded, its 2-array header made the 5-array's (fixarray 0x95).
    const head = Uint8Array.from(signBytes(SignDomain.tx, chainId, []));
    head[0] = 0x95;
    signPrefix = head;
    prefixChainId = chainId;
  }
  const bodyLength = bytes.length - 1 - ENCODED_SIGNATURE_BYTES;
  const length = signPrefix.length + bodyLength;
  if (signScratch.length < length) signScratch = new Uint8Array(Math.max(length, 2 * signScratch.length));
  signScratch.set(signPrefix, 0);
  signScratch.set(new Uint8Array(bytes.buffer, bytes.byteOffset + 1, bodyLength), signPrefix.length);
  return signScratch.subarray(0, length);
}

/** Decodes and verifies a tx's signature (the built-in verifier). Throws TX_BAD_SIGNATURE. */
export function checkTxBytes(chainId: string, bytes: Uint8Array): CheckedTx {
  const tx = decodeTx(bytes);
  if (!verifyTxBytes(chainId, bytes, tx)) {
    throw invalid('TX_BAD_SIGNATURE', 'tx signature does not verify for its signer');
  }
  return { tx, bytes, hash: sha256(bytes) };
}
