/**
 * node/sync/block-sync.ts: an answer to a blocks request stops at its byte budget (one block always
 * goes), the asking side reads only an answer that continues its chain from the height it asked
 * for, and a peer that failed a sync is skipped for a while whatever height it claims.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  answerBlocksRequest,
  arrayHeader,
  BlockSync,
  type BlockSyncModules,
  blocksAnswerLimits,
  readBlocksAnswer,
  type StoredBlock,
  SYNC_BATCH,
  SyncPeers,
} from '../../../../node/sync/block-sync.ts';
import { MIN_OFF_THREAD_TXS, OffThreadVerifier } from '../../../../node/sync/tx-verifier.ts';
import { defaultP2POptions } from '../../../../p2p/host.ts';
import { decode, encode } from '../../../../packages/codec/canonical.ts';
import { CareLedgerError } from '../../../../packages/core/errors.ts';
import { keyPairFromSeed } from '../../../../packages/crypto/ed25519.ts';
import { equalBytes } from '../../../../packages/crypto/hash.ts';
import {
  type Block,
  blockFields as blockFieldsOf,
  blockIdOf,
  defaultBlockLimits,
  encodeBlock,
  txHash,
} from '../../../../packages/types/block.ts';
import { applyBlock, buildBlock, type ChainState } from '../../../../packages/types/chain-state.ts';
import { type Commit, commitFields as commitFieldsOf } from '../../../../packages/types/commit.ts';
import { signTx } from '../../../../packages/types/tx.ts';
import { makeChain, signedCommit } from '../../consensus/fixtures.ts';
import { throwsCode } from '../../packages/fixtures.ts';
import { recordingLogger } from '../fixtures.ts';

const { chain, fx } = makeChain([1n, 1n, 1n, 1n], 'sync');
const ALL = [0, 1, 2, 3];

/** Heights 1..n, each block holding `txsPerBlock` txs of 60 KiB (under the 64 KiB tx limit). */
function chainOf(
  n: number,
  txsPerBlock: number,
  makeTx: (block: number, j: number) => Uint8Array = (i, j) => new Uint8Array(60 * 1024).fill(i * 16 + j + 1),
): { block: Block; commit: Commit }[] {
  const out: { block: Block; commit: Commit }[] = [];
  let c: ChainState = chain;
  for (let i = 0; i < n; i++) {
    const txs = Array.from({ length: txsPerBlock }, (_, j) => makeTx(i, j));
    const block = buildBlock(c, {
      txs,
      evidence: [],
      time: c.lastBlockTime + 1000n,
      proposer: c.validators.set.validators[c.validators.proposer]!.address,
    });
    const commit = signedCommit(fx, ALL, block.header.height, 0, blockIdOf(block.header));
    out.push({ block, commit });
    c = applyBlock(c, block, commit, {
      appHash: c.appHash,
      resultsHash: c.lastResultsHash,
      validatorUpdates: [],
    });
  }
  return out;
}

const stored = chainOf(4, 6); // ~360 KiB a block: all four fit one answer
/** What the block store holds of a block and its commit: their encodings. */
const asStored = ({ block, commit }: { block: Block; commit: Commit }): StoredBlock => ({
  block: encodeBlock(block),
  commit: encode(commitFieldsOf(commit)),
});
const read = async (h: bigint) => {
  const at = stored[Number(h) - 1];
  return at === undefined ? null : asStored(at);
};
const heights = (answer: { block: Block }[]) => answer.map((x) => x.block.header.height);

test('an answer holds the blocks asked for that the node has, up to its byte budget, and at least one', async () => {
  const all = readBlocksAnswer(await answerBlocksRequest(1n, 10n, read), 1n, defaultBlockLimits);
  assert.equal(heights(all), [1n, 2n, 3n, 4n], 'the node has 4: the answer stops there');
  assert.equal(all[2]!.commit.height, 3n);
  const two = await answerBlocksRequest(2n, 4n, read, 900_000);
  assert.equal(
    heights(readBlocksAnswer(two, 2n, defaultBlockLimits)),
    [2n, 3n],
    'two fit 0.9 MB, three do not',
  );
  const one = await answerBlocksRequest(3n, 4n, read, 1);
  assert.equal(heights(readBlocksAnswer(one, 3n, defaultBlockLimits)), [3n], 'one block always goes');
  throwsCode(() => readBlocksAnswer(encode([]), 9n, defaultBlockLimits), 'SYNC_NO_BLOCKS');
  assert.ok(
    equalBytes(await answerBlocksRequest(9n, 10n, read), encode([])),
    'nothing it has: an empty answer',
  );
});

test('an answer is assembled from the stored bytes, byte for byte the encoding of its [block, commit] pairs', async () => {
  // 17 small blocks: the answer's array header crosses from fixarray (under 16) to array 16.
  const small = chainOf(17, 1).map((x) => ({ ...x, block: { ...x.block, txs: [Uint8Array.of(1, 2, 3)] } }));
  const readSmall = async (h: bigint) => {
    const at = small[Number(h) - 1];
    return at === undefined ? null : asStored(at);
  };
  for (const count of [0, 1, 2, 15, 16, 17]) {
    const answer = await answerBlocksRequest(1n, BigInt(count), readSmall);
    const expected = encode(
      small.slice(0, count).map((x) => [blockFieldsOf(x.block), commitFieldsOf(x.commit)]),
    );
    assert.ok(equalBytes(answer, expected), `${count} blocks`);
  }
  for (const n of [0, 1, 15, 16, 255, 256, 65_535, 65_536])
    assert.ok(
      equalBytes(arrayHeader(n), encode(new Array(n).fill(null)).subarray(0, arrayHeader(n).length)),
      `header of ${n}`,
    );
  assert.throws(() => arrayHeader(-1), RangeError);
});

test('the asking side reads only blocks that continue its chain from the height it asked for', async () => {
  const fromTwo = await answerBlocksRequest(2n, 3n, read);
  throwsCode(() => readBlocksAnswer(fromTwo, 1n, defaultBlockLimits), 'SYNC_BAD_ANSWER');
  const gap = encode([stored[0], stored[2]].map((x) => [blockFieldsOf(x!.block), commitFieldsOf(x!.commit)]));
  throwsCode(() => readBlocksAnswer(gap, 1n, defaultBlockLimits), 'SYNC_BAD_ANSWER');
  // Blocks are read with the chain's limits: where a block holds at most one tx, 10-tx blocks are refused.
  throwsCode(() => readBlocksAnswer(fromTwo, 2n, { ...defaultBlockLimits, maxTxs: 1 }), 'CODEC_SCHEMA');
  // And the answer is decoded up to the host's response limit, not the 4 MiB default.
  const limits = blocksAnswerLimits(defaultBlockLimits);
  assert.is(limits.maxBytes, defaultP2POptions.maxResponseBytes);
  assert.ok(limits.maxItems >= SYNC_BATCH * defaultBlockLimits.maxTxs, 'room for full blocks');
});

test('sync peers: the highest claim is asked; a peer that failed is skipped for a while, even if it claims again', () => {
  let now = 0;
  const peers = new SyncPeers(30_000, () => now);
  assert.is(peers.best(), null);
  peers.claim('honest', 50n);
  peers.claim('liar', 1n << 62n);
  peers.claim('honest', 40n); // a late status does not lower a claim
  assert.equal(peers.best(), { peer: 'liar', height: 1n << 62n });
  peers.failed('liar');
  assert.equal(peers.best(), { peer: 'honest', height: 50n });
  peers.claim('liar', 1n << 63n);
  peers.forget('liar'); // it hangs up and comes back: the skip stays
  peers.claim('liar', 1n << 63n);
  now = 29_999;
  assert.equal(peers.best(), { peer: 'honest', height: 50n });
  now = 30_000;
  assert.equal(peers.best(), { peer: 'liar', height: 1n << 63n }, 'asked again once the skip ends');
  peers.forget('honest');
  peers.forget('liar');
  assert.is(peers.best(), null, 'a disconnected peer is not asked');
});

/** Block sync run against fake peers: `answers` per peer (bytes, or an error thrown). */
function syncHarness(
  answers: Record<string, (from: bigint, to: bigint) => Promise<Uint8Array>>,
  failed = false,
  preverify?: BlockSyncModules['preverify'],
) {
  const asked: string[] = [];
  /** Requests and commits in the order they happened. */
  const events: string[] = [];
  const reported: string[] = [];
  const committed: bigint[] = [];
  let advanced = 0;
  let head: ChainState = chain;
  let now = 0;
  const log = recordingLogger();
  const peers = new SyncPeers(30_000, () => 0);
  const sync = new BlockSync({
    p2p: {
      request: async (peer, _kind, bytes) => {
        asked.push(peer);
        const [, from, to] = decode(bytes) as [string, bigint, bigint];
        events.push(`ask ${from}`);
        return answers[peer]!(from, to);
      },
      reportInvalid: (peer) => reported.push(peer),
    },
    peers,
    commits: {
      get chain() {
        return head;
      },
      failed,
      synced: async (block) => {
        now += 1000; // each block takes a second of the injected clock
        committed.push(block.header.height);
        events.push(`commit ${block.header.height}`);
        head = { ...head, lastHeight: block.header.height };
      },
    },
    advanceConsensus: () => advanced++,
    isStopped: () => false,
    metrics: null,
    log,
    now: () => now,
    ...(preverify === undefined ? {} : { preverify }),
  });
  return { sync, peers, asked, reported, committed, events, log, advanced: () => advanced };
}

/** Runs a tick's sync to its end (no timers involved: the fakes answer at once). */
async function runSync(h: ReturnType<typeof syncHarness>): Promise<void> {
  h.sync.tick();
  assert.ok(h.sync.active, 'a peer more than a height ahead starts a sync');
  while (h.sync.active) await new Promise<void>((resolve) => setImmediate(resolve));
}

const serve = (from: bigint, to: bigint) => answerBlocksRequest(from, to, read);

test('BlockSync asks the highest claim first; a peer whose answer does not continue our chain is skipped and reported', async () => {
  const h = syncHarness({
    empty: async () => encode([]),
    liar: async (_from, to) => answerBlocksRequest(2n, to, read),
    honest: serve,
  });
  h.peers.claim('liar', 10n);
  h.peers.claim('empty', 9n);
  h.peers.claim('honest', 4n);
  await runSync(h);
  assert.equal(h.asked, ['liar', 'empty', 'honest']);
  assert.equal(h.committed, [1n, 2n, 3n, 4n]);
  assert.equal(h.reported, ['liar'], 'blocks that skip a height are invalid; an empty answer may be honest');
  assert.is(h.advanced(), 1, 'consensus moves on after the batch');
  assert.equal(h.peers.best(), { peer: 'honest', height: 4n }, 'the others are skipped');
  const progress = h.log.lines.filter((l) => l.msg.startsWith('block sync:'));
  assert.equal(
    progress.map((l) => l.fields),
    [],
    'four blocks at one a second stay within the first progress interval',
  );
  const done = h.log.lines.filter((l) => l.msg.startsWith('block sync done'));
  assert.equal(
    done.map((l) => [l.fields!.from, l.fields!.height, l.fields!.blocks, l.fields!.txs, l.fields!.seconds]),
    [[1n, 4n, 4, 24, 4]],
    'one line when the sync ends, with its totals (6 txs a block)',
  );
});

test('BlockSync: a peer whose request fails is skipped but not reported (a timeout may be honest)', async () => {
  const h = syncHarness({
    slow: async () => {
      throw new CareLedgerError('P2P_TIMEOUT', 'timed out', 'ignore');
    },
    honest: serve,
  });
  h.peers.claim('slow', 4n);
  h.peers.claim('honest', 3n);
  await runSync(h);
  assert.equal(h.asked, ['slow', 'honest']);
  assert.equal(h.reported, []);
  assert.equal(h.committed, [1n, 2n, 3n]);
});

test('BlockSync asks for the next range while it commits the blocks of this one', async () => {
  // One block an answer (a budget of 1 byte), so every block is a request.
  const h = syncHarness({ honest: (from, to) => answerBlocksRequest(from, to, read, 1) });
  h.peers.claim('honest', 4n);
  await runSync(h);
  assert.equal(
    h.events,
    ['ask 1', 'ask 2', 'commit 1', 'ask 3', 'commit 2', 'commit 3'],
    'each next range is asked before the current one is committed; none past the best claim less one',
  );
});

test('BlockSync: a range fetched ahead from a peer that then fails is dropped, and the next peer is asked from our height', async () => {
  let calls = 0;
  const h = syncHarness({
    // Its first answer is good, the one fetched ahead is not.
    flaky: async (from, to) => (calls++ === 0 ? answerBlocksRequest(from, to, read, 1) : encode([])),
    honest: (from, to) => answerBlocksRequest(from, to, read, 1),
  });
  h.peers.claim('flaky', 4n);
  h.peers.claim('honest', 4n);
  await runSync(h);
  assert.equal(h.asked.slice(0, 3), ['flaky', 'flaky', 'honest']);
  assert.equal(h.committed, [1n, 2n, 3n]);
  assert.equal(h.reported, [], 'an empty answer may be honest');
});

test('BlockSync hands the txs checked off the main thread to the commit path before committing each block', async () => {
  const key = keyPairFromSeed(new Uint8Array(32).fill(7));
  const signed = chainOf(
    3,
    MIN_OFF_THREAD_TXS,
    (i, j) =>
      signTx(chain.chainId, key.secretKey, key.publicKey, BigInt(i * 100 + j), Uint8Array.of(i, j)).bytes,
  );
  const small = chainOf(3, 1);
  const readFrom = (blocks: typeof signed) => async (h: bigint) => {
    const at = blocks[Number(h) - 1];
    return at === undefined ? null : asStored(at);
  };
  const verifier = new OffThreadVerifier();
  const run = async (blocks: typeof signed, held: (hash: Uint8Array) => boolean = () => false) => {
    const h = syncHarness({ honest: (from, to) => answerBlocksRequest(from, to, readFrom(blocks)) }, false, {
      verifier,
      checked: {
        remember: (block) => h.events.push(`checked ${block.header.height}`),
        local: (hash) => (held(hash) ? Uint8Array.of(1) : undefined),
      },
    });
    h.peers.claim('honest', 3n);
    await runSync(h);
    return h.events.filter((e) => !e.startsWith('ask'));
  };
  const events = await run(signed);
  for (const h of [1, 2, 3]) {
    const checked = events.indexOf(`checked ${h}`);
    assert.ok(
      checked >= 0 && checked < events.indexOf(`commit ${h}`),
      `block ${h} checked before its commit: ${events}`,
    );
  }
  assert.equal(
    await run(small),
    ['commit 1', 'commit 2', 'commit 3'],
    'small blocks are left to the commit path',
  );
  // The node holds one of block 2's first txs (its mempool checked it): that block is left to
  // the commit path, which takes what it holds from there; blocks 1 and 3 go to the worker.
  const mixed = await run(signed, (hash) => equalBytes(hash, txHash(signed[1]!.block.txs[2]!)));
  assert.not.ok(mixed.includes('checked 2'), `block 2 left to the commit path: ${mixed}`);
  for (const h of [1, 3])
    assert.ok(
      mixed.indexOf(`checked ${h}`) >= 0 && mixed.indexOf(`checked ${h}`) < mixed.indexOf(`commit ${h}`),
      `block ${h}: ${mixed}`,
    );
  assert.ok(verifier.running, 'the worker is kept for the next sync');
  syncHarness({}, false, {
    verifier,
    checked: { remember: () => undefined, local: () => undefined },
  }).sync.stop();
  assert.not.ok(verifier.running, 'stopping block sync (the node stops) ends the worker');
});

test('BlockSync does not start within a height of the best claim, waits a tick at one height behind, and asks nothing once a commit has failed', async () => {
  const near = syncHarness({ honest: serve });
  near.peers.claim('honest', 1n);
  near.sync.tick();
  assert.not.ok(near.sync.active);
  // One height ahead: the peer moved on while we still commit; only a tick without a commit of
  // ours says we are stuck there.
  const behind = syncHarness({ honest: serve });
  behind.peers.claim('honest', 2n);
  behind.sync.tick();
  assert.not.ok(behind.sync.active, 'a height ahead, first seen: no sync');
  behind.sync.tick();
  assert.ok(behind.sync.active, 'a height ahead for a whole tick with no commit: sync');
  const broken = syncHarness({ honest: serve }, true);
  broken.peers.claim('honest', 4n);
  broken.sync.tick();
  assert.not.ok(broken.sync.active);
  assert.equal(broken.asked, [], 'a node that could not write a block takes none after it');
});

test.run();
