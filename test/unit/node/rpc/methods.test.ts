/**
 * node/rpc/methods.ts and its groups: the composed table serves exactly CometBFT's method names
 * (the split into groups lost or added none), a name defined twice is refused, and a group runs
 * alone against a small stand-in of `RpcNode` (here the mempool group: broadcast_tx_commit answers
 * only once the node announces the block, and never before the tx is submitted; a tx the node already
 * knows is refused with TX_IN_MEMPOOL or TX_ALREADY_COMMITTED).
 */
import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommitWaiters } from '../../../../node/rpc/commit-waiters.ts';
import { type MempoolNode, mempoolMethods } from '../../../../node/rpc/mempool.ts';
import { composeMethods, rpcMethods } from '../../../../node/rpc/methods.ts';
import type { RpcNode } from '../../../../node/rpc/rpc-node.ts';
import type { CallContext } from '../../../../node/rpc/server.ts';
import { type Block, txHash } from '../../../../packages/types/block.ts';

const utf8 = new TextEncoder();
const ctx: CallContext = { transport: 'jsonrpc', id: 1, session: null };

test('rpcMethods serves exactly CometBFT v0.38 names, subscriptions over the WebSocket only', () => {
  const node = { events: new EventEmitter(), blocks: {} } as unknown as RpcNode;
  const methods = rpcMethods(node);
  assert.equal([...methods.keys()].sort(), [
    'abci_info',
    'abci_query',
    'block',
    'block_by_hash',
    'block_results',
    'block_search',
    'blockchain',
    'broadcast_tx_async',
    'broadcast_tx_commit',
    'broadcast_tx_sync',
    'check_tx',
    'commit',
    'consensus_params',
    'consensus_state',
    'genesis',
    'header',
    'header_by_hash',
    'health',
    'net_info',
    'num_unconfirmed_txs',
    'status',
    'subscribe',
    'tx',
    'tx_search',
    'unconfirmed_txs',
    'unsubscribe',
    'unsubscribe_all',
    'validators',
  ]);
  const wsOnly = [...methods].filter(([, m]) => m.wsOnly === true).map(([name]) => name);
  assert.equal(wsOnly, ['subscribe', 'unsubscribe', 'unsubscribe_all']);
  assert.equal(methods.get('tx_search')?.params, ['query', 'prove', 'page', 'per_page', 'order_by']);
  // One listener on the node's block event, for commits and subscriptions together.
  assert.is((node.events as EventEmitter).listenerCount('block'), 1);
});

test('composeMethods refuses a name defined by two groups', () => {
  const health = { params: [], run: async () => ({}) };
  const err = (() => {
    try {
      composeMethods({ health }, { status: health }, { health });
      return null;
    } catch (e) {
      return e as { code: string; message: string };
    }
  })();
  assert.equal([err?.code, err?.message], ['RPC_METHOD_DUPLICATE', 'method health is defined twice']);
});

/**
 * A stand-in of what the mempool group reads, with a pool and a tx index: `submitTx` answers ok
 * for a tx already pending, as the node's does (node.ts submitTx: a duplicate is not an error).
 */
function mempoolNode(state: {
  readonly submitted: string[];
  readonly pending?: Set<string>;
  readonly indexed?: Map<string, bigint>;
}): MempoolNode {
  const key = (hash: Uint8Array): string => Buffer.from(hash).toString('hex');
  return {
    chainId: 'unit',
    app: {
      info: () => ({ lastHeight: 0n, appHash: new Uint8Array(0) }),
      checkTx: () => null,
      query: async () => {
        throw new Error('not used');
      },
    },
    mempool: { size: 0, bytes: 0, reap: () => [], has: (hash) => state.pending?.has(key(hash)) ?? false },
    blocks: {
      hasTxSync: (hash: Uint8Array) => state.indexed?.has(key(hash)) ?? false,
      txLocation: async (hash: Uint8Array) => {
        const height = state.indexed?.get(key(hash));
        return height === undefined ? null : { height, index: 0 };
      },
    } as MempoolNode['blocks'],
    submitTx: (bytes) => {
      state.submitted.push(Buffer.from(bytes).toString());
      state.pending?.add(key(txHash(bytes)));
      return { ok: true, hash: txHash(bytes) };
    },
  };
}

test('a tx the node knows: TX_IN_MEMPOOL while pending, TX_ALREADY_COMMITTED once indexed, alike on every broadcast', async () => {
  const submitted: string[] = [];
  const pending = new Set<string>();
  const indexed = new Map<string, bigint>();
  const commits = new CommitWaiters({ maxCommitWaiters: 4, broadcastTxCommitTimeoutMs: 2000 });
  const methods = mempoolMethods(mempoolNode({ submitted, pending, indexed }), () => null, commits);
  const tx = utf8.encode('again');
  const params = { tx: Buffer.from(tx).toString('base64') };
  const sync = (): Promise<Record<string, unknown>> =>
    methods.broadcast_tx_sync!.run(params, ctx) as Promise<Record<string, unknown>>;
  assert.equal((await sync()).code, 0, 'the first send is accepted');
  // Re-sent while pending: refused with a typed code (CometBFT: "tx already exists in cache"),
  // not accepted a second time; the pool is not asked again.
  const again = await sync();
  assert.equal([again.code, again.codespace], [1, 'TX_IN_MEMPOOL']);
  assert.equal(submitted, ['again']);
  const commit = (await methods.broadcast_tx_commit!.run(params, ctx)) as Record<
    string,
    Record<string, unknown>
  >;
  assert.equal([commit.check_tx?.code, commit.check_tx?.codespace, commit.height], [1, 'TX_IN_MEMPOOL', '0']);
  assert.is(commits.size, 0, 'a refused commit releases its waiter');
  try {
    await methods.broadcast_tx_async!.run(params, ctx);
    assert.unreachable('async must refuse a pending tx');
  } catch (err) {
    assert.match((err as Error & { data: string }).data, /^TX_IN_MEMPOOL: /);
  }
  // Committed (in the tx index; no recent-commit cache involved) and gone from the pool: a replay
  // is TX_ALREADY_COMMITTED however old, on every broadcast.
  pending.clear();
  indexed.set(Buffer.from(txHash(tx)).toString('hex'), 3n);
  const replay = await sync();
  assert.equal([replay.code, replay.codespace], [1, 'TX_ALREADY_COMMITTED']);
  assert.match(String(replay.log), /height 3/);
  const replayCommit = (await methods.broadcast_tx_commit!.run(params, ctx)) as Record<
    string,
    Record<string, unknown>
  >;
  assert.equal(replayCommit.check_tx?.codespace, 'TX_ALREADY_COMMITTED');
  assert.equal(submitted, ['again'], 'neither refusal reached the pool');
});

test('the mempool group alone: broadcast_tx_commit answers from the block the node announces', async () => {
  const submitted: string[] = [];
  const node = mempoolNode({ submitted });
  const commits = new CommitWaiters({ maxCommitWaiters: 4, broadcastTxCommitTimeoutMs: 2000 });
  const methods = mempoolMethods(node, () => null, commits);
  const tx = utf8.encode('mine');
  let answered = false;
  const call = methods.broadcast_tx_commit!.run({ tx: Buffer.from(tx).toString('base64') }, ctx).then((r) => {
    answered = true;
    return r as Record<string, Record<string, unknown> | string>;
  });
  // Submitted at once (after the tx index is read), waiting for the block.
  await new Promise((r) => setImmediate(r));
  assert.equal(submitted, ['mine']);
  assert.is(commits.size, 1);
  await new Promise((r) => setImmediate(r));
  assert.not.ok(answered, 'no answer before the block is announced');
  const block = { header: { height: 5n }, txs: [tx], evidence: [], lastCommit: null } as unknown as Block;
  commits.blockCommitted(block, {
    txResults: [{ code: 0, codespace: '', log: 'done', events: [] }],
    events: [],
  });
  const result = await call;
  assert.equal([result.height, (result.tx_result as Record<string, unknown>).log], ['5', 'done']);
  assert.is(commits.size, 0, 'the waiter is released once answered');
});

test.run();
