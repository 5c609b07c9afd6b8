/**
 * Keeps the node's vault in step with the chain: on each committed block, a successful
 * `record.anchor` whose custodian is this node's member confirms the upload with that ciphertext
 * hash (so the sweep keeps it), and a successful `record.erase` of such a record crypto-shreds it
 * (vault.erase). A timer sweeps uploads never anchored within `records.pending_ttl_ms`.
 *
 * Blocks are handled one after the other (a queue), so an anchor and an erase of the same record
 * in consecutive blocks are applied in order. The node emits 'block' for every block it commits,
 * synced ones included, so a node that was down catches up on erasures as it syncs.
 */
import { CareLedgerError } from '../../packages/core/errors.ts';
import type { AppEvent } from '../../state/application.ts';
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

export interface VaultSyncDeps {
  readonly vault: Vault;
  readonly chain: RecordsChain;
  readonly peerId: string;
  readonly log: Logger;
  readonly sweepIntervalMs: number;
}

export class VaultSync {
  readonly #d: VaultSyncDeps;
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;

  constructor(deps: VaultSyncDeps) {
    this.#d = deps;
  }

  /** Feed it the node's 'block' events. */
  readonly onBlock: BlockListener = (_block, results) => {
    const events = results.txResults.flatMap((r) => (r.code === 0 ? r.events : []));
    const relevant = events.filter((e) => e.type === ANCHORED || e.type === ERASED);
    if (relevant.length === 0) return;
    this.#queue = this.#queue
      .then(() => this.#apply(relevant))
      .catch((err: unknown) => this.#d.log.error('vault sync failed', { error: (err as Error).message }));
  };

  /** Resolves once every block seen so far is applied (tests, and stop). */
  settled(): Promise<void> {
    return this.#queue;
  }

  startSweeping(): void {
    this.#timer = setInterval(() => {
      this.#queue = this.#queue
        .then(async () => {
          const swept = await this.#d.vault.sweep();
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

  async #apply(events: readonly AppEvent[]): Promise<void> {
    const own = await this.#d.chain.memberOfNode(this.#d.peerId);
    if (own === null) return;
    for (const event of events) {
      if (attribute(event, 'custodian') !== own.id) continue;
      const id = attribute(event, 'record');
      const record = id === undefined ? null : await this.#d.chain.record(id);
      if (record === null) continue;
      const hash = record.ciphertextHash;
      if (event.type === ERASED) {
        const { keyDestroyed } = await this.#d.vault.erase(hash);
        this.#d.log.info('record erased: data key destroyed', { record: record.id, keyDestroyed });
        continue;
      }
      try {
        await this.#d.vault.confirm(hash);
        this.#d.log.info('record anchored: upload confirmed', { record: record.id, sha256: shortHash(hash) });
      } catch (err) {
        // Uploaded to another node of the member, or swept already: nothing of it here to keep.
        const code = err instanceof CareLedgerError ? err.code : '';
        if (code !== VaultErrorCode.blobUnknown && code !== VaultErrorCode.erased) throw err;
        this.#d.log.debug('anchored record not in this vault', { record: record.id });
      }
    }
  }
}
