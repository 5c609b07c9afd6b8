/**
 * The node's own status (CometBFT's rpc/core/health.go and status.go): health and status, whose
 * `sync_info.latest_block_height` operators and launchers poll.
 */
import { blockIdOf } from '../../packages/types/block.ts';
import { addressOf } from '../../packages/types/validator.ts';
import { hexUpper, pubKeyJson, rfc3339 } from './format.ts';
import type { RpcNode } from './rpc-node.ts';
import type { MethodTable } from './server.ts';

export const NODE_VERSION = '0.1.0';

/** CometBFT's protocol versions, as status and net_info report them. */
export const PROTOCOL_VERSION = { p2p: '8', block: '11', app: '1' } as const;

export type StatusNode = Pick<RpcNode, 'home' | 'peerId' | 'chain' | 'chainId' | 'isCatchingUp' | 'blocks'>;

export function statusMethods(node: StatusNode): MethodTable {
  return {
    health: { params: [], run: async () => ({}) },

    status: {
      params: [],
      run: async () => {
        const height = node.chain.lastHeight;
        const base = node.chain.initialHeight;
        const block = height >= base ? await node.blocks.block(height) : null;
        const earliest = height >= base ? await node.blocks.block(base) : null;
        const own = node.home.validatorKey.publicKey;
        const validator = node.chain.validators.set.validators.find(
          (v) => Buffer.compare(v.pubKey, own) === 0,
        );
        const { config } = node.home;
        return {
          node_info: {
            protocol_version: PROTOCOL_VERSION,
            id: node.peerId,
            listen_addr: config.p2p.listen,
            network: node.chainId,
            version: NODE_VERSION,
            channels: '',
            moniker: config.moniker,
            other: { tx_index: 'on', rpc_address: `tcp://${config.rpc.listen}` },
          },
          sync_info: {
            latest_block_hash: block === null ? '' : hexUpper(blockIdOf(block.header)),
            latest_app_hash: hexUpper(node.chain.appHash),
            latest_block_height: (block === null ? 0n : height).toString(),
            latest_block_time: rfc3339(node.chain.lastBlockTime),
            earliest_block_hash: earliest === null ? '' : hexUpper(blockIdOf(earliest.header)),
            earliest_app_hash: earliest === null ? '' : hexUpper(earliest.header.appHash),
            earliest_block_height: (earliest === null ? 0n : base).toString(),
            earliest_block_time: rfc3339(
              earliest === null ? node.home.genesis.genesisTime : earliest.header.time,
            ),
            catching_up: node.isCatchingUp,
          },
          validator_info: {
            address: hexUpper(addressOf(own)),
            pub_key: pubKeyJson(own),
            voting_power: (validator?.votingPower ?? 0n).toString(),
          },
        };
      },
    },
  };
}
