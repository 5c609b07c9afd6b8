/**
 * packages/core/bounded-keys.ts against the Set-based versions it replaced (RecentlyCommitted's FIFO and the
 * mempool's recent-hash LRU, copied here as models): on seeded random sequences of adds, touches
 * and deletes over small key spaces (so keys repeat and evictions happen), the same members and
 * size after every step, for bounds from 1 to 100.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FifoKeys, LruKeys } from '../../../packages/core/bounded-keys.ts';
import { seededRandom } from '../../../packages/core/seeded-random.ts';

const SEED = 0xb0_4e_d0;
const BOUNDS = [1, 2, 3, 10, 100];

/** RecentlyCommitted.add before bounded-keys.ts. */
function fifoModelAdd(set: Set<string>, max: number, key: string): void {
  if (set.size >= max) set.delete(set.values().next().value!);
  set.add(key);
}

/** Mempool.remember before bounded-keys.ts. */
function lruModelTouch(set: Set<string>, max: number, key: string): void {
  if (max === 0) return;
  set.delete(key);
  set.add(key);
  if (set.size > max) set.delete(set.values().next().value!);
}

function sameMembers(
  keys: { has(k: string): boolean; size: number },
  model: Set<string>,
  space: number,
  what: string,
): void {
  assert.is(keys.size, model.size, `${what}: size`);
  for (let k = 0; k < space; k++) assert.is(keys.has(`k${k}`), model.has(`k${k}`), `${what}: k${k}`);
}

test('FifoKeys: the same members as the Set it replaced, duplicates and evictions included', () => {
  for (const max of BOUNDS) {
    const rand = seededRandom(SEED + max);
    const space = max * 3 + 2;
    const keys = new FifoKeys(max);
    const model = new Set<string>();
    for (let step = 0; step < 5000; step++) {
      const key = `k${Math.floor(rand() * space)}`;
      keys.add(key);
      fifoModelAdd(model, max, key);
      sameMembers(keys, model, space, `seed ${SEED + max}, max ${max}, step ${step}`);
    }
  }
});

test('LruKeys: the same members as the Set it replaced, under touches and deletes', () => {
  for (const max of [0, ...BOUNDS]) {
    const rand = seededRandom(SEED + 1000 + max);
    const space = max * 3 + 2;
    const keys = new LruKeys(max);
    const model = new Set<string>();
    for (let step = 0; step < 5000; step++) {
      const key = `k${Math.floor(rand() * space)}`;
      if (rand() < 0.25) {
        keys.delete(key);
        model.delete(key);
      } else {
        keys.touch(key);
        lruModelTouch(model, max, key);
      }
      sameMembers(keys, model, space, `seed ${SEED + 1000 + max}, max ${max}, step ${step}`);
    }
  }
});

test('bounds are checked', () => {
  assert.throws(() => new FifoKeys(0), /at least one/);
  assert.throws(() => new LruKeys(-1), /non-negative/);
});

test.run();
