/**
 * The RPC of a real 4-validator consortium (OS processes, TCP, LevelDB), over real HTTP and
 * WebSocket: every method by URI GET and by JSON-RPC POST (and a batch), with valid and malformed
 * input, checked against CometBFT v0.38's shapes: field names, heights and counts as decimal
 * strings, hashes as upper-case hex, bytes as base64, times as Go's RFC 3339 with nanoseconds,
 * CometBFT's error codes and HTTP statuses. Subscriptions receive NewBlock, NewBlockHeader and Tx
 * events in CometBFT's envelope; the WebSocket's limits hold.
 */
import { createHash } from 'node:crypto';
import { peerIdFromString } from '@libp2p/peer-id';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { Consortium, KvClient } from './harness.ts';

const net = Consortium.create({ validators: 4, basePort: 17656 });
const client = new KvClient(net.chainId);
const base = net.rpcs[0]!;
const wsUrl = `${base.replace(/^http/, 'ws')}/websocket`;

const HASH = /^[0-9A-F]{64}$/;
const ADDRESS = /^[0-9A-F]{40}$/;
const INT = /^-?[0-9]+$/;
// Go's RFC 3339 with nanoseconds, as CometBFT writes times: no trailing zero in the fraction.
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON under test, checked field by field
type Json = Record<string, any>;

interface Reply {
  status: number;
  body: Json;
  text: string;
  headers: Headers;
}

async function http(path: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  let body: Json = {};
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    // left empty: the test checks the text
  }
  return { status: res.status, body, text, headers: res.headers };
}

const get = (path: string) => http(path);
const post = (payload: unknown) =>
  http('/', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });

let nextId = 1;
/** A JSON-RPC POST that must succeed; returns `result`. */
async function call(method: string, params: unknown = {}): Promise<Json> {
  const id = nextId++;
  const r = await post({ jsonrpc: '2.0', id, method, params });
  assert.is(r.status, 200, `${method}: HTTP ${r.status} ${r.text}`);
  assert.is(r.body.id, id);
  assert.is(r.body.error, undefined, `${method}: ${JSON.stringify(r.body.error)}`);
  return r.body.result;
}

/** A URI GET that must succeed; returns `result`. */
async function uri(path: string): Promise<Json> {
  const r = await get(path);
  assert.is(r.status, 200, `${path}: HTTP ${r.status} ${r.text}`);
  assert.is(r.body.jsonrpc, '2.0');
  assert.is(r.body.id, -1);
  return r.body.result;
}

/** A call that must fail with `code` (and HTTP `status`), its data matching `data`. */
function expectError(r: Reply, status: number, code: number, data?: RegExp): void {
  assert.is(r.status, status, `HTTP ${r.status}: ${r.text}`);
  const error = Array.isArray(r.body) ? undefined : r.body.error;
  assert.ok(error !== undefined, `no error in ${r.text}`);
  assert.is(error.code, code, r.text);
  assert.type(error.message, 'string');
  if (data !== undefined) assert.match(error.data ?? '', data);
}

/** The message a promise rejects with (fails if it resolves). */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// Shapes -------------------------------------------------------------------------------------

/** CometBFT's node id of a libp2p peer id, computed here from the key (not by the node's code). */
function cometNodeId(peerId: string): string {
  const key = peerIdFromString(peerId).publicKey!.raw;
  return createHash('sha256').update(key).digest().subarray(0, 20).toString('hex');
}

function checkBlockId(id: Json): void {
  assert.match(id.hash, HASH);
  assert.type(id.parts.total, 'number');
  assert.match(id.parts.hash, HASH);
}

function checkHeader(h: Json): void {
  assert.equal(Object.keys(h), [
    'version',
    'chain_id',
    'height',
    'time',
    'last_block_id',
    'last_commit_hash',
    'data_hash',
    'validators_hash',
    'next_validators_hash',
    'consensus_hash',
    'app_hash',
    'last_results_hash',
    'evidence_hash',
    'proposer_address',
  ]);
  assert.match(h.version.block, INT);
  assert.is(h.chain_id, net.chainId);
  assert.match(h.height, INT);
  assert.match(h.time, TIME);
  for (const k of [
    'last_commit_hash',
    'data_hash',
    'validators_hash',
    'next_validators_hash',
    'consensus_hash',
  ])
    assert.match(h[k], HASH, k);
  assert.match(h.app_hash, HASH);
  assert.match(h.proposer_address, ADDRESS);
}

function checkCommit(c: Json): void {
  assert.match(c.height, INT);
  assert.type(c.round, 'number');
  checkBlockId(c.block_id);
  assert.ok(Array.isArray(c.signatures) && c.signatures.length === 4);
  for (const s of c.signatures) {
    assert.ok([1, 2, 3].includes(s.block_id_flag));
    if (s.block_id_flag === 1) continue;
    assert.match(s.validator_address, ADDRESS);
    assert.match(s.timestamp, TIME);
    assert.match(s.signature, BASE64);
  }
}

function checkBlock(b: Json): void {
  assert.equal(Object.keys(b), ['header', 'data', 'evidence', 'last_commit']);
  checkHeader(b.header);
  assert.ok(Array.isArray(b.data.txs));
  for (const tx of b.data.txs) assert.match(tx, BASE64);
  assert.ok(Array.isArray(b.evidence.evidence));
}

function checkExecResult(r: Json): void {
  assert.equal(Object.keys(r), [
    'code',
    'data',
    'log',
    'info',
    'gas_wanted',
    'gas_used',
    'events',
    'codespace',
  ]);
  assert.type(r.code, 'number');
  assert.match(r.gas_wanted, INT);
  assert.match(r.gas_used, INT);
  for (const e of r.events) {
    assert.type(e.type, 'string');
    for (const a of e.attributes) {
      assert.type(a.key, 'string');
      assert.type(a.value, 'string');
      assert.type(a.index, 'boolean');
    }
  }
}

/** CometBFT's ResultTx; `proof` only when asked for (`proof,omitempty`: a zero proof is omitted). */
function checkTx(t: Json, hash: string, proved: boolean): void {
  assert.equal(Object.keys(t), ['hash', 'height', 'index', 'tx_result', 'tx', ...(proved ? ['proof'] : [])]);
  assert.match(t.hash, HASH);
  assert.is(t.hash, hash);
  assert.match(t.height, INT);
  assert.type(t.index, 'number');
  checkExecResult(t.tx_result);
  assert.match(t.tx, BASE64);
}

// WebSocket client -----------------------------------------------------------------------------

class WsClient {
  readonly messages: Json[] = [];
  readonly ws: WebSocket;
  private waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | null = null;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()));
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(url = wsUrl, headers: Record<string, string> = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
      ws.once('open', () => resolve(new WsClient(ws)));
      ws.on('error', reject);
    });
  }

  /** Waits until a message satisfies `pred` (within `ms`), and returns it. */
  async waitFor(pred: (m: Json) => boolean, ms = 10_000, what = 'message'): Promise<Json> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.messages.find(pred);
      if (found !== undefined) return found;
      if (this.closed !== null) throw new Error(`socket closed (${this.closed.code}) before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async call(method: string, params: unknown = {}, id: number | string = nextId++): Promise<Json> {
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    return this.waitFor(
      (m) => m.id === id && (m.result === undefined || m.result.query === undefined),
      10_000,
      `reply to ${method}`,
    );
  }

  async waitClosed(ms = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + ms;
    while (this.closed === null && Date.now() < deadline) await sleep(20);
    if (this.closed === null) throw new Error('socket still open');
    return this.closed;
  }

  close(): void {
    this.ws.terminate();
  }
}

const sockets: WsClient[] = [];

test.after(async () => {
  for (const s of sockets) s.close();
  await net.destroy();
});

// Each test starts from all four nodes running and caught up: a node one test left down or
// behind does not fail the next ones too (the txs sent earlier stay: later tests query them).
test.before.each(async () => {
  await net.ensureLive([0, 1, 2, 3]);
});

// ---------------------------------------------------------------------------------------------

const sent: { key: string; hash: string; height?: string }[] = [];
let events: WsClient;

test('a consortium starts; subscriptions are accepted over the WebSocket', async () => {
  // Node 0 keeps the states of its 3 newest heights only (abci_query at an older one is refused).
  net.editConfig(0, (config) => {
    config.storage = { keep_state_versions: 3 };
  });
  net.startAll();
  await Promise.all([0, 1, 2, 3].map((i) => net.waitForHeight(i, 2n, 30_000)));
  events = await WsClient.open();
  sockets.push(events);
  for (const [id, query] of [
    ['blocks', "tm.event='NewBlock'"],
    ['headers', "tm.event = 'NewBlockHeader'"],
    ['kv', "tm.event='Tx' AND kv.key='rpc-k1'"],
    ['vals', "tm.event='ValidatorSetUpdates'"],
    ['height', "tm.event='Tx' AND tx.height > 0 AND kv.op EXISTS"],
  ] as const) {
    const reply = await events.call('subscribe', { query }, id);
    assert.equal(reply, { jsonrpc: '2.0', id, result: {} });
  }
});

test('broadcast_tx_sync (URI, hex), broadcast_tx_async (POST, base64) and broadcast_tx_commit', async () => {
  const k0 = client.tx('rpc-k0', 'v0');
  const sync = await uri(`/broadcast_tx_sync?tx=${k0.hex}`);
  assert.equal(sync, { code: 0, data: '', log: '', codespace: '', hash: k0.hash });
  sent.push({ key: 'rpc-k0', hash: k0.hash });

  const k2 = client.tx('rpc-k2', 'v2');
  const async_ = await call('broadcast_tx_async', {
    tx: Buffer.from(k2.hex.slice(2), 'hex').toString('base64'),
  });
  assert.equal(async_, { code: 0, data: '', log: '', codespace: '', hash: k2.hash });
  sent.push({ key: 'rpc-k2', hash: k2.hash });

  const k1 = client.tx('rpc-k1', 'v1');
  const commit = await call('broadcast_tx_commit', [Buffer.from(k1.hex.slice(2), 'hex').toString('base64')]);
  assert.equal(Object.keys(commit), ['check_tx', 'tx_result', 'hash', 'height']);
  assert.is(commit.hash, k1.hash);
  assert.match(commit.height, INT);
  assert.ok(BigInt(commit.height) > 0n);
  assert.is(commit.check_tx.code, 0);
  checkExecResult(commit.tx_result);
  assert.is(commit.tx_result.code, 0);
  assert.equal(commit.tx_result.events, [
    {
      type: 'kv',
      attributes: [
        { key: 'key', value: 'rpc-k1', index: true },
        { key: 'op', value: 'set', index: true },
      ],
    },
  ]);
  sent.push({ key: 'rpc-k1', hash: k1.hash, height: commit.height });

  // Re-sending a committed tx: CheckTx refuses it, as a result (not an error), at once.
  const again = await call('broadcast_tx_commit', {
    tx: Buffer.from(k1.hex.slice(2), 'hex').toString('base64'),
  });
  assert.is(again.check_tx.code, 1);
  assert.is(again.check_tx.codespace, 'TX_ALREADY_COMMITTED');
  assert.is(again.height, '0');
  // Another node, once it has that block: the same refusal, found in its tx index.
  await net.waitForHeight(1, BigInt(commit.height), 15_000);
  const elsewhere = await net.rpc<Json>(1, `/broadcast_tx_sync?tx=${k1.hex}`);
  assert.equal([elsewhere.code, elsewhere.codespace], [1, 'TX_ALREADY_COMMITTED']);
  // A tx re-sent at once is never accepted twice: pending (TX_IN_MEMPOOL) or, if its block came
  // in between, committed (TX_ALREADY_COMMITTED).
  // (Its key is outside the 'rpc-k' ones the search tests count.)
  const resent = client.tx('resent', 'v');
  assert.is((await uri(`/broadcast_tx_sync?tx=${resent.hex}`)).code, 0);
  const twice = await uri(`/broadcast_tx_sync?tx=${resent.hex}`);
  assert.is(twice.code, 1);
  assert.ok(['TX_IN_MEMPOOL', 'TX_ALREADY_COMMITTED'].includes(twice.codespace), twice.codespace);

  // A tx that is not a signed tx: refused by check, with the error code in codespace.
  const junk = await uri('/broadcast_tx_sync?tx=0xdeadbeef');
  assert.is(junk.code, 1);
  assert.match(junk.codespace, /^[A-Z_]+$/);
  expectError(await get('/broadcast_tx_async?tx=0xdeadbeef'), 500, -32603, /^[A-Z_]+: /);
  expectError(await get('/broadcast_tx_sync?tx=0xabc'), 500, -32602, /not valid hex/);
  expectError(await get('/broadcast_tx_sync'), 500, -32602, /tx is required/);
  expectError(
    await post({ jsonrpc: '2.0', id: 1, method: 'broadcast_tx_sync', params: { tx: '!!' } }),
    200,
    -32602,
    /base64/,
  );
});

test('WebSocket events: NewBlock, NewBlockHeader and Tx in CometBFT envelopes', async () => {
  const block = await events.waitFor(
    (m) => m.id === 'blocks#event' && m.result?.data !== undefined,
    10_000,
    'NewBlock',
  );
  assert.equal(Object.keys(block), ['jsonrpc', 'id', 'result']);
  // CometBFT's frame id: the subscribe call's id and "#event"; never the bare id.
  assert.is(block.id, 'blocks#event');
  assert.not.ok(events.messages.some((m) => m.id === 'blocks' && m.result?.data !== undefined));
  assert.is(block.result.query, "tm.event='NewBlock'");
  assert.is(block.result.data.type, 'tendermint/event/NewBlock');
  const nb = block.result.data.value;
  assert.equal(Object.keys(nb), ['block', 'block_id', 'result_finalize_block']);
  checkBlock(nb.block);
  checkBlockId(nb.block_id);
  assert.equal(Object.keys(nb.result_finalize_block), [
    'events',
    'tx_results',
    'validator_updates',
    'consensus_param_updates',
    'app_hash',
  ]);
  assert.match(nb.result_finalize_block.app_hash, BASE64);
  assert.equal(block.result.events['tm.event'], ['NewBlock']);

  const header = await events.waitFor(
    (m) => m.id === 'headers#event' && m.result?.data !== undefined,
    10_000,
    'header',
  );
  assert.is(header.result.data.type, 'tendermint/event/NewBlockHeader');
  checkHeader(header.result.data.value.header);
  assert.equal(header.result.events, { 'tm.event': ['NewBlockHeader'] });

  const k1 = sent.find((s) => s.key === 'rpc-k1')!;
  const tx = await events.waitFor(
    (m) => m.id === 'kv#event' && m.result?.data !== undefined,
    10_000,
    'Tx event',
  );
  assert.is(tx.result.query, "tm.event='Tx' AND kv.key='rpc-k1'");
  assert.is(tx.result.data.type, 'tendermint/event/Tx');
  const txr = tx.result.data.value.TxResult;
  assert.is(txr.height, k1.height);
  assert.type(txr.index, 'number');
  assert.match(txr.tx, BASE64);
  checkExecResult(txr.result);
  assert.equal(tx.result.events['tm.event'], ['Tx']);
  assert.equal(tx.result.events['tx.hash'], [k1.hash]);
  assert.equal(tx.result.events['tx.height'], [k1.height]);
  assert.equal(tx.result.events['kv.key'], ['rpc-k1']);
  assert.equal(tx.result.events['kv.op'], ['set']);
  // Only the matching tx reached the kv subscription; all three reached the broader one.
  await events.waitFor(
    (m) => m.id === 'height#event' && m.result?.events?.['kv.key']?.[0] === 'rpc-k2',
    10_000,
    'Tx event of rpc-k2',
  );
  assert.ok(events.messages.filter((m) => m.id === 'kv#event' && m.result?.data !== undefined).length === 1);
  // No validator set change on this chain.
  assert.not.ok(events.messages.some((m) => m.id === 'vals#event' && m.result?.data !== undefined));
});

test('status, health, net_info, genesis, abci_info: URI and JSON-RPC agree on the shapes', async () => {
  assert.equal(await uri('/health'), {});
  assert.equal(await call('health'), {});
  for (const status of [await uri('/status'), await call('status')]) {
    assert.equal(Object.keys(status), ['node_info', 'sync_info', 'validator_info']);
    assert.equal(Object.keys(status.node_info), [
      'protocol_version',
      'id',
      'listen_addr',
      'network',
      'version',
      'channels',
      'moniker',
      'other',
    ]);
    assert.is(status.node_info.network, net.chainId);
    // CometBFT's node id: the node key's address, lower-case hex; the libp2p peer id beside it.
    assert.match(status.node_info.id, /^[0-9a-f]{40}$/);
    assert.equal(Object.keys(status.node_info.other), ['tx_index', 'rpc_address', 'peer_id']);
    assert.is(status.node_info.id, cometNodeId(status.node_info.other.peer_id));
    assert.match(status.node_info.listen_addr, /^\/ip4\/.+\/tcp\/\d+\/p2p\/12D3KooW/);
    const s = status.sync_info;
    assert.match(s.latest_block_hash, HASH);
    assert.match(s.latest_app_hash, HASH);
    assert.match(s.latest_block_height, INT);
    assert.match(s.latest_block_time, TIME);
    assert.match(s.earliest_block_hash, HASH);
    assert.is(s.earliest_block_height, '1');
    assert.match(s.earliest_block_time, TIME);
    assert.type(s.catching_up, 'boolean');
    assert.match(status.validator_info.address, ADDRESS);
    assert.is(status.validator_info.pub_key.type, 'tendermint/PubKeyEd25519');
    assert.match(status.validator_info.pub_key.value, BASE64);
    assert.match(status.validator_info.voting_power, INT);
  }

  const info = await uri('/net_info');
  assert.equal(Object.keys(info), ['listening', 'listeners', 'n_peers', 'peers']);
  assert.is(info.listening, true);
  assert.match(info.n_peers, INT);
  assert.is(Number(info.n_peers), info.peers.length);
  assert.ok(info.peers.length >= 1);
  for (const p of info.peers) {
    assert.equal(Object.keys(p), ['node_info', 'is_outbound', 'connection_status', 'remote_ip']);
    assert.is(p.node_info.network, net.chainId);
    assert.match(p.node_info.id, /^[0-9a-f]{40}$/);
    assert.is(p.node_info.id, cometNodeId(p.node_info.other.peer_id));
    assert.is(p.remote_ip, '127.0.0.1');
    assert.type(p.connection_status.SendMonitor, 'object');
  }

  const { genesis } = await uri('/genesis');
  assert.is(genesis.chain_id, net.chainId);
  assert.match(genesis.genesis_time, TIME);
  assert.is(genesis.initial_height, '1');
  assert.is(genesis.validators.length, 4);
  for (const v of genesis.validators) {
    assert.match(v.address, ADDRESS);
    assert.match(v.power, INT);
    assert.is(v.pub_key.type, 'tendermint/PubKeyEd25519');
  }
  assert.match(genesis.consensus_params.block.max_bytes, INT);
  assert.match(genesis.consensus_params.evidence.max_age_num_blocks, INT);
  assert.equal(genesis.consensus_params.validator.pub_key_types, ['ed25519']);

  const abci = (await uri('/abci_info')).response;
  assert.equal(Object.keys(abci), [
    'data',
    'version',
    'app_version',
    'last_block_height',
    'last_block_app_hash',
  ]);
  assert.match(abci.last_block_height, INT);
  assert.match(abci.last_block_app_hash, BASE64);
});

test('blockchain, block, block_by_hash, header, header_by_hash, block_results, commit', async () => {
  const k1 = sent.find((s) => s.key === 'rpc-k1')!;
  const h = BigInt(k1.height!);
  await net.waitForHeight(0, h + 1n, 10_000);

  const chain = await uri('/blockchain?minHeight=1&maxHeight=1000');
  assert.match(chain.last_height, INT);
  assert.ok(chain.block_metas.length >= 1 && chain.block_metas.length <= 20);
  const heights = chain.block_metas.map((m: Json) => BigInt(m.header.height));
  assert.equal(
    heights,
    [...heights].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)),
    'descending',
  );
  for (const m of chain.block_metas) {
    assert.equal(Object.keys(m), ['block_id', 'block_size', 'header', 'num_txs']);
    checkBlockId(m.block_id);
    assert.match(m.block_size, INT);
    assert.match(m.num_txs, INT);
    checkHeader(m.header);
  }
  const two = await call('blockchain', { minHeight: '1', maxHeight: '2' });
  assert.equal(
    two.block_metas.map((m: Json) => m.header.height),
    ['2', '1'],
  );
  expectError(
    await get('/blockchain?minHeight=5&maxHeight=3'),
    500,
    -32603,
    /min height 5 can't be greater than max height 3/,
  );
  expectError(await get('/blockchain?minHeight=-1'), 500, -32603, /heights must be non-negative/);

  const viaUri = await uri(`/block?height=${h}`);
  const viaPost = await call('block', { height: String(h) });
  assert.equal(viaUri, viaPost);
  assert.equal(Object.keys(viaUri), ['block_id', 'block']);
  checkBlockId(viaUri.block_id);
  checkBlock(viaUri.block);
  checkCommit(viaUri.block.last_commit);
  assert.is(viaUri.block.header.height, String(h));
  const rawTxs: string[] = viaUri.block.data.txs;
  assert.ok(rawTxs.some((t) => Buffer.from(t, 'base64').length > 0));

  const byHash = await uri(`/block_by_hash?hash=0x${viaUri.block_id.hash}`);
  assert.equal(byHash, viaUri);
  assert.equal(
    await call('block_by_hash', { hash: Buffer.from(viaUri.block_id.hash, 'hex').toString('base64') }),
    viaUri,
  );
  const unknown = await uri(`/block_by_hash?hash=0x${'00'.repeat(32)}`);
  assert.equal(unknown, { block_id: { hash: '', parts: { total: 0, hash: '' } }, block: null });
  expectError(await get('/block_by_hash?hash=0x1234'), 500, -32602, /32-byte hash/);

  assert.equal((await uri(`/header?height=${h}`)).header, viaUri.block.header);
  assert.equal((await call('header_by_hash', [viaUri.block_id.hash])).header, viaUri.block.header);

  const results = await uri(`/block_results?height=${h}`);
  assert.equal(Object.keys(results), [
    'height',
    'txs_results',
    'finalize_block_events',
    'validator_updates',
    'consensus_param_updates',
    'app_hash',
  ]);
  assert.is(results.height, String(h));
  assert.is(results.txs_results.length, rawTxs.length);
  for (const r of results.txs_results) checkExecResult(r);
  assert.equal(results.validator_updates, []);
  assert.is(results.consensus_param_updates, null);
  const next = await uri(`/block?height=${h + 1n}`);
  assert.is(
    Buffer.from(results.app_hash, 'base64').toString('hex').toUpperCase(),
    next.block.header.app_hash,
  );

  const commit = await uri(`/commit?height=${h}`);
  assert.equal(Object.keys(commit), ['signed_header', 'canonical']);
  assert.is(commit.canonical, true);
  assert.equal(commit.signed_header.header, viaUri.block.header);
  checkCommit(commit.signed_header.commit);
  assert.is(commit.signed_header.commit.block_id.hash, viaUri.block_id.hash);
  const latest = await call('commit');
  assert.type(latest.canonical, 'boolean');
  checkCommit(latest.signed_header.commit);

  for (const path of ['/block', '/commit', '/block_results', '/header']) {
    expectError(await get(`${path}?height=abc`), 500, -32602, /height must be an integer/);
    expectError(await get(`${path}?height=0`), 500, -32603, /height must be greater than 0, but got 0/);
    expectError(
      await get(`${path}?height=999999999`),
      500,
      -32603,
      /height 999999999 must be less than or equal to the current blockchain height \d+/,
    );
  }
  expectError(await post({ jsonrpc: '2.0', id: 7, method: 'block', params: { height: 1.5 } }), 200, -32602);
});

test('validators, consensus_params, consensus_state, unconfirmed_txs, num_unconfirmed_txs', async () => {
  const vals = await uri('/validators');
  assert.equal(Object.keys(vals), ['block_height', 'validators', 'count', 'total']);
  assert.match(vals.block_height, INT);
  assert.is(vals.count, '4');
  assert.is(vals.total, '4');
  for (const v of vals.validators) {
    assert.equal(Object.keys(v), ['address', 'pub_key', 'voting_power', 'proposer_priority']);
    assert.match(v.address, ADDRESS);
    assert.match(v.voting_power, INT);
    assert.match(v.proposer_priority, INT);
  }
  const paged = await call('validators', { height: '1', page: '2', per_page: '3' });
  assert.equal([paged.count, paged.total, paged.block_height], ['1', '4', '1']);
  expectError(
    await get('/validators?page=3&per_page=3'),
    500,
    -32603,
    /page should be within \[1, 2\] range, given 3/,
  );
  const clamped = await uri('/validators?per_page=1000');
  assert.is(clamped.count, '4');

  const params = await uri('/consensus_params?height=1');
  assert.is(params.block_height, '1');
  assert.equal(Object.keys(params.consensus_params), ['block', 'evidence', 'validator', 'version', 'abci']);
  assert.match(params.consensus_params.evidence.max_age_duration, INT);

  const cs = (await uri('/consensus_state')).round_state;
  assert.match(cs['height/round/step'], /^\d+\/\d+\/\d+$/);
  assert.match(cs.start_time, /^\d{4}-\d{2}-\d{2}T/);
  assert.ok(Array.isArray(cs.height_vote_set));
  for (const r of cs.height_vote_set) {
    assert.type(r.round, 'number');
    assert.is(r.prevotes.length, 4);
    assert.match(r.prevotes_bit_array, /^BA\{4:[x_]{4}\} \d+\/\d+ = \d\.\d\d$/);
  }
  assert.type(cs.proposer.index, 'number');

  const pool = await uri('/unconfirmed_txs?limit=5');
  assert.equal(Object.keys(pool), ['n_txs', 'total', 'total_bytes', 'txs']);
  assert.match(pool.n_txs, INT);
  assert.match(pool.total_bytes, INT);
  const n = await call('num_unconfirmed_txs');
  assert.equal(Object.keys(n), ['n_txs', 'total', 'total_bytes', 'txs']);
  assert.is(n.txs, null);
  expectError(await get('/unconfirmed_txs?limit=x'), 500, -32602, /limit must be an integer/);
});

test('tx (with proof), tx_search and block_search over the index', async () => {
  const k1 = sent.find((s) => s.key === 'rpc-k1')!;
  const byUri = await uri(`/tx?hash=0x${k1.hash}&prove=true`);
  checkTx(byUri, k1.hash, true);
  assert.is(byUri.height, k1.height);
  const proof = byUri.proof;
  assert.match(proof.root_hash, HASH);
  const block = await uri(`/block?height=${k1.height}`);
  assert.is(proof.root_hash, block.block.header.data_hash);
  assert.is(proof.data, byUri.tx);
  assert.match(proof.proof.total, INT);
  assert.match(proof.proof.leaf_hash, BASE64);
  // JSON-RPC: the hash as base64 (CometBFT's []byte); without prove, no proof key (as CometBFT).
  const byPost = await call('tx', { hash: Buffer.from(k1.hash, 'hex').toString('base64') });
  checkTx(byPost, k1.hash, false);
  expectError(
    await get(`/tx?hash=0x${'AB'.repeat(32)}`),
    500,
    -32603,
    new RegExp(`tx \\(${'AB'.repeat(32)}\\) not found`),
  );
  expectError(await get('/tx?hash=0x12'), 500, -32602);
  expectError(await get(`/tx?hash=0x${k1.hash}&prove=maybe`), 500, -32602, /prove must be true or false/);

  // Wait until the last of our txs is indexed (it is committed with its block: no lag).
  for (const s of sent) {
    const deadline = Date.now() + 10_000;
    while ((await get(`/tx?hash=0x${s.hash}`)).status !== 200 && Date.now() < deadline) await sleep(200);
  }
  const byKey = await uri(`/tx_search?query="kv.key='rpc-k1'"&prove=true`);
  assert.equal(Object.keys(byKey), ['txs', 'total_count']);
  assert.is(byKey.total_count, '1');
  checkTx(byKey.txs[0], k1.hash, true);
  assert.match(byKey.txs[0].proof.root_hash, HASH);

  const all = await call('tx_search', {
    query: "tm.event='Tx' AND kv.key CONTAINS 'rpc-k' AND kv.op='set'",
    order_by: 'asc',
  });
  assert.is(all.total_count, '3');
  const hashes = all.txs.map((t: Json) => t.hash);
  assert.equal(new Set(hashes), new Set(sent.map((s) => s.hash)));
  const positions = all.txs.map((t: Json) => [BigInt(t.height), t.index]);
  const sorted = [...positions].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  assert.equal(positions, sorted, 'ascending');
  const desc = await call('tx_search', ["kv.key CONTAINS 'rpc-k'", false, '1', '2', 'desc']);
  assert.is(desc.total_count, '3');
  assert.is(desc.txs.length, 2);
  assert.equal(desc.txs[0].hash, all.txs[2].hash);
  const byHeight = await uri(`/tx_search?query="tx.height=${k1.height}"`);
  assert.ok(byHeight.txs.some((t: Json) => t.hash === k1.hash));
  const byHash = await uri(`/tx_search?query="tx.hash='${k1.hash}'"`);
  assert.is(byHash.total_count, '1');
  const none = await uri(`/tx_search?query="kv.key='nothing-here'"`);
  assert.equal(none, { txs: [], total_count: '0' });

  expectError(await get(`/tx_search?query="kv.key='x"`), 500, -32603, /offset \d+: unterminated string/);
  expectError(await get(`/tx_search?query="kv.key=x"`), 500, -32603, /offset 7: got tag, wanted/);
  expectError(await get(`/tx_search?query="kv.key='x'"&order_by="up"`), 500, -32603, /invalid order_by/);
  expectError(
    await get(`/tx_search?query="kv.key='rpc-k1'"&page=2`),
    500,
    -32603,
    /page should be within \[1, 1\] range, given 2/,
  );
  expectError(await get('/tx_search'), 500, -32602, /query is required/);

  const blocks = await uri(`/block_search?query="block.height >= 2 AND block.height <= 4"&order_by="asc"`);
  assert.equal(Object.keys(blocks), ['blocks', 'total_count']);
  assert.is(blocks.total_count, '3');
  assert.equal(
    blocks.blocks.map((b: Json) => b.block.header.height),
    ['2', '3', '4'],
  );
  for (const b of blocks.blocks) {
    checkBlockId(b.block_id);
    checkBlock(b.block);
  }
  const newest = await call('block_search', { query: "tm.event='NewBlock'", per_page: 1 });
  assert.is(newest.blocks.length, 1);
  assert.ok(BigInt(newest.total_count) >= 4n);
  assert.is(newest.blocks[0].block.header.height, newest.total_count, 'descending by default');
  expectError(await get(`/block_search?query="block.height > 1"&order_by=sideways`), 500, -32603, /order_by/);
});

test('abci_query (with proof) and check_tx', async () => {
  const data = `0x${Buffer.from('rpc-k1').toString('hex')}`;
  const q = (await uri(`/abci_query?path="/kv"&data=${data}&prove=true`)).response;
  assert.equal(Object.keys(q), [
    'code',
    'log',
    'info',
    'index',
    'key',
    'value',
    'proofOps',
    'height',
    'codespace',
  ]);
  assert.is(q.code, 0);
  assert.is(Buffer.from(q.value, 'base64').toString(), 'v1');
  assert.match(q.height, INT);
  assert.is(q.proofOps.ops.length, 1);
  assert.match(q.proofOps.ops[0].data, BASE64);
  // JSON-RPC: data as hex (CometBFT's HexBytes).
  const viaPost = (await call('abci_query', { path: '/kv', data: Buffer.from('rpc-k1').toString('hex') }))
    .response;
  assert.is(Buffer.from(viaPost.value, 'base64').toString(), 'v1');
  assert.is(viaPost.proofOps, null);
  const missing = (await uri(`/abci_query?path="/kv"&data=0x${Buffer.from('absent').toString('hex')}`))
    .response;
  assert.is(missing.value, null);
  expectError(await get('/abci_query?path="/kv"&data=0xzz'), 500, -32602, /not valid hex/);
  // Pruned: the state of height 1 fell out of node 0's 3-state window long ago; the latest is there.
  expectError(await get(`/abci_query?path="/kv"&data=${data}&height=1`), 500, -32603, /STATE_VERSION_PRUNED/);
  const latest = BigInt(q.height);
  assert.is((await uri(`/abci_query?path="/kv"&data=${data}&height=${latest}`)).response.code, 0);

  const ok = client.tx('rpc-check', 'c');
  const checked = await uri(`/check_tx?tx=${ok.hex}`);
  checkExecResult(checked);
  assert.is(checked.code, 0);
  // check_tx does not add to the mempool: the same tx can still be broadcast.
  assert.is((await uri(`/broadcast_tx_sync?tx=${ok.hex}`)).code, 0);
  const bad = await call('check_tx', { tx: Buffer.from('not a tx').toString('base64') });
  assert.is(bad.code, 1);
  assert.match(bad.codespace, /^[A-Z_]+$/);
});

test('malformed HTTP calls get JSON-RPC errors with CometBFT codes and statuses', async () => {
  expectError(await get('/no_such_method'), 404, -32601);
  expectError(await post({ jsonrpc: '2.0', id: 1, method: 'no_such_method' }), 200, -32601);
  expectError(await get('/unsafe_flush_mempool'), 404, -32601, /unsafe methods are disabled/);
  expectError(await post({ jsonrpc: '2.0', id: 1, method: 'unsafe_flush_mempool' }), 200, -32601, /unsafe/);
  expectError(await get(`/subscribe?query="tm.event='NewBlock'"`), 404, -32601);
  expectError(await post('{"jsonrpc":"2.0",'), 500, -32700);
  expectError(await post('[]'), 400, -32600, /empty batch/);
  expectError(
    await post(Array.from({ length: 11 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'health' }))),
    400,
    -32600,
    /maximum JSON-RPC batch size exceeded, got: 11, max: 10/,
  );
  expectError(await post({ jsonrpc: '2.0', id: { no: 1 }, method: 'health' }), 200, -32600, /id must be/);
  expectError(await post({ jsonrpc: '1.0', id: 1, method: 'health' }), 200, -32600, /jsonrpc must be "2.0"/);
  expectError(await post({ jsonrpc: '2.0', id: 1, method: 'health', params: 'x' }), 200, -32602);
  expectError(
    await post({ jsonrpc: '2.0', id: 1, method: 'block', params: [1, 2] }),
    200,
    -32602,
    /at most 1 parameters/,
  );
  expectError(await post('"just a string"'), 200, -32600);
  const huge = await post({
    jsonrpc: '2.0',
    id: 1,
    method: 'broadcast_tx_sync',
    params: { tx: 'A'.repeat(1_100_000) },
  });
  expectError(huge, 400, -32600, /body over 1000000 bytes/);
  expectError(await http('/', { method: 'PUT', body: '{}' }), 405, -32600);
  // A notification gets no reply at all.
  const note = await post({ jsonrpc: '2.0', method: 'health' });
  assert.is(note.status, 200);
  assert.is(note.text, '');
  // CORS is off by default: no allow-origin header, preflights refused.
  const cors = await http('/status', { headers: { origin: 'https://evil.example' } });
  assert.is(cors.headers.get('access-control-allow-origin'), null);
  assert.is(
    (await http('/', { method: 'OPTIONS', headers: { origin: 'https://evil.example' } })).status,
    405,
  );
  // The node is still healthy after all that.
  assert.equal(await uri('/health'), {});
});

test('a JSON-RPC batch: each call answered by id, errors alongside results', async () => {
  const r = await post([
    { jsonrpc: '2.0', id: 'a', method: 'health' },
    { jsonrpc: '2.0', id: 'b', method: 'block', params: { height: '1' } },
    { jsonrpc: '2.0', id: 'c', method: 'block', params: { height: 'x' } },
    { jsonrpc: '2.0', method: 'health' },
    { jsonrpc: '2.0', id: 'd', method: 'nope' },
    { jsonrpc: '2.0', id: 'e', method: 'abci_info', params: [] },
  ]);
  assert.is(r.status, 200);
  assert.ok(Array.isArray(r.body));
  const byId = new Map((r.body as unknown as Json[]).map((e) => [e.id, e]));
  assert.is(byId.size, 5, 'the notification is not answered');
  assert.equal(byId.get('a')!.result, {});
  assert.is(byId.get('b')!.result.block.header.height, '1');
  assert.is(byId.get('c')!.error.code, -32602);
  assert.is(byId.get('d')!.error.code, -32601);
  assert.match(byId.get('e')!.result.response.last_block_height, INT);
});

test('WebSocket: calls, malformed messages and limits', async () => {
  const ws = await WsClient.open();
  sockets.push(ws);
  const status = await ws.call('status', {}, 'st');
  assert.match(status.result.sync_info.latest_block_height, INT);
  ws.ws.send('{not json');
  const parse = await ws.waitFor((m) => m.error?.code === -32700, 5000, 'parse error');
  assert.is(parse.id, null);
  assert.is((await ws.call('no_such_method')).error.code, -32601);
  const badQuery = await ws.call('subscribe', { query: "tm.event='NewBlock" });
  assert.is(badQuery.error.code, -32603);
  assert.match(badQuery.error.data, /^failed to parse query: offset 9: unterminated string/);
  assert.is((await ws.call('subscribe', { query: "x.y < 'a'" })).error.code, -32603);
  assert.is((await ws.call('subscribe', {})).error.code, -32602);
  for (let i = 0; i < 5; i++) assert.equal((await ws.call('subscribe', { query: `a.b = ${i}` })).result, {});
  const dup = await ws.call('subscribe', { query: 'a.b=0' });
  assert.match(dup.error.data, /already subscribed|max_subscriptions_per_client/);
  const sixth = await ws.call('subscribe', { query: 'a.b = 5' });
  assert.match(sixth.error.data, /max_subscriptions_per_client 5 reached/);
  assert.equal((await ws.call('unsubscribe', { query: 'a.b = 0' })).result, {});
  assert.match((await ws.call('unsubscribe', { query: 'a.b = 0' })).error.data, /subscription not found/);
  assert.equal((await ws.call('subscribe', { query: 'a.b = 5' })).result, {});
  assert.equal((await ws.call('unsubscribe_all')).result, {});
  assert.match((await ws.call('unsubscribe_all')).error.data, /subscription not found/);
  ws.ws.send('[{"jsonrpc":"2.0","id":1,"method":"health"}]');
  await ws.waitFor((m) => m.error?.code === -32600, 5000, 'batch refusal');

  // A message over the size limit closes the connection (1009: message too big).
  const big = await WsClient.open();
  sockets.push(big);
  big.ws.send(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'broadcast_tx_sync',
      params: { tx: 'A'.repeat(1_100_000) },
    }),
  );
  assert.is((await big.waitClosed()).code, 1009);

  // Wrong path and browser origins are refused before the upgrade.
  assert.match(await refusal(WsClient.open(`${base.replace(/^http/, 'ws')}/other`)), /404/);
  assert.match(await refusal(WsClient.open(wsUrl, { origin: 'https://evil.example' })), /403/);
});

test('the other nodes serve the same chain through their RPC', async () => {
  const h = (await uri('/status')).sync_info.latest_block_height;
  for (const i of [1, 2, 3]) {
    await net.waitForHeight(i, BigInt(h), 10_000);
    const r = await fetch(`${net.rpcs[i]}/block?height=${h}`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as Json;
    assert.is(body.result.block_id.hash, (await uri(`/block?height=${h}`)).block_id.hash);
  }
});

test.run();
