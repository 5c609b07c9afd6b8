/**
 * Submits the `access.record` tx of a release, signed by this node's key (the libp2p ed25519 key
 * of node_key.json, which the chain accepts for `access.record` when its peer id is in the
 * custodian's `Member.nodes`), through the node's mempool path, and waits for it to be committed
 * (the node's 'block' event, via CommitWaiters). The release may proceed only on code 0 at
 * commit: no disclosure without a committed audit entry.
 *
 * Nonces: the chain wants each key's nonce above the last it used (gaps allowed), so the node key
 * takes microseconds since the epoch, bumped past the last one taken: strictly increasing within
 * a process and across restarts (a clock set back by more than the last run's span aside).
 */

import type { RecordRefusal } from '../../p2p/record-exchange.ts';
import type { KeyPair } from '../../packages/crypto/ed25519.ts';
import type { HealthTxOf } from '../../packages/health/tx.ts';
import { signHealthTx } from '../../packages/health/tx.ts';
import type { SubmitTx } from '../mempool.ts';
import { CommitWaiters } from '../rpc/commit-waiters.ts';
import type { BlockListener } from '../rpc/rpc-node.ts';
import { RecordsCode } from './refusals.ts';

export interface AuditorDeps {
  readonly chainId: string;
  readonly nodeKey: KeyPair;
  /** The node's client-tx path: mempool check, then gossip (CareLedgerNode.submitTx). */
  readonly submitTx: SubmitTx;
  /** How long to wait for the commit (records.release_timeout_ms). */
  readonly timeoutMs: number;
  /** Releases waiting for their commit at once, at most. */
  readonly maxWaiting: number;
  readonly nowMs?: () => number;
}

export type AuditOutcome = { readonly ok: true; readonly height: bigint } | RecordRefusal;

export class AccessAuditor {
  readonly #deps: AuditorDeps;
  readonly #waiters: CommitWaiters;
  #lastNonce = 0n;

  constructor(deps: AuditorDeps) {
    this.#deps = deps;
    this.#waiters = new CommitWaiters({
      broadcastTxCommitTimeoutMs: deps.timeoutMs,
      maxCommitWaiters: deps.maxWaiting,
    });
  }

  /** Feed it the node's 'block' events. */
  readonly onBlock: BlockListener = (block, results) => this.#waiters.blockCommitted(block, results);

  #nextNonce(): bigint {
    const now = BigInt((this.#deps.nowMs ?? Date.now)()) * 1000n;
    this.#lastNonce = now > this.#lastNonce ? now : this.#lastNonce + 1n;
    return this.#lastNonce;
  }

  /** Signs, submits and waits: the access event's height, or why there is none. */
  async record(tx: HealthTxOf<'access.record'>): Promise<AuditOutcome> {
    const signed = signHealthTx(this.#deps.chainId, this.#deps.nodeKey, this.#nextNonce(), tx);
    // Registered before the submit, so a commit right after the check cannot be missed.
    const wait = this.#waiters.wait(signed.hash);
    if (wait === null)
      return {
        ok: false,
        code: RecordsCode.releaseBusy,
        message: 'too many releases wait for their access event',
      };
    try {
      const submitted = this.#deps.submitTx(signed.bytes);
      if (!submitted.ok) return { ok: false, code: submitted.error.code, message: submitted.error.message };
      const committed = await wait.outcome();
      if (committed === null)
        return {
          ok: false,
          code: RecordsCode.releaseTimeout,
          message: `the access event was not committed within ${this.#deps.timeoutMs} ms; nothing was released`,
        };
      if (committed.result.code !== 0)
        return { ok: false, code: committed.result.codespace, message: committed.result.log };
      return { ok: true, height: committed.height };
    } finally {
      wait.release();
    }
  }
}
