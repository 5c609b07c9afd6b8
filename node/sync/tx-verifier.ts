/**
 * Block sync's txs checked on a worker thread (tx-verifier-worker.ts): the strict decode and the
 * signature, so the txs of the blocks just fetched are checked while the main thread executes and
 * writes the blocks before them. Both are pure functions of a tx's bytes, and the worker runs the
 * same `decodeTx` and the chain's one verifier (`verifyUncached`, the same native library), so its
 * answer is the one the main thread would give; it only moves the work to the other core.
 *
 * Only success is taken from the worker: a block whose txs all decode and verify there gets its
 * checked txs handed to the commit path (`CheckedTxs.remember`), which then does not check them
 * again; their fields are read at their places in the accepted bytes (`acceptedTxFields`), not
 * decoded a second time, and the worker's tx hashes (computed on this node from the block's own
 * bytes) go with the block (`withTxHashes`) for the data hash check and the tx index. Anything else (a tx that does not decode or verify, a worker that failed
 * or was busy) answers null, and the commit path checks that block's txs itself, as it always
 * has, and refuses the block with the same error as before.
 */
import { Worker } from 'node:worker_threads';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../../packages/crypto/ed25519.ts';
import { HASH_BYTES } from '../../packages/crypto/hash.ts';
import { type Block, withTxHashes } from '../../packages/types/block.ts';
import type { CheckedTx, SignedTx } from '../../packages/types/tx.ts';
import type { CheckAnswer, CheckRequest } from './tx-verifier-worker.ts';

/** Requests waiting for the worker, at most (block sync keeps two answers in flight: ~40 blocks). */
export const MAX_WAITING_REQUESTS = 64;
/** A block with fewer txs is checked on the main thread: a round trip to the worker costs more. */
export const MIN_OFF_THREAD_TXS = 16;

/** Packs txs as the worker reads them: per tx, its length (u32 BE) then its bytes. */
export function packTxs(txs: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const tx of txs) size += 4 + tx.length;
  const packed = new Uint8Array(size);
  const view = new DataView(packed.buffer);
  let at = 0;
  for (const tx of txs) {
    view.setUint32(at, tx.length);
    packed.set(tx, at + 4);
    at += 4 + tx.length;
  }
  return packed;
}

/**
 * The fields of a tx that `decodeTx` has accepted, read at their places in its canonical
 * encoding without decoding it again: [bin8 32 signer, int64 nonce, bin payload, bin8 64
 * signature] is 0x94, 0xc4 0x20 + 32 bytes, 0xd3 + 8 bytes, a bin 8/16/32 header + the payload,
 * 0xc4 0x40 + 64 bytes. The fields are views into `bytes` (a block's own copy of the tx, never
 * reused). Null if the bytes are not laid out so; the caller then decodes them.
 */
export function acceptedTxFields(bytes: Uint8Array): SignedTx | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nonceAt = 3 + PUBLIC_KEY_BYTES;
  const payloadAt = nonceAt + 9;
  if (bytes.length < payloadAt + 2 + 2 + SIGNATURE_BYTES) return null;
  if (bytes[0] !== 0x94 || bytes[1] !== 0xc4 || bytes[2] !== PUBLIC_KEY_BYTES || bytes[nonceAt] !== 0xd3)
    return null;
  const nonce = view.getBigInt64(nonceAt + 1);
  let start: number;
  let length: number;
  switch (bytes[payloadAt]) {
    case 0xc4:
      [start, length] = [payloadAt + 2, view.getUint8(payloadAt + 1)];
      break;
    case 0xc5:
      [start, length] = [payloadAt + 3, view.getUint16(payloadAt + 1)];
      break;
    case 0xc6:
      if (bytes.length < payloadAt + 5) return null;
      [start, length] = [payloadAt + 5, view.getUint32(payloadAt + 1)];
      break;
    default:
      return null;
  }
  const sigAt = start + length;
  if (nonce < 0n || sigAt + 2 + SIGNATURE_BYTES !== bytes.length) return null;
  if (bytes[sigAt] !== 0xc4 || bytes[sigAt + 1] !== SIGNATURE_BYTES) return null;
  return {
    signer: bytes.subarray(3, 3 + PUBLIC_KEY_BYTES),
    nonce,
    payload: bytes.subarray(start, sigAt),
    signature: bytes.subarray(sigAt + 2),
  };
}

/** What the worker answers of a block's txs: a flag each (1: it checks) and `txHash` of each, 32 bytes a tx. */
export interface Checked {
  readonly ok: Uint8Array;
  readonly hashes: Uint8Array;
}

/**
 * How long the worker is kept with nothing to check. Starting one costs ~100 ms of CPU (loading
 * the modules and the native library), and a node that falls two heights behind under load
 * starts a short sync each time: it keeps one worker rather than starting one per sync.
 */
export const IDLE_CLOSE_MS = 60_000;

/** One worker thread, started on first use and ended by `close` or after `idleMs` with nothing to check. */
export class OffThreadVerifier {
  private readonly idleMs: number;
  private worker: Worker | null = null;
  private idle: NodeJS.Timeout | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, (answer: Checked | null) => void>();

  constructor(idleMs: number = IDLE_CLOSE_MS) {
    this.idleMs = idleMs;
  }

  /** True while a worker thread is running. */
  get running(): boolean {
    return this.worker !== null;
  }

  /**
   * One flag per tx (1: it decodes and verifies, as `checkTxHashed` checks) and their hashes, or
   * null if the worker cannot answer.
   */
  check(chainId: string, txs: readonly Uint8Array[]): Promise<Checked | null> {
    if (this.waiting.size >= MAX_WAITING_REQUESTS) return Promise.resolve(null);
    const worker = this.start();
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = null;
    const id = this.nextId++;
    const packed = packTxs(txs);
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      const request: CheckRequest = { id, chainId, count: txs.length, packed };
      worker.postMessage(request, [packed.buffer as ArrayBuffer]);
    });
  }

  /** Ends the worker; requests still waiting answer null. */
  close(): void {
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = null;
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
    worker.on('message', (answer: CheckAnswer) => {
      const resolve = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      resolve?.(answer.hashes.length === answer.ok.length * HASH_BYTES ? answer : null);
      if (this.waiting.size === 0) {
        this.idle = setTimeout(() => this.close(), this.idleMs);
        // An idle worker's timer keeps nothing alive.
        this.idle.unref();
      }
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
 * both done by the worker; null if the block is small, if any tx does not decode or verify, or if
 * the worker could not answer: the commit path then checks the block itself.
 */
export async function checkBlockTxs(
  chainId: string,
  block: Block,
  verifier: Pick<OffThreadVerifier, 'check'>,
): Promise<CheckedTx[] | null> {
  if (block.txs.length < MIN_OFF_THREAD_TXS) return null;
  const answer = await verifier.check(chainId, block.txs);
  if (answer === null || answer.ok.length !== block.txs.length || !answer.ok.every((flag) => flag === 1))
    return null;
  const checked: CheckedTx[] = [];
  for (const [i, bytes] of block.txs.entries()) {
    const tx = acceptedTxFields(bytes);
    if (tx === null) return null;
    checked.push({ tx, bytes, hash: answer.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES) });
  }
  // Hashed on this node (the worker) from the block's own bytes: the data hash check may use them.
  withTxHashes(
    block,
    checked.map((c) => c.hash),
  );
  return checked;
}
