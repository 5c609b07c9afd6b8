/**
 * node/consensus-host.ts alone (a real driver, WAL and sign state in a temp folder; fakes for the
 * rest): our proposal carries the txs the application prepared from the mempool and is not
 * checked again, and the pool's evidence unless the block store holds it committed; a peer's
 * block is valid only if the chain rules and the application both say so; new evidence is pooled
 * (due to peers at once) and reported once; a proposal with its whole block inside is rejected
 * from a peer; the tick announces our status and switches to re-gossip once the height is stuck.
 * After a decision the next height starts once the block is written: at once if every validator's
 * precommit is in and txs wait in the mempool (skip_timeout_commit, also when the last precommit
 * comes during the pause), after timeout_commit if one is missing, the chain is idle or the option
 * is off.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EvidencePool } from '../../../consensus/evidence-pool.ts';
import { decodeMessage, encodeMessage } from '../../../consensus/messages.ts';
import { FileWal } from '../../../consensus/wal.ts';
import { ChainHead } from '../../../node/commit-pipeline.ts';
import { defaultConfig } from '../../../node/config.ts';
import { NodeConsensus, type NodeConsensusModules } from '../../../node/consensus-host.ts';
import { NodeMetrics } from '../../../node/metrics.ts';
import { CheckedTxs } from '../../../node/seen-txs.ts';
import { SyncPeers } from '../../../node/sync/block-sync.ts';
import { NodeTimers } from '../../../node/timers.ts';
import { invalid } from '../../../packages/core/errors.ts';
import { sha256 } from '../../../packages/crypto/hash.ts';
import { blockIdOf } from '../../../packages/types/block.ts';
import { applyBlock, buildBlock, type ChainState } from '../../../packages/types/chain-state.ts';
import { evidenceHash, makeDuplicateVoteEvidence } from '../../../packages/types/commit.ts';
import { type CheckedTx, signTx } from '../../../packages/types/tx.ts';
import { addressOf } from '../../../packages/types/validator.ts';
import {
  CHAIN_ID,
  idOf,
  keyFor,
  makeChain,
  precommit,
  prevote,
  signedProposal,
} from '../consensus/fixtures.ts';
import { recordingLogger } from './fixtures.ts';

const utf8 = new TextEncoder();
const dir = mkdtempSync(join(tmpdir(), 'careledger-consensus-host-unit-'));
const { chain, fx } = makeChain([1n, 1n, 1n, 1n], 'consensus-host');
const signer = keyFor('consensus-host-signer');
const pending: CheckedTx[] = [0n, 1n].map((n) =>
  signTx(CHAIN_ID, signer.secretKey, signer.publicKey, n, utf8.encode(`tx ${n}`)),
);
let validByChain = true;
let validByApp = true;
const published: string[] = [];
const log = recordingLogger();
const timers = new NodeTimers();
const evidence = new EvidencePool(10);
/** Hex hashes of evidence the fake block store holds committed. */
const committedEvidence = new Set<string>();
const txs = new CheckedTxs(CHAIN_ID, { get: () => undefined });
const modules: NodeConsensusModules = {
  head: new ChainHead(chain),
  p2p: {
    topicPeers: () => [],
    request: async () => new Uint8Array(),
    sendDirect: async () => 'accept',
    reportInvalid: () => undefined,
  },
  gossip: { publish: (_kind, bytes) => published.push(decodeMessage(bytes).kind) },
  txBatcher: { flush: () => undefined },
  // The application keeps only the first tx (prepareProposal may drop or reorder).
  app: { prepareProposal: (given) => given.slice(0, 1), processProposal: () => validByApp },
  mempool: { reap: () => pending, size: pending.length },
  blocks: {
    block: async () => null,
    commit: async () => null,
    isEvidenceCommitted: (hash) => committedEvidence.has(Buffer.from(hash).toString('hex')),
  },
  evidence,
  txs,
  commits: {
    validate: () => {
      if (!validByChain) throw invalid('BLOCK_INVALID', 'wrong app hash');
    },
    decided: async () => undefined,
  },
  syncPeers: new SyncPeers(30_000),
  timers,
  metrics: null,
  log,
};
const consensus = new NodeConsensus(
  {
    consensus: defaultConfig('consensus-host').consensus,
    validatorKey: fx.keys[0]!,
    paths: { wal: join(dir, 'wal'), signState: join(dir, 'sign-state.json') },
  },
  modules,
);

test('our proposal: the txs the application prepared, our address, checked once', () => {
  const block = consensus.buildBlock();
  assert.is(block.header.height, 1n);
  assert.equal(block.txs, [pending[0]!.bytes]);
  assert.equal(block.header.proposerAddress, addressOf(fx.keys[0]!.publicKey));
  assert.equal(txs.of(block), [pending[0]], 'the prepared checked txs, not a new check');
});

test("a peer's block is valid only if the chain rules and the application accept it", () => {
  const block = consensus.buildBlock();
  assert.ok(consensus.isValidBlock(block));
  validByApp = false;
  assert.not.ok(consensus.isValidBlock(block));
  validByApp = true;
  validByChain = false;
  assert.not.ok(consensus.isValidBlock(block));
  validByChain = true;
  assert.ok(log.lines.some((l) => l.msg === 'invalid proposal' && l.fields?.error === 'wrong app hash'));
});

const equivocation = (validator: number) =>
  makeDuplicateVoteEvidence(
    precommit(fx, validator, 1n, 0, idOf(`a-${validator}`)),
    precommit(fx, validator, 1n, 0, idOf(`b-${validator}`)),
  );

test('new evidence is pooled, due to peers at once, and reported once', () => {
  const e = equivocation(2);
  consensus.evidence(e);
  consensus.evidence(e);
  assert.is(evidence.size, 1);
  assert.equal(evidence.due(Date.now()), [e]);
  assert.is(log.lines.filter((l) => l.msg === 'equivocation detected').length, 1);
});

test("our proposal carries the pool's evidence, not what the block store holds committed", () => {
  const head = modules.head;
  const genesis = head.chain;
  // Height 1 committed: its evidence may go in the block of height 2.
  head.chain = { ...genesis, lastHeight: 1n };
  try {
    const [held, committed] = [equivocation(2), equivocation(3)];
    for (const e of [held, committed]) consensus.evidence(e);
    assert.equal(consensus.buildBlock().evidence, [held, committed], 'oldest first');
    committedEvidence.add(Buffer.from(evidenceHash(committed)).toString('hex'));
    assert.equal(consensus.buildBlock().evidence, [held]);
    assert.is(evidence.size, 1, 'committed by a block we did not propose: dropped from the pool');
  } finally {
    head.chain = genesis;
  }
});

test('a proposal with its whole block inside is rejected from a peer', async () => {
  const block = consensus.buildBlock();
  const proposal = signedProposal(fx, 0, 1n, 0, -1, blockIdOf(block.header));
  const verdict = await consensus.receive(encodeMessage({ kind: 'proposal', proposal, block }), 'peer');
  assert.is(verdict, 'reject');
  assert.ok(log.lines.some((l) => l.fields?.code === 'PROPOSAL_FULL_FORM'));
});

test('the tick announces our status; a height stuck for two ticks is re-gossiped instead', () => {
  published.length = 0;
  let rebroadcasts = 0;
  const driver = consensus.driver;
  const rebroadcast = driver.rebroadcast.bind(driver);
  driver.rebroadcast = () => {
    rebroadcasts++;
    rebroadcast();
  };
  consensus.tick();
  consensus.tick();
  assert.equal(published, ['status', 'status']);
  assert.is(rebroadcasts, 0);
  consensus.tick();
  assert.is(rebroadcasts, 1, 'stuck: our own messages again (ending with our status)');
});

test('a damaged WAL is repaired at start, with a warning naming what was lost and a metric', async () => {
  const walDir = mkdtempSync(join(tmpdir(), 'careledger-consensus-host-wal-'));
  try {
    const path = join(walDir, 'wal');
    const wal = FileWal.open(path);
    for (const n of [1, 2, 3]) wal.append(utf8.encode(`record ${n}`), true);
    wal.close();
    const bytes = readFileSync(path);
    bytes.fill(0xff, 0, 4); // the first frame's length: it and the two after it are lost
    writeFileSync(path, bytes);
    const warnings = recordingLogger();
    const metrics = new NodeMetrics('cometbft', CHAIN_ID);
    new NodeConsensus(
      {
        consensus: defaultConfig('consensus-host').consensus,
        validatorKey: fx.keys[0]!,
        paths: { wal: path, signState: join(walDir, 'sign-state.json') },
      },
      { ...modules, metrics, log: warnings },
    );
    const warning = warnings.lines.find((l) => l.level === 'warn');
    assert.is(warning?.msg, 'consensus WAL repaired: dropped a damaged part and every record after it');
    assert.equal(
      { dropped: warning?.fields?.droppedRecords, kept: warning?.fields?.keptRecords },
      { dropped: 2, kept: 0 },
    );
    const text = await metrics.registry.metrics();
    assert.match(text, /cometbft_consensus_wal_repairs_total\{chain_id="[^"]+"\} 1/);
    assert.match(text, /cometbft_consensus_wal_dropped_records_total\{chain_id="[^"]+"\} 2/);
  } finally {
    rmSync(walDir, { recursive: true, force: true });
  }
});

/** Timers the test fires by hand: `after` only records; `fire(ms)` runs those of that delay. */
class ManualTimers extends NodeTimers {
  readonly pending: { ms: number; run: () => void }[] = [];
  override after(ms: number, run: () => void): void {
    this.pending.push({ ms, run });
  }
  /** Runs (and forgets) every pending timer of `ms`; how many ran. */
  fire(ms: number): number {
    const due = this.pending.filter((t) => t.ms === ms);
    this.pending.splice(0, this.pending.length, ...this.pending.filter((t) => t.ms !== ms));
    for (const t of due) t.run();
    return due.length;
  }
  delays(): number[] {
    return this.pending.map((t) => t.ms);
  }
}

const TIMEOUT_COMMIT_MS = 60_000;
const PROPOSER = chain.validators.proposer;
/** We are not the proposer: the others' proposal and votes are played by hand. */
const US = (PROPOSER + 1) % 4;
const OTHERS = [0, 1, 2, 3].filter((i) => i !== US);
let nodes = 0;

/**
 * A host at height 1 with hand-fired timers. The commit pipeline applies the decided block to the
 * chain head when `write` is called (at once unless `holdWrites`), as the block being written.
 */
function commitPause(skipTimeoutCommit: boolean, holdWrites = false, waitingTxs = 1) {
  const timers = new ManualTimers();
  const head = new ChainHead(chain);
  const writes: (() => void)[] = [];
  const node = new NodeConsensus(
    {
      consensus: {
        ...defaultConfig('pause').consensus,
        timeoutCommitMs: TIMEOUT_COMMIT_MS,
        skipTimeoutCommit,
      },
      validatorKey: fx.keys[US]!,
      paths: { wal: join(dir, `pause-wal-${nodes}`), signState: join(dir, `pause-sign-${nodes++}.json`) },
    },
    {
      ...modules,
      head,
      timers,
      mempool: { reap: () => [], size: waitingTxs },
      // At height 2 we propose, by hashes (the shared fake decodes what it is given).
      gossip: { publish: () => undefined },
      commits: {
        validate: () => undefined,
        decided: (block, commit) =>
          new Promise<void>((resolve) => {
            writes.push(() => {
              head.chain = applyBlock(head.chain, block, commit, {
                appHash: sha256(head.chain.appHash),
                resultsHash: sha256(),
                validatorUpdates: [],
              });
              resolve();
            });
            if (!holdWrites) writes.shift()!();
          }),
      },
    },
  );
  node.recover();
  const block = buildBlock(chain as ChainState, {
    txs: [],
    evidence: [],
    time: chain.lastBlockTime + 1000n,
    proposer: fx.set.validators[PROPOSER]!.address,
  });
  const id = blockIdOf(block.header);
  const proposal = signedProposal(fx, PROPOSER, 1n, 0, -1, id);
  node.driver.receive(encodeMessage({ kind: 'proposal', proposal, block }), 'peer');
  for (const v of OTHERS)
    node.receive(encodeMessage({ kind: 'vote', vote: prevote(fx, v, 1n, 0, id) }), 'peer');
  const precommitOf = (v: number) =>
    node.receive(encodeMessage({ kind: 'vote', vote: precommit(fx, v, 1n, 0, id) }), 'peer');
  /** Lets the commit promise's continuation run. */
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  return { node, timers, writes, precommitOf, settle };
}

test('skip_timeout_commit: the last precommit arriving during the pause starts the next height at once', async () => {
  const { node, timers, precommitOf, settle } = commitPause(true);
  const [late, ...deciders] = OTHERS;
  for (const v of deciders) precommitOf(v);
  await settle();
  assert.is(node.height, 1n, 'decided and written, one precommit missing: pausing');
  assert.ok(timers.delays().includes(TIMEOUT_COMMIT_MS));
  assert.is(timers.fire(0), 0);
  precommitOf(late!);
  assert.is(node.height, 1n, 'never from inside the driver');
  assert.is(timers.fire(0), 1);
  assert.is(node.height, 2n, 'every precommit in: no wait for timeout_commit');
  timers.fire(TIMEOUT_COMMIT_MS);
  assert.is(node.height, 2n, "height 1's pause, firing later, leaves height 2 alone");
  assert.is(node.round, 0);
});

test('skip_timeout_commit: all precommits in before the block is written: the next height follows the write', async () => {
  const { node, timers, writes, precommitOf, settle } = commitPause(true, true);
  for (const v of OTHERS) precommitOf(v);
  assert.is(writes.length, 1, 'decided, not yet written');
  timers.fire(0);
  assert.is(node.height, 1n, 'not before the block is written');
  writes.shift()!();
  await settle();
  assert.not.ok(timers.delays().includes(TIMEOUT_COMMIT_MS), 'no pause scheduled');
  assert.is(timers.fire(0), 1);
  assert.is(node.height, 2n);
});

test('skip_timeout_commit: a stopped validator (its precommit never comes) keeps the timeout_commit pause', async () => {
  const { node, timers, precommitOf, settle } = commitPause(true);
  for (const v of OTHERS.slice(1)) precommitOf(v);
  await settle();
  assert.is(timers.fire(0), 0);
  assert.is(node.height, 1n);
  assert.is(timers.fire(TIMEOUT_COMMIT_MS), 1);
  assert.is(node.height, 2n, 'after the pause');
});

test('skip_timeout_commit: an idle chain (no tx waiting) keeps the pause, one empty block per timeout_commit', async () => {
  const { node, timers, precommitOf, settle } = commitPause(true, false, 0);
  for (const v of OTHERS) precommitOf(v);
  await settle();
  assert.is(timers.fire(0), 0, 'every precommit in, but nothing to put in a block');
  assert.is(node.height, 1n);
  assert.is(timers.fire(TIMEOUT_COMMIT_MS), 1);
  assert.is(node.height, 2n);
});

test('skip_timeout_commit off: even with every precommit in, the next height waits for timeout_commit', async () => {
  const { node, timers, precommitOf, settle } = commitPause(false);
  for (const v of OTHERS) precommitOf(v);
  await settle();
  assert.is(timers.fire(0), 0);
  assert.is(node.height, 1n);
  assert.is(timers.fire(TIMEOUT_COMMIT_MS), 1);
  assert.is(node.height, 2n);
});

test.after(() => {
  timers.stop();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
