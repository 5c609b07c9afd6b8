/**
 * A node killed in the middle of a block sync resumes from its database: three of four
 * validators commit a history with txs while the fourth has never run; the fourth then starts
 * with an empty data folder and block-syncs. Once its log shows a few synced heights it is frozen
 * (SIGSTOP, so the heights it has written are known from its log and it is still far from the
 * target) and killed with SIGKILL wherever it was, possibly inside a block's batch. Restarted on
 * the same home it must finish the sync with the validators' block ids and app hashes at every
 * height and every committed tx readable: each synced block is one atomic, synced LevelDB batch.
 * Ports 28656 on (test/README.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeLogPath } from '../../node/spawn.ts';
import { Consortium, KvClient, waitUntil } from './harness.ts';

const net = Consortium.create({ validators: 4, basePort: 28656 });
const client = new KvClient(net.chainId);
const SYNCER = 3;

test.after(async () => {
  await net.destroy();
});

/** The heights the node's log says it committed, in order. */
function committedHeights(node: number): bigint[] {
  const path = nodeLogPath(net.homes[node]!);
  // The log file appears with the node's first line.
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; height?: string | number };
        return entry.msg === 'committed' && entry.height !== undefined ? [BigInt(entry.height)] : [];
      } catch {
        return [];
      }
    });
}

test('SIGKILL in the middle of a block sync: restarted, the node finishes it on the same chain', async () => {
  for (const i of [0, 1, 2]) net.start(i);
  await Promise.all([0, 1, 2].map((i) => net.waitForHeight(i, 2n, 60_000)));
  const keys: string[] = [];
  for (let k = 0; k < 60; k++) {
    const tx = client.tx(`s${k}`, `value-of-s${k}`);
    const r = await net.rpc<{ code: number }>(k % 3, `/broadcast_tx_sync?tx=${tx.hex}`);
    assert.is(r.code, 0, `tx s${k} refused`);
    keys.push(`s${k}`);
  }
  // A history long enough that a sync of it is still under way a few heights in.
  await Promise.all([0, 1, 2].map((i) => net.waitForHeight(i, 80n, 120_000)));
  for (const key of keys)
    await waitUntil(
      `key ${key} on node 0`,
      async () => (await net.kvValue(0, key)) !== null,
      20_000,
      () => net.logTail(0),
    );
  const target = await net.height(0);

  net.start(SYNCER);
  // Polled tightly (a sync of small blocks takes tens of heights a second), then frozen at once.
  const deadline = Date.now() + 60_000;
  while (committedHeights(SYNCER).length < 3) {
    if (Date.now() > deadline) throw new Error(`the syncing node committed nothing\n${net.logTail(SYNCER)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  net.signal(SYNCER, 'SIGSTOP');
  const before = committedHeights(SYNCER);
  const reached = before[before.length - 1]!;
  assert.ok(
    reached < target - 5n,
    `frozen at height ${reached}, too near the target ${target} to be mid-sync`,
  );
  await net.stop(SYNCER, 'SIGKILL');

  net.start(SYNCER);
  await net.waitForHeight(SYNCER, target, 90_000);
  for (let h = 1n; h <= target; h++) {
    const [a, b] = await Promise.all([net.blockId(0, h), net.blockId(SYNCER, h)]);
    assert.is(b.hash, a.hash, `block id differs at height ${h}`);
    assert.is(b.appHash, a.appHash, `app hash differs at height ${h}`);
  }
  for (const key of keys) assert.is(await net.kvValue(SYNCER, key), `value-of-${key}`);
  const after = committedHeights(SYNCER);
  assert.ok(after.length > before.length, 'the restarted node committed the rest itself');
});

test.run();
