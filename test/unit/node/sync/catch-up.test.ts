/**
 * node/sync/catch-up.ts: a peer that reports a height we committed gets that block only once it has
 * lagged for the grace period, then at most once per resend period; a peer that moves on, or
 * reports another height, starts afresh. A node behind a round asks for it once per interval.
 * The clock is a variable the test sets.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FUTURE_ROUND_WINDOW } from '../../../../consensus/core/state-machine.ts';
import { CatchUpPolicy, RoundCatchUpPolicy, readRoundAnswer } from '../../../../node/sync/catch-up.ts';
import { encode } from '../../../../packages/codec/canonical.ts';
import { throwsCode } from '../../packages/fixtures.ts';

const GRACE = 500;
const RESEND = 3000;

function policy(): { p: CatchUpPolicy; at: (ms: number) => void } {
  let now = 0;
  return { p: new CatchUpPolicy(GRACE, RESEND, () => now), at: (ms) => (now = ms) };
}

test('a peer deciding a height we have not committed is never sent a catch-up', () => {
  const { p, at } = policy();
  for (const t of [0, 1000, 5000, 20_000]) {
    at(t);
    assert.is(p.onStatus('a', 11n, 10n), false, `at ${t} ms`);
  }
});

test('a lagging peer: nothing at first sight, the block after the grace, then once per resend period', () => {
  const { p, at } = policy();
  at(0);
  assert.is(p.onStatus('a', 10n, 10n), false, 'first status at the lagging height');
  at(GRACE - 1);
  assert.is(p.onStatus('a', 10n, 10n), false, 'still within the grace');
  at(GRACE);
  assert.is(p.onStatus('a', 10n, 10n), true, 'lagged for the grace: send');
  at(GRACE + RESEND - 1);
  assert.is(p.onStatus('a', 10n, 10n), false, 'sent recently');
  at(GRACE + RESEND);
  assert.is(p.onStatus('a', 10n, 10n), true, 'not caught up after the resend period: send again');
});

test('a peer that moves to another height starts afresh; peers are tracked separately', () => {
  const { p, at } = policy();
  at(0);
  p.onStatus('a', 9n, 10n);
  p.onStatus('b', 10n, 10n);
  at(1000);
  assert.is(p.onStatus('a', 10n, 10n), false, 'a reached 10: a new lag starts');
  assert.is(p.onStatus('b', 10n, 10n), true, 'b has lagged at 10 since 0');
  at(1200);
  assert.is(p.onStatus('a', 11n, 10n), false, 'a caught up');
  at(1300);
  assert.is(p.onStatus('a', 10n, 12n), false, 'a at 10 again (restarted): a new lag, not an old one');
  at(1800);
  assert.is(p.onStatus('a', 10n, 12n), true);
});

test('round catch-up: only a peer at our height in a later round; within an interval only a later round than asked', () => {
  let now = 0;
  const r = new RoundCatchUpPolicy(500, () => now);
  assert.is(r.onStatus(10n, 2, 10n, 2), false, 'same round');
  assert.is(r.onStatus(10n, 1, 10n, 2), false, 'the peer is behind us');
  assert.is(r.onStatus(11n, 5, 10n, 0), false, 'another height: block sync or catch-up, not this');
  assert.is(r.onStatus(10n, 2 + FUTURE_ROUND_WINDOW + 1, 10n, 2), false, 'beyond the round window');
  assert.is(r.onStatus(10n, 3, 10n, 2), true, 'one round ahead');
  now = 499;
  assert.is(r.onStatus(10n, 3, 10n, 2), false, 'asked already, whichever peer reports it');
  assert.is(r.onStatus(10n, 4, 10n, 2), true, 'a later round is asked at once');
  assert.is(r.onStatus(10n, 3, 10n, 2), false, 'an earlier one is not: round 4 was asked for');
  now = 999;
  assert.is(r.onStatus(10n, 4, 10n, 2), true, 'again after the interval, if still behind');
  assert.is(r.onStatus(10n, 4, 10n, 4), false, 'caught up');
});

test('a round answer may hold the proposal and four prevotes and four precommits per validator, no more', () => {
  // An equivocating validator's conflicting votes travel too: the vote set keeps up to four.
  const item = (i: number) => new Uint8Array([i & 0xff, i >> 8]);
  const full = Array.from({ length: 1 + 8 * 4 }, (_, i) => item(i));
  assert.equal(readRoundAnswer(encode(full), 4), full);
  throwsCode(() => readRoundAnswer(encode([...full, item(99)]), 4), 'CODEC_SCHEMA');
  throwsCode(() => readRoundAnswer(encode([item(1), 'not bytes']), 4), 'CODEC_SCHEMA');
});

test.run();
