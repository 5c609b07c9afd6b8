/**
 * node/rpc/ (server, method groups, WebSocket) and tx-index.ts against a real LevelDB block store
 * holding three committed blocks (with their index written in the same batch) and a stand-in for
 * the rest of the node: the parameter readers, each method's parameter validation with CometBFT's
 * codes and statuses, tx_search and block_search over the index, broadcast_tx_commit's wait and
 * timeout, the request limits, CORS and unsafe switches, and the WebSocket's events and bounds
 * (subscriptions, slow clients, dead peers, connection count, shutdown).
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { defaultTimeouts, initialState } from '../../../consensus/core/state-machine.ts';
import type { ProposedBlock } from '../../../consensus/driver.ts';
import { defaultConfig } from '../../../node/config.ts';
import { NodeMetrics } from '../../../node/metrics.ts';
import { sampleEventLoopLag } from '../../../node/rpc/admission.ts';
import { validatorDiff } from '../../../node/rpc/blocks.ts';
import { rfc3339 } from '../../../node/rpc/format.ts';
import { RpcCode, RpcError } from '../../../node/rpc/jsonrpc.ts';
import { defaultMethodOptions, rpcMethods } from '../../../node/rpc/methods.ts';
import type { BlockResults, RpcNode } from '../../../node/rpc/rpc-node.ts';
import { MAX_SEARCHES_AT_ONCE } from '../../../node/rpc/search-gate.ts';
import {
  boolParam,
  bytesParam,
  dispatch,
  hashParam,
  intParam,
  type RpcMethod,
  startRpcServer,
  stringParam,
} from '../../../node/rpc/server.ts';
import { txIndexOps } from '../../../node/tx-index.ts';
import { peerIdFromNodeKey } from '../../../p2p/identity.ts';
import { CareLedgerError, listenFailed } from '../../../packages/core/errors.ts';
import { keyPairFromSeed } from '../../../packages/crypto/ed25519.ts';
import { sha256, toHex } from '../../../packages/crypto/hash.ts';
import { type Block, blockIdOf, resultsHash, txHash } from '../../../packages/types/block.ts';
import {
  applyBlock,
  buildBlock,
  type ChainState,
  nextHeightStart,
} from '../../../packages/types/chain-state.ts';
import { makeValidatorSet, newValidator } from '../../../packages/types/validator.ts';
import type { AppEvent, ExecTxResult } from '../../../state/application.ts';
import { BlockStore } from '../../../state/block-store.ts';
import { openDb } from '../../../state/db.ts';
import { CHAIN_ID, makeChain, signedCommit } from '../consensus/fixtures.ts';

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON under test, checked field by field
type Json = Record<string, any>;
const utf8 = new TextEncoder();

// A chain of three blocks, two txs each, committed with their index ------------------------------

const dir = mkdtempSync(join(tmpdir(), 'careledger-rpc-unit-'));
const db = await openDb(join(dir, 'db'));
const blocks = await BlockStore.open(db);
const made = makeChain([10n, 10n, 10n, 10n], 'rpc');
let chain: ChainState = made.chain;
await db.batch(blocks.genesisOps(chain), { sync: true });
blocks.genesisCommitted(chain);

function kvEvents(key: string): AppEvent[] {
  return [
    {
      type: 'kv',
      attributes: [
        { key: 'key', value: key, index: true },
        { key: 'op', value: 'set', index: true },
        { key: 'note', value: 'not indexed', index: false },
      ],
    },
  ];
}

const committed: { block: Block; results: BlockResults }[] = [];
for (let h = 1n; h <= 3n; h++) {
  const txs = [utf8.encode(`tx-${h}-0`), utf8.encode(`tx-${h}-1`)];
  const block = buildBlock(chain, {
    txs,
    evidence: [],
    time: chain.lastBlockTime + 1000n,
    proposer: chain.validators.set.validators[chain.validators.proposer]!.address,
  });
  const commit = signedCommit(made.fx, [0, 1, 2, 3], h, 0, blockIdOf(block.header));
  const txResults: ExecTxResult[] = txs.map((_, i) => ({
    code: 0,
    codespace: '',
    log: '',
    events: kvEvents(`k${h}-${i}`),
  }));
  const events: AppEvent[] = [{ type: 'round', attributes: [{ key: 'no', value: String(h), index: true }] }];
  const after = applyBlock(chain, block, commit, {
    appHash: sha256(utf8.encode(`app-${h}`)),
    resultsHash: resultsHash(txResults),
    validatorUpdates: [],
  });
  await db.batch(
    [...blocks.commitOps(block, commit, after, txResults, events), ...txIndexOps(block, txResults, events)],
    {
      sync: true,
    },
  );
  blocks.committed(block, after);
  chain = after;
  committed.push({ block, results: { txResults, events } });
}

// The rest of the node, standing in -----------------------------------------------------------

// Node keys: the libp2p peer ids the node knows, and CometBFT's node ids (sha256 of the ed25519
// public key, first 20 bytes, lower-case hex) that the RPC must serve for them.
const nodeSeed = (label: string): Uint8Array => sha256(utf8.encode(`rpc-unit/${label}`));
const [selfPeer, peerA, peerB] = ['self', 'a', 'b'].map((l) => peerIdFromNodeKey(nodeSeed(l))) as [
  string,
  string,
  string,
];
const cometIdOf = (label: string): string =>
  toHex(sha256(keyPairFromSeed(nodeSeed(label)).publicKey).subarray(0, 20));

const events = new EventEmitter<{ block: [Block, BlockResults, ChainState] }>();
const submitted: Uint8Array[] = [];
const node: RpcNode = {
  home: { config: defaultConfig('unit'), genesis: made.genesis, validatorKey: made.fx.keys[0]! },
  peerId: selfPeer,
  get chain() {
    return chain;
  },
  chainId: CHAIN_ID,
  isCatchingUp: false,
  db,
  blocks,
  app: {
    info: () => ({ lastHeight: chain.lastHeight, appHash: chain.appHash }),
    checkTx: (tx) =>
      tx.tx.payload.length === 0 ? new CareLedgerError('KV_BAD_PAYLOAD', 'empty payload') : null,
    query: async (_path, data, height) => ({
      code: 0,
      codespace: '',
      log: 'exists',
      key: data,
      value: utf8.encode('v'),
      proof: null,
      height: height ?? chain.lastHeight,
    }),
  },
  mempool: { size: 0, bytes: 0, reap: () => [], has: () => false },
  p2p: {
    peers: () => [
      { id: peerA, addrs: [`/ip4/10.0.0.2/tcp/26656/p2p/${peerA}`], connected: true, persistent: true },
      { id: peerB, addrs: [`/ip4/10.0.0.3/tcp/26656/p2p/${peerB}`], connected: false, persistent: true },
    ],
    addresses: () => [`/ip4/127.0.0.1/tcp/26656/p2p/${selfPeer}`],
  },
  driver: {
    consensusState: initialState<ProposedBlock>(nextHeightStart(chain), 0, { timeouts: defaultTimeouts }),
  },
  events,
  submitTx(bytes) {
    const hash = txHash(bytes);
    if (Buffer.from(bytes).toString().startsWith('bad'))
      return {
        ok: false,
        hash,
        error: new CareLedgerError('TX_BAD_SIGNATURE', 'tx signature does not verify'),
      };
    submitted.push(bytes);
    return { ok: true, hash };
  },
};

// Servers --------------------------------------------------------------------------------------

const servers: Server[] = [];
async function serve(options: Json = {}, methodOptions: Json = {}): Promise<string> {
  const server = await startRpcServer(
    // A loaded test machine must not make broadcasts busy: the lag test has its own test.
    rpcMethods(node, { broadcastTxCommitTimeoutMs: 300, eventLoopLag: () => 0, ...methodOptions }),
    {
      listen: '127.0.0.1:0',
      maxBodyBytes: 20_000,
      maxBatch: 3,
      ...options,
    },
  );
  servers.push(server);
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const main = await serve();

interface Reply {
  status: number;
  body: Json;
  text: string;
  headers: Headers;
}

async function http(host: string, path: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`http://${host}${path}`, { ...init, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let body: Json = {};
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    // kept as text
  }
  return { status: res.status, body, text, headers: res.headers };
}

const get = (path: string, host = main) => http(host, path);
const post = (payload: unknown, host = main) =>
  http(host, '/', { method: 'POST', body: typeof payload === 'string' ? payload : JSON.stringify(payload) });
const rpc = (method: string, params: unknown) => post({ jsonrpc: '2.0', id: 1, method, params });

function expectError(r: Reply, status: number, code: number, data?: RegExp): void {
  assert.is(r.status, status, `HTTP ${r.status}: ${r.text}`);
  assert.ok(r.body.error !== undefined, r.text);
  assert.is(r.body.error.code, code, r.text);
  if (data !== undefined) assert.match(r.body.error.data ?? '', data);
}

async function ok(r: Promise<Reply>): Promise<Json> {
  const reply = await r;
  assert.is(reply.status, 200, reply.text);
  assert.is(reply.body.error, undefined, reply.text);
  return reply.body.result;
}

test.after(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `run` throws an RpcError whose data matches `pattern`. */
function throwsData(run: () => unknown, pattern: RegExp): void {
  try {
    run();
  } catch (err) {
    assert.instance(err, RpcError);
    assert.match((err as RpcError).data, pattern);
    return;
  }
  assert.unreachable(`no error (wanted ${pattern})`);
}

// ---------------------------------------------------------------------------------------------

test('parameter readers accept CometBFT URI and JSON forms, and name what is wrong', () => {
  assert.is(intParam({ h: '5' }, 'h'), 5n);
  assert.is(intParam({ h: '"5"' }, 'h'), 5n);
  assert.is(intParam({ h: 5 }, 'h'), 5n);
  assert.is(intParam({ h: '-7' }, 'h'), -7n);
  assert.is(intParam({}, 'h'), null);
  assert.is(intParam({ h: '' }, 'h'), null);
  assert.is(intParam({ h: '9223372036854775807' }, 'h'), 2n ** 63n - 1n);
  for (const bad of ['x', '1.5', 1.5, '9223372036854775808', '0x10', true, [1], {}])
    throwsData(() => intParam({ h: bad }, 'h'), /h must be an integer/);

  assert.is(boolParam({ p: 'true' }, 'p'), true);
  assert.is(boolParam({ p: false }, 'p'), false);
  assert.is(boolParam({ p: '"true"' }, 'p'), true);
  assert.is(boolParam({}, 'p'), false);
  throwsData(() => boolParam({ p: 'yes' }, 'p'), /p must be true or false/);

  assert.is(stringParam({ q: '"a=\'b\'"' }, 'q', 'uri'), "a='b'");
  assert.is(stringParam({ q: "a='b'" }, 'q', 'uri'), "a='b'");
  assert.is(stringParam({ q: '0x2f6b76' }, 'q', 'uri'), '/kv');
  assert.is(stringParam({ q: '"x"' }, 'q', 'jsonrpc'), '"x"');
  throwsData(() => stringParam({ q: 5 }, 'q', 'jsonrpc'), /q must be a string/);
  throwsData(() => stringParam({ q: '0x1' }, 'q', 'uri'), /not valid hex/);

  assert.equal([...bytesParam({ t: '0x0102' }, 't', 'uri', 'base64')!], [1, 2]);
  assert.equal([...bytesParam({ t: '"ab"' }, 't', 'uri', 'base64')!], [97, 98]);
  assert.equal([...bytesParam({ t: 'AQI=' }, 't', 'jsonrpc', 'base64')!], [1, 2]);
  assert.equal([...bytesParam({ t: '0102' }, 't', 'jsonrpc', 'hex')!], [1, 2]);
  throwsData(() => bytesParam({ t: 'AQI' }, 't', 'jsonrpc', 'base64'), /t must be base64/);
  throwsData(() => bytesParam({ t: 'xyz' }, 't', 'jsonrpc', 'hex'), /t must be hex/);
  throwsData(() => bytesParam({ t: '0xabc' }, 't', 'uri', 'hex'), /not valid hex/);

  const h = sha256(utf8.encode('h'));
  for (const form of [toHex(h), `0x${toHex(h)}`, toHex(h).toUpperCase(), Buffer.from(h).toString('base64')])
    assert.equal(hashParam({ hash: form }, 'hash', 'jsonrpc'), Buffer.from(h));
  assert.equal(hashParam({ hash: `"${toHex(h)}"` }, 'hash', 'uri'), Buffer.from(h));
  throwsData(() => hashParam({}, 'hash', 'uri'), /hash is required/);
  throwsData(() => hashParam({ hash: 'abcd' }, 'hash', 'uri'), /32-byte hash/);
});

test('heights: CometBFT messages for each bad height, over URI (HTTP 500) and JSON-RPC (HTTP 200)', async () => {
  expectError(await get('/block?height=abc'), 500, RpcCode.invalidParams, /height must be an integer/);
  expectError(await get('/block?height=1.5'), 500, RpcCode.invalidParams);
  expectError(await get('/block?height=99999999999999999999'), 500, RpcCode.invalidParams);
  expectError(
    await get('/block?height=-1'),
    500,
    RpcCode.internal,
    /^height must be greater than 0, but got -1$/,
  );
  expectError(await get('/block?height=0'), 500, RpcCode.internal, /height must be greater than 0/);
  expectError(
    await get('/block?height=4'),
    500,
    RpcCode.internal,
    /^height 4 must be less than or equal to the current blockchain height 3$/,
  );
  expectError(await rpc('block', { height: 'x' }), 200, RpcCode.invalidParams);
  assert.is((await ok(get('/block?height="2"'))).block.header.height, '2');
  assert.is((await ok(get('/block'))).block.header.height, '3');
  assert.is((await ok(rpc('block', [2]))).block.header.height, '2');
  for (const method of ['commit', 'block_results', 'header', 'validators', 'consensus_params']) {
    expectError(await get(`/${method}?height=abc`), 500, RpcCode.invalidParams, /height must be an integer/);
    expectError(await get(`/${method}?height=9`), 500, RpcCode.internal, /must be less than or equal/);
  }
  // validators and consensus_params also serve the next height, whose set is known.
  assert.is((await ok(get('/validators?height=4'))).block_height, '4');
  assert.is((await ok(get('/consensus_params'))).block_height, '4');
  expectError(
    await get('/blockchain?minHeight=x'),
    500,
    RpcCode.invalidParams,
    /minHeight must be an integer/,
  );
  expectError(await get('/blockchain?maxHeight=-2'), 500, RpcCode.internal, /heights must be non-negative/);
  const chainInfo = await ok(get('/blockchain'));
  assert.equal(
    chainInfo.block_metas.map((m: Json) => m.header.height),
    ['3', '2', '1'],
  );
  assert.is(chainInfo.last_height, '3');
});

test('commit: canonical from the next block, the newest only seen; block_results carries the app hash after', async () => {
  const older = await ok(get('/commit?height=2'));
  assert.is(older.canonical, true);
  assert.is(older.signed_header.commit.height, '2');
  const newest = await ok(get('/commit?height=3'));
  assert.is(newest.canonical, false);
  assert.is(
    newest.signed_header.commit.block_id.hash,
    toHex(blockIdOf(committed[2]!.block.header)).toUpperCase(),
  );
  const results = await ok(get('/block_results?height=2'));
  assert.is(results.txs_results.length, 2);
  assert.equal(results.finalize_block_events, [
    { type: 'round', attributes: [{ key: 'no', value: '2', index: true }] },
  ]);
  assert.is(Buffer.from(results.app_hash, 'base64').toString('hex'), toHex(sha256(utf8.encode('app-2'))));
  assert.is(
    Buffer.from((await ok(get('/block_results'))).app_hash, 'base64').toString('hex'),
    toHex(chain.appHash),
  );
});

test('hashes, txs and proofs', async () => {
  const id = blockIdOf(committed[1]!.block.header);
  for (const hash of [`0x${toHex(id)}`, `"${toHex(id)}"`])
    assert.is((await ok(get(`/block_by_hash?hash=${hash}`))).block.header.height, '2');
  assert.is(
    (await ok(rpc('block_by_hash', { hash: Buffer.from(id).toString('base64') }))).block.header.height,
    '2',
  );
  assert.is((await ok(get(`/block_by_hash?hash=0x${'11'.repeat(32)}`))).block, null);
  assert.is((await ok(get(`/header_by_hash?hash=0x${'11'.repeat(32)}`))).header, null);
  expectError(await get('/block_by_hash'), 500, RpcCode.invalidParams, /hash is required/);
  expectError(await get('/block_by_hash?hash=0x12'), 500, RpcCode.invalidParams);

  const tx = committed[1]!.block.txs[1]!;
  const found = await ok(get(`/tx?hash=0x${toHex(txHash(tx))}&prove=true`));
  assert.equal([found.height, found.index], ['2', 1]);
  assert.is(Buffer.from(found.tx, 'base64').toString(), 'tx-2-1');
  // The proof recomputes the block's data hash from the tx: CometBFT's TxProof.
  const { leafHash, innerHash } = await import('../../../packages/crypto/hash.ts');
  let node2 = leafHash(txHash(tx));
  assert.is(Buffer.from(found.proof.proof.leaf_hash, 'base64').toString('hex'), toHex(node2));
  for (const aunt of found.proof.proof.aunts as string[])
    node2 = innerHash(Buffer.from(aunt, 'base64'), node2);
  assert.is(toHex(node2).toUpperCase(), found.proof.root_hash);
  assert.is(found.proof.root_hash, toHex(committed[1]!.block.header.dataHash).toUpperCase());
  expectError(
    await get(`/tx?hash=0x${toHex(txHash(tx))}&prove=1`),
    500,
    RpcCode.invalidParams,
    /prove must be true or false/,
  );
  expectError(await get(`/tx?hash=0x${'22'.repeat(32)}`), 500, RpcCode.internal, /^tx \(2{64}\) not found$/);
});

test('tx_search over the index: values, ranges, CONTAINS, EXISTS, order and pages', async () => {
  const search = async (query: string, extra = ''): Promise<Json> =>
    ok(get(`/tx_search?query=${encodeURIComponent(`"${query}"`)}${extra}`));
  const keys = (r: Json) => r.txs.map((t: Json) => Buffer.from(t.tx, 'base64').toString());

  assert.equal(keys(await search("kv.key='k2-1'")), ['tx-2-1']);
  const all = await search("kv.key CONTAINS 'k'");
  assert.is(all.total_count, '6');
  assert.equal(keys(all), ['tx-1-0', 'tx-1-1', 'tx-2-0', 'tx-2-1', 'tx-3-0', 'tx-3-1']);
  assert.equal(keys(await search("kv.key CONTAINS 'k'", '&order_by=desc&per_page=4&page=2')), [
    'tx-1-1',
    'tx-1-0',
  ]);
  assert.equal(keys(await search('tx.height >= 2 AND tx.height < 3')), ['tx-2-0', 'tx-2-1']);
  assert.equal(keys(await search('tx.height = 2.5')), []);
  assert.equal(keys(await search("tx.height = '3'")), ['tx-3-0', 'tx-3-1']);
  assert.equal(keys(await search("tm.event = 'Tx' AND kv.op EXISTS AND tx.height <= 1")), [
    'tx-1-0',
    'tx-1-1',
  ]);
  assert.equal(keys(await search("kv.note = 'not indexed'")), []);
  assert.equal(keys(await search("tm.event = 'NewBlock'")), []);
  assert.equal(
    keys(await search(`tx.hash = '${toHex(txHash(committed[2]!.block.txs[0]!)).toUpperCase()}'`)),
    ['tx-3-0'],
  );
  assert.equal(keys(await search("kv.key = 'k1-0' AND tx.height > 1")), []);
  assert.is((await search('tx.height > 0')).total_count, '6');
  // JSON-RPC by position: query, prove, page, per_page, order_by.
  const positional = await ok(rpc('tx_search', ["kv.key CONTAINS '-1'", false, 1, 2, 'asc']));
  assert.equal([positional.total_count, keys(positional)], ['3', ['tx-1-1', 'tx-2-1']]);

  expectError(await get('/tx_search'), 500, RpcCode.invalidParams, /query is required/);
  expectError(
    await get(`/tx_search?query="x.y='a'"&page=abc`),
    500,
    RpcCode.invalidParams,
    /page must be an integer/,
  );
  expectError(
    await get(`/tx_search?query="kv.key CONTAINS 'k'"&page=3`),
    500,
    RpcCode.internal,
    /page should be within \[1, 1\] range, given 3/,
  );
  expectError(
    await get(`/tx_search?query="x.y='a'"&order_by=up`),
    500,
    RpcCode.internal,
    /^invalid order_by: expected either `asc` or `desc` or empty but got up$/,
  );
  expectError(
    await get(`/tx_search?query="x.y=="`),
    500,
    RpcCode.internal,
    /^offset 4: got = operator, wanted/,
  );
  expectError(
    await get(`/tx_search?query="x.y='${'a'.repeat(520)}'"`),
    500,
    RpcCode.internal,
    /maximum query length exceeded/,
  );
});

test('searches at once are bounded: past MAX_SEARCHES_AT_ONCE, one is refused at once', async () => {
  const host = await serve({ maxBatch: 10 });
  const calls = Array.from({ length: MAX_SEARCHES_AT_ONCE + 2 }, (_, i) => ({
    jsonrpc: '2.0',
    id: i,
    method: 'tx_search',
    params: { query: "kv.key CONTAINS 'k'" },
  }));
  const replies = (await post(calls, host)).body as Json[];
  // The calls of a batch start together, and a search waits on LevelDB before it can finish.
  assert.is(replies.filter((r) => r.result !== undefined).length, MAX_SEARCHES_AT_ONCE);
  const refused = replies.filter((r) => r.error !== undefined);
  assert.is(refused.length, 2);
  for (const r of refused) assert.match(r.error.data, /too many searches in progress \(at most 4\)/);
  // Each finished search gave its slot back.
  assert.ok((await ok(get(`/tx_search?query="kv.key CONTAINS 'k'"`, host))).txs.length > 0);
});

test('block_search: block.height ranges and indexed block events, newest first by default', async () => {
  const heights = (r: Json) => r.blocks.map((b: Json) => b.block.header.height);
  const search = async (query: string, extra = ''): Promise<Json> =>
    ok(get(`/block_search?query=${encodeURIComponent(`"${query}"`)}${extra}`));
  assert.equal(heights(await search('round.no > 1')), ['3', '2']);
  assert.equal(heights(await search('block.height <= 2', '&order_by=asc')), ['1', '2']);
  const every = await search("tm.event = 'NewBlock'", '&per_page=2&page=2');
  assert.equal([every.total_count, heights(every)], ['3', ['1']]);
  assert.equal(heights(await search('block.height = 2 AND round.no = 2')), ['2']);
  assert.equal(heights(await search("round.no = '9'")), []);
  assert.equal(heights(await search("block.height CONTAINS '3'")), ['3']);
  expectError(
    await get(`/block_search?query="block.height>1"&order_by=x`),
    500,
    RpcCode.internal,
    /expected order_by to be either `asc` or `desc` or empty/,
  );
});

test('other methods: shapes from the stand-in node, limits clamped as CometBFT', async () => {
  const net = await ok(get('/net_info'));
  assert.is(net.n_peers, '1');
  assert.is(net.peers[0].remote_ip, '10.0.0.2');
  // Peers as CometBFT names them: the hex node id; the libp2p peer id in other.peer_id.
  assert.is(net.peers[0].node_info.id, cometIdOf('a'));
  assert.is(net.peers[0].node_info.other.peer_id, peerA);
  assert.is(net.peers[0].node_info.listen_addr, `/ip4/10.0.0.2/tcp/26656/p2p/${peerA}`);
  const status = await ok(get('/status'));
  assert.match(status.node_info.id, /^[0-9a-f]{40}$/);
  assert.is(status.node_info.id, cometIdOf('self'));
  assert.equal(status.node_info.other, {
    tx_index: 'on',
    rpc_address: `tcp://${defaultConfig('unit').rpc.listen}`,
    peer_id: selfPeer,
  });
  assert.is(status.node_info.listen_addr, `/ip4/127.0.0.1/tcp/26656/p2p/${selfPeer}`);
  const vals = await ok(get('/validators?per_page=0'));
  assert.equal([vals.count, vals.total], ['4', '4']);
  expectError(
    await get('/validators?page=0'),
    500,
    RpcCode.internal,
    /page should be within \[1, 1\] range, given 0/,
  );
  assert.equal((await ok(get('/unconfirmed_txs?limit=-3'))).txs, []);
  const cs = (await ok(get('/consensus_state'))).round_state;
  assert.is(cs['height/round/step'], '4/0/3');
  const q = (await ok(rpc('abci_query', { path: '/kv', data: '6b', height: '2', prove: true }))).response;
  assert.equal([q.key, q.height], ['aw==', '2']);
  expectError(await rpc('abci_query', { data: 'zz' }), 200, RpcCode.invalidParams, /data must be hex/);
  expectError(await rpc('abci_query', { height: '7' }), 200, RpcCode.internal, /must be less than or equal/);
  assert.equal((await ok(get('/abci_info'))).response.last_block_height, '3');
  const check = await ok(get('/check_tx?tx=0x00'));
  assert.is(check.code, 1);
  expectError(await get('/check_tx'), 500, RpcCode.invalidParams, /tx is required/);
  expectError(await get('/broadcast_tx_sync?tx=0x'), 500, RpcCode.invalidParams, /tx is required/);
  const quoted = await ok(get('/broadcast_tx_sync?tx="hello"'));
  assert.is(quoted.hash, toHex(txHash(utf8.encode('hello'))).toUpperCase());
  assert.equal(Buffer.from(submitted.at(-1)!).toString(), 'hello');
  const refused = await ok(get('/broadcast_tx_sync?tx="bad-tx"'));
  assert.equal([refused.code, refused.codespace], [1, 'TX_BAD_SIGNATURE']);
  expectError(await get('/broadcast_tx_async?tx="bad-tx"'), 500, RpcCode.internal, /^TX_BAD_SIGNATURE: /);
});

test('admission control: MEMPOOL_BUSY at the high-water mark, before the tx is checked', async () => {
  const pool = { size: 0, bytes: 0, reap: () => [], has: () => false };
  const busyNode: RpcNode = { ...node, mempool: pool, submitTx: (bytes) => node.submitTx(bytes) };
  const config = defaultConfig('unit');
  assert.is(config.mempool.maxTxs, 10_000);
  let lag = 0;
  const methods = rpcMethods(busyNode, {
    mempoolBusyFraction: 0.25,
    maxEventLoopLagMs: 500,
    eventLoopLag: () => lag,
    maxCommitWaiters: 1,
  });
  const server = await startRpcServer(methods, {
    listen: '127.0.0.1:0',
    maxBodyBytes: 20_000,
    maxBatch: 3,
  });
  servers.push(server);
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const before = submitted.length;
  pool.size = 2499;
  assert.is((await ok(get('/broadcast_tx_sync?tx="ok-below"', host))).code, 0);
  assert.is(submitted.length, before + 1);
  pool.size = 2500;
  const busy = await ok(get('/broadcast_tx_sync?tx="ok-busy"', host));
  assert.equal([busy.code, busy.codespace], [1, 'MEMPOOL_BUSY']);
  assert.is(busy.hash, toHex(txHash(utf8.encode('ok-busy'))).toUpperCase());
  assert.match(busy.log, /2500 txs pending, admission stops at 2500/);
  // Not even checked: a bad tx gets the busy answer too, and nothing reached the node.
  assert.is((await ok(get('/broadcast_tx_sync?tx="bad-busy"', host))).codespace, 'MEMPOOL_BUSY');
  expectError(await get('/broadcast_tx_async?tx="ok-busy"', host), 500, RpcCode.internal, /^MEMPOOL_BUSY: /);
  const tx = Buffer.from('ok-busy').toString('base64');
  const commit = await ok(
    post({ jsonrpc: '2.0', id: 1, method: 'broadcast_tx_commit', params: { tx } }, host),
  );
  assert.equal([commit.check_tx.codespace, commit.height], ['MEMPOOL_BUSY', '0']);
  assert.is(submitted.length, before + 1);
  // Its waiter was released: with room for one waiter, the next call is not refused for want of one.
  const again = await ok(
    post({ jsonrpc: '2.0', id: 2, method: 'broadcast_tx_commit', params: { tx } }, host),
  );
  assert.is(again.check_tx.codespace, 'MEMPOOL_BUSY');
  // A late event loop makes the node busy too, whatever the pool holds.
  pool.size = 0;
  lag = 499;
  assert.is((await ok(get('/broadcast_tx_sync?tx="ok-lag-1"', host))).code, 0);
  lag = 500;
  const late = await ok(get('/broadcast_tx_sync?tx="ok-lag-2"', host));
  assert.equal([late.code, late.codespace], [1, 'MEMPOOL_BUSY']);
  assert.match(late.log, /500 ms behind, admission stops at 500/);
  assert.is(submitted.length, before + 2);
  // Defaults: half the pool; the lag test off (0), so any lag is admitted; impossible values are refused.
  assert.is(defaultMethodOptions.mempoolBusyFraction, 0.5);
  assert.is(defaultMethodOptions.maxEventLoopLagMs, 0);
  const lagOff = rpcMethods(busyNode, { eventLoopLag: () => 10_000 });
  const offServer = await startRpcServer(lagOff, {
    listen: '127.0.0.1:0',
    maxBodyBytes: 20_000,
    maxBatch: 3,
  });
  servers.push(offServer);
  const offHost = `127.0.0.1:${(offServer.address() as AddressInfo).port}`;
  assert.is((await ok(get('/broadcast_tx_sync?tx="ok-lag-off"', offHost))).code, 0);
  assert.is(submitted.length, before + 3);
  for (const f of [0, -1, 1.5, Number.NaN])
    assert.throws(() => rpcMethods(node, { mempoolBusyFraction: f }), /mempoolBusyFraction/);
  for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY])
    assert.throws(() => rpcMethods(node, { maxEventLoopLagMs: ms }), /maxEventLoopLagMs/);
});

test('a port in use is NODE_LISTEN_FAILED for the RPC and the metrics listeners', async () => {
  const rpcErr = await serve({ listen: main }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.is((rpcErr as CareLedgerError).code, 'NODE_LISTEN_FAILED');
  assert.is(
    (rpcErr as Error).message,
    `cannot listen on rpc.listen ${main}: the port is already in use (another node or program listens there)`,
  );
  const metricsErr = await new NodeMetrics('careledger', 'test').serve(main).then(
    () => null,
    (e: unknown) => e,
  );
  assert.match(
    (metricsErr as Error).message,
    `instrumentation.prometheus_listen ${main}: the port is already`,
  );
  // An errno the message does not know still names the field and the address.
  const other = listenFailed('rpc.listen', 'h:1', new Error('boom'));
  assert.equal([other.code, other.message], ['NODE_LISTEN_FAILED', 'cannot listen on rpc.listen h:1: boom']);
});

test('sampleEventLoopLag: near 0 when idle, the stall when the loop is blocked', async () => {
  const lagNow = sampleEventLoopLag();
  await new Promise((r) => setTimeout(r, 60));
  assert.ok(lagNow() < 200, `idle lag ${lagNow()}`);
  const until = performance.now() + 150;
  while (performance.now() < until) {
    // block the loop
  }
  assert.ok(lagNow() >= 100, `blocked lag ${lagNow()}`);
});

test("broadcast_tx_commit: answered from the node's block event, times out as CometBFT, releases its waiter", async () => {
  // One waiter at most, so a waiter left behind would refuse every later call.
  const host = await serve({}, { maxCommitWaiters: 1 });
  const call = (tx: Uint8Array) =>
    post(
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'broadcast_tx_commit',
        params: { tx: Buffer.from(tx).toString('base64') },
      },
      host,
    );
  const bytes = utf8.encode('ok-commit');
  const before = submitted.length;
  const pending = call(bytes);
  await until(() => (submitted.length > before ? true : undefined));
  // The bound: while one call waits, another is refused at once.
  expectError(
    await call(utf8.encode('ok-second')),
    200,
    RpcCode.internal,
    /^maximum number of subscriptions reached: 1$/,
  );
  // A block announced by the node answers it with the tx's own result (the second tx of the block).
  const block = buildBlock(chain, {
    txs: [utf8.encode('ok-other'), bytes],
    evidence: [],
    time: chain.lastBlockTime + 1000n,
    proposer: chain.validators.set.validators[chain.validators.proposer]!.address,
  });
  const other: ExecTxResult = { code: 0, codespace: '', log: '', events: kvEvents('other') };
  const mine: ExecTxResult = { code: 0, codespace: '', log: 'mine', events: kvEvents('c') };
  events.emit('block', block, { txResults: [other, mine], events: [] }, chain);
  const result = await ok(pending);
  assert.equal(
    [
      result.height,
      result.check_tx.code,
      result.tx_result.log,
      result.tx_result.events[0].attributes[0].value,
    ],
    [block.header.height.toString(), 0, 'mine', 'c'],
  );
  assert.is(result.hash, toHex(txHash(bytes)).toUpperCase());

  const late = utf8.encode('ok-never');
  const started = Date.now();
  expectError(
    await call(late),
    200,
    RpcCode.internal,
    /^timed out waiting for tx to be included in a block$/,
  );
  assert.ok(Date.now() - started >= 250);

  const refused = await ok(call(utf8.encode('bad')));
  assert.equal(
    [refused.check_tx.code, refused.check_tx.codespace, refused.height],
    [1, 'TX_BAD_SIGNATURE', '0'],
  );
  // Every waiter was released (answered, timed out, refused): there is room for the next call.
  const next = call(utf8.encode('ok-after'));
  await until(() => (Buffer.from(submitted.at(-1)!).toString() === 'ok-after' ? true : undefined));
  const block2 = buildBlock(chain, {
    txs: [utf8.encode('ok-after')],
    evidence: [],
    time: chain.lastBlockTime + 1000n,
    proposer: chain.validators.set.validators[chain.validators.proposer]!.address,
  });
  events.emit('block', block2, { txResults: [mine], events: [] }, chain);
  assert.is((await ok(next)).tx_result.log, 'mine');
});

test('request limits: body, batch, envelope, ids, params, methods', async () => {
  expectError(
    await post({ jsonrpc: '2.0', id: 1, method: 'health', params: { pad: 'x'.repeat(30_000) } }),
    400,
    RpcCode.invalidRequest,
    /body over 20000 bytes/,
  );
  const batch = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'health' }));
  assert.is(((await post(batch(3))).body as unknown as Json[]).length, 3);
  expectError(await post(batch(4)), 400, RpcCode.invalidRequest, /got: 4, max: 3/);
  expectError(await post('{'), 500, RpcCode.parse);
  expectError(
    await post({ jsonrpc: '2.0', id: 1.5, method: 'health' }),
    200,
    RpcCode.invalidRequest,
    /id must be/,
  );
  expectError(
    await post({ jsonrpc: '2.0', id: 1, method: 5 }),
    200,
    RpcCode.invalidRequest,
    /method must be/,
  );
  expectError(await post({ jsonrpc: '2.0', id: 1, method: 'health', params: 3 }), 200, RpcCode.invalidParams);
  expectError(
    await post({ jsonrpc: '2.0', id: 1, method: 'tx', params: ['a', 'b', 'c'] }),
    200,
    RpcCode.invalidParams,
    /at most 2 parameters \(hash, prove\)/,
  );
  expectError(
    await post({ jsonrpc: '2.0', id: 1, method: 'unsafe_flush_mempool' }),
    200,
    RpcCode.notFound,
    /disabled/,
  );
  expectError(
    await post({ jsonrpc: '2.0', id: 1, method: 'subscribe', params: { query: "a.b='c'" } }),
    200,
    RpcCode.notFound,
  );
  const notFound = await post({ jsonrpc: '2.0', id: 'x', method: 'nope' });
  assert.equal(notFound.body, {
    jsonrpc: '2.0',
    id: 'x',
    error: { code: -32601, message: 'Method not found' },
  });
  expectError(await get('/nope'), 404, RpcCode.notFound);
  expectError(await get('/websocket'), 400, RpcCode.invalidRequest);
  expectError(await http(main, '/', { method: 'DELETE' }), 405, RpcCode.invalidRequest);
  assert.ok((await ok(get('/'))).methods.includes('tx_search'));
  assert.not.ok((await ok(get('/'))).methods.some((m: string) => m.startsWith('unsafe_')));
});

test('a call that runs too long gets an error, not a hang', async () => {
  const methods = new Map<string, RpcMethod>([
    ['stuck', { params: [], run: () => new Promise(() => undefined) }],
  ]);
  const reply = await dispatch(
    methods,
    { unsafe: false, callTimeoutMs: 50 },
    'stuck',
    {},
    {
      transport: 'jsonrpc',
      id: 9,
      session: null,
    },
  );
  assert.equal(reply, {
    jsonrpc: '2.0',
    id: 9,
    error: { code: -32603, message: 'Internal error', data: 'request timed out after 50 ms' },
  });
  const thrown = new Map<string, RpcMethod>([
    [
      'boom',
      {
        params: [],
        run: async () => {
          throw new Error('secret detail');
        },
      },
    ],
  ]);
  const hidden = await dispatch(
    thrown,
    { unsafe: false, callTimeoutMs: 50 },
    'boom',
    {},
    { transport: 'uri', id: -1, session: null },
  );
  assert.is(hidden.error?.data, 'internal error', 'unexpected errors do not leak their message');
});

test('CORS for listed origins only; unsafe_* when enabled is simply unknown', async () => {
  const host = await serve({ corsAllowedOrigins: ['https://ok.example'], unsafe: true });
  const allowed = await http(host, '/health', { headers: { origin: 'https://ok.example' } });
  assert.is(allowed.headers.get('access-control-allow-origin'), 'https://ok.example');
  const other = await http(host, '/health', { headers: { origin: 'https://evil.example' } });
  assert.is(other.headers.get('access-control-allow-origin'), null);
  const preflight = await http(host, '/', { method: 'OPTIONS', headers: { origin: 'https://ok.example' } });
  assert.is(preflight.status, 204);
  const unsafe = await get('/unsafe_flush_mempool', host);
  expectError(unsafe, 404, RpcCode.notFound);
  assert.is(unsafe.body.error.data, undefined);
  // Default server: no CORS headers for anyone.
  assert.is(
    (await http(main, '/health', { headers: { origin: 'https://ok.example' } })).headers.get(
      'access-control-allow-origin',
    ),
    null,
  );
});

// WebSocket -------------------------------------------------------------------------------------

function open(
  host: string,
  opts: WebSocket.ClientOptions = {},
): Promise<{ ws: WebSocket; messages: Json[]; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${host}/websocket`, { handshakeTimeout: 3000, ...opts });
    const messages: Json[] = [];
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
    ws.on('error', reject);
    ws.once('open', () => resolve({ ws, messages, closed }));
  });
}

async function until<T>(get: () => T | undefined, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('WebSocket: subscriptions get CometBFT events for each committed block', async () => {
  const c = await open(main);
  c.ws.send(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 'nb',
      method: 'subscribe',
      params: { query: "tm.event='NewBlock'" },
    }),
  );
  c.ws.send(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 'tx',
      method: 'subscribe',
      params: ["tm.event='Tx' AND kv.key='k3-1'"],
    }),
  );
  c.ws.send(
    JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'subscribe', params: { query: 'round.no >= 3' } }),
  );
  await until(() => (c.messages.filter((m) => m.result !== undefined).length === 3 ? true : undefined));
  const { block, results } = committed[2]!;
  events.emit('block', block, results, chain);
  const nb = await until(() => c.messages.find((m) => m.id === 'nb#event' && m.result?.data));
  assert.is(nb.result.data.type, 'tendermint/event/NewBlock');
  assert.equal(nb.result.events, { 'round.no': ['3'], 'tm.event': ['NewBlock'] });
  const tx = await until(() => c.messages.find((m) => m.id === 'tx#event' && m.result?.data));
  assert.equal(tx.result.data.value.TxResult.index, 1);
  assert.equal(tx.result.events['tx.height'], ['3']);
  assert.equal(tx.result.events['kv.note'], ['not indexed'], 'subscriptions see every attribute');
  // CometBFT's event frames carry the subscribe call's id and `#event`, as a string (7 -> "7#event").
  await until(() => c.messages.find((m) => m.id === '7#event' && m.result?.data));
  assert.not.ok(c.messages.some((m) => (m.id === 7 || m.id === 'nb' || m.id === 'tx') && m.result?.data));
  assert.is(c.messages.filter((m) => m.id === 'tx#event' && m.result?.data).length, 1);
  // Published after the commit, block by block in order, even when blocks come back to back.
  for (const h of [0, 1, 2]) events.emit('block', committed[h]!.block, committed[h]!.results, chain);
  const newBlocks = () => c.messages.filter((m) => m.id === 'nb#event' && m.result?.data);
  await until(() => (newBlocks().length === 4 ? true : undefined));
  assert.equal(
    newBlocks().map((m) => m.result.data.value.block.header.height),
    ['3', '1', '2', '3'],
  );
  c.ws.terminate();
});

test('WebSocket bounds: slow clients, dead peers, connection count; close ends every connection', async () => {
  const host = await serve({ ws: { maxBufferedBytes: 1000, pingIntervalMs: 100, maxConnections: 2 } });
  const slow = await open(host);
  slow.ws.send(
    JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subscribe', params: { query: "tm.event='NewBlock'" } }),
  );
  await until(() => slow.messages.find((m) => m.id === 1));
  events.emit('block', committed[0]!.block, committed[0]!.results, chain);
  assert.is(await slow.closed, 1008, 'a client that would buffer past the bound is dropped');

  const silent = await open(host, { autoPong: false });
  const code = await Promise.race([silent.closed, new Promise<number>((r) => setTimeout(() => r(-1), 2000))]);
  assert.is(code, 1006, 'no pong: terminated');

  const a = await open(host);
  await open(host);
  const refused = await open(host).then(
    () => 'accepted',
    (err: Error) => err.message,
  );
  assert.match(refused, /503/);
  const server = servers.at(-1)!;
  const closed = await Promise.race([
    new Promise<string>((r) => server.close(() => r('closed'))),
    new Promise<string>((r) => setTimeout(() => r('hung'), 2000)),
  ]);
  assert.is(closed, 'closed');
  assert.is(await a.closed, 1006);
  servers.pop();
});

test("times as Go writes them (CometBFT's JSON): no trailing zeros, no fraction on a whole second", () => {
  const at = Date.UTC(2026, 10, 25, 16, 35, 26);
  assert.is(rfc3339(BigInt(at)), '2026-11-25T16:35:26Z');
  assert.is(rfc3339(BigInt(at + 123)), '2026-11-25T16:35:26.123Z');
  assert.is(rfc3339(BigInt(at + 120)), '2026-11-25T16:35:26.12Z');
  assert.is(rfc3339(BigInt(at + 100)), '2026-11-25T16:35:26.1Z');
  assert.is(rfc3339(BigInt(at + 5)), '2026-11-25T16:35:26.005Z');
});

test('validatorDiff: changed, added and removed validators (removed at power 0)', () => {
  const k = (n: number) => sha256(utf8.encode(`v${n}`)).subarray(0, 32);
  const before = makeValidatorSet([
    newValidator(k(1), 10n),
    newValidator(k(2), 10n),
    newValidator(k(3), 10n),
  ]);
  const after = makeValidatorSet([newValidator(k(1), 10n), newValidator(k(2), 20n), newValidator(k(4), 5n)]);
  const diff = validatorDiff(before, after).map((d) => [toHex(d.validator.pubKey), d.power]);
  assert.equal(
    new Map(diff as [string, bigint][]),
    new Map([
      [toHex(k(2)), 20n],
      [toHex(k(4)), 5n],
      [toHex(k(3)), 0n],
    ]),
  );
  assert.equal(validatorDiff(before, before), []);
});

test.run();
