/**
 * Keeps the node's vault in step with the chain: on each committed block, a successful
 * `record.anchor` whose custodian is this node's member confirms the upload with that ciphertext
 * hash (so the sweep keeps it), and a successful `record.erase` of such a record crypto-shreds it
 * (vault.erase). A timer sweeps uploads never anchored within `records.pending_ttl_ms`.
 *
 * Blocks are handled one after the other (a queue), so an anchor and an erase of the same record
 * in consecutive blocks are applied in order. The node emits 'block' for every block it commits,
 * synced ones included, so a node that was down catches up on erasures as it syncs.
 *
 * The crash window: a block is committed (written) before its 'block' event runs, so a node
 * killed in between would never see that block's erase (the key would survive) or anchor (the
 * upload would later be swept). So the vault keeps a cursor, `synced_height`: every block up to
 * it has been applied. It is written after a block's effects, never before; `reconcile` (at
 * start, before live blocks) replays the committed results of every block after it through the
 * same code. Both effects are idempotent, so replaying a block twice is harmless; a failed block
 * stops the cursor for the rest of the run, so the next start replays it.
 *
 * The sweep's clock is the last applied block's time, not the wall clock: an upload is swept
 * once the chain, as this node has applied it, is `pending_ttl_ms` past it without its anchor.
 * A node back from a long outage thus confirms the anchors it syncs before their uploads could
 * count as stale (with the wall clock, the first sweep would remove them mid-sync).
 */
import { CareLedgerError } from '../../packages/core/errors.ts';
import type { AppEvent, ExecTxResult } from '../../state/application.ts';
import type { Logger } from '../log.ts';
import type { BlockListener } from '../rpc/rpc-node.ts';
import { VaultErrorCode } from '../vault/errors.ts';
import type { Vault } from '../vault/vault.ts';
import { type RecordsChain, shortHash } from './chain-view.ts';

const ANCHORED = 'health.record.anchored';
const ERASED = 'health.record.erased';

function attribute(event: AppEvent, key: string): string | undefined {
  return event.attributes.find((a) => a.key === key)?.value;
}

/** The committed blocks' results, as the node's block store keeps them. */
export interface CommittedResults {
  /** The height of the last committed block. */
  lastHeight(): bigint;
  /** The tx results of the block at `height`, or null if this node does not hold them. */
  results(height: bigint): Promise<{ readonly txResults: readonly ExecTxResult[] } | null>;
  /** The time (ms) of the block at `height`, or null if this node does not hold it. */
  time(height: bigint): Promise<bigint | null>;
}

export interface VaultSyncDeps {
  readonly vault: Vault;
  readonly chain: RecordsChain;
  readonly blocks: CommittedResults;
  readonly peerId: string;
  readonly log: Logger;
  readonly sweepIntervalMs: number;
}

/** What `reconcile` did. */
export interface ReconcileReport {
  /** The heights replayed: (from, to]; from = to when there was nothing to replay. */
  readonly from: bigint;
  readonly to: bigint;
  /** Uploads confirmed because their anchor was committed. */
  readonly confirmed: number;
  /** Keys shredded because their record's erase was committed. */
  readonly erased: number;
  /** Heights in the range whose results this node does not hold (not replayed). */
  readonly missingHeights: number;
}

/** Blocks without anchors or erasures between two cursor writes (the replay at start is bounded by it). */
const CURSOR_EVERY_BLOCKS = 500n;

interface Applied {
  confirmed: number;
  erased: number;
}

function relevantEvents(txResults: readonly ExecTxResult[]): AppEvent[] {
  return txResults
    .flatMap((r) => (r.code === 0 ? r.events : []))
    .filter((e) => e.type === ANCHORED || e.type === ERASED);
}

export class VaultSync {
  readonly #d: VaultSyncDeps;
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  /** The height the cursor file holds (as far as this run knows). */
  #cursor: bigint | null = null;
  /** Set when a block's effects failed: the cursor stays put so the next start replays it. */
  #stuck = false;
  /** The time of the last block applied (ms): the sweep's clock; null until one is known. */
  #chainTimeMs: bigint | null = null;

  constructor(deps: VaultSyncDeps) {
    this.#d = deps;
  }

  /** Feed it the node's 'block' events. */
  readonly onBlock: BlockListener = (block, results) => {
    const height = block.header.height;
    const relevant = relevantEvents(results.txResults);
    this.#queue = this.#queue
      .then(async () => {
        if (relevant.length > 0) await this.#apply(relevant);
        await this.#advance(height, relevant.length > 0);
        this.#chainTimeMs = block.header.time;
      })
      .catch((err: unknown) => {
        this.#stuck = true;
        this.#d.log.error('vault sync failed', { height: height.toString(), error: (err as Error).message });
      });
  };

  /**
   * Replays the committed blocks after the vault's cursor (the crash window above): erasures
   * committed but not applied are shredded, anchors committed but not confirmed are confirmed.
   * A vault without a cursor replays from the first block if it holds anything, else starts at
   * the last committed height. Queued before any later block or sweep.
   */
  reconcile(): Promise<ReconcileReport> {
    const done = this.#queue.then(() => this.#reconcile());
    this.#queue = done.then(
      () => undefined,
      (err: unknown) => {
        this.#stuck = true;
        this.#d.log.error('vault reconcile failed', { error: (err as Error).message });
      },
    );
    return done;
  }

  async #reconcile(): Promise<ReconcileReport> {
    const { vault, blocks } = this.#d;
    const to = blocks.lastHeight();
    const cursor = await vault.syncedHeight();
    const from = cursor ?? ((await vault.hasEntries()) ? 0n : to);
    const total: Applied = { confirmed: 0, erased: 0 };
    let missingHeights = 0;
    for (let h = from + 1n; h <= to; h++) {
      const results = await blocks.results(h);
      if (results === null) {
        missingHeights++;
        continue;
      }
      const relevant = relevantEvents(results.txResults);
      if (relevant.length === 0) continue;
      const applied = await this.#apply(relevant);
      total.confirmed += applied.confirmed;
      total.erased += applied.erased;
    }
    if (cursor !== to) await vault.setSyncedHeight(to < 0n ? 0n : to);
    this.#cursor = to;
    this.#chainTimeMs = await blocks.time(to);
    return { from, to, ...total, missingHeights };
  }

  /** Moves the cursor to `height` (written when the block changed the vault, else now and then). */
  async #advance(height: bigint, changed: boolean): Promise<void> {
    if (this.#stuck) return;
    if (!changed && this.#cursor !== null && height - this.#cursor < CURSOR_EVERY_BLOCKS) return;
    if (this.#cursor !== null && height <= this.#cursor) return;
    await this.#d.vault.setSyncedHeight(height);
    this.#cursor = height;
  }

  /** Resolves once every block seen so far is applied (tests, and stop). */
  settled(): Promise<void> {
    return this.#queue;
  }

  startSweeping(): void {
    this.#timer = setInterval(() => {
      this.#queue = this.#queue
        .then(async () => {
          if (this.#chainTimeMs === null) return;
          const swept = await this.#d.vault.sweep(Number(this.#chainTimeMs));
          if (swept.length > 0)
            this.#d.log.info('swept uploads never anchored', {
              count: swept.length,
              hashes: swept.map(shortHash),
            });
        })
        .catch((err: unknown) => this.#d.log.error('vault sweep failed', { error: (err as Error).message }));
    }, this.#d.sweepIntervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#queue;
  }

  async #apply(events: readonly AppEvent[]): Promise<Applied> {
    const applied: Applied = { confirmed: 0, erased: 0 };
    const own = await this.#d.chain.memberOfNode(this.#d.peerId);
    if (own === null) return applied;
    for (const event of events) {
      if (attribute(event, 'custodian') !== own.id) continue;
      const id = attribute(event, 'record');
      const record = id === undefined ? null : await this.#d.chain.record(id);
      if (record === null) continue;
      const hash = record.ciphertextHash;
      if (event.type === ERASED) {
        const { keyDestroyed } = await this.#d.vault.erase(hash);
        if (keyDestroyed) applied.erased++;
        this.#d.log.info('record erased: data key destroyed', { record: record.id, keyDestroyed });
        continue;
      }
      try {
        if ((await this.#d.vault.status(hash)) === 'pending') applied.confirmed++;
        await this.#d.vault.confirm(hash);
        this.#d.log.info('record anchored: upload confirmed', { record: record.id, sha256: shortHash(hash) });
      } catch (err) {
        // Uploaded to another node of the member, or swept already: nothing of it here to keep.
        const code = err instanceof CareLedgerError ? err.code : '';
        if (code !== VaultErrorCode.blobUnknown && code !== VaultErrorCode.erased) throw err;
        this.#d.log.debug('anchored record not in this vault', { record: record.id });
      }
    }
    return applied;
  }
}
