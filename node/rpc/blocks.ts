/**
 * The block methods (CometBFT's rpc/core/blocks.go): blockchain, block, block_by_hash, header,
 * header_by_hash, block_results, commit and block_search; and the height rules the other groups
 * share (`heightOf`, `loadBlock`).
 */
import { toHex } from '../../packages/crypto/hash.ts';
import { type Block, blockIdOf } from '../../packages/types/block.ts';
import type { Validator, ValidatorSet } from '../../packages/types/validator.ts';
import {
  base64,
  blockIdJson,
  blockJson,
  blockMetaJson,
  commitJson,
  eventJson,
  execTxResultJson,
  headerJson,
  validatorUpdateJson,
} from './format.ts';
import { methodError } from './jsonrpc.ts';
import { orderParam, pageOf, perPageOf, queryParam } from './params.ts';
import type { RpcNode } from './rpc-node.ts';
import type { SearchGate } from './search-gate.ts';
import { hashParam, intParam, type MethodTable, type RpcParams } from './server.ts';
import { searchBlocks } from './tx-search.ts';

/** At most this many block metas per `blockchain` call, newest first. */
export const BLOCKCHAIN_LIMIT = 20n;

export type BlocksNode = Pick<RpcNode, 'chain' | 'blocks' | 'db'>;

/**
 * CometBFT's `getHeight`: absent is `latestHeight` (the last committed height unless given);
 * otherwise within [initial height, latestHeight].
 */
export function heightOf(
  node: Pick<RpcNode, 'chain'>,
  params: RpcParams,
  latestHeight = node.chain.lastHeight,
): bigint {
  const base = node.chain.initialHeight;
  const h = intParam(params, 'height');
  if (h === null) {
    if (latestHeight < base) throw methodError('no block has been committed yet');
    return latestHeight;
  }
  if (h <= 0n) throw methodError(`height must be greater than 0, but got ${h}`);
  if (h > latestHeight)
    throw methodError(
      `height ${h} must be less than or equal to the current blockchain height ${latestHeight}`,
    );
  if (h < base) throw methodError(`height ${h} is not available, lowest height is ${base}`);
  return h;
}

export async function loadBlock(blocks: Pick<RpcNode['blocks'], 'block'>, height: bigint): Promise<Block> {
  const b = await blocks.block(height);
  if (b === null) throw methodError(`block at height ${height} is not available`);
  return b;
}

/** The changes from one validator set to the next: new or re-weighted, then removed (power 0). */
export function validatorDiff(
  before: ValidatorSet | undefined,
  after: ValidatorSet | undefined,
): { validator: Validator; power: bigint }[] {
  if (before === undefined || after === undefined) return [];
  const old = new Map(before.validators.map((v) => [toHex(v.pubKey), v]));
  const out: { validator: Validator; power: bigint }[] = [];
  for (const v of after.validators) {
    const prior = old.get(toHex(v.pubKey));
    if (prior === undefined || prior.votingPower !== v.votingPower)
      out.push({ validator: v, power: v.votingPower });
    old.delete(toHex(v.pubKey));
  }
  for (const v of old.values()) out.push({ validator: v, power: 0n });
  return out;
}

export function blockMethods(node: BlocksNode, searches: SearchGate): MethodTable {
  const latest = (): bigint => node.chain.lastHeight;
  const base = (): bigint => node.chain.initialHeight;

  const blockResult = (b: Block): Record<string, unknown> => {
    const height = b.header.height;
    return {
      block_id: blockIdJson(blockIdOf(b.header)),
      block: blockJson(b, node.blocks.validatorsAt(height - 1n), node.blocks.validatorsAt(height)),
    };
  };

  /** The app hash after executing `height` (it is in the next header). */
  const appHashAfter = async (height: bigint): Promise<Uint8Array> =>
    height >= latest() ? node.chain.appHash : (await loadBlock(node.blocks, height + 1n)).header.appHash;

  return {
    blockchain: {
      params: ['minHeight', 'maxHeight'],
      run: async (params) => {
        let min = intParam(params, 'minHeight') ?? 0n;
        let max = intParam(params, 'maxHeight') ?? 0n;
        if (min < 0n || max < 0n) throw methodError('heights must be non-negative');
        const top = latest() >= base() ? latest() : 0n;
        if (min === 0n) min = 1n;
        if (max === 0n || max > top) max = top;
        if (min < base()) min = base();
        if (min < max - BLOCKCHAIN_LIMIT + 1n) min = max - BLOCKCHAIN_LIMIT + 1n;
        if (min > max) throw methodError(`min height ${min} can't be greater than max height ${max}`);
        const metas = [];
        for (let h = max; h >= min; h--) {
          const bytes = await node.blocks.blockBytes(h);
          metas.push(blockMetaJson(await loadBlock(node.blocks, h), bytes?.length ?? 0));
        }
        return { last_height: top.toString(), block_metas: metas };
      },
    },

    block: {
      params: ['height'],
      run: async (params) => blockResult(await loadBlock(node.blocks, heightOf(node, params))),
    },

    block_by_hash: {
      params: ['hash'],
      run: async (params, ctx) => {
        const height = await node.blocks.heightOf(hashParam(params, 'hash', ctx.transport));
        if (height === null) return { block_id: blockIdJson(new Uint8Array(0)), block: null };
        return blockResult(await loadBlock(node.blocks, height));
      },
    },

    header: {
      params: ['height'],
      run: async (params) => ({
        header: headerJson((await loadBlock(node.blocks, heightOf(node, params))).header),
      }),
    },

    header_by_hash: {
      params: ['hash'],
      run: async (params, ctx) => {
        const height = await node.blocks.heightOf(hashParam(params, 'hash', ctx.transport));
        return { header: height === null ? null : headerJson((await loadBlock(node.blocks, height)).header) };
      },
    },

    block_results: {
      params: ['height'],
      run: async (params) => {
        const height = heightOf(node, params);
        const results = await node.blocks.results(height);
        if (results === null) throw methodError(`could not find results for height #${height}`);
        return {
          height: height.toString(),
          txs_results: results.txResults.map(execTxResultJson),
          finalize_block_events: results.events.map(eventJson),
          validator_updates: validatorDiff(
            node.blocks.validatorsAt(height + 1n),
            node.blocks.validatorsAt(height + 2n),
          ).map((u) => validatorUpdateJson(u.validator.pubKey, u.power)),
          consensus_param_updates: null,
          app_hash: base64(await appHashAfter(height)),
        };
      },
    },

    commit: {
      params: ['height'],
      run: async (params) => {
        const height = heightOf(node, params);
        const block = await loadBlock(node.blocks, height);
        const set = node.blocks.validatorsAt(height);
        // The canonical commit is the one the next block carries; the newest block has only ours.
        const next = height < latest() ? await node.blocks.block(height + 1n) : null;
        const canonical = next?.lastCommit ?? null;
        const commit = canonical ?? (await node.blocks.commit(height));
        if (commit === null) throw methodError(`commit at height ${height} is not available`);
        return {
          signed_header: {
            header: headerJson(block.header),
            commit: commitJson(commit, set, next?.header.time ?? block.header.time),
          },
          canonical: canonical !== null,
        };
      },
    },

    block_search: {
      params: ['query', 'page', 'per_page', 'order_by'],
      run: async (params, ctx) => {
        const { query } = queryParam(params, ctx.transport);
        const order = orderParam(
          params,
          ctx.transport,
          'desc',
          'expected order_by to be either `asc` or `desc` or empty',
        );
        const perPage = perPageOf(params);
        const found = await searches.run(() => searchBlocks(node.db, query, base(), latest()));
        const total = Array.isArray(found) ? found.length : Number(found.hi - found.lo + 1n);
        const page = pageOf(params, perPage, total);
        const heights: bigint[] = [];
        for (let i = (page - 1) * perPage; i < Math.min(total, page * perPage); i++) {
          const k = order === 'asc' ? i : total - 1 - i;
          heights.push(Array.isArray(found) ? found[k]! : found.lo + BigInt(k));
        }
        const blocks = [];
        for (const h of heights) blocks.push(blockResult(await loadBlock(node.blocks, h)));
        return { blocks, total_count: String(total) };
      },
    },
  };
}
