/**
 * The Merkle store over a real classic-level database in a temp folder: values across versions,
 * the root of an empty tree, roots that depend only on contents, proofs that verify against the
 * root and fail when anything is changed, refused inputs, and the crash-safety contract (prepare
 * writes nothing; reopening gives back the committed version).
 */
import { ClassicLevel } from 'classic-level';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Canonical, decode } from '../../../packages/codec/canonical.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { toHex } from '../../../packages/crypto/hash.ts';
import { keyHashOf } from '../../../packages/merkle/hash.ts';
import {
  decodeProof,
  emptyRoot,
  encodeProof,
  type MerkleProof,
  verifyMembership,
  verifyNonMembership,
} from '../../../packages/merkle/proof.ts';
import { rootOfEntries } from '../../../packages/merkle/reference.ts';
import {
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  type MerkleBuckets,
  MerkleStore,
  type StateChange,
  type StateDb,
} from '../../../state/merkle/store.ts';
import { commit, type Db, rejects, VIEW, withDb } from './merkle-fixtures.ts';

const BUCKETS: MerkleBuckets = { nodes: 0x40, roots: 0x41, stale: 0x42, latest: 0x43 };
const utf8 = new TextEncoder();
const b = (s: string) => utf8.encode(s);
const hex = (x: Uint8Array | null | undefined) => (x == null ? null : toHex(x));

/** A copy of the siblings with one bit of one byte flipped. */
function flipped(siblings: readonly Uint8Array[], index: number, byte: number, bit: number): Uint8Array[] {
  const copy = siblings.map((x) => x.slice());
  copy[index]![byte] = copy[index]![byte]! ^ bit;
  return copy;
}

const set = (k: string, v: string): StateChange => [b(k), b(v)];
const del = (k: string): StateChange => [b(k), null];

test('an empty store: version 0, the empty root, no values, a proof of absence', async () => {
  await withDb(async (db) => {
    const store = await MerkleStore.open(db, BUCKETS);
    assert.is(store.latestVersion, 0n);
    assert.is(hex(await store.rootHash()), hex(emptyRoot()));
    assert.is(hex(await store.rootHash(0n)), hex(emptyRoot()));
    assert.is(await store.get(b('nobody')), null);
    const { value, proof } = await store.prove(b('nobody'));
    assert.is(value, null);
    assert.ok(verifyNonMembership(emptyRoot(), b('nobody'), proof));
    await rejects(() => store.rootHash(1n), 'STATE_VERSION_UNKNOWN');
    await rejects(() => store.get(b('x'), 1n), 'STATE_VERSION_UNKNOWN');
    // A version with no changes keeps the root.
    assert.is(hex(await commit(db, store, [])), hex(emptyRoot()));
    assert.is(store.latestVersion, 1n);
  });
});

test('set, overwrite and delete across versions; every version reads its own values', async () => {
  await withDb(async (db) => {
    const store = await MerkleStore.open(db, BUCKETS);
    const r1 = await commit(db, store, [set('alice', 'consent:lab'), set('bob', 'consent:none')]);
    const r2 = await commit(db, store, [set('alice', 'consent:lab+imaging'), set('carol', 'anchor:1')]);
    const r3 = await commit(db, store, [del('bob'), del('never-there')]);
    const r4 = await commit(db, store, [set('bob', 'consent:none')]);
    assert.is(store.latestVersion, 4n);
    const expect: [bigint, Uint8Array, Record<string, string | null>][] = [
      [1n, r1, { alice: 'consent:lab', bob: 'consent:none', carol: null }],
      [2n, r2, { alice: 'consent:lab+imaging', bob: 'consent:none', carol: 'anchor:1' }],
      [3n, r3, { alice: 'consent:lab+imaging', bob: null, carol: 'anchor:1' }],
      [4n, r4, { alice: 'consent:lab+imaging', bob: 'consent:none', carol: 'anchor:1' }],
    ];
    for (const [version, root, values] of expect) {
      assert.is(hex(await store.rootHash(version)), hex(root));
      const entries: [Uint8Array, Uint8Array][] = [];
      for (const [k, v] of Object.entries(values)) {
        assert.is(hex(await store.get(b(k), version)), hex(v === null ? null : b(v)), `${k}@${version}`);
        if (v !== null) entries.push([b(k), b(v)]);
      }
      assert.is(hex(root), hex(rootOfEntries(entries)), `root of version ${version}`);
    }
    assert.is(hex(await store.get(b('alice'))), hex(b('consent:lab+imaging')), 'latest by default');
    assert.is(hex(await store.rootHash(0n)), hex(emptyRoot()));
    // Deleting everything gives the empty root again.
    assert.is(hex(await commit(db, store, [del('alice'), del('bob'), del('carol')])), hex(emptyRoot()));
  });
});

test('the root depends only on the contents: any order, any batching, any history', async () => {
  await withDb(async (db) => {
    const keys = Array.from({ length: 300 }, (_, i) => `patient/${i}`);
    const finalEntries: [Uint8Array, Uint8Array][] = keys.map((k) => [b(k), b(`record:${k}`)]);
    const expected = hex(rootOfEntries(finalEntries));

    const one = await MerkleStore.open(db, BUCKETS);
    assert.is(hex(await commit(db, one, finalEntries)), expected, 'one version');

    const two = await MerkleStore.open(db, { nodes: 0x50, roots: 0x51, stale: 0x52, latest: 0x53 });
    const reversed = [...finalEntries].reverse();
    for (let i = 0; i < reversed.length; i += 37) await commit(db, two, reversed.slice(i, i + 37));
    assert.is(hex(two.latestRoot), expected, 'reversed, in versions of 37');

    // A detour: extra keys and other values that are later deleted or set back.
    const three = await MerkleStore.open(db, { nodes: 0x60, roots: 0x61, stale: 0x62, latest: 0x63 });
    await commit(
      db,
      three,
      keys.map((k) => set(k, 'draft')),
    );
    await commit(
      db,
      three,
      Array.from({ length: 50 }, (_, i) => set(`temp/${i}`, 'x')),
    );
    await commit(db, three, [
      ...finalEntries.slice(0, 150),
      ...Array.from({ length: 50 }, (_, i) => del(`temp/${i}`)),
    ]);
    await commit(db, three, finalEntries.slice(150));
    assert.is(hex(three.latestRoot), expected, 'with a detour');
  });
});

test('proofs verify against the root and fail for another root, key, value or a flipped byte', async () => {
  await withDb(async (db) => {
    const store = await MerkleStore.open(db, BUCKETS);
    const entries = Array.from({ length: 200 }, (_, i) => set(`k${i}`, `v${i}`));
    const root1 = await commit(db, store, entries);
    const root2 = await commit(db, store, [set('k0', 'changed')]);

    for (let i = 1; i < 200; i += 13) {
      const key = b(`k${i}`);
      const { value, proof } = await store.prove(key);
      assert.is(hex(value), hex(b(`v${i}`)));
      assert.ok(verifyMembership(root2, key, value!, proof));
      assert.ok(verifyMembership(root2, key, value!, decodeProof(encodeProof(proof))), 'after the wire');
      assert.not.ok(verifyMembership(root1.subarray(0).reverse(), key, value!, proof), 'another root');
      assert.not.ok(verifyMembership(root2, b(`k${i + 1}`), value!, proof), 'another key');
      assert.not.ok(verifyMembership(root2, key, b('forged'), proof), 'another value');
      assert.not.ok(verifyNonMembership(root2, key, proof), 'not absent');
      for (let s = 0; s < proof.siblings.length; s++) {
        const siblings = flipped(proof.siblings, s, i % 32, 0x01);
        assert.not.ok(verifyMembership(root2, key, value!, { ...proof, siblings }), `sibling ${s} flipped`);
      }
      assert.not.ok(
        verifyMembership(root2, key, value!, { ...proof, siblings: proof.siblings.slice(1) }),
        'shorter',
      );
    }

    // The old version still proves its own value; the new root refuses it.
    const old = await store.prove(b('k0'), 1n);
    assert.ok(verifyMembership(root1, b('k0'), b('v0'), old.proof));
    assert.not.ok(verifyMembership(root2, b('k0'), b('v0'), old.proof));
    const now = await store.prove(b('k0'));
    assert.ok(verifyMembership(root2, b('k0'), b('changed'), now.proof));

    // Absent keys: some paths end at an empty subtree, some at another key's leaf.
    let endsEmpty = 0;
    let endsAtLeaf = 0;
    for (let i = 0; i < 200; i++) {
      const key = b(`absent/${i}`);
      const { value, proof } = await store.prove(key);
      assert.is(value, null);
      assert.ok(verifyNonMembership(root2, key, proof), `absent/${i}`);
      assert.not.ok(verifyNonMembership(root1.slice().reverse(), key, proof), 'another root');
      assert.not.ok(verifyMembership(root2, key, b(''), proof));
      if (proof.leaf === null) endsEmpty++;
      else {
        endsAtLeaf++;
        // Claiming the leaf's own key absent with this proof fails: the leaf proves it is there.
        const forged: MerkleProof = { siblings: proof.siblings, leaf: null };
        assert.not.ok(verifyNonMembership(root2, key, forged), 'dropping the leaf');
      }
      if (proof.siblings.length > 0) {
        const siblings = flipped(proof.siblings, 0, 0, 0x80);
        assert.not.ok(verifyNonMembership(root2, key, { ...proof, siblings }), 'sibling flipped');
      }
    }
    assert.ok(endsEmpty > 0 && endsAtLeaf > 0, `${endsEmpty} empty, ${endsAtLeaf} at a leaf`);
  });
});

test('the largest key and value fit; larger ones, duplicates and wrong versions are refused and change nothing', async () => {
  await withDb(async (db) => {
    const store = await MerkleStore.open(db, BUCKETS);
    const bigKey = new Uint8Array(MAX_KEY_BYTES).fill(7);
    const bigValue = new Uint8Array(MAX_VALUE_BYTES).fill(9);
    const root = await commit(db, store, [[bigKey, bigValue], set('small', 's')]);
    assert.is(hex(await store.get(bigKey)), hex(bigValue));
    assert.is(hex(await store.get(bigKey, 1n)), hex(bigValue), 'through the tree');
    const { proof } = await store.prove(bigKey);
    assert.ok(verifyMembership(root, bigKey, bigValue, proof));

    await rejects(
      () => store.prepare(2n, [[new Uint8Array(MAX_KEY_BYTES + 1), b('v')]]),
      'STATE_KEY_INVALID',
    );
    await rejects(() => store.prepare(2n, [[new Uint8Array(0), b('v')]]), 'STATE_KEY_INVALID');
    await rejects(
      () => store.prepare(2n, [[b('k'), new Uint8Array(MAX_VALUE_BYTES + 1)]]),
      'STATE_VALUE_TOO_LARGE',
    );
    await rejects(() => store.prepare(2n, [set('k', '1'), del('k')]), 'STATE_DUPLICATE_KEY');
    await rejects(() => store.prepare(2n, [[b('k'), 'v' as unknown as Uint8Array]]), 'STATE_CHANGE_INVALID');
    await rejects(() => store.prepare(3n, [set('k', '1')]), 'STATE_VERSION_NOT_NEXT');
    await rejects(() => store.prepare(1n, [set('k', '1')]), 'STATE_VERSION_NOT_NEXT');
    await rejects(() => store.prepare(-1n, []), 'STATE_VERSION_INVALID');
    await rejects(() => store.get(b('small'), 5n), 'STATE_VERSION_UNKNOWN');
    await rejects(async () => store.committed(2n, root), 'STATE_COMMIT_UNKNOWN');
    await rejects(async () => store.committed(3n, root), 'STATE_VERSION_NOT_NEXT');
    await rejects(() => store.prune(2n), 'STATE_PRUNE_INVALID');
    await rejects(
      () => MerkleStore.open(db, { nodes: 1, roots: 1, stale: 2, latest: 3 }),
      'STATE_BUCKETS_INVALID',
    );
    await rejects(
      () => MerkleStore.open(db, { nodes: 1, roots: 256, stale: 2, latest: 3 }),
      'STATE_BUCKETS_INVALID',
    );
    assert.is(store.latestVersion, 1n);
    assert.is(hex(store.latestRoot), hex(root));
  });
});

test("the caller's buffers (Buffers too, whose slice is a view) cannot change what a prepare stores or the root", async () => {
  await withDb(async (db) => {
    const first = await MerkleStore.open(db, BUCKETS);
    await commit(db, first, [set('a', '1'), set('b', '2')]);
    const key = Buffer.from('patient/7');
    const value = Buffer.from('consent: yes');
    const original = [b('patient/7'), b('consent: yes')] as const;
    // A database without getSync: prepare awaits its reads, and while it waits the caller
    // scribbles over the key and value it passed.
    const scribbling: StateDb = {
      get: (k, options) => db.get(k, options),
      getMany: async (keys, options) => {
        key.fill(0x21);
        value.fill(0x21);
        return db.getMany(keys, options);
      },
      keys: (options) => db.keys(options),
    };
    const store = await MerkleStore.open(scribbling, BUCKETS);
    const { version, root, ops } = await store.prepare(2n, [[key, value]]);
    key.fill(0x22);
    value.fill(0x22);
    const expected = rootOfEntries([[b('a'), b('1')], [b('b'), b('2')], original]);
    assert.is(hex(root), hex(expected));
    await db.batch(ops, VIEW);
    // The root handed back, as a Buffer the caller then reuses: the store keeps its own copy.
    const rootBuffer = Buffer.from(root);
    store.committed(version, rootBuffer);
    rootBuffer.fill(0);
    assert.is(hex(store.latestRoot), hex(expected));
    assert.is(hex(await store.get(original[0])), hex(original[1]));
    const { value: proved, proof } = await store.prove(original[0]);
    assert.ok(verifyMembership(root, original[0], proved!, proof));
  });
});

test('prepare writes nothing: the store reads the old version until the batch is written and committed', async () => {
  await withDb(async (db) => {
    const store = await MerkleStore.open(db, BUCKETS);
    const root1 = await commit(db, store, [set('alice', 'v1'), set('bob', 'v1')]);
    const keysBefore = (await db.keys().all()).length;

    // Prepared, never written (the node crashed, or the block was not committed).
    const lost = await store.prepare(2n, [set('alice', 'v2'), del('bob'), set('carol', 'v2')]);
    assert.is.not(hex(lost.root), hex(root1));
    assert.is((await db.keys().all()).length, keysBefore, 'prepare wrote nothing');
    assert.is(store.latestVersion, 1n);
    assert.is(hex(await store.rootHash()), hex(root1));
    assert.is(hex(await store.get(b('alice'))), hex(b('v1')));
    assert.is(hex(await store.get(b('bob'))), hex(b('v1')));
    assert.is(await store.get(b('carol')), null);
    const { proof } = await store.prove(b('bob'));
    assert.ok(verifyMembership(root1, b('bob'), b('v1'), proof));
    const reopened = await MerkleStore.open(db, BUCKETS);
    assert.is(reopened.latestVersion, 1n);
    assert.is(hex(reopened.latestRoot), hex(root1));

    // Written, but the process stops before `committed`: reads still answer for version 1...
    const next = await store.prepare(2n, [set('alice', 'v2'), del('bob'), set('carol', 'v2')]);
    assert.is(hex(next.root), hex(lost.root), 'the same changes prepare the same version');
    await db.batch(next.ops, VIEW);
    assert.is(hex(await store.get(b('alice'))), hex(b('v1')));
    assert.is(hex(await store.get(b('bob'))), hex(b('v1')));
    assert.is(await store.get(b('carol')), null);
    // ...and a store opened from the database after the crash is at version 2.
    const after = await MerkleStore.open(db, BUCKETS);
    assert.is(after.latestVersion, 2n);
    assert.is(hex(after.latestRoot), hex(next.root));
    assert.is(hex(await after.get(b('alice'))), hex(b('v2')));
    assert.is(await after.get(b('bob')), null);
    assert.is(hex(await after.get(b('bob'), 1n)), hex(b('v1')));
    const absent = await after.prove(b('bob'));
    assert.ok(verifyNonMembership(next.root, b('bob'), absent.proof));

    store.committed(2n, next.root);
    assert.is(store.latestVersion, 2n);
    assert.is(await store.get(b('bob')), null);
    assert.is(hex(await store.get(b('carol'))), hex(b('v2')));
  });
});

test('a read of the latest version that a commit overtakes still answers for the version it asked', async () => {
  await withDb(async (db) => {
    // The store's reads of the latest-value bucket wait at a gate the test opens.
    let open: () => void = () => {};
    let gate: Promise<void> = Promise.resolve();
    const gated: StateDb = {
      get: async (key, options) => {
        await gate;
        return db.get(key, options);
      },
      getMany: (keys, options) => db.getMany(keys, options),
      keys: (options) => db.keys(options),
    };
    const store = await MerkleStore.open(gated, BUCKETS);
    await commit(db, store, [set('alice', 'v1'), set('bob', 'v1')]);
    gate = new Promise((resolve) => {
      open = resolve;
    });
    const alice = store.get(b('alice'));
    const bob = store.get(b('bob'));
    await commit(db, store, [set('alice', 'v2'), del('bob')]);
    open();
    assert.is(hex(await alice), hex(b('v1')), 'the value of version 1, not the newer entry');
    assert.is(hex(await bob), hex(b('v1')), 'deleted by version 2, but there in version 1');
    assert.is(hex(await store.get(b('alice'))), hex(b('v2')));
  });
});

test('the store shares the database: other buckets are left alone, and reopening restores it', async () => {
  await withDb(async (db, dir) => {
    await db.batch(
      [
        { type: 'put', key: Uint8Array.of(0x00, 1), value: b('block 1') },
        { type: 'put', key: Uint8Array.of(0x41 - 1, 0xff), value: b('just below the roots') },
        { type: 'put', key: Uint8Array.of(0x44), value: b('just above') },
        { type: 'put', key: Uint8Array.of(0xff, 0xff), value: b('last') },
      ],
      VIEW,
    );
    const store = await MerkleStore.open(db, BUCKETS);
    assert.is(store.latestVersion, 0n);
    for (let v = 0; v < 5; v++) {
      // The node's own batch: the block and the state together.
      const { version, root, ops } = await store.prepare(store.latestVersion + 1n, [
        set(`k${v}`, `v${v}`),
        del(`k${v - 2}`),
      ]);
      await db.batch([...ops, { type: 'put', key: Uint8Array.of(0x00, 2 + v), value: root }], VIEW);
      store.committed(version, root);
    }
    await db.batch(await store.prune(3n), VIEW);
    const root = store.latestRoot;
    await db.close();

    const db2: Db = new ClassicLevel(dir, VIEW);
    await db2.open();
    try {
      const reopened = await MerkleStore.open(db2, BUCKETS);
      assert.is(reopened.latestVersion, 5n);
      assert.is(hex(reopened.latestRoot), hex(root));
      assert.is(hex(await reopened.get(b('k4'))), hex(b('v4')));
      assert.is(await reopened.get(b('k2')), null);
      assert.is(hex(await reopened.get(b('k2'), 3n)), hex(b('v2')));
      await rejects(() => reopened.get(b('k2'), 2n), 'STATE_VERSION_PRUNED');
      assert.is(hex(await db2.get(Uint8Array.of(0x00, 1))), hex(b('block 1')));
      assert.is(hex(await db2.get(Uint8Array.of(0x40, 0xff))), hex(b('just below the roots')));
      assert.is(hex(await db2.get(Uint8Array.of(0x44))), hex(b('just above')));
      assert.is(hex(await db2.get(Uint8Array.of(0xff, 0xff))), hex(b('last')));
      const { value, proof } = await reopened.prove(b('k3'));
      assert.ok(verifyMembership(root, b('k3'), value!, proof));
      assert.is(hex(proof.leaf?.keyHash), hex(keyHashOf(b('k3'))));
    } finally {
      await db2.close();
    }
    // withDb closes the first handle again: reopen it so that close succeeds.
    await db.open();
  });
});

test('a damaged node is reported as STATE_CORRUPT, never read as state', async () => {
  await withDb(async (db) => {
    const store = await MerkleStore.open(db, BUCKETS);
    await commit(
      db,
      store,
      Array.from({ length: 50 }, (_, i) => set(`k${i}`, `v${i}`)),
    );
    await commit(db, store, [set('k0', 'new')]);
    const nodes = await db
      .keys({ gte: Uint8Array.of(BUCKETS.nodes), lt: Uint8Array.of(BUCKETS.nodes + 1) })
      .all();
    // A fresh store (empty cache) over the same database, with each node in turn damaged.
    const damages: ((bytes: Uint8Array) => Uint8Array)[] = [
      (x) => x.subarray(0, x.length - 1),
      (x) => Uint8Array.of(...x.subarray(0, x.length - 1), x[x.length - 1]! ^ 1),
      () => b('garbage'),
      () => Uint8Array.of(0x95, 0xd3, 0, 0, 0, 0, 0, 0, 0, 1, 0x07, 0xc0, 0xc0, 0xc0),
    ];
    let corrupt = 0;
    for (const [i, key] of nodes.slice(0, 12).entries()) {
      const original = (await db.get(key))!;
      await db.put(key, damages[i % damages.length]!(original));
      const fresh = await MerkleStore.open(db, BUCKETS);
      for (let k = 0; k < 50; k++) {
        try {
          await fresh.prove(b(`k${k}`), 1n);
        } catch (err) {
          assert.instance(err, CareLedgerError);
          assert.is((err as CareLedgerError).code, 'STATE_CORRUPT', (err as Error).message);
          corrupt++;
        }
      }
      await db.put(key, original);
    }
    assert.ok(corrupt > 0);
    // A node that is missing altogether is corruption too, at the latest version.
    await db.del(nodes[0]!);
    const fresh = await MerkleStore.open(db, BUCKETS);
    let missing = 0;
    for (let k = 0; k < 50; k++) {
      await fresh.prove(b(`k${k}`)).catch((err: unknown) => {
        assert.is((err as CareLedgerError).code, 'STATE_CORRUPT');
        missing++;
      });
    }
    assert.ok(missing > 0);
  });
});

test('a leaf whose value was damaged is STATE_CORRUPT, though its node hash covers only the value hash', async () => {
  await withDb(async (db) => {
    const store = await MerkleStore.open(db, BUCKETS);
    await commit(db, store, [set('alice', 'v1'), set('bob', 'v1')]);
    await commit(db, store, [set('carol', 'v2')]);
    const bucket = { gte: Uint8Array.of(BUCKETS.nodes), lt: Uint8Array.of(BUCKETS.nodes + 1) };
    let damaged = 0;
    for await (const [key, bytes] of db.iterator(bucket)) {
      const fields = decode(bytes) as Canonical[];
      if (fields[1] !== 1 || hex(fields[2] as Uint8Array) !== hex(b('alice'))) continue;
      // The value is the last field: flip its last byte.
      await db.put(key, Uint8Array.of(...bytes.subarray(0, bytes.length - 1), bytes[bytes.length - 1]! ^ 1));
      damaged++;
    }
    assert.is(damaged, 1);
    const fresh = await MerkleStore.open(db, BUCKETS);
    await rejects(() => fresh.get(b('alice'), 1n), 'STATE_CORRUPT');
    await rejects(() => fresh.prove(b('alice')), 'STATE_CORRUPT');
  });
});

test('reads in place (getSync) and through the async calls give the same roots and values', async () => {
  const seed = 0x5eed14;
  let x = seed;
  const random = (n: number) => {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    return x % n;
  };
  await withDb(async (syncDb) => {
    await withDb(async (asyncDb) => {
      let syncReads = 0;
      const inPlace: StateDb = {
        getSync: (key, options) => {
          syncReads++;
          return syncDb.getSync(key, options);
        },
        get: (key, options) => syncDb.get(key, options),
        getMany: (keys, options) => syncDb.getMany(keys, options),
        keys: (options) => syncDb.keys(options),
      };
      const viaAsync: StateDb = {
        get: (key, options) => asyncDb.get(key, options),
        getMany: (keys, options) => asyncDb.getMany(keys, options),
        keys: (options) => asyncDb.keys(options),
      };
      // A small cache, so nodes are read back from the database, not only from memory.
      const a = await MerkleStore.open(inPlace, BUCKETS, { cacheBytes: 20_000 });
      const c = await MerkleStore.open(viaAsync, BUCKETS, { cacheBytes: 20_000 });
      const model = new Map<string, string>();
      const history: Map<string, string>[] = [];
      for (let v = 1; v <= 30; v++) {
        const changes = new Map<string, string | null>();
        for (let i = 0; i < 40; i++) {
          const k = `key/${random(300)}`;
          changes.set(k, random(4) === 0 ? null : `v${v}/${random(1000)}`);
        }
        const list = [...changes].map(([k, val]): StateChange => [b(k), val === null ? null : b(val)]);
        const ra = await commit(syncDb, a, list);
        const rc = await commit(asyncDb, c, list);
        assert.is(hex(ra), hex(rc), `seed ${seed}: version ${v} roots differ`);
        for (const [k, val] of changes) {
          if (val === null) model.delete(k);
          else model.set(k, val);
        }
        history.push(new Map(model));
        assert.is(hex(ra), hex(rootOfEntries([...model].map(([k, val]) => [b(k), b(val)]))), `seed ${seed}`);
      }
      for (const version of [1, 7, 19, 30]) {
        const expected = history[version - 1]!;
        for (let i = 0; i < 300; i += 13) {
          const k = `key/${i}`;
          const want = expected.get(k);
          for (const store of [a, c]) {
            const got = await store.get(b(k), BigInt(version));
            assert.is(hex(got), want === undefined ? null : hex(b(want)), `seed ${seed}: ${k} at ${version}`);
          }
        }
      }
      assert.ok(syncReads > 100, `the in-place reads were used (${syncReads})`);
    });
  });
});

test.run();
