/** Tx batches on the wire: round trip, strict decoding, and flushing by size. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeTxBatch, encodeTxBatch, MAX_TXS_PER_BATCH, TxBatcher } from '../../../node/tx-gossip.ts';
import { encode } from '../../../packages/codec/canonical.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';

function code(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.instance(err, CareLedgerError);
    assert.is((err as CareLedgerError).action, 'reject');
    return (err as CareLedgerError).code;
  }
  throw new Error('expected a rejection');
}

test('a batch round-trips in order', () => {
  const txs = [Uint8Array.of(1, 2), Uint8Array.of(3), new Uint8Array(100).fill(7)];
  assert.equal(
    decodeTxBatch(encodeTxBatch(txs)).map((t) => [...t]),
    txs.map((t) => [...t]),
  );
});

test('a malformed batch is rejected whole', () => {
  assert.is(
    code(() => decodeTxBatch(encode([2, [Uint8Array.of(1)]]))),
    'TX_BATCH_INVALID',
  );
  assert.is(
    code(() => decodeTxBatch(encode([1, ['not bytes']]))),
    'CODEC_SCHEMA',
  );
  assert.is(
    code(() => decodeTxBatch(encode([1]))),
    'CODEC_SCHEMA',
  );
  const tooMany = Array.from({ length: MAX_TXS_PER_BATCH + 1 }, () => Uint8Array.of(0));
  assert.is(
    code(() => decodeTxBatch(encode([1, tooMany]))),
    'CODEC_SCHEMA',
  );
  assert.is(
    code(() => decodeTxBatch(Uint8Array.of(0x92, 0x01))),
    'CODEC_TRUNCATED',
  );
});

test('the batcher sends nothing when empty, flushes on demand and before exceeding its size', () => {
  const sent: Uint8Array[][] = [];
  const batcher = new TxBatcher(1000, (b) => sent.push(decodeTxBatch(b)));
  batcher.flush();
  assert.is(sent.length, 0);
  for (let i = 0; i < 5; i++) batcher.add(new Uint8Array(300).fill(i));
  // 300 + 8 bytes each: the fourth would pass 1000, so three go first.
  assert.is(sent.length, 1);
  assert.is(sent[0]!.length, 3);
  batcher.flush();
  assert.is(sent.length, 2);
  assert.equal(
    sent[1]!.map((t) => t[0]),
    [3, 4],
  );
});

test.run();
