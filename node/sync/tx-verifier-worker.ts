/**
 * The worker thread of tx-verifier.ts: checks packed txs exactly as `checkTxHashed` (node/mempool.ts)
 * does, the strict decode (`decodeTx`) then the chain's one verifier (`verifyUncached`,
 * packages/crypto/ed25519.ts: the same function and native library as the main thread), and
 * answers one byte per tx, 1 if it decodes and verifies. A request's bytes are, per tx, its
 * length (u32 BE) then its bytes. A malformed request answers all zeros, which the caller treats
 * as "not checked here" and checks on its own thread.
 */
import { parentPort } from 'node:worker_threads';
import { verifyUncached } from '../../packages/crypto/ed25519.ts';
import { decodeTx, txSignBytes } from '../../packages/types/tx.ts';

export interface CheckRequest {
  readonly id: number;
  readonly chainId: string;
  readonly count: number;
  readonly packed: Uint8Array;
}

export interface CheckAnswer {
  readonly id: number;
  readonly ok: Uint8Array;
}

function checks(chainId: string, bytes: Uint8Array): boolean {
  try {
    const tx = decodeTx(bytes);
    return verifyUncached(tx.signer, txSignBytes(chainId, tx), tx.signature);
  } catch {
    return false;
  }
}

/** One flag per packed tx (exported for the tests, which run it without a thread). */
export function checkPacked(chainId: string, packed: Uint8Array, count: number): Uint8Array {
  const ok = new Uint8Array(count);
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > packed.length) return new Uint8Array(count);
    const length = view.getUint32(at);
    if (at + 4 + length > packed.length) return new Uint8Array(count);
    ok[i] = checks(chainId, packed.subarray(at + 4, at + 4 + length)) ? 1 : 0;
    at += 4 + length;
  }
  return at === packed.length ? ok : new Uint8Array(count);
}

parentPort?.on('message', (request: CheckRequest) => {
  const ok = checkPacked(request.chainId, request.packed, request.count);
  const answer: CheckAnswer = { id: request.id, ok };
  parentPort!.postMessage(answer, [ok.buffer as ArrayBuffer]);
});
