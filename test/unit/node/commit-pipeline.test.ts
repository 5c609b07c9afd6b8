/**
 * node/commit-pipeline.ts against a real LevelDB block store and a recording application: a
 * decided block is written and advances the chain head, answers broadcast_tx_commit waiters,
 * clears what the block carried and emits 'block'; evidence a committed block carried is no longer
 * gossiped to peers; the first one ends catching up; a synced
 * block needs a commit of +2/3 of the set for it; a block that cannot be executed stops the
 * pipeline for good (NODE_COMMIT_FAILED, one 'fatal').
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EvidencePool } from '../../../consensus/evidence-pool.ts';
import { decodeEvidenceList } from '../../../consensus/messages.ts';
import { ChainHead, CommitPipeline } from '../../../node/commit-pipeline.ts';
import { EvidenceGossip } from '../../../node/evidence-gossip.ts';
import { Membership } from '../../../node/membership.ts';
import { CheckedTxs, RecentlyCommitted } from '../../../node/seen-txs.ts';
import { sha256, toHex } from '../../../packages/crypto/hash.ts';
import { type Block, blockIdOf } from '../../../packages/types/block.ts';
import { buildBlock, type ChainState } from '../../../packages/types/chain-state.ts';
import {
  type DuplicateVoteEvidence,
  evidenceHash,
  makeDuplicateVoteEvidence,
} from '../../../packages/types/commit.ts';
import { type CheckedTx, signTx } from '../../../packages/types/tx.ts';
import type { Application, FinalizeResult } from '../../../state/application.ts';
import { BlockStore } from '../../../state/block-store.ts';
import { openDb } from '../../../state/db.ts';
import { CHAIN_ID, idOf, keyFor, makeChain, precommit, signedCommit } from '../consensus/fixtures.ts';
import { rejectsCode } from '../packages/fixtures.ts';
import { recordingLogger } from './fixtures.ts';

const utf8 = new TextEncoder();
const dir = mkdtempSync(join(tmpdir(), 'careledger-commit-pipeline-unit-'));
const db = await openDb(join(dir, 'db'));
const blocks = await BlockStore.open(db);
const made = makeChain([10n, 10n, 10n, 10n], 'pipeline');
await db.batch(blocks.genesisOps(made.chain), { sync: true });
blocks.genesisCommitted(made.chain);

const signer = keyFor('pipeline-signer');
let nonce = 0n;
const tx = (label: string): CheckedTx =>
  signTx(CHAIN_ID, signer.secretKey, signer.publicKey, nonce++, utf8.encode(label));

/** The application refuses to finalize once `broken` is set (a damaged state tree, a full disk). */
let broken = false;
const app = {
  finalizeBlock: async (block, txs): Promise<FinalizeResult> => {
    if (broken) throw new Error('disk full');
    return {
      txResults: txs.map((_, i) => ({ code: 0, codespace: '', log: `tx ${i}`, events: [] })),
      events: [],
      validatorUpdates: [],
      appHash: sha256(utf8.encode(`app-${block.header.height}`)),
      ops: [],
    };
  },
  commit: () => undefined,
} as Partial<Application> as Application;

const updated: string[][] = [];
const mempool = {
  get: () => undefined,
  update: (hashes: readonly Uint8Array[]) => {
    updated.push(hashes.map(toHex));
    return { removed: hashes.length, evicted: 0 };
  },
  size: 0,
};
const head = new ChainHead(made.chain);
const membership = new Membership(
  { peerId: 'self', persistentPeers: [] },
  { app: {}, log: recordingLogger() },
);
const log = recordingLogger();
const recent = new RecentlyCommitted();
const evidence = new EvidencePool(10);
/** What the evidence reactor publishes: each list as its evidence hashes. */
const published: string[][] = [];
const evidenceGossip = new EvidenceGossip({
  pool: evidence,
  head,
  gossip: {
    publish: (_kind, bytes) => published.push(decodeEvidenceList(bytes).map((e) => toHex(evidenceHash(e)))),
  },
});
const pipeline = new CommitPipeline({
  head,
  db,
  blocks,
  app,
  mempool,
  evidence,
  txs: new CheckedTxs(CHAIN_ID, mempool),
  recent,
  membership,
  gate: { members: () => [], setMembers: async () => undefined },
  metrics: null,
  log,
});
const emitted: bigint[] = [];
const logs: string[][] = [];
pipeline.events.on('block', (block, results) => {
  emitted.push(block.header.height);
  logs.push(results.txResults.map((r) => r.log));
});
const fatal: string[] = [];
pipeline.events.on('fatal', (err) => fatal.push(err.code));

function next(
  txs: readonly CheckedTx[],
  chain: ChainState = head.chain,
  carried: readonly DuplicateVoteEvidence[] = [],
): Block {
  return buildBlock(chain, {
    txs: txs.map((t) => t.bytes),
    evidence: carried,
    time: chain.lastBlockTime + 1000n,
    proposer: chain.validators.set.validators[chain.validators.proposer]!.address,
  });
}
const commitFor = (block: Block, signers = [0, 1, 2, 3]) =>
  signedCommit(made.fx, signers, block.header.height, 0, blockIdOf(block.header));

test('a decided block is written, announced with its results, updates the mempool and ends catching up', async () => {
  const [a, b] = [tx('a'), tx('b')];
  const block = next([a, b]);
  assert.ok(membership.isCatchingUp);
  await pipeline.decided(block, commitFor(block));
  assert.is(pipeline.chain.lastHeight, 1n);
  assert.is(head.chain, pipeline.chain);
  assert.equal(logs, [['tx 0', 'tx 1']], 'the block event carries each tx result, in order');
  assert.equal(updated.at(-1), [toHex(a.hash), toHex(b.hash)]);
  assert.ok(recent.has(a.hash) && recent.has(b.hash));
  assert.equal(emitted, [1n]);
  assert.not.ok(membership.isCatchingUp, 'the first block decided with the network');
  assert.equal((await blocks.block(1n))?.header.height, 1n);
});

test('a decided block of a height already committed is a no-op', async () => {
  const stale = next([tx('stale')], made.chain);
  await pipeline.decided(stale, commitFor(stale));
  assert.is(pipeline.chain.lastHeight, 1n);
  assert.equal(emitted, [1n]);
});

test('a synced block needs a commit of +2/3 for it; a good one is committed', async () => {
  const block = next([tx('c')]);
  const forOther = signedCommit(made.fx, [0, 1, 2, 3], block.header.height, 0, idOf('other'));
  await rejectsCode(pipeline.synced(block, forOther), 'COMMIT_WRONG_BLOCK');
  assert.is(pipeline.chain.lastHeight, 1n);
  await pipeline.synced(block, commitFor(block));
  assert.is(pipeline.chain.lastHeight, 2n);
  assert.equal(emitted, [1n, 2n]);
});

test('evidence a committed block carried leaves the pool: no longer gossiped, not taken again', async () => {
  // Validator 2 precommitted two blocks at height 1; another node proposes the evidence.
  const e = makeDuplicateVoteEvidence(
    precommit(made.fx, 2, 1n, 0, idOf('one')),
    precommit(made.fx, 2, 1n, 0, idOf('two')),
  );
  assert.ok(evidence.add(e, 0));
  evidenceGossip.tick(0);
  const sent = [[toHex(evidenceHash(e))]];
  assert.equal(published, sent, 'new evidence goes out at once');
  const block = next([], head.chain, [e]);
  await pipeline.decided(block, commitFor(block));
  assert.is(pipeline.chain.lastHeight, 3n);
  assert.is(evidence.size, 0);
  evidenceGossip.tick(60_000);
  assert.equal(published, sent, 'nothing more is published');
  assert.not.ok(evidence.add(e, 60_000), 'a copy from a peer is known, not pooled again');
});

test('a block that cannot be executed stops the pipeline: NODE_COMMIT_FAILED, one fatal, no block after', async () => {
  broken = true;
  const block = next([tx('d')]);
  await rejectsCode(pipeline.decided(block, commitFor(block)), 'NODE_COMMIT_FAILED', /disk full/);
  assert.ok(pipeline.failed);
  broken = false;
  await rejectsCode(pipeline.decided(block, commitFor(block)), 'NODE_COMMIT_FAILED');
  await rejectsCode(pipeline.synced(block, commitFor(block)), 'NODE_COMMIT_FAILED');
  assert.equal(fatal, ['NODE_COMMIT_FAILED'], 'the owner is told once');
  assert.is(pipeline.chain.lastHeight, 3n);
  assert.ok(log.lines.some((l) => l.level === 'error' && /could not be executed/.test(l.msg)));
  await pipeline.drain();
});

test.after(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
