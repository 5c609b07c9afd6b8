/**
 * CometBFT's JSON encodings for RPC results: 64-bit integers as decimal strings, hashes and
 * addresses as upper-case hex, tx bytes and app data as base64, times as RFC 3339 with
 * nanoseconds. Fields CareLedger's header lacks (part sets, consensus hash) are returned
 * well-formed rather than missing.
 */
import { leafHash, merkleProver, sha256 } from '../../packages/crypto/hash.ts';
import {
  type Block,
  type BlockLimits,
  blockIdOf,
  blockTxHashes,
  type Header,
} from '../../packages/types/block.ts';
import { type Commit, CommitFlag, type DuplicateVoteEvidence } from '../../packages/types/commit.ts';
import type { Genesis } from '../../packages/types/genesis.ts';
import { addressOf, type Validator, type ValidatorSet } from '../../packages/types/validator.ts';
import type { Vote } from '../../packages/types/vote.ts';
import type { AppEvent, ExecTxResult } from '../../state/application.ts';

export const BLOCK_PROTOCOL_VERSION = '11';
export const PUB_KEY_TYPE = 'tendermint/PubKeyEd25519';

export function hexUpper(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/**
 * Unix milliseconds as Go's RFC 3339 with nanoseconds writes a time (CometBFT's JSON): trailing
 * zeros of the fraction dropped, e.g. 2026-11-25T16:35:26.12Z, and no fraction on a whole second.
 */
export function rfc3339(ms: bigint): string {
  const iso = new Date(Number(ms)).toISOString();
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`;
}

/** A block id with the part-set header CometBFT clients expect (one part: the whole block). */
export function blockIdJson(id: Uint8Array): { hash: string; parts: { total: number; hash: string } } {
  if (id.length === 0) return { hash: '', parts: { total: 0, hash: '' } };
  return { hash: hexUpper(id), parts: { total: 1, hash: hexUpper(sha256(id)) } };
}

export function headerJson(h: Header): Record<string, unknown> {
  return {
    version: { block: BLOCK_PROTOCOL_VERSION, app: '1' },
    chain_id: h.chainId,
    height: h.height.toString(),
    time: rfc3339(h.time),
    last_block_id: blockIdJson(h.lastBlockId),
    last_commit_hash: hexUpper(h.lastCommitHash),
    data_hash: hexUpper(h.dataHash),
    validators_hash: hexUpper(h.validatorsHash),
    next_validators_hash: hexUpper(h.nextValidatorsHash),
    consensus_hash: hexUpper(sha256()),
    app_hash: hexUpper(h.appHash),
    last_results_hash: hexUpper(h.lastResultsHash),
    evidence_hash: hexUpper(h.evidenceHash),
    proposer_address: hexUpper(h.proposerAddress),
  };
}

const FLAG_NAMES: Record<CommitFlag, number> = {
  [CommitFlag.absent]: 1,
  [CommitFlag.commit]: 2,
  [CommitFlag.nil]: 3,
};

/** `set` is the validator set that signed the commit (for the addresses). */
export function commitJson(c: Commit, set: ValidatorSet | undefined, time: bigint): Record<string, unknown> {
  return {
    height: c.height.toString(),
    round: c.round,
    block_id: blockIdJson(c.blockId),
    signatures: c.signatures.map((sig, i) => ({
      block_id_flag: FLAG_NAMES[sig.flag],
      validator_address:
        sig.flag === CommitFlag.absent ? '' : hexUpper(set?.validators[i]?.address ?? new Uint8Array(0)),
      timestamp: sig.flag === CommitFlag.absent ? '0001-01-01T00:00:00Z' : rfc3339(time),
      signature: sig.flag === CommitFlag.absent ? null : base64(sig.signature),
    })),
  };
}

function voteJson(v: Vote, time: bigint): Record<string, unknown> {
  return {
    type: v.type,
    height: v.height.toString(),
    round: v.round,
    block_id: blockIdJson(v.blockId),
    timestamp: rfc3339(time),
    validator_address: hexUpper(v.validatorAddress),
    validator_index: v.validatorIndex,
    signature: base64(v.signature),
  };
}

export function evidenceJson(
  e: DuplicateVoteEvidence,
  set: ValidatorSet | undefined,
  time: bigint,
): Record<string, unknown> {
  const validator = set?.validators[e.voteA.validatorIndex];
  return {
    type: 'tendermint/DuplicateVoteEvidence',
    value: {
      vote_a: voteJson(e.voteA, time),
      vote_b: voteJson(e.voteB, time),
      total_voting_power: (set?.totalVotingPower ?? 0n).toString(),
      validator_power: (validator?.votingPower ?? 0n).toString(),
      timestamp: rfc3339(time),
    },
  };
}

/** `lastSet` signed the block's last commit; `set` is the block's own set (for evidence). */
export function blockJson(
  b: Block,
  lastSet: ValidatorSet | undefined,
  set: ValidatorSet | undefined,
): Record<string, unknown> {
  const time = b.header.time;
  return {
    header: headerJson(b.header),
    data: { txs: b.txs.map(base64) },
    evidence: { evidence: b.evidence.map((e) => evidenceJson(e, set, time)) },
    last_commit:
      b.lastCommit === null
        ? { height: '0', round: 0, block_id: blockIdJson(new Uint8Array(0)), signatures: [] }
        : commitJson(b.lastCommit, lastSet, time),
  };
}

export function pubKeyJson(pubKey: Uint8Array): { type: string; value: string } {
  return { type: PUB_KEY_TYPE, value: base64(pubKey) };
}

/** Go's zero time, which CometBFT prints for absent timestamps. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function validatorJson(v: Validator): Record<string, unknown> {
  return {
    address: hexUpper(v.address),
    pub_key: pubKeyJson(v.pubKey),
    voting_power: v.votingPower.toString(),
    proposer_priority: v.proposerPriority.toString(),
  };
}

/** An ABCI `ValidatorUpdate` as CometBFT v0.38 prints it (the protobuf oneof of the key). */
export function validatorUpdateJson(pubKey: Uint8Array, power: bigint): Record<string, unknown> {
  return {
    pub_key: { Sum: { type: 'tendermint.crypto.PublicKey_Ed25519', value: { ed25519: base64(pubKey) } } },
    power: power.toString(),
  };
}

export function eventJson(e: AppEvent): Record<string, unknown> {
  return {
    type: e.type,
    attributes: e.attributes.map((a) => ({ key: a.key, value: a.value, index: a.index })),
  };
}

/** ABCI `ExecTxResult`; CareLedger has no gas, data or info, so those are zero. */
export function execTxResultJson(r: ExecTxResult | null): Record<string, unknown> {
  return {
    code: r?.code ?? 0,
    data: null,
    log: r?.log ?? '',
    info: '',
    gas_wanted: '0',
    gas_used: '0',
    events: (r?.events ?? []).map(eventJson),
    codespace: r?.codespace ?? '',
  };
}

/** ABCI `CheckTxResponse` (v0.38 fields). */
export function checkTxJson(code: number, codespace: string, log: string): Record<string, unknown> {
  return { code, data: null, log, info: '', gas_wanted: '0', gas_used: '0', events: [], codespace };
}

/**
 * CometBFT's `TxProof` of the tx at `index` against the block's data hash (a Merkle tree over the
 * tx hashes, as CometBFT's `Txs.Hash`); an index the block does not have gives the empty proof.
 */
export function txProofJson(block: Block, index: number): Record<string, unknown> {
  if (index >= block.txs.length) {
    return { root_hash: '', data: null, proof: { total: '0', index: '0', leaf_hash: null, aunts: null } };
  }
  const { leaves, aunts } = txTreeOf(block);
  return {
    root_hash: hexUpper(block.header.dataHash),
    data: base64(block.txs[index]!),
    proof: {
      total: String(block.txs.length),
      index: String(index),
      leaf_hash: base64(leaves[index]!),
      aunts: aunts(index).map(base64),
    },
  };
}

/** A block's tx tree, built once per block object: a page of proofs from one block hashes it once. */
const txTrees = new WeakMap<Block, { leaves: Uint8Array[]; aunts: (index: number) => Uint8Array[] }>();
function txTreeOf(block: Block): { leaves: Uint8Array[]; aunts: (index: number) => Uint8Array[] } {
  let tree = txTrees.get(block);
  if (tree === undefined) {
    const leaves = blockTxHashes(block).map(leafHash);
    tree = { leaves, aunts: merkleProver(leaves) };
    txTrees.set(block, tree);
  }
  return tree;
}

/** `BlockMeta` for `blockchain`: `size` is the encoded block's length. */
export function blockMetaJson(b: Block, size: number): Record<string, unknown> {
  return {
    block_id: blockIdJson(blockIdOf(b.header)),
    block_size: String(size),
    header: headerJson(b.header),
    num_txs: String(b.txs.length),
  };
}

/**
 * CometBFT's consensus params from CareLedger's block limits. A block holds at most `maxTxs` txs
 * of `maxTxBytes` each, so that product bounds its size; evidence and versions are CometBFT's.
 */
export function consensusParamsJson(limits: BlockLimits, evidenceMaxAge: bigint): Record<string, unknown> {
  return {
    block: { max_bytes: String(limits.maxTxs * limits.maxTxBytes), max_gas: '-1' },
    evidence: {
      max_age_num_blocks: evidenceMaxAge.toString(),
      max_age_duration: '172800000000000',
      max_bytes: '1048576',
    },
    validator: { pub_key_types: ['ed25519'] },
    version: { app: '1' },
    abci: { vote_extensions_enable_height: '0' },
  };
}

export function genesisJson(g: Genesis, params: Record<string, unknown>): Record<string, unknown> {
  return {
    genesis_time: rfc3339(g.genesisTime),
    chain_id: g.chainId,
    initial_height: g.initialHeight.toString(),
    consensus_params: params,
    validators: g.validators.map((v) => ({
      address: hexUpper(addressOf(v.pubKey)),
      pub_key: pubKeyJson(v.pubKey),
      power: v.power.toString(),
      name: v.name,
    })),
    app_hash: '',
  };
}
