/**
 * node/vault/keyed-lock.ts: work on one key runs one at a time in call order, work on different
 * keys overlaps, a failure releases the lock, and idle keys leave nothing behind.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyedLock } from '../../../../node/vault/keyed-lock.ts';

/** A promise and its resolver, to hold a task open until the test lets it go. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

test('one key: serialised in call order; another key: not blocked', async () => {
  const lock = new KeyedLock();
  const log: string[] = [];
  const g = gate();
  const first = lock.run('a', async () => {
    log.push('a1 start');
    await g.promise;
    log.push('a1 end');
  });
  const second = lock.run('a', async () => {
    log.push('a2');
  });
  await lock.run('b', async () => {
    log.push('b');
  });
  assert.equal(log, ['a1 start', 'b']);
  g.open();
  await Promise.all([first, second]);
  assert.equal(log, ['a1 start', 'b', 'a1 end', 'a2']);
  assert.is(lock.size, 0);
});

test('a failing task passes its error on and releases the key', async () => {
  const lock = new KeyedLock();
  const err = await lock
    .run('a', async () => {
      throw new Error('disk full');
    })
    .catch((e: unknown) => e);
  assert.is((err as Error).message, 'disk full');
  assert.is(await lock.run('a', async () => 42), 42);
  assert.is(lock.size, 0);
});

test.run();
