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

/** Strict decode of a tx's bytes; does not check the signature. */
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

/** Decodes and verifies a tx's signature (the built-in verifier). Throws TX_BAD_SIGNATURE. */
export function checkTxBytes(chainId: string, bytes: Uint8Array): CheckedTx {
  const tx = decodeTx(bytes);
  if (!verifySignature(tx.signer, txSignBytes(chainId, tx), tx.signature)) {
    throw invalid('TX_BAD_SIGNATURE', 'tx signature does not verify for its signer');
  }
  return { tx, bytes, hash: sha256(bytes) };
}
