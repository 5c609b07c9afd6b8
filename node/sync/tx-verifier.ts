/**
 * Block sync's tx signatures verified on a worker thread (tx-verifier-worker.ts), so that the
 * txs of the blocks just fetched are verified while the main thread executes and writes the
 * blocks before them. Verifying is a pure function of a tx's bytes, and the worker runs the
 * chain's one verifier (`verifyUncached`, the same native library), so the answer is the one the
 * main thread would give; it only moves the work to the machine's other core.
 *
 * Only success is taken from the worker: a block whose txs all decode and verify there gets its
 * checked txs handed to the commit path (`CheckedTxs.remember`), which then does not check them
 * again. Anything else (a tx that does not decode or verify, a worker that failed or was busy)
 * answers null, and the commit path checks that block's txs itself, as it always has, and
 * refuses the block with the same error as before.
 */
import { Worker } from 'node:worker_threads';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../../packages/crypto/ed25519.ts';
import { type Block, blockTxHashes } from '../../packages/types/block.ts';
import { type CheckedTx, decodeTx, type SignedTx, txSignBytes } from '../../packages/types/tx.ts';
import type { VerifyAnswer, VerifyRequest } from './tx-verifier-worker.ts';

/** Requests waiting for the worker, at most (block sync keeps two answers in flight: ~40 blocks). */
export const MAX_WAITING_REQUESTS = 64;
/** A block with fewer txs is checked on the main thread: a round trip to the worker costs more. */
export const MIN_OFF_THREAD_TXS = 16;

export interface SignedMessage {
  readonly key: Uint8Array;
  readonly signature: Uint8Array;
  readonly message: Uint8Array;
}

/** Packs triples as the worker reads them: key, signature, message length (u32 BE), message. */
export function packSigned(items: readonly SignedMessage[]): Uint8Array {
  let size = 0;
  for (const item of items) size += PUBLIC_KEY_BYTES + SIGNATURE_BYTES + 4 + item.message.length;
  const packed = new Uint8Array(size);
  const view = new DataView(packed.buffer);
  let at = 0;
  for (const { key, signature, message } of items) {
    packed.set(key, at);
    packed.set(signature, at + PUBLIC_KEY_BYTES);
    view.setUint32(at + PUBLIC_KEY_BYTES + SIGNATURE_BYTES, message.length);
    packed.set(message, at + PUBLIC_KEY_BYTES + SIGNATURE_BYTES + 4);
    at += PUBLIC_KEY_BYTES + SIGNATURE_BYTES + 4 + message.length;
  }
  return packed;
}

/** One worker thread, started on first use and ended by `close` (block sync closes it when a sync ends). */
export class OffThreadVerifier {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, (ok: Uint8Array | null) => void>();

  /** One flag per triple (1: it verifies), or null if the worker cannot answer. */
  verify(items: readonly SignedMessage[]): Promise<Uint8Array | null> {
    const wellFormed = items.every(
      (i) => i.key.length === PUBLIC_KEY_BYTES && i.signature.length === SIGNATURE_BYTES,
    );
    if (!wellFormed || this.waiting.size >= MAX_WAITING_REQUESTS) return Promise.resolve(null);
    const worker = this.start();
    const id = this.nextId++;
    const packed = packSigned(items);
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      const request: VerifyRequest = { id, count: items.length, packed };
      worker.postMessage(request, [packed.buffer as ArrayBuffer]);
    });
  }

  /** Ends the worker; requests still waiting answer null. */
  close(): void {
    const worker = this.worker;
    if (worker === null) return;
    this.failed(worker);
    void worker.terminate();
  }

  private start(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = new Worker(new URL('./tx-verifier-worker.ts', import.meta.url));
    // A sync in progress keeps the node alive, not its worker.
    worker.unref();
    worker.on('message', (answer: VerifyAnswer) => {
      const resolve = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      resolve?.(answer.ok);
    });
    worker.on('error', () => this.failed(worker));
    worker.on('exit', () => this.failed(worker));
    this.worker = worker;
    return worker;
  }

  private failed(worker: Worker): void {
    if (this.worker !== worker) return;
    this.worker = null;
    for (const resolve of this.waiting.values()) resolve(null);
    this.waiting.clear();
  }
}

/**
 * The block's txs checked as `CheckedTxs.of` checks them (the strict decode, then the verifier),
 * the verifying done by `verifier`; null if the block is small, if any tx does not decode or
 * verify, or if the worker could not answer: the commit path then checks the block itself.
 */
export async function checkBlockTxs(
  chainId: string,
  block: Block,
  verifier: Pick<OffThreadVerifier, 'verify'>,
): Promise<CheckedTx[] | null> {
  if (block.txs.length < MIN_OFF_THREAD_TXS) return null;
  let txs: SignedTx[];
  try {
    txs = block.txs.map(decodeTx);
  } catch {
    return null;
  }
  const ok = await verifier.verify(
    txs.map((tx) => ({ key: tx.signer, signature: tx.signature, message: txSignBytes(chainId, tx) })),
  );
  if (ok === null || ok.length !== txs.length || !ok.every((flag) => flag === 1)) return null;
  const hashes = blockTxHashes(block);
  return txs.map((tx, i) => ({ tx, bytes: block.txs[i]!, hash: hashes[i]! }));
}
