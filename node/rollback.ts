/**
 * `careledger rollback`: moves a stopped node's state back one height, to recover from a state
 * transition that wrote a wrong app hash (as CometBFT's `rollback`). It rebuilds the database by
 * replaying the node's own blocks up to H-1 through the same executor the node uses, checks the
 * rebuilt app hash against the one block H's header recorded, then swaps the databases, keeping
 * the old one beside it. On restart the node gets block H again from its peers and re-executes it.
 * Replaying costs time in proportion to the chain (progress is printed); the double-sign state is
 * left as it is, so the node never signs again at a height it signed.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { CareLedgerError } from '../packages/core/errors.ts';
import { equalBytes } from '../packages/crypto/hash.ts';
import { checkTxBytes } from '../packages/types/tx.ts';
import { BlockStore } from '../state/block-store.ts';
import { openDb } from '../state/db.ts';
import { initChain, openApplication } from './app.ts';
import { executeBlock } from './executor.ts';
import type { Home } from './home.ts';

export interface RollbackResult {
  readonly from: bigint;
  readonly to: bigint;
  /** Where the database from before the rollback was kept. */
  readonly kept: string;
}

/** Where a rollback builds the new database before it takes the place of the old one. */
function rebuiltPath(db: string): string {
  return `${db}.rollback-in-progress`;
}

/**
 * Finishes a rollback killed between its two renames: no database, and a rebuilt one, which is
 * complete (the old database is moved away only after the rebuilt one was checked). True if it did.
 */
export function finishInterruptedRollback(db: string): boolean {
  if (existsSync(db) || !existsSync(rebuiltPath(db))) return false;
  renameSync(rebuiltPath(db), db);
  return true;
}

export async function rollback(home: Home, progress: (line: string) => void): Promise<RollbackResult> {
  const { paths } = home;
  if (!existsSync(paths.db)) throw new CareLedgerError('ROLLBACK_NOTHING', `no database at ${paths.db}`);
  const old = await openDb(paths.db);
  const rebuilt = rebuiltPath(paths.db);
  try {
    const oldBlocks = await BlockStore.open(old);
    const chain = await oldBlocks.chainState();
    if (chain === null || chain.lastHeight < chain.initialHeight)
      throw new CareLedgerError('ROLLBACK_NOTHING', 'the node has no block to roll back');
    const target = chain.lastHeight - 1n;
    rmSync(rebuilt, { recursive: true, force: true });
    const db = await openDb(rebuilt);
    try {
      const blocks = await BlockStore.open(db);
      const app = await openApplication(home.config.proxyApp, db);
      let state = await initChain(home.genesis, db, blocks, app);
      for (let h = state.initialHeight; h <= target; h++) {
        const block = await oldBlocks.block(h);
        const commit = await oldBlocks.commit(h);
        if (block === null || commit === null)
          throw new CareLedgerError('ROLLBACK_MISSING_BLOCK', `block ${h} is missing from the store`);
        const txs = block.txs.map((tx) => checkTxBytes(state.chainId, tx));
        state = (await executeBlock({ db, blocks, app, chain: state }, block, commit, txs)).after;
        if (h % 500n === 0n) progress(`replayed ${h} of ${target} blocks`);
      }
      // Block H's header records the app hash after H-1: the rebuilt state must match it.
      const last = await oldBlocks.block(chain.lastHeight);
      if (last !== null && !equalBytes(last.header.appHash, state.appHash)) {
        throw new CareLedgerError(
          'ROLLBACK_MISMATCH',
          `replaying to height ${target} gives an app hash that block ${chain.lastHeight} does not record`,
        );
      }
    } finally {
      await db.close();
    }
    await old.close();
    const kept = `${paths.db}.before-rollback-${chain.lastHeight}`;
    // A kill between the two renames leaves no database: the next start finishes the second
    // (finishInterruptedRollback). A second rename that fails puts the old database back.
    renameSync(paths.db, kept);
    try {
      renameSync(rebuilt, paths.db);
    } catch (err) {
      renameSync(kept, paths.db);
      throw err;
    }
    // The WAL is of a height the node no longer decides (a WAL of another height is started
    // afresh anyway); and losing it is safe: the double-sign guard is a file of its own.
    rmSync(paths.wal, { force: true });
    return { from: chain.lastHeight, to: target, kept };
  } catch (err) {
    if (old.status === 'open') await old.close();
    rmSync(rebuilt, { recursive: true, force: true });
    throw err;
  }
}
