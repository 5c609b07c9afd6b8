/**
 * Executes a decided block and makes it durable: replay protection by tx hash, the application's
 * finalize, the next chain state, then the block, its commit, its indexes, the state changes and
 * the chain state in ONE synced LevelDB batch. Used by the running node and by `rollback`, which
 * rebuilds a database by replaying blocks, so both go through exactly the same steps.
 */
import { toHex } from '../packages/crypto/hash.ts';
import { type Block, encodeBlock, resultsHash } from '../packages/types/block.ts';
import { applyBlock, type ChainState } from '../packages/types/chain-state.ts';
import type { Commit } from '../packages/types/commit.ts';
import type { CheckedTx } from '../packages/types/tx.ts';
import type { AppEvent, Application, ExecTxResult } from '../state/application.ts';
import type { BlockStore } from '../state/block-store.ts';
import { type Db, writeBatch } from '../state/db.ts';
import { txIndexOps } from './tx-index.ts';

export interface Executed {
  readonly after: ChainState;
  readonly txResults: readonly ExecTxResult[];
  readonly events: readonly AppEvent[];
  readonly appHash: Uint8Array;
  /** Positions of txs refused because their hash was already committed. */
  readonly replayed: ReadonlySet<number>;
  /** The size of the block as stored (its canonical encoding). */
  readonly blockBytes: number;
}

export interface ExecutionContext {
  readonly db: Db;
  readonly blocks: BlockStore;
  readonly app: Application;
  readonly chain: ChainState;
  /** A fast answer for recently committed hashes; the tx index answers the rest. */
  readonly recentlyCommitted?: (hashHex: string) => boolean;
}

const REPLAYED: ExecTxResult = {
  code: 1,
  codespace: 'TX_ALREADY_COMMITTED',
  log: 'tx was already committed',
  events: [],
};

/** `txs` are the block's txs, decoded and signature-checked, in block order. */
export async function executeBlock(
  ctx: ExecutionContext,
  block: Block,
  commit: Commit,
  txs: readonly CheckedTx[],
): Promise<Executed> {
  // A tx hash committed before, or twice in this block, is not executed: the same on every node,
  // since every node has the same tx index at this height. The index is read once for the whole
  // block (one await, not one per tx: each await is a trip through a busy event loop).
  const fresh: CheckedTx[] = [];
  const replayed = new Set<number>();
  const keys = txs.map((tx) => toHex(tx.hash));
  const seen = new Set<string>();
  const unknown: number[] = [];
  for (const [i, key] of keys.entries()) {
    if (seen.has(key) || ctx.recentlyCommitted?.(key) === true) replayed.add(i);
    else unknown.push(i);
    seen.add(key);
  }
  const stored = await ctx.blocks.committedTxs(unknown.map((i) => txs[i]!.hash));
  for (const [j, i] of unknown.entries()) if (stored[j] === true) replayed.add(i);
  for (const [i, tx] of txs.entries()) if (!replayed.has(i)) fresh.push(tx);
  const result = await ctx.app.finalizeBlock(block, fresh);
  let next = 0;
  const txResults = txs.map((_, i) => (replayed.has(i) ? REPLAYED : result.txResults[next++]!));
  const after = applyBlock(ctx.chain, block, commit, { ...result, resultsHash: resultsHash(txResults) });
  const encodedBlock = encodeBlock(block);
  const ops = [
    ...ctx.blocks.commitOps(block, commit, after, txResults, result.events, replayed, encodedBlock),
    ...txIndexOps(block, txResults, result.events, replayed),
    ...result.ops,
  ];
  await writeBatch(ctx.db, ops, { sync: true });
  ctx.blocks.committed(block, after);
  ctx.app.commit(block.header.height, result.appHash);
  return {
    after,
    txResults,
    events: result.events,
    appHash: result.appHash,
    replayed,
    blockBytes: encodedBlock.length,
  };
}
