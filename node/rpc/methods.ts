/**
 * The RPC methods a node serves, with CometBFT v0.38's names, parameters (and their order, for
 * positional JSON-RPC params), result shapes and error messages, grouped as CometBFT's rpc/core.
 * Parameters are read at the boundary (server.ts, params.ts): a value that is not its type is
 * "Invalid params"; a well-typed value the method cannot serve (a height past the chain, an
 * unknown tx) is the method's error, -32603 with CometBFT's sentence.
 *
 * The RPC learns of commits only from the node's 'block' event: it answers broadcast_tx_commit
 * calls, then publishes the block's events to WebSocket subscribers.
 */
import { CareLedgerError } from '../../packages/core/errors.ts';
import { abciMethods } from './abci.ts';
import { type AdmissionOptions, admission, defaultAdmissionOptions } from './admission.ts';
import { blockMethods } from './blocks.ts';
import { CommitWaiters, type CommitWaitOptions, defaultCommitWaitOptions } from './commit-waiters.ts';
import { consensusMethods } from './consensus.ts';
import { blockPublisher, eventMethods } from './events.ts';
import { mempoolMethods } from './mempool.ts';
import { netMethods } from './net.ts';
import type { RpcNode } from './rpc-node.ts';
import { SearchGate } from './search-gate.ts';
import type { MethodTable, RpcMethod } from './server.ts';
import { statusMethods } from './status.ts';
import { txMethods } from './txs.ts';
import { EventBus } from './ws.ts';

export type MethodOptions = CommitWaitOptions & AdmissionOptions;

export const defaultMethodOptions: MethodOptions = {
  ...defaultCommitWaitOptions,
  ...defaultAdmissionOptions,
};

export function rpcMethods(node: RpcNode, options: Partial<MethodOptions> = {}): Map<string, RpcMethod> {
  const opts: MethodOptions = { ...defaultMethodOptions, ...options };
  const busy = admission(node, opts);
  const commits = new CommitWaiters(opts);
  const searches = new SearchGate();
  const bus = new EventBus();
  const publish = blockPublisher(bus, node.blocks);
  node.events.on('block', (block, results, after) => {
    // Answers first, then subscribers: as when the node itself resolved broadcast_tx_commit.
    commits.blockCommitted(block, results);
    publish(block, results, after);
  });
  return composeMethods(
    // health, status
    statusMethods(node),
    // net_info, genesis
    netMethods(node),
    // blockchain, block, block_by_hash, header, header_by_hash, block_results, commit, block_search
    blockMethods(node, searches),
    // tx, tx_search
    txMethods(node, searches),
    // validators, consensus_params, consensus_state
    consensusMethods(node),
    // unconfirmed_txs, num_unconfirmed_txs, broadcast_tx_async, broadcast_tx_sync, broadcast_tx_commit, check_tx
    mempoolMethods(node, busy, commits),
    // abci_info, abci_query
    abciMethods(node),
    // subscribe, unsubscribe, unsubscribe_all (WebSocket only)
    eventMethods(bus),
  );
}

/** One map of every group's methods; a name defined by two groups is a programming error. */
export function composeMethods(...groups: MethodTable[]): Map<string, RpcMethod> {
  const methods = new Map<string, RpcMethod>();
  for (const group of groups) {
    for (const [name, method] of Object.entries(group)) {
      if (methods.has(name))
        throw new CareLedgerError('RPC_METHOD_DUPLICATE', `method ${name} is defined twice`);
      methods.set(name, method);
    }
  }
  return methods;
}
