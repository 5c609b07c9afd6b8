/**
 * Property tests of the Merkle store against a plain Map model (fast-check, fixed seed): after
 * random changes over several versions and a random prune, every key's value and proof at every
 * kept version agree with the model, each root is the root of the model's contents computed from
 * scratch, pruned versions say so, and no node leaks; and the root depends only on the final
 * contents, not on the order or batching of the changes that reached them.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hasCode } from '../../../packages/core/errors.ts';
import { toHex } from '../../../packages/crypto/hash.ts';
import { verifyMembership, verifyNonMembership } from '../../../packages/merkle/proof.ts';
import { rootOfEntries } from '../../../packages/merkle/reference.ts';
import { type MerkleBuckets, MerkleStore, type StateChange } from '../../../state/merkle/store.ts';
import { commit, countKeys, VIEW, withDb } from './merkle-fixtures.ts';

const BUCKETS: MerkleBuckets = { nodes: 0x10, roots: 0x11, stale: 0x12, latest: 0x13 };
const FRESH: MerkleBuckets = { nodes: 0x20, roots: 0x21, stale: 0x22, latest: 0x23 };
const KEYS = 24;
const utf8 = new TextEncoder();
const keyOf = (i: number) => utf8.encode(`k${i}`);
const valueFor = (v: number) => utf8.encode(`value-${v}`);

type Model = ReadonlyMap<number, number>;
const entriesOf = (m: Model) => [...m].map(([k, v]) => [keyOf(k), valueFor(v)] as [Uint8Array, Uint8Array]);

/** A version: changes to keys of a small universe (so keys collide, die and come back), value null deletes. */
const versionArb = fc.array(fc.tuple(fc.nat(KEYS - 1), fc.option(fc.nat(3), { freq: 4 })), { maxLength: 12 });

test('random versions and a random prune agree with a Map model, value by value and proof by proof', async () => {
  await withDb(async (db) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(versionArb, { minLength: 1, maxLength: 8 }),
        fc.nat(100),
        async (versions, cut) => {
          await db.clear();
          const store = await MerkleStore.open(db, BUCKETS);
          const models: Model[] = [new Map()];
          for (const changes of versions) {
            const last = new Map<number, number | null>(changes); // the last change of a key wins
            const model = new Map(models.at(-1)!);
            for (const [k, v] of last) {
              if (v === null) model.delete(k);
              else model.set(k, v);
            }
            const root = await commit(
              db,
              store,
              [...last].map(([k, v]) => [keyOf(k), v === null ? null : valueFor(v)] as const),
            );
            if (toHex(root) !== toHex(rootOfEntries(entriesOf(model)))) return false;
            models.push(model);
          }
          const latest = store.latestVersion;
          const keepFrom = BigInt(cut) % (latest + 1n);
          await db.batch(await store.prune(keepFrom), VIEW);

          for (let v = 0n; v <= latest; v++) {
            const model = models[Number(v)]!;
            if (v < keepFrom) {
              const pruned = await store.rootHash(v).then(
                () => false,
                (err: unknown) => hasCode(err, 'STATE_VERSION_PRUNED'),
              );
              if (!pruned) return false;
              continue;
            }
            const root = await store.rootHash(v);
            if (toHex(root) !== toHex(rootOfEntries(entriesOf(model)))) return false;
            for (let k = 0; k < KEYS; k++) {
              const want = model.get(k);
              const got = await store.get(keyOf(k), v);
              const { value, proof } = await store.prove(keyOf(k), v);
              if (want === undefined) {
                if (got !== null || value !== null || !verifyNonMembership(root, keyOf(k), proof))
                  return false;
              } else {
                const bytes = valueFor(want);
                if (got === null || toHex(got) !== toHex(bytes)) return false;
                if (value === null || !verifyMembership(root, keyOf(k), bytes, proof)) return false;
              }
            }
          }
          // Pruned up to the latest, the store holds exactly the latest tree's nodes.
          await db.batch(await store.prune(latest), VIEW);
          const fresh = await MerkleStore.open(db, FRESH);
          await commit(db, fresh, entriesOf(models.at(-1)!));
          return (await countKeys(db, BUCKETS.nodes)) === (await countKeys(db, FRESH.nodes));
        },
      ),
      { seed: 7, numRuns: 100 },
    );
  });
});

test('the same final contents give the same root whatever the order and batching', async () => {
  await withDb(async (db) => {
    const contents = fc.uniqueArray(fc.tuple(fc.nat(200), fc.nat(5)), {
      selector: ([k]) => k,
      minLength: 0,
      maxLength: 60,
    });
    await fc.assert(
      fc.asyncProperty(
        contents,
        fc.array(fc.nat(200), { maxLength: 20 }),
        fc.array(fc.nat(59), { maxLength: 5 }),
        fc.nat(),
        async (entries, detour, cuts, shuffleSeed) => {
          await db.clear();
          const expected = toHex(rootOfEntries(entries.map(([k, v]) => [keyOf(k), valueFor(v)] as const)));
          const store = await MerkleStore.open(db, BUCKETS);
          // A detour through keys that end up absent or with other values...
          const finalKeys = new Set(entries.map(([k]) => k));
          await commit(
            db,
            store,
            [...new Set(detour)].map((k) => [keyOf(k), valueFor(99)] as const),
          );
          // ...then the final contents in a shuffled order, split at random points.
          const changes: StateChange[] = [
            ...entries.map(([k, v]) => [keyOf(k), valueFor(v)] as const),
            ...[...new Set(detour)].filter((k) => !finalKeys.has(k)).map((k) => [keyOf(k), null] as const),
          ];
          let s = shuffleSeed;
          for (let i = changes.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) % 2147483648;
            const j = s % (i + 1);
            [changes[i], changes[j]] = [changes[j]!, changes[i]!];
          }
          const points = [...new Set(cuts.filter((c) => c < changes.length))].sort((a, b) => a - b);
          let from = 0;
          for (const p of [...points, changes.length]) {
            await commit(db, store, changes.slice(from, p));
            from = p;
          }
          return toHex(store.latestRoot) === expected;
        },
      ),
      { seed: 7, numRuns: 100 },
    );
  });
});

test('fast-check finds a difference when there is one (the property can fail)', async () => {
  const details = await fc.check(
    fc.asyncProperty(
      fc.nat(5),
      async (v) => toHex(rootOfEntries([[keyOf(0), valueFor(v)]])) === toHex(rootOfEntries([])),
    ),
    { seed: 7, numRuns: 5 },
  );
  assert.ok(details.failed);
});

test.run();
