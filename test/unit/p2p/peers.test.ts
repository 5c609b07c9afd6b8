/**
 * p2p/peers.ts: the backoff grows by its factor, stays within its cap and its jitter band; bad
 * backoff options and persistent peer lists are refused; the redialer dials at start, backs off
 * on failures, stops on success, redials after a disconnect, skips non-members and goes quiet
 * after stop (driven by a fake dial and a manual clock: deterministic, no wall time).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type BackoffOptions,
  backoffDelay,
  checkBackoff,
  createRedialer,
  type PersistentPeer,
  parsePersistentPeers,
  peerStatuses,
} from '../../../p2p/peers.ts';
import { hasCode } from '../../../packages/core/errors.ts';
import { idOf, seededRandom } from './helpers.ts';

const backoff: BackoffOptions = { initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0.2 };

test('backoff: exponential, capped, jitter within its band', () => {
  const mid = () => 0.5; // no jitter at the middle of the band
  assert.equal(
    [0, 1, 2, 3, 4, 5, 100].map((n) => backoffDelay(n, backoff, mid)),
    [100, 200, 400, 800, 1_000, 1_000, 1_000],
  );
  assert.is(
    backoffDelay(0, backoff, () => 0),
    80,
  );
  assert.is(
    backoffDelay(0, backoff, () => 0.999999),
    120,
  );
  assert.is(
    backoffDelay(10, backoff, () => 0.999999),
    1_000,
    'jitter never exceeds the cap',
  );
  const random = seededRandom(42);
  for (let i = 0; i < 1_000; i++) {
    const d = backoffDelay(2, backoff, random);
    assert.ok(d >= 320 && d <= 480, `delay ${d} outside 400 +- 20%`);
  }
});

test('bad backoff options are refused', () => {
  for (const bad of [
    { ...backoff, initialMs: 0 },
    { ...backoff, maxMs: 50 },
    { ...backoff, factor: 0.5 },
    { ...backoff, jitter: 1 },
    { ...backoff, jitter: -0.1 },
    { ...backoff, initialMs: Number.NaN },
  ]) {
    try {
      checkBackoff(bad);
      assert.unreachable(JSON.stringify(bad));
    } catch (err) {
      assert.ok(hasCode(err, 'P2P_INVALID_OPTIONS'), String(err));
    }
  }
  assert.not.throws(() => checkBackoff(backoff));
});

test('persistent peers must be multiaddrs naming their peer, once each', () => {
  const id = idOf(1);
  const addr = `/ip4/127.0.0.1/tcp/26656/p2p/${id}`;
  assert.equal(parsePersistentPeers([addr]), [{ id, addr }]);
  for (const bad of [
    ['/ip4/127.0.0.1/tcp/26656'],
    ['not a multiaddr'],
    [addr, `/ip4/127.0.0.2/tcp/26656/p2p/${id}`],
  ]) {
    try {
      parsePersistentPeers(bad);
      assert.unreachable(bad.join(' '));
    } catch (err) {
      assert.ok(hasCode(err, 'P2P_INVALID_OPTIONS'), String(err));
    }
  }
});

/** A manual clock: timers fire only when the test advances time, in due order. */
function manualClock() {
  let now = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let next = 0;
  return {
    now: () => now,
    setTimer(fn: () => void, ms: number): unknown {
      timers.set(++next, { at: now + ms, fn });
      return next;
    },
    clearTimer(handle: unknown): void {
      timers.delete(handle as number);
    },
    /** Moves time on by `ms`, firing each timer that falls due (and letting its dial settle). */
    async advance(ms: number): Promise<void> {
      const until = now + ms;
      for (;;) {
        // Let dials in flight settle first: a failed one arms the next timer.
        for (let i = 0; i < 5; i++) await Promise.resolve();
        const due = [...timers.entries()]
          .filter(([, t]) => t.at <= until)
          .sort((a, b) => a[1].at - b[1].at)[0];
        if (due === undefined) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = until;
    },
    pending: () => timers.size,
  };
}

test('the redialer backs off on failures, stops on success, redials after a disconnect', async () => {
  const peer: PersistentPeer = { id: idOf(1), addr: `/ip4/127.0.0.1/tcp/1/p2p/${idOf(1)}` };
  const outsider: PersistentPeer = { id: idOf(9), addr: `/ip4/127.0.0.1/tcp/2/p2p/${idOf(9)}` };
  const clock = manualClock();
  const dials: { id: string; at: number }[] = [];
  const connected = new Set<string>();
  let failuresLeft = 3;
  const redialer = createRedialer({
    peers: [peer, outsider],
    backoff: { initialMs: 20, maxMs: 200, factor: 2, jitter: 0 },
    random: () => 0.5,
    isMember: (id) => id === peer.id,
    isConnected: (id) => connected.has(id),
    clock,
    async dial(p) {
      dials.push({ id: p.id, at: clock.now() });
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new Error('connection refused');
      }
      connected.add(p.id);
    },
  });
  try {
    redialer.start();
    await clock.advance(1_000);
    assert.is(dials.length, 4, 'three failures, then success');
    assert.ok(
      dials.every((d) => d.id === peer.id),
      'a non-member is never dialled',
    );
    // Each failure waits one backoff step longer: 20, 40, 80 ms.
    assert.equal(
      dials.map((d) => d.at),
      [0, 20, 60, 140],
    );
    redialer.onConnect(peer.id);
    assert.is(clock.pending(), 0, 'connected: no redial is armed');

    // A short-lived connection does not reset the backoff: the next delay is the fifth step.
    await clock.advance(50);
    connected.delete(peer.id);
    redialer.onDisconnect(peer.id);
    await clock.advance(159);
    assert.is(dials.length, 4, 'not before the 160 ms step');
    await clock.advance(1);
    assert.is(dials.length, 5, 'redialled at the 160 ms step');
    assert.is(dials[4]!.at, 1_000 + 50 + 160, '50 ms connected (under maxMs), then the fifth step');

    // A connection that lasted at least maxMs resets the backoff: the first step again.
    redialer.onConnect(peer.id);
    await clock.advance(200);
    connected.delete(peer.id);
    redialer.onDisconnect(peer.id);
    await clock.advance(20);
    assert.is(dials.length, 6, 'redialled after the first step');
    assert.ok(redialer.isPersistent(peer.id) && !redialer.isPersistent(idOf(5)));
  } finally {
    redialer.stop();
  }
  // Stopped: a disconnect schedules nothing.
  connected.delete(peer.id);
  const count = dials.length;
  redialer.onDisconnect(peer.id);
  redialer.refresh();
  await clock.advance(10_000);
  assert.is(dials.length, count, 'no dial after stop');
  assert.is(clock.pending(), 0);
});

test('peer statuses: persistent peers first, connected or not, then other connected peers', () => {
  const [p1, p2] = [idOf(1), idOf(2)];
  const persistent: PersistentPeer[] = [
    { id: p1, addr: `/ip4/10.0.0.1/tcp/1/p2p/${p1}` },
    { id: p2, addr: `/ip4/10.0.0.2/tcp/2/p2p/${p2}` },
  ];
  const statuses = peerStatuses(persistent, [
    { peer: idOf(3), addr: '/ip4/10.0.0.3/tcp/3' },
    { peer: p2, addr: '/ip4/10.0.0.2/tcp/2' },
    { peer: p2, addr: '/ip4/10.0.0.2/tcp/9' },
  ]);
  assert.equal(statuses, [
    { id: p1, addrs: [persistent[0]!.addr], connected: false, persistent: true },
    { id: p2, addrs: ['/ip4/10.0.0.2/tcp/2', '/ip4/10.0.0.2/tcp/9'], connected: true, persistent: true },
    { id: idOf(3), addrs: ['/ip4/10.0.0.3/tcp/3'], connected: true, persistent: false },
  ]);
});

test.run();
