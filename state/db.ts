/**
 * The node's one LevelDB database and its buckets. Every kind of record lives under a one-byte
 * prefix from `Bucket`; numbers are never reused once retired. Numeric key parts are big-endian so
 * range scans sort by height. A block, its state changes, its indexes and the consensus bookkeeping
 * go into one batch (`BatchOp[]`) written atomically with `sync`.
 */
import { ClassicLevel } from 'classic-level';
import { u64be } from '../packages/codec/bytes.ts';
import { CareLedgerError } from '../packages/core/errors.ts';

export const Bucket = {
  /** Singletons: the chain state after the last committed block. */
  meta: 0x01,
  blockByHeight: 0x02,
  /** The commit that decided the block at a height (the canonical one is in the next block). */
  commitByHeight: 0x03,
  heightByBlockId: 0x04,
  /** tx hash -> (height, index): finds a tx and refuses its replay. */
  txByHash: 0x05,
  /** Validator sets by the height from which they apply (change points only). */
  validatorSets: 0x06,
  resultsByHeight: 0x07,
  /** Event attribute indexes for tx_search and block_search (node/tx-index.ts). */
  txEvents: 0x08,
  txByHeight: 0x09,
  blockEvents: 0x0a,
  /** Merkle state tree (state/merkle). */
  merkleNodes: 0x10,
  merkleRoots: 0x11,
  merkleStale: 0x12,
  merkleValues: 0x13,
  evidencePending: 0x20,
  evidenceCommitted: 0x21,
} as const;
export type Bucket = (typeof Bucket)[keyof typeof Bucket];

/** An operation of the block's one LevelDB batch (keyEncoding and valueEncoding 'view'). */
export type BatchOp =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: Uint8Array };

export type Db = ClassicLevel<Uint8Array, Uint8Array>;

/** Opens (creating) the database at `path`; DB_IN_USE if another process (or handle) holds it. */
/**
 * LevelDB's sizes, above its defaults (4 MiB write buffer, 8 MiB block cache, 2 MiB tables),
 * which are made for small embedded stores: a node writes every block's txs, their indexes and
 * the state tree's nodes (keyed by hash, so spread over the whole key space) in one batch. A larger
 * write buffer flushes and compacts less often; a larger cache keeps the tree's upper nodes
 * and the index's bloom filters in memory.
 */
export const LEVELDB_OPTIONS = {
  writeBufferSize: 32 * 1024 * 1024,
  cacheSize: 64 * 1024 * 1024,
  maxFileSize: 8 * 1024 * 1024,
} as const;

export async function openDb(path: string): Promise<Db> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path, {
    keyEncoding: 'view',
    valueEncoding: 'view',
    ...LEVELDB_OPTIONS,
  });
  try {
    await db.open();
  } catch (err) {
    // LevelDB's LOCK file: the usual cause is a second `careledger start` on the same home.
    if ((err as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED')
      throw new CareLedgerError(
        'DB_IN_USE',
        `the database ${path} is in use by another process (is a node already running on this home?)`,
      );
    throw err;
  }
  return db;
}

/**
 * Writes `ops` as one atomic LevelDB batch, through classic-level's chained form: its array form
 * reads each op's type, key and value as object properties from C++ (about 1.3 us an op on the
 * main thread here), the chained form takes key and value as arguments (about 0.6 us), and a
 * block's batch holds about nine ops per tx.
 */
export async function writeBatch(db: Db, ops: readonly BatchOp[], options: { sync: boolean }): Promise<void> {
  const batch = db.batch();
  try {
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
  } catch (err) {
    await batch.close();
    throw err;
  }
  await batch.write(options);
}

/** The bucket byte followed by `parts`, in one allocation (a block builds several per tx). */
export function key(bucket: Bucket, ...parts: Uint8Array[]): Uint8Array {
  let length = 1;
  for (const part of parts) length += part.length;
  const out = Buffer.allocUnsafe(length);
  out[0] = bucket;
  let at = 1;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function heightKey(bucket: Bucket, height: bigint): Uint8Array {
  return key(bucket, u64be(height));
}

export const META_CHAIN_STATE = key(Bucket.meta, Buffer.from('chain-state'));

export async function getOrNull(db: Db, k: Uint8Array): Promise<Uint8Array | null> {
  const value = await db.get(k);
  return value === undefined ? null : value;
}
