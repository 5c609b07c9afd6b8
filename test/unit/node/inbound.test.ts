/**
 * node/inbound.ts alone: consensus is closed (messages ignored, round requests answered with
 * nothing) until `open`, and again once the node stops; a tx batch is accepted for relay only if
 * it brought a new tx and asked for relay, rejected if a tx is invalid (a full mempool is not the
 * sender's fault); an evidence list adds the evidence it proves (checked against its height's
 * validator set), skips what the pool knows and what this node cannot check yet, and is rejected
 * whole for one forged proof or for bad bytes; sync requests reach the handler with our height.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EvidencePool } from '../../../consensus/evidence-pool.ts';
import { encodeEvidenceList } from '../../../consensus/messages.ts';
import { ChainHead } from '../../../node/commit-pipeline.ts';
import { Inbound, type InboundModules, type OpenConsensus } from '../../../node/inbound.ts';
import type { AddResult } from '../../../node/mempool.ts';
import { encodeSyncRequest } from '../../../node/sync/protocol.ts';
import { encodeTxBatch } from '../../../node/tx-gossip.ts';
import { createMessageValidator } from '../../../p2p/gossip.ts';
import type { Verdict } from '../../../p2p/host.ts';
import { decode } from '../../../packages/codec/canonical.ts';
import { CareLedgerError, invalid } from '../../../packages/core/errors.ts';
import { equalBytes, sha256, toHex } from '../../../packages/crypto/hash.ts';
import {
  type DuplicateVoteEvidence,
  evidenceHash,
  makeDuplicateVoteEvidence,
} from '../../../packages/types/commit.ts';
import { idOf, makeChain, precommit } from '../consensus/fixtures.ts';
import { recordingLogger } from './fixtures.ts';

const utf8 = new TextEncoder();
const { chain, fx } = makeChain([1n, 1n, 1n, 1n], 'inbound');

/** A mempool that answers each tx by its text: 'new', 'dup', 'bad' or 'full'. */
function mempoolAdd(tx: Uint8Array): AddResult {
  const text = new TextDecoder().decode(tx);
  const hash = sha256(tx);
  if (text === 'new') return { ok: true, hash, duplicate: false };
  if (text === 'dup') return { ok: true, hash, duplicate: true };
  if (text === 'full') return { ok: false, error: new CareLedgerError('MEMPOOL_FULL', 'full', 'reject') };
  return { ok: false, error: invalid('TX_BAD_SIGNATURE', 'bad') };
}

function inbound(
  stopped = () => false,
  evidence = new EvidencePool(10),
  committed: Uint8Array[] = [],
): Inbound {
  const modules: InboundModules = {
    head: new ChainHead({ ...chain, lastHeight: 9n }),
    blocks: {
      storedBytes: async () => null,
      // Heights 1 to 9 are committed, all with the fixture's set.
      validatorsAt: (h) => (h >= 1n && h <= 9n ? fx.set : undefined),
      isEvidenceCommitted: (hash) => committed.some((c) => equalBytes(c, hash)),
    },
    mempool: { add: mempoolAdd },
    evidence,
    txs: { local: () => undefined },
    isStopped: stopped,
    log: recordingLogger(),
  };
  return new Inbound(modules);
}

const consensus = (verdict: Verdict, received: string[] = []): OpenConsensus => ({
  receive: (bytes, from) => {
    received.push(`${new TextDecoder().decode(bytes)} from ${from}`);
    return verdict;
  },
  roundMessages: () => [utf8.encode('vote')],
});

test('consensus messages are ignored until consensus is open, then handed to it', async () => {
  const received: string[] = [];
  const node = inbound();
  assert.is(await node.validate('consensus', utf8.encode('vote'), 'peer-a'), 'ignore');
  node.open(consensus('reject', received));
  assert.is(await node.validate('consensus', utf8.encode('vote'), 'peer-a'), 'reject');
  assert.equal(received, ['vote from peer-a']);
});

test('a stopped node ignores consensus messages', async () => {
  let stopped = false;
  const node = inbound(() => stopped);
  node.open(consensus('accept'));
  assert.is(await node.validate('consensus', utf8.encode('vote'), 'p'), 'accept');
  stopped = true;
  assert.is(await node.validate('consensus', utf8.encode('vote'), 'p'), 'ignore');
});

test('a tx batch: accepted only with a new tx and relay asked; rejected for an invalid tx, not for a full pool', async () => {
  const node = inbound();
  const batch = (texts: string[], relay = true) =>
    encodeTxBatch(
      texts.map((t) => utf8.encode(t)),
      relay,
    );
  assert.is(await node.validate('tx', batch(['dup', 'new']), 'p'), 'accept');
  assert.is(await node.validate('tx', batch(['dup', 'new'], false), 'p'), 'ignore', 'no relay asked');
  assert.is(await node.validate('tx', batch(['dup']), 'p'), 'ignore', 'nothing new');
  assert.is(await node.validate('tx', batch(['full', 'dup']), 'p'), 'ignore');
  assert.is(await node.validate('tx', batch(['new', 'bad']), 'p'), 'reject');
});

/** Validator `validator` precommitted two blocks at `height`, round `round`. */
const equivocation = (validator: number, height = 5n, round = 0) =>
  makeDuplicateVoteEvidence(
    precommit(fx, validator, height, round, idOf(`a-${validator}-${round}`)),
    precommit(fx, validator, height, round, idOf(`b-${validator}-${round}`)),
  );

/** The same pair with vote B's signature swapped for vote A's: a forged proof. */
function forged(e: DuplicateVoteEvidence): DuplicateVoteEvidence {
  return { voteA: e.voteA, voteB: { ...e.voteB, signature: e.voteA.signature } };
}

/**
 * The verdict gossip gives an evidence list: through p2p's own validation path, where a thrown
 * CareLedgerError counts as its action (a reject lowers the sender's score).
 */
function evidenceVerdict(node: Inbound, bytes: Uint8Array): Promise<Verdict> {
  const validator = createMessageValidator({
    maxMessageBytes: 1 << 20,
    maxPendingValidations: 4,
    handlers: node,
    metrics: null,
    reportError: (err) => {
      throw err;
    },
  });
  return validator.validate('evidence', bytes, 'p');
}

const hashes = (list: readonly DuplicateVoteEvidence[]) => list.map((e) => toHex(evidenceHash(e)));

test('an evidence list: verified evidence enters the pool, is due to peers, and the list is not relayed', async () => {
  const pool = new EvidencePool(10);
  const node = inbound(() => false, pool);
  const [a, b] = [equivocation(1), equivocation(2, 9n, 3)];
  assert.is(await evidenceVerdict(node, encodeEvidenceList([a, b])), 'ignore');
  assert.is(pool.size, 2);
  assert.equal(hashes(pool.due(Date.now())), hashes([a, b]), 'both go on to every peer');
  // A copy, or another proof of a known offence, is not checked again (nor pooled twice): even a
  // false one costs no signature check and counts against no one.
  const other = makeDuplicateVoteEvidence(a.voteA, precommit(fx, 1, 5n, 0, idOf('c-1-0')));
  assert.is(await evidenceVerdict(node, encodeEvidenceList([a, other, forged(other)])), 'ignore');
  assert.is(pool.size, 2);
});

test('an evidence list with one forged proof is rejected whole: nothing of it enters the pool', async () => {
  const pool = new EvidencePool(10);
  const node = inbound(() => false, pool);
  const good = equivocation(1);
  const bad = forged(equivocation(3));
  for (const list of [[bad], [good, bad], [bad, good]])
    assert.is(await evidenceVerdict(node, encodeEvidenceList(list)), 'reject');
  // Another validator's address on the votes: the proof names no member of that height's set.
  const wrongIndex = equivocation(2);
  const misattributed = {
    voteA: { ...wrongIndex.voteA, validatorIndex: 0 },
    voteB: { ...wrongIndex.voteB, validatorIndex: 0 },
  };
  assert.is(await evidenceVerdict(node, encodeEvidenceList([misattributed])), 'reject');
  assert.is(pool.size, 0);
  assert.is(await evidenceVerdict(node, utf8.encode('not an evidence list')), 'reject');
  assert.is(await evidenceVerdict(node, encodeEvidenceList([good])), 'ignore');
  assert.is(pool.size, 1, 'the same evidence alone is taken');
});

test('evidence this node cannot check yet, or holds committed, is skipped, not held against the sender', async () => {
  const pool = new EvidencePool(10);
  const done = equivocation(3);
  const node = inbound(() => false, pool, [evidenceHash(done)]);
  // Height 10 is being decided here: a peer that committed it sends it honestly.
  const ahead = equivocation(1, 10n);
  assert.is(await evidenceVerdict(node, encodeEvidenceList([ahead, done])), 'ignore');
  assert.is(pool.size, 0);
});

test('a stopped node ignores evidence lists', async () => {
  const pool = new EvidencePool(10);
  const node = inbound(() => true, pool);
  assert.is(await evidenceVerdict(node, encodeEvidenceList([equivocation(1)])), 'ignore');
  assert.is(pool.size, 0);
});

test('sync requests: our height; a round only once consensus is open', async () => {
  const node = inbound();
  assert.equal(decode(await node.onRequest('blocks', encodeSyncRequest({ kind: 'status' }))), [9n]);
  const round = encodeSyncRequest({ kind: 'round', height: 10n, round: 1 });
  assert.equal(decode(await node.onRequest('blocks', round)), []);
  node.open(consensus('accept'));
  const answer = decode(await node.onRequest('blocks', round)) as Uint8Array[];
  assert.equal(
    answer.map((b) => new TextDecoder().decode(b)),
    ['vote'],
  );
});

test.run();
