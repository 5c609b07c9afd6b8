/**
 * node/tx-index.ts's writes for a block: every key is exactly the documented layout, built from
 * the exported prefixes the RPC's tx_search scans with (a key built any other way would never be
 * found), for seeded random events (multi-byte values too), skipping replayed txs and values
 * over the limit.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MAX_INDEXED_VALUE_BYTES,
  TxIndexBucket,
  txIndexOps,
  u32,
  valuePrefix,
} from '../../../node/tx-index.ts';
import { u64be } from '../../../packages/codec/bytes.ts';
import { seededRandom } from '../../../packages/core/seeded-random.ts';
import { toHex } from '../../../packages/crypto/hash.ts';
import { type Block, blockTxHashes } from '../../../packages/types/block.ts';
import type { AppEvent, ExecTxResult } from '../../../state/application.ts';

const SEED = 1207;

function randomText(next: () => number): string {
  const alphabet = ['a', 'Z', '7', '.', '=', ' ', 'é', '漢', '🙂'];
  let text = '';
  for (let n = Math.floor(next() * 12); n > 0; n--) text += alphabet[Math.floor(next() * alphabet.length)];
  return text;
}

function randomEvents(next: () => number): AppEvent[] {
  return Array.from({ length: Math.floor(next() * 3) }, () => ({
    type: next() < 0.2 ? '' : `t${Math.floor(next() * 3)}`,
    attributes: Array.from({ length: Math.floor(next() * 4) }, () => ({
      key: next() < 0.1 ? '' : `k${Math.floor(next() * 4)}`,
      value: next() < 0.05 ? 'x'.repeat(MAX_INDEXED_VALUE_BYTES + 1) : randomText(next),
      index: next() < 0.8,
    })),
  }));
}

/** The keys as the layout defines them, from the prefixes tx_search scans with. */
function expectedKeys(
  block: Block,
  results: readonly ExecTxResult[],
  blockEvents: readonly AppEvent[],
  replayed: ReadonlySet<number>,
): string[] {
  const height = u64be(block.header.height);
  const indexed = (events: readonly AppEvent[]) =>
    events.flatMap((e) =>
      e.type === ''
        ? []
        : e.attributes
            .filter((a) => a.index && a.key !== '' && Buffer.byteLength(a.value) <= MAX_INDEXED_VALUE_BYTES)
            .map((a) => ({ tag: `${e.type}.${a.key}`, value: a.value })),
    );
  const keys: string[] = [];
  blockTxHashes(block).forEach((_, index) => {
    if (replayed.has(index)) return;
    const position = Buffer.concat([height, u32(index)]);
    keys.push(toHex(Buffer.concat([Uint8Array.of(TxIndexBucket.txByHeight), position])));
    for (const { tag, value } of indexed(results[index]!.events))
      keys.push(toHex(Buffer.concat([valuePrefix(TxIndexBucket.txEvents, tag, value), position])));
  });
  for (const { tag, value } of indexed(blockEvents))
    keys.push(toHex(Buffer.concat([valuePrefix(TxIndexBucket.blockEvents, tag, value), height])));
  return keys;
}

test('txIndexOps writes each key of the layout, from the prefixes tx_search scans with', () => {
  const next = seededRandom(SEED);
  for (let round = 0; round < 50; round++) {
    const count = 1 + Math.floor(next() * 20);
    const txs = Array.from({ length: count }, (_, i) => Uint8Array.of(round, i));
    const block = { header: { height: BigInt(1 + Math.floor(next() * 2 ** 40)) }, txs } as unknown as Block;
    const results = txs.map(() => ({ code: 0, codespace: '', log: '', events: randomEvents(next) }));
    const blockEvents = randomEvents(next);
    const replayed = new Set(txs.flatMap((_, i) => (next() < 0.1 ? [i] : [])));
    const ops = txIndexOps(block, results, blockEvents, replayed);
    assert.equal(
      ops.map((op) => toHex(op.key)),
      expectedKeys(block, results, blockEvents, replayed),
      `seed ${SEED}, round ${round}`,
    );
    const hashes = blockTxHashes(block);
    const byHeight = ops.filter((op) => op.key[0] === TxIndexBucket.txByHeight);
    assert.equal(
      byHeight.map((op) => (op.type === 'put' ? toHex(op.value) : '')),
      hashes.filter((_, i) => !replayed.has(i)).map(toHex),
      `seed ${SEED}, round ${round}: txByHeight holds each tx hash`,
    );
  }
});

test.run();
