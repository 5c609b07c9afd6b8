/**
 * node/rpc/commit-waiters.ts alone: broadcast_tx_commit's waiters are answered from the node's
 * 'block' event with their own tx's height and result, a replay refusal answers nobody, and the
 * bound and the timeout hold (a released waiter frees its place, releasing twice is harmless).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommitWaiters } from '../../../../node/rpc/commit-waiters.ts';
import { type Block, txHash } from '../../../../packages/types/block.ts';
import type { ExecTxResult } from '../../../../state/application.ts';

const utf8 = new TextEncoder();

/** Only the height and the txs matter to the waiters. */
function blockOf(height: bigint, txs: string[]): Block {
  return {
    header: { height },
    txs: txs.map((t) => utf8.encode(t)),
    evidence: [],
    lastCommit: null,
  } as unknown as Block;
}

function result(log: string, code = 0, codespace = ''): ExecTxResult {
  return { code, codespace, log, events: [] };
}

const hash = (t: string) => txHash(utf8.encode(t));

test('each waiter of a committed tx gets its height and its own result; the others keep waiting', async () => {
  const waiters = new CommitWaiters({ maxCommitWaiters: 10, broadcastTxCommitTimeoutMs: 50 });
  const a1 = waiters.wait(hash('a'))!;
  const a2 = waiters.wait(hash('a'))!;
  const b = waiters.wait(hash('b'))!;
  assert.is(waiters.size, 3);
  waiters.blockCommitted(blockOf(7n, ['c', 'a']), {
    txResults: [result('of c'), result('of a')],
    events: [],
  });
  for (const w of [a1, a2]) assert.equal(await w.outcome(), { height: 7n, result: result('of a') });
  assert.is(await b.outcome(), null, 'b was not in the block: it times out');
  for (const w of [a1, a2, b]) w.release();
  assert.is(waiters.size, 0);
});

test("a replay (in the block's replayed set) answers nobody; a tx twice in a block answers with the first", async () => {
  const waiters = new CommitWaiters({ maxCommitWaiters: 10, broadcastTxCommitTimeoutMs: 50 });
  const replayed = waiters.wait(hash('old'))!;
  const twice = waiters.wait(hash('new'))!;
  waiters.blockCommitted(blockOf(3n, ['old', 'new', 'new']), {
    txResults: [
      result('tx was already committed', 1, 'TX_ALREADY_COMMITTED'),
      result('first'),
      result('tx was already committed', 1, 'TX_ALREADY_COMMITTED'),
    ],
    events: [],
    replayed: new Set([0, 2]),
  });
  assert.equal(await twice.outcome(), { height: 3n, result: result('first') });
  assert.is(await replayed.outcome(), null);
  // An application's own failure is a commit all the same: it answers.
  const failed = waiters.wait(hash('fails'))!;
  waiters.blockCommitted(blockOf(4n, ['fails']), {
    txResults: [result('refused', 7, 'KV_BAD_PAYLOAD')],
    events: [],
  });
  assert.equal(await failed.outcome(), { height: 4n, result: result('refused', 7, 'KV_BAD_PAYLOAD') });
});

test('bounded: past maxCommitWaiters a wait is refused; a release frees its place, twice is harmless', () => {
  const waiters = new CommitWaiters({ maxCommitWaiters: 2, broadcastTxCommitTimeoutMs: 50 });
  assert.is(waiters.max, 2);
  const first = waiters.wait(hash('x'))!;
  const second = waiters.wait(hash('x'))!;
  assert.is(waiters.wait(hash('y')), null);
  first.release();
  first.release();
  assert.is(waiters.size, 1);
  const third = waiters.wait(hash('y'));
  assert.ok(third !== null);
  assert.is(waiters.wait(hash('z')), null, 'a double release must not free a second place');
  second.release();
  third.release();
  assert.is(waiters.size, 0);
});

test('a released waiter is not answered, and a block after it changes nothing', async () => {
  const waiters = new CommitWaiters({ maxCommitWaiters: 2, broadcastTxCommitTimeoutMs: 30 });
  const gone = waiters.wait(hash('q'))!;
  const kept = waiters.wait(hash('q'))!;
  gone.release();
  waiters.blockCommitted(blockOf(9n, ['q']), { txResults: [result('q')], events: [] });
  assert.equal(await kept.outcome(), { height: 9n, result: result('q') });
  assert.is(await gone.outcome(), null);
  kept.release();
  assert.is(waiters.size, 0);
});

test.run();
