/**
 * The serial consensus driver with a small in-memory host: a validator set of one decides alone;
 * with four validators the test plays the other three by hand. Covers the WAL (received messages
 * appended, own messages fsynced before they are broadcast), crash and recovery without
 * equivocation, and how `receive` classifies bad, duplicate, stale and future messages.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  defaultTimeouts,
  FUTURE_ROUND_WINDOW,
  type TimeoutStep,
} from '../../../consensus/core/state-machine.ts';
import { MAX_VOTES_PER_VALIDATOR } from '../../../consensus/core/vote-set.ts';
import {
  type Acceptance,
  ConsensusDriver,
  type ConsensusHost,
  defaultDriverOptions,
  type ProposedBlock,
} from '../../../consensus/driver.ts';
import {
  type ConsensusMessage,
  decodeMessage,
  encodeMessage,
  encodeProposalByHashes,
} from '../../../consensus/messages.ts';
import {
  DoubleSignGuard,
  MemorySignStateStore,
  type SignState,
  type SignStateStore,
  SignStep,
} from '../../../consensus/privval.ts';
import { MemoryWal, type WalStorage } from '../../../consensus/wal.ts';
import { decode, encode } from '../../../packages/codec/canonical.ts';
import { type KeyPair, signerFor } from '../../../packages/crypto/ed25519.ts';
import { equalBytes, sha256 } from '../../../packages/crypto/hash.ts';
import { type Block, blockIdOf, defaultBlockLimits } from '../../../packages/types/block.ts';
import {
  applyBlock,
  buildBlock,
  type ChainState,
  nextHeightStart,
  validateBlock,
} from '../../../packages/types/chain-state.ts';
import { type Commit, type DuplicateVoteEvidence, verifyCommit } from '../../../packages/types/commit.ts';
import { type Vote, VoteType } from '../../../packages/types/vote.ts';
import {
  CHAIN_ID,
  type Fixture,
  GENESIS_TIME,
  idOf,
  makeChain,
  precommit,
  prevote,
  signedCommit,
  signedProposal,
} from './fixtures.ts';

/** The driver's WAL record kinds (consensus/driver.ts). */
const WalKind = { height: 1, received: 2, timeout: 3, own: 4 } as const;
const utf8 = new TextEncoder();

/** A WAL that remembers every append and whether it was synced, over a MemoryWal. */
class RecordingWal implements WalStorage {
  readonly inner: MemoryWal;
  readonly appends: { record: Uint8Array; sync: boolean }[] = [];
  constructor(inner = new MemoryWal()) {
    this.inner = inner;
  }
  append(record: Uint8Array, sync: boolean): void {
    this.appends.push({ record, sync });
    this.inner.append(record, sync);
  }
  readAll() {
    return this.inner.readAll();
  }
  reset(records: readonly Uint8Array[]): void {
    this.inner.reset(records);
  }
  close(): void {}
}

/** A sign-state store that keeps every state it saved, to rebuild the store as of any moment. */
class HistoryStore implements SignStateStore {
  readonly inner = new MemorySignStateStore();
  readonly history: SignState[] = [];
  load(): SignState | null {
    return this.inner.load();
  }
  save(state: SignState): void {
    this.history.push(state);
    this.inner.save(state);
  }
}

/** A host over packages/types/chain-state: builds a different block at each call, applies decisions. */
class TestHost implements ConsensusHost {
  chain: ChainState;
  readonly proposerAddress: Uint8Array;
  /** Runs inside `broadcast`, before it records: lets a test look at the WAL at that moment. */
  onBroadcast: ((bytes: Uint8Array, message: ConsensusMessage) => void) | null = null;
  builds = 0;
  readonly broadcasts: { bytes: Uint8Array; message: ConsensusMessage }[] = [];
  readonly relays: Uint8Array[] = [];
  readonly timeouts: { height: bigint; round: number; step: TimeoutStep; delayMs: number }[] = [];
  readonly decisions: { block: ProposedBlock; commit: Commit }[] = [];
  readonly evidences: DuplicateVoteEvidence[] = [];
  /** Heights `allPrecommitsIn` was called for. */
  readonly allPrecommits: bigint[] = [];

  constructor(chain: ChainState, own: KeyPair) {
    this.chain = chain;
    this.proposerAddress = sha256(own.publicKey).subarray(0, 20);
  }

  buildBlock(): Block {
    this.builds++;
    return buildBlock(this.chain, {
      txs: [utf8.encode(`tx-${this.builds}`)],
      evidence: [],
      time: this.chain.lastBlockTime + BigInt(this.builds),
      proposer: this.proposerAddress,
    });
  }
  isValidBlock(block: Block): boolean {
    try {
      validateBlock(this.chain, block, { isCommitted: () => false, validatorsAt: () => undefined });
      return true;
    } catch {
      return false;
    }
  }
  broadcast(bytes: Uint8Array, message: ConsensusMessage): void {
    this.onBroadcast?.(bytes, message);
    this.broadcasts.push({ bytes, message });
  }
  relay(bytes: Uint8Array): void {
    this.relays.push(bytes);
  }
  scheduleTimeout(height: bigint, round: number, step: TimeoutStep, delayMs: number): void {
    this.timeouts.push({ height, round, step, delayMs });
  }
  decide(block: ProposedBlock, commit: Commit): void {
    this.decisions.push({ block, commit });
    this.chain = applyBlock(this.chain, block.block, commit, {
      appHash: sha256(this.chain.appHash),
      resultsHash: sha256(),
      validatorUpdates: [],
    });
  }
  evidence(e: DuplicateVoteEvidence): void {
    this.evidences.push(e);
  }
  peerStatus(): void {}
  allPrecommitsIn(height: bigint): void {
    this.allPrecommits.push(height);
  }

  votes(): Vote[] {
    return this.broadcasts.flatMap((b) => (b.message.kind === 'vote' ? [b.message.vote] : []));
  }
  proposals() {
    return this.broadcasts.flatMap((b) => (b.message.kind === 'proposal' ? [b] : []));
  }
}

function makeDriver(host: TestHost, wal: WalStorage, store: SignStateStore, key: KeyPair): ConsensusDriver {
  const guard = new DoubleSignGuard(store, signerFor(key.secretKey));
  return new ConsensusDriver(
    {
      chainId: CHAIN_ID,
      consensus: { timeouts: defaultTimeouts },
      blockLimits: defaultBlockLimits,
      ...defaultDriverOptions,
    },
    host,
    wal,
    { guard, pubKey: key.publicKey },
    nextHeightStart(host.chain),
  );
}

/** Validator `own` of a chain, with its host, WAL, sign-state store and driver (not started). */
function makeNode(chain: ChainState, fx: Fixture, own: number) {
  const key = fx.keys[own]!;
  const host = new TestHost(chain, key);
  const wal = new RecordingWal();
  const store = new HistoryStore();
  const driver = makeDriver(host, wal, store, key);
  return { key, host, wal, store, driver };
}

/** The WAL's records as [kind, ...fields]. */
function walRecords(wal: WalStorage): unknown[][] {
  return wal.readAll().records.map((r) => decode(r) as unknown[]);
}

const voteBytes = (vote: Vote) => encodeMessage({ kind: 'vote', vote });

/** A block on `chain` proposed in `round` by validator `signer`, signed by `signer`. */
function proposalFrom(chain: ChainState, fx: Fixture, signer: number, round = 0, label = 'peer') {
  const block = buildBlock(chain, {
    txs: [utf8.encode(`${label}-tx`)],
    evidence: [],
    time: chain.lastBlockTime + 1000n,
    proposer: fx.set.validators[signer]!.address,
  });
  const id = blockIdOf(block.header);
  const proposal = signedProposal(fx, signer, chain.lastHeight + 1n, round, -1, id);
  return { block, id, proposal, bytes: encodeMessage({ kind: 'proposal', proposal, block }) };
}

const accepted = (a: Acceptance) => a.result === 'accept';
function assertReject(a: Acceptance, code: string) {
  assert.is(a.result, 'reject', `rejected (got ${JSON.stringify(a)})`);
  if (a.result === 'reject') assert.is(a.code, code);
}
function assertIgnore(a: Acceptance, reason: string) {
  assert.is(a.result, 'ignore', `ignored (got ${JSON.stringify(a)})`);
  if (a.result === 'ignore') assert.is(a.reason, reason);
}

// Four validators of power 1; the test plays every validator but `us`.
const four = makeChain([1n, 1n, 1n, 1n], 'driver');
const PROPOSER = four.chain.validators.proposer;
const US = (PROPOSER + 1) % 4;
const OTHERS = [0, 1, 2, 3].filter((i) => i !== US);
const PEERS = OTHERS.filter((i) => i !== PROPOSER);
const start = nextHeightStart(four.chain);

test('fixture: four validators, we are not the proposer of round 0', () => {
  assert.is(four.fx.set.validators.length, 4);
  assert.ok(US !== PROPOSER);
  assert.is(PEERS.length, 2);
});

test('a set of one decides alone; every own message is fsynced to the WAL before it is broadcast', () => {
  const solo = makeChain([10n], 'solo');
  const { host, wal, driver } = makeNode(solo.chain, solo.fx, 0);
  const syncedFirst: boolean[] = [];
  host.onBroadcast = (bytes) => {
    const last = wal.appends.at(-1);
    const fields = last === undefined ? [] : (decode(last.record) as unknown[]);
    syncedFirst.push(
      last?.sync === true && fields[0] === WalKind.own && equalBytes(fields[1] as Uint8Array, bytes),
    );
  };
  driver.startHeight(nextHeightStart(solo.chain));
  assert.equal(
    host.broadcasts.map((b) => (b.message.kind === 'vote' ? `vote${b.message.vote.type}` : b.message.kind)),
    ['proposal', `vote${VoteType.prevote}`, `vote${VoteType.precommit}`],
  );
  assert.equal(syncedFirst, [true, true, true]);
  assert.is(host.builds, 1);
  assert.is(host.decisions.length, 1);
  const { block, commit } = host.decisions[0]!;
  assert.is(block.block.header.height, 1n);
  verifyCommit(CHAIN_ID, commit, solo.chain.validators.set, block.id);

  // The WAL: the height, then our three messages, all durable.
  const kinds = () => walRecords(wal).map((r) => r[0]);
  assert.equal(kinds(), [WalKind.height, WalKind.own, WalKind.own, WalKind.own]);
  assert.equal(walRecords(wal)[0], [WalKind.height, 1n]);
  wal.inner.crash();
  assert.equal(kinds(), [WalKind.height, WalKind.own, WalKind.own, WalKind.own]);

  // The next height starts with a fresh WAL and decides too, on top of the first block.
  driver.startHeight(nextHeightStart(host.chain));
  assert.is(host.decisions.length, 2);
  assert.is(driver.height, 2n);
  assert.ok(equalBytes(host.decisions[1]!.block.block.header.lastBlockId, block.id));
  assert.equal(walRecords(wal)[0], [WalKind.height, 2n]);
  assert.is(walRecords(wal).length, 4);
});

test('received messages are appended unsynced, own ones synced: a crash loses only the unsynced tail', () => {
  const { host, wal, driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  assert.equal(walRecords(wal), [[WalKind.height, 1n]]);
  const p = proposalFrom(four.chain, four.fx, PROPOSER);
  assert.ok(accepted(driver.receive(p.bytes, 'peer')));
  assert.equal(
    wal.appends.map((a) => (decode(a.record) as unknown[])[0]),
    [WalKind.received, WalKind.own],
  );
  assert.equal(
    wal.appends.map((a) => a.sync),
    [false, true],
  );
  assert.ok(equalBytes(walRecords(wal)[1]![1] as Uint8Array, p.bytes), 'the received bytes, as received');
  const [ownPrevote] = host.votes();
  assert.ok(ownPrevote !== undefined && equalBytes(ownPrevote.blockId, p.id), 'we prevoted the proposal');

  assert.ok(accepted(driver.receive(voteBytes(prevote(four.fx, PEERS[0]!, 1n, 0, p.id)), 'peer')));
  assert.equal(
    walRecords(wal).map((r) => r[0]),
    [WalKind.height, WalKind.received, WalKind.own, WalKind.received],
  );
  wal.inner.crash();
  assert.equal(
    walRecords(wal).map((r) => r[0]),
    [WalKind.height, WalKind.received, WalKind.own],
  );
});

test('timeouts are appended to the WAL (unsynced), then the nil prevote they cause is synced', () => {
  const { host, wal, driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  assert.equal(host.timeouts, [{ height: 1n, round: 0, step: 'propose', delayMs: 3000 }]);
  driver.onTimeout(1n, 0, 'propose');
  assert.equal(walRecords(wal)[1], [WalKind.timeout, 1n, 0, 0]);
  assert.equal(
    wal.appends.map((a) => a.sync),
    [false, true],
  );
  const [vote] = host.votes();
  assert.ok(vote !== undefined && vote.blockId.length === 0, 'prevote nil');
});

test('crash and recover: the replay re-sends the very same prevote and signs nothing conflicting', () => {
  const first = makeNode(four.chain, four.fx, US);
  first.driver.startHeight(start);
  const p = proposalFrom(four.chain, four.fx, PROPOSER);
  first.driver.receive(p.bytes, 'peer');
  first.driver.receive(voteBytes(prevote(four.fx, PEERS[0]!, 1n, 0, p.id)), 'peer');
  const [original] = first.host.broadcasts;
  assert.ok(original !== undefined && original.message.kind === 'vote');
  const signed = first.store.history.length;
  first.wal.inner.crash();

  // A new process: same WAL and sign-state store, fresh host and driver.
  const host = new TestHost(four.chain, first.key);
  const driver = makeDriver(host, first.wal, first.store, first.key);
  assert.is(driver.recover(start), 2, 'replays the proposal and our prevote; the unsynced vote is gone');
  assert.is(driver.stepName, 'prevote');
  assert.equal(
    host.broadcasts.map((b) => b.bytes),
    [original.bytes],
    'the same prevote bytes, same signature',
  );
  assert.is(first.store.history.length, signed, 'the guard signed nothing new');
  assert.is(first.wal.readAll().records.length, 3, 'replay appends nothing');
  // A timeout of the step we are past changes nothing.
  driver.onTimeout(1n, 0, 'propose');
  assert.is(host.votes().length, 1);
});

test('crash after a round skip on far votes: the replay skips as the node did and re-sends the same prevote', () => {
  const first = makeNode(four.chain, four.fx, US);
  first.driver.startHeight(start);
  const far = FUTURE_ROUND_WINDOW + 3;
  for (const i of [PEERS[0]!, PEERS[1]!])
    assert.ok(accepted(first.driver.receive(voteBytes(prevote(four.fx, i, 1n, far, idOf('far'))), 'peer')));
  assert.is(first.driver.round, far);
  first.driver.onTimeout(1n, far, 'propose'); // our nil prevote of that round, synced
  const [original] = first.host.broadcasts;
  assert.ok(original !== undefined && original.message.kind === 'vote');
  first.wal.inner.crash();

  const host = new TestHost(four.chain, first.key);
  const driver = makeDriver(host, first.wal, first.store, first.key);
  driver.recover(start);
  assert.is(driver.round, far, 'the far votes were in the WAL: the replay skipped too');
  assert.is(driver.stepName, 'prevote');
  assert.equal(
    host.broadcasts.map((b) => b.bytes),
    [original.bytes],
  );
});

test('a lost WAL cannot make it equivocate: the guard refuses a nil prevote where it prevoted a block', () => {
  const first = makeNode(four.chain, four.fx, US);
  first.driver.startHeight(start);
  const p = proposalFrom(four.chain, four.fx, PROPOSER);
  first.driver.receive(p.bytes, 'peer');
  assert.is(first.host.votes().length, 1);

  const host = new TestHost(four.chain, first.key);
  const driver = makeDriver(host, new MemoryWal(), first.store, first.key);
  assert.is(driver.recover(start), 0, 'nothing to replay');
  driver.onTimeout(1n, 0, 'propose');
  assert.equal(
    host.votes().filter((v) => v.type === VoteType.prevote),
    [],
    'no second prevote at height 1 round 0',
  );
  const last = first.store.inner.load();
  assert.is(last?.step, SignStep.prevote);
  assert.is(last?.round, 0);
});

test('proposer crash after proposing and prevoting: recovery reuses the block from the WAL, never rebuilds', () => {
  const first = makeNode(four.chain, four.fx, PROPOSER);
  first.driver.startHeight(start);
  assert.is(first.host.builds, 1);
  const [proposal] = first.host.proposals();
  assert.ok(proposal !== undefined && proposal.message.kind === 'proposal');
  const id = proposal.message.proposal.blockId;
  first.wal.inner.crash();

  // This host would build a different block (its counter restarts and the tx differs).
  const host = new TestHost(four.chain, first.key);
  host.builds = 100;
  const driver = makeDriver(host, first.wal, first.store, first.key);
  driver.recover(start);
  assert.is(host.builds, 100, 'buildBlock was not called');
  const recovered = driver.consensusState.proposals.get(0);
  assert.ok(recovered !== undefined && equalBytes(recovered.value.id, id), 'round 0 holds our first block');
  for (const b of host.proposals()) {
    assert.ok(b.message.kind === 'proposal' && equalBytes(b.message.proposal.blockId, id));
  }
  const prevotes = host.votes().filter((v) => v.type === VoteType.prevote);
  assert.is(prevotes.length, 1);
  assert.ok(equalBytes(prevotes[0]!.blockId, id), 'prevotes the same block');
});

test('proposer crash between proposal and prevote: recovery re-proposes the identical signed proposal', () => {
  const first = makeNode(four.chain, four.fx, PROPOSER);
  first.driver.startHeight(start);
  const [proposal] = first.host.proposals();
  assert.ok(proposal !== undefined);
  // The disk as of just after the proposal: its WAL record and the guard's proposal state.
  const records = first.wal.readAll().records;
  assert.is(records.length, 3);
  const wal = new MemoryWal();
  wal.reset(records.slice(0, 2));
  const store = new MemorySignStateStore();
  assert.is(first.store.history[0]!.step, SignStep.proposal);
  store.save(first.store.history[0]!);

  const host = new TestHost(four.chain, first.key);
  const driver = makeDriver(host, wal, store, first.key);
  assert.is(driver.recover(start), 1);
  assert.is(host.builds, 0, 'buildBlock was not called');
  const again = host.proposals();
  assert.is(again.length, 1, 'the proposal is sent again');
  assert.ok(equalBytes(again[0]!.bytes, proposal.bytes), 'byte for byte, same signature');
  const prevotes = host.votes();
  assert.is(prevotes.length, 1);
  assert.ok(
    equalBytes(prevotes[0]!.blockId, blockIdOf((again[0]!.message as { block: Block }).block.header)),
  );
});

test('receive rejects garbage, bad signatures and a proposal not signed by the proposer; nothing changes', () => {
  const { host, wal, driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  const appended = wal.appends.length;
  const peer = PEERS[0]!;

  assertReject(driver.receive(Uint8Array.of(0xc1), 'peer'), 'CODEC_UNSUPPORTED');
  assertReject(driver.receive(Uint8Array.of(0x93, 1), 'peer'), 'CODEC_TRUNCATED');
  assertReject(driver.receive(encode([99, 1n]), 'peer'), 'MESSAGE_INVALID');

  const good = prevote(four.fx, peer, 1n, 0, idOf('x'));
  const badSignature = new Uint8Array(good.signature);
  badSignature[0]! ^= 1;
  assertReject(driver.receive(voteBytes({ ...good, signature: badSignature }), 'peer'), 'VOTE_BAD_SIGNATURE');
  const otherChain = { ...good, signature: precommit(four.fx, peer, 1n, 0, idOf('x')).signature };
  assertReject(driver.receive(voteBytes(otherChain), 'peer'), 'VOTE_BAD_SIGNATURE');
  const wrongIndex = { ...good, validatorIndex: (peer + 1) % 4 };
  assertReject(driver.receive(voteBytes(wrongIndex), 'peer'), 'VOTE_UNKNOWN_VALIDATOR');

  const p = proposalFrom(four.chain, four.fx, PROPOSER);
  const byOther = signedProposal(four.fx, peer, 1n, 0, -1, p.id);
  assertReject(
    driver.receive(encodeMessage({ kind: 'proposal', proposal: byOther, block: p.block }), 'peer'),
    'PROPOSAL_BAD_SIGNATURE',
  );
  const otherBlock = proposalFrom(four.chain, four.fx, PROPOSER, 0, 'other').block;
  assertReject(
    driver.receive(encodeMessage({ kind: 'proposal', proposal: p.proposal, block: otherBlock }), 'peer'),
    'PROPOSAL_INVALID',
  );

  assert.is(wal.appends.length, appended, 'nothing rejected reaches the WAL');
  assert.is(driver.stepName, 'propose');
  assert.is(driver.consensusState.proposals.size, 0);
  assert.is(driver.consensusState.votes.prevotes(0).size, 0);
  assert.equal(host.broadcasts, []);
  // The genuine proposal is still welcome after the forgeries.
  assert.ok(accepted(driver.receive(p.bytes, 'peer')));
});

test('receive ignores duplicates and status messages; a conflicting vote is reported as evidence', () => {
  const { host, wal, driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  const peer = PEERS[0]!;
  const bytes = voteBytes(prevote(four.fx, peer, 1n, 0, idOf('a')));
  assert.ok(accepted(driver.receive(bytes, 'peer')));
  assertIgnore(driver.receive(bytes, 'another peer'), 'duplicate');
  assert.is(walRecords(wal).filter((r) => r[0] === WalKind.received).length, 1, 'WALed once');
  assertIgnore(
    driver.receive(encodeMessage({ kind: 'status', height: 1n, round: 0 }), 'peer'),
    'status is not relayed',
  );
  assert.equal(host.evidences, []);
  assert.ok(accepted(driver.receive(voteBytes(prevote(four.fx, peer, 1n, 0, idOf('b'))), 'peer')));
  assert.is(host.evidences.length, 1);
  assert.is(host.evidences[0]!.voteA.validatorIndex, peer);
});

test('a validator past the conflicting votes kept costs nothing more: ignored unverified, no evidence', () => {
  const { host, wal, driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  const peer = PEERS[0]!;
  for (let i = 0; i < MAX_VOTES_PER_VALIDATOR; i++)
    assert.ok(accepted(driver.receive(voteBytes(prevote(four.fx, peer, 1n, 0, idOf(`eq-${i}`))), 'peer')));
  assert.is(host.evidences.length, MAX_VOTES_PER_VALIDATOR - 1);
  const walled = walRecords(wal).length;
  for (let i = 0; i < 3; i++) {
    const extra = voteBytes(prevote(four.fx, peer, 1n, 0, idOf(`more-${i}`)));
    assertIgnore(driver.receive(extra, 'peer'), 'the validator already has the most conflicting votes kept');
  }
  assert.is(host.evidences.length, MAX_VOTES_PER_VALIDATOR - 1, 'no more evidence');
  assert.is(walRecords(wal).length, walled, 'nothing more written');
});

test('a vote beyond the round window counts for the round skip, and a copy counts once the node is there', () => {
  const { driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  const far = FUTURE_ROUND_WINDOW + 3;
  const [a, b] = [PEERS[0]!, PEERS[1]!];
  const votes = [a, b].map((i) => voteBytes(prevote(four.fx, i, 1n, far, idOf('far'))));
  // f+1 of them (2 of 4): the node skips to that round, though it could not keep the votes then.
  for (const v of votes) assert.ok(accepted(driver.receive(v, 'peer')));
  assert.is(driver.round, far);
  assert.is(driver.consensusState.votes.prevotes(far).size, 0, 'not kept beyond the window');
  // The same bytes again (a peer's re-send): now they count, not refused as duplicates.
  for (const v of votes) assert.ok(accepted(driver.receive(v, 'peer')));
  assert.is(driver.consensusState.votes.prevotes(far).size, 2);
  assertIgnore(driver.receive(votes[0]!, 'peer'), 'duplicate');
});

test('future-height messages are ignored then replayed at that height; stale heights are ignored', () => {
  const { host, driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  const early = voteBytes(prevote(four.fx, PEERS[0]!, 2n, 0, idOf('next')));
  assertIgnore(driver.receive(early, 'peer'), 'future height');
  assertIgnore(driver.receive(early, 'another peer'), 'duplicate');
  assertIgnore(
    driver.receive(voteBytes(prevote(four.fx, PEERS[0]!, 3n, 0, idOf('far'))), 'peer'),
    'future height',
  );

  // Height 1, played by hand: proposal, prevotes and precommits of the others.
  const p = proposalFrom(four.chain, four.fx, PROPOSER);
  assert.ok(accepted(driver.receive(p.bytes, 'peer')));
  for (const i of OTHERS)
    assert.ok(accepted(driver.receive(voteBytes(prevote(four.fx, i, 1n, 0, p.id)), 'peer')));
  assert.equal(host.decisions, [], 'no decision on prevotes');
  for (const i of PEERS)
    assert.ok(accepted(driver.receive(voteBytes(precommit(four.fx, i, 1n, 0, p.id)), 'peer')));
  assert.is(host.decisions.length, 1, 'decides with our precommit and two others');
  assert.ok(equalBytes(host.decisions[0]!.block.id, p.id));
  verifyCommit(CHAIN_ID, host.decisions[0]!.commit, four.chain.validators.set, p.id);

  driver.startHeight(nextHeightStart(host.chain));
  assert.is(driver.height, 2n);
  const buffered = driver.consensusState.votes
    .prevotes(0)
    .allVotes()
    .find((v) => v.validatorIndex === PEERS[0]);
  assert.ok(buffered !== undefined && buffered.height === 2n, 'the buffered height-2 vote was counted');
  const stale = voteBytes(precommit(four.fx, PROPOSER, 1n, 0, p.id));
  assertIgnore(driver.receive(stale, 'peer'), 'stale height');
  assertIgnore(driver.receive(stale, 'another peer'), 'duplicate');
  assertIgnore(driver.receive(early, 'peer'), 'duplicate');
});

test('one peer fills at most a quarter of the next-height buffer; others still get theirs kept', () => {
  const { host, driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  // Junk for height 2 (unchecked until then: any signature will do), enough to fill the buffer.
  for (let i = 0; i < defaultDriverOptions.maxBufferedMessages; i++) {
    const junk = {
      ...prevote(four.fx, PEERS[1]!, 2n, 0, idOf(`junk-${i}`)),
      signature: new Uint8Array(64).fill(i % 256),
    };
    assertIgnore(driver.receive(voteBytes(junk), 'junk peer'), 'future height');
  }
  const honest = voteBytes(prevote(four.fx, PEERS[0]!, 2n, 0, idOf('next')));
  assertIgnore(driver.receive(honest, 'honest peer'), 'future height');
  // Height 1 decided, height 2 started: the honest vote was kept and counts.
  const p = proposalFrom(four.chain, four.fx, PROPOSER);
  assert.ok(accepted(driver.receive(p.bytes, 'peer')));
  for (const i of OTHERS)
    assert.ok(accepted(driver.receive(voteBytes(prevote(four.fx, i, 1n, 0, p.id)), 'peer')));
  for (const i of PEERS)
    assert.ok(accepted(driver.receive(voteBytes(precommit(four.fx, i, 1n, 0, p.id)), 'peer')));
  driver.startHeight(nextHeightStart(host.chain));
  const counted = driver.consensusState.votes.prevotes(0).allVotes();
  assert.ok(
    counted.some((v) => v.validatorIndex === PEERS[0]),
    'the honest vote was kept',
  );
  assert.not.ok(
    counted.some((v) => v.validatorIndex === PEERS[1]),
    'the junk failed its checks at height 2',
  );
});

test('receiveDecoded: a proposal the host filled in is checked, WALed in full, and its wire bytes dedupe', () => {
  const { host, wal, driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  const p = proposalFrom(four.chain, four.fx, PROPOSER);
  const wire = encodeProposalByHashes(p.proposal, p.block);
  const message = { kind: 'proposal', proposal: p.proposal, block: p.block } as const;

  // What the node asks before fetching txs for a proposal, or after failing to.
  const byOther = signedProposal(four.fx, PEERS[0]!, 1n, 0, -1, p.id);
  assertReject(driver.checkProposal(byOther, p.block.header), 'PROPOSAL_BAD_SIGNATURE');
  const otherBlock = proposalFrom(four.chain, four.fx, PROPOSER, 0, 'other').block;
  assertReject(driver.checkProposal(p.proposal, otherBlock.header), 'PROPOSAL_INVALID');
  const later = signedProposal(four.fx, PROPOSER, 2n, 0, -1, p.id);
  assertIgnore(driver.checkProposal(later, p.block.header), 'not the current height');
  assert.ok(accepted(driver.checkProposal(p.proposal, p.block.header)));
  assert.is(driver.consensusState.proposals.size, 0, 'checking feeds nothing');

  assert.not.ok(driver.hasSeen(wire));
  assert.not.ok(driver.hasProposal(p.proposal));
  assert.ok(accepted(driver.receiveDecoded(message, wire, 'peer')));
  assert.ok(driver.hasSeen(wire));
  assert.ok(driver.hasProposal(p.proposal), 'taken: a copy in another wire form need not be filled in');
  assert.not.ok(driver.hasProposal({ ...p.proposal, blockId: otherBlock.header.dataHash }), 'another block');
  assert.not.ok(driver.hasProposal({ ...p.proposal, round: 1 }), 'another round');
  assertIgnore(driver.receiveDecoded(message, wire, 'another peer'), 'duplicate');
  const received = walRecords(wal).filter((r) => r[0] === WalKind.received);
  assert.is(received.length, 1, 'WALed once');
  assert.ok(
    equalBytes(received[0]![1] as Uint8Array, p.bytes),
    'the WAL holds the full proposal, replayable alone',
  );
  assert.is(driver.consensusState.proposals.size, 1);
  assert.ok(
    host.votes().some((v) => v.type === VoteType.prevote && equalBytes(v.blockId, p.id)),
    'prevoted the filled-in block',
  );
});

test("roundMessages: a round's proposal and votes as received, nothing for other heights or empty rounds", () => {
  const { driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  const p = proposalFrom(four.chain, four.fx, PROPOSER);
  assert.ok(accepted(driver.receive(p.bytes, 'peer')));
  const peerVotes = PEERS.map((i) => voteBytes(prevote(four.fx, i, 1n, 0, p.id)));
  for (const bytes of peerVotes) assert.ok(accepted(driver.receive(bytes, 'peer')));

  const round0 = driver.roundMessages(1n, 0);
  assert.ok(round0.proposal !== null && equalBytes(blockIdOf(round0.proposal.block.header), p.id));
  const votes = round0.votes.map((bytes) => decodeMessage(bytes));
  // The two peers' prevotes and ours: +2/3 for the block, so our precommit too.
  assert.equal(
    votes.map((m) => (m.kind === 'vote' ? `${m.vote.type}:${m.vote.validatorIndex}` : m.kind)).sort(),
    [...[...PEERS, US].map((i) => `${VoteType.prevote}:${i}`), `${VoteType.precommit}:${US}`].sort(),
  );
  for (const bytes of peerVotes)
    assert.ok(
      round0.votes.some((v) => equalBytes(v, bytes)),
      'received bytes, as they came',
    );
  assert.ok(votes.every((m) => m.kind === 'vote' && m.vote.round === 0 && m.vote.height === 1n));

  const rounds = driver.consensusState.votes.roundsSeen();
  assert.equal(driver.roundMessages(1n, 7), { proposal: null, votes: [] });
  assert.equal(driver.consensusState.votes.roundsSeen(), rounds, 'asking for a round creates nothing');
  assert.equal(driver.roundMessages(2n, 0), { proposal: null, votes: [] });
});

test('a catch-up with a valid commit decides; too little power is rejected; other heights ignored', () => {
  const { host, driver } = makeNode(four.chain, four.fx, US);
  driver.startHeight(start);
  const p = proposalFrom(four.chain, four.fx, PROPOSER);
  const weak = signedCommit(four.fx, OTHERS.slice(0, 2), 1n, 3, p.id);
  assertReject(
    driver.receive(encodeMessage({ kind: 'catch-up', block: p.block, commit: weak }), 'peer'),
    'COMMIT_INSUFFICIENT_POWER',
  );
  const wrong = signedCommit(four.fx, OTHERS, 1n, 3, idOf('other'));
  assertReject(
    driver.receive(encodeMessage({ kind: 'catch-up', block: p.block, commit: wrong }), 'peer'),
    'COMMIT_WRONG_BLOCK',
  );
  const later = signedCommit(four.fx, OTHERS, 2n, 0, p.id);
  assertIgnore(
    driver.receive(encodeMessage({ kind: 'catch-up', block: p.block, commit: later }), 'peer'),
    'catch-up for another height',
  );
  assert.equal(host.decisions, []);

  const commit = signedCommit(four.fx, OTHERS, 1n, 3, p.id);
  const catchUp = encodeMessage({ kind: 'catch-up', block: p.block, commit });
  assert.ok(accepted(driver.receive(catchUp, 'peer')));
  assert.is(host.decisions.length, 1);
  const decided = host.decisions[0]!;
  assert.ok(equalBytes(decided.block.id, p.id));
  assert.is(decided.commit.round, 3, 'the commit of the catch-up round');
  assert.equal(
    decided.commit.signatures.map((s) => s.flag),
    commit.signatures.map((s) => s.flag),
  );
  verifyCommit(CHAIN_ID, decided.commit, four.chain.validators.set, p.id);
  assert.equal(host.votes(), [], 'deciding by catch-up signs nothing');

  const again = signedCommit(four.fx, [0, 1, 2, 3], 1n, 3, p.id);
  assertIgnore(
    driver.receive(encodeMessage({ kind: 'catch-up', block: p.block, commit: again }), 'peer'),
    'already decided',
  );
});

test("another validator's driver accepts what the proposer's driver broadcast, and prevotes its block", () => {
  const proposer = makeNode(four.chain, four.fx, PROPOSER);
  proposer.driver.startHeight(start);
  const peer = makeNode(four.chain, four.fx, US);
  peer.driver.startHeight(start);
  assert.is(proposer.host.broadcasts.length, 2, 'proposal and prevote');
  for (const b of proposer.host.broadcasts) {
    assert.is(decodeMessage(b.bytes).kind, b.message.kind);
    assert.ok(accepted(peer.driver.receive(b.bytes, 'proposer')));
  }
  const [proposal] = proposer.host.proposals();
  const [vote] = peer.host.votes();
  assert.ok(proposal?.message.kind === 'proposal' && vote !== undefined);
  assert.ok(equalBytes(vote.blockId, proposal.message.proposal.blockId));
  assert.ok(proposal.message.block.header.time > GENESIS_TIME);
});

/**
 * Us at height 1 up to the decision: the proposal, the others' prevotes (we prevote and precommit
 * the block), then the precommits of `deciders` (two others with ours make +2/3).
 */
function decideWith(deciders: readonly number[]) {
  const node = makeNode(four.chain, four.fx, US);
  node.driver.startHeight(start);
  const p = proposalFrom(four.chain, four.fx, PROPOSER);
  node.driver.receive(p.bytes, 'peer');
  for (const v of OTHERS) node.driver.receive(voteBytes(prevote(four.fx, v, 1n, 0, p.id)), 'peer');
  for (const v of deciders) node.driver.receive(voteBytes(precommit(four.fx, v, 1n, 0, p.id)), 'peer');
  assert.is(node.host.decisions.length, 1, 'decided');
  return { ...node, p };
}

test('every precommit for the decided block arriving after the decision tells the host once', () => {
  const [late, ...deciders] = OTHERS;
  const { host, driver, p } = decideWith(deciders);
  assert.equal(host.allPrecommits, [], '3 of 4 decided: not everyone yet');
  assert.not.ok(driver.allPrecommitsIn);
  // A nil precommit from the missing validator, or its precommit of another round, is not it.
  driver.receive(voteBytes(precommit(four.fx, late!, 1n, 1, p.id)), 'peer');
  assert.equal(host.allPrecommits, []);
  driver.receive(voteBytes(precommit(four.fx, late!, 1n, 0, p.id)), 'peer');
  assert.equal(host.allPrecommits, [1n], 'the last precommit of the decision round');
  assert.ok(driver.allPrecommitsIn);
  driver.receive(voteBytes(precommit(four.fx, late!, 1n, 0, idOf('other'))), 'peer');
  assert.equal(host.allPrecommits, [1n], 'once per height');
  driver.startHeight(nextHeightStart(host.chain));
  assert.not.ok(driver.allPrecommitsIn, 'a new height starts without');
});

test('a validator that never precommits the decided block (stopped, or nil) keeps the host waiting', () => {
  const [late, ...deciders] = OTHERS;
  const { host, driver } = decideWith(deciders);
  driver.receive(voteBytes(precommit(four.fx, late!, 1n, 0, new Uint8Array(0))), 'peer');
  assert.equal(host.allPrecommits, []);
  assert.not.ok(driver.allPrecommitsIn);
});

test('all precommits already in when the decision comes: the host is told right after decide', () => {
  // A set of one: our own precommit decides the block and is all of the power.
  const solo = makeChain([10n], 'solo-all-precommits');
  const { host, driver } = makeNode(solo.chain, solo.fx, 0);
  let decidedFirst = false;
  host.allPrecommitsIn = (height) => {
    decidedFirst = host.decisions.length === 1;
    host.allPrecommits.push(height);
  };
  driver.startHeight(nextHeightStart(solo.chain));
  assert.equal(host.allPrecommits, [1n]);
  assert.ok(decidedFirst, 'after decide, in the same step');
  assert.ok(driver.allPrecommitsIn);
});

test.run();
