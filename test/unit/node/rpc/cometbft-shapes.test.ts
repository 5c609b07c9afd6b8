/**
 * Every RPC answer, field by field, against what CometBFT v0.38 sends, on a real chain served by the
 * real RPC (test/unit/packages/client/light-chain.ts): each object's exact keys in CometBFT's order,
 * and each value's JSON type and encoding. A CometBFT client decodes these shapes, so a renamed,
 * missing or re-encoded field fails here.
 *
 * The reference is CometBFT v0.38's own OpenAPI document (rpc/openapi/openapi.yaml on v0.38.x,
 * commit 330d3bb1) checked against the Go types it describes, which are what CometBFT actually
 * writes: rpc/core/types/responses.go, encoded by libs/json (int64 *and int* as decimal strings,
 * []byte base64, HexBytes upper-case hex, `omitempty` drops zero values) except the ABCI results
 * (ResponseCheckTx, ExecTxResult, ResponseQuery, EventAttribute), which marshal through jsonpb
 * with defaults emitted (so `code` is a number, `gas_wanted` a string, and ResponseQuery's proof is
 * `proofOps`). Where the OpenAPI document disagrees with those types it is out of date, and the
 * Go types win; the shapes below say so where it matters:
 * - broadcast_tx_commit: `check_tx`, `tx_result` (v0.38), not `deliver_tx`; check_tx has
 *   info/gas_wanted/gas_used/events/codespace; codes are numbers (uint32), not strings;
 * - tx / tx_search: tx_result is an ExecTxResult (code, data, log, info, gas_wanted, gas_used,
 *   events, codespace), not `{log, gas_wanted, gas_used, tags}`; the proof is TxProof's
 *   `root_hash`/`data`/`proof`, not `RootHash`/`Data`/`Proof`, and absent without `prove`;
 * - block: `data` is `{txs}` and `evidence` `{evidence}` (objects), last_commit.height a string,
 *   commit signatures `{block_id_flag, validator_address, timestamp, signature}`;
 * - consensus_params: v0.38's block/evidence (max_age_num_blocks, max_age_duration, max_bytes)/
 *   validator/version/abci, no `time_iota_ms` or `max_age`;
 * - block_results has `app_hash`; num_unconfirmed_txs has `txs: null`; total_count and
 *   block_size are Go ints, so strings; header and header_by_hash answer `{header}`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { addValidator, type Json, keyQuery, startChain } from '../../packages/client/light-chain.ts';

// Leaf shapes ---------------------------------------------------------------------------------

type Shape = RegExp | Leaf | { readonly [key: string]: Shape } | readonly [Shape];
type Leaf = { readonly leaf: (v: unknown, path: string) => void };

const leaf = (check: (v: unknown, path: string) => void): Leaf => ({ leaf: check });
/** A JSON number that is an integer in [min, max] (CometBFT's uint32/int32 fields). */
const int = (min: number, max: number): Leaf =>
  leaf((v, path) => {
    assert.type(v, 'number', path);
    assert.ok(Number.isInteger(v) && (v as number) >= min && (v as number) <= max, `${path}: ${v}`);
  });
const U32 = int(0, 2 ** 32 - 1);
const I32 = int(-(2 ** 31), 2 ** 31 - 1);
const BOOL = leaf((v, path) => assert.type(v, 'boolean', path));
const NULL = leaf((v, path) => assert.is(v, null, path));
const ANY = leaf(() => undefined);
const exactly = (value: unknown): Leaf => leaf((v, path) => assert.equal(v, value, path));
const nullable = (shape: Shape): Leaf =>
  leaf((v, path) => {
    if (v !== null) check(v, shape, path);
  });
/** A map from strings to `shape` (event attributes by tag). */
const mapOf = (shape: Shape): Leaf =>
  leaf((v, path) => {
    assert.type(v, 'object', path);
    for (const [k, x] of Object.entries(v as Json)) check(x, shape, `${path}.${k}`);
  });

const INT64 = /^-?[0-9]+$/; // int64, uint64 and Go int: decimal strings
const STR = /^[\s\S]*$/;
const HASH = /^[0-9A-F]{64}$/;
const HASH_OR_EMPTY = /^(?:[0-9A-F]{64})?$/;
const HEX = /^(?:[0-9A-F]{2})*$/;
const ADDRESS = /^[0-9A-F]{40}$/;
const ADDRESS_OR_EMPTY = /^(?:[0-9A-F]{40})?$/;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Go's RFC 3339 with nanoseconds: no trailing zero in the fraction.
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z$/;
/** CometBFT's node id: the node key's address, lower-case hex (p2p.ID). */
const NODE_ID = /^[0-9a-f]{40}$/;

/** `value` has exactly `shape`'s keys, in its order, each of its shape. */
function check(value: unknown, shape: Shape, path: string): void {
  if (shape instanceof RegExp) {
    assert.type(value, 'string', path);
    assert.match(value as string, shape, path);
  } else if (Array.isArray(shape)) {
    assert.ok(Array.isArray(value), `${path}: expected an array, got ${JSON.stringify(value)}`);
    for (const [i, x] of (value as unknown[]).entries()) check(x, shape[0] as Shape, `${path}[${i}]`);
  } else if ('leaf' in shape && typeof shape.leaf === 'function') {
    (shape as Leaf).leaf(value, path);
  } else {
    assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${path}: not an object`);
    assert.equal(Object.keys(value as Json), Object.keys(shape), `${path}: keys`);
    for (const [k, s] of Object.entries(shape)) check((value as Json)[k], s as Shape, `${path}.${k}`);
  }
}

// CometBFT v0.38's types ----------------------------------------------------------------------

const BLOCK_ID = { hash: HASH, parts: { total: U32, hash: HASH } };
/** Header 1's last_block_id is Go's zero BlockID: empty hashes, total 0. */
const LAST_BLOCK_ID = { hash: HASH_OR_EMPTY, parts: { total: U32, hash: HASH_OR_EMPTY } };
const HEADER = {
  version: { block: INT64, app: INT64 },
  chain_id: STR,
  height: INT64,
  time: TIME,
  last_block_id: LAST_BLOCK_ID,
  last_commit_hash: HASH,
  data_hash: HASH,
  validators_hash: HASH,
  next_validators_hash: HASH,
  consensus_hash: HASH,
  app_hash: HASH,
  last_results_hash: HASH,
  evidence_hash: HASH,
  proposer_address: ADDRESS,
};
const COMMIT = {
  height: INT64,
  round: I32,
  block_id: BLOCK_ID,
  signatures: [
    {
      block_id_flag: int(1, 3),
      validator_address: ADDRESS_OR_EMPTY,
      timestamp: TIME,
      signature: nullable(B64),
    },
  ],
} as const;
const BLOCK = {
  header: HEADER,
  data: { txs: [B64] },
  evidence: { evidence: [ANY] },
  last_commit: COMMIT,
} as const;
const EVENT = { type: STR, attributes: [{ key: STR, value: STR, index: BOOL }] } as const;
// ABCI results (jsonpb, defaults emitted): code a number, gas a string, data null when empty.
const EXEC_TX_RESULT = {
  code: U32,
  data: nullable(B64),
  log: STR,
  info: STR,
  gas_wanted: INT64,
  gas_used: INT64,
  events: [EVENT],
  codespace: STR,
} as const;
const CHECK_TX = EXEC_TX_RESULT;
const PUB_KEY = { type: exactly('tendermint/PubKeyEd25519'), value: B64 };
const VALIDATOR = { address: ADDRESS, pub_key: PUB_KEY, voting_power: INT64, proposer_priority: INT64 };
const VALIDATOR_UPDATE = {
  pub_key: { Sum: { type: exactly('tendermint.crypto.PublicKey_Ed25519'), value: { ed25519: B64 } } },
  power: INT64,
};
const CONSENSUS_PARAMS = {
  block: { max_bytes: INT64, max_gas: INT64 },
  evidence: { max_age_num_blocks: INT64, max_age_duration: INT64, max_bytes: INT64 },
  validator: { pub_key_types: [STR] },
  version: { app: INT64 },
  abci: { vote_extensions_enable_height: INT64 },
} as const;
const NODE_INFO = {
  protocol_version: { p2p: INT64, block: INT64, app: INT64 },
  id: NODE_ID,
  listen_addr: STR,
  network: STR,
  version: STR,
  channels: HEX,
  moniker: STR,
  // CometBFT's DefaultNodeInfoOther, and the libp2p peer id where CometBFT leaves room.
  other: { tx_index: /^(on|off)$/, rpc_address: STR, peer_id: /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/ },
};
const TX_PROOF = {
  root_hash: HASH,
  data: B64,
  proof: { total: INT64, index: INT64, leaf_hash: B64, aunts: [B64] },
} as const;
const TX = { hash: HASH, height: INT64, index: U32, tx_result: EXEC_TX_RESULT, tx: B64 };
const PROVEN_TX = { ...TX, proof: TX_PROOF };
const BROADCAST = { code: U32, data: HEX, log: STR, codespace: STR, hash: HASH };

/** Each method's result, keyed by method name. */
const RESULTS: Record<string, Shape> = {
  health: {},
  status: {
    node_info: NODE_INFO,
    sync_info: {
      latest_block_hash: HASH,
      latest_app_hash: HASH,
      latest_block_height: INT64,
      latest_block_time: TIME,
      earliest_block_hash: HASH,
      earliest_app_hash: HASH,
      earliest_block_height: INT64,
      earliest_block_time: TIME,
      catching_up: BOOL,
    },
    validator_info: { address: ADDRESS, pub_key: PUB_KEY, voting_power: INT64 },
  },
  net_info: { listening: BOOL, listeners: [STR], n_peers: INT64, peers: [ANY] },
  genesis: {
    genesis: {
      genesis_time: TIME,
      chain_id: STR,
      initial_height: INT64,
      consensus_params: CONSENSUS_PARAMS,
      validators: [{ address: ADDRESS, pub_key: PUB_KEY, power: INT64, name: STR }],
      app_hash: HEX,
    },
  },
  blockchain: {
    last_height: INT64,
    block_metas: [{ block_id: BLOCK_ID, block_size: INT64, header: HEADER, num_txs: INT64 }],
  },
  block: { block_id: BLOCK_ID, block: BLOCK },
  block_by_hash: { block_id: BLOCK_ID, block: BLOCK },
  header: { header: HEADER },
  header_by_hash: { header: HEADER },
  block_results: {
    height: INT64,
    txs_results: [EXEC_TX_RESULT],
    finalize_block_events: [EVENT],
    validator_updates: [VALIDATOR_UPDATE],
    consensus_param_updates: nullable(CONSENSUS_PARAMS),
    app_hash: B64,
  },
  commit: { signed_header: { header: HEADER, commit: COMMIT }, canonical: BOOL },
  validators: { block_height: INT64, validators: [VALIDATOR], count: INT64, total: INT64 },
  consensus_params: { block_height: INT64, consensus_params: CONSENSUS_PARAMS },
  consensus_state: {
    round_state: {
      'height/round/step': /^\d+\/\d+\/\d+$/,
      start_time: TIME,
      proposal_block_hash: HEX,
      locked_block_hash: HEX,
      valid_block_hash: HEX,
      height_vote_set: [ANY],
      proposer: { address: ADDRESS, index: I32 },
    },
  },
  unconfirmed_txs: { n_txs: INT64, total: INT64, total_bytes: INT64, txs: [B64] },
  num_unconfirmed_txs: { n_txs: INT64, total: INT64, total_bytes: INT64, txs: NULL },
  tx: TX,
  tx_proven: PROVEN_TX,
  tx_search: { txs: [TX], total_count: INT64 },
  block_search: { blocks: [{ block_id: BLOCK_ID, block: BLOCK }], total_count: INT64 },
  abci_info: {
    response: {
      data: STR,
      version: STR,
      app_version: INT64,
      last_block_height: INT64,
      last_block_app_hash: B64,
    },
  },
  abci_query: {
    response: {
      code: U32,
      log: STR,
      info: STR,
      index: INT64,
      key: B64,
      value: nullable(B64),
      proofOps: nullable({ ops: [{ type: STR, key: B64, data: B64 }] }),
      height: INT64,
      codespace: STR,
    },
  },
  check_tx: CHECK_TX,
  broadcast_tx_sync: BROADCAST,
  broadcast_tx_async: BROADCAST,
  broadcast_tx_commit: { check_tx: CHECK_TX, tx_result: EXEC_TX_RESULT, hash: HASH, height: INT64 },
};

// The chain -----------------------------------------------------------------------------------

const utf8 = new TextEncoder();
const chain = await startChain([10n, 10n, 10n, 10n], 'shapes');
await chain.commitBlock({ txs: [utf8.encode('one'), utf8.encode('two')] });
await chain.commitBlock({
  updates: [addValidator('shapes-new', 5n)],
  writes: [[keyQuery(new Uint8Array(32).fill(1)), utf8.encode('v')]],
});
for (let i = 0; i < 3; i++) await chain.commitBlock({ txs: [utf8.encode(`tx-${i}`)] });

test.after(() => chain.close());

let nextId = 1;
async function call(method: string, params: Json = {}): Promise<Json> {
  const id = nextId++;
  const res = await fetch(chain.url, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as Json;
  assert.equal(
    Object.keys(body),
    ['jsonrpc', 'id', 'result'],
    `${method}: ${JSON.stringify(body).slice(0, 300)}`,
  );
  assert.equal([body.jsonrpc, body.id], ['2.0', id]);
  return body.result;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const hashB64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');

test('every method answers exactly CometBFT v0.38 field names, types and encodings', async () => {
  const block2 = await call('block', { height: '2' });
  const someTx = (await call('tx_search', { query: 'tx.height = 1' })).txs[0].hash as string;
  const calls: [string, string, Json][] = [
    ['health', 'health', {}],
    ['status', 'status', {}],
    ['net_info', 'net_info', {}],
    ['genesis', 'genesis', {}],
    ['blockchain', 'blockchain', { minHeight: '1', maxHeight: '5' }],
    ['block', 'block', { height: '3' }],
    ['block_by_hash', 'block_by_hash', { hash: hashB64(block2.block_id.hash) }],
    ['header', 'header', { height: '3' }],
    ['header_by_hash', 'header_by_hash', { hash: hashB64(block2.block_id.hash) }],
    ['block_results', 'block_results', { height: '3' }],
    ['block_results', 'block_results', { height: '2' }],
    ['commit', 'commit', { height: '3' }],
    ['validators', 'validators', { height: '3' }],
    ['consensus_params', 'consensus_params', { height: '3' }],
    ['consensus_state', 'consensus_state', {}],
    ['unconfirmed_txs', 'unconfirmed_txs', {}],
    ['num_unconfirmed_txs', 'num_unconfirmed_txs', {}],
    ['tx', 'tx', { hash: hashB64(someTx) }],
    ['tx_proven', 'tx', { hash: hashB64(someTx), prove: true }],
    ['tx_search', 'tx_search', { query: 'tx.height > 0', per_page: '2' }],
    ['block_search', 'block_search', { query: 'block.height > 2' }],
    ['abci_info', 'abci_info', {}],
    ['abci_query', 'abci_query', { path: '/health/key', data: '01'.repeat(32), prove: true }],
    ['check_tx', 'check_tx', { tx: b64('check') }],
    ['broadcast_tx_sync', 'broadcast_tx_sync', { tx: b64('sync') }],
    ['broadcast_tx_async', 'broadcast_tx_async', { tx: b64('async') }],
    ['broadcast_tx_commit', 'broadcast_tx_commit', { tx: b64('commit') }],
  ];
  const seen = new Set<string>();
  for (const [shape, method, params] of calls) {
    check(await call(method, params), RESULTS[shape]!, method);
    seen.add(shape);
  }
  assert.equal([...seen].sort(), Object.keys(RESULTS).sort(), 'every method is called');
  // Non-empty where the shapes above must see elements: the checks walked real values.
  assert.is((await call('block_results', { height: '2' })).validator_updates.length, 1);
  assert.ok(
    (await call('abci_query', { path: '/health/key', data: '01'.repeat(32), prove: true })).response
      .proofOps !== null,
  );
});

test('WebSocket events: CometBFT envelopes, the frame id "<subscribe id>#event"', async () => {
  const ws = new WebSocket(`${chain.url.replace('http', 'ws')}/websocket`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const messages: Json[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
  const queries = { 1: "tm.event='NewBlock'", abc: "tm.event='NewBlockHeader'", 3: "tm.event='Tx'" } as const;
  for (const [id, query] of Object.entries(queries))
    ws.send(
      JSON.stringify({
        jsonrpc: '2.0',
        id: id === 'abc' ? id : Number(id),
        method: 'subscribe',
        params: { query },
      }),
    );
  const until = async (n: number): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (messages.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  };
  await until(3);
  // The stand-in node announces a block holding the tx once it is submitted.
  await call('broadcast_tx_commit', { tx: b64('event') });
  await until(6);
  ws.terminate();
  const frames = messages.filter((m) => m.result?.data !== undefined);
  assert.equal(frames.map((m) => m.id).sort(), ['1#event', '3#event', 'abc#event']);
  const envelope = (type: string, value: Shape): Shape => ({
    jsonrpc: exactly('2.0'),
    id: /^.+#event$/,
    result: { query: STR, data: { type: exactly(`tendermint/event/${type}`), value }, events: mapOf([STR]) },
  });
  const byId = (id: string): Json => frames.find((m) => m.id === id)!;
  check(
    byId('1#event'),
    envelope('NewBlock', {
      block: BLOCK,
      block_id: BLOCK_ID,
      result_finalize_block: {
        events: [EVENT],
        tx_results: [EXEC_TX_RESULT],
        validator_updates: [VALIDATOR_UPDATE],
        consensus_param_updates: nullable(CONSENSUS_PARAMS),
        app_hash: B64,
      },
    }),
    'NewBlock',
  );
  check(byId('abc#event'), envelope('NewBlockHeader', { header: HEADER }), 'NewBlockHeader');
  check(
    byId('3#event'),
    envelope('Tx', { TxResult: { height: INT64, index: U32, tx: B64, result: EXEC_TX_RESULT } }),
    'Tx',
  );
  assert.equal(byId('3#event').result.events['tm.event'], ['Tx']);
});

test.run();
