/**
 * Txs this node has already checked or committed, so that none is decoded, verified or accepted
 * twice: `CheckedTxs`, the checked txs of the blocks seen at the current height (a proposal is
 * validated once and its txs reused at commit, and peers filling in a proposal can fetch them from
 * us, for one height after its commit too); `RecentlyCommitted`, the hashes of the last committed txs, so a replayed tx is refused at
 * the door (mempool, RPC) without a read of the tx index.
 */

import { FifoKeys } from '../packages/core/bounded-keys.ts';
import { toHex } from '../packages/crypto/hash.ts';
import { type Block, blockTxHashes } from '../packages/types/block.ts';
import type { CheckedTx } from '../packages/types/tx.ts';
import { checkTxHashed, type Mempool } from './mempool.ts';

/** Committed tx hashes remembered, at most (the oldest is forgotten first). */
export const RECENT_COMMITTED_TXS = 100_000;

/** The hashes of the most recently committed txs, bounded (the oldest forgotten in O(1): packages/core/bounded-keys.ts). */
export class RecentlyCommitted {
  private readonly hashes: FifoKeys;

  constructor(max: number = RECENT_COMMITTED_TXS) {
    this.hashes = new FifoKeys(max);
  }

  get size(): number {
    return this.hashes.size;
  }

  has(hash: Uint8Array): boolean {
    return this.hashes.has(toHex(hash));
  }

  /** By the hex key, as the executor's replay check asks. */
  hasKey(key: string): boolean {
    return this.hashes.has(key);
  }

  add(hash: Uint8Array): void {
    this.hashes.add(toHex(hash));
  }
}

/**
 * The checked txs of the blocks seen at this height (cleared at each commit), and per Block
 * object its checked txs: a pure function of the block, so a block validated as a proposal is
 * not checked again at commit.
 */
export class CheckedTxs {
  private readonly chainId: string;
  private readonly mempool: Pick<Mempool, 'get'>;
  private readonly byHash = new Map<string, CheckedTx>();
  private readonly byBlock = new WeakMap<Block, readonly CheckedTx[]>();
  private lastCommitted: readonly CheckedTx[] = [];
  private lastCommittedIndex: Map<string, Uint8Array> | null = null;

  constructor(chainId: string, mempool: Pick<Mempool, 'get'>) {
    this.chainId = chainId;
    this.mempool = mempool;
  }

  /**
   * Txs of a block, decoded and verified once, each hashed once: from the mempool when it already
   * checked them.
   */
  of(block: Block): readonly CheckedTx[] {
    const done = this.byBlock.get(block);
    if (done !== undefined) return done;
    const hashes = blockTxHashes(block);
    const txs = block.txs.map((bytes, i) => {
      const hash = hashes[i]!;
      const key = toHex(hash);
      const known = this.mempool.get(hash) ?? this.byHash.get(key);
      if (known !== undefined) return known;
      const checked = checkTxHashed(this.chainId, bytes, hash);
      this.byHash.set(key, checked);
      return checked;
    });
    this.byBlock.set(block, txs);
    return txs;
  }

  /** Our own proposal: its txs came checked from the mempool. */
  remember(block: Block, txs: readonly CheckedTx[]): void {
    this.byBlock.set(block, txs);
  }

  /**
   * A tx this node holds: pending in the mempool, in a block seen at this height, or in the block
   * committed last (see `committed`).
   */
  local(hash: Uint8Array): Uint8Array | undefined {
    const pooled = this.mempool.get(hash);
    if (pooled !== undefined) return pooled.bytes;
    const key = toHex(hash);
    return this.byHash.get(key)?.bytes ?? this.lastCommittedByHash().get(key);
  }

  /**
   * `block` was committed: the txs seen at its height are no longer needed, except the block's
   * own, kept one more height. A validator that was slower at this height may still be filling in
   * its proposal (the others, with +2/3 of the votes, moved on without it), and the txs it lacks
   * are in no mempool any more: without them it could not decide the height and would wait for a
   * catch-up or block sync, which stalls the chain when it proposes next.
   */
  committed(block: Block): void {
    this.lastCommitted = this.byBlock.get(block) ?? [];
    this.lastCommittedIndex = null;
    this.byHash.clear();
  }

  /** The last committed block's txs by hash, indexed on the first lookup that needs them. */
  private lastCommittedByHash(): ReadonlyMap<string, Uint8Array> {
    if (this.lastCommittedIndex === null) {
      this.lastCommittedIndex = new Map(this.lastCommitted.map((tx) => [toHex(tx.hash), tx.bytes]));
    }
    return this.lastCommittedIndex;
  }
}
