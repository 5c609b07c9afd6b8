/**
 * A real 4-validator consortium: OS processes, TCP sockets, LevelDB in temp folders. One
 * consortium goes through the scenarios in order, as an operator's week would: normal load,
 * a kill -9, losing two of four, a node rebuilt from an empty data folder, a rollback, and a
 * node whose disk lost its state. Between scenarios `ensureLive` restarts any node left down and
 * waits for all four to catch up, so one failure does not cascade into the scenarios after it.
 */
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeLogPath } from '../../node/spawn.ts';
import { Bucket } from '../../state/db.ts';
import { Consortium, KvClient } from './harness.ts';

const VIEW = { keyEncoding: 'view', valueEncoding: 'view' } as const;
const net = Consortium.create({ validators: 4, basePort: 18656 });
const client = new KvClient(net.chainId);
const committedKeys: string[] = [];

async function send(node: number, key: string): Promise<void> {
  const tx = client.tx(key, `value-of-${key}`);
  const r = await net.rpc<{ code: number; hash: string; codespace: string }>(
    node,
    `/broadcast_tx_sync?tx=${tx.hex}`,
  );
  assert.is(r.code, 0, `tx ${key} refused: ${r.codespace}`);
  assert.is(r.hash, tx.hash);
}

async function waitForKey(node: number, key: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await net.kvValue(node, key).catch(() => null)) !== null) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`key ${key} not committed on node ${node} within ${timeoutMs} ms\n${net.logTail(node)}`);
}

/** Every node has the same block id and app hash at every height up to `to`. */
async function assertSameChain(nodes: number[], to: bigint): Promise<void> {
  for (let h = 1n; h <= to; h++) {
    const ids = await Promise.all(nodes.map((i) => net.blockId(i, h)));
    for (const id of ids) {
      assert.is(id.hash, ids[0]!.hash, `block id differs at height ${h}`);
      assert.is(id.appHash, ids[0]!.appHash, `app hash differs at height ${h}`);
    }
  }
}

test.after(async () => {
  await net.destroy();
});

// Each scenario starts from all four nodes running and caught up, whatever the previous one left.
test.before.each(async () => {
  await net.ensureLive([0, 1, 2, 3]);
});

test('4 validators commit 50 heights with txs; every node has identical block ids and app hashes', async () => {
  // Node 3's mempool holds one tx, so it lacks nearly every tx of the others' proposals (which
  // carry tx hashes) and must fetch them from the proposer. Txs go to nodes 0-2 only.
  net.editConfig(3, (config) => {
    config.mempool.max_txs = 1;
  });
  net.startAll();
  await Promise.all([0, 1, 2, 3].map((i) => net.waitForHeight(i, 2n, 30_000)));
  for (let k = 0; k < 40; k++) {
    const key = `a${k}`;
    await send(k % 3, key);
    committedKeys.push(key);
  }
  await Promise.all([0, 1, 2, 3].map((i) => net.waitForHeight(i, 50n, 90_000)));
  for (const key of committedKeys) await waitForKey(0, key, 10_000);
  for (const i of [1, 2, 3])
    for (const key of committedKeys) assert.is(await net.kvValue(i, key), `value-of-${key}`);
  await assertSameChain([0, 1, 2, 3], 50n);
  // Node 3 got the txs it could not hold from its peers: by fetching a proposal's missing txs or,
  // when the others decided a height before it had filled the proposal in (blocks follow each
  // other fast once every precommit is in), by block sync, which brings whole blocks.
  const fetched = await net.metric(3, 'consensus_proposal_txs_fetched_total');
  const synced = readFileSync(nodeLogPath(net.homes[3]!), 'utf8').includes('"msg":"block sync done');
  assert.ok(
    fetched > 0 || synced,
    `node 3 committed every block from its one-tx mempool alone? fetched ${fetched}, block sync ${synced}`,
  );
});

test('kill -9 one validator under load: the others keep committing; restarted, it catches up and votes again', async () => {
  const before = await net.height(0);
  const load = (async () => {
    for (let k = 0; k < 20; k++) {
      const key = `b${k}`;
      await send(k % 3, key);
      committedKeys.push(key);
    }
  })();
  await net.stop(3, 'SIGKILL');
  await load;
  await Promise.all([0, 1, 2].map((i) => net.waitForHeight(i, before + 8n, 60_000)));
  net.start(3);
  const target = (await net.height(0)) + 3n;
  await net.waitForHeight(3, target, 60_000);
  // No tx acknowledged as committed is lost, on the restarted node either.
  for (const key of committedKeys) await waitForKey(3, key, 15_000);
  // It votes again: a later block's last commit carries its signature.
  const own = (await net.rpc<{ validator_info: { address: string } }>(3, '/status')).validator_info.address;
  const deadline = Date.now() + 30_000;
  let signed = false;
  while (!signed && Date.now() < deadline) {
    const h = await net.height(0);
    const b = await net.rpc<{
      block: { last_commit: { signatures: { validator_address: string; block_id_flag: number }[] } };
    }>(0, `/block?height=${h}`);
    signed = b.block.last_commit.signatures.some((s) => s.validator_address === own && s.block_id_flag === 2);
    if (!signed) await new Promise((r) => setTimeout(r, 300));
  }
  assert.ok(signed, 'restarted validator never signed a commit again');
  await assertSameChain([0, 3], await net.height(3));
});

test('no double sign: no block carries evidence against an honest validator', async () => {
  const top = await net.height(0);
  for (let h = 1n; h <= top; h++) {
    const b = await net.rpc<{ block: { evidence: { evidence: unknown[] } } }>(0, `/block?height=${h}`);
    assert.is(b.block.evidence.evidence.length, 0, `evidence committed at height ${h}`);
  }
});

test('stop two of four: commits halt; bring one back: commits resume', async () => {
  await net.stop(1);
  await net.stop(2);
  const halted = await net.height(0);
  // With half the power gone no height can commit (one may have been in flight when they stopped).
  await new Promise((r) => setTimeout(r, 4000));
  const after = await net.height(0);
  assert.ok(after <= halted + 1n, `height moved from ${halted} to ${after} with two of four validators down`);
  assert.is(await net.height(3), after, 'the two live nodes agree on the height');
  net.start(1);
  await net.waitForHeight(0, after + 3n, 60_000);
  await net.waitForHeight(1, after + 3n, 60_000);
  net.start(2);
  await net.waitForHeight(2, after + 3n, 60_000);
});

test('a node started with an empty data folder syncs the whole chain from its peers and verifies it', async () => {
  await net.stop(3);
  const data = join(net.homes[3]!, 'data');
  // Keep the double-sign state: deleting it is how validators get slashed.
  renameSync(join(data, 'priv_validator_state.json'), join(net.homes[3]!, 'sign-state.keep'));
  rmSync(data, { recursive: true, force: true });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(data);
  renameSync(join(net.homes[3]!, 'sign-state.keep'), join(data, 'priv_validator_state.json'));
  net.start(3);
  const target = await net.height(0);
  await net.waitForHeight(3, target, 90_000);
  await assertSameChain([0, 3], target);
  for (const key of committedKeys) assert.is(await net.kvValue(3, key), `value-of-${key}`);
});

test('rollback moves a stopped node back one height; restarted, it rejoins the same chain', async () => {
  await net.stop(2);
  const before = await net.height(2).catch(() => null);
  assert.is(before, null, 'node 2 is stopped');
  const { spawnSync } = await import('node:child_process');
  const cli = join(import.meta.dirname, '..', '..', 'node', 'cli.ts');
  const r = spawnSync(process.execPath, [cli, 'rollback', '--home', net.homes[2]!], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.is(r.status, 0, r.stderr);
  const m = /rolled back from height (\d+) to (\d+)/.exec(r.stdout);
  assert.ok(m !== null, r.stdout);
  assert.is(BigInt(m![2]!), BigInt(m![1]!) - 1n);
  net.start(2);
  const target = (await net.height(0)) + 2n;
  await net.waitForHeight(2, target, 60_000);
  await assertSameChain([0, 2], target);
});

test('a node that cannot write a decided block stops with status 1 and says why; rebuilt, it rejoins', async () => {
  // Node 1's database loses its state tree while it is down (a damaged disk, say).
  await net.stop(1);
  const db = new ClassicLevel<Uint8Array, Uint8Array>(join(net.homes[1]!, 'data', 'state.db'), VIEW);
  await db.open();
  await db.clear({ gte: Uint8Array.of(Bucket.merkleNodes), lt: Uint8Array.of(Bucket.merkleNodes + 1) });
  await db.close();
  net.start(1);
  // The next block that changes state needs the tree: node 1 cannot write it, and must not go on.
  await send(0, 'after-the-damage');
  assert.is(await net.exited(1, 60_000), 1, net.logTail(1));
  const log = net.logTail(1, 40);
  assert.match(log, /a decided block could not be executed and written/);
  assert.match(log, /"why":"NODE_COMMIT_FAILED"/);
  // The others never noticed; node 1, given an empty data folder, syncs and rejoins.
  rmSync(join(net.homes[1]!, 'data', 'state.db'), { recursive: true, force: true });
  net.start(1);
  const target = (await net.height(0)) + 2n;
  await net.waitForHeight(1, target, 60_000);
  await assertSameChain([0, 1], target);
  assert.is(await net.kvValue(1, 'after-the-damage'), 'value-of-after-the-damage');
});

test.run();
