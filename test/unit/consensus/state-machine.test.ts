/**
 * The pure Tendermint core (Algorithm 1 of "The latest gossip on BFT consensus"), driven directly
 * with hand-signed votes and proposals. Test names cite the paper's line numbers.
 *
 * Unless a test says otherwise: 4 validators of power 1 (+2/3 is 3 votes, +1/3 is 2), we are
 * validator 3, validator 0 proposes round 0; our own votes are not fed back (the driver does that).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type ConsensusOptions,
  type ConsensusState,
  defaultTimeouts,
  type Effect,
  type Input,
  initialState,
  proposerOf,
  startHeight,
  step,
  type TimeoutStep,
  type Value,
} from '../../../consensus/core/state-machine.ts';
import { equalBytes } from '../../../packages/crypto/hash.ts';
import type { HeightStart } from '../../../packages/types/validator-set.ts';
import { NIL_BLOCK_ID, type Vote, VoteType } from '../../../packages/types/vote.ts';
import { type Fixture, idOf, makeFixture, precommit, prevote, signedProposal } from './fixtures.ts';

const H = 5n;
const fx = makeFixture([1n, 1n, 1n, 1n], 'sm');
const OWN = 3;
const safe: ConsensusOptions = { timeouts: defaultTimeouts };

const v: Value = { id: idOf('v') };
const w: Value = { id: idOf('w') };

function heightStart(f: Fixture, proposer: number): HeightStart {
  return { height: H, validators: f.set, proposer };
}

/** A state at height H, round 0 started; returns it with the effects of starting. */
function begin(ownIndex = OWN, proposer = 0, options = safe, f = fx) {
  const start = heightStart(f, proposer);
  const state = initialState<Value>(start, ownIndex, options);
  const { effects } = startHeight(state, start, ownIndex);
  return { state, effects };
}

function feed(state: ConsensusState<Value>, ...inputs: Input<Value>[]): Effect<Value>[] {
  const effects: Effect<Value>[] = [];
  for (const input of inputs) effects.push(...step(state, input).effects);
  return effects;
}

const voteIn = (vote: Vote): Input<Value> => ({ type: 'vote', vote });
const timeout = (round: number, s: TimeoutStep, height = H): Input<Value> => ({
  type: 'timeout',
  height,
  round,
  step: s,
});

/** A proposal signed by the round's proposer. */
function proposalIn(
  state: ConsensusState<Value>,
  round: number,
  value: Value,
  polRound: number,
  valid: boolean,
  f = fx,
): Extract<Input<Value>, { type: 'proposal' }> {
  const proposer = proposerOf(state, round);
  return {
    type: 'proposal',
    proposal: signedProposal(f, proposer, H, round, polRound, value.id),
    value,
    valid,
  };
}

const prevotesFrom = (indices: number[], round: number, id: Uint8Array) =>
  indices.map((i) => voteIn(prevote(fx, i, H, round, id)));
const precommitsFrom = (indices: number[], round: number, id: Uint8Array) =>
  indices.map((i) => voteIn(precommit(fx, i, H, round, id)));

/** Timeouts propose, prevote, precommit of the current round: ends in the next round. */
function nextRoundByTimeouts(state: ConsensusState<Value>): Effect<Value>[] {
  const r = state.round;
  return feed(state, timeout(r, 'propose'), timeout(r, 'prevote'), timeout(r, 'precommit'));
}

type VoteEffect = Extract<Effect<Value>, { type: 'broadcast-vote' }>;
const votesOf = (effects: readonly Effect<Value>[]) =>
  effects.filter((e): e is VoteEffect => e.type === 'broadcast-vote');
const timeoutsOf = (effects: readonly Effect<Value>[], s?: TimeoutStep) =>
  effects.filter(
    (e): e is Extract<Effect<Value>, { type: 'schedule-timeout' }> =>
      e.type === 'schedule-timeout' && (s === undefined || e.step === s),
  );
const decisionsOf = (effects: readonly Effect<Value>[]) =>
  effects.filter((e): e is Extract<Effect<Value>, { type: 'decide' }> => e.type === 'decide');

/** Asserts exactly one vote effect of that type, round and block id. */
function assertOneVote(effects: readonly Effect<Value>[], type: VoteType, round: number, id: Uint8Array) {
  const votes = votesOf(effects);
  assert.is(votes.length, 1, `one vote effect, got ${votes.length}`);
  const vote = votes[0]!;
  assert.is(vote.voteType, type, 'vote type');
  assert.is(vote.height, H);
  assert.is(vote.round, round, 'vote round');
  assert.ok(equalBytes(vote.blockId, id), `vote for ${id.length === 0 ? 'nil' : 'the block'}`);
}

// Lines 11-21: StartRound

test('lines 11-19: the proposer of round 0 gets a value, then proposes it with polRound -1', () => {
  const { state, effects } = begin(0, 0);
  assert.equal(effects, [
    { type: 'schedule-timeout', height: H, round: 0, step: 'propose', delayMs: 3000 },
    { type: 'get-value', height: H, round: 0 },
  ]);
  // An answer for another round is not ours to propose.
  assert.equal(feed(state, { type: 'value-to-propose', height: H, round: 1, value: w }), []);
  const proposed = feed(state, { type: 'value-to-propose', height: H, round: 0, value: v });
  assert.equal(proposed, [{ type: 'broadcast-proposal', height: H, round: 0, polRound: -1, value: v }]);
  // Asked once, proposed once.
  assert.equal(feed(state, { type: 'value-to-propose', height: H, round: 0, value: w }), []);
});

test('line 21: a non-proposer only schedules timeout propose', () => {
  const { state, effects } = begin(OWN, 0);
  assert.equal(effects, [{ type: 'schedule-timeout', height: H, round: 0, step: 'propose', delayMs: 3000 }]);
  assert.is(state.step, 'propose');
  assert.is(state.round, 0);
});

test('line 15: a proposer holding a valid value re-proposes it with the round of its polka', () => {
  const { state } = begin(0, 1);
  assert.is(proposerOf(state, 1), 0, 'precondition: we propose round 1');
  feed(state, proposalIn(state, 0, v, -1, true), ...prevotesFrom([1, 2, 3], 0, v.id));
  assert.is(state.validRound, 0);
  const effects = feed(state, timeout(0, 'precommit'));
  assert.equal(effects, [
    { type: 'schedule-timeout', height: H, round: 1, step: 'propose', delayMs: 3500 },
    { type: 'broadcast-proposal', height: H, round: 1, polRound: 0, value: v },
  ]);
});

// Lines 22-33: prevote on a proposal

test('line 22-24: prevote for a valid proposal with polRound -1', () => {
  const { state } = begin();
  const effects = feed(state, proposalIn(state, 0, v, -1, true));
  assertOneVote(effects, VoteType.prevote, 0, v.id);
  assert.is(state.step, 'prevote');
});

test('line 26: prevote nil for an invalid proposal', () => {
  const { state } = begin();
  const effects = feed(state, proposalIn(state, 0, v, -1, false));
  assertOneVote(effects, VoteType.prevote, 0, NIL_BLOCK_ID);
  assert.is(state.step, 'prevote');
});

test('line 22: an untimely new proposal gets a nil prevote, yet +2/3 precommits still decide it', () => {
  const { state } = begin();
  const effects = feed(state, { ...proposalIn(state, 0, v, -1, true), timely: false });
  assertOneVote(effects, VoteType.prevote, 0, NIL_BLOCK_ID);
  // The others found it timely and committed it: a node whose clock is off decides it too.
  const [decision] = decisionsOf(feed(state, ...precommitsFrom([0, 1, 2], 0, v.id)));
  assert.is(decision?.value, v);
});

test('line 28: an untimely re-proposal with a polka is prevoted (its time was judged in its first round)', () => {
  const { state } = begin();
  feed(state, ...prevotesFrom([0, 1, 2], 0, v.id));
  nextRoundByTimeouts(state);
  const effects = feed(state, { ...proposalIn(state, 1, v, 0, true), timely: false });
  assertOneVote(effects, VoteType.prevote, 1, v.id);
});

test('a proposal whose block id is not its value id is ignored', () => {
  const { state } = begin();
  const input = proposalIn(state, 0, v, -1, true);
  assert.equal(feed(state, { ...input, value: w } as Input<Value>), []);
  assert.is(state.step, 'propose');
});

test('line 28: a re-proposal with polRound 0 is prevoted only once round 0 has a polka for it', () => {
  const { state } = begin();
  nextRoundByTimeouts(state);
  assert.is(state.round, 1);
  assert.equal(votesOf(feed(state, proposalIn(state, 1, v, 0, true))), [], 'no polka yet: wait');
  assert.is(state.step, 'propose');
  // A polka in round 0 for another value does not justify v.
  assert.equal(votesOf(feed(state, ...prevotesFrom([0, 1], 0, v.id), ...prevotesFrom([2], 0, w.id))), []);
  assert.is(state.step, 'propose');
  const effects = feed(state, ...prevotesFrom([3], 0, v.id));
  assertOneVote(effects, VoteType.prevote, 1, v.id);
  assert.is(state.step, 'prevote');
});

test('line 28-32: a re-proposal of an invalid value with a polka gets a nil prevote', () => {
  const { state } = begin();
  nextRoundByTimeouts(state);
  feed(state, ...prevotesFrom([0, 1, 2], 0, v.id));
  const effects = feed(state, proposalIn(state, 1, v, 0, false));
  assertOneVote(effects, VoteType.prevote, 1, NIL_BLOCK_ID);
});

/** Round 0: proposal v, a polka for v: we lock on v and precommit it; then round 1 starts. */
function lockedOnV(options = safe) {
  const { state } = begin(OWN, 0, options);
  const round0 = feed(state, proposalIn(state, 0, v, -1, true), ...prevotesFrom([0, 1, 2], 0, v.id));
  assert.is(state.lockedValue, v);
  assert.is(state.lockedRound, 0);
  assert.is(state.validValue, v);
  assert.is(state.validRound, 0);
  assertOneVote(
    round0.filter((e) => e.type === 'broadcast-vote' && e.voteType === VoteType.precommit),
    VoteType.precommit,
    0,
    v.id,
  );
  feed(state, timeout(0, 'precommit'));
  assert.is(state.round, 1);
  assert.ok(proposerOf(state, 1) !== OWN, 'precondition: we do not propose round 1');
  return state;
}

test('lines 36-43 and 22: locked on v in round 0, a new proposal of w in round 1 gets a nil prevote', () => {
  const state = lockedOnV();
  const effects = feed(state, proposalIn(state, 1, w, -1, true));
  assertOneVote(effects, VoteType.prevote, 1, NIL_BLOCK_ID);
  assert.is(state.lockedValue, v, 'still locked on v');
});

test('line 22: locked on v, a round-1 proposal of v itself is prevoted', () => {
  const state = lockedOnV();
  assertOneVote(feed(state, proposalIn(state, 1, v, -1, true)), VoteType.prevote, 1, v.id);
});

test('unsafeIgnoreLock (test hook): locked on v, it prevotes the new value w', () => {
  const state = lockedOnV({ timeouts: defaultTimeouts, unsafeIgnoreLock: true });
  assertOneVote(feed(state, proposalIn(state, 1, w, -1, true)), VoteType.prevote, 1, w.id);
});

// Lines 34, 47, 57-67: timeouts

test('lines 34, 47: timeouts prevote and precommit are scheduled once per round, longer each round', () => {
  const { state, effects: started } = begin();
  const all: Effect<Value>[] = [...started];
  const expected = [
    { propose: 3000, prevote: 1000, precommit: 1000 },
    { propose: 3500, prevote: 1500, precommit: 1500 },
    { propose: 4000, prevote: 2000, precommit: 2000 },
  ];
  for (let r = 0; r < expected.length; r++) {
    assert.is(state.round, r);
    all.push(...feed(state, timeout(r, 'propose')));
    // Three prevotes for three different things: +2/3 of any, no polka.
    const prevoteEffects = feed(
      state,
      voteIn(prevote(fx, 0, H, r, v.id)),
      voteIn(prevote(fx, 1, H, r, w.id)),
      voteIn(prevote(fx, 2, H, r, NIL_BLOCK_ID)),
    );
    assert.equal(timeoutsOf(prevoteEffects, 'prevote').length, 1, `line 34 fires in round ${r}`);
    assert.equal(votesOf(prevoteEffects), [], 'no polka, no precommit');
    assert.equal(timeoutsOf(feed(state, voteIn(prevote(fx, 3, H, r, NIL_BLOCK_ID))), 'prevote'), []);
    all.push(...prevoteEffects, ...feed(state, timeout(r, 'prevote')));
    const precommitEffects = feed(
      state,
      voteIn(precommit(fx, 0, H, r, v.id)),
      voteIn(precommit(fx, 1, H, r, w.id)),
      voteIn(precommit(fx, 2, H, r, NIL_BLOCK_ID)),
    );
    assert.equal(timeoutsOf(precommitEffects, 'precommit').length, 1, `line 47 fires in round ${r}`);
    assert.equal(timeoutsOf(feed(state, voteIn(precommit(fx, 3, H, r, NIL_BLOCK_ID))), 'precommit'), []);
    all.push(...precommitEffects, ...feed(state, timeout(r, 'precommit')));
  }
  for (const [r, delays] of expected.entries()) {
    for (const s of ['propose', 'prevote', 'precommit'] as const) {
      const scheduled = timeoutsOf(all, s).filter((e) => e.round === r);
      assert.is(scheduled.length, 1, `one ${s} timeout in round ${r}`);
      assert.is(scheduled[0]!.delayMs, delays[s], `${s} delay in round ${r}`);
      assert.is(scheduled[0]!.height, H);
    }
  }
});

test('lines 57-64: timeout propose prevotes nil, timeout prevote precommits nil; line 65 starts the next round', () => {
  const { state } = begin();
  assertOneVote(feed(state, timeout(0, 'propose')), VoteType.prevote, 0, NIL_BLOCK_ID);
  assert.is(state.step, 'prevote');
  assertOneVote(feed(state, timeout(0, 'prevote')), VoteType.precommit, 0, NIL_BLOCK_ID);
  assert.is(state.step, 'precommit');
  const next = feed(state, timeout(0, 'precommit'));
  assert.equal(next, [{ type: 'schedule-timeout', height: H, round: 1, step: 'propose', delayMs: 3500 }]);
  assert.is(state.round, 1);
  assert.is(state.step, 'propose');
});

test('stale timeouts (another height, round or step) are ignored', () => {
  const { state } = begin();
  assert.equal(feed(state, timeout(0, 'propose', H + 1n)), [], 'next height');
  assert.equal(feed(state, timeout(0, 'propose', H - 1n)), [], 'previous height');
  assert.equal(feed(state, timeout(1, 'propose')), [], 'future round');
  assert.equal(feed(state, timeout(0, 'prevote')), [], 'prevote timeout while in propose');
  assert.is(state.step, 'propose');
  nextRoundByTimeouts(state);
  assert.is(state.round, 1);
  assert.equal(feed(state, timeout(0, 'propose')), [], 'past round, propose');
  assert.equal(feed(state, timeout(0, 'precommit')), [], 'past round, precommit');
  assert.is(state.round, 1);
  assert.is(state.step, 'propose');
});

// Lines 44-46

test('line 44: a nil polka while in prevote gives a nil precommit (not before prevote)', () => {
  const { state } = begin();
  assert.equal(votesOf(feed(state, ...prevotesFrom([0, 1, 2], 0, NIL_BLOCK_ID))), [], 'still in propose');
  const effects = feed(state, timeout(0, 'propose'));
  const votes = votesOf(effects);
  assert.is(votes.length, 2);
  assert.is(votes[0]!.voteType, VoteType.prevote);
  assert.is(votes[1]!.voteType, VoteType.precommit);
  assert.is(votes[1]!.blockId.length, 0, 'precommit nil');
  assert.is(state.step, 'precommit');
  assert.is(state.lockedRound, -1, 'a nil polka locks nothing');
});

// Lines 49-54

test('line 49: +2/3 precommits for a known valid value decide it, with the commit', () => {
  const { state } = begin();
  feed(state, proposalIn(state, 0, v, -1, true));
  assert.equal(decisionsOf(feed(state, ...precommitsFrom([0, 1], 0, v.id))), []);
  const effects = feed(state, ...precommitsFrom([2], 0, v.id));
  const [decision] = decisionsOf(effects);
  assert.ok(decision !== undefined, 'decides');
  assert.is(decision!.height, H);
  assert.is(decision!.round, 0);
  assert.is(decision!.value, v);
  assert.equal(
    decision!.precommits.map((p) => p?.validatorIndex),
    [0, 1, 2, undefined],
  );
  assert.is(state.decision, v);
});

test('line 49: precommits of an earlier round decide, in that round', () => {
  const { state } = begin();
  feed(state, proposalIn(state, 0, v, -1, true));
  nextRoundByTimeouts(state);
  nextRoundByTimeouts(state);
  assert.is(state.round, 2);
  const [decision] = decisionsOf(feed(state, ...precommitsFrom([0, 1, 2], 0, v.id)));
  assert.ok(decision !== undefined, 'decides');
  assert.is(decision!.round, 0);
  assert.is(decision!.value, v);
});

test('line 49: no decision for an invalid value', () => {
  const { state } = begin();
  feed(state, proposalIn(state, 0, v, -1, false));
  assert.equal(decisionsOf(feed(state, ...precommitsFrom([0, 1, 2, 3], 0, v.id))), []);
  assert.is(state.decision, null);
});

test('line 49: an unknown value is decided once it is learnt valid, not when learnt invalid', () => {
  const invalid = begin().state;
  feed(invalid, ...precommitsFrom([0, 1, 2], 0, v.id));
  assert.equal(decisionsOf(feed(invalid, { type: 'value', value: v, valid: false })), []);
  assert.is(invalid.decision, null);

  const { state } = begin();
  assert.equal(decisionsOf(feed(state, ...precommitsFrom([0, 1, 2], 0, v.id))), [], 'value unknown');
  const [decision] = decisionsOf(feed(state, { type: 'value', value: v, valid: true }));
  assert.ok(decision !== undefined, 'decides');
  assert.is(decision!.value, v);
});

test('line 49: +2/3 nil precommits decide nothing', () => {
  const { state } = begin();
  feed(state, proposalIn(state, 0, v, -1, true));
  assert.equal(decisionsOf(feed(state, ...precommitsFrom([0, 1, 2], 0, NIL_BLOCK_ID))), []);
  assert.is(state.decision, null);
});

// Line 55

test('line 55: skip to the highest round that validators with more than 1/3 of the power are in', () => {
  // Powers 2, 2, 1, 1 (total 6): one validator of power 2 is exactly 1/3.
  const f = makeFixture([2n, 2n, 1n, 1n], 'skip');
  const { state } = begin(3, 0, safe, f);
  assert.equal(feed(state, voteIn(prevote(f, 0, H, 5, v.id))), [], 'exactly 1/3: stay');
  assert.is(state.round, 0);
  const effects = feed(state, voteIn(prevote(f, 2, H, 3, v.id)));
  // 2 in round 5 and 1 in round 3: 3 of 6 have reached round 3, not round 5.
  assert.is(state.round, 3);
  assert.is(state.step, 'propose');
  assert.equal(timeoutsOf(effects, 'propose'), [
    { type: 'schedule-timeout', height: H, round: 3, step: 'propose', delayMs: 4500 },
  ]);
});

test('line 55: rounds beyond the storage window still count for the skip, but are not stored', () => {
  const { state } = begin();
  feed(state, voteIn(prevote(fx, 0, H, 20, v.id)));
  assert.is(state.round, 0, 'one of four: stay');
  feed(state, voteIn(precommit(fx, 1, H, 20, v.id)));
  assert.is(state.round, 20);
  // Both votes arrived while round 20 was outside the window (0 + FUTURE_ROUND_WINDOW).
  assert.is(state.votes.prevotes(20).size, 0);
  assert.is(state.votes.precommits(20).size, 0);
});

// Evidence, commits, decisions

test('a conflicting vote produces an evidence effect; a duplicate does not', () => {
  const { state } = begin();
  const first = prevote(fx, 1, H, 0, v.id);
  assert.equal(feed(state, voteIn(first)), []);
  assert.equal(feed(state, voteIn(first)), [], 'duplicate');
  const second = prevote(fx, 1, H, 0, w.id);
  const effects = feed(state, voteIn(second));
  assert.equal(effects, [{ type: 'evidence', first, second }]);
  assert.is((effects[0] as { first: Vote }).first, first);
});

test('the commit input decides directly, in the commit round, with its precommits', () => {
  const { state } = begin();
  const precommits = [precommit(fx, 0, H, 2, v.id), undefined, precommit(fx, 2, H, 2, v.id)];
  assert.equal(feed(state, { type: 'commit', value: v, valid: false, round: 2, precommits }), [], 'invalid');
  const effects = feed(state, { type: 'commit', value: v, valid: true, round: 2, precommits });
  assert.equal(effects, [{ type: 'decide', height: H, round: 2, value: v, precommits }]);
  assert.is(state.decision, v);
  assert.equal(
    feed(state, { type: 'commit', value: w, valid: true, round: 3, precommits }),
    [],
    'decided once',
  );
});

test('after a decision only votes are taken in (and can still yield evidence)', () => {
  const { state } = begin();
  feed(state, { type: 'commit', value: v, valid: true, round: 0, precommits: [] });
  const before = { round: state.round, step: state.step };
  assert.equal(feed(state, proposalIn(state, 0, w, -1, true)), []);
  assert.equal(feed(state, timeout(0, 'propose'), timeout(0, 'precommit')), []);
  assert.equal(feed(state, { type: 'value', value: w, valid: true }), []);
  assert.equal(feed(state, { type: 'value-to-propose', height: H, round: 0, value: w }), []);
  assert.equal(feed(state, ...prevotesFrom([0, 1, 2], 5, w.id)), [], 'no round skip either');
  assert.equal({ round: state.round, step: state.step }, before);
  assert.is(state.proposals.size, 0);
  assert.is(state.decision, v);
  const first = precommit(fx, 1, H, 0, v.id);
  assert.equal(feed(state, voteIn(first)), []);
  assert.is(state.votes.precommits(0).size, 1, 'the vote is stored');
  const second = precommit(fx, 1, H, 0, w.id);
  assert.equal(feed(state, voteIn(second)), [{ type: 'evidence', first, second }]);
});

test('a non-validator (ownIndex -1) follows and decides but never proposes or votes', () => {
  const { state, effects: started } = begin(-1, 0);
  const all: Effect<Value>[] = [...started];
  // Round 0 fails on a nil polka; round 1 locks and decides.
  all.push(...feed(state, timeout(0, 'propose'), ...prevotesFrom([0, 1, 2], 0, NIL_BLOCK_ID)));
  all.push(...feed(state, timeout(0, 'precommit')));
  assert.is(state.round, 1);
  all.push(...feed(state, proposalIn(state, 1, v, -1, true), ...prevotesFrom([0, 1, 2], 1, v.id)));
  assert.is(state.lockedValue, v, 'it still tracks the lock');
  all.push(...feed(state, ...precommitsFrom([0, 1, 2], 1, v.id)));
  const kinds = new Set(all.map((e) => e.type));
  assert.not.ok(kinds.has('broadcast-vote'));
  assert.not.ok(kinds.has('broadcast-proposal'));
  assert.not.ok(kinds.has('get-value'));
  assert.is(decisionsOf(all).length, 1, 'decides');
  assert.ok(timeoutsOf(all).length >= 2, 'schedules timeouts');
});

test('a non-validator in the proposer slot of every round never asks for a value', () => {
  // A set of one whose only member is not us: every round's proposer is index 0.
  const one = makeFixture([1n], 'solo');
  const { state, effects } = begin(-1, 0, safe, one);
  const more = feed(state, timeout(0, 'propose'), timeout(0, 'prevote'), timeout(0, 'precommit'));
  assert.equal(
    [...effects, ...more].map((e) => e.type),
    ['schedule-timeout', 'schedule-timeout'],
  );
});

test.run();
