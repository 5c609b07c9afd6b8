/**
 * Tx batches on the wire: round trip, strict decoding (the in-place read against the generic
 * decoder on seeded random batches and mutations of them), flushing by size, and the origin's
 * relay flag.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  canonicalTxBatch,
  decodeTxBatch,
  decodeTxBatchGeneric,
  decodeTxBatchMessage,
  encodeTxBatch,
  MAX_TXS_PER_BATCH,
  reachesAllMembers,
  TX_BATCH_VERSION,
  TxBatcher,
} from '../../../node/tx-gossip.ts';
import { encode } from '../../../packages/codec/canonical.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { seededRandom } from '../../../packages/core/seeded-random.ts';
import { MAX_TX_BYTES } from '../../../packages/types/tx.ts';
import { checkMutations } from '../packages/fast-path-fixtures.ts';

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
    code(() => decodeTxBatch(encode([3, [Uint8Array.of(1)]]))),
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

const SEED = 0x7b47_c401;

function randomBatch(rand: () => number): Uint8Array {
  const counts = [0, 1, 15, 16, 17, 255, 256, MAX_TXS_PER_BATCH];
  const count = rand() < 0.7 ? Math.floor(rand() * 20) : counts[Math.floor(rand() * counts.length)]!;
  const sizes = [0, 1, 255, 256, 257, 1000];
  const txs = Array.from({ length: count }, () => {
    const size = rand() < 0.7 ? Math.floor(rand() * 300) : sizes[Math.floor(rand() * sizes.length)]!;
    return Uint8Array.from({ length: count > 300 ? Math.min(size, 8) : size }, () =>
      Math.floor(rand() * 256),
    );
  });
  const form = rand();
  if (form < 0.4) return encodeTxBatch(txs, true);
  if (form < 0.8) return encodeTxBatch(txs, false);
  return encode([2, txs, true]);
}

test('canonical batches: read in place, the same txs and flag as the generic decoder', () => {
  const rand = seededRandom(SEED);
  for (let i = 0; i < 1500; i++) {
    const bytes = randomBatch(rand);
    const fast = canonicalTxBatch(bytes);
    assert.ok(fast !== null, `seed ${SEED}, batch ${i}: read in place`);
    assert.equal(fast, decodeTxBatchGeneric(bytes), `seed ${SEED}, batch ${i}`);
    assert.equal(decodeTxBatchMessage(bytes), decodeTxBatchGeneric(bytes), `seed ${SEED}, batch ${i}`);
  }
  // A tx of 64 KiB is written as bin 32: left to the generic decoder, which takes it.
  const large = encodeTxBatch([new Uint8Array(MAX_TX_BYTES)]);
  assert.is(canonicalTxBatch(large), null);
  assert.is(decodeTxBatchMessage(large).txs[0]!.length, MAX_TX_BYTES);
});

test('mutated batches: the same value or the same error as the generic decoder', () => {
  const decoded = checkMutations({
    seed: SEED + 1,
    inputs: 8000,
    valid: randomBatch,
    decode: decodeTxBatchMessage,
    generic: decodeTxBatchGeneric,
    fast: canonicalTxBatch,
  });
  assert.ok(decoded > 500, `${decoded} mutated inputs decoded`);
});

test('non-minimal headers and too many txs are left to the generic decoder, which refuses them', () => {
  // A list of 1 in array 16 form; a 1-byte tx in bin 16 form.
  const wideList = Uint8Array.from([0x92, 0x01, 0xdc, 0, 1, 0xc4, 1, 7]);
  const wideTx = Uint8Array.from([0x92, 0x01, 0x91, 0xc5, 0, 1, 7]);
  for (const bytes of [wideList, wideTx]) {
    assert.is(canonicalTxBatch(bytes), null);
    assert.is(
      code(() => decodeTxBatchMessage(bytes)),
      'CODEC_NON_CANONICAL',
    );
  }
  const tooMany = encode([1, Array.from({ length: MAX_TXS_PER_BATCH + 1 }, () => Uint8Array.of(1))]);
  assert.is(canonicalTxBatch(tooMany), null);
  assert.is(
    code(() => decodeTxBatchMessage(tooMany)),
    'CODEC_SCHEMA',
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

test('relay flag: version 1 (relay) for a batch to relay, version 2 with relay false otherwise', () => {
  const txs = [Uint8Array.of(1, 2), Uint8Array.of(3)];
  const relayed = encodeTxBatch(txs);
  // Unchanged from before version 2, so older nodes still take every batch that must be relayed.
  assert.equal([...relayed], [...encode([TX_BATCH_VERSION, txs])]);
  assert.equal([...encodeTxBatch(txs, true)], [...relayed]);
  assert.equal(decodeTxBatchMessage(relayed), { txs, relay: true });
  const direct = encodeTxBatch(txs, false);
  assert.equal([...direct], [...encode([2, txs, false])]);
  assert.equal(decodeTxBatchMessage(direct), { txs, relay: false });
  assert.equal(
    decodeTxBatch(direct).map((t) => [...t]),
    txs.map((t) => [...t]),
  );
  // Version 2 may also say relay: true.
  assert.equal(decodeTxBatchMessage(encode([2, txs, true])).relay, true);
});

test('a malformed version 2 batch is rejected whole', () => {
  assert.is(
    code(() => decodeTxBatchMessage(encode([2, [Uint8Array.of(1)]]))),
    'CODEC_SCHEMA',
  );
  assert.is(
    code(() => decodeTxBatchMessage(encode([2, [Uint8Array.of(1)], 'no']))),
    'CODEC_SCHEMA',
  );
  assert.is(
    code(() => decodeTxBatchMessage(encode([2, [Uint8Array.of(1)], false, 0]))),
    'CODEC_SCHEMA',
  );
  assert.is(
    code(() => decodeTxBatchMessage(encode([1, [Uint8Array.of(1)], false]))),
    'CODEC_SCHEMA',
  );
  assert.is(
    code(() => decodeTxBatchMessage(encode([3, [Uint8Array.of(1)], false]))),
    'TX_BATCH_INVALID',
  );
  assert.is(
    code(() => decodeTxBatchMessage(encode(7))),
    'CODEC_SCHEMA',
  );
});

test('reachesAllMembers: every member but us must be a topic peer', () => {
  assert.ok(reachesAllMembers('me', ['me', 'a', 'b'], ['b', 'a']));
  assert.ok(reachesAllMembers('me', ['a', 'b'], ['a', 'b', 'stranger']));
  // The triangle: we reach a but not b, so our receivers must relay to b.
  assert.not.ok(reachesAllMembers('me', ['me', 'a', 'b'], ['a']));
  assert.not.ok(reachesAllMembers('me', ['a'], []));
  assert.ok(reachesAllMembers('me', [], []));
  assert.ok(reachesAllMembers('me', ['me'], []));
});

test('the batcher asks at each flush whether the batch must be relayed', () => {
  const sent: { txs: number[]; relay: boolean }[] = [];
  let full = false;
  const batcher = new TxBatcher(
    1000,
    (b) => {
      const m = decodeTxBatchMessage(b);
      sent.push({ txs: m.txs.map((t) => t[0]!), relay: m.relay });
    },
    () => !full,
  );
  batcher.add(Uint8Array.of(1));
  batcher.flush();
  full = true;
  batcher.add(Uint8Array.of(2));
  batcher.flush();
  assert.equal(sent, [
    { txs: [1], relay: true },
    { txs: [2], relay: false },
  ]);
  // Without the callback every batch is relayed, as before.
  const plain: boolean[] = [];
  const old = new TxBatcher(1000, (b) => plain.push(decodeTxBatchMessage(b).relay));
  old.add(Uint8Array.of(3));
  old.flush();
  assert.equal(plain, [true]);
});

test.run();
