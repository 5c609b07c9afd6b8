/**
 * Measures the state tree: inserts N keys (default 100 000) in versions of B changes (default
 * 1000) into a fresh classic-level database, writing each version's batch as the node would, then
 * reports the time and the CPU time per key (the process's for prepare alone and for prepare plus
 * the batch write; the main thread's for prepare plus committed, which LevelDB's background
 * threads do not touch: CPU time, unlike wall time, is not inflated by other processes), the
 * proof sizes at N keys, the stored node count, and what pruning every old version removes.
 * CACHE_MB sets the node cache (default: the store's default).
 * Usage: npx node bench/merkle-store.ts [N] [B] (`--help` says more)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { encodeProof, verifyMembership, verifyNonMembership } from '../packages/merkle/proof.ts';
import {
  defaultMerkleStoreOptions,
  type MerkleBuckets,
  MerkleStore,
  type StateChange,
} from '../state/merkle/store.ts';
import { type BenchCommand, integerArg, parseCommandLine } from './command-line.ts';

const COMMAND = {
  name: 'bench:merkle-store',
  command: 'npx node bench/merkle-store.ts',
  usage: `Usage: npx node bench/merkle-store.ts [N] [B]

The state tree (state/merkle/store.ts) alone: inserts N keys (default 100000) in versions of B
changes (default 1000) into a fresh classic-level database in a temp folder, each version's batch
written as the node writes it; then updates B existing keys as one version, proves 1000 present
and 1000 absent keys, and prunes every old version. Prints the time and CPU time per key, the
proof sizes at N keys, and the stored node count before and after pruning. Writes no file; the temp
folder is removed at the end.

Arguments:
  N                 keys to insert (default 100000)
  B                 changes per version (default 1000)

Environment:
  CACHE_MB          the store's node cache, MiB (default ${defaultMerkleStoreOptions.cacheBytes / 2 ** 20})

Options:
  -h, --help        show this help
`,
  options: {},
  positionals: { min: 0, max: 2, synopsis: '[N] [B]' },
} as const satisfies BenchCommand;

const { positionals } = parseCommandLine(COMMAND);
const total = integerArg(COMMAND, positionals[0] ?? '100000', 'N', 1, 100_000_000);
const batch = integerArg(COMMAND, positionals[1] ?? '1000', 'B', 1, 1_000_000);
// An empty CACHE_MB counts as unset, as it did before it was checked.
const cacheMiB = process.env.CACHE_MB
  ? integerArg(COMMAND, process.env.CACHE_MB, 'CACHE_MB', 1, 65_536)
  : null;
const buckets: MerkleBuckets = { nodes: 0x20, roots: 0x21, stale: 0x22, latest: 0x23 };
const utf8 = new TextEncoder();
const keyOf = (i: number) => utf8.encode(`patient/${i.toString().padStart(8, '0')}/consent`);
const valueFor = (i: number) => utf8.encode(`{"grant":${i},"scope":"lab-results","purpose":"treatment"}`);

const dir = mkdtempSync(join(tmpdir(), 'careledger-merkle-bench-'));
const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
await db.open();
try {
  const store = await MerkleStore.open(
    db,
    buckets,
    cacheMiB !== null ? { cacheBytes: cacheMiB * 2 ** 20 } : {},
  );
  let prepareMs = 0;
  let writeMs = 0;
  let prepareCpuUs = 0;
  let mainThreadUs = 0;
  const threadNow = () => {
    const { user, system } = process.threadCpuUsage();
    return user + system;
  };
  const cpuNow = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  const cpuStarted = cpuNow();
  const started = performance.now();
  for (let from = 0; from < total; from += batch) {
    const changes: StateChange[] = [];
    for (let i = from; i < Math.min(total, from + batch); i++) changes.push([keyOf(i), valueFor(i)]);
    const c0 = cpuNow();
    const m0 = threadNow();
    const t0 = performance.now();
    const { version, root, ops } = await store.prepare(store.latestVersion + 1n, changes);
    const t1 = performance.now();
    mainThreadUs += threadNow() - m0;
    prepareCpuUs += cpuNow() - c0;
    await db.batch(ops.slice(), { keyEncoding: 'view', valueEncoding: 'view' });
    writeMs += performance.now() - t1;
    prepareMs += t1 - t0;
    const m1 = threadNow();
    store.committed(version, root);
    mainThreadUs += threadNow() - m1;
  }
  const elapsed = performance.now() - started;
  const insertCpuUs = cpuNow() - cpuStarted;

  // One more version updating `batch` existing keys: the steady-state cost of a block.
  const u0 = performance.now();
  const updates: StateChange[] = [];
  for (let i = 0; i < batch; i++) updates.push([keyOf((i * 7919) % total), utf8.encode(`updated ${i}`)]);
  const upd = await store.prepare(store.latestVersion + 1n, updates);
  await db.batch(upd.ops.slice(), { keyEncoding: 'view', valueEncoding: 'view' });
  store.committed(upd.version, upd.root);
  const updateMs = performance.now() - u0;

  const root = store.latestRoot;
  const sizes: number[] = [];
  const depths: number[] = [];
  const p0 = performance.now();
  const samples = 1000;
  for (let s = 0; s < samples; s++) {
    const i = (s * 104_729) % total;
    const { value, proof } = await store.prove(keyOf(i));
    if (value === null || !verifyMembership(root, keyOf(i), value, proof))
      throw new Error(`proof ${i} failed`);
    sizes.push(encodeProof(proof).length);
    depths.push(proof.siblings.length);
  }
  const proveMs = (performance.now() - p0) / samples;
  const absentSizes: number[] = [];
  for (let s = 0; s < samples; s++) {
    const key = utf8.encode(`absent/${s}`);
    const { value, proof } = await store.prove(key);
    if (value !== null || !verifyNonMembership(root, key, proof))
      throw new Error(`absence proof ${s} failed`);
    absentSizes.push(encodeProof(proof).length);
  }
  const countNodes = async () => {
    let n = 0;
    for await (const _ of db.keys({
      gte: Uint8Array.of(buckets.nodes),
      lt: Uint8Array.of(buckets.nodes + 1),
    }))
      n++;
    return n;
  };
  const nodes = await countNodes();
  const q0 = performance.now();
  const pruneOps = await store.prune(store.latestVersion);
  await db.batch(pruneOps.slice(), { keyEncoding: 'view', valueEncoding: 'view' });
  const pruneMs = performance.now() - q0;
  const nodesAfterPrune = await countNodes();

  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(
    `keys=${total} batch=${batch} versions=${store.latestVersion} ` +
      `(${cpus().length} cpus, load average ${loadavg()[0]!.toFixed(1)})`,
  );
  console.log(
    `insert: ${fmt(elapsed)} total (prepare ${fmt(prepareMs)}, LevelDB batch writes ${fmt(writeMs)}), ` +
      `${Math.round(total / (elapsed / 1000))} keys/s`,
  );
  console.log(
    `insert CPU per key: prepare ${(prepareCpuUs / total).toFixed(2)} us, ` +
      `prepare + batch write ${(insertCpuUs / total).toFixed(2)} us; ` +
      `main thread, prepare + committed ${(mainThreadUs / total).toFixed(2)} us`,
  );
  console.log(`update ${batch} existing keys as one version: ${updateMs.toFixed(1)} ms`);
  console.log(
    `membership proof at ${total} keys: avg ${avg(sizes).toFixed(0)} B, max ${Math.max(...sizes)} B, ` +
      `siblings avg ${avg(depths).toFixed(1)}, max ${Math.max(...depths)}; prove ${proveMs.toFixed(3)} ms`,
  );
  console.log(
    `non-membership proof: avg ${avg(absentSizes).toFixed(0)} B, max ${Math.max(...absentSizes)} B`,
  );
  console.log(
    `stored nodes: ${nodes}; after prune(${store.latestVersion}): ${nodesAfterPrune} ` +
      `(${pruneOps.length} ops, ${pruneMs.toFixed(0)} ms)`,
  );
} finally {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}
