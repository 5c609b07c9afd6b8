/**
 * tx_search and block_search over the event index (node/tx-index.ts writes it with each block),
 * as CometBFT's kv indexer. Search resolves each condition of a query to a set of positions with
 * one bounded prefix or range scan and intersects the sets. An exact match (`tag = 'value'`) scans
 * only the heights the query's height conditions leave. A query whose scans would visit more than
 * `MAX_SCAN` index entries in all fails with a clear error instead of returning a silently
 * truncated answer.
 */

import { u64be as u64 } from '../../packages/codec/bytes.ts';
import type { Db } from '../../state/db.ts';
import { TxIndexBucket, tagPrefix, u32, valuePrefix } from '../tx-index.ts';
import { type Condition, matchesValue, type Query } from './events-query.ts';
import { hexUpper } from './format.ts';

/** Most index entries one query may visit, all its conditions together. */
export const MAX_SCAN = 200_000;

/** What is left of a query's MAX_SCAN. */
interface ScanBudget {
  left: number;
}

export class SearchError extends Error {}

/** The smallest key greater than every key starting with `prefix`. */
function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
}

/** A tx's position: height and index in its block. */
export interface TxPosition {
  readonly height: bigint;
  readonly index: number;
}

/** An inclusive height range. */
export interface HeightRange {
  lo: bigint;
  hi: bigint;
}

/**
 * The height range a numeric condition on a height tag allows, or null if the condition is not
 * a plain numeric comparison (then it is matched value by value).
 */
function heightRange(c: Condition, max: bigint): HeightRange | null {
  if (c.arg?.kind !== 'number') return null;
  const { units, scale } = c.arg.value;
  const p = 10n ** BigInt(scale);
  const floor = units / p;
  const ceil = units % p === 0n ? floor : floor + 1n;
  switch (c.op) {
    case '=':
      return units % p === 0n ? { lo: floor, hi: floor } : { lo: 1n, hi: 0n };
    case '<':
      return { lo: 0n, hi: ceil - 1n };
    case '<=':
      return { lo: 0n, hi: floor };
    case '>':
      return { lo: floor + 1n, hi: max };
    case '>=':
      return { lo: ceil, hi: max };
    default:
      return null;
  }
}

function positionKey(height: bigint, index: number): string {
  return `${height.toString(16).padStart(16, '0')}${index.toString(16).padStart(8, '0')}`;
}

function positionOf(key: string): TxPosition {
  return { height: BigInt(`0x${key.slice(0, 16)}`), index: Number.parseInt(key.slice(16), 16) };
}

function tooBroad(c: Condition): SearchError {
  return new SearchError(
    `the query visits more index entries than one search may (${MAX_SCAN}), at the condition on ${c.tag}: narrow it (e.g. with tx.height or block.height and exact values)`,
  );
}

/** Counts one visited entry against the query's budget. */
function spend(budget: ScanBudget, c: Condition): void {
  if (--budget.left < 0) throw tooBroad(c);
}

/**
 * Reads positions from txEvents or blockEvents entries of one tag, filtered by the condition; an
 * exact match reads only the heights in `range` (its entries are in height order).
 */
async function scanTag(
  db: Db,
  bucket: number,
  c: Condition,
  tail: number,
  range: HeightRange,
  budget: ScanBudget,
  onMatch: (position: Buffer) => void,
): Promise<void> {
  const exact = c.op === '=' && c.arg?.kind === 'string';
  if (exact && range.lo > range.hi) return;
  const prefix = exact ? valuePrefix(bucket, c.tag, c.arg.value) : tagPrefix(bucket, c.tag);
  const head = tagPrefix(bucket, c.tag).length;
  const gte = exact ? Buffer.concat([prefix, u64(range.lo)]) : prefix;
  const lt = exact && range.hi < U64_MAX ? Buffer.concat([prefix, u64(range.hi + 1n)]) : prefixEnd(prefix);
  for await (const raw of db.keys({ gte, lt, limit: budget.left + 1 })) {
    spend(budget, c);
    const key = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const valueLen = key.readUInt32BE(head);
    if (!exact) {
      const value = key.toString('utf8', head + 4, head + 4 + valueLen);
      if (!matchesValue(c, value)) continue;
    }
    onMatch(key.subarray(key.length - tail));
  }
}

/** All txs (positions and hashes) with heights in `range`, at most MAX_SCAN of them. */
async function scanTxsByHeight(
  db: Db,
  range: HeightRange,
  c: Condition | null,
  budget: ScanBudget,
  onTx: (position: TxPosition, hash: Uint8Array) => void,
): Promise<void> {
  if (range.lo > range.hi) return;
  const bucket = Uint8Array.of(TxIndexBucket.txByHeight);
  const gte = Buffer.concat([bucket, u64(range.lo), u32(0)]);
  const lt =
    range.hi >= 2n ** 64n - 1n
      ? Uint8Array.of(TxIndexBucket.txByHeight + 1)
      : Buffer.concat([bucket, u64(range.hi + 1n), u32(0)]);
  for await (const [raw, hash] of db.iterator({ gte, lt, limit: budget.left + 1 })) {
    spend(budget, c ?? { tag: 'tx.height', op: 'EXISTS', arg: null });
    const key = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    onTx({ height: key.readBigUInt64BE(1), index: key.readUInt32BE(9) }, hash);
  }
}

const U64_MAX = 2n ** 64n - 1n;

/**
 * Positions of the txs matching `q`, ascending. `lookupHash` finds a tx by hash (the block
 * store's tx index) for `tx.hash = '…'`.
 */
export async function searchTxs(
  db: Db,
  q: Query,
  lookupHash: (hash: Uint8Array) => Promise<TxPosition | null>,
  maxScan: number = MAX_SCAN,
): Promise<TxPosition[]> {
  let result: Set<string> | null = null;
  const range: HeightRange = { lo: 0n, hi: U64_MAX };
  const budget: ScanBudget = { left: maxScan };
  // Cheap, selective conditions first: height ranges narrow what the others must keep.
  for (const c of [...q.conditions].sort((a, b) => rank(a) - rank(b))) {
    if (result?.size === 0) break;
    if (c.tag === 'tm.event') {
      if (!matchesValue(c, 'Tx')) return [];
      continue;
    }
    if ((c.tag === 'tx.height' || c.tag === 'tx.hash') && c.op === 'EXISTS') continue;
    if (c.tag === 'tx.height') {
      const r = heightRange(c, U64_MAX);
      if (r !== null) {
        narrow(range, r);
        continue;
      }
      const found = new Set<string>();
      await scanTxsByHeight(db, range, c, budget, (p) => {
        if (matchesValue(c, p.height.toString())) found.add(positionKey(p.height, p.index));
      });
      result = intersect(result, found);
      continue;
    }
    if (c.tag === 'tx.hash') {
      const found = new Set<string>();
      const hex = c.arg?.kind === 'string' ? c.arg.value.replace(/^0x/i, '') : '';
      if (c.op === '=' && /^[0-9a-fA-F]{64}$/.test(hex)) {
        const p = await lookupHash(Buffer.from(hex, 'hex'));
        if (p !== null) found.add(positionKey(p.height, p.index));
      } else {
        await scanTxsByHeight(db, range, c, budget, (p, hash) => {
          if (matchesValue(c, hexUpper(hash))) found.add(positionKey(p.height, p.index));
        });
      }
      result = intersect(result, found);
      continue;
    }
    const found = new Set<string>();
    await scanTag(db, TxIndexBucket.txEvents, c, 12, range, budget, (position) => {
      found.add(position.toString('hex'));
    });
    result = intersect(result, found);
  }
  if (range.lo > range.hi) return [];
  if (result === null) {
    // Only height and event-type conditions: every tx in the range.
    const all: TxPosition[] = [];
    await scanTxsByHeight(db, range, null, budget, (p) => all.push(p));
    return all;
  }
  return [...result]
    .sort()
    .map(positionOf)
    .filter((p) => p.height >= range.lo && p.height <= range.hi);
}

function narrow(range: HeightRange, r: HeightRange): void {
  if (r.lo > range.lo) range.lo = r.lo;
  if (r.hi < range.hi) range.hi = r.hi;
}

function rank(c: Condition): number {
  if (c.tag === 'tm.event') return 0;
  if ((c.tag === 'tx.height' || c.tag === 'block.height') && c.arg?.kind === 'number' && c.op !== 'CONTAINS')
    return 1;
  if (c.op === '=' && c.arg?.kind === 'string') return 2;
  return 3;
}

/**
 * Heights of the blocks matching `q` within [base, latest], ascending. `block.height` conditions
 * are ranges over the chain; other tags come from the block-events index.
 */
export async function searchBlocks(
  db: Db,
  q: Query,
  base: bigint,
  latest: bigint,
  maxScan: number = MAX_SCAN,
): Promise<bigint[] | HeightRange> {
  let result: Set<bigint> | null = null;
  const range: HeightRange = { lo: base, hi: latest };
  const budget: ScanBudget = { left: maxScan };
  for (const c of [...q.conditions].sort((a, b) => rank(a) - rank(b))) {
    if (result?.size === 0) break;
    if (c.tag === 'tm.event') {
      if (!matchesValue(c, 'NewBlock')) return [];
      continue;
    }
    if (c.tag === 'block.height' && c.op === 'EXISTS') continue;
    if (c.tag === 'block.height') {
      const r = heightRange(c, latest);
      if (r !== null) {
        narrow(range, r);
        continue;
      }
      if (range.hi - range.lo >= BigInt(budget.left)) throw tooBroad(c);
      if (range.lo <= range.hi) budget.left -= Number(range.hi - range.lo + 1n);
      const found = new Set<bigint>();
      for (let h = range.lo; h <= range.hi; h++) if (matchesValue(c, h.toString())) found.add(h);
      result = intersect(result, found);
      continue;
    }
    const found = new Set<bigint>();
    await scanTag(db, TxIndexBucket.blockEvents, c, 8, range, budget, (position) => {
      found.add(position.readBigUInt64BE(0));
    });
    result = intersect(result, found);
  }
  if (range.lo > range.hi) return [];
  if (result === null) return range;
  return [...result]
    .filter((h) => h >= range.lo && h <= range.hi)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function intersect<T>(a: Set<T> | null, b: Set<T>): Set<T> {
  return a === null ? b : new Set([...a].filter((x) => b.has(x)));
}
