/**
 * Txs travel between nodes in batches: one gossip message carries every tx a node accepted from
 * its clients in the last few milliseconds. Per-message costs in libp2p (encryption, framing,
 * gossipsub bookkeeping) dominate for small txs, and one message per tx stalled consensus under
 * load. The wire form is the canonical encoding of [version, [tx bytes…]], bounded in count.
 */
import { decode, encode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { invalid } from '../packages/core/errors.ts';
import { MAX_TX_BYTES } from '../packages/types/tx.ts';

export const TX_BATCH_VERSION = 1;
export const MAX_TXS_PER_BATCH = 4096;

export function encodeTxBatch(txs: readonly Uint8Array[]): Uint8Array {
  return encode([TX_BATCH_VERSION, txs]);
}

/** Strict decode; any malformed batch is rejected whole (the sender is scored down). */
export function decodeTxBatch(bytes: Uint8Array): Uint8Array[] {
  const [version, txs] = s.tuple(decode(bytes), 2, 'tx batch');
  if (version !== TX_BATCH_VERSION)
    throw invalid('TX_BATCH_INVALID', `unknown tx batch version ${String(version)}`);
  return s
    .list(txs!, MAX_TXS_PER_BATCH, 'tx batch')
    .map((tx, i) => s.boundedBytes(tx, `tx batch[${i}]`, MAX_TX_BYTES));
}

/** Collects txs until flushed by a timer or by size, whichever comes first. */
export class TxBatcher {
  private txs: Uint8Array[] = [];
  private bytes = 0;
  private readonly maxBytes: number;
  private readonly send: (batch: Uint8Array) => void;

  constructor(maxBytes: number, send: (batch: Uint8Array) => void) {
    this.maxBytes = maxBytes;
    this.send = send;
  }

  add(tx: Uint8Array): void {
    // Leave room for the envelope (a few bytes per tx).
    if (this.bytes + tx.length + 16 > this.maxBytes || this.txs.length >= MAX_TXS_PER_BATCH) this.flush();
    this.txs.push(tx);
    this.bytes += tx.length + 8;
  }

  flush(): void {
    if (this.txs.length === 0) return;
    const batch = encodeTxBatch(this.txs);
    this.txs = [];
    this.bytes = 0;
    this.send(batch);
  }
}
