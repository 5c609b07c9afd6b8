/**
 * Pruning the Merkle store: after prune(k) and writing its operations, versions from k on read and
 * prove exactly as before, older versions report STATE_VERSION_PRUNED, and the stored nodes shrink
 * to exactly those the kept versions use, including nodes that died and were written again (a key
 * set back to an earlier value) and nodes that a prepared, not yet committed, version writes again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toHex } from '../../../packages/crypto/hash.ts';
import { verifyProof } from '../../../packages/merkle/proof.ts';
import { rootOfEntries } from '../../../packages/merkle/reference.ts';
import { type MerkleBuckets, MerkleStore, type StateDb } from '../../../state/merkle/store.ts';
import { commit, countKeys, type Db, rejects, VIEW, withDb } from './merkle-fixtures.ts';

const BUCKETS: MerkleBuckets = { nodes: 0x10, roots: 0x11, stale: 0x12, latest: 0x13 };
const FRESH: MerkleBuckets = { nodes: 0x20, roots: 0x21, stale: 0x22, latest: 0x23 };
const utf8 = new TextEncoder();
const b = (s: string) => utf8.encode(s);
const hex = (x: Uint8Array | null) => (x === null ? null : toHex(x));

/** The number of nodes of a tree holding exactly `model`, built in one version in other buckets. */
async function nodesOfTree(db: Db, model: ReadonlyMap<string, string>): Promise<number> {
  await db.clear({ gte: Uint8Array.of(FRESH.nodes), lt: Uint8Array.of(FRESH.latest + 1) });
  const fresh = await MerkleStore.open(db, FRESH);
  await commit(
    db,
    fresh,
    [...model].map(([k, v]) => [b(k), b(v)] as const),
  );
  return countKeys(db, FRESH.nodes);
}

type Model = Map<string, string>;

/** 20 versions over 60 keys: inserts, overwrites, deletes and values set back to earlier ones. */
async function history(db: Db, store: MerkleStore): Promise<Model[]> {
  const models: Model[] = [new Map()];
  let model: Model = new Map();
  for (let v = 1; v <= 20; v++) {
    const changes = new Map<string, string | null>();
    for (let i = 0; i < 25; i++) {
      const k = `key/${(v * 7 + i * 13) % 60}`;
      const r = (v * 31 + i * 17) % 10;
      changes.set(k, r < 2 ? null : `value/${r % 4}`);
    }
    await commit(
      db,
      store,
      [...changes].map(([k, x]) => [b(k), x === null ? null : b(x)] as const),
    );
    model = new Map(model);
    for (const [k, x] of changes) {
      if (x === null) model.delete(k);
      else model.set(k, x);
    }
    models.push(model);
  }
  return models;
}

async function checkVersion(store: MerkleStore, version: bigint, model: Model): Promise<void> {
  const root = await store.rootHash(version);
  const entries = [...model].map(([k, v]) => [b(k), b(v)] as [Uint8Array, Uint8Array]);
  assert.is(hex(root), hex(rootOfEntries(entries)), `root of ${version}`);
  for (let i = 0; i < 60; i++) {
    const key = b(`key/${i}`);
    const want = model.get(`key/${i}`);
    assert.is(
      hex(await store.get(key, version)),
      want === undefined ? null : hex(b(want)),
      `key/${i}@${version}`,
    );
    const { value, proof } = await store.prove(key, version);
    assert.is(hex(value), want === undefined ? null : hex(b(want)));
    assert.ok(verifyProof(root, key, value, proof), `proof of key/${i}@${version}`);
  }
}

test('prune(k): versions >= k read and prove as before, older ones are pruned, nodes shrink', async () => {
  await withDb(async (db) => {
    const store = await MerkleStore.open(db, BUCKETS);
    const models = await history(db, store);
    const nodesBefore = await countKeys(db, BUCKETS.nodes);
    const staleBefore = await countKeys(db, BUCKETS.stale);
    assert.ok(staleBefore > 0);

    await db.batch(await store.prune(10n), VIEW);
    const nodesAfter = await countKeys(db, BUCKETS.nodes);
    assert.ok(nodesAfter < nodesBefore, `${nodesAfter} < ${nodesBefore}`);
    for (let v = 10; v <= 20; v++) await checkVersion(store, BigInt(v), models[v]!);
    for (let v = 0; v < 10; v++) {
      await rejects(() => store.rootHash(BigInt(v)), 'STATE_VERSION_PRUNED');
      await rejects(() => store.get(b('key/1'), BigInt(v)), 'STATE_VERSION_PRUNED');
      await rejects(() => store.prove(b('key/1'), BigInt(v)), 'STATE_VERSION_PRUNED');
    }
    // Stale entries of versions <= 10 are gone; the rest stay for later prunes.
    for await (const key of db.keys({
      gte: Uint8Array.of(BUCKETS.stale),
      lt: Uint8Array.of(BUCKETS.stale + 1),
    })) {
      assert.ok(new DataView(key.buffer, key.byteOffset).getBigUint64(1) > 10n);
    }
    assert.is(await countKeys(db, BUCKETS.roots), 11);

    // Pruning again to the same point deletes nothing more.
    assert.equal(await store.prune(10n), []);
    // A reopened store agrees.
    const reopened = await MerkleStore.open(db, BUCKETS);
    await checkVersion(reopened, 15n, models[15]!);
    await rejects(() => reopened.rootHash(9n), 'STATE_VERSION_PRUNED');

    // Pruning up to the latest leaves exactly the nodes of the latest tree: nothing leaks.
    await db.batch(await store.prune(20n), VIEW);
    await checkVersion(store, 20n, models[20]!);
    assert.is(await countKeys(db, BUCKETS.nodes), await nodesOfTree(db, models[20]!));
    assert.is(await countKeys(db, BUCKETS.stale), 0);
    assert.is(await countKeys(db, BUCKETS.roots), 1);

    // The store goes on after pruning.
    await commit(db, store, [[b('key/1'), b('after')]]);
    const after = new Map(models[20]!).set('key/1', 'after');
    await checkVersion(store, 21n, after);
    await rejects(() => store.prune(23n), 'STATE_PRUNE_INVALID');
  });
});

test("keepVersions: each version prunes the one that leaves the window; the nodes are the kept trees'", async () => {
  await withDb(async (db) => {
    await rejects(() => MerkleStore.open(db, BUCKETS, { keepVersions: 1 }), 'STATE_OPTIONS_INVALID');
    await rejects(() => MerkleStore.open(db, BUCKETS, { keepVersions: -2 }), 'STATE_OPTIONS_INVALID');
    const store = await MerkleStore.open(db, BUCKETS, { keepVersions: 3 });
    const models = await history(db, store);
    for (let v = 18; v <= 20; v++) await checkVersion(store, BigInt(v), models[v]!);
    for (const v of [0n, 5n, 17n]) await rejects(() => store.rootHash(v), 'STATE_VERSION_PRUNED');
    assert.is(await countKeys(db, BUCKETS.roots), 3);
    // The same nodes as keeping everything and pruning to version 18 once.
    const kept = await countKeys(db, BUCKETS.nodes);
    await db.clear();
    const all = await MerkleStore.open(db, BUCKETS);
    await history(db, all);
    await db.batch(await all.prune(18n), VIEW);
    assert.is(kept, await countKeys(db, BUCKETS.nodes));
  });
});

test('keepVersions turned on over a long history catches up a few versions per version', async () => {
  await withDb(async (db) => {
    const models = await history(db, await MerkleStore.open(db, BUCKETS)); // 20 versions, none pruned
    const store = await MerkleStore.open(db, BUCKETS, { keepVersions: 3 });
    const roots = async () => countKeys(db, BUCKETS.roots);
    assert.is(await roots(), 21);
    // Each version prunes at most 4 more (versions 0-3 first), so no one batch is unbounded.
    await commit(db, store, [[b('key/1'), b('v21')]]);
    await rejects(() => store.rootHash(3n), 'STATE_VERSION_PRUNED');
    await checkVersion(store, 4n, models[4]!);
    assert.is(await roots(), 22 - 4);
    for (let v = 22; v <= 27; v++) await commit(db, store, [[b('key/1'), b(`v${v}`)]]);
    assert.is(await roots(), 3, 'caught up: versions 25-27');
    await checkVersion(store, 20n + 5n, new Map(models[20]!).set('key/1', 'v25'));
  });
});

test('a node that died and was written again survives pruning of its first life', async () => {
  await withDb(async (db) => {
    const store = await MerkleStore.open(db, BUCKETS);
    const base = Array.from({ length: 40 }, (_, i) => [b(`key/${i}`), b('v')] as const);
    await commit(db, store, base); // 1
    await commit(db, store, [[b('key/1'), b('other')]]); // 2: key/1's leaf and its path die
    await commit(db, store, [[b('key/1'), b('v')]]); // 3: the same leaf and path are born again
    await commit(db, store, [[b('extra'), b('x')]]); // 4: internal nodes change shape...
    await commit(db, store, [[b('extra'), null]]); // 5: ...and come back
    const model = new Map(base.map(([k, v]) => [Buffer.from(k).toString(), Buffer.from(v).toString()]));
    await db.batch(await store.prune(5n), VIEW);
    await checkVersionOfKeys(store, 5n, model);
    assert.is(await countKeys(db, BUCKETS.nodes), await nodesOfTree(db, model));
    await db.batch(await store.prune(3n), VIEW);
    await checkVersionOfKeys(store, 5n, model);
  });
});

/** Like checkVersion, for the keys of `model` and a few absent ones. */
async function checkVersionOfKeys(store: MerkleStore, version: bigint, model: Model): Promise<void> {
  const root = await store.rootHash(version);
  for (const key of [...model.keys(), 'absent/1', 'absent/2']) {
    const { value, proof } = await store.prove(b(key), version);
    const want = model.get(key);
    assert.is(hex(value), want === undefined ? null : hex(b(want)), key);
    assert.ok(verifyProof(root, b(key), value, proof));
    assert.is(hex(await store.get(b(key), version)), hex(value));
  }
}

test('prune computed while a version is prepared keeps the nodes that version writes again', async () => {
  await withDb(async (db) => {
    const store = await MerkleStore.open(db, BUCKETS);
    const base = Array.from({ length: 20 }, (_, i) => [b(`key/${i}`), b('a')] as const);
    await commit(db, store, base); // 1
    await commit(db, store, [[b('key/3'), b('b')]]); // 2: the leaf key/3 = a is stale since 2
    // Version 3 sets it back, and the node prunes up to 2 in the same batch, after the state ops.
    const next = await store.prepare(3n, [[b('key/3'), b('a')]]);
    const pruneOps = await store.prune(2n);
    await db.batch([...next.ops, ...pruneOps], VIEW);
    store.committed(3n, next.root);
    const model = new Map(base.map(([k, v]) => [Buffer.from(k).toString(), Buffer.from(v).toString()]));
    await checkVersionOfKeys(store, 3n, model);
    await checkVersionOfKeys(store, 2n, new Map(model).set('key/3', 'b'));
    await rejects(() => store.rootHash(1n), 'STATE_VERSION_PRUNED');
    // The kept stale entry is looked at again by the next prune, which now sees the new birth.
    await db.batch(await store.prune(3n), VIEW);
    await checkVersionOfKeys(store, 3n, model);
    assert.is(await countKeys(db, BUCKETS.nodes), await nodesOfTree(db, model));
    const reopened = await MerkleStore.open(db, BUCKETS);
    await checkVersionOfKeys(reopened, 3n, model);
  });
});

test('a read of an old version that a prune removes under its feet reports STATE_VERSION_PRUNED', async () => {
  await withDb(async (db) => {
    let beforeNodeRead: (() => Promise<void>) | null = null;
    // The database as the store sees it, with a hook before node reads.
    const hooked: StateDb = {
      get: (key, options) => db.get(key, options),
      keys: (options) => db.keys(options),
      getMany: async (keys, options) => {
        const hook = beforeNodeRead;
        beforeNodeRead = null;
        if (hook !== null) await hook();
        return db.getMany(keys, options);
      },
    };
    const store = await MerkleStore.open(hooked, BUCKETS);
    await history(db, store);
    const ops = await store.prune(15n); // also drops the pruned nodes from the cache
    beforeNodeRead = () => db.batch(ops, VIEW);
    await rejects(() => store.get(b('key/1'), 3n), 'STATE_VERSION_PRUNED');
    await rejects(() => store.get(b('key/1'), 4n), 'STATE_VERSION_PRUNED');
  });
});

test.run();
