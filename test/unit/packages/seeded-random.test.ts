/**
 * The seeded generator tests and benches replay from: the same seed gives the same sequence,
 * another seed another one, every value in [0, 1) and spread over it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { seededRandom } from '../../../packages/core/seeded-random.ts';

const draw = (seed: number, n: number): number[] => {
  const next = seededRandom(seed);
  return Array.from({ length: n }, () => next());
};

test('the same seed replays the same sequence; another seed does not', () => {
  assert.equal(draw(42, 100), draw(42, 100));
  assert.not.equal(draw(42, 100), draw(43, 100));
  // Seeds are taken mod 2^32.
  assert.equal(draw(2 ** 32 + 5, 10), draw(5, 10));
});

test('values lie in [0, 1) and fill each tenth of it', () => {
  const values = draw(7, 10_000);
  assert.ok(values.every((v) => v >= 0 && v < 1));
  const tenths = new Array<number>(10).fill(0);
  for (const v of values) tenths[Math.floor(v * 10)]!++;
  for (const count of tenths) assert.ok(count > 900 && count < 1100, `tenths: ${tenths.join(' ')}`);
});

test.run();
