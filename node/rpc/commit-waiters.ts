/**
 * The broadcast_tx_commit calls waiting for their tx to be committed. The RPC learns of commits
 * from the node's 'block' event, which the node emits once the block, its results and its indexes
 * are written and the application has committed: an answer never comes before the commit.
 *
 * Bounded: at most `maxCommitWaiters` calls wait at once (CometBFT's "maximum number of
 * subscriptions reached" past that), each at most `broadcastTxCommitTimeoutMs`. A waiter is
 * registered before its tx is submitted, so a commit right after the check cannot be missed.
 */
import { toHex } from '../../packages/crypto/hash.ts';
import { type Block, blockTxHashes } from '../../packages/types/block.ts';
import type { ExecTxResult } from '../../state/application.ts';
import type { BlockResults } from './rpc-node.ts';

export interface CommitWaitOptions {
  /** broadcast_tx_commit waits this long for the commit (CometBFT's timeout_broadcast_tx_commit). */
  readonly broadcastTxCommitTimeoutMs: number;
  /** broadcast_tx_commit calls waiting at once. */
  readonly maxCommitWaiters: number;
}

export const defaultCommitWaitOptions: CommitWaitOptions = {
  broadcastTxCommitTimeoutMs: 10_000,
  maxCommitWaiters: 1000,
};

export interface Committed {
  readonly height: bigint;
  readonly result: ExecTxResult;
}

/** One call's wait: `outcome` once, then `release` (in a finally; releasing twice is harmless). */
export interface CommitWait {
  /** The tx's height and result once committed, or null after the timeout. */
  outcome(): Promise<Committed | null>;
  release(): void;
}

export class CommitWaiters {
  private readonly byHash = new Map<string, Set<(committed: Committed) => void>>();
  private waiting = 0;
  private readonly opts: CommitWaitOptions;

  constructor(opts: CommitWaitOptions) {
    this.opts = opts;
  }

  /** The most calls that may wait at once. */
  get max(): number {
    return this.opts.maxCommitWaiters;
  }

  /** Calls waiting now. */
  get size(): number {
    return this.waiting;
  }

  /** Starts waiting for the tx with this hash; null when `maxCommitWaiters` calls already wait. */
  wait(hash: Uint8Array): CommitWait | null {
    if (this.waiting >= this.opts.maxCommitWaiters) return null;
    const key = toHex(hash);
    let resolve!: (committed: Committed) => void;
    const committed = new Promise<Committed>((r) => {
      resolve = r;
    });
    const list = this.byHash.get(key) ?? new Set<(committed: Committed) => void>();
    list.add(resolve);
    this.byHash.set(key, list);
    this.waiting++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.waiting--;
      const left = this.byHash.get(key);
      left?.delete(resolve);
      if (left?.size === 0) this.byHash.delete(key);
    };
    return {
      outcome: async () => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<null>((r) => {
          timer = setTimeout(() => r(null), this.opts.broadcastTxCommitTimeoutMs);
        });
        try {
          return await Promise.race([committed, timeout]);
        } finally {
          clearTimeout(timer);
        }
      },
      release,
    };
  }

  /** Answers the waiters of the block's txs: for the node's 'block' event. Never throws. */
  blockCommitted(block: Block, results: BlockResults): void {
    if (this.byHash.size === 0) return;
    const height = block.header.height;
    for (const [i, hash] of blockTxHashes(block).entries()) {
      const result = results.txResults[i];
      if (result === undefined || results.replayed?.has(i) === true) continue;
      const key = toHex(hash);
      const list = this.byHash.get(key);
      if (list === undefined) continue;
      this.byHash.delete(key);
      for (const resolve of list) resolve({ height, result });
    }
  }
}
