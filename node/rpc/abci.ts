/**
 * The application methods (CometBFT's rpc/core/abci.go): abci_info and abci_query, whose proof
 * the light client checks against a verified header's app hash.
 */
import { heightOf } from './blocks.ts';
import { base64 } from './format.ts';
import type { RpcNode } from './rpc-node.ts';
import { boolParam, bytesParam, intParam, type MethodTable, stringParam } from './server.ts';
import { NODE_VERSION } from './status.ts';

export const APP_NAME = 'careledger-kvstore';

export type AbciNode = Pick<RpcNode, 'app' | 'chain'>;

export function abciMethods(node: AbciNode): MethodTable {
  return {
    abci_info: {
      params: [],
      run: async () => {
        const info = node.app.info();
        return {
          response: {
            data: APP_NAME,
            version: NODE_VERSION,
            app_version: '1',
            last_block_height: info.lastHeight.toString(),
            last_block_app_hash: base64(info.appHash),
          },
        };
      },
    },

    abci_query: {
      params: ['path', 'data', 'height', 'prove'],
      run: async (params, ctx) => {
        const path = stringParam(params, 'path', ctx.transport) ?? '';
        const data = bytesParam(params, 'data', ctx.transport, 'hex') ?? new Uint8Array(0);
        const prove = boolParam(params, 'prove');
        // abci_query's height is a plain int64: 0 (or absent) is the latest state.
        const h = intParam(params, 'height');
        const height = h === null || h === 0n ? null : heightOf(node, params);
        const r = await node.app.query(path, data, height, prove);
        return {
          response: {
            code: r.code,
            log: r.log,
            info: '',
            index: '0',
            key: base64(r.key),
            value: r.value === null ? null : base64(r.value),
            proofOps:
              r.proof === null
                ? null
                : { ops: [{ type: 'careledger/smt', key: base64(r.key), data: base64(r.proof) }] },
            height: r.height.toString(),
            codespace: r.codespace,
          },
        };
      },
    },
  };
}
