/**
 * The mempool methods (CometBFT's rpc/core/mempool.go): broadcast_tx_async, broadcast_tx_sync and
 * broadcast_tx_commit (each behind admission control, admission.ts), check_tx (the application's
 * check alone, nothing added), unconfirmed_txs and num_unconfirmed_txs.
 *
 * A tx this node already knows is refused with a typed codespace, never answered code 0 again
 * (CometBFT answers "tx already exists in cache"); all three broadcasts answer alike:
 * - `TX_IN_MEMPOOL`: the same bytes are pending here. The first send stands; the client waits for
 *   its commit (the SDK does, packages/client/health.ts) instead of counting it refused.
 * - `TX_ALREADY_COMMITTED`: the tx is in this node's chain, found in the tx index (`txLocation`)
 *   and not only in the recent-commit cache, so a replay is refused however old it is.
 * Checked after admission control (a busy node spends no database read) and before the node's
 * own checks; the mempool test and the submit are one synchronous step, so a tx cannot slip in
 * between them.
 */
import { CareLedgerError } from '../../packages/core/errors.ts';
import { txHash } from '../../packages/types/block.ts';
import { checkTxBytes, MAX_TX_BYTES } from '../../packages/types/tx.ts';
import type { Busy } from './admission.ts';
import type { CommitWaiters } from './commit-waiters.ts';
import { base64, checkTxJson, execTxResultJson, hexUpper } from './format.ts';
import { methodError } from './jsonrpc.ts';
import { perPageOf, txParam } from './params.ts';
import type { RpcNode } from './rpc-node.ts';
import type { MethodTable } from './server.ts';

export type MempoolNode = Pick<RpcNode, 'chainId' | 'app' | 'mempool' | 'blocks' | 'submitTx'>;

/** A broadcast's answer: CometBFT's ResultBroadcastTx. */
interface Broadcast {
  readonly code: number;
  readonly data: string;
  readonly log: string;
  readonly codespace: string;
  readonly hash: string;
}

export function mempoolMethods(node: MempoolNode, busy: Busy, commits: CommitWaiters): MethodTable {
  const refused = (hash: Uint8Array, codespace: string, log: string): Broadcast => ({
    code: 1,
    data: '',
    log,
    codespace,
    hash: hexUpper(hash),
  });

  /** `hash` is the tx's, when the caller already computed it (a tx is hashed once per call). */
  const broadcast = async (tx: Uint8Array, hash = txHash(tx)): Promise<Broadcast> => {
    const why = busy();
    if (why !== null) return refused(hash, 'MEMPOOL_BUSY', `mempool is busy (${why}): retry later`);
    // The sync check first (see hasTxSync); only a replay pays for the async read of its height.
    const location = node.blocks.hasTxSync(hash) ? await node.blocks.txLocation(hash) : null;
    if (location !== null)
      return refused(hash, 'TX_ALREADY_COMMITTED', `tx was already committed at height ${location.height}`);
    if (node.mempool.has(hash))
      return refused(hash, 'TX_IN_MEMPOOL', 'tx already exists in the mempool: wait for its commit');
    const submitted = node.submitTx(tx, hash);
    return submitted.ok
      ? { code: 0, data: '', log: '', codespace: '', hash: hexUpper(submitted.hash) }
      : {
          code: 1,
          data: '',
          log: submitted.error.message,
          codespace: submitted.error.code,
          hash: hexUpper(submitted.hash),
        };
  };

  return {
    unconfirmed_txs: {
      params: ['limit'],
      run: async (params) => {
        const txs = node.mempool.reap(perPageOf(params, 'limit'), Number.POSITIVE_INFINITY);
        return {
          n_txs: String(txs.length),
          total: String(node.mempool.size),
          total_bytes: String(node.mempool.bytes),
          txs: txs.map((t) => base64(t.bytes)),
        };
      },
    },

    num_unconfirmed_txs: {
      params: [],
      run: async () => ({
        n_txs: String(node.mempool.size),
        total: String(node.mempool.size),
        total_bytes: String(node.mempool.bytes),
        txs: null,
      }),
    },

    broadcast_tx_async: {
      params: ['tx'],
      run: async (params, ctx) => {
        // CareLedger checks synchronously anyway; a refusal is reported as CometBFT reports a
        // mempool error from the async path: as the call's error.
        const result = await broadcast(txParam(params, ctx.transport));
        if (result.code !== 0) throw methodError(`${result.codespace}: ${result.log}`);
        return result;
      },
    },

    broadcast_tx_sync: {
      params: ['tx'],
      run: (params, ctx) => broadcast(txParam(params, ctx.transport)),
    },

    broadcast_tx_commit: {
      params: ['tx'],
      run: async (params, ctx) => {
        const tx = txParam(params, ctx.transport);
        // Wait before submitting, so a commit right after the check cannot be missed.
        const hash = txHash(tx);
        const wait = commits.wait(hash);
        if (wait === null) throw methodError(`maximum number of subscriptions reached: ${commits.max}`);
        try {
          const checked = await broadcast(tx, hash);
          if (checked.code !== 0) {
            return {
              check_tx: checkTxJson(checked.code, checked.codespace, checked.log),
              tx_result: execTxResultJson(null),
              hash: checked.hash,
              height: '0',
            };
          }
          const outcome = await wait.outcome();
          if (outcome === null) throw methodError('timed out waiting for tx to be included in a block');
          return {
            check_tx: checkTxJson(0, '', ''),
            tx_result: execTxResultJson(outcome.result),
            hash: checked.hash,
            height: outcome.height.toString(),
          };
        } finally {
          wait.release();
        }
      },
    },

    check_tx: {
      params: ['tx'],
      run: async (params, ctx) => {
        const tx = txParam(params, ctx.transport);
        try {
          if (tx.length > MAX_TX_BYTES)
            throw new CareLedgerError('TX_TOO_LARGE', `tx of ${tx.length} bytes exceeds ${MAX_TX_BYTES}`);
          const refused = node.app.checkTx(checkTxBytes(node.chainId, tx), false);
          return refused === null ? checkTxJson(0, '', '') : checkTxJson(1, refused.code, refused.message);
        } catch (err) {
          if (err instanceof CareLedgerError) return checkTxJson(1, err.code, err.message);
          throw err;
        }
      },
    },
  };
}
