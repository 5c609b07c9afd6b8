/**
 * The RPC methods a node serves, with CometBFT's names, parameters and result shapes. Parameters
 * are checked at the boundary and a bad one gets a JSON-RPC "Invalid params" error naming it.
 */
import { blockIdOf } from '../packages/types/block.ts';
import { addressOf } from '../packages/types/validator.ts';
import type { CareLedgerNode } from './node.ts';
import { invalidParams, type RpcMethod, type RpcParams } from './rpc.ts';
import { base64, blockIdJson, blockJson, hexUpper, pubKeyJson, rfc3339 } from './rpc-format.ts';

export const NODE_VERSION = '0.1.0';

/** A height parameter: absent means the latest; otherwise a positive integer within the chain. */
function heightParam(params: RpcParams, latest: bigint, base: bigint): bigint {
  const raw = params.height;
  if (raw === undefined || raw === null || raw === '' || raw === 0 || raw === '0') return latest;
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,18}$/.test(text))
    throw invalidParams('height must be a positive integer');
  const height = BigInt(text);
  if (height > latest)
    throw invalidParams(
      `height ${height} must be less than or equal to the current blockchain height ${latest}`,
    );
  if (height < base) throw invalidParams(`height ${height} is not available, lowest height is ${base}`);
  return height;
}

/** Tx bytes: `0x…` hex (URI form) or base64 (JSON-RPC form, as CometBFT). */
export function txParam(params: RpcParams): Uint8Array {
  const raw = params.tx;
  if (typeof raw !== 'string' || raw.length === 0) throw invalidParams('tx is required');
  if (raw.startsWith('0x') || raw.startsWith('0X')) {
    if (!/^0[xX](?:[0-9a-fA-F]{2})+$/.test(raw)) throw invalidParams('tx is not valid hex');
    return Buffer.from(raw.slice(2), 'hex');
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw) || raw.length % 4 !== 0)
    throw invalidParams('tx is neither 0x-hex nor base64');
  return Buffer.from(raw, 'base64');
}

export function rpcMethods(node: CareLedgerNode): Map<string, RpcMethod> {
  const latest = (): bigint => node.chain.lastHeight;
  const base = (): bigint => node.chain.initialHeight;

  const status: RpcMethod = async () => {
    const height = latest();
    const block = height >= base() ? await node.blocks.block(height) : null;
    const earliest = height >= base() ? await node.blocks.block(base()) : null;
    const own = node.home.validatorKey.publicKey;
    const validator = node.chain.validators.set.validators.find((v) => Buffer.compare(v.pubKey, own) === 0);
    const { config } = node.home;
    return {
      node_info: {
        protocol_version: { p2p: '8', block: '11', app: '1' },
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
        latest_block_height: (height >= base() ? height : 0n).toString(),
        latest_block_time: rfc3339(node.chain.lastBlockTime),
        earliest_block_hash: earliest === null ? '' : hexUpper(blockIdOf(earliest.header)),
        earliest_app_hash: earliest === null ? '' : hexUpper(earliest.header.appHash),
        earliest_block_height: (earliest === null ? 0n : base()).toString(),
        earliest_block_time:
          earliest === null ? rfc3339(node.home.genesis.genesisTime) : rfc3339(earliest.header.time),
        catching_up: node.isCatchingUp,
      },
      validator_info: {
        address: hexUpper(addressOf(own)),
        pub_key: pubKeyJson(own),
        voting_power: (validator?.votingPower ?? 0n).toString(),
      },
    };
  };

  const block: RpcMethod = async (params) => {
    if (latest() < base()) throw invalidParams('no blocks yet');
    const height = heightParam(params, latest(), base());
    const b = await node.blocks.block(height);
    if (b === null) throw invalidParams(`block at height ${height} is not available`);
    return {
      block_id: blockIdJson(blockIdOf(b.header)),
      block: blockJson(b, node.blocks.validatorsAt(height - 1n), node.blocks.validatorsAt(height)),
    };
  };

  const broadcastTxSync: RpcMethod = async (params) => {
    const result = node.submitTx(txParam(params));
    return result.ok
      ? { code: 0, data: '', log: '', codespace: '', hash: hexUpper(result.hash) }
      : {
          code: 1,
          data: '',
          log: result.error.message,
          codespace: result.error.code,
          hash: hexUpper(result.hash),
        };
  };

  const abciQuery: RpcMethod = async (params) => {
    const path = typeof params.path === 'string' ? params.path : '';
    const dataHex = typeof params.data === 'string' ? params.data.replace(/^0x/, '') : '';
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(dataHex)) throw invalidParams('data must be hex');
    const prove = params.prove === true || params.prove === 'true';
    const height =
      params.height === undefined || params.height === '0' || params.height === 0
        ? null
        : heightParam(params, latest(), base());
    const r = await node.app.query(path, Buffer.from(dataHex, 'hex'), height, prove);
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
  };

  return new Map<string, RpcMethod>([
    ['health', async () => ({})],
    ['status', status],
    ['block', block],
    ['broadcast_tx_sync', broadcastTxSync],
    ['abci_query', abciQuery],
  ]);
}
