/**
 * The worker thread of tx-verifier.ts: checks packed txs exactly as `checkTxHashed` (node/mempool.ts)
 * does, the strict decode (`decodeTx`) then the chain's one verifier (`verifyUncached`,
 * packages/crypto/ed25519.ts: the same function and native library as the main thread), and
 * answers one byte per tx, 1 if it decodes and verifies. A request's bytes are, per tx, its
 * length (u32 BE) then its bytes. A malformed request answers all zeros, which the caller treats
 * as "not checked here" and checks on its own thread. The answer also carries each tx's hash
 * (`txHash`, 32 bytes a tx, in order), which the main thread would compute next.
 */
import { parentPort } from 'node:worker_threads';
import { verifyUncached } from '../../packages/crypto/ed25519.ts';
import { HASH_BYTES as TX_HASH_BYTES } from '../../packages/crypto/hash.ts';
import { txHash } from '../../packages/types/block.ts';
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
  /** `txHash` of each tx, 32 bytes each, in order; empty if the request was malformed. */
  readonly hashes: Uint8Array;
}

function checks(chainId: string, bytes: Uint8Array): boolean {
  try {
    const tx = decodeTx(bytes);
    return verifyUncached(tx.signer, txSignBytes(chainId, tx), tx.signature);
  } catch {
    return false;
  }
}

/** One flag and one hash per packed tx (exported for the tests, which run it without a thread). */
export function checkPacked(
  chainId: string,
  packed: Uint8Array,
  count: number,
): { ok: Uint8Array; hashes: Uint8Array } {
  const malformed = { ok: new Uint8Array(count), hashes: new Uint8Array(0) };
  const ok = new Uint8Array(count);
  const hashes = new Uint8Array(count * TX_HASH_BYTES);
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > packed.length) return malformed;
    const length = view.getUint32(at);
    if (at + 4 + length > packed.length) return malformed;
    const tx = packed.subarray(at + 4, at + 4 + length);
    ok[i] = checks(chainId, tx) ? 1 : 0;
    hashes.set(txHash(tx), i * TX_HASH_BYTES);
    at += 4 + length;
  }
  return at === packed.length ? { ok, hashes } : malformed;
}

parentPort?.on('message', (request: CheckRequest) => {
  const answer: CheckAnswer = {
    id: request.id,
    ...checkPacked(request.chainId, request.packed, request.count),
  };
  parentPort!.postMessage(answer, [answer.ok.buffer as ArrayBuffer, answer.hashes.buffer as ArrayBuffer]);
});
