/**
 * The RPC methods a node serves, with CometBFT v0.38's names, parameters (and their order, for
 * positional JSON-RPC params), result shapes and error messages. Parameters are read at the
 * boundary (node/rpc.ts readers): a value that is not its type is "Invalid params"; a well-typed
 * value the method cannot serve (a height past the chain, an unknown tx) is the method's error,
 * -32603 with CometBFT's sentence.
 *
 * It also turns each committed block into CometBFT's events (NewBlock, NewBlockHeader, one Tx per
 * tx, ValidatorSetUpdates when the set changes) for the WebSocket subscriptions.
 */
import type { ConsensusState } from '../consensus/core/state-machine.ts';
import type { ProposedBlock } from '../consensus/driver.ts';
import type { P2PHost } from '../p2p/host.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { toHex } from '../packages/crypto/hash.ts';
import { type Block, blockIdOf, txHash } from '../packages/types/block.ts';
import type { ChainState } from '../packages/types/chain-state.ts';
import { checkTxBytes, MAX_TX_BYTES } from '../packages/types/tx.ts';
import { addressOf, type Validator, type ValidatorSet } from '../packages/types/validator.ts';
import type { VoteType } from '../packages/types/vote.ts';
import type { AppEvent, Application, ExecTxResult } from '../state/application.ts';
import type { BlockStore } from '../state/block-store.ts';
import type { Db } from '../state/db.ts';
import {
  flattenEvents,
  MAX_QUERY_LENGTH,
  parseQuery,
  type Query,
  QueryError,
  queryText,
} from './events-query.ts';
import type { Home } from './home.ts';
import type { Mempool } from './mempool.ts';
import {
  boolParam,
  bytesParam,
  type CallContext,
  countParam,
  hashParam,
  intParam,
  invalidParams,
  methodError,
  type RpcMethod,
  type RpcParams,
  stringParam,
  type Transport,
} from './rpc.ts';
import {
  base64,
  blockIdJson,
  blockJson,
  blockMetaJson,
  checkTxJson,
  commitJson,
  consensusParamsJson,
  eventJson,
  execTxResultJson,
  genesisJson,
  headerJson,
  hexUpper,
  pubKeyJson,
  rfc3339,
  txProofJson,
  validatorJson,
  validatorUpdateJson,
  ZERO_TIME,
} from './rpc-format.ts';
import { EventBus, SubscriptionError } from './rpc-ws.ts';
import { SearchError, searchBlocks, searchTxs } from './tx-index.ts';

/** tx_search and block_search running at once on a node, over every connection. */
export const MAX_SEARCHES_AT_ONCE = 4;

export const NODE_VERSION = '0.1.0';
export const APP_NAME = 'careledger-kvstore';

export type BlockResults = {
  readonly txResults: readonly ExecTxResult[];
  readonly events: readonly AppEvent[];
};

/** What the RPC needs from a node (CareLedgerNode has all of it; tests pass a smaller one). */
export interface RpcNode {
  readonly home: Pick<Home, 'config' | 'genesis' | 'validatorKey'>;
  readonly peerId: string;
  readonly chain: ChainState;
  readonly chainId: string;
  readonly isCatchingUp: boolean;
  readonly db: Db;
  readonly blocks: BlockStore;
  readonly app: Pick<Application, 'info' | 'checkTx' | 'query'>;
  readonly mempool: Pick<Mempool, 'size' | 'bytes' | 'reap'>;
  readonly p2p: Pick<P2PHost, 'peers' | 'addresses'>;
  readonly driver: { readonly consensusState: Readonly<ConsensusState<ProposedBlock>> };
  readonly events: {
    on(event: 'block', listener: (block: Block, results: BlockResults, after: ChainState) => void): unknown;
  };
  readonly commitWaiters: Map<string, ((result: { height: bigint; result: ExecTxResult }) => void)[]>;
  submitTx(
    bytes: Uint8Array,
  ): { ok: true; hash: Uint8Array } | { ok: false; hash: Uint8Array; error: CareLedgerError };
}

export interface MethodOptions {
  /** broadcast_tx_commit waits this long for the commit (CometBFT's timeout_broadcast_tx_commit). */
  readonly broadcastTxCommitTimeoutMs: number;
  /** broadcast_tx_commit calls waiting at once. */
  readonly maxCommitWaiters: number;
  /**
   * Admission control: broadcast_tx_* refuse a new tx at once with MEMPOOL_BUSY (code 1, before
   * any check, so a refusal costs a hash, not a verify) while the mempool holds at least this
   * fraction of its `mempool.max_txs`, or while the event loop is late by `maxEventLoopLagMs` or
   * more (the node is CPU-bound: requests are already queueing in front of it). Overload then
   * turns into quick, typed refusals the client can retry, instead of a full pool, huge blocks,
   * a request backlog and tens of seconds of latency. Txs from peers are still taken up to the
   * pool's limit. A fraction of 1 turns the first test off (MEMPOOL_FULL still applies).
   */
  readonly mempoolBusyFraction: number;
  /** See `mempoolBusyFraction`; 0 turns the lag test off. */
  readonly maxEventLoopLagMs: number;
  /** The event loop's current lag in ms; by default sampled here by a 20 ms timer (unref'd). */
  readonly eventLoopLag?: () => number;
}

const LAG_SAMPLE_MS = 20;

/** How late a repeating timer fires, in ms: 0 when the event loop keeps up. Never holds the process open. */
export function sampleEventLoopLag(): () => number {
  let lag = 0;
  let expected = performance.now() + LAG_SAMPLE_MS;
  setInterval(() => {
    const now = performance.now();
    lag = Math.max(0, now - expected);
    expected = now + LAG_SAMPLE_MS;
  }, LAG_SAMPLE_MS).unref();
  return () => Math.max(lag, performance.now() - expected);
}

export const defaultMethodOptions: MethodOptions = {
  broadcastTxCommitTimeoutMs: 10_000,
  maxCommitWaiters: 1000,
  mempoolBusyFraction: 0.5,
  // Off by default: on a loaded 2-core machine a tx arriving just after a long block would be
  // refused although the node recovers within a block, and no throughput gain was measured
  // (bench/THROUGHPUT.md). Operators of busy nodes can turn it on.
  maxEventLoopLagMs: 0,
};

/** CometBFT's pagination: 30 per page by default, at most 100. */
export const DEFAULT_PER_PAGE = 30;
export const MAX_PER_PAGE = 100;
/** At most this many block metas per `blockchain` call, newest first. */
export const BLOCKCHAIN_LIMIT = 20n;

export function perPageOf(params: RpcParams, name = 'per_page'): number {
  const n = countParam(params, name);
  if (n === null || n < 1) return DEFAULT_PER_PAGE;
  return n > MAX_PER_PAGE ? MAX_PER_PAGE : n;
}

/** CometBFT's `validatePage`: absent is 1; otherwise within [1, pages]. */
export function pageOf(params: RpcParams, perPage: number, total: number): number {
  const page = countParam(params, 'page');
  if (page === null) return 1;
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (page < 1 || page > pages) throw methodError(`page should be within [1, ${pages}] range, given ${page}`);
  return page;
}

/** Tx bytes: base64 in JSON-RPC (CometBFT), `0x…` hex or a quoted string in a URI. */
export function txParam(params: RpcParams, transport: Transport): Uint8Array {
  const tx = bytesParam(params, 'tx', transport, 'base64');
  if (tx === null || tx.length === 0) throw invalidParams('tx is required');
  return tx;
}

function queryParam(
  params: RpcParams,
  transport: Transport,
  failurePrefix = '',
): { text: string; query: Query } {
  const text = stringParam(params, 'query', transport);
  if (text === null || text.trim() === '') throw invalidParams('query is required');
  if (text.length > MAX_QUERY_LENGTH) throw methodError('maximum query length exceeded');
  try {
    return { text, query: parseQuery(text) };
  } catch (err) {
    if (err instanceof QueryError) throw methodError(`${failurePrefix}${err.message}`);
    throw err;
  }
}

function orderParam(
  params: RpcParams,
  transport: Transport,
  fallback: 'asc' | 'desc',
  what: string,
): 'asc' | 'desc' {
  const order = stringParam(params, 'order_by', transport) ?? '';
  if (order === '') return fallback;
  if (order === 'asc' || order === 'desc') return order;
  throw methodError(what.replace('%s', order));
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

const STEP_NUMBER: Record<string, number> = { propose: 3, prevote: 4, precommit: 6 };
const VOTE_NAMES: Record<number, string> = {
  1: 'SIGNED_MSG_TYPE_PREVOTE(Prevote)',
  2: 'SIGNED_MSG_TYPE_PRECOMMIT(Precommit)',
};

function fingerprint(bytes: Uint8Array): string {
  return hexUpper(bytes.subarray(0, 6));
}

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

export function rpcMethods(node: RpcNode, options: Partial<MethodOptions> = {}): Map<string, RpcMethod> {
  const opts: MethodOptions = { ...defaultMethodOptions, ...options };
  if (!(opts.mempoolBusyFraction > 0 && opts.mempoolBusyFraction <= 1))
    throw new CareLedgerError('RPC_OPTIONS_INVALID', 'mempoolBusyFraction must be above 0 and at most 1');
  if (!(opts.maxEventLoopLagMs >= 0 && Number.isFinite(opts.maxEventLoopLagMs)))
    throw new CareLedgerError('RPC_OPTIONS_INVALID', 'maxEventLoopLagMs must be a number of ms, 0 or more');
  const bus = new EventBus();
  let pendingCommits = 0;

  const latest = (): bigint => node.chain.lastHeight;
  const base = (): bigint => node.chain.initialHeight;

  /** CometBFT's `getHeight`: absent is `latestHeight`; otherwise within [base, latestHeight]. */
  const heightOf = (params: RpcParams, latestHeight = latest()): bigint => {
    const h = intParam(params, 'height');
    if (h === null) {
      if (latestHeight < base()) throw methodError('no block has been committed yet');
      return latestHeight;
    }
    if (h <= 0n) throw methodError(`height must be greater than 0, but got ${h}`);
    if (h > latestHeight)
      throw methodError(
        `height ${h} must be less than or equal to the current blockchain height ${latestHeight}`,
      );
    if (h < base()) throw methodError(`height ${h} is not available, lowest height is ${base()}`);
    return h;
  };

  const loadBlock = async (height: bigint): Promise<Block> => {
    const b = await node.blocks.block(height);
    if (b === null) throw methodError(`block at height ${height} is not available`);
    return b;
  };

  const blockResult = (b: Block): Record<string, unknown> => {
    const height = b.header.height;
    return {
      block_id: blockIdJson(blockIdOf(b.header)),
      block: blockJson(b, node.blocks.validatorsAt(height - 1n), node.blocks.validatorsAt(height)),
    };
  };

  /** The app hash after executing `height` (it is in the next header). */
  const appHashAfter = async (height: bigint): Promise<Uint8Array> =>
    height >= latest() ? node.chain.appHash : (await loadBlock(height + 1n)).header.appHash;

  const txResultJson = async (
    height: bigint,
    index: number,
    prove: boolean,
    cache: Map<bigint, { block: Block; results: BlockResults | null }>,
  ): Promise<Record<string, unknown>> => {
    let entry = cache.get(height);
    if (entry === undefined) {
      entry = { block: await loadBlock(height), results: await node.blocks.results(height) };
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
      proof: txProofJson(prove ? entry.block : null, index),
    };
  };

  const m = new Map<string, RpcMethod>();
  const def = (name: string, params: readonly string[], run: RpcMethod['run'], wsOnly = false): void => {
    m.set(name, wsOnly ? { params, run, wsOnly } : { params, run });
  };

  def('health', [], async () => ({}));

  def('status', [], async () => {
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
        latest_block_height: (block === null ? 0n : height).toString(),
        latest_block_time: rfc3339(node.chain.lastBlockTime),
        earliest_block_hash: earliest === null ? '' : hexUpper(blockIdOf(earliest.header)),
        earliest_app_hash: earliest === null ? '' : hexUpper(earliest.header.appHash),
        earliest_block_height: (earliest === null ? 0n : base()).toString(),
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
  });

  def('net_info', [], async () => {
    const peers = node.p2p.peers().filter((p) => p.connected);
    return {
      listening: true,
      listeners: node.p2p.addresses().map((a) => `Listener(@${a})`),
      n_peers: String(peers.length),
      peers: peers.map((p) => ({
        node_info: {
          protocol_version: { p2p: '8', block: '11', app: '1' },
          id: p.id,
          listen_addr: p.addrs[0] ?? '',
          network: node.chainId,
          version: '',
          channels: '',
          moniker: '',
          other: { tx_index: '', rpc_address: '' },
        },
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
  });

  def('genesis', [], async () => ({
    genesis: genesisJson(
      node.home.genesis,
      consensusParamsJson(node.home.genesis.blockLimits, node.chain.evidenceMaxAge),
    ),
  }));

  def('blockchain', ['minHeight', 'maxHeight'], async (params) => {
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
      metas.push(blockMetaJson(await loadBlock(h), bytes?.length ?? 0));
    }
    return { last_height: top.toString(), block_metas: metas };
  });

  def('block', ['height'], async (params) => blockResult(await loadBlock(heightOf(params))));

  def('block_by_hash', ['hash'], async (params, ctx) => {
    const height = await node.blocks.heightOf(hashParam(params, 'hash', ctx.transport));
    if (height === null) return { block_id: blockIdJson(new Uint8Array(0)), block: null };
    return blockResult(await loadBlock(height));
  });

  def('header', ['height'], async (params) => ({
    header: headerJson((await loadBlock(heightOf(params))).header),
  }));

  def('header_by_hash', ['hash'], async (params, ctx) => {
    const height = await node.blocks.heightOf(hashParam(params, 'hash', ctx.transport));
    return { header: height === null ? null : headerJson((await loadBlock(height)).header) };
  });

  def('block_results', ['height'], async (params) => {
    const height = heightOf(params);
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
  });

  def('commit', ['height'], async (params) => {
    const height = heightOf(params);
    const block = await loadBlock(height);
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
  });

  def('validators', ['height', 'page', 'per_page'], async (params) => {
    // As CometBFT: the latest height here is the next one, whose set is already known.
    const height = heightOf(params, latest() + 1n);
    const set = node.blocks.validatorsAt(height);
    if (set === undefined) throw methodError(`could not find validator set for height #${height}`);
    const total = set.validators.length;
    const perPage = perPageOf(params);
    const page = pageOf(params, perPage, total);
    const slice = set.validators.slice((page - 1) * perPage, page * perPage);
    return {
      block_height: height.toString(),
      validators: slice.map(validatorJson),
      count: String(slice.length),
      total: String(total),
    };
  });

  def('consensus_params', ['height'], async (params) => {
    const height = heightOf(params, latest() + 1n);
    return {
      block_height: height.toString(),
      consensus_params: consensusParamsJson(node.chain.blockLimits, node.chain.evidenceMaxAge),
    };
  });

  def('consensus_state', [], async () => {
    const s = node.driver.consensusState;
    const validators = s.validators.validators;
    const total = s.validators.totalVotingPower;
    const votesOf = (round: number, type: VoteType) => {
      const set = type === 1 ? s.votes.prevotes(round) : s.votes.precommits(round);
      const byIndex = new Map<number, { blockId: Uint8Array; signature: Uint8Array }>();
      for (const v of set.allVotes()) if (!byIndex.has(v.validatorIndex)) byIndex.set(v.validatorIndex, v);
      let power = 0n;
      const bits = validators.map((val, i) => {
        if (!byIndex.has(i)) return '_';
        power += val.votingPower;
        return 'x';
      });
      const votes = validators.map((val, i) => {
        const v = byIndex.get(i);
        if (v === undefined) return 'nil-Vote';
        const block = v.blockId.length === 0 ? '000000000000' : fingerprint(v.blockId);
        return `Vote{${i}:${fingerprint(val.address)} ${s.height}/${String(round).padStart(2, '0')}/${VOTE_NAMES[type]} ${block} ${fingerprint(v.signature)} @ ${ZERO_TIME}}`;
      });
      const fraction = total === 0n ? '0.00' : (Number((power * 10000n) / total) / 10000).toFixed(2);
      return { votes, bitArray: `BA{${validators.length}:${bits.join('')}} ${power}/${total} = ${fraction}` };
    };
    const rounds = s.votes.roundsSeen().sort((a, b) => a - b);
    const proposerIndex = s.proposers.get(s.round) ?? -1;
    const proposal = s.proposals.get(s.round);
    return {
      round_state: {
        'height/round/step': `${s.height}/${s.round}/${STEP_NUMBER[s.step] ?? 1}`,
        start_time: ZERO_TIME,
        proposal_block_hash: proposal === undefined ? '' : hexUpper(proposal.value.id),
        locked_block_hash: s.lockedValue === null ? '' : hexUpper(s.lockedValue.id),
        valid_block_hash: s.validValue === null ? '' : hexUpper(s.validValue.id),
        height_vote_set: rounds.map((round) => {
          const prevotes = votesOf(round, 1);
          const precommits = votesOf(round, 2);
          return {
            round,
            prevotes: prevotes.votes,
            prevotes_bit_array: prevotes.bitArray,
            precommits: precommits.votes,
            precommits_bit_array: precommits.bitArray,
          };
        }),
        proposer: {
          address: proposerIndex < 0 ? '' : hexUpper(validators[proposerIndex]?.address ?? new Uint8Array(0)),
          index: proposerIndex,
        },
      },
    };
  });

  def('unconfirmed_txs', ['limit'], async (params) => {
    const txs = node.mempool.reap(perPageOf(params, 'limit'), Number.POSITIVE_INFINITY);
    return {
      n_txs: String(txs.length),
      total: String(node.mempool.size),
      total_bytes: String(node.mempool.bytes),
      txs: txs.map((t) => base64(t.bytes)),
    };
  });

  def('num_unconfirmed_txs', [], async () => ({
    n_txs: String(node.mempool.size),
    total: String(node.mempool.size),
    total_bytes: String(node.mempool.bytes),
    txs: null,
  }));

  def('tx', ['hash', 'prove'], async (params, ctx) => {
    const hash = hashParam(params, 'hash', ctx.transport);
    const prove = boolParam(params, 'prove');
    const location = await node.blocks.txLocation(hash);
    if (location === null) throw methodError(`tx (${hexUpper(hash)}) not found`);
    return txResultJson(location.height, location.index, prove, new Map());
  });

  // Each search may scan MAX_SCAN index entries, and a timed-out call runs on: past this many at
  // once, a search is refused at once rather than queued.
  let searches = 0;
  const search = async <T>(run: () => Promise<T>): Promise<T> => {
    if (searches >= MAX_SEARCHES_AT_ONCE)
      throw methodError(`too many searches in progress (at most ${MAX_SEARCHES_AT_ONCE}); try again shortly`);
    searches++;
    try {
      return await run();
    } catch (err) {
      if (err instanceof SearchError) throw methodError(err.message);
      throw err;
    } finally {
      searches--;
    }
  };

  def('tx_search', ['query', 'prove', 'page', 'per_page', 'order_by'], async (params, ctx) => {
    const { query } = queryParam(params, ctx.transport);
    const prove = boolParam(params, 'prove');
    const order = orderParam(
      params,
      ctx.transport,
      'asc',
      'invalid order_by: expected either `asc` or `desc` or empty but got %s',
    );
    const perPage = perPageOf(params);
    const found = await search(() => searchTxs(node.db, query, (h) => node.blocks.txLocation(h)));
    if (order === 'desc') found.reverse();
    const page = pageOf(params, perPage, found.length);
    const cache = new Map<bigint, { block: Block; results: BlockResults | null }>();
    const txs = [];
    for (const p of found.slice((page - 1) * perPage, page * perPage))
      txs.push(await txResultJson(p.height, p.index, prove, cache));
    return { txs, total_count: String(found.length) };
  });

  def('block_search', ['query', 'page', 'per_page', 'order_by'], async (params, ctx) => {
    const { query } = queryParam(params, ctx.transport);
    const order = orderParam(
      params,
      ctx.transport,
      'desc',
      'expected order_by to be either `asc` or `desc` or empty',
    );
    const perPage = perPageOf(params);
    const found = await search(() => searchBlocks(node.db, query, base(), latest()));
    const total = Array.isArray(found) ? found.length : Number(found.hi - found.lo + 1n);
    const page = pageOf(params, perPage, total);
    const heights: bigint[] = [];
    for (let i = (page - 1) * perPage; i < Math.min(total, page * perPage); i++) {
      const k = order === 'asc' ? i : total - 1 - i;
      heights.push(Array.isArray(found) ? found[k]! : found.lo + BigInt(k));
    }
    const blocks = [];
    for (const h of heights) blocks.push(blockResult(await loadBlock(h)));
    return { blocks, total_count: String(total) };
  });

  const lagOf = opts.eventLoopLag ?? (opts.maxEventLoopLagMs > 0 ? sampleEventLoopLag() : (): number => 0);
  const busy = (): string | null => {
    const busyAt = Math.max(1, Math.ceil(node.home.config.mempool.maxTxs * opts.mempoolBusyFraction));
    if (node.mempool.size >= busyAt) return `${node.mempool.size} txs pending, admission stops at ${busyAt}`;
    if (opts.maxEventLoopLagMs === 0) return null;
    const lag = lagOf();
    if (lag >= opts.maxEventLoopLagMs)
      return `the node is ${Math.round(lag)} ms behind, admission stops at ${opts.maxEventLoopLagMs}`;
    return null;
  };
  const broadcast = (tx: Uint8Array) => {
    const why = busy();
    if (why !== null) {
      return {
        code: 1,
        data: '',
        log: `mempool is busy (${why}): retry later`,
        codespace: 'MEMPOOL_BUSY',
        hash: hexUpper(txHash(tx)),
      };
    }
    const submitted = node.submitTx(tx);
    return submitted.ok
      ? { code: 0, data: '', log: '', codespace: '', hash: hexUpper(submitted.hash) }
      : {
          code: 1,
          data: '',
          log: submitted.error.message,
          codespace: submitted.error.code,
          hash: hexUpper(submitted.hash),
        };
  };

  def('broadcast_tx_async', ['tx'], async (params, ctx) => {
    // CareLedger checks synchronously anyway; a refusal is reported as CometBFT reports a
    // mempool error from the async path: as the call's error.
    const result = broadcast(txParam(params, ctx.transport));
    if (result.code !== 0) throw methodError(`${result.codespace}: ${result.log}`);
    return result;
  });

  def('broadcast_tx_sync', ['tx'], async (params, ctx) => broadcast(txParam(params, ctx.transport)));

  def('broadcast_tx_commit', ['tx'], async (params, ctx) => {
    const tx = txParam(params, ctx.transport);
    const hash = txHash(tx);
    if (pendingCommits >= opts.maxCommitWaiters)
      throw methodError(`maximum number of subscriptions reached: ${opts.maxCommitWaiters}`);
    // Wait before submitting, so a commit right after the check cannot be missed.
    const key = toHex(hash);
    let resolve!: (r: { height: bigint; result: ExecTxResult }) => void;
    const committed = new Promise<{ height: bigint; result: ExecTxResult }>((r) => {
      resolve = r;
    });
    const waiters = node.commitWaiters.get(key) ?? [];
    waiters.push(resolve);
    node.commitWaiters.set(key, waiters);
    pendingCommits++;
    let timer: NodeJS.Timeout | undefined;
    try {
      const checked = broadcast(tx);
      if (checked.code !== 0) {
        return {
          check_tx: checkTxJson(checked.code, checked.codespace, checked.log),
          tx_result: execTxResultJson(null),
          hash: checked.hash,
          height: '0',
        };
      }
      const timeout = new Promise<null>((r) => {
        timer = setTimeout(() => r(null), opts.broadcastTxCommitTimeoutMs);
      });
      const outcome = await Promise.race([committed, timeout]);
      if (outcome === null) throw methodError('timed out waiting for tx to be included in a block');
      return {
        check_tx: checkTxJson(0, '', ''),
        tx_result: execTxResultJson(outcome.result),
        hash: checked.hash,
        height: outcome.height.toString(),
      };
    } finally {
      clearTimeout(timer);
      pendingCommits--;
      const list = node.commitWaiters.get(key);
      if (list !== undefined) {
        const i = list.indexOf(resolve);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) node.commitWaiters.delete(key);
      }
    }
  });

  def('check_tx', ['tx'], async (params, ctx) => {
    const tx = txParam(params, ctx.transport);
    try {
      if (tx.length > MAX_TX_BYTES)
        throw new CareLedgerError('TX_TOO_LARGE', `tx of ${tx.length} bytes exceeds ${MAX_TX_BYTES}`);
      const refused = node.app.checkTx(checkTxBytes(node.chainId, tx), false);
      return refused === null ? checkTxJson(0, '', '') : checkTxJson(1, refused.code, refused.message);
    } catch (err) {
      if (err instanceof CareLedgerError) return checkTxJson(1, err.code, err.message);
      throw err;
    }
  });

  def('abci_info', [], async () => {
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
  });

  def('abci_query', ['path', 'data', 'height', 'prove'], async (params, ctx) => {
    const path = stringParam(params, 'path', ctx.transport) ?? '';
    const data = bytesParam(params, 'data', ctx.transport, 'hex') ?? new Uint8Array(0);
    const prove = boolParam(params, 'prove');
    // abci_query's height is a plain int64: 0 (or absent) is the latest state.
    const h = intParam(params, 'height');
    const height = h === null || h === 0n ? null : heightOf(params);
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
  });

  // WebSocket only.

  const sessionOf = (ctx: CallContext) => {
    if (ctx.session === null) throw methodError('subscriptions need a WebSocket connection');
    return ctx.session;
  };

  def(
    'subscribe',
    ['query'],
    async (params, ctx) => {
      const session = sessionOf(ctx);
      const { text, query } = queryParam(params, ctx.transport, 'failed to parse query: ');
      try {
        bus.subscribe(session, ctx.id, text, queryText(query), query);
      } catch (err) {
        if (err instanceof SubscriptionError) throw methodError(err.message);
        throw err;
      }
      return {};
    },
    true,
  );

  def(
    'unsubscribe',
    ['query'],
    async (params, ctx) => {
      const session = sessionOf(ctx);
      const { query } = queryParam(params, ctx.transport, 'failed to parse query: ');
      if (!bus.unsubscribe(session, queryText(query))) throw methodError('subscription not found');
      return {};
    },
    true,
  );

  def(
    'unsubscribe_all',
    [],
    async (_params, ctx) => {
      const session = sessionOf(ctx);
      if (bus.unsubscribeAll(session) === 0) throw methodError('subscription not found');
      return {};
    },
    true,
  );

  // Events go out after the commit, not in it, block by block in order, and a block of many txs
  // yields to the event loop as it goes: subscriptions must never hold up consensus.
  let publishing = Promise.resolve();
  node.events.on('block', (block, results, after) => {
    if (bus.size === 0) return;
    publishing = publishing
      .then(() => publishBlock(bus, node.blocks, block, results, after))
      .catch(() => {
        // an event that cannot be rendered is dropped; the block is committed regardless
      });
  });

  return m;
}

/** Txs published between two turns of the event loop. */
const TX_EVENTS_PER_TURN = 256;

/** CometBFT's events for one committed block, published to the matching subscriptions. */
export async function publishBlock(
  bus: EventBus,
  blocks: Pick<BlockStore, 'validatorsAt'>,
  block: Block,
  results: BlockResults,
  after: ChainState,
): Promise<void> {
  const height = block.header.height;
  const id = blockIdOf(block.header);
  const updates = validatorDiff(blocks.validatorsAt(height + 1n), blocks.validatorsAt(height + 2n));
  const blockEvents = flattenEvents(results.events);
  bus.publish(new Map([...blockEvents, ['tm.event', ['NewBlock']]]), () => ({
    type: 'tendermint/event/NewBlock',
    value: {
      block: blockJson(block, blocks.validatorsAt(height - 1n), blocks.validatorsAt(height)),
      block_id: blockIdJson(id),
      result_finalize_block: {
        events: results.events.map(eventJson),
        tx_results: results.txResults.map(execTxResultJson),
        validator_updates: updates.map((u) => validatorUpdateJson(u.validator.pubKey, u.power)),
        consensus_param_updates: null,
        app_hash: base64(after.appHash),
      },
    },
  }));
  bus.publish(new Map([['tm.event', ['NewBlockHeader']]]), () => ({
    type: 'tendermint/event/NewBlockHeader',
    value: { header: headerJson(block.header) },
  }));
  for (const [index, tx] of block.txs.entries()) {
    if (index > 0 && index % TX_EVENTS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    const result = results.txResults[index] ?? null;
    const events = flattenEvents(result?.events ?? []);
    events.set('tx.hash', [hexUpper(txHash(tx))]);
    events.set('tx.height', [height.toString()]);
    events.set('tm.event', ['Tx']);
    bus.publish(events, () => ({
      type: 'tendermint/event/Tx',
      value: {
        TxResult: { height: height.toString(), index, tx: base64(tx), result: execTxResultJson(result) },
      },
    }));
  }
  if (updates.length > 0) {
    bus.publish(new Map([['tm.event', ['ValidatorSetUpdates']]]), () => ({
      type: 'tendermint/event/ValidatorSetUpdates',
      value: {
        validator_updates: updates.map((u) => validatorJson({ ...u.validator, votingPower: u.power })),
      },
    }));
  }
}
