/**
 * The worker thread of tx-verifier.ts: verifies packed (key, signature, message) triples with the
 * chain's one verifier (`verifyUncached`, packages/crypto/ed25519.ts: the same function, the same
 * native library, as the main thread) and answers one byte per triple, 1 if it verifies.
 * Layout of a request's bytes, per triple: key (32), signature (64), message length (u32 BE),
 * message. Nothing else is done here; a malformed request answers all zeros, which the caller
 * treats as "not verified here" and checks on its own thread.
 */
import { parentPort } from 'node:worker_threads';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verifyUncached } from '../../packages/crypto/ed25519.ts';

export interface VerifyRequest {
  readonly id: number;
  readonly count: number;
  readonly packed: Uint8Array;
}

export interface VerifyAnswer {
  readonly id: number;
  readonly ok: Uint8Array;
}

/** One flag per packed triple (exported for the tests, which run it without a thread). */
export function verifyPacked(packed: Uint8Array, count: number): Uint8Array {
  const ok = new Uint8Array(count);
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const head = PUBLIC_KEY_BYTES + SIGNATURE_BYTES + 4;
    if (at + head > packed.length) return new Uint8Array(count);
    const key = packed.subarray(at, at + PUBLIC_KEY_BYTES);
    const signature = packed.subarray(at + PUBLIC_KEY_BYTES, at + PUBLIC_KEY_BYTES + SIGNATURE_BYTES);
    const length = view.getUint32(at + PUBLIC_KEY_BYTES + SIGNATURE_BYTES);
    if (at + head + length > packed.length) return new Uint8Array(count);
    const message = packed.subarray(at + head, at + head + length);
    ok[i] = verifyUncached(key, message, signature) ? 1 : 0;
    at += head + length;
  }
  return at === packed.length ? ok : new Uint8Array(count);
}

parentPort?.on('message', (request: VerifyRequest) => {
  const ok = verifyPacked(request.packed, request.count);
  const answer: VerifyAnswer = { id: request.id, ok };
  parentPort!.postMessage(answer, [ok.buffer as ArrayBuffer]);
});
