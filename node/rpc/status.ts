/**
 * The node's own status (CometBFT's rpc/core/health.go and status.go): health and status, whose
 * `sync_info.latest_block_height` operators and launchers poll.
 *
 * `node_info.id` is CometBFT's node id (40 hex digits, p2p/identity.ts `cometNodeIdOf`), which
 * CometBFT clients decode as hex; the libp2p peer id (what `careledger show-node-id` prints and the
 * member list holds) is in `node_info.other.peer_id`, and `listen_addr` is the libp2p multiaddr.
 */
import { cometNodeIdOf } from '../../p2p/identity.ts';
import { blockIdOf } from '../../packages/types/block.ts';
import { addressOf } from '../../packages/types/validator.ts';
import { hexUpper, pubKeyJson, rfc3339 } from './format.ts';
import type { RpcNode } from './rpc-node.ts';
import type { MethodTable } from './server.ts';

export const NODE_VERSION = '0.1.0';

/** CometBFT's protocol versions, as status and net_info report them. */
export const PROTOCOL_VERSION = { p2p: '8', block: '11', app: '1' } as const;

export type StatusNode = Pick<
  RpcNode,
  'home' | 'peerId' | 'chain' | 'chainId' | 'isCatchingUp' | 'blocks' | 'p2p'
>;

/**
 * CometBFT's `node_info` for a CareLedger node: its fields and types, with the hex node id in `id`,
 * the multiaddr in `listen_addr` and the libp2p peer id added to `other` (CometBFT's clients ignore
 * fields they do not know). net_info's peers have the same shape.
 */
export function nodeInfoJson(info: {
  readonly peerId: string;
  readonly listenAddr: string;
  readonly network: string;
  readonly version: string;
  readonly moniker: string;
  readonly rpcAddress: string;
}): Record<string, unknown> {
  return {
    protocol_version: PROTOCOL_VERSION,
    id: cometNodeIdOf(info.peerId),
    listen_addr: info.listenAddr,
    network: info.network,
    version: info.version,
    channels: '',
    moniker: info.moniker,
    other: { tx_index: 'on', rpc_address: info.rpcAddress, peer_id: info.peerId },
  };
}

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
          node_info: nodeInfoJson({
            peerId: node.peerId,
            listenAddr: node.p2p.addresses()[0] ?? `${config.p2p.listen}/p2p/${node.peerId}`,
            network: node.chainId,
            version: NODE_VERSION,
            moniker: config.moniker,
            rpcAddress: `tcp://${config.rpc.listen}`,
          }),
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
