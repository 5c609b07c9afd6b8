/**
 * The evidence pool (consensus/evidence-pool.ts) and the evidence list on the wire: one proof per
 * offence, oldest offences first into blocks, re-gossip until committed, and a strict decode.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EVIDENCE_REGOSSIP_MS, EvidencePool, offenceKey } from '../../../consensus/evidence-pool.ts';
import {
  decodeEvidenceList,
  decodeMessage,
  encodeEvidenceList,
  encodeMessage,
  isEvidenceList,
} from '../../../consensus/messages.ts';
import { toHex } from '../../../packages/crypto/hash.ts';
import { defaultBlockLimits } from '../../../packages/types/block.ts';
import type { ChainState } from '../../../packages/types/chain-state.ts';
import {
  type DuplicateVoteEvidence,
  evidenceHash,
  makeDuplicateVoteEvidence,
} from '../../../packages/types/commit.ts';
import { NIL_BLOCK_ID } from '../../../packages/types/vote.ts';
import { throwsCode } from '../packages/fixtures.ts';
import { idOf, makeChain, precommit, prevote } from './fixtures.ts';

const { chain: genesis, fx } = makeChain([1n, 1n, 1n, 1n], 'evidence-pool');
const at = (lastHeight: bigint): ChainState => ({ ...genesis, lastHeight });
const never = () => false;

/** Validator `index` prevoted for two values at `height`/`round`. */
function equivocation(index: number, height: bigint, round = 0, a = 'a', b = 'b'): DuplicateVoteEvidence {
  const second = b === 'nil' ? NIL_BLOCK_ID : idOf(b);
  return makeDuplicateVoteEvidence(
    prevote(fx, index, height, round, idOf(a)),
    prevote(fx, index, height, round, second),
  );
}

test('one proof per offence: another pair of the same validator, height, round and type is not kept', () => {
  const pool = new EvidencePool(100);
  assert.ok(pool.add(equivocation(0, 3n), 0));
  assert.not.ok(pool.add(equivocation(0, 3n, 0, 'a', 'nil'), 0));
  assert.not.ok(pool.add(equivocation(0, 3n), 0));
  const precommits = makeDuplicateVoteEvidence(
    precommit(fx, 0, 3n, 0, idOf('a')),
    precommit(fx, 0, 3n, 0, idOf('b')),
  );
  assert.ok(pool.add(precommits, 0), 'a precommit equivocation is another offence');
  assert.ok(pool.add(equivocation(0, 3n, 1), 0), 'another round is another offence');
  assert.ok(pool.add(equivocation(1, 3n), 0), 'another validator is another offence');
  assert.is(pool.size, 4);
  assert.is.not(offenceKey(equivocation(0, 3n)), offenceKey(precommits));
});

test('a block takes the oldest heights first, at most max, none above the last committed height', () => {
  const pool = new EvidencePool(100);
  pool.add(equivocation(0, 7n), 0);
  pool.add(equivocation(1, 9n), 0);
  pool.add(equivocation(2, 2n), 0);
  pool.add(equivocation(3, 5n), 0);
  const heights = (list: DuplicateVoteEvidence[]) => list.map((e) => e.voteA.height);
  assert.equal(heights(pool.forBlock(at(8n), never, 3)), [2n, 5n, 7n]);
  assert.equal(heights(pool.forBlock(at(8n), never, 100)), [2n, 5n, 7n], 'height 9 is not committed yet');
  assert.equal(heights(pool.forBlock(at(9n), never, 100)), [2n, 5n, 7n, 9n]);
  assert.is(pool.size, 4, 'taking evidence into a proposal does not remove it: the block may fail');
});

test('expired evidence and evidence some block already carries leave the pool', () => {
  const pool = new EvidencePool(100);
  const old = equivocation(0, 2n);
  const carried = equivocation(1, 4n);
  pool.add(old, 0);
  pool.add(carried, 0);
  pool.add(equivocation(2, 6n), 0);
  const chain = { ...at(10n), evidenceMaxAge: 5n };
  const carriedHash = toHex(evidenceHash(carried));
  const taken = pool.forBlock(chain, (hash) => toHex(hash) === carriedHash, 100);
  assert.equal(
    taken.map((e) => e.voteA.height),
    [6n],
  );
  assert.is(pool.size, 1);
  assert.ok(pool.add(old, 0), 'dropped as stale, not remembered as committed');
});

test('a committed offence leaves the pool, and another proof of it is not taken again', () => {
  const pool = new EvidencePool(100);
  pool.add(equivocation(0, 3n), 0);
  pool.add(equivocation(1, 3n), 0);
  pool.committed([equivocation(0, 3n, 0, 'a', 'nil')], at(4n));
  assert.is(pool.size, 1);
  assert.ok(pool.knows(equivocation(0, 3n)));
  assert.not.ok(pool.add(equivocation(0, 3n), 0));
  assert.equal(
    pool.forBlock(at(5n), never, 100).map((e) => e.voteA.validatorIndex),
    [1],
  );
});

test('pending evidence is gossiped at once, then again with growing delays until it is committed', () => {
  const pool = new EvidencePool(100);
  pool.add(equivocation(0, 3n), 1000);
  const sendTimes: number[] = [];
  for (let now = 0; now <= 20_000; now += 250) if (pool.due(now).length > 0) sendTimes.push(now);
  const last = EVIDENCE_REGOSSIP_MS.at(-1)!;
  const expected = [1000];
  for (const delay of [...EVIDENCE_REGOSSIP_MS, last, last, last]) expected.push(expected.at(-1)! + delay);
  assert.equal(
    sendTimes,
    expected.filter((t) => t <= 20_000),
  );
  pool.committed([equivocation(0, 3n)], at(4n));
  assert.equal(pool.due(1_000_000), []);
});

test('a commit drops evidence past the maximum age, which no block may carry any more', () => {
  const pool = new EvidencePool(100);
  pool.add(equivocation(0, 2n), 0);
  pool.add(equivocation(1, 5n), 0);
  pool.committed([], { ...at(7n), evidenceMaxAge: 5n });
  assert.is(pool.size, 2, 'a block on height 7 may still carry height 2 (5 behind)');
  pool.committed([], { ...at(8n), evidenceMaxAge: 5n });
  assert.equal(
    pool.due(0).map((e) => e.voteA.height),
    [5n],
  );
});

test('the pool is bounded: past maxPending new evidence is refused', () => {
  const pool = new EvidencePool(2);
  assert.ok(pool.add(equivocation(0, 3n), 0));
  assert.ok(pool.add(equivocation(1, 3n), 0));
  assert.not.ok(pool.add(equivocation(2, 3n), 0));
  assert.is(pool.size, 2);
});

test('an evidence list round-trips and is told apart from consensus messages', () => {
  const list = [equivocation(0, 3n), equivocation(1, 4n, 2, 'x', 'nil')];
  const bytes = encodeEvidenceList(list);
  assert.ok(isEvidenceList(bytes));
  const decoded = decodeEvidenceList(bytes);
  assert.equal(
    decoded.map((e) => toHex(evidenceHash(e))),
    list.map((e) => toHex(evidenceHash(e))),
  );
  assert.is(decoded[1]!.voteB.round, 2);
  assert.not.ok(isEvidenceList(encodeMessage({ kind: 'vote', vote: prevote(fx, 0, 3n, 0, idOf('a')) })));
  assert.not.ok(isEvidenceList(encodeMessage({ kind: 'status', height: 3n, round: 0 })));
  throwsCode(() => decodeMessage(bytes), 'MESSAGE_INVALID');
});

test('an evidence list longer than max_evidence is refused', () => {
  const e = equivocation(0, 3n);
  const bytes = encodeEvidenceList(Array.from({ length: 3 }, () => e));
  assert.is(decodeEvidenceList(bytes, { ...defaultBlockLimits, maxEvidence: 3 }).length, 3);
  throwsCode(() => decodeEvidenceList(bytes, { ...defaultBlockLimits, maxEvidence: 2 }), 'CODEC_SCHEMA');
});

test.run();
