/**
 * The client SDK's transport: a typed JSON-RPC 2.0 client for a node's CometBFT v0.38-shaped RPC
 * (node/rpc/: the methods and their JSON formats), over the global `fetch`.
 *
 * Nothing the node sends is trusted: every field of every response is checked and turned back into
 * the project's own types (Header, Commit, ValidatorSet, Block), so a caller (the light client)
 * can recompute hashes and verify signatures. Every call has a timeout and a bound on the response
 * size. Every failure is a `ClientError` (a CareLedgerError) with a stable code:
 * CLIENT_CONFIG_INVALID, CLIENT_RPC_UNREACHABLE, CLIENT_RPC_TIMEOUT, CLIENT_RPC_ERROR (the node
 * answered with a JSON-RPC error; its message is kept), CLIENT_RESPONSE_INVALID, CLIENT_TX_REJECTED.
 *
 * Broadcasting returns the node's outcome even when a tx is refused (check or deliver code != 0):
 * a refusal is an answer, not a transport failure, and callers differ in how they treat it (retry a
 * nonce, show the codespace). `assertAccepted` / `assertCommitted` turn a refusal into
 * CLIENT_TX_REJECTED, with the stage, code, codespace and log in `details`.
 *
 * Why one file of this size: one method per RPC route, each with the checker that turns its
 * JSON back into the project's types; the checkers are small and shared between routes.
 */
import { CareLedgerError } from '../core/errors.ts';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../crypto/ed25519.ts';
import { equalBytes, HASH_BYTES } from '../crypto/hash.ts';
import { type Block, type Header, MAX_CHAIN_ID_LENGTH, txHash } from '../types/block.ts';
import { type Commit, CommitFlag, type CommitSig, type DuplicateVoteEvidence } from '../types/commit.ts';
import {
  ADDRESS_BYTES,
  addressOf,
  MAX_VALIDATORS,
  makeValidatorSet,
  type Validator,
  type ValidatorSet,
} from '../types/validator.ts';
import { MAX_ROUND, type Vote, VoteType } from '../types/vote.ts';

// ---------------------------------------------------------------------------------------------
// Errors

export type ClientErrorDetails = Readonly<Record<string, string | number>>;

/** A CareLedgerError with machine-readable details (the node's codespace, the RPC error code…). */
export class ClientError extends CareLedgerError {
  readonly details: ClientErrorDetails;

  constructor(code: string, message: string, details: ClientErrorDetails = {}) {
    super(code, message);
    this.name = 'ClientError';
    this.details = details;
  }
}

function badResponse(what: string, why: string): ClientError {
  return new ClientError('CLIENT_RESPONSE_INVALID', `node response: ${what} ${why}`, { field: what });
}

// ---------------------------------------------------------------------------------------------
// Options

export interface RpcClientOptions {
  /** Longest a call may take, connection to last byte. */
  readonly timeoutMs: number;
  /** broadcast_tx_commit waits for a block: it gets its own, longer timeout. */
  readonly commitTimeoutMs: number;
  /** Larger responses are refused (a block of many txs is the largest legitimate answer). */
  readonly maxResponseBytes: number;
}

export const defaultRpcClientOptions: RpcClientOptions = {
  timeoutMs: 10_000,
  commitTimeoutMs: 30_000,
  maxResponseBytes: 16 * 1024 * 1024,
};

/** How often `waitForTx` asks whether a pending tx is committed: about a fifth of a block interval. */
const TX_POLL_MS = 200;

/** CometBFT's largest page of validators. */
const VALIDATORS_PER_PAGE = 100;

function positiveOption(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0)
    throw new ClientError('CLIENT_CONFIG_INVALID', `${name} must be a positive integer`);
  return value;
}

/**
 * A node's address: http(s)://host:port, or CometBFT's tcp://host:port (served over plain HTTP).
 * `what` names it in errors (the RPC, the local API).
 */
export function nodeUrl(url: unknown, what = 'RPC url'): URL {
  if (typeof url !== 'string') throw new ClientError('CLIENT_CONFIG_INVALID', `${what} must be a string`);
  let parsed: URL;
  try {
    parsed = new URL(url.startsWith('tcp://') ? `http://${url.slice(6)}` : url);
  } catch {
    throw new ClientError('CLIENT_CONFIG_INVALID', `${what} ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new ClientError('CLIENT_CONFIG_INVALID', `${what} must be http://, https:// or tcp://`);
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// Field readers: each names the field it refused.

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badResponse(what, 'is not an object');
  return v as Json;
}

function arr(v: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(v)) throw badResponse(what, 'is not a list');
  if (v.length > max) throw badResponse(what, `has more than ${max} entries`);
  return v;
}

function str(v: unknown, what: string, max = 1_000_000): string {
  if (typeof v !== 'string') throw badResponse(what, 'is not a string');
  if (v.length > max) throw badResponse(what, `is longer than ${max} characters`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw badResponse(what, 'is not a boolean');
  return v;
}

function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    throw badResponse(what, `is not an integer in [${min}, ${max}]`);
  return v;
}

const INT64_MAX = 2n ** 63n - 1n;

/** CometBFT's int64 as a decimal string. */
function i64(v: unknown, what: string, min = -INT64_MAX - 1n): bigint {
  if (typeof v !== 'string' || !/^-?(0|[1-9][0-9]{0,18})$/.test(v))
    throw badResponse(what, 'is not an int64');
  const n = BigInt(v);
  if (n < min || n > INT64_MAX) throw badResponse(what, `is out of range [${min}, ${INT64_MAX}]`);
  return n;
}

function hex(v: unknown, what: string, length: number, allowEmpty = false): Uint8Array {
  const text = str(v, what, length * 2);
  if (allowEmpty && text === '') return new Uint8Array(0);
  if (text.length !== length * 2 || !/^[0-9a-fA-F]*$/.test(text))
    throw badResponse(what, `is not ${length} bytes of hex`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function b64(v: unknown, what: string, length?: number): Uint8Array {
  const text = str(v, what);
  if (!BASE64.test(text)) throw badResponse(what, 'is not base64');
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  if (length !== undefined && bytes.length !== length) throw badResponse(what, `is not ${length} bytes`);
  return bytes;
}

const RFC3339_MS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/;

/** RFC 3339 -> Unix milliseconds. Header times are whole milliseconds: finer digits must be zero. */
function time(v: unknown, what: string): bigint {
  const m = RFC3339_MS.exec(str(v, what, 40));
  const fraction = (m?.[2] ?? '').padEnd(9, '0');
  const ms = m === null ? Number.NaN : Date.parse(`${m[1]}.${fraction.slice(0, 3)}Z`);
  if (m === null || !Number.isSafeInteger(ms) || ms < 0 || !/^0*$/.test(fraction.slice(3)))
    throw badResponse(what, 'is not an RFC 3339 time in whole milliseconds');
  return BigInt(ms);
}

/** A block id's hash; the part-set header is CometBFT decoration and carries nothing of ours. */
function blockIdHash(v: unknown, what: string, allowEmpty: boolean): Uint8Array {
  const id = obj(v, what);
  obj(id.parts, `${what}.parts`);
  return hex(id.hash, `${what}.hash`, HASH_BYTES, allowEmpty);
}

// ---------------------------------------------------------------------------------------------
// CometBFT JSON -> the project's types (exported for other SDK parts, e.g. WebSocket events).

export function headerFromJson(v: unknown, what = 'header'): Header {
  const h = obj(v, what);
  obj(h.version, `${what}.version`);
  const chainId = str(h.chain_id, `${what}.chain_id`, MAX_CHAIN_ID_LENGTH);
  return {
    chainId,
    height: i64(h.height, `${what}.height`, 1n),
    time: time(h.time, `${what}.time`),
    lastBlockId: blockIdHash(h.last_block_id, `${what}.last_block_id`, true),
    lastCommitHash: hex(h.last_commit_hash, `${what}.last_commit_hash`, HASH_BYTES),
    dataHash: hex(h.data_hash, `${what}.data_hash`, HASH_BYTES),
    validatorsHash: hex(h.validators_hash, `${what}.validators_hash`, HASH_BYTES),
    nextValidatorsHash: hex(h.next_validators_hash, `${what}.next_validators_hash`, HASH_BYTES),
    appHash: hex(h.app_hash, `${what}.app_hash`, HASH_BYTES),
    lastResultsHash: hex(h.last_results_hash, `${what}.last_results_hash`, HASH_BYTES),
    evidenceHash: hex(h.evidence_hash, `${what}.evidence_hash`, HASH_BYTES),
    proposerAddress: hex(h.proposer_address, `${what}.proposer_address`, ADDRESS_BYTES),
  };
}

export function commitFromJson(v: unknown, what = 'commit'): Commit {
  const c = obj(v, what);
  const signatures = arr(c.signatures, `${what}.signatures`, MAX_VALIDATORS).map((item, i): CommitSig => {
    const at = `${what}.signatures[${i}]`;
    const sig = obj(item, at);
    const flag = int(sig.block_id_flag, `${at}.block_id_flag`, 1, 3) as CommitFlag;
    if (flag === CommitFlag.absent) {
      if (sig.signature !== null && sig.signature !== '') throw badResponse(at, 'is absent but signed');
      return { flag, signature: new Uint8Array(0) };
    }
    hex(sig.validator_address, `${at}.validator_address`, ADDRESS_BYTES);
    return { flag, signature: b64(sig.signature, `${at}.signature`, SIGNATURE_BYTES) };
  });
  return {
    height: i64(c.height, `${what}.height`, 1n),
    round: int(c.round, `${what}.round`, 0, MAX_ROUND),
    blockId: blockIdHash(c.block_id, `${what}.block_id`, false),
    signatures,
  };
}

export function validatorFromJson(v: unknown, what = 'validator'): Validator {
  const val = obj(v, what);
  const key = obj(val.pub_key, `${what}.pub_key`);
  if (key.type !== 'tendermint/PubKeyEd25519') throw badResponse(`${what}.pub_key.type`, 'is not ed25519');
  const pubKey = b64(key.value, `${what}.pub_key.value`, PUBLIC_KEY_BYTES);
  const address = hex(val.address, `${what}.address`, ADDRESS_BYTES);
  if (!equalBytes(address, addressOf(pubKey))) throw badResponse(`${what}.address`, 'is not its key');
  return {
    address,
    pubKey,
    votingPower: i64(val.voting_power, `${what}.voting_power`, 1n),
    proposerPriority: i64(val.proposer_priority, `${what}.proposer_priority`),
  };
}

function voteFromJson(v: unknown, what: string): Vote {
  const vote = obj(v, what);
  return {
    type: int(vote.type, `${what}.type`, VoteType.prevote, VoteType.precommit) as VoteType,
    height: i64(vote.height, `${what}.height`, 1n),
    round: int(vote.round, `${what}.round`, 0, MAX_ROUND),
    blockId: blockIdHash(vote.block_id, `${what}.block_id`, true),
    validatorIndex: int(vote.validator_index, `${what}.validator_index`, 0, MAX_VALIDATORS - 1),
    validatorAddress: hex(vote.validator_address, `${what}.validator_address`, ADDRESS_BYTES),
    signature: b64(vote.signature, `${what}.signature`, SIGNATURE_BYTES),
  };
}

function evidenceFromJson(v: unknown, what: string): DuplicateVoteEvidence {
  const e = obj(v, what);
  if (e.type !== 'tendermint/DuplicateVoteEvidence') throw badResponse(`${what}.type`, 'is not known');
  const value = obj(e.value, `${what}.value`);
  return {
    voteA: voteFromJson(value.vote_a, `${what}.vote_a`),
    voteB: voteFromJson(value.vote_b, `${what}.vote_b`),
  };
}

export function blockFromJson(v: unknown, what = 'block'): Block {
  const b = obj(v, what);
  const last = obj(b.last_commit, `${what}.last_commit`);
  // CometBFT prints the first block's missing last commit as an empty commit of height 0.
  const noLastCommit = last.height === '0';
  return {
    header: headerFromJson(b.header, `${what}.header`),
    txs: arr(obj(b.data, `${what}.data`).txs ?? [], `${what}.data.txs`, 1_000_000).map((tx, i) =>
      b64(tx, `${what}.data.txs[${i}]`),
    ),
    evidence: arr(
      obj(b.evidence, `${what}.evidence`).evidence ?? [],
      `${what}.evidence.evidence`,
      10_000,
    ).map((e, i) => evidenceFromJson(e, `${what}.evidence.evidence[${i}]`)),
    lastCommit: noLastCommit ? null : commitFromJson(last, `${what}.last_commit`),
  };
}

export interface TxEvent {
  readonly type: string;
  readonly attributes: readonly { readonly key: string; readonly value: string }[];
}

/** A tx's outcome: ABCI's CheckTx or ExecTxResult. Code 0 is success; else codespace says why. */
export interface TxOutcome {
  readonly code: number;
  readonly codespace: string;
  readonly log: string;
  readonly events: readonly TxEvent[];
}

const UINT32_MAX = 2 ** 32 - 1;

function outcomeFromJson(v: unknown, what: string): TxOutcome {
  const r = obj(v, what);
  return {
    code: int(r.code, `${what}.code`, 0, UINT32_MAX),
    codespace: str(r.codespace ?? '', `${what}.codespace`),
    log: str(r.log ?? '', `${what}.log`),
    events: arr(r.events ?? [], `${what}.events`, 100_000).map((item, i) => {
      const e = obj(item, `${what}.events[${i}]`);
      return {
        type: str(e.type, `${what}.events[${i}].type`),
        attributes: arr(e.attributes ?? [], `${what}.events[${i}].attributes`, 100_000).map((a, j) => {
          const attr = obj(a, `${what}.events[${i}].attributes[${j}]`);
          return {
            key: str(attr.key, `${what}.events[${i}].attributes[${j}].key`),
            value: str(attr.value, `${what}.events[${i}].attributes[${j}].value`),
          };
        }),
      };
    }),
  };
}

/** The node's tx hash must be the hash of the bytes we sent: it is how the tx is found later. */
function txHashOf(v: unknown, what: string, tx: Uint8Array): Uint8Array {
  const hash = hex(v, what, HASH_BYTES);
  if (!equalBytes(hash, txHash(tx))) throw badResponse(what, 'is not the hash of the tx');
  return hash;
}

// ---------------------------------------------------------------------------------------------
// Results

export interface NodeStatus {
  /** CometBFT's node id: 40 hex digits, the address of the node key. */
  readonly nodeId: string;
  /** The node's libp2p peer id (`node_info.other.peer_id`; empty from a node that sends none). */
  readonly peerId: string;
  /** The chain id the node says it serves. */
  readonly network: string;
  readonly version: string;
  readonly moniker: string;
  /** 0 before the first block. */
  readonly latestBlockHeight: bigint;
  /** Empty before the first block. */
  readonly latestBlockHash: Uint8Array;
  readonly latestAppHash: Uint8Array;
  readonly latestBlockTime: bigint;
  readonly earliestBlockHeight: bigint;
  readonly catchingUp: boolean;
  readonly validatorAddress: Uint8Array;
  readonly votingPower: bigint;
}

/** A header with the commit that signed it. `canonical` is false for the newest block's own commit. */
export interface SignedHeader {
  readonly header: Header;
  readonly commit: Commit;
  readonly canonical: boolean;
}

export interface BroadcastSyncResult {
  readonly hash: Uint8Array;
  readonly code: number;
  readonly codespace: string;
  readonly log: string;
}

export interface BroadcastCommitResult {
  readonly hash: Uint8Array;
  /** 0 when the check refused the tx. */
  readonly height: bigint;
  readonly checkTx: TxOutcome;
  readonly txResult: TxOutcome;
}

export interface TxResult {
  readonly hash: Uint8Array;
  readonly height: bigint;
  readonly index: number;
  readonly tx: Uint8Array;
  readonly txResult: TxOutcome;
  /** The inclusion proof, when asked for (`prove`) and given; null otherwise. Unverified: see LightClient. */
  readonly proof: TxProof | null;
}

/**
 * CometBFT's `TxProof`: the RFC 6962 path from the tx's leaf to the block's data hash. The leaves
 * are the hashes of the block's txs (packages/types/block.ts `dataHashOf`), so `leafHash` is
 * `leafHash(txHash(data))`; `aunts` are the sibling hashes from the leaf up (the root's child last).
 */
export interface TxProof {
  /** The data hash the node says the proof leads to (the verifier uses the verified header's). */
  readonly rootHash: Uint8Array;
  /** The tx bytes the proof is for. */
  readonly data: Uint8Array;
  readonly total: number;
  readonly index: number;
  readonly leafHash: Uint8Array;
  readonly aunts: readonly Uint8Array[];
}

export interface AbciQueryResult {
  readonly code: number;
  readonly codespace: string;
  readonly log: string;
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
  /** The `careledger/smt` proof (encoded), when asked for and given. */
  readonly proof: Uint8Array | null;
  /** The proof is against the app hash in header `height + 1`. */
  readonly height: bigint;
}

export const SMT_PROOF_OP = 'careledger/smt';

/** Throws CLIENT_TX_REJECTED if the node's check refused the tx. */
export function assertAccepted<T extends BroadcastSyncResult>(result: T): T {
  if (result.code !== 0) throw rejected('check', result);
  return result;
}

/** Throws CLIENT_TX_REJECTED if the check refused the tx or its execution in the block failed. */
export function assertCommitted<T extends BroadcastCommitResult>(result: T): T {
  if (result.checkTx.code !== 0) throw rejected('check', result.checkTx);
  if (result.txResult.code !== 0) throw rejected('deliver', result.txResult);
  return result;
}

function rejected(stage: 'check' | 'deliver', r: { code: number; codespace: string; log: string }) {
  return new ClientError(
    'CLIENT_TX_REJECTED',
    `tx refused at ${stage}: ${r.codespace || `code ${r.code}`}${r.log === '' ? '' : ` (${r.log})`}`,
    { stage, code: r.code, codespace: r.codespace, log: r.log },
  );
}

// ---------------------------------------------------------------------------------------------
// The client

export class RpcClient {
  readonly url: string;
  readonly options: RpcClientOptions;
  private nextId = 1;

  constructor(url: string, options: Partial<RpcClientOptions> = {}) {
    this.url = nodeUrl(url).href;
    const merged = { ...defaultRpcClientOptions, ...options };
    this.options = {
      timeoutMs: positiveOption(merged.timeoutMs, 'timeoutMs'),
      commitTimeoutMs: positiveOption(merged.commitTimeoutMs, 'commitTimeoutMs'),
      maxResponseBytes: positiveOption(merged.maxResponseBytes, 'maxResponseBytes'),
    };
  }

  async status(): Promise<NodeStatus> {
    const r = obj(await this.call('status', {}), 'result');
    const info = obj(r.node_info, 'node_info');
    const sync = obj(r.sync_info, 'sync_info');
    const val = obj(r.validator_info, 'validator_info');
    const height = i64(sync.latest_block_height, 'sync_info.latest_block_height', 0n);
    return {
      nodeId: str(info.id, 'node_info.id', 200),
      peerId: str(obj(info.other ?? {}, 'node_info.other').peer_id ?? '', 'node_info.other.peer_id', 200),
      network: str(info.network, 'node_info.network', MAX_CHAIN_ID_LENGTH),
      version: str(info.version, 'node_info.version', 200),
      moniker: str(info.moniker, 'node_info.moniker', 200),
      latestBlockHeight: height,
      latestBlockHash: hex(sync.latest_block_hash, 'sync_info.latest_block_hash', HASH_BYTES, height === 0n),
      latestAppHash: hex(sync.latest_app_hash, 'sync_info.latest_app_hash', HASH_BYTES),
      latestBlockTime: time(sync.latest_block_time, 'sync_info.latest_block_time'),
      earliestBlockHeight: i64(sync.earliest_block_height, 'sync_info.earliest_block_height', 0n),
      catchingUp: bool(sync.catching_up, 'sync_info.catching_up'),
      validatorAddress: hex(val.address, 'validator_info.address', ADDRESS_BYTES),
      votingPower: i64(val.voting_power, 'validator_info.voting_power', 0n),
    };
  }

  /** The block at `height` (the latest if absent) and the block id the node claims for it. */
  async block(height?: bigint): Promise<{ blockId: Uint8Array; block: Block }> {
    const r = obj(await this.call('block', heightParams(height)), 'result');
    const block = blockFromJson(r.block);
    checkHeight(block.header.height, height, 'block.header.height');
    return { blockId: blockIdHash(r.block_id, 'block_id', false), block };
  }

  /** The outcomes of block `height`'s txs, in block order. Unverified: see LightClient.verifiedTx. */
  async blockResults(height: bigint): Promise<{ height: bigint; txsResults: TxOutcome[] }> {
    const r = obj(await this.call('block_results', heightParams(height)), 'result');
    const at = i64(r.height, 'height', 1n);
    checkHeight(at, height, 'height');
    // CometBFT answers null for a block without txs.
    const results = arr(r.txs_results ?? [], 'txs_results', 1_000_000);
    return { height: at, txsResults: results.map((v, i) => outcomeFromJson(v, `txs_results[${i}]`)) };
  }

  /** The signed header at `height` (the latest if absent). Unverified: see LightClient. */
  async commit(height?: bigint): Promise<SignedHeader> {
    const r = obj(await this.call('commit', heightParams(height)), 'result');
    const signed = obj(r.signed_header, 'signed_header');
    const header = headerFromJson(signed.header, 'signed_header.header');
    const commit = commitFromJson(signed.commit, 'signed_header.commit');
    checkHeight(header.height, height, 'signed_header.header.height');
    if (commit.height !== header.height)
      throw badResponse('signed_header.commit.height', 'is not the header height');
    return { header, commit, canonical: bool(r.canonical, 'canonical') };
  }

  /** The whole validator set of `height` (every page), in the canonical order commits index. */
  async validators(height: bigint): Promise<ValidatorSet> {
    checkHeightArg(height);
    const all: Validator[] = [];
    let total = -1;
    for (let page = 1; total < 0 || all.length < total; page++) {
      const r = obj(
        await this.call('validators', {
          height: height.toString(),
          page: String(page),
          per_page: String(VALIDATORS_PER_PAGE),
        }),
        'result',
      );
      if (i64(r.block_height, 'block_height', 1n) !== height)
        throw badResponse('block_height', 'is not the height asked');
      const pageTotal = int(Number(i64(r.total, 'total', 1n)), 'total', 1, MAX_VALIDATORS);
      if (total >= 0 && pageTotal !== total) throw badResponse('total', 'changed between pages');
      total = pageTotal;
      const items = arr(r.validators, 'validators', VALIDATORS_PER_PAGE);
      if (i64(r.count, 'count', 0n) !== BigInt(items.length))
        throw badResponse('count', 'is not the page length');
      // A short page before the total would loop forever; a long one would overflow the set.
      if (items.length === 0 || all.length + items.length > total)
        throw badResponse('validators', 'pages do not add up to the total');
      items.forEach((v, i) => {
        all.push(validatorFromJson(v, `validators[${(page - 1) * VALIDATORS_PER_PAGE + i}]`));
      });
    }
    try {
      return makeValidatorSet(all);
    } catch (err) {
      throw badResponse('validators', (err as Error).message);
    }
  }

  async broadcastTxSync(tx: Uint8Array): Promise<BroadcastSyncResult> {
    checkTxArg(tx);
    const r = obj(await this.call('broadcast_tx_sync', { tx: b64String(tx) }), 'result');
    return {
      hash: txHashOf(r.hash, 'hash', tx),
      code: int(r.code, 'code', 0, UINT32_MAX),
      codespace: str(r.codespace ?? '', 'codespace'),
      log: str(r.log ?? '', 'log'),
    };
  }

  /** Waits for the tx's block. Returns refusals too: see `assertCommitted`. */
  async broadcastTxCommit(tx: Uint8Array): Promise<BroadcastCommitResult> {
    checkTxArg(tx);
    const r = obj(
      await this.call('broadcast_tx_commit', { tx: b64String(tx) }, this.options.commitTimeoutMs),
      'result',
    );
    const checkTx = outcomeFromJson(r.check_tx, 'check_tx');
    const height = i64(r.height, 'height', 0n);
    if ((checkTx.code === 0) !== height > 0n) throw badResponse('height', 'does not agree with check_tx');
    return {
      hash: txHashOf(r.hash, 'hash', tx),
      height,
      checkTx,
      txResult: outcomeFromJson(r.tx_result, 'tx_result'),
    };
  }

  /**
   * Waits until the node has committed the tx `hash` (polling `tx` every TX_POLL_MS), for a tx
   * already submitted: a retry answered TX_IN_MEMPOOL is the first send, still pending. Fails with
   * CLIENT_RPC_TIMEOUT after `timeoutMs` (default: the commit timeout). Unverified: see LightClient.
   */
  async waitForTx(hash: Uint8Array, timeoutMs = this.options.commitTimeoutMs): Promise<TxResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.tx(hash);
      } catch (err) {
        const notFound =
          err instanceof ClientError && err.code === 'CLIENT_RPC_ERROR' && /not found/.test(err.message);
        if (!notFound) throw err;
      }
      if (Date.now() >= deadline)
        throw new ClientError(
          'CLIENT_RPC_TIMEOUT',
          `tx ${Buffer.from(hash).toString('hex').toUpperCase()} was not committed within ${timeoutMs} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, TX_POLL_MS));
    }
  }

  /** A committed tx by hash; `prove` asks for its inclusion proof. Unverified: see LightClient. */
  async tx(hash: Uint8Array, opts: { prove?: boolean } = {}): Promise<TxResult> {
    if (!(hash instanceof Uint8Array) || hash.length !== HASH_BYTES)
      throw new ClientError('CLIENT_ARGUMENT_INVALID', 'tx hash must be 32 bytes');
    const prove = opts.prove === true;
    const r = obj(await this.call('tx', { hash: b64String(hash), prove }), 'result');
    const tx = b64(r.tx, 'tx');
    return {
      hash: txHashOf(r.hash, 'hash', tx),
      height: i64(r.height, 'height', 1n),
      index: int(r.index, 'index', 0, UINT32_MAX),
      tx,
      txResult: outcomeFromJson(r.tx_result, 'tx_result'),
      proof: prove ? txProofFromJson(r.proof) : null,
    };
  }

  /** An application query; `height` absent is the latest state. Unverified: see LightClient. */
  async abciQuery(
    path: string,
    data: Uint8Array,
    opts: { height?: bigint; prove?: boolean } = {},
  ): Promise<AbciQueryResult> {
    if (typeof path !== 'string' || path.length > 1024)
      throw new ClientError(
        'CLIENT_ARGUMENT_INVALID',
        'query path must be a string of at most 1024 characters',
      );
    if (!(data instanceof Uint8Array))
      throw new ClientError('CLIENT_ARGUMENT_INVALID', 'query data must be bytes');
    if (opts.height !== undefined) checkHeightArg(opts.height);
    const params: Json = { path, data: Buffer.from(data).toString('hex'), prove: opts.prove === true };
    if (opts.height !== undefined) params.height = opts.height.toString();
    const r = obj(obj(await this.call('abci_query', params), 'result').response, 'response');
    const key = b64(r.key ?? '', 'response.key');
    return {
      code: int(r.code, 'response.code', 0, UINT32_MAX),
      codespace: str(r.codespace ?? '', 'response.codespace'),
      log: str(r.log ?? '', 'response.log'),
      key,
      value: r.value === null || r.value === undefined ? null : b64(r.value, 'response.value'),
      proof: proofFromJson(r.proofOps, key),
      height: i64(r.height, 'response.height', 0n),
    };
  }

  /** One JSON-RPC call; resolves to its `result`. */
  async call(method: string, params: Json, timeoutMs = this.options.timeoutMs): Promise<unknown> {
    const id = this.nextId++;
    const signal = AbortSignal.timeout(timeoutMs);
    let text: string;
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal,
      });
      text = await readBounded(res, this.options.maxResponseBytes, method);
      if (res.status !== 200 && !text.trimStart().startsWith('{'))
        throw badResponse(method, `answered HTTP ${res.status}`);
    } catch (err) {
      if (err instanceof ClientError) throw err;
      if (signal.aborted)
        throw new ClientError(
          'CLIENT_RPC_TIMEOUT',
          `${method}: no answer from ${this.url} within ${timeoutMs} ms`,
        );
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ClientError('CLIENT_RPC_UNREACHABLE', `${method}: cannot reach ${this.url} (${cause})`, {
        cause: String(cause),
      });
    }
    let envelope: Json;
    try {
      envelope = obj(JSON.parse(text), 'body');
    } catch {
      throw badResponse(method, 'is not JSON');
    }
    if (envelope.jsonrpc !== '2.0' || envelope.id !== id)
      throw badResponse(method, 'is not the answer to this call');
    if (envelope.error !== undefined) {
      const e = obj(envelope.error, 'error');
      const code = int(e.code, 'error.code', -(2 ** 31), 2 ** 31);
      const message = str(e.message, 'error.message', 10_000);
      const data = e.data === undefined ? '' : str(e.data, 'error.data', 10_000);
      throw new ClientError('CLIENT_RPC_ERROR', `${method}: ${message}${data === '' ? '' : `: ${data}`}`, {
        rpcCode: code,
        rpcMessage: message,
        rpcData: data,
      });
    }
    if (!('result' in envelope)) throw badResponse(method, 'has neither result nor error');
    return envelope.result;
  }
}

/** Reads the body, refusing it as soon as it passes `max` bytes (a declared length is checked first). */
async function readBounded(res: Response, max: number, method: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  const tooLarge = () => badResponse(method, `is larger than ${max} bytes`);
  if (declared > max) {
    await res.body?.cancel();
    throw tooLarge();
  }
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function proofFromJson(v: unknown, key: Uint8Array): Uint8Array | null {
  if (v === null || v === undefined) return null;
  const ops = arr(obj(v, 'response.proofOps').ops, 'response.proofOps.ops', 1);
  if (ops.length === 0) return null;
  const op = obj(ops[0], 'response.proofOps.ops[0]');
  if (op.type !== SMT_PROOF_OP) throw badResponse('response.proofOps.ops[0].type', `is not ${SMT_PROOF_OP}`);
  if (!equalBytes(b64(op.key, 'response.proofOps.ops[0].key'), key))
    throw badResponse('response.proofOps.ops[0].key', 'is not the response key');
  return b64(op.data, 'response.proofOps.ops[0].data');
}

/** CometBFT's bound on a proof's aunts (a tree of 2^100 txs); a block holds far fewer. */
export const MAX_TX_PROOF_AUNTS = 100;

/** The `proof` of a `tx` answer: null when the node gave none (`total` 0, as without `prove`). */
function txProofFromJson(v: unknown): TxProof | null {
  if (v === null || v === undefined) return null;
  const p = obj(v, 'proof');
  const inner = obj(p.proof, 'proof.proof');
  const total = int(Number(i64(inner.total, 'proof.proof.total', 0n)), 'proof.proof.total', 0, UINT32_MAX);
  if (total === 0) return null;
  const index = int(Number(i64(inner.index, 'proof.proof.index', 0n)), 'proof.proof.index', 0, total - 1);
  return {
    rootHash: hex(p.root_hash, 'proof.root_hash', HASH_BYTES),
    data: b64(p.data, 'proof.data'),
    total,
    index,
    leafHash: b64(inner.leaf_hash, 'proof.proof.leaf_hash', HASH_BYTES),
    aunts: arr(inner.aunts ?? [], 'proof.proof.aunts', MAX_TX_PROOF_AUNTS).map((a, i) =>
      b64(a, `proof.proof.aunts[${i}]`, HASH_BYTES),
    ),
  };
}

function b64String(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

function heightParams(height: bigint | undefined): Json {
  if (height === undefined) return {};
  checkHeightArg(height);
  return { height: height.toString() };
}

function checkHeightArg(height: unknown): void {
  if (typeof height !== 'bigint' || height < 1n || height > INT64_MAX)
    throw new ClientError('CLIENT_ARGUMENT_INVALID', 'height must be a positive 64-bit bigint');
}

function checkTxArg(tx: unknown): void {
  if (!(tx instanceof Uint8Array) || tx.length === 0)
    throw new ClientError('CLIENT_ARGUMENT_INVALID', 'tx must be non-empty bytes');
}

function checkHeight(got: bigint, asked: bigint | undefined, what: string): void {
  if (asked !== undefined && got !== asked)
    throw badResponse(what, `is ${got}, not the height asked (${asked})`);
}
