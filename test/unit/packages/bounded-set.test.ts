/**
 * packages/core/bounded-set.ts: holds at most `capacity` keys, forgets them oldest first, and a
 * key added again neither moves nor evicts anything; checked against a plain array model over a
 * seeded random sequence.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BoundedSet } from '../../../packages/core/bounded-set.ts';
import { seededRandom } from '../../../packages/core/seeded-random.ts';
import { throwsCode } from './fixtures.ts';

test('BoundedSet forgets the oldest key first, and a repeated key evicts nothing', () => {
  const set = new BoundedSet(3);
  for (const key of ['a', 'b', 'c']) set.add(key);
  set.add('a');
  assert.is(set.size, 3, 'a key held already is not added twice');
  set.add('d');
  assert.equal(
    ['a', 'b', 'c', 'd'].map((k) => set.has(k)),
    [false, true, true, true],
    'the oldest (a, first added) goes, even though it was added again since',
  );
});

test('BoundedSet matches a first-in first-out model over a seeded random sequence', () => {
  const seed = 2026;
  const next = seededRandom(seed);
  const capacity = 17;
  const set = new BoundedSet(capacity);
  const model: string[] = [];
  for (let step = 0; step < 5000; step++) {
    const key = `k${Math.floor(next() * 60)}`;
    if (!model.includes(key)) {
      model.push(key);
      if (model.length > capacity) model.shift();
    }
    set.add(key);
    assert.is(set.size, model.length, `seed ${seed}, step ${step}`);
    for (let k = 0; k < 60; k++)
      assert.is(set.has(`k${k}`), model.includes(`k${k}`), `seed ${seed}, step ${step}, key k${k}`);
  }
});

test('BoundedSet refuses a capacity below one', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) throwsCode(() => new BoundedSet(bad), 'CORE_ARGUMENT_INVALID');
});

test.run();
