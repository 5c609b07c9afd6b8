/**
 * Vote sets: thresholds are counted by voting power (never by heads) with exact integer arithmetic;
 * a validator's repeated vote is a duplicate, a different one a conflict (evidence). As in the
 * paper, an equivocating validator counts towards each value it voted for (up to a bound), but
 * only once towards "+2/3 of any".
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HeightVoteSet, MAX_VOTES_PER_VALIDATOR, VoteSet } from '../../../consensus/core/vote-set.ts';
import { equalBytes } from '../../../packages/crypto/hash.ts';
import { NIL_BLOCK_ID, VoteType } from '../../../packages/types/vote.ts';
import { idOf, makeFixture, precommit, prevote } from './fixtures.ts';

const H = 1n;
const A = idOf('a');
const B = idOf('b');

// Powers 6, 2, 1, 1 (total 10): the set is sorted by power, so index 0 has 6 and index 1 has 2.
const unequal = makeFixture([6n, 2n, 1n, 1n], 'unequal');
const prevotes = () => new VoteSet(VoteType.prevote, 0, unequal.set);
const hexes = (ids: readonly Uint8Array[]) => ids.map((id) => Buffer.from(id).toString('hex'));

test('fixture: the unequal set is sorted by power, index 0 holds 6 of 10', () => {
  assert.equal(
    unequal.set.validators.map((v) => v.votingPower),
    [6n, 2n, 1n, 1n],
  );
  assert.is(unequal.set.totalVotingPower, 10n);
});

test('counts power, not heads: 6 of 10 is not +2/3, 6 + 1 is; 3 of 4 heads with 4 of 10 is not', () => {
  const set = prevotes();
  assert.is(set.add(prevote(unequal, 0, H, 0, A)).kind, 'added');
  assert.not.ok(set.hasTwoThirdsFor(A), 'one validator with 6 of 10');
  assert.is(set.add(prevote(unequal, 2, H, 0, A)).kind, 'added');
  assert.ok(set.hasTwoThirdsFor(A), '6 + 1 = 7 of 10, from 2 of 4 validators');

  const small = prevotes();
  for (const i of [1, 2, 3]) small.add(prevote(unequal, i, H, 0, A));
  assert.is(small.size, 3);
  assert.not.ok(small.hasTwoThirdsFor(A), '3 of 4 validators but only 4 of 10 power');
  assert.not.ok(small.hasTwoThirdsAny());
});

test('exactly two thirds of the power is not a +2/3 majority', () => {
  const equal = makeFixture([3n, 3n, 3n], 'equal');
  const set = new VoteSet(VoteType.precommit, 0, equal.set);
  set.add(precommit(equal, 0, H, 0, A));
  set.add(precommit(equal, 1, H, 0, A));
  assert.not.ok(set.hasTwoThirdsFor(A), '6 of 9');
  assert.not.ok(set.hasTwoThirdsAny());
  assert.equal(set.twoThirdsMajorities(), []);
  set.add(precommit(equal, 2, H, 0, A));
  assert.ok(set.hasTwoThirdsFor(A), '9 of 9');
});

test('a duplicate vote is reported and not counted twice', () => {
  const set = prevotes();
  const vote = prevote(unequal, 0, H, 0, A);
  assert.is(set.add(vote).kind, 'added');
  assert.is(set.add(vote).kind, 'duplicate');
  // Counted twice, 6 would become 12 of 10.
  assert.not.ok(set.hasTwoThirdsFor(A));
  assert.not.ok(set.hasTwoThirdsAny());
  assert.is(set.size, 1);
  assert.is(set.allVotes().length, 1);
});

test('a conflicting vote returns the first vote; it counts for its own value, once for "any"', () => {
  const set = prevotes();
  const first = prevote(unequal, 0, H, 0, A);
  set.add(prevote(unequal, 2, H, 0, B));
  set.add(first);
  const result = set.add(prevote(unequal, 0, H, 0, B));
  assert.is(result.kind, 'conflict');
  if (result.kind !== 'conflict') return;
  assert.is(result.existing, first);
  // The equivocator's 6 counts for A and for B: B has 1 + 6 = 7 of 10.
  assert.ok(set.hasTwoThirdsFor(A) === false && set.hasTwoThirdsFor(B));
  assert.is(set.size, 2, 'two validators voted');
  assert.is(set.allVotes().length, 3, 'both of its votes are kept');
  // A third value from the same validator conflicts with the first vote again.
  const third = set.add(prevote(unequal, 0, H, 0, NIL_BLOCK_ID));
  assert.ok(third.kind === 'conflict' && third.existing === first);
});

test('an equivocator counts once towards +2/3 of any', () => {
  const set = prevotes();
  set.add(prevote(unequal, 1, H, 0, A));
  set.add(prevote(unequal, 1, H, 0, B));
  set.add(prevote(unequal, 1, H, 0, NIL_BLOCK_ID));
  set.add(prevote(unequal, 2, H, 0, A));
  // Counted per vote this would be 2 + 2 + 2 + 1 = 7 of 10; per validator it is 3.
  assert.not.ok(set.hasTwoThirdsAny());
});

test('the number of different votes kept per validator is bounded', () => {
  const set = prevotes();
  for (let i = 0; i < MAX_VOTES_PER_VALIDATOR + 2; i++) {
    const vote = prevote(unequal, 3, H, 0, idOf(`spam-${i}`));
    assert.is(set.isFullFor(vote), i >= MAX_VOTES_PER_VALIDATOR, `isFullFor ${i}`);
    const kind = set.add(vote).kind;
    // Past the bound: dropped, and no evidence (the first conflicts prove the equivocation).
    assert.is(kind, i === 0 ? 'added' : i < MAX_VOTES_PER_VALIDATOR ? 'conflict' : 'dropped');
  }
  assert.is(set.allVotes().length, MAX_VOTES_PER_VALIDATOR);
  assert.not.ok(set.isFullFor(prevote(unequal, 3, H, 0, idOf('spam-1'))), 'a kept one is not "full"');
  // A vote beyond the bound is not counted for its value.
  set.add(prevote(unequal, 0, H, 0, idOf(`spam-${MAX_VOTES_PER_VALIDATOR}`)));
  set.add(prevote(unequal, 0, H, 0, idOf(`spam-0`)));
  assert.not.ok(set.hasTwoThirdsFor(idOf(`spam-${MAX_VOTES_PER_VALIDATOR}`)), '6 without the extra 1');
  assert.ok(set.hasTwoThirdsFor(idOf('spam-0')), '1 + 6 within the bound');
});

test('hasTwoThirdsAny counts every validator; hasTwoThirdsFor only one block id', () => {
  const set = prevotes();
  set.add(prevote(unequal, 0, H, 0, A));
  set.add(prevote(unequal, 2, H, 0, B));
  assert.ok(set.hasTwoThirdsAny(), '6 + 1 = 7 of 10 voted');
  assert.not.ok(set.hasTwoThirdsFor(A));
  assert.not.ok(set.hasTwoThirdsFor(B));
  assert.not.ok(set.hasTwoThirdsFor(NIL_BLOCK_ID));
  assert.equal(set.twoThirdsMajorities(), []);
});

test('nil votes (empty block id) are counted as their own block id', () => {
  const set = prevotes();
  set.add(prevote(unequal, 0, H, 0, NIL_BLOCK_ID));
  set.add(prevote(unequal, 1, H, 0, A));
  assert.not.ok(set.hasTwoThirdsFor(NIL_BLOCK_ID), '6 of 10 for nil');
  set.add(prevote(unequal, 3, H, 0, NIL_BLOCK_ID));
  assert.ok(set.hasTwoThirdsFor(NIL_BLOCK_ID), '7 of 10 for nil');
  assert.not.ok(set.hasTwoThirdsFor(A));
  assert.equal(hexes(set.twoThirdsMajorities()), [''], 'a nil majority is not "no majority"');
});

test('twoThirdsMajorities names the block id once it has +2/3', () => {
  const set = prevotes();
  set.add(prevote(unequal, 1, H, 0, A));
  set.add(prevote(unequal, 2, H, 0, A));
  assert.equal(set.twoThirdsMajorities(), []);
  set.add(prevote(unequal, 0, H, 0, A));
  const majorities = set.twoThirdsMajorities();
  assert.is(majorities.length, 1);
  assert.ok(equalBytes(majorities[0]!, A));
});

test('votesFor(id) is indexed by validator: the vote for that id, undefined elsewhere', () => {
  const set = prevotes();
  const a2 = prevote(unequal, 2, H, 0, A);
  const b0 = prevote(unequal, 0, H, 0, B);
  set.add(a2);
  set.add(b0);
  set.add(prevote(unequal, 0, H, 0, A));
  const votes = set.votesFor(A);
  assert.is(votes.length, 4);
  assert.is(votes[2], a2);
  assert.ok(votes[0] !== undefined && equalBytes(votes[0].blockId, A), "the equivocator's vote for A");
  assert.is(votes[1], undefined);
  assert.is(set.votesFor(B)[0], b0);
});

test('HeightVoteSet keeps rounds and types apart: a precommit or another round is no conflict', () => {
  const height = new HeightVoteSet(H, unequal.set);
  assert.is(height.add(prevote(unequal, 0, H, 2, A)).kind, 'added');
  assert.is(height.add(precommit(unequal, 0, H, 2, B)).kind, 'added');
  assert.is(height.add(prevote(unequal, 0, H, 0, B)).kind, 'added');
  assert.is(height.add(prevote(unequal, 0, H, 2, B)).kind, 'conflict');
  assert.equal(height.roundsSeen(), [0, 2]);
  assert.is(height.prevotes(2).size, 1);
  assert.is(height.precommits(2).size, 1);
  assert.is(height.get(0, VoteType.prevote), height.prevotes(0));
});

test.run();
