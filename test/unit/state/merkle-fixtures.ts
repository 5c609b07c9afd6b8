/**
 * What the Merkle store tests share: a real LevelDB in a temp folder, committing a version the
 * way the node does (prepare, write the batch, tell the store), counting a bucket's keys, and
 * expecting a CareLedgerError with a given code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import * as assert from 'uvu/assert';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import type { MerkleStore, StateChange } from '../../../state/merkle/store.ts';

export type Db = ClassicLevel<Uint8Array, Uint8Array>;
export const VIEW = { keyEncoding: 'view', valueEncoding: 'view' } as const;

/** Runs `fn` over a fresh database in a temp folder, closed and removed afterwards. */
export async function withDb(fn: (db: Db, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-merkle-'));
  const db: Db = new ClassicLevel(dir, VIEW);
  await db.open();
  try {
    await fn(db, dir);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Prepares the next version, writes its batch as the node would, and tells the store. */
export async function commit(
  db: Db,
  store: MerkleStore,
  changes: Iterable<StateChange>,
): Promise<Uint8Array> {
  const { version, root, ops } = await store.prepare(store.latestVersion + 1n, changes);
  await db.batch(ops, VIEW);
  store.committed(version, root);
  return root;
}

/** The number of keys in one bucket (the keys whose first byte is `bucket`). */
export async function countKeys(db: Db, bucket: number): Promise<number> {
  let n = 0;
  for await (const _ of db.keys({ gte: Uint8Array.of(bucket), lt: Uint8Array.of(bucket + 1) })) n++;
  return n;
}

/** `fn` must reject with a CareLedgerError of `code`. */
export async function rejects(fn: () => Promise<unknown>, code: string): Promise<void> {
  try {
    await fn();
  } catch (err) {
    assert.instance(err, CareLedgerError, String(err));
    assert.is((err as CareLedgerError).code, code, (err as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}
