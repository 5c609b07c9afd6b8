/**
 * node/executor.ts against a real LevelDB block store: the replay check by tx hash (now one
 * batched read of the tx index per block) refuses a hash committed in an earlier block, one
 * repeated inside the block, and one the node's in-memory recent set knows, and executes the rest
 * in block order; BlockStore.committedTxs answers for a list of hashes in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { executeBlock } from '../../../node/executor.ts';
import { sha256, toHex } from '../../../packages/crypto/hash.ts';
import { blockIdOf } from '../../../packages/types/block.ts';
import { buildBlock, type ChainState } from '../../../packages/types/chain-state.ts';
import { type CheckedTx, signTx } from '../../../packages/types/tx.ts';
import type { Application, FinalizeResult } from '../../../state/application.ts';
import { BlockStore } from '../../../state/block-store.ts';
import { openDb } from '../../../state/db.ts';
import { CHAIN_ID, keyFor, makeChain, signedCommit } from '../consensus/fixtures.ts';

const utf8 = new TextEncoder();
const dir = mkdtempSync(join(tmpdir(), 'careledger-executor-unit-'));
const db = await openDb(join(dir, 'db'));
const blocks = await BlockStore.open(db);
const made = makeChain([10n, 10n, 10n, 10n], 'executor');
let chain: ChainState = made.chain;
await db.batch(blocks.genesisOps(chain), { sync: true });
blocks.genesisCommitted(chain);

const signer = keyFor('executor-signer');
let nonce = 0n;
function tx(label: string): CheckedTx {
  return signTx(CHAIN_ID, signer.secretKey, signer.publicKey, nonce++, utf8.encode(label));
}

// Only what executeBlock calls; each finalize records the txs it was given.
const finalized: string[][] = [];
const app = {
  finalizeBlock: async (block, txs): Promise<FinalizeResult> => {
    finalized.push(txs.map((t) => new TextDecoder().decode(t.tx.payload)));
    return {
      txResults: txs.map(() => ({ code: 0, codespace: '', log: '', events: [] })),
      events: [],
      validatorUpdates: [],
      appHash: sha256(utf8.encode(`app-${block.header.height}`)),
      ops: [],
    };
  },
  commit: () => undefined,
} as Partial<Application> as Application;

async function commitTxs(txs: readonly CheckedTx[], recentlyCommitted?: (hashHex: string) => boolean) {
  const block = buildBlock(chain, {
    txs: txs.map((t) => t.bytes),
    evidence: [],
    time: chain.lastBlockTime + 1000n,
    proposer: chain.validators.set.validators[chain.validators.proposer]!.address,
  });
  const commit = signedCommit(made.fx, [0, 1, 2, 3], block.header.height, 0, blockIdOf(block.header));
  const executed = await executeBlock(
    recentlyCommitted === undefined
      ? { db, blocks, app, chain }
      : { db, blocks, app, chain, recentlyCommitted },
    block,
    commit,
    txs,
  );
  chain = executed.after;
  return executed;
}

const a = tx('a');
const b = tx('b');
const c = tx('c');
const d = tx('d');
const e = tx('e');

test('a fresh block executes every tx and indexes their hashes', async () => {
  assert.equal(await blocks.committedTxs([a.hash, b.hash]), [false, false]);
  const executed = await commitTxs([a, b]);
  assert.equal([...executed.replayed], []);
  assert.equal(finalized.at(-1), ['a', 'b']);
  assert.equal(await blocks.committedTxs([b.hash, c.hash, a.hash]), [true, false, true]);
  assert.equal(await blocks.committedTxs([]), []);
  assert.equal((await blocks.txLocation(b.hash))?.index, 1);
  // The RPC's synchronous replay check reads the same index.
  assert.equal(
    [a, b, c].map((t) => blocks.hasTxSync(t.hash)),
    [true, true, false],
  );
});

test('a replayed hash (from an earlier block or repeated in the block) is refused after the batched lookup', async () => {
  // Nothing in memory: only the tx index knows a and b were committed at height 1.
  const executed = await commitTxs([a, c, c, b, d]);
  assert.equal(
    [...executed.replayed].sort((x, y) => x - y),
    [0, 2, 3],
  );
  assert.equal(finalized.at(-1), ['c', 'd']);
  assert.equal(
    executed.txResults.map((r) => r.codespace),
    ['TX_ALREADY_COMMITTED', '', 'TX_ALREADY_COMMITTED', 'TX_ALREADY_COMMITTED', ''],
  );
  // The index keeps pointing at each hash's first commit.
  assert.equal(await blocks.txLocation(a.hash), { height: 1n, index: 0 });
  assert.equal(await blocks.txLocation(c.hash), { height: 2n, index: 1 });
  assert.equal(await blocks.txLocation(d.hash), { height: 2n, index: 4 });
});

test('the in-memory recent set refuses too, and a block of only replays executes nothing', async () => {
  const recent = new Set([toHex(e.hash)]);
  const executed = await commitTxs([e, d, a], (key) => recent.has(key));
  assert.equal(
    [...executed.replayed].sort((x, y) => x - y),
    [0, 1, 2],
  );
  assert.equal(finalized.at(-1), []);
});

test('an empty block needs no lookup', async () => {
  const executed = await commitTxs([]);
  assert.equal([...executed.replayed], []);
  assert.equal(executed.txResults, []);
});

test.after(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
