/**
 * packages/client/rpc.ts against the real RPC (node/rpc/, via light-chain.ts)
 * and against raw HTTP servers that misbehave: every method's JSON turned back into the project's
 * types (hashes recompute to the node's block ids; a block with evidence survives
 * node/rpc/format.ts and back), validator pages, broadcasts and their refusals, and typed errors
 * for JSON-RPC errors, malformed or mismatched answers, oversized answers, an unreachable node and
 * a node that never answers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blockJson } from '../../../../node/rpc/format.ts';
import { rpcMethods } from '../../../../node/rpc/methods.ts';
import type { RpcNode } from '../../../../node/rpc/rpc-node.ts';
import { startRpcServer } from '../../../../node/rpc/server.ts';
import {
  assertAccepted,
  assertCommitted,
  blockFromJson,
  ClientError,
  RpcClient,
} from '../../../../packages/client/rpc.ts';
import { toHex } from '../../../../packages/crypto/hash.ts';
import { blockIdOf, encodeBlock, txHash } from '../../../../packages/types/block.ts';
import { makeDuplicateVoteEvidence } from '../../../../packages/types/commit.ts';
import { validatorSetHash } from '../../../../packages/types/validator.ts';
import { idOf, makeFixture, precommit } from '../../consensus/fixtures.ts';
import { keyQuery, startChain } from './light-chain.ts';

const utf8 = new TextEncoder();
const chain = await startChain([10n, 20n, 30n], 'rpc');
const TXS = [utf8.encode('tx-a'), utf8.encode('tx-b')];
await chain.commitBlock();
await chain.commitBlock({ txs: TXS, writes: [[keyQuery(new Uint8Array(32).fill(1)), utf8.encode('v')]] });
await chain.commitBlock();
const rpc = new RpcClient(chain.url);

const servers: Server[] = [];
/** A raw HTTP server answering every request with `handler`. */
async function raw(
  handler: (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void,
) {
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => handler(req, res, JSON.parse(text || '{}')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test.after.each(() => chain.reset());
test.after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await chain.close();
});

async function rejects(work: Promise<unknown>, code: string, message?: RegExp): Promise<ClientError> {
  try {
    await work;
  } catch (err) {
    assert.instance(err, ClientError);
    const e = err as ClientError;
    assert.is(e.code, code, e.message);
    if (message !== undefined) assert.match(e.message, message);
    return e;
  }
  return assert.unreachable(`expected ${code}`) as never;
}

test('status, block and commit come back as the project types, hashing to the node block ids', async () => {
  const status = await rpc.status();
  assert.is(status.latestBlockHeight, 3n);
  assert.is(status.network, chain.genesis.chainId);
  assert.match(status.nodeId, /^[0-9a-f]{40}$/);
  assert.match(status.peerId, /^12D3KooW/);
  assert.is(toHex(status.latestBlockHash), toHex(blockIdOf(chain.committed[2]!.header)));
  for (let h = 1n; h <= 3n; h++) {
    const { blockId, block } = await rpc.block(h);
    assert.is(toHex(blockId), toHex(blockIdOf(block.header)));
    assert.is(toHex(encodeBlock(block)), toHex(encodeBlock(chain.committed[Number(h) - 1]!)));
    const signed = await rpc.commit(h);
    assert.is(toHex(blockIdOf(signed.header)), toHex(signed.commit.blockId));
    assert.is(signed.canonical, h < 3n);
  }
  const latest = await rpc.block();
  assert.is(latest.block.header.height, 3n);
});

test('a block with evidence and a last commit survives rpc/format.ts and back', () => {
  const fx = makeFixture([10n, 10n, 10n, 10n], 'ev');
  const block = chain.committed[1]!;
  const evidence = makeDuplicateVoteEvidence(
    precommit(fx, 1, 1n, 0, idOf('x')),
    precommit(fx, 1, 1n, 0, idOf('y')),
  );
  const withEvidence = { ...block, evidence: [evidence] };
  const back = blockFromJson(blockJson(withEvidence, fx.set, fx.set));
  assert.is(toHex(encodeBlock(back)), toHex(encodeBlock(withEvidence)));
});

test('validators reads every page and returns the canonical set', async () => {
  const set = await rpc.validators(2n);
  assert.is(toHex(validatorSetHash(set)), toHex(chain.committed[1]!.header.validatorsHash));
  // 150 validators: two pages of the real method.
  const big = makeFixture(
    Array.from({ length: 150 }, (_, i) => BigInt(i + 1)),
    'page',
  ).set;
  const node = {
    chain: { lastHeight: 5n, initialHeight: 1n },
    blocks: { validatorsAt: () => big },
    events: { on: () => undefined },
  } as unknown as RpcNode;
  const server = await startRpcServer(rpcMethods(node), {
    listen: '127.0.0.1:0',
    maxBodyBytes: 10_000,
    maxBatch: 1,
  });
  servers.push(server);
  const client = new RpcClient(`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const got = await client.validators(5n);
  assert.is(got.validators.length, 150);
  assert.is(toHex(validatorSetHash(got)), toHex(validatorSetHash(big)));
});

test('tx and abci_query decode their answers', async () => {
  const found = await rpc.tx(txHash(TXS[1]!));
  assert.is(found.height, 2n);
  assert.is(found.index, 1);
  assert.is(Buffer.from(found.tx).toString(), 'tx-b');
  const q = await rpc.abciQuery('/health/key', new Uint8Array(32).fill(1), { height: 2n, prove: true });
  assert.is(q.code, 0);
  assert.is(Buffer.from(q.value!).toString(), 'v');
  assert.ok(q.proof !== null && q.proof.length > 0);
  assert.is(q.height, 2n);
  const noProof = await rpc.abciQuery('/health/key', new Uint8Array(32).fill(1), { height: 2n });
  assert.is(noProof.proof, null);
});

test('broadcasts return refusals; assertAccepted and assertCommitted turn them into CLIENT_TX_REJECTED', async () => {
  const ok = await rpc.broadcastTxSync(utf8.encode('good tx'));
  assert.is(ok.code, 0);
  assert.is(toHex(ok.hash), toHex(txHash(utf8.encode('good tx'))));
  assertAccepted(ok);
  const bad = await rpc.broadcastTxSync(utf8.encode('bad tx'));
  assert.is(bad.codespace, 'TX_BAD_SIGNATURE');
  const e1 = await rejects(
    Promise.resolve().then(() => assertAccepted(bad)),
    'CLIENT_TX_REJECTED',
  );
  assert.is(e1.details.codespace, 'TX_BAD_SIGNATURE');

  const committed = await rpc.broadcastTxCommit(utf8.encode('commit me'));
  assert.is(committed.height, 4n);
  assert.is(committed.txResult.events[0]?.type, 'kv');
  assertCommitted(committed);
  const failed = await rpc.broadcastTxCommit(utf8.encode('fail me'));
  assert.is(failed.txResult.code, 7);
  const e2 = await rejects(
    Promise.resolve().then(() => assertCommitted(failed)),
    'CLIENT_TX_REJECTED',
  );
  assert.equal([e2.details.stage, e2.details.codespace], ['deliver', 'KV_BAD_PAYLOAD']);
  const refused = await rpc.broadcastTxCommit(utf8.encode('bad again'));
  assert.is(refused.height, 0n);
  const e3 = await rejects(
    Promise.resolve().then(() => assertCommitted(refused)),
    'CLIENT_TX_REJECTED',
  );
  assert.is(e3.details.stage, 'check');
});

test('a JSON-RPC error keeps the node message', async () => {
  await rejects(
    rpc.block(99n),
    'CLIENT_RPC_ERROR',
    /must be less than or equal to the current blockchain height/,
  );
  await rejects(rpc.tx(new Uint8Array(32)), 'CLIENT_RPC_ERROR', /not found/);
});

test('malformed fields from the node are refused, naming the field', async () => {
  chain.tamper('commit', (r) => {
    delete r.signed_header.header.app_hash;
    return r;
  });
  await rejects(rpc.commit(1n), 'CLIENT_RESPONSE_INVALID', /app_hash/);
  chain.tamper('commit', (r) => {
    r.signed_header.commit.signatures[0].signature = 'not base64!';
    return r;
  });
  await rejects(rpc.commit(1n), 'CLIENT_RESPONSE_INVALID', /signature/);
  chain.tamper('commit', (r) => {
    r.signed_header.header.height = '2';
    return r;
  });
  await rejects(rpc.commit(1n), 'CLIENT_RESPONSE_INVALID', /height/);
  chain.tamper('validators', (r) => {
    r.validators[0].address = r.validators[1].address;
    return r;
  });
  await rejects(rpc.validators(1n), 'CLIENT_RESPONSE_INVALID', /address/);
  chain.tamper('broadcast_tx_sync', (r) => {
    r.hash = '00'.repeat(32);
    return r;
  });
  await rejects(rpc.broadcastTxSync(utf8.encode('x')), 'CLIENT_RESPONSE_INVALID', /hash/);
  chain.tamper('status', (r) => {
    r.sync_info.latest_block_height = 5;
    return r;
  });
  await rejects(rpc.status(), 'CLIENT_RESPONSE_INVALID', /latest_block_height/);
});

test('malformed JSON, a wrong id, HTTP errors and oversized answers are refused', async () => {
  const notJson = await raw((_q, res) => res.end('<html>'));
  await rejects(new RpcClient(notJson).status(), 'CLIENT_RESPONSE_INVALID', /not JSON/);
  const wrongId = await raw((_q, res, body) =>
    res.end(JSON.stringify({ jsonrpc: '2.0', id: Number(body.id) + 1, result: {} })),
  );
  await rejects(new RpcClient(wrongId).status(), 'CLIENT_RESPONSE_INVALID', /not the answer/);
  const http500 = await raw((_q, res) => {
    res.statusCode = 502;
    res.end('bad gateway');
  });
  await rejects(new RpcClient(http500).status(), 'CLIENT_RESPONSE_INVALID', /HTTP 502/);
  const huge = await raw((_q, res, body) =>
    res.end(JSON.stringify({ jsonrpc: '2.0', id: body.id, result: { pad: 'x'.repeat(5000) } })),
  );
  await rejects(
    new RpcClient(huge, { maxResponseBytes: 1000 }).status(),
    'CLIENT_RESPONSE_INVALID',
    /larger/,
  );
  const chunked = await raw((_q, res, body) => {
    res.write(
      JSON.stringify({ jsonrpc: '2.0', id: body.id, result: { pad: 'x'.repeat(3000) } }).slice(0, 2000),
    );
    res.end('y'.repeat(3000));
  });
  await rejects(
    new RpcClient(chunked, { maxResponseBytes: 1000 }).status(),
    'CLIENT_RESPONSE_INVALID',
    /larger/,
  );
});

test('an unreachable node and a node that never answers have their own codes', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  await rejects(new RpcClient(`http://127.0.0.1:${port}`).status(), 'CLIENT_RPC_UNREACHABLE');
  let arrived!: () => void;
  const requestSeen = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const silent = await raw(() => arrived());
  const call = new RpcClient(silent, { timeoutMs: 50 }).status();
  await requestSeen;
  await rejects(call, 'CLIENT_RPC_TIMEOUT');
});

test('bad configuration and arguments are refused before any call', async () => {
  for (const url of ['ftp://x', 'not a url'])
    assert.throws(
      () => new RpcClient(url),
      (e: ClientError) => e.code === 'CLIENT_CONFIG_INVALID',
    );
  assert.throws(
    () => new RpcClient(chain.url, { timeoutMs: 0 }),
    (e: ClientError) => e.code === 'CLIENT_CONFIG_INVALID',
  );
  await rejects(rpc.block(0n), 'CLIENT_ARGUMENT_INVALID');
  await rejects(rpc.broadcastTxSync(new Uint8Array(0)), 'CLIENT_ARGUMENT_INVALID');
  await rejects(rpc.tx(new Uint8Array(3)), 'CLIENT_ARGUMENT_INVALID');
});

test('waitForTx: a committed tx at once, a pending one once its block commits, else CLIENT_RPC_TIMEOUT', async () => {
  assert.is((await rpc.waitForTx(txHash(TXS[0]!))).height, 2n);
  const pending = utf8.encode('tx-pending');
  const waiting = rpc.waitForTx(txHash(pending), 5000);
  const block = await chain.commitBlock({ txs: [pending] });
  const found = await waiting;
  assert.equal([found.height, Buffer.from(found.tx).toString()], [block.header.height, 'tx-pending']);
  const started = Date.now();
  const err = await rpc.waitForTx(txHash(utf8.encode('never sent')), 300).catch((e: unknown) => e);
  assert.instance(err, ClientError);
  assert.is((err as ClientError).code, 'CLIENT_RPC_TIMEOUT');
  assert.ok(Date.now() - started >= 300, 'waited the whole timeout');
});

test.run();
