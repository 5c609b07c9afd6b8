/**
 * The pre-grown state of `npm run bench -- --workload health`: a consortium's homes whose chain
 * already holds N anchored records, built offline and kept in a cache for later runs.
 *
 * Sending 1.3 million health txs through a live consortium would take hours at the rates it
 * commits them here, so the history is built in one process instead, by the node's own code: `createTestnet` homes (app health,
 * roles from bench/health-world.ts), then node 0's database grown block by block with
 * `executeBlock` (the real executor, block store, tx index and HealthApp) over blocks built on the
 * chain state (`buildBlock`) whose commits carry every validator's precommit, signed with the
 * testnet's validator keys. Every tx is signed by its real signer. So the result is a chain any
 * node can verify, restart on, serve proofs from and block-sync to a new node. The cache keeps
 * node 0's database once; each run's homes get a copy of it each (copyHomes).
 *
 * Per patient (10 records by default) the history holds: her registration by her custodian (a
 * provider or a lab), her records anchored by it, then two consents she signs: treatment reads to
 * another custodian and payment reads to a payer (bench/health-world.ts says who). The load's
 * disclosures and claims rely on those consents, so none depends on a tx of the load itself.
 *
 * Cache: `<cache root>/health-v<V>-r<N>-k<K>-<code hash>/` holding node0..node<V-1> and
 * manifest.json, written under a `.building` name and renamed when complete, so an interrupted
 * build is never used. The code hash covers the sources that decide what is written (state/,
 * packages/, the executor, the home layout, this folder's health-* files): a change to any of
 * them builds afresh, and older entries for the same parameters are removed.
 */
import { createHash } from 'node:crypto';
import {
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { initChain } from '../node/app.ts';
import { executeBlock } from '../node/executor.ts';
import { homePaths, loadHome } from '../node/home.ts';
import { createTestnet, PORT_STRIDE } from '../node/testnet.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { type KeyPair, signMessage } from '../packages/crypto/ed25519.ts';
import { toHex } from '../packages/crypto/hash.ts';
import type { HealthTx } from '../packages/health/tx.ts';
import { blockIdOf } from '../packages/types/block.ts';
import { buildBlock, type ChainState } from '../packages/types/chain-state.ts';
import { type Commit, makeCommit } from '../packages/types/commit.ts';
import type { CheckedTx } from '../packages/types/tx.ts';
import { addressOf } from '../packages/types/validator.ts';
import { type Vote, VoteType, voteSignBytes } from '../packages/types/vote.ts';
import { BlockStore } from '../state/block-store.ts';
import { openDb } from '../state/db.ts';
import { HealthApp } from '../state/health/app.ts';
import {
  anchorTx,
  patientRecordLabel,
  paymentConsentTx,
  registerTx,
  treatmentConsentTx,
} from './health-txs.ts';
import {
  benchRoles,
  custodianOf,
  type HealthWorld,
  loadWorld,
  patientCount,
  payerOf,
  recordsOf,
  treatingOf,
  worldPatient,
} from './health-world.ts';

const root = join(import.meta.dirname, '..');

/** What decides the bytes of a pre-grown state: a change here means a new cache entry. */
const SOURCES = [
  'state',
  'packages',
  'node/executor.ts',
  'node/app.ts',
  'node/tx-index.ts',
  'node/home.ts',
  'node/testnet.ts',
  'node/config.ts',
  'bench/health-state.ts',
  'bench/health-world.ts',
  'bench/health-txs.ts',
];

/**
 * Txs per pre-grown block: big blocks write fewer versions of the tree's upper nodes. 8000 txs of
 * ~260 bytes is ~2 MiB, under the 10,000 txs of the block limits and the 4 MiB a block sync answer
 * always carries for one block.
 */
export const GROW_BLOCK_TXS = 8000;
const PROGRESS_EVERY_MS = 5000;
/** The Merkle store's node cache while growing (the node's default is 256 MiB). */
const GROW_CACHE_BYTES = 768 * 1024 * 1024;

export interface HealthStateOptions {
  readonly validators: number;
  readonly records: number;
  readonly perPatient: number;
  /** Node 0's P2P port when built (copyHomes moves the ports of each run's copy). */
  readonly basePort: number;
  /** Where cache entries live. */
  readonly cacheRoot: string;
  /** Build afresh even if the cache holds this state. */
  readonly fresh: boolean;
  readonly progress: (line: string) => void;
}

/** Written beside the homes; the load reads it to continue every member's nonces. */
export interface HealthStateManifest {
  readonly kind: 'careledger-health-state';
  readonly chainId: string;
  readonly validators: number;
  /** Node 0's P2P port in the entry's homes. */
  readonly basePort: number;
  readonly records: number;
  readonly perPatient: number;
  readonly patients: number;
  readonly txs: number;
  readonly height: number;
  readonly appHash: string;
  /** The last nonce each member key used, by member id. */
  readonly memberNonces: Readonly<Record<string, number>>;
  readonly growSeconds: number;
  readonly codeHash: string;
}

export interface HealthState {
  /** The cache entry: node0 … node<V-1> homes and manifest.json. Copy it (copyHomes), never run in it. */
  readonly dir: string;
  readonly homes: readonly string[];
  readonly manifest: HealthStateManifest;
  /** True if it was found in the cache. */
  readonly cached: boolean;
}

/** sha256 over the paths and contents of SOURCES' .ts files. */
export function codeHash(): string {
  const h = createHash('sha256');
  const files: string[] = [];
  for (const source of SOURCES) {
    const path = join(root, source);
    if (!statSync(path).isDirectory()) files.push(source);
    else
      for (const entry of readdirSync(path, { recursive: true, encoding: 'utf8' }))
        if (entry.endsWith('.ts')) files.push(join(source, entry));
  }
  for (const file of files.sort())
    h.update(`${file}\0`)
      .update(readFileSync(join(root, file)))
      .update('\0');
  return h.digest('hex').slice(0, 12);
}

const homesOf = (dir: string, validators: number): string[] =>
  Array.from({ length: validators }, (_, i) => join(dir, `node${i}`));

/** The cached state for `opts`, grown now if the cache has none. */
export async function healthState(opts: HealthStateOptions): Promise<HealthState> {
  const hash = codeHash();
  const prefix = `health-v${opts.validators}-r${opts.records}-k${opts.perPatient}-`;
  const dir = join(opts.cacheRoot, `${prefix}${hash}`);
  const manifestPath = join(dir, 'manifest.json');
  if (!opts.fresh && existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as HealthStateManifest;
    opts.progress(`pre-grown state from the cache: ${dir} (grown in ${manifest.growSeconds} s)`);
    return { dir, homes: homesOf(dir, opts.validators), manifest, cached: true };
  }
  mkdirSync(opts.cacheRoot, { recursive: true });
  // Entries of these parameters for other code, and a build that was interrupted, are stale.
  for (const entry of readdirSync(opts.cacheRoot))
    if (entry.startsWith(prefix)) {
      opts.progress(`removing the stale pre-grown state ${entry}`);
      rmSync(join(opts.cacheRoot, entry), { recursive: true, force: true });
    }
  const building = `${dir}.building`;
  try {
    const manifest = await growState(building, opts, hash);
    writeFileSync(join(building, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    renameSync(building, dir);
    return { dir, homes: homesOf(dir, opts.validators), manifest, cached: false };
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Copies a folder, every file (a copy-on-write clone where the file system can). Not hard links:
 * a LevelDB opening a copy may write a table file under a number that already names one (it
 * recovers its log into tables numbered from its manifest, and a table written just before the
 * close can hold that number), truncating it under every other node that links it (SIGBUS).
 */
function copyTree(src: string, dst: string): void {
  if (statSync(src).isDirectory()) {
    mkdirSync(dst, { recursive: true, mode: statSync(src).mode & 0o777 });
    for (const entry of readdirSync(src)) copyTree(join(src, entry), join(dst, entry));
  } else copyFileSync(src, dst, constants.COPYFILE_FICLONE);
}

/**
 * Copies the homes of a cache entry into `to` (node0 …) for one run, moving their ports from the
 * entry's base port to `basePort` (node I: P2P base + 10 I, RPC + 1, metrics + 4, as createTestnet
 * lays them out; the chain id keeps the entry's port); returns them.
 */
export function copyHomes(state: HealthState, to: string, basePort: number): string[] {
  const { validators, basePort: from } = state.manifest;
  const moved = new Map<string, string>();
  for (let i = 0; i < validators; i++)
    for (const offset of [0, 1, 4])
      moved.set(String(from + PORT_STRIDE * i + offset), String(basePort + PORT_STRIDE * i + offset));
  const db = homePaths(homesOf(state.dir, 1)[0]!).db;
  return homesOf(state.dir, validators).map((home, i) => {
    const dst = join(to, `node${i}`);
    copyTree(home, dst);
    // The cache holds node 0's database only: every home gets a copy of it.
    if (i > 0) copyTree(db, homePaths(dst).db);
    const config = homePaths(dst).config;
    const text = readFileSync(config, 'utf8').replace(
      /(:|\/tcp\/)(\d+)\b/g,
      (all, before: string, port: string) => (moved.has(port) ? `${before}${moved.get(port)}` : all),
    );
    writeFileSync(config, text);
    return dst;
  });
}

/** The validator keys of `homes`, by hex address. */
export function validatorKeys(homes: readonly string[]): Map<string, KeyPair> {
  const keys = new Map<string, KeyPair>();
  for (const h of homes) {
    const key = loadHome(h).validatorKey;
    keys.set(toHex(addressOf(key.publicKey)), key);
  }
  return keys;
}

/** A commit of the next block (`blockId`) signed by every validator of the chain's current set. */
export function commitOf(chain: ChainState, blockId: Uint8Array, keys: ReadonlyMap<string, KeyPair>): Commit {
  const height = chain.lastHeight + 1n;
  const sign = { type: VoteType.precommit, height, round: 0, blockId };
  const bytes = voteSignBytes(chain.chainId, sign);
  const votes: Vote[] = chain.validators.set.validators.map((v, i) => {
    const key = keys.get(toHex(v.address));
    if (key === undefined)
      throw new CareLedgerError('BENCH_HOME', 'a validator of the chain has no key in the homes');
    return {
      ...sign,
      validatorIndex: i,
      validatorAddress: v.address,
      signature: signMessage(key.secretKey, bytes),
    };
  });
  return makeCommit(height, 0, blockId, votes, votes.length);
}

/** The history's txs for patient p, signed, in the order they execute. */
export function patientHistory(w: HealthWorld, p: number, nonces: Map<string, number>): CheckedTx[] {
  const holder = custodianOf(w, p);
  const patient = worldPatient(w, p);
  const next = (id: string): bigint => {
    const n = (nonces.get(id) ?? 0) + 1;
    nonces.set(id, n);
    return BigInt(n);
  };
  const byHolder = (tx: HealthTx): CheckedTx => holder.key.tx(w.chainId, next(holder.id), tx);
  const txs = [byHolder(registerTx(w.chainId, holder.id, patient.key))];
  for (let k = 0; k < recordsOf(w, p); k++)
    txs.push(byHolder(anchorTx(patient.id, k, patientRecordLabel(p, k))));
  // Patient nonces 1 and 2; the load continues from 3.
  txs.push(patient.key.tx(w.chainId, 1n, treatmentConsentTx(patient.id, treatingOf(w, p).id)));
  txs.push(patient.key.tx(w.chainId, 2n, paymentConsentTx(patient.id, payerOf(w, p).id)));
  return txs;
}

/** The last nonce patient p's key used in the history. */
export const PATIENT_HISTORY_NONCE = 2;

async function growState(dir: string, opts: HealthStateOptions, hash: string): Promise<HealthStateManifest> {
  const started = performance.now();
  rmSync(dir, { recursive: true, force: true });
  const homes = createTestnet({
    validators: opts.validators,
    output: dir,
    chainId: `bench-${opts.basePort}`,
    basePort: opts.basePort,
    app: 'health',
    roles: benchRoles(opts.validators),
  });
  const world = loadWorld(homes, opts.records, opts.perPatient);
  const keys = validatorKeys(homes);
  const home = loadHome(homes[0]!);
  const db = await openDb(home.paths.db);
  const nonces = new Map<string, number>();
  let chain: ChainState;
  let txCount = 0;
  try {
    const blocks = await BlockStore.open(db);
    const app = await HealthApp.open(db, { store: { cacheBytes: GROW_CACHE_BYTES } });
    chain = await initChain(home.genesis, db, blocks, app);
    const patients = patientCount(world);
    let pending: CheckedTx[] = [];
    let recordsDone = 0;
    let lastLine = performance.now();
    const commitBlock = async (): Promise<void> => {
      const now = BigInt(Date.now());
      const block = buildBlock(chain, {
        txs: pending.map((t) => t.bytes),
        txHashes: pending.map((t) => t.hash),
        evidence: [],
        time: now,
        proposer: chain.validators.set.validators[chain.validators.proposer]!.address,
      });
      const commit = commitOf(chain, blockIdOf(block.header), keys);
      const executed = await executeBlock({ db, blocks, app, chain }, block, commit, pending);
      const failed = executed.txResults.findIndex((r) => r.code !== 0);
      if (failed >= 0) {
        const r = executed.txResults[failed]!;
        throw new CareLedgerError(
          'BENCH_GROW',
          `a history tx failed at height ${block.header.height}: ${r.codespace}: ${r.log}`,
        );
      }
      chain = executed.after;
      txCount += pending.length;
      pending = [];
    };
    for (let p = 0; p < patients; p++) {
      pending.push(...patientHistory(world, p, nonces));
      recordsDone += recordsOf(world, p);
      if (pending.length >= GROW_BLOCK_TXS || p === patients - 1) await commitBlock();
      if (performance.now() - lastLine >= PROGRESS_EVERY_MS || p === patients - 1) {
        lastLine = performance.now();
        const seconds = (lastLine - started) / 1000;
        const eta = (seconds / recordsDone) * (opts.records - recordsDone);
        opts.progress(
          `pre-growing: ${recordsDone.toLocaleString('en')} of ${opts.records.toLocaleString('en')} records ` +
            `(${((recordsDone / opts.records) * 100).toFixed(1)}%), height ${chain.lastHeight}, ` +
            `${Math.round(txCount / seconds)} tx/s, ${seconds.toFixed(0)} s, ETA ${eta < 90 ? `${eta.toFixed(0)} s` : `${(eta / 60).toFixed(1)} min`}`,
        );
      }
    }
    // Settle the database: a copy opened with compactions owed would spend the measured window
    // on them (~80 KB written per tx at 100,000 records before this).
    opts.progress(`compacting the database (${chain.lastHeight} blocks)…`);
    await db.compactRange(new Uint8Array(1), new Uint8Array(64).fill(0xff));
  } finally {
    await db.close();
  }
  const growSeconds = Math.round((performance.now() - started) / 100) / 10;
  return {
    kind: 'careledger-health-state',
    chainId: world.chainId,
    validators: opts.validators,
    basePort: opts.basePort,
    records: opts.records,
    perPatient: opts.perPatient,
    patients: patientCount(world),
    txs: txCount,
    height: Number(chain.lastHeight),
    appHash: toHex(chain.appHash),
    memberNonces: Object.fromEntries(world.members.map((m) => [m.id, nonces.get(m.id) ?? 0])),
    growSeconds,
    codeHash: hash,
  };
}
