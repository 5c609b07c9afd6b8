/**
 * The network methods (CometBFT's rpc/core/net.go): net_info (our listeners and connected peers,
 * with CometBFT's shape; connection statistics are not kept, so they are zero) and genesis.
 */
import { consensusParamsJson, genesisJson, ZERO_TIME } from './format.ts';
import type { RpcNode } from './rpc-node.ts';
import type { MethodTable } from './server.ts';
import { nodeInfoJson } from './status.ts';

export type NetNode = Pick<RpcNode, 'home' | 'chain' | 'chainId' | 'p2p'>;

const FLOW_MONITOR = {
  Start: ZERO_TIME,
  Bytes: '0',
  Samples: '0',
  InstRate: '0',
  CurRate: '0',
  AvgRate: '0',
  PeakRate: '0',
  BytesRem: '0',
  Duration: '0',
  Idle: '0',
  TimeRem: '0',
  Progress: 0,
  Active: false,
};

function ipOf(multiaddr: string | undefined): string {
  const parts = (multiaddr ?? '').split('/');
  return parts[1] === 'ip4' || parts[1] === 'ip6' || parts[1]?.startsWith('dns') ? (parts[2] ?? '') : '';
}

export function netMethods(node: NetNode): MethodTable {
  return {
    net_info: {
      params: [],
      run: async () => {
        const peers = node.p2p.peers().filter((p) => p.connected);
        return {
          listening: true,
          listeners: node.p2p.addresses().map((a) => `Listener(@${a})`),
          n_peers: String(peers.length),
          peers: peers.map((p) => ({
            node_info: nodeInfoJson({
              peerId: p.id,
              listenAddr: p.addrs[0] ?? '',
              network: node.chainId,
              version: '',
              moniker: '',
              rpcAddress: '',
            }),
            is_outbound: p.persistent,
            connection_status: {
              Duration: '0',
              SendMonitor: FLOW_MONITOR,
              RecvMonitor: FLOW_MONITOR,
              Channels: [],
            },
            remote_ip: ipOf(p.addrs[0]),
          })),
        };
      },
    },

    genesis: {
      params: [],
      run: async () => ({
        genesis: genesisJson(
          node.home.genesis,
          consensusParamsJson(node.home.genesis.blockLimits, node.chain.evidenceMaxAge),
        ),
      }),
    },
  };
}
