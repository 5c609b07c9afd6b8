/**
 * node/rpc/tx-search.ts over an index written by node/tx-index.ts in a real LevelDB: an exact
 * match scans only the heights the query's height conditions leave, and the scan budget is the
 * query's, all conditions together, so a query cannot multiply it by repeating a condition.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseQuery } from '../../../../node/rpc/events-query.ts';
import { searchBlocks, searchTxs } from '../../../../node/rpc/tx-search.ts';
import { txIndexOps } from '../../../../node/tx-index.ts';
import type { Block } from '../../../../packages/types/block.ts';
import { type Db, openDb } from '../../../../state/db.ts';

/** Heights 1..20: one tx per block with kv.key='k' (and 'odd' on odd heights), block event tick. */
async function indexed(fn: (db: Db) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-txindex-'));
  const db = await openDb(dir);
  try {
    for (let h = 1n; h <= 20n; h++) {
      // Only the height and the txs matter to the index.
      const block = {
        header: { height: h },
        txs: [Uint8Array.of(Number(h))],
        evidence: [],
        lastCommit: null,
      };
      const attributes = [{ key: 'key', value: 'k', index: true }];
      if (h % 2n === 1n) attributes.push({ key: 'key', value: 'odd', index: true });
      const results = [{ code: 0, codespace: '', log: '', events: [{ type: 'kv', attributes }] }];
      const blockEvents = [{ type: 'tick', attributes: [{ key: 'n', value: 'x', index: true }] }];
      await db.batch(txIndexOps(block as unknown as Block, results, blockEvents));
    }
    await fn(db);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const noHash = async () => null;
const heights = (found: { height: bigint }[]) => found.map((p) => p.height);

test('an exact match reads only the heights left by the height conditions', async () => {
  await indexed(async (db) => {
    const narrowed = parseQuery("tx.height >= 7 AND tx.height <= 9 AND kv.key = 'k'");
    // 3 entries of 'k' in range: a budget of 4 is enough, though 'k' has 20.
    assert.equal(heights(await searchTxs(db, narrowed, noHash, 4)), [7n, 8n, 9n]);
    const odd = parseQuery("kv.key = 'odd' AND kv.key = 'k' AND tx.height > 14");
    assert.equal(heights(await searchTxs(db, odd, noHash, 12)), [15n, 17n, 19n]);
    assert.equal(await searchTxs(db, parseQuery("tx.height < 1 AND kv.key = 'k'"), noHash, 1), []);
    const blocks = parseQuery("block.height >= 18 AND tick.n = 'x'");
    assert.equal(await searchBlocks(db, blocks, 1n, 20n, 3 + 3), [18n, 19n, 20n]);
  });
});

test("the scan budget is the query's: repeating a condition spends it again", async () => {
  await indexed(async (db) => {
    const once = parseQuery("kv.key = 'k'");
    assert.is((await searchTxs(db, once, noHash, 20)).length, 20);
    const twice = parseQuery("kv.key = 'k' AND kv.key = 'k'");
    const err = await searchTxs(db, twice, noHash, 30).catch((e: unknown) => e as Error);
    assert.instance(err, Error);
    assert.match(
      (err as Error).message,
      /more index entries than one search may .* at the condition on kv\.key/,
    );
    assert.is((await searchTxs(db, twice, noHash, 40)).length, 20);
    // A non-exact condition cannot be narrowed by height: it scans every value of the tag.
    const prefix = parseQuery("kv.key CONTAINS 'od' AND tx.height = 3");
    assert.equal(heights(await searchTxs(db, prefix, noHash, 30)), [3n]);
    const short = await searchTxs(db, prefix, noHash, 29).catch((e: unknown) => e as Error);
    assert.instance(short, Error);
  });
});

test.run();
