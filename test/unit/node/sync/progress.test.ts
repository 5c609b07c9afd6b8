/**
 * node/sync/progress.ts: block sync logs its progress at most once per interval, with the height
 * against the target, blocks/s and txs/s since the previous line and an ETA at that pace, and one
 * line with the totals when it ends. The clock is a variable the test moves; nothing sleeps.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PROGRESS_INTERVAL_MS, SyncProgress } from '../../../../node/sync/progress.ts';
import { recordingLogger } from '../fixtures.ts';

test('a progress line at most every interval, with rates since the previous line and an ETA', () => {
  const log = recordingLogger();
  let now = 1_000;
  const p = new SyncProgress(log, () => now);
  p.begin(100n);
  // 4 blocks of 50 txs within the first interval: no line yet.
  for (let h = 101n; h <= 104n; h++) {
    now += 1000;
    p.committed(h, 50, 1_104n);
  }
  assert.is(log.lines.length, 0, 'no line before the interval has passed');
  now += 1000; // 5 s after the start: 5 blocks, 250 txs
  p.committed(105n, 50, 1_104n);
  assert.is(log.lines.length, 1);
  assert.equal(log.lines[0]!.fields, {
    height: 105n,
    target: 1_104n,
    blocks_per_s: 1,
    txs_per_s: 50,
    eta_s: 999,
  });
  assert.is(log.lines[0]!.msg, 'block sync: height 105/1104, 1 blocks/s, 50 txs/s, ETA 999 s');
  // Faster now: 20 blocks of 1,000 txs in 2 s then one more after 3 s: rates over those 5 s only.
  for (let h = 106n; h <= 125n; h++) {
    now += 100;
    p.committed(h, 1000, 1_104n);
  }
  assert.is(log.lines.length, 1, 'many blocks within the interval still make no line');
  now += 3000;
  p.committed(126n, 1000, 1_104n);
  assert.is(log.lines.length, 2);
  assert.equal(log.lines[1]!.fields, {
    height: 126n,
    target: 1_104n,
    blocks_per_s: 4.2,
    txs_per_s: 4200,
    eta_s: Math.ceil(978 / 4.2),
  });
});

test('the end line has the totals of the whole sync; a sync that committed nothing logs none', () => {
  const log = recordingLogger();
  let now = 0;
  let cpu = { process: 500, thread: 400 };
  const p = new SyncProgress(
    log,
    () => now,
    PROGRESS_INTERVAL_MS,
    () => cpu,
  );
  p.begin(7n);
  now = 60_000;
  p.end(7n);
  assert.is(log.lines.length, 0, 'nothing synced: nothing to report');
  p.begin(7n);
  for (let h = 8n; h <= 17n; h++) p.committed(h, 300, 17n);
  now = 62_000; // 10 blocks, 3,000 txs in 2 s, with 3 s of CPU of which 1.5 s on the main thread
  cpu = { process: 3500, thread: 1900 };
  p.end(17n);
  assert.is(log.lines.length, 1);
  assert.equal(log.lines[0]!.fields, {
    from: 8n,
    height: 17n,
    blocks: 10,
    txs: 3000,
    seconds: 2,
    blocks_per_s: 5,
    txs_per_s: 1500,
    cpu_s: 3,
    main_thread_cpu_s: 1.5,
    txs_per_main_thread_cpu_s: 2000,
  });
  assert.match(log.lines[0]!.msg, /^block sync done: heights 8\.\.17, 10 blocks and 3000 txs in 2\.0 s/);
  assert.match(log.lines[0]!.msg, /CPU 3\.0 s, main thread 1\.5 s \(2000 txs per main-thread CPU-s\)$/);
});

test('a target already passed gives an ETA of 0, and no pace yet gives none', () => {
  const log = recordingLogger();
  let now = 0;
  const p = new SyncProgress(log, () => now, 10);
  p.begin(0n);
  now = 10;
  p.committed(1n, 0, 1n);
  assert.is(log.lines[0]!.fields!.eta_s, 0);
  assert.is(log.lines[0]!.fields!.blocks_per_s, 100);
});

test.run();
