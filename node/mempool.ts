/**
 * The mempool: txs that passed every check and wait for a block, in arrival order, as CometBFT's
 * CList mempool. A tx is checked exactly once when it arrives (size, strict decode, signature with
 * the one built-in verifier, replay of a committed hash, then the application's stateful check);
 * after each block the committed txs leave and the rest are re-checked against the new state by
 * the application only, never by signature again.
 *
 * Bounds (all set in MempoolOptions, checked when the pool is built):
 * - the pool holds at most `maxTxs` txs and `maxBytes` bytes of encoded txs; a tx that would go
 *   over either is refused with MEMPOOL_FULL, never dropped silently and never displacing an
 *   older tx. Memory is about `maxBytes` twice (the bytes and the decoded fields) plus a small
 *   fixed cost per tx;
 * - a tx is at most `maxTxBytes` (itself at most the protocol's MAX_TX_BYTES);
 * - the recent-hash cache holds at most `cacheSize` tx hashes (about 200 bytes each with its
 *   place in the eviction queue), least recently seen out first;
 * - at most MAX_REMOVED_LISTENERS listeners.
 *
 * Not here: gossip, the RPC, the application. They talk to the pool through `add`, `reap`,
 * `update` and the removal listeners.
 */

import { LruKeys } from '../packages/core/bounded-keys.ts';
import { CareLedgerError, invalid } from '../packages/core/errors.ts';
import { txVerifyId } from '../packages/crypto/ed25519.ts';
import { sha256, toHex } from '../packages/crypto/hash.ts';
import { type CheckedTx, decodeOwnedTx, MAX_TX_BYTES, verifyTxBytes } from '../packages/types/tx.ts';

/**
 * `checkTxBytes` (packages/types/tx.ts: strict decode, then the one verifier) for a caller that
 * already hashed the bytes, so a tx is hashed once on its way through the node: `hash` must be
 * `sha256(bytes)`, and is carried into the CheckedTx and keys the verified-signature cache.
 * Throws what checkTxBytes throws. The caller owns `bytes` and never changes them: the decoded
 * fields are views into them (decodeOwnedTx).
 */
export function checkTxHashed(chainId: string, bytes: Uint8Array, hash: Uint8Array): CheckedTx {
  const tx = decodeOwnedTx(bytes);
  if (!verifyTxBytes(chainId, bytes, tx, txVerifyId(chainId, hash))) {
    throw invalid('TX_BAD_SIGNATURE', 'tx signature does not verify for its signer');
  }
  return { tx, bytes, hash };
}

export interface MempoolOptions {
  /** Most txs in the pool. */
  readonly maxTxs: number;
  /** Most bytes of encoded txs in the pool, summed. */
  readonly maxBytes: number;
  /** Largest tx the pool takes; at most MAX_TX_BYTES. */
  readonly maxTxBytes: number;
  /** Recently seen tx hashes remembered so gossip duplicates cost a hash, not a verify; 0 turns it off. */
  readonly cacheSize: number;
}

/** CometBFT's defaults scaled to our smaller txs. */
export const defaultMempoolOptions: MempoolOptions = {
  maxTxs: 5000,
  maxBytes: 64 * 1024 * 1024,
  maxTxBytes: MAX_TX_BYTES,
  cacheSize: 10_000,
};

export const MAX_REMOVED_LISTENERS = 16;

/**
 * What the pool needs from the application, both against the latest committed state. Neither may
 * throw: a refusal is a returned error. (If one throws anyway, the error propagates; an `add` has
 * changed nothing by then, an `update` leaves a consistent pool but skips the listeners.)
 */
export interface MempoolApp {
  /** Stateful check against the latest committed state (e.g. nonce rules); returns null if ok or a CareLedgerError. Must be cheap and synchronous. */
  checkTx(tx: CheckedTx, recheck: boolean): CareLedgerError | null;
  /** True if a tx with this hash is already committed (replay protection by tx hash). */
  isCommitted(hash: Uint8Array): boolean;
}

/** Passed in by the node; null means no metrics. */
export interface MempoolMetrics {
  /** The number of txs in the pool, after every change. */
  size(n: number): void;
  /** A tx refused by `add`, by error code (MEMPOOL_FULL counts what a full pool turned away). */
  failedTx(code: string): void;
  /** Txs dropped by the re-check after a block. */
  evicted(n: number): void;
}

export type AddResult =
  | { readonly ok: true; readonly hash: Uint8Array; readonly duplicate: boolean }
  | { readonly ok: false; readonly error: CareLedgerError };

/** Why a tx left the pool: it was in a block, or the re-check after a block refused it. */
/** A client's tx handed to the node (CareLedgerNode.submitTx): in the mempool, or why not. */
export type SubmitResult =
  | { ok: true; hash: Uint8Array }
  | { ok: false; hash: Uint8Array; error: CareLedgerError };

/** Submits a client's tx; `hash`, when the caller already has it, must be its sha256 (tx hash). */
export type SubmitTx = (bytes: Uint8Array, hash?: Uint8Array) => SubmitResult;

export type RemovedTx =
  | { readonly reason: 'committed'; readonly tx: CheckedTx }
  | { readonly reason: 'evicted'; readonly tx: CheckedTx; readonly error: CareLedgerError };

export type RemovedListener = (removed: RemovedTx) => void;

function resolveOptions(opts: Partial<MempoolOptions> | undefined): MempoolOptions {
  const resolved: MempoolOptions = { ...defaultMempoolOptions, ...opts };
  const atLeast = (name: keyof MempoolOptions, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const value = resolved[name];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new CareLedgerError(
        'MEMPOOL_OPTIONS_INVALID',
        `mempool ${name} must be an integer in ${min}..${max}`,
      );
    }
  };
  atLeast('maxTxs', 1);
  atLeast('maxBytes', 1);
  atLeast('maxTxBytes', 1, MAX_TX_BYTES);
  atLeast('cacheSize', 0);
  return resolved;
}

function isLimit(n: number): boolean {
  return n === Number.POSITIVE_INFINITY || (Number.isSafeInteger(n) && n >= 0);
}

// Map keys for hashes. Hex because it is the shared helper; a key is built once per call.
const keyOf = toHex;

export class Mempool {
  private readonly chainId: string;
  private readonly app: MempoolApp;
  private readonly opts: MempoolOptions;
  private readonly metrics: MempoolMetrics | null;
  /** The pool, by tx hash. A Map iterates in insertion order, so it is also the arrival order: remove by hash is O(1) and reaping k txs is O(k). */
  private readonly txs = new Map<string, CheckedTx>();
  private totalBytes = 0;
  /**
   * Hashes of txs that passed the signature and application checks (and of committed txs), least
   * recently seen first. Only authenticated txs enter, so junk from a peer cannot push out the
   * entries that save us verifies.
   */
  private readonly cache: LruKeys;
  private readonly listeners = new Set<RemovedListener>();

  constructor(
    chainId: string,
    app: MempoolApp,
    opts?: Partial<MempoolOptions>,
    metrics: MempoolMetrics | null = null,
  ) {
    if (typeof chainId !== 'string' || chainId.length === 0) {
      throw new CareLedgerError('MEMPOOL_OPTIONS_INVALID', 'mempool chain id must be a non-empty string');
    }
    this.chainId = chainId;
    this.app = app;
    this.opts = resolveOptions(opts);
    this.cache = new LruKeys(this.opts.cacheSize);
    this.metrics = metrics;
  }

  get size(): number {
    return this.txs.size;
  }

  /** Bytes of encoded txs in the pool. */
  get bytes(): number {
    return this.totalBytes;
  }

  has(hash: Uint8Array): boolean {
    return this.txs.has(keyOf(hash));
  }

  get(hash: Uint8Array): CheckedTx | undefined {
    return this.txs.get(keyOf(hash));
  }

  /**
   * Checks a tx once and adds it. Order, cheapest first: size, dedupe by hash (pool, then recent
   * cache: not verified again, `duplicate: true`), room in the pool, strict decode and signature,
   * committed?, the application. A refused tx changes nothing, not even the cache.
   *
   * `hash`, when the caller already computed it, must be `sha256(bytes)` (the tx hash): the pool
   * then never hashes the tx itself.
   */
  add(bytes: Uint8Array, hash?: Uint8Array): AddResult {
    if (!(bytes instanceof Uint8Array)) return this.refuse(invalid('CODEC_NOT_BYTES', 'a tx must be bytes'));
    if (bytes.length > MAX_TX_BYTES) {
      return this.refuse(invalid('TX_TOO_LARGE', `tx of ${bytes.length} bytes exceeds ${MAX_TX_BYTES}`));
    }
    if (bytes.length > this.opts.maxTxBytes) {
      // Within the protocol, over our own limit: the sender did nothing wrong.
      return this.refuse(
        new CareLedgerError(
          'TX_TOO_LARGE',
          `tx of ${bytes.length} bytes exceeds this mempool's limit of ${this.opts.maxTxBytes}`,
          'ignore',
        ),
      );
    }

    const txHash = hash ?? sha256(bytes);
    const key = keyOf(txHash);
    if (this.txs.has(key) || this.cache.has(key)) {
      this.remember(key);
      return { ok: true, hash: txHash, duplicate: true };
    }

    // Before the verify, so a flood against a full pool costs a hash per tx.
    if (this.txs.size + 1 > this.opts.maxTxs || this.totalBytes + bytes.length > this.opts.maxBytes) {
      return this.refuse(
        new CareLedgerError(
          'MEMPOOL_FULL',
          `mempool is full (${this.txs.size} of ${this.opts.maxTxs} txs, ${this.totalBytes} of ${this.opts.maxBytes} bytes)`,
          'ignore',
        ),
      );
    }

    // The pool owns its bytes: the caller may reuse its buffer, and a subarray would pin its whole parent.
    const own = new Uint8Array(bytes);
    let checked: CheckedTx;
    try {
      checked = checkTxHashed(this.chainId, own, txHash);
    } catch (err) {
      // Anything but a CareLedgerError is a bug in the decoder, not a bad tx: let it surface.
      if (err instanceof CareLedgerError) return this.refuse(err);
      throw err;
    }
    // After the signature, so only authenticated txs cost a lookup of committed hashes.
    if (this.app.isCommitted(checked.hash)) {
      return this.refuse(new CareLedgerError('TX_ALREADY_COMMITTED', 'tx is already committed', 'ignore'));
    }
    const appError = this.app.checkTx(checked, false);
    // A failed tx is not cached: state changes with every block (a nonce gap fills, a consent is
    // granted), so the same bytes may pass later and must then be checked again.
    if (appError !== null) return this.refuse(appError);

    this.txs.set(key, checked);
    this.totalBytes += own.length;
    this.remember(key);
    this.metrics?.size(this.txs.size);
    return { ok: true, hash: checked.hash, duplicate: false };
  }

  /**
   * The oldest txs, in arrival order, up to `maxTxs` txs and `maxBytes` bytes, for a block
   * proposal; the pool is unchanged. Stops at the first tx that does not fit rather than skipping
   * it, so a signer's txs are never reordered. Either limit may be Infinity.
   */
  reap(maxTxs: number, maxBytes: number): CheckedTx[] {
    if (!isLimit(maxTxs) || !isLimit(maxBytes)) {
      throw new CareLedgerError(
        'MEMPOOL_ARGUMENT_INVALID',
        'reap limits must be non-negative integers or Infinity',
      );
    }
    const out: CheckedTx[] = [];
    let total = 0;
    for (const checked of this.txs.values()) {
      if (out.length >= maxTxs || total + checked.bytes.length > maxBytes) break;
      out.push(checked);
      total += checked.bytes.length;
    }
    return out;
  }

  /**
   * After a block commits: removes its txs, then re-checks every remaining tx with
   * `app.checkTx(tx, true)` against the new state (signatures are never verified again) and drops
   * those it now refuses. Committed hashes enter the recent cache so the re-gossip that follows
   * every block costs a hash, not a verify; evicted ones leave it, so they can be retried once
   * state allows. Listeners hear of each removal after the pool is consistent again.
   */
  update(committedHashes: readonly Uint8Array[]): { removed: number; evicted: number } {
    if (!Array.isArray(committedHashes) || !committedHashes.every((h) => h instanceof Uint8Array)) {
      throw new CareLedgerError('MEMPOOL_ARGUMENT_INVALID', 'update takes a list of tx hashes');
    }
    const events: RemovedTx[] = [];
    for (const hash of committedHashes) {
      const key = keyOf(hash);
      const checked = this.txs.get(key);
      if (checked !== undefined) {
        this.drop(key, checked);
        events.push({ reason: 'committed', tx: checked });
      }
      this.remember(key);
    }
    const removed = events.length;

    // Deleting the entry being visited is safe in a Map's for-of: the rest are still visited once.
    for (const [key, checked] of this.txs) {
      const error = this.app.checkTx(checked, true);
      if (error === null) continue;
      this.drop(key, checked);
      this.cache.delete(key);
      events.push({ reason: 'evicted', tx: checked, error });
    }
    const evicted = events.length - removed;

    if (evicted > 0) this.metrics?.evicted(evicted);
    if (events.length > 0) this.metrics?.size(this.txs.size);
    for (const event of events) for (const listener of this.listeners) listener(event);
    return { removed, evicted };
  }

  /** Calls `listener` for each tx that leaves the pool (e.g. for broadcast_tx_commit); returns the unsubscribe. */
  onRemoved(listener: RemovedListener): () => void {
    if (this.listeners.size >= MAX_REMOVED_LISTENERS) {
      throw new CareLedgerError(
        'MEMPOOL_TOO_MANY_LISTENERS',
        `at most ${MAX_REMOVED_LISTENERS} removal listeners`,
      );
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private drop(key: string, checked: CheckedTx): void {
    this.txs.delete(key);
    this.totalBytes -= checked.bytes.length;
  }

  /** Marks a hash as just seen: moved to (or added at) the young end, the oldest out if over the bound. */
  private remember(key: string): void {
    this.cache.touch(key);
  }

  private refuse(error: CareLedgerError): AddResult {
    this.metrics?.failedTx(error.code);
    return { ok: false, error };
  }
}
