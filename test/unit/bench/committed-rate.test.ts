/**
 * bench/protocol.ts `committedRate`: the bench's committed tx/s, measured between block
 * observations so the window's edges cut no block. On a steady chain it must give the true rate
 * wherever the window falls, which a count between fixed edges does not.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type BlockSample, committedRate } from '../../../bench/protocol.ts';

/** A chain committing `txsPerBlock` every `intervalMs`, the first block seen at `offsetMs`. */
function steadyChain(
  txsPerBlock: number,
  intervalMs: number,
  offsetMs: number,
  count: number,
): BlockSample[] {
  return Array.from({ length: count }, (_, i) => ({
    height: i + 1,
    timeMs: 0,
    txs: txsPerBlock,
    ours: txsPerBlock,
    observedMs: offsetMs + i * intervalMs,
  }));
}

/** The old figure: txs of the blocks seen inside the window over its length. */
function fixedEdgeRate(blocks: readonly BlockSample[], fromMs: number, toMs: number): number {
  const txs = blocks
    .filter((b) => b.observedMs > fromMs && b.observedMs <= toMs)
    .reduce((sum, b) => sum + b.txs, 0);
  return txs / ((toMs - fromMs) / 1000);
}

test('a steady 2,000 tx/s chain measures 2,000 tx/s wherever the window falls', () => {
  // 300 txs every 150 ms; a 20 s window shifted across one block interval.
  let fixedMin = Infinity;
  let fixedMax = -Infinity;
  for (let offset = 0; offset < 150; offset += 7) {
    const blocks = steadyChain(300, 150, offset, 200);
    const rate = committedRate(blocks, 5_000, 25_000);
    assert.ok(Math.abs(rate - 2_000) < 1e-6, `offset ${offset}: ${rate} tx/s`);
    const fixed = fixedEdgeRate(blocks, 5_000, 25_000);
    fixedMin = Math.min(fixedMin, fixed);
    fixedMax = Math.max(fixedMax, fixed);
  }
  // What the fixed edges did: a whole block's worth (15 tx/s) either way of the truth.
  assert.ok(fixedMax - fixedMin >= 15, `fixed-edge spread ${fixedMin}..${fixedMax}`);
});

test('blocks seen in one poll count from the first moment, not from the first block', () => {
  // Heights 1-2 seen together at 1,000 ms, 3-4 together at 2,000 ms: 4 txs after the first moment in 1 s.
  const blocks: BlockSample[] = [1_000, 1_000, 2_000, 2_000].map((observedMs, i) => ({
    height: i + 1,
    timeMs: 0,
    txs: 2,
    ours: 2,
    observedMs,
  }));
  assert.is(committedRate(blocks, 0, 10_000), 4);
});

test('uneven blocks: the txs after the first observation over the span between observations', () => {
  const blocks = [100, 900, 400, 700].map((txs, i) => ({
    height: i + 1,
    timeMs: 0,
    txs,
    ours: txs,
    observedMs: 1_000 + i * 500,
  }));
  // (900 + 400 + 700) txs over 1.5 s.
  assert.ok(Math.abs(committedRate(blocks, 0, 3_000) - 2_000 / 1.5) < 1e-9);
  // Blocks outside (fromMs, toMs] do not count: only the last three, over 1 s.
  assert.ok(Math.abs(committedRate(blocks, 1_000, 3_000) - (400 + 700) / 1) < 1e-9);
});

test('fewer than two moments in the window: txs over the window length, zero when none', () => {
  const one = steadyChain(300, 150, 5_100, 1);
  assert.is(committedRate(one, 5_000, 25_000), 300 / 20);
  assert.is(committedRate([], 5_000, 25_000), 0);
});

test.run();
