/**
 * node/sync/catch-up.ts: a peer that reports a height we committed gets that block only once it has
 * lagged for the grace period, then at most once per resend period; a peer that moves on, or
 * reports another height, starts afresh. A node behind a round asks for it once per interval.
 * The clock is a variable the test sets.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FUTURE_ROUND_WINDOW } from '../../../../consensus/core/state-machine.ts';
import { decodeMessage } from '../../../../consensus/messages.ts';
import { ChainHead } from '../../../../node/commit-pipeline.ts';
import { SyncPeers } from '../../../../node/sync/block-sync.ts';
import {
  CatchUpPolicy,
  PeerCatchUp,
  RoundCatchUpPolicy,
  readRoundAnswer,
} from '../../../../node/sync/catch-up.ts';
import type { Verdict } from '../../../../p2p/host.ts';
import { encode } from '../../../../packages/codec/canonical.ts';
import { blockIdOf } from '../../../../packages/types/block.ts';
import { buildBlock } from '../../../../packages/types/chain-state.ts';
import { makeChain, signedCommit } from '../../consensus/fixtures.ts';
import { throwsCode } from '../../packages/fixtures.ts';
import { recordingLogger } from '../fixtures.ts';

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

/** PeerCatchUp against fake peers, with its own clock (gossip interval 1000 ms). */
function catchUpHarness(answer: () => Promise<Uint8Array>) {
  let t = 0;
  const sent: string[] = [];
  const requested: string[] = [];
  const reported: string[] = [];
  const received: string[] = [];
  const syncPeers = new SyncPeers(30_000, () => t);
  const consensus = {
    height: 5n,
    round: 0,
    receive: (bytes: Uint8Array): Verdict => {
      const text = new TextDecoder().decode(bytes);
      received.push(text);
      return text === 'bad' ? 'reject' : 'accept';
    },
  };
  const catchUp = new PeerCatchUp(
    { gossipIntervalMs: 1000, now: () => t },
    {
      p2p: {
        sendDirect: async (peer, _kind, bytes) => {
          const message = decodeMessage(bytes);
          // The stored block of the height asked for, with its commit.
          const same = message.kind === 'catch-up' && message.commit.height === 4n;
          sent.push(`${peer}:${same ? 'height 4' : message.kind}`);
          return 'accept';
        },
        request: async (peer) => {
          requested.push(peer);
          return answer();
        },
        reportInvalid: (peer) => reported.push(peer),
      },
      blocks: { block: async (h) => stored.get(h) ?? null, commit: async (h) => commits.get(h) ?? null },
      head: new ChainHead({ ...chain, lastHeight: 4n }),
      syncPeers,
      consensus,
      isStopped: () => false,
      log: recordingLogger(),
    },
  );
  return {
    catchUp,
    syncPeers,
    sent,
    requested,
    reported,
    received,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

const { chain, fx } = makeChain([1n, 1n, 1n, 1n], 'catch-up');
const block4 = {
  ...buildBlock(chain, {
    txs: [],
    evidence: [],
    time: 1n,
    proposer: chain.validators.set.validators[0]!.address,
  }),
};
const stored = new Map([[4n, block4]]);
const commits = new Map([[4n, signedCommit(fx, [0, 1, 2, 3], 4n, 0, blockIdOf(block4.header))]]);
/** Lets the fire-and-forget sends and requests run to their end. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

test('PeerCatchUp: every status is a claim for block sync; a peer lagging at a committed height is sent it after the grace', async () => {
  const h = catchUpHarness(async () => encode([]));
  h.catchUp.peerStatus('p', 4n, 0);
  assert.equal(h.syncPeers.best(), { peer: 'p', height: 4n });
  await settle();
  assert.equal(h.sent, [], 'just finishing the height: nothing yet');
  h.advance(500);
  h.catchUp.peerStatus('p', 4n, 0);
  await settle();
  assert.equal(h.sent, ['p:height 4']);
  h.catchUp.peerStatus('p', 7n, 0);
  assert.equal(h.syncPeers.best(), { peer: 'p', height: 7n });
});

test('PeerCatchUp: a peer at our height in a later round is asked for it; its messages go to consensus, a bad one reports the peer', async () => {
  const messages = ['proposal', 'bad', 'vote'].map((m) => new TextEncoder().encode(m));
  const h = catchUpHarness(async () => encode(messages));
  h.catchUp.peerStatus('q', 5n, 2);
  h.catchUp.peerStatus('r', 5n, 2);
  await settle();
  assert.equal(h.requested, ['q'], 'one request for that round');
  assert.equal(h.received, ['proposal', 'bad', 'vote']);
  assert.equal(h.reported, ['q']);
  h.catchUp.peerStatus('r', 5n, 3);
  await settle();
  assert.equal(h.requested, ['q', 'r'], 'a later round is asked for at once');
});

test.run();
