/**
 * The stored layout of the Merkle store, pinned: a seeded history of versions (inserts, overwrites,
 * writes of an unchanged value, deletes, keys and values across every length boundary of the
 * encoding, pruning on) must give exactly the same batch operations, in the same order, byte for
 * byte, and the same roots as the digests below, which were taken from the store before its node
 * encoder, key building and ids were rewritten for speed. A change to how a node, a key or a value
 * is stored fails here even if the store still reads its own writes back.
 */
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { seededRandom } from '../../../packages/core/seeded-random.ts';
import { toHex } from '../../../packages/crypto/hash.ts';
import {
  type MerkleBuckets,
  MerkleStore,
  type StateChange,
  type StateDb,
} from '../../../state/merkle/store.ts';
import { type Db, VIEW, withDb } from './merkle-fixtures.ts';

const BUCKETS: MerkleBuckets = { nodes: 0x30, roots: 0x31, stale: 0x32, latest: 0x33 };
/** Lengths on both sides of the encoding's boundaries (bin8/bin16 at 256, bin16/bin32 at 65,536). */
const KEY_LENGTHS = [1, 2, 31, 32, 33, 255, 256, 257, 1023, 1024];
const VALUE_LENGTHS = [0, 1, 32, 127, 128, 255, 256, 65_535, 65_536, 70_000];

/** Runs a seeded history; returns the digest of every version's ops (in order) and of every root. */
async function history(
  db: Db,
  seed: number,
  versions: number,
  inPlace: boolean,
): Promise<{ ops: string; roots: string }> {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
  // Without getSync the store reads ahead through the async calls (prefetch): the same result.
  const stateDb: StateDb = inPlace
    ? db
    : {
        get: (key, options) => db.get(key, options),
        getMany: (keys, options) => db.getMany(keys, options),
        keys: (options) => db.keys(options),
      };
  // A small cache, so nodes are read back from the database too.
  const store = await MerkleStore.open(stateDb, BUCKETS, { keepVersions: 3, cacheBytes: 40_000 });
  const opsDigest = createHash('sha256');
  const rootsDigest = createHash('sha256');
  const live = new Map<string, { key: Uint8Array; value: Uint8Array }>();
  const counts = new Map<string, number>();
  const lengthOf = (n: number) => Uint8Array.of(n >>> 24, n >>> 16, n >>> 8, n);
  for (let v = 1; v <= versions; v++) {
    const changes = new Map<string, StateChange>();
    const count = 1 + Math.floor(random() * 40);
    for (let i = 0; i < count; i++) {
      const roll = random();
      const old = live.size > 0 ? pick([...live.values()]) : undefined;
      let change: StateChange;
      if (old !== undefined && roll < 0.15) change = [old.key, null];
      else if (old !== undefined && roll < 0.25) change = [old.key, old.value];
      else if (old !== undefined && roll < 0.4) change = [old.key, bytes(pick(VALUE_LENGTHS.slice(0, 7)))];
      else {
        const small = random() < 0.8;
        const key = small ? bytes(1 + Math.floor(random() * 3)) : bytes(pick(KEY_LENGTHS));
        change = [key, bytes(random() < 0.97 ? pick(VALUE_LENGTHS.slice(0, 7)) : pick(VALUE_LENGTHS))];
      }
      changes.set(toHex(change[0]), change);
    }
    const { version, root, ops } = await store.prepare(BigInt(v), changes.values());
    for (const op of ops) {
      const kind = `${op.type} ${op.key[0]}`;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      opsDigest.update(op.type);
      opsDigest.update(lengthOf(op.key.length)).update(op.key);
      if (op.type === 'put') opsDigest.update(lengthOf(op.value.length)).update(op.value);
    }
    rootsDigest.update(root);
    await db.batch(ops, VIEW);
    store.committed(version, root);
    for (const [id, [key, value]] of changes) {
      if (value === null) live.delete(id);
      else live.set(id, { key, value });
    }
  }
  // The history reaches every kind of operation: node puts and deletes (pruning), roots, stale
  // entries and their deletes, latest-value puts and deletes.
  const kinds = [...counts.keys()].sort().join(', ');
  assert.is(kinds, 'del 48, del 49, del 50, del 51, put 48, put 49, put 50, put 51', `seed ${seed}`);
  return { ops: opsDigest.digest('hex'), roots: rootsDigest.digest('hex') };
}

test('a seeded history writes exactly the pinned operations and roots', async () => {
  const golden: Record<number, { ops: string; roots: string }> = {
    1: {
      ops: 'dd7432c1866a02be9efeea9c7af1fa40b02b2fafe06ec9885856a849c8904f52',
      roots: 'a28fb7f9fd4497ff9692ab95eb62c6727b4bc11509183764be8cd33d9424f693',
    },
    2: {
      ops: '1b3f941a88001e9cd25662cf766e06c6037469e76847cbd548f34ffe67f17f8a',
      roots: '3b60967e4238f49b63322e97810ec442ebe43525749785923e1b0f9568b79281',
    },
  };
  for (const [seed, inPlace] of [
    [1, true],
    [2, true],
    [1, false],
  ] as const) {
    await withDb(async (db) => {
      const got = await history(db, seed, 60, inPlace);
      assert.equal(got, golden[seed], `seed ${seed}, ${inPlace ? 'getSync' : 'async reads'}`);
    });
  }
});

test.run();
