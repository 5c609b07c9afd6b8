/**
 * p2p/peers.ts: the backoff grows by its factor, stays within its cap and its jitter band; bad
 * backoff options and persistent peer lists are refused; the redialer dials at start, backs off
 * on failures, stops on success, redials after a disconnect, skips non-members and goes quiet
 * after stop (driven by a fake dial, with real but short timers and bounded waits).
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
import { idOf, seededRandom, waitFor } from './helpers.ts';

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

test('the redialer backs off on failures, stops on success, redials after a disconnect', async () => {
  const peer: PersistentPeer = { id: idOf(1), addr: `/ip4/127.0.0.1/tcp/1/p2p/${idOf(1)}` };
  const outsider: PersistentPeer = { id: idOf(9), addr: `/ip4/127.0.0.1/tcp/2/p2p/${idOf(9)}` };
  const dials: { id: string; at: number }[] = [];
  const connected = new Set<string>();
  let failuresLeft = 3;
  const redialer = createRedialer({
    peers: [peer, outsider],
    backoff: { initialMs: 20, maxMs: 200, factor: 2, jitter: 0 },
    random: () => 0.5,
    isMember: (id) => id === peer.id,
    isConnected: (id) => connected.has(id),
    async dial(p) {
      dials.push({ id: p.id, at: Date.now() });
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new Error('connection refused');
      }
      connected.add(p.id);
    },
  });
  try {
    redialer.start();
    await waitFor('four dials (three failures, then success)', () => dials.length === 4, 3_000);
    assert.ok(
      dials.every((d) => d.id === peer.id),
      'a non-member is never dialled',
    );
    const gaps = dials.slice(1).map((d, i) => d.at - dials[i]!.at);
    // 20, 40, 80 ms apart (timers may be late, never early).
    assert.ok(gaps[0]! >= 18 && gaps[1]! >= 38 && gaps[2]! >= 78, `gaps ${gaps.join(', ')}`);
    assert.ok(gaps[2]! > gaps[0]!, 'the delay grew');
    redialer.onConnect(peer.id);

    // Connected: no more dials.
    const settled = dials.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.is(dials.length, settled, 'no dial while connected');

    // A short-lived connection does not reset the backoff: the next delay is the fifth step.
    connected.delete(peer.id);
    const droppedAt = Date.now();
    redialer.onDisconnect(peer.id);
    await waitFor('the redial after the disconnect', () => dials.length === settled + 1, 2_000);
    assert.ok(dials.at(-1)!.at - droppedAt >= 150, 'backoff kept growing (160 ms step)');
    assert.ok(redialer.isPersistent(peer.id) && !redialer.isPersistent(idOf(5)));
  } finally {
    redialer.stop();
  }
  // Stopped: a disconnect schedules nothing.
  connected.delete(peer.id);
  const count = dials.length;
  redialer.onDisconnect(peer.id);
  redialer.refresh();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.is(dials.length, count, 'no dial after stop');
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
