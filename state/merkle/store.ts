/**
 * The Merkle-ized, versioned key-value store that holds the application state, inside the node's
 * one LevelDB database: a sparse Merkle tree in the style of Diem's Jellyfish Merkle tree, binary
 * for hashing and proofs (rules in packages/merkle, shared with verifiers), 16-ary for storage
 * (node.ts), with one root per version.
 *
 * The store never writes. `prepare` computes the next version and returns the root (the app hash)
 * and the put/del operations that store it; the node adds them to the batch that also holds the
 * block and its indexes, writes that batch, then calls `committed` so the store moves on. Until
 * then the store reads the old version, and a prepared version whose batch is never written
 * leaves no trace. Reopening the store reads the latest version back from the database.
 *
 * Layout: every key starts with one bucket byte the caller chooses.
 *   nodes  [b][hash 32]               -> node (node.ts), content-addressed, shared by versions
 *   roots  [b][version u64be]          -> root hash 32 (the empty hash for an empty tree)
 *   stale  [b][version u64be][hash 32] -> (no bytes): `version` made that node unreachable
 *   latest [b][key]                    -> [version u64be][value]: the newest value of each key,
 *                                         written at `version`, so a read of the latest state is
 *                                         one lookup instead of a walk down the tree
 * Versions are consecutive: 0 is the empty tree, and prepare(v) requires v = latestVersion + 1.
 * Version 1 also writes the root entry of version 0, so pruning treats it like any other.
 *
 * Pruning: a node made unreachable by version s is used only by versions < s, so prune(k) deletes
 * the nodes of the stale entries with s <= k, and the roots of versions < k. A node can be written
 * again after it went stale (a key set back to a value it had), so it is deleted only if its stored
 * birth version is older than s; a later life is covered by a later stale entry.
 *
 * Why one file of this size: prepare, read, prove and prune all walk the same versioned node
 * layout (the key scheme below); split apart, each part would re-derive it.
 */

import { readU64be as readU64 } from '../../packages/codec/bytes.ts';
import { CareLedgerError } from '../../packages/core/errors.ts';
import { equalBytes, HASH_BYTES, toHex } from '../../packages/crypto/hash.ts';
import { emptyHash, isEmptyHash, keyHashOf, valueHashOf } from '../../packages/merkle/hash.ts';
import type { MerkleProof } from '../../packages/merkle/proof.ts';
import type { BatchOp } from '../db.ts';
import {
  birthOf,
  childAt,
  decodeNode,
  EMPTY,
  EMPTY_REF,
  encodeNode,
  INTERNAL,
  type InternalNode,
  LEAF,
  type LeafNode,
  type LeafRef,
  makeInternal,
  makeLeaf,
  NodeCache,
  nibbleAt,
  nodeId,
  RADIX,
  type Ref,
  refAt,
  type TreeNode,
  withChildren,
} from './node.ts';

/** One bucket byte per kind of record; the four must differ and must not collide with other users of the DB. */
export interface MerkleBuckets {
  readonly nodes: number;
  readonly roots: number;
  readonly stale: number;
  readonly latest: number;
}

/**
 * What the store needs of the database: reads only. A ClassicLevel or any sublevel of one fits.
 * `getSync`, when there (classic-level 3 has it), is used for point reads: a lookup that LevelDB
 * answers from its caches costs far less CPU done in place than handed to a worker thread and
 * back through a promise, and execution waits for each read anyway.
 */
export interface StateDb {
  getSync?(key: Uint8Array, options: { keyEncoding: 'view'; valueEncoding: 'view' }): Uint8Array | undefined;
  get(
    key: Uint8Array,
    options: { keyEncoding: 'view'; valueEncoding: 'view' },
  ): Promise<Uint8Array | undefined>;
  getMany(
    keys: Uint8Array[],
    options: { keyEncoding: 'view'; valueEncoding: 'view' },
  ): Promise<(Uint8Array | undefined)[]>;
  keys(options: {
    keyEncoding: 'view';
    gte: Uint8Array;
    lte?: Uint8Array;
    lt?: Uint8Array;
    reverse?: boolean;
    limit?: number;
  }): AsyncIterable<Uint8Array>;
}

/** A change to apply: a key and its new value, or null to delete it. */
export type StateChange = readonly [key: Uint8Array, value: Uint8Array | null];

export interface PreparedVersion {
  readonly version: bigint;
  /** The root hash of the new version: the app hash. */
  readonly root: Uint8Array;
  /** The operations that store the version; add them to the block's batch. */
  readonly ops: BatchOp[];
}

export interface MerkleStoreOptions {
  /** Approximate memory for decoded nodes. */
  readonly cacheBytes: number;
  /** How many prepared, not yet committed, results of the next version are remembered. */
  readonly maxPrepared: number;
  /**
   * How many of the newest versions stay readable: each prepared version's ops also prune the
   * version that falls out of that window. 0 keeps every version; otherwise at least 2.
   */
  readonly keepVersions: number;
}

export const defaultMerkleStoreOptions: MerkleStoreOptions = {
  cacheBytes: 256 * 1024 * 1024,
  maxPrepared: 8,
  keepVersions: 0,
};

/** Versions one prepare prunes at most when it catches up (see keepVersions). */
const MAX_VERSIONS_PRUNED_AT_ONCE = 4n;

export const MAX_KEY_BYTES = 1024;
export const MAX_VALUE_BYTES = 1024 * 1024;
const MAX_VERSION = 2n ** 63n - 1n;
/** Stale entries whose nodes prune reads in one go. */
const PRUNE_READ_CHUNK = 1024;

const VIEW = { keyEncoding: 'view', valueEncoding: 'view' } as const;
const NO_BYTES = new Uint8Array(0);
const FULL_HASH = new Uint8Array(HASH_BYTES).fill(0xff);

interface Update {
  readonly key: Uint8Array;
  readonly keyHash: Uint8Array;
  /** The first 4 bytes of keyHash as a number: most sort comparisons end there. */
  readonly order: number;
  readonly value: Uint8Array | null;
  readonly valueHash: Uint8Array | null;
  /** Always null: an update is a leaf to write when building (see Item), with no copy made. */
  readonly existing: null;
}

/** A leaf to place while building a subtree: one that stays as it is, or one to write. */
type Item = { readonly keyHash: Uint8Array; readonly existing: Ref } | Update;

/** What one prepare does: the nodes it writes and the nodes of the old version it unlinks. */
interface Work {
  /**
   * The nodes of the old version that the changes reach, read ahead by `prefetch`; null when the
   * database reads in place (getSync): then each is read when reached, from the cache or the
   * database, with no walk ahead and no map.
   */
  readonly loaded: ReadonlyMap<string, TreeNode> | null;
  readonly created: Map<string, TreeNode>;
  readonly removed: Map<string, Uint8Array>;
}

/** A node of the old version to read, and the range of updates that reach it. */
interface Visit {
  readonly hash: Uint8Array;
  readonly lo: number;
  readonly hi: number;
  readonly depth: number;
}

interface Prepared {
  readonly version: bigint;
  readonly created: ReadonlyMap<string, TreeNode>;
}

/**
 * A database key: the bucket byte, then `version` as u64 big-endian if given, then `tail` if given,
 * in one pooled buffer (keys are built several times per tx, so no joining of parts).
 */
function bucketKey(bucket: number, version: bigint | null, tail: Uint8Array | null): Buffer {
  const at = version === null ? 1 : 9;
  const key = Buffer.allocUnsafe(at + (tail === null ? 0 : tail.length));
  key[0] = bucket;
  if (version !== null) key.writeBigUInt64BE(version, 1);
  if (tail !== null) key.set(tail, at);
  return key;
}

/** A `latest` entry: the version that wrote the value (u64 big-endian), then the value. */
function latestEntry(version: bigint, value: Uint8Array): Buffer {
  const entry = Buffer.allocUnsafe(8 + value.length);
  entry.writeBigUInt64BE(version, 0);
  entry.set(value, 8);
  return entry;
}

function checkVersion(version: bigint): void {
  if (typeof version !== 'bigint' || version < 0n || version > MAX_VERSION) {
    throw new CareLedgerError('STATE_VERSION_INVALID', 'a version is a bigint from 0 to 2^63 - 1');
  }
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length === 0 || key.length > MAX_KEY_BYTES) {
    throw new CareLedgerError('STATE_KEY_INVALID', `a state key is 1 to ${MAX_KEY_BYTES} bytes`);
  }
}

/**
 * Calls `fn` for each run of items[lo, hi) that takes the same slot at nibble `depth`; the range
 * is sorted by path and shares the nibbles above `depth`, so each slot is one run.
 */
function forEachSlot(
  items: readonly { readonly keyHash: Uint8Array }[],
  lo: number,
  hi: number,
  depth: number,
  fn: (slot: number, lo: number, hi: number) => void,
): void {
  let i = lo;
  while (i < hi) {
    const slot = nibbleAt(items[i]!.keyHash, depth);
    let j = i + 1;
    while (j < hi && nibbleAt(items[j]!.keyHash, depth) === slot) j++;
    fn(slot, i, j);
    i = j;
  }
}

export class MerkleStore {
  private readonly db: StateDb;
  private readonly buckets: MerkleBuckets;
  private readonly opts: MerkleStoreOptions;
  private readonly cache: NodeCache;
  private latest: bigint;
  private root: Uint8Array;
  /** Prepared results of version latest + 1 by root hex, until one is committed. */
  private readonly prepared = new Map<string, Prepared>();

  private constructor(
    db: StateDb,
    buckets: MerkleBuckets,
    opts: MerkleStoreOptions,
    latest: bigint,
    root: Uint8Array,
  ) {
    this.db = db;
    this.buckets = buckets;
    this.opts = opts;
    this.cache = new NodeCache(opts.cacheBytes);
    this.latest = latest;
    this.root = root;
  }

  /** Opens the store over `db` (which the caller opened and will close) at its latest version. */
  static async open(
    db: StateDb,
    buckets: MerkleBuckets,
    options: Partial<MerkleStoreOptions> = {},
  ): Promise<MerkleStore> {
    const bytes = [buckets.nodes, buckets.roots, buckets.stale, buckets.latest];
    if (!bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255) || new Set(bytes).size !== 4) {
      throw new CareLedgerError('STATE_BUCKETS_INVALID', 'the four state buckets must be distinct bytes');
    }
    const opts = { ...defaultMerkleStoreOptions, ...options };
    if (!Number.isSafeInteger(opts.keepVersions) || opts.keepVersions < 0 || opts.keepVersions === 1) {
      throw new CareLedgerError(
        'STATE_OPTIONS_INVALID',
        'keepVersions is 0 (keep every version) or at least 2',
      );
    }
    let latest = 0n;
    let root = emptyHash();
    const rootsFrom = Uint8Array.of(buckets.roots);
    for await (const key of db.keys({
      keyEncoding: 'view',
      gte: rootsFrom,
      lte: bucketKey(buckets.roots, MAX_VERSION, null),
      reverse: true,
      limit: 1,
    })) {
      latest = readU64(key, 1);
      const stored = await db.get(key, VIEW);
      if (stored === undefined || stored.length !== HASH_BYTES) {
        throw new CareLedgerError('STATE_CORRUPT', `the root of version ${latest} is missing or malformed`);
      }
      root = stored.slice();
    }
    return new MerkleStore(db, buckets, opts, latest, root);
  }

  /** The newest committed version; 0n for a store that has committed nothing. */
  get latestVersion(): bigint {
    return this.latest;
  }

  /** The root hash of the newest committed version. */
  get latestRoot(): Uint8Array {
    return this.root.slice();
  }

  /** The root hash of `version` (default: the latest). Throws STATE_VERSION_UNKNOWN or STATE_VERSION_PRUNED. */
  async rootHash(version: bigint = this.latest): Promise<Uint8Array> {
    checkVersion(version);
    if (version > this.latest) {
      throw new CareLedgerError(
        'STATE_VERSION_UNKNOWN',
        `state version ${version} is not committed yet (latest is ${this.latest})`,
      );
    }
    if (version === this.latest) return this.root.slice();
    const stored = await this.db.get(this.rootKey(version), VIEW);
    if (stored === undefined)
      throw new CareLedgerError('STATE_VERSION_PRUNED', `state version ${version} was pruned`);
    return stored.slice();
  }

  /** The value of `key` at `version` (default: the latest), or null if it has none. */
  async get(key: Uint8Array, version: bigint = this.latest): Promise<Uint8Array | null> {
    checkKey(key);
    if (version === this.latest) {
      const entry = await this.read(this.latestKey(key));
      // An entry written by a later version (its batch landed before `committed` was called, or
      // while we read) is too new; a missing entry can mean such a version deleted the key. Then
      // read the tree of `version` instead.
      if (entry !== undefined && readU64(entry, 0) <= version) return entry.slice(8);
      if (entry === undefined && this.prepared.size === 0 && this.latest === version) return null;
    }
    const root = await this.rootHash(version);
    const { leaf } = await this.walk(version, root, keyHashOf(key));
    return leaf !== null && equalBytes(leaf.key, key) ? leaf.value.slice() : null;
  }

  /** The value of `key` at `version` (default: the latest) and a proof of it (or of its absence) against that version's root. */
  async prove(
    key: Uint8Array,
    version: bigint = this.latest,
  ): Promise<{ value: Uint8Array | null; proof: MerkleProof }> {
    checkKey(key);
    const root = await this.rootHash(version);
    const keyHash = keyHashOf(key);
    const { siblings, leaf } = await this.walk(version, root, keyHash);
    const proof: MerkleProof = {
      siblings,
      leaf: leaf === null ? null : { keyHash: leaf.keyHash.slice(), valueHash: leaf.valueHash.slice() },
    };
    const value = leaf !== null && equalBytes(leaf.keyHash, keyHash) ? leaf.value.slice() : null;
    return { value, proof };
  }

  /**
   * Applies `changes` (value null deletes the key) to the latest version as version `version`,
   * which must be latestVersion + 1. Returns the new root and the operations that store it;
   * writes nothing and changes nothing visible: call `committed` after the batch is written.
   * Each key may appear once. The result is the same for the same final contents, whatever the
   * order of the changes or how they were split into versions.
   */
  async prepare(version: bigint, changes: Iterable<StateChange>): Promise<PreparedVersion> {
    checkVersion(version);
    if (version !== this.latest + 1n) {
      throw new CareLedgerError(
        'STATE_VERSION_NOT_NEXT',
        `cannot prepare state version ${version}: the next is ${this.latest + 1n}`,
      );
    }
    const updates = this.toUpdates(changes);
    const base = this.root;
    const loaded = this.db.getSync !== undefined ? null : await this.prefetch(base, updates);
    const work: Work = { loaded, created: new Map(), removed: new Map() };
    const oldRoot = this.rootRef(base, updates, work);
    const newRoot = this.update(oldRoot, 0, updates, 0, updates.length, work);

    // A node both unlinked and written again (the same content) is neither stale nor new: it
    // leaves both lists. What stays in work.created is what this version writes.
    const stale: BatchOp[] = [];
    for (const [id, hash] of work.removed) {
      if (!work.created.delete(id))
        stale.push({ type: 'put', key: this.staleKey(version, hash), value: NO_BYTES });
    }
    const created = work.created;
    const ops: BatchOp[] = [];
    for (const node of created.values()) {
      ops.push({ type: 'put', key: this.nodeKey(node.hash), value: encodeNode(node, version) });
    }
    for (const op of stale) ops.push(op);
    if (version === 1n) ops.push({ type: 'put', key: this.rootKey(0n), value: emptyHash() });
    ops.push({ type: 'put', key: this.rootKey(version), value: newRoot.hash.slice() });
    for (const u of updates) {
      const key = this.latestKey(u.key);
      ops.push(
        u.value === null ? { type: 'del', key } : { type: 'put', key, value: latestEntry(version, u.value) },
      );
    }

    if (this.latest + 1n === version && equalBytes(base, this.root)) {
      const id = toHex(newRoot.hash);
      this.prepared.delete(id);
      this.prepared.set(id, { version, created });
      for (const oldest of this.prepared.keys()) {
        if (this.prepared.size <= this.opts.maxPrepared) break;
        this.prepared.delete(oldest);
      }
      // After registering this version, so the prune keeps the nodes it writes again. A prune
      // skipped (a commit overtook this prepare) is made up by the next: each sweeps all before.
      // A store that kept more (pruning just turned on, or the window made smaller) catches up a
      // few versions per version, so no one batch holds an unbounded prune.
      const keep = BigInt(this.opts.keepVersions);
      if (keep > 0n && version > keep) {
        const oldest = await this.oldestVersion();
        const target = version - keep + 1n;
        const keepFrom =
          target < oldest + MAX_VERSIONS_PRUNED_AT_ONCE ? target : oldest + MAX_VERSIONS_PRUNED_AT_ONCE;
        if (keepFrom > oldest) for (const op of await this.prune(keepFrom)) ops.push(op);
      }
    }
    return { version, root: newRoot.hash.slice(), ops };
  }

  /**
   * Tells the store that the batch holding version `version` with root `root` (a result of
   * `prepare`) has been written: reads of the latest version now see it.
   */
  committed(version: bigint, root: Uint8Array): void {
    checkVersion(version);
    if (version !== this.latest + 1n) {
      throw new CareLedgerError(
        'STATE_VERSION_NOT_NEXT',
        `cannot commit state version ${version}: the next is ${this.latest + 1n}`,
      );
    }
    const prepared = root instanceof Uint8Array ? this.prepared.get(toHex(root)) : undefined;
    if (prepared === undefined || prepared.version !== version) {
      throw new CareLedgerError(
        'STATE_COMMIT_UNKNOWN',
        `state version ${version} with this root was not prepared (or no longer remembered)`,
      );
    }
    this.latest = version;
    // A copy even of a Buffer (whose slice is a view): the caller keeps its root.
    this.root = new Uint8Array(root);
    // Leaves are left out: the newest values are read from the `latest` bucket.
    for (const [id, node] of prepared.created) if (node.kind === INTERNAL) this.cache.set(id, node);
    this.prepared.clear();
  }

  /**
   * The operations that delete every version before `keepFrom` (0 <= keepFrom <= latestVersion):
   * their roots, and every node that no version from `keepFrom` on uses. Writes nothing. Write
   * the result before, or in the same batch as, the operations of any version prepared after this
   * call (results prepared before it are already accounted for). After the write, those versions
   * report STATE_VERSION_PRUNED.
   */
  async prune(keepFrom: bigint): Promise<BatchOp[]> {
    checkVersion(keepFrom);
    if (keepFrom > this.latest) {
      throw new CareLedgerError(
        'STATE_PRUNE_INVALID',
        `cannot prune up to version ${keepFrom}: the latest is ${this.latest}`,
      );
    }
    // Nodes a prepared, maybe already written, version writes again must stay; their stale
    // entries stay too, so a later prune looks at them again.
    const pending = new Set<string>();
    for (const p of this.prepared.values()) for (const id of p.created.keys()) pending.add(id);

    const ops: BatchOp[] = [];
    const staleFrom = Uint8Array.of(this.buckets.stale);
    let chunk: Uint8Array[] = [];
    const sweep = async () => {
      const candidates = chunk.filter((key) => !pending.has(nodeId(key.subarray(9))));
      chunk = [];
      const stored = await this.db.getMany(
        candidates.map((key) => this.nodeKey(key.subarray(9))),
        VIEW,
      );
      for (const [i, key] of candidates.entries()) {
        const hash = key.subarray(9);
        const bytes = stored[i];
        if (bytes !== undefined && birthOf(hash, bytes) < readU64(key, 1)) {
          ops.push({ type: 'del', key: this.nodeKey(hash) });
          this.cache.delete(nodeId(hash));
        }
        ops.push({ type: 'del', key });
      }
    };
    for await (const key of this.db.keys({
      keyEncoding: 'view',
      gte: staleFrom,
      lte: bucketKey(this.buckets.stale, keepFrom, FULL_HASH),
    })) {
      if (key.length !== 1 + 8 + HASH_BYTES) {
        throw new CareLedgerError('STATE_CORRUPT', 'malformed stale-index key');
      }
      chunk.push(key.slice());
      if (chunk.length >= PRUNE_READ_CHUNK) await sweep();
    }
    await sweep();
    const rootsFrom = Uint8Array.of(this.buckets.roots);
    for await (const key of this.db.keys({
      keyEncoding: 'view',
      gte: rootsFrom,
      lt: this.rootKey(keepFrom),
    })) {
      ops.push({ type: 'del', key: key.slice() });
    }
    return ops;
  }

  /** The oldest version whose root is stored (0 for a store that has pruned nothing). */
  private async oldestVersion(): Promise<bigint> {
    const rootsFrom = Uint8Array.of(this.buckets.roots);
    for await (const key of this.db.keys({
      keyEncoding: 'view',
      gte: rootsFrom,
      lte: this.rootKey(MAX_VERSION),
      limit: 1,
    }))
      return readU64(key, 1);
    return 0n;
  }

  // --- reading the tree ---

  private nodeKey(hash: Uint8Array): Uint8Array {
    return bucketKey(this.buckets.nodes, null, hash);
  }

  private rootKey(version: bigint): Uint8Array {
    return bucketKey(this.buckets.roots, version, null);
  }

  private staleKey(version: bigint, hash: Uint8Array): Uint8Array {
    return bucketKey(this.buckets.stale, version, hash);
  }

  private latestKey(key: Uint8Array): Uint8Array {
    return bucketKey(this.buckets.latest, null, key);
  }

  /** One point read, in place when the database can (see StateDb). */
  private read(key: Uint8Array): Promise<Uint8Array | undefined> | Uint8Array | undefined {
    return this.db.getSync !== undefined ? this.db.getSync(key, VIEW) : this.db.get(key, VIEW);
  }

  /** Adds the nodes `hashes` to `into`, from the cache or else in one read of the database. */
  private async loadAll(hashes: readonly Uint8Array[], into: Map<string, TreeNode>): Promise<void> {
    const missing: { id: string; hash: Uint8Array }[] = [];
    for (const hash of hashes) {
      const id = nodeId(hash);
      if (into.has(id)) continue;
      const cached = this.cache.get(id);
      if (cached !== undefined) into.set(id, cached);
      else missing.push({ id, hash });
    }
    if (missing.length === 0) return;
    const keys = missing.map((m) => this.nodeKey(m.hash));
    const stored =
      this.db.getSync !== undefined
        ? keys.map((k) => this.db.getSync!(k, VIEW))
        : await this.db.getMany(keys, VIEW);
    for (const [i, { id, hash }] of missing.entries()) into.set(id, this.fromDb(id, hash, stored[i]));
  }

  /** The node `hash` (id `id`) from the bytes the database gave for it, checked and cached. */
  private fromDb(id: string, hash: Uint8Array, bytes: Uint8Array | undefined): TreeNode {
    if (bytes === undefined)
      throw new CareLedgerError('STATE_NODE_MISSING', `state node ${toHex(hash)} is missing`);
    const { node } = decodeNode(hash, bytes);
    this.cache.set(id, node);
    return node;
  }

  private async load(hash: Uint8Array): Promise<TreeNode> {
    const into = new Map<string, TreeNode>();
    await this.loadAll([hash], into);
    return into.values().next().value!;
  }

  /** The path of `keyHash` in the tree of `version` (root `root`): siblings from the top, and the leaf it ends at. */
  private async walk(
    version: bigint,
    root: Uint8Array,
    keyHash: Uint8Array,
  ): Promise<{ siblings: Uint8Array[]; leaf: LeafNode | null }> {
    const siblings: Uint8Array[] = [];
    if (isEmptyHash(root)) return { siblings, leaf: null };
    try {
      let node = await this.load(root);
      for (let depth = 0; node.kind === INTERNAL; depth++) {
        // Down the binary tree inside the node, one bit of the slot at a time, until the path
        // leaves it through a slot holding another stored node, or ends at a leaf or nothing.
        const slot = nibbleAt(keyHash, depth);
        let pos = 1;
        for (let bit = 3; bit >= 0; bit--) {
          const side = (slot >> bit) & 1;
          siblings.push(refAt(node, 2 * pos + 1 - side).hash.slice());
          pos = 2 * pos + side;
          if (node.kinds[pos] !== INTERNAL) break;
        }
        const end = refAt(node, pos);
        if (end.kind === EMPTY) return { siblings, leaf: null };
        node = await this.load(end.hash);
      }
      return { siblings, leaf: node };
    } catch (err) {
      // A prune written while we walked removes nodes under our feet: say so, not "corrupt".
      if (err instanceof CareLedgerError && err.code === 'STATE_NODE_MISSING') {
        if (version < this.latest && (await this.db.get(this.rootKey(version), VIEW)) === undefined) {
          throw new CareLedgerError('STATE_VERSION_PRUNED', `state version ${version} was pruned`);
        }
        throw new CareLedgerError('STATE_CORRUPT', err.message);
      }
      throw err;
    }
  }

  // --- building the next version ---

  private toUpdates(changes: Iterable<StateChange>): Update[] {
    const updates: Update[] = [];
    for (const change of changes) {
      if (!Array.isArray(change) || change.length !== 2) {
        throw new CareLedgerError('STATE_CHANGE_INVALID', 'a state change is [key, value or null]');
      }
      const [key, value] = change;
      checkKey(key);
      if (value !== null && !(value instanceof Uint8Array)) {
        throw new CareLedgerError('STATE_CHANGE_INVALID', 'a state value is bytes, or null to delete');
      }
      if (value !== null && value.length > MAX_VALUE_BYTES) {
        throw new CareLedgerError(
          'STATE_VALUE_TOO_LARGE',
          `a state value is at most ${MAX_VALUE_BYTES} bytes`,
        );
      }
      // Copies, so the caller cannot change what is stored through its buffers; one pooled
      // buffer for both (Buffer#slice would not copy, Uint8Array#slice allocates a buffer each).
      const copy = Buffer.allocUnsafe(key.length + (value === null ? 0 : value.length));
      copy.set(key);
      const ownKey = new Uint8Array(copy.buffer, copy.byteOffset, key.length);
      let ownValue: Uint8Array | null = null;
      if (value !== null) {
        copy.set(value, key.length);
        ownValue = new Uint8Array(copy.buffer, copy.byteOffset + key.length, value.length);
      }
      const keyHash = keyHashOf(ownKey);
      updates.push({
        key: ownKey,
        keyHash,
        order: ((keyHash[0]! << 24) | (keyHash[1]! << 16) | (keyHash[2]! << 8) | keyHash[3]!) >>> 0,
        value: ownValue,
        valueHash: ownValue === null ? null : valueHashOf(ownValue),
        existing: null,
      });
    }
    updates.sort((a, b) => a.order - b.order || Buffer.compare(a.keyHash, b.keyHash));
    for (let i = 1; i < updates.length; i++) {
      const [a, b] = [updates[i - 1]!, updates[i]!];
      if (a.order === b.order && equalBytes(a.keyHash, b.keyHash)) {
        throw new CareLedgerError('STATE_DUPLICATE_KEY', 'a key appears twice in one set of state changes');
      }
    }
    return updates;
  }

  /** A reference to the root `root` of the tree the updates apply to. */
  private rootRef(root: Uint8Array, updates: readonly Update[], work: Work): Ref {
    // With no updates nothing was read, and the root stays as it is whatever it is.
    if (isEmptyHash(root) || updates.length === 0) return { kind: EMPTY, hash: root };
    const node = this.loadedNode(work, root);
    return node.kind === LEAF
      ? { kind: LEAF, hash: node.hash, keyHash: node.keyHash, valueHash: node.valueHash }
      : { kind: INTERNAL, hash: node.hash };
  }

  /**
   * Reads every internal node of the tree at `root` that the updates reach (and the root), one level at a time with one
   * database read per level, so that the update itself runs without waiting. Only for a database
   * without getSync: one that reads in place is read as the update goes.
   */
  private async prefetch(root: Uint8Array, updates: readonly Update[]): Promise<Map<string, TreeNode>> {
    const loaded = new Map<string, TreeNode>();
    if (updates.length === 0 || isEmptyHash(root)) return loaded;
    let level: Visit[] = [{ hash: root, lo: 0, hi: updates.length, depth: 0 }];
    while (level.length > 0) {
      await this.loadAll(
        level.map((v) => v.hash),
        loaded,
      );
      const next: Visit[] = [];
      for (const visit of level) {
        const node = loaded.get(nodeId(visit.hash))!;
        if (node.kind !== INTERNAL) continue;
        forEachSlot(updates, visit.lo, visit.hi, visit.depth, (slot, lo, hi) => {
          const child = childAt(node, slot);
          if (child.kind === INTERNAL) next.push({ hash: child.hash, lo, hi, depth: visit.depth + 1 });
        });
      }
      level = next;
    }
    return loaded;
  }

  private loadedNode(work: Work, hash: Uint8Array): TreeNode {
    const id = nodeId(hash);
    if (work.loaded === null) {
      return this.cache.get(id) ?? this.fromDb(id, hash, this.db.getSync!(this.nodeKey(hash), VIEW));
    }
    const node = work.loaded.get(id);
    if (node === undefined)
      throw new CareLedgerError('STATE_NODE_MISSING', `state node ${toHex(hash)} was not read`);
    return node;
  }

  /** The subtree at `ref` (a stored node at nibble `depth`) with updates [lo, hi) applied; all lie below it. */
  private update(
    ref: Ref,
    depth: number,
    updates: readonly Update[],
    lo: number,
    hi: number,
    work: Work,
  ): Ref {
    if (lo === hi) return ref;
    if (ref.kind === EMPTY) {
      const items: Item[] = [];
      for (let i = lo; i < hi; i++) {
        const u = updates[i]!;
        if (u.value !== null) items.push(u);
      }
      return this.build(depth, items, 0, items.length, work);
    }
    if (ref.kind === LEAF) return this.mergeLeaf(ref, depth, updates, lo, hi, work);
    const node = this.loadedNode(work, ref.hash);
    if (node.kind !== INTERNAL) throw new CareLedgerError('STATE_CORRUPT', 'a parent calls a leaf internal');
    const changes = new Map<number, Ref>();
    forEachSlot(updates, lo, hi, depth, (slot, a, b) => {
      const before = childAt(node, slot);
      const after = this.update(before, depth + 1, updates, a, b, work);
      if (after !== before) changes.set(slot, after);
    });
    if (changes.size === 0) return ref;
    return this.replace(ref, node, changes, work);
  }

  /** The subtree that takes the place of the stored node `old` (at `ref`) once `changes` replace some children. */
  private replace(ref: Ref, old: InternalNode, changes: ReadonlyMap<number, Ref>, work: Work): Ref {
    // No node when at most a single leaf is left: the leaf moves up (leaf compression).
    const { ref: result, node } = withChildren(old, changes);
    if (equalBytes(result.hash, old.hash)) return ref;
    work.removed.set(nodeId(old.hash), old.hash);
    if (node !== null) work.created.set(nodeId(node.hash), node);
    return result;
  }

  /** The subtree that replaces the leaf at `leaf` once updates [lo, hi) are applied; the leaf is not read. */
  private mergeLeaf(
    leaf: LeafRef,
    depth: number,
    updates: readonly Update[],
    lo: number,
    hi: number,
    work: Work,
  ): Ref {
    const items: Item[] = [];
    const kept: Item = { keyHash: leaf.keyHash, existing: leaf };
    let placed = false;
    for (let i = lo; i < hi; i++) {
      const u = updates[i]!;
      const order = Buffer.compare(u.keyHash, leaf.keyHash);
      if (order === 0) {
        placed = true;
        if (u.valueHash !== null && equalBytes(u.valueHash, leaf.valueHash)) items.push(kept);
        else {
          work.removed.set(nodeId(leaf.hash), leaf.hash);
          if (u.value !== null) items.push(u);
        }
        continue;
      }
      if (order > 0 && !placed) {
        items.push(kept);
        placed = true;
      }
      if (u.value !== null) items.push(u);
    }
    if (!placed) items.push(kept);
    return this.build(depth, items, 0, items.length, work);
  }

  /** The subtree at nibble `depth` holding exactly the leaves items[lo, hi), sorted by path. */
  private build(depth: number, items: readonly Item[], lo: number, hi: number, work: Work): Ref {
    if (lo === hi) return EMPTY_REF;
    if (hi - lo === 1) {
      const item = items[lo]!;
      if (item.existing !== null) return item.existing;
      const leaf = makeLeaf(item.key, item.keyHash, item.value!, item.valueHash!);
      work.created.set(nodeId(leaf.hash), leaf);
      return { kind: LEAF, hash: leaf.hash, keyHash: leaf.keyHash, valueHash: leaf.valueHash };
    }
    const children: Ref[] = new Array<Ref>(RADIX).fill(EMPTY_REF);
    forEachSlot(items, lo, hi, depth, (slot, a, b) => {
      children[slot] = this.build(depth + 1, items, a, b, work);
    });
    // Two or more keys always make a node.
    const { ref, node } = makeInternal(children);
    work.created.set(nodeId(ref.hash), node!);
    return ref;
  }
}
