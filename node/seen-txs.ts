/**
 * Txs this node has already checked or committed, so that none is decoded, verified or accepted
 * twice: `CheckedTxs`, the checked txs of the blocks seen at the current height (a proposal is
 * validated once and its txs reused at commit, and peers filling in a proposal can fetch them from
 * us); `RecentlyCommitted`, the hashes of the last committed txs, so a replayed tx is refused at
 * the door (mempool, RPC) without a read of the tx index.
 */
import { toHex } from '../packages/crypto/hash.ts';
import { type Block, blockTxHashes } from '../packages/types/block.ts';
import type { CheckedTx } from '../packages/types/tx.ts';
import { FifoKeys } from './bounded-keys.ts';
import { checkTxHashed, type Mempool } from './mempool.ts';

/** Committed tx hashes remembered, at most (the oldest is forgotten first). */
export const RECENT_COMMITTED_TXS = 100_000;

/** The hashes of the most recently committed txs, bounded (the oldest forgotten in O(1): bounded-keys.ts). */
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

  /** A tx this node holds: pending in the mempool, or in a block seen at this height. */
  local(hash: Uint8Array): Uint8Array | undefined {
    return this.mempool.get(hash)?.bytes ?? this.byHash.get(toHex(hash))?.bytes;
  }

  /** A block was committed: the txs seen at its height are no longer needed. */
  clear(): void {
    this.byHash.clear();
  }
}
