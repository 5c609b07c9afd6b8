/**
 * The event index behind `tx_search` and `block_search`, as CometBFT's kv indexer: every indexed
 * attribute (`index: true`) of a tx's events and of a block's events, keyed by `type.key`, value,
 * height (and position), plus txs by height. `txIndexOps` returns the writes for one block; the
 * node puts them in the same LevelDB batch as the block, so the index can never lag behind or run
 * ahead of the chain (CometBFT indexes asynchronously, hence its "tx not found" right after commit).
 *
 * The RPC's tx_search and block_search read it (node/rpc/tx-search.ts) through the key layout
 * exported here.
 *
 * Layout (big-endian numbers, so scans run in height order):
 *   0x08 txEvents     u16 keyLen | key | u32 valueLen | value | u64 height | u32 index  -> ''
 *   0x09 txByHeight   u64 height | u32 index                                          -> tx hash
 *   0x0a blockEvents  u16 keyLen | key | u32 valueLen | value | u64 height             -> ''
 * The three bucket numbers must be reserved in state/db.ts's `Bucket` (they are 0x08-0x0a here).
 */

import { u64be as u64 } from '../packages/codec/bytes.ts';
import { type Block, blockTxHashes } from '../packages/types/block.ts';
import type { AppEvent, ExecTxResult } from '../state/application.ts';
import type { BatchOp } from '../state/db.ts';
import { Bucket } from '../state/db.ts';

export const TxIndexBucket = {
  txEvents: Bucket.txEvents,
  txByHeight: Bucket.txByHeight,
  blockEvents: Bucket.blockEvents,
} as const;

/** Longer attribute values are not indexed (they can still be matched by subscriptions). */
export const MAX_INDEXED_VALUE_BYTES = 4096;
const EMPTY = new Uint8Array(0);

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** The key prefix of one tag's entries in `bucket`. */
export function tagPrefix(bucket: number, tag: string): Buffer {
  const key = Buffer.from(tag, 'utf8');
  return Buffer.concat([Uint8Array.of(bucket), u16(key.length), key]);
}

/** The key prefix of one tag's entries with one value in `bucket`. */
export function valuePrefix(bucket: number, tag: string, value: string): Buffer {
  const v = Buffer.from(value, 'utf8');
  return Buffer.concat([tagPrefix(bucket, tag), u32(v.length), v]);
}

function indexedAttributes(events: readonly AppEvent[]): { tag: string; value: string }[] {
  const out: { tag: string; value: string }[] = [];
  for (const e of events) {
    if (e.type === '') continue;
    for (const a of e.attributes) {
      if (!a.index || a.key === '' || Buffer.byteLength(a.value) > MAX_INDEXED_VALUE_BYTES) continue;
      out.push({ tag: `${e.type}.${a.key}`, value: a.value });
    }
  }
  return out;
}

/**
 * The index writes for one committed block, for the node's batch. Txs refused as replays are not
 * indexed: their hash already points at their first commit.
 */
export function txIndexOps(
  block: Block,
  txResults: readonly ExecTxResult[],
  blockEvents: readonly AppEvent[],
  replayed: ReadonlySet<number> = new Set(),
): BatchOp[] {
  const height = u64(block.header.height);
  const ops: BatchOp[] = [];
  const txTags = new Map<string, Buffer>();
  blockTxHashes(block).forEach((hash, index) => {
    if (replayed.has(index)) return;
    const position = Buffer.allocUnsafe(1 + 12);
    position[0] = TxIndexBucket.txByHeight;
    position.set(height, 1);
    position.writeUInt32BE(index, 9);
    ops.push({ type: 'put', key: position, value: hash });
    for (const { tag, value } of indexedAttributes(txResults[index]?.events ?? [])) {
      ops.push({
        type: 'put',
        key: entryKey(txTags, TxIndexBucket.txEvents, tag, value, position.subarray(1)),
        value: EMPTY,
      });
    }
  });
  const blockTags = new Map<string, Buffer>();
  for (const { tag, value } of indexedAttributes(blockEvents)) {
    ops.push({
      type: 'put',
      key: entryKey(blockTags, TxIndexBucket.blockEvents, tag, value, height),
      value: EMPTY,
    });
  }
  return ops;
}

/**
 * `valuePrefix(bucket, tag, value)` followed by `suffix`, built in one allocation (a block writes
 * a few of these per tx); `heads` keeps the bucket's tag prefixes for the rest of the block.
 */
function entryKey(
  heads: Map<string, Buffer>,
  bucket: number,
  tag: string,
  value: string,
  suffix: Uint8Array,
): Buffer {
  let head = heads.get(tag);
  if (head === undefined) {
    head = tagPrefix(bucket, tag);
    heads.set(tag, head);
  }
  const valueBytes = Buffer.byteLength(value, 'utf8');
  const key = Buffer.allocUnsafe(head.length + 4 + valueBytes + suffix.length);
  head.copy(key, 0);
  key.writeUInt32BE(valueBytes, head.length);
  key.write(value, head.length + 4, 'utf8');
  key.set(suffix, head.length + 4 + valueBytes);
  return key;
}
