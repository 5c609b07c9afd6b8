/**
 * The tx methods (CometBFT's rpc/core/tx.go): tx (by hash, with an optional Merkle proof against
 * the block's data hash) and tx_search over the event index.
 */
import { type Block, txHash } from '../../packages/types/block.ts';
import { loadBlock } from './blocks.ts';
import { base64, execTxResultJson, hexUpper, txProofJson } from './format.ts';
import { methodError } from './jsonrpc.ts';
import { orderParam, pageOf, perPageOf, queryParam } from './params.ts';
import type { BlockResults, RpcNode } from './rpc-node.ts';
import type { SearchGate } from './search-gate.ts';
import { boolParam, hashParam, type MethodTable } from './server.ts';
import { searchTxs } from './tx-search.ts';

export type TxsNode = Pick<RpcNode, 'blocks' | 'db'>;

/** The block and results last read, so a page of txs in one block reads it once. */
type BlockCache = Map<bigint, { block: Block; results: BlockResults | null }>;

export function txMethods(node: TxsNode, searches: SearchGate): MethodTable {
  const txResultJson = async (
    height: bigint,
    index: number,
    prove: boolean,
    cache: BlockCache,
  ): Promise<Record<string, unknown>> => {
    let entry = cache.get(height);
    if (entry === undefined) {
      entry = { block: await loadBlock(node.blocks, height), results: await node.blocks.results(height) };
      // Only the latest height: a page comes in height order, and a page across 100 full blocks
      // must not hold them all at once.
      cache.clear();
      cache.set(height, entry);
    }
    const tx = entry.block.txs[index];
    const result = entry.results?.txResults[index];
    if (tx === undefined) throw methodError(`tx ${index} of block ${height} is not available`);
    // As block_results: a missing result is an error, never a success (code 0) made up.
    if (result === undefined) throw methodError(`could not find results for height #${height}`);
    return {
      hash: hexUpper(txHash(tx)),
      height: height.toString(),
      index,
      tx_result: execTxResultJson(result),
      tx: base64(tx),
      // CometBFT's ResultTx has `proof,omitempty` and its JSON encoder omits a zero struct: a tx
      // asked for without `prove` has no proof key at all.
      ...(prove ? { proof: txProofJson(entry.block, index) } : {}),
    };
  };

  return {
    tx: {
      params: ['hash', 'prove'],
      run: async (params, ctx) => {
        const hash = hashParam(params, 'hash', ctx.transport);
        const prove = boolParam(params, 'prove');
        const location = await node.blocks.txLocation(hash);
        if (location === null) throw methodError(`tx (${hexUpper(hash)}) not found`);
        return txResultJson(location.height, location.index, prove, new Map());
      },
    },

    tx_search: {
      params: ['query', 'prove', 'page', 'per_page', 'order_by'],
      run: async (params, ctx) => {
        const { query } = queryParam(params, ctx.transport);
        const prove = boolParam(params, 'prove');
        const order = orderParam(
          params,
          ctx.transport,
          'asc',
          'invalid order_by: expected either `asc` or `desc` or empty but got %s',
        );
        const perPage = perPageOf(params);
        const found = await searches.run(() => searchTxs(node.db, query, (h) => node.blocks.txLocation(h)));
        if (order === 'desc') found.reverse();
        const page = pageOf(params, perPage, found.length);
        const cache: BlockCache = new Map();
        const txs = [];
        for (const p of found.slice((page - 1) * perPage, page * perPage))
          txs.push(await txResultJson(p.height, p.index, prove, cache));
        return { txs, total_count: String(found.length) };
      },
    },
  };
}
