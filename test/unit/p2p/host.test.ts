/**
 * p2p/host.ts over real TCP sockets on 127.0.0.1 (OS-assigned ports), all hosts in this process:
 * persistent peers connect and redial, gossip reaches every member, the gater keeps non-members
 * out both ways and follows `setMembers`, a message the validator rejects is neither relayed nor
 * unpunished, size limits hold for gossip and sync, the sync protocol's errors carry their codes,
 * and `stop()` releases every handle (checked in this process and in a child that must exit).
 * Every wait is bounded and names what it waited for.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { P2PHost, RequestKind, TopicKind, Verdict } from '../../../p2p/host.ts';
import { decodeResponse, readFrame, writeFrame } from '../../../p2p/reqresp.ts';
import { syncProtocol, topicName } from '../../../p2p/topics.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import {
  CHAIN,
  countingMetrics,
  errorCode,
  hex,
  idOf,
  recorder,
  settledTcpHandles,
  startHost,
  stopAll,
  tcpHandles,
  waitFor,
} from './helpers.ts';

const enc = new TextEncoder();
const A = 1;
const B = 2;
const C = 3;
const OUTSIDER = 9;
const MEMBERS = [idOf(A), idOf(B), idOf(C)];

const addrOf = (host: P2PHost): string => {
  const addr = host.addresses()[0];
  assert.ok(addr !== undefined, `${host.peerId} has a listen address`);
  assert.ok(addr.endsWith(`/p2p/${host.peerId}`), 'listen address names the peer');
  return addr;
};

const connectionsTo = (host: P2PHost, id: string): number =>
  host.libp2p.getConnections().filter((c) => c.remotePeer.toString() === id).length;

test('three members connect through persistent peers and a publish reaches all of them', async () => {
  const ra = recorder();
  const rb = recorder();
  const rc = recorder();
  const connectsAtA: string[] = [];
  const ma = countingMetrics();
  let a: P2PHost | undefined;
  let b: P2PHost | undefined;
  let c: P2PHost | undefined;
  try {
    a = await startHost(A, { members: MEMBERS }, ra.handlers, ma.metrics);
    a.on('peer:connect', ({ id }) => connectsAtA.push(id));
    b = await startHost(B, { members: MEMBERS, persistentPeers: [addrOf(a)] }, rb.handlers);
    c = await startHost(C, { members: MEMBERS, persistentPeers: [addrOf(a), addrOf(b)] }, rc.handlers);
    const [ha, hb, hc] = [a, b, c];

    await waitFor(
      'A to see B and C connect',
      () => connectsAtA.includes(hb.peerId) && connectsAtA.includes(hc.peerId),
    );
    await waitFor('C connected to A and B', () => hc.peers().every((p) => p.connected));
    assert.is(ma.peers(), 2, 'the peers gauge follows connects');
    assert.equal(
      hc.peers().map((p) => [p.id, p.persistent]),
      [
        [ha.peerId, true],
        [hb.peerId, true],
      ],
    );
    await waitFor('B and C subscribed at A', () => {
      const peers = ha.topicPeers('tx');
      return peers.includes(hb.peerId) && peers.includes(hc.peerId);
    });

    const tx = enc.encode('tx: consent grant 1');
    const outcome = await ha.publish('tx', tx);
    assert.equal(outcome, { status: 'published', recipients: 2 });
    await waitFor('B and C to receive the tx', () => rb.received.length === 1 && rc.received.length === 1);
    // `from` is whoever relayed it first: A itself, or the other member that forwarded it.
    for (const [r, self] of [
      [rb, hb.peerId],
      [rc, hc.peerId],
    ] as const) {
      const got = r.received[0]!;
      assert.equal({ ...got, from: '' }, { kind: 'tx', hex: hex(tx), from: '', via: 'gossip' });
      assert.ok(got.from !== self && MEMBERS.includes(got.from), `relayed by a member: ${got.from}`);
    }
    assert.ok(
      rb.received[0]!.from === ha.peerId || rc.received[0]!.from === ha.peerId,
      'at least one of them heard A directly',
    );
    assert.equal(ra.received, [], 'a publisher does not deliver to itself');

    // Content addressing: the same bytes are one message, whoever publishes them again.
    assert.equal(await ha.publish('tx', tx), { status: 'duplicate' });
    assert.equal(await hc.publish('tx', tx), { status: 'duplicate' });
    // The direct fallback carries them anyway, through the same validation.
    assert.is(await ha.sendDirect(hb.peerId, 'tx', tx), 'accept');
    assert.equal(rb.received.at(-1), { kind: 'tx', hex: hex(tx), from: ha.peerId, via: 'direct' });
    assert.is(rb.validated.length, 2);

    // The consensus topic is separate from the tx topic.
    await waitFor('consensus subscribers at B', () => hb.topicPeers('consensus').length === 2);
    const vote = enc.encode('vote h=1 r=0');
    assert.equal(await hb.publish('consensus', vote), { status: 'published', recipients: 2 });
    await waitFor('A and C to receive the vote', () =>
      [ra, rc].every((r) => r.received.some((m) => m.kind === 'consensus' && m.hex === hex(vote))),
    );
    for (const r of [ra, rc, rb]) assert.equal(r.errors, []);
  } finally {
    await stopAll([c, b, a]);
  }
});

test('a persistent peer that is disconnected is redialled', async () => {
  const disconnects: string[] = [];
  const connects: string[] = [];
  let a: P2PHost | undefined;
  let b: P2PHost | undefined;
  try {
    a = await startHost(A, { members: MEMBERS }, recorder().handlers);
    b = await startHost(B, { members: MEMBERS, persistentPeers: [addrOf(a)] }, recorder().handlers);
    const [ha, hb] = [a, b];
    hb.on('peer:disconnect', ({ id }) => disconnects.push(id));
    hb.on('peer:connect', ({ id }) => connects.push(id));
    // Both ends: A can only hang up a connection it has registered.
    await waitFor(
      'B connected to A',
      () => connectionsTo(hb, ha.peerId) > 0 && connectionsTo(ha, hb.peerId) > 0,
    );

    // A drops B; B (which lists A as persistent) must come back on its own.
    await ha.libp2p.hangUp(peerIdFromString(hb.peerId));
    await waitFor('B to see the disconnect', () => disconnects.includes(ha.peerId));
    await waitFor('B to redial A', () => connects.includes(ha.peerId) && connectionsTo(hb, ha.peerId) > 0);
    assert.ok(hb.peers()[0]?.connected, 'peers() reports the persistent peer connected again');
  } finally {
    await stopAll([b, a]);
  }
});

test('a non-member can neither connect to a member nor be dialled by one', async () => {
  const ra = recorder();
  const opened: string[] = [];
  let a: P2PHost | undefined;
  let outsider: P2PHost | undefined;
  try {
    a = await startHost(A, { members: MEMBERS }, ra.handlers);
    const ha = a;
    ha.libp2p.addEventListener('connection:open', (evt) => opened.push(evt.detail.remotePeer.toString()));
    // The outsider considers A a member and keeps trying to reach it.
    outsider = await startHost(
      OUTSIDER,
      { members: [idOf(A)], persistentPeers: [addrOf(ha)] },
      recorder().handlers,
    );
    const ho = outsider;

    // The outsider's side may finish its handshake optimistically, but the member drops the
    // connection as soon as noise reveals the outsider's key: nothing can be done over it.
    try {
      const conn = await ho.libp2p.dial(multiaddr(addrOf(ha)));
      await waitFor('the outsider connection to be closed', () => conn.status === 'closed', 3_000);
    } catch {
      // Refused outright: just as good.
    }
    assert.is(await errorCode(ho.request(ha.peerId, 'blocks', new Uint8Array(1))), 'P2P_UNREACHABLE');
    assert.is(await errorCode(ho.sendDirect(ha.peerId, 'tx', new Uint8Array(1))), 'P2P_UNREACHABLE');
    assert.equal(ra.requests, [], 'no request reached the member');
    assert.equal(ra.validated, [], 'no message reached the member');
    assert.is(connectionsTo(ha, ho.peerId), 0);
    assert.not.ok(opened.includes(ho.peerId), 'the member never opened a connection with the outsider');
    assert.not.ok(
      ha.peers().some((p) => p.id === ho.peerId),
      'the outsider is not among the member peers',
    );

    // The member refuses to dial it, by address and by request.
    let memberDialError: unknown;
    try {
      await ha.libp2p.dial(multiaddr(addrOf(ho)));
    } catch (err) {
      memberDialError = err;
    }
    assert.ok(memberDialError instanceof Error, 'a member refuses to dial a non-member');
    assert.is(await errorCode(ha.request(ho.peerId, 'blocks', new Uint8Array(1))), 'P2P_NOT_MEMBER');
    assert.is(await errorCode(ha.sendDirect(ho.peerId, 'tx', new Uint8Array(1))), 'P2P_NOT_MEMBER');
    assert.is(connectionsTo(ha, ho.peerId), 0);
    assert.not.ok(opened.includes(ho.peerId), 'still no connection with the outsider');

    // Membership is on chain and changes: admit the outsider, then remove it again.
    await ha.setMembers([...MEMBERS, ho.peerId]);
    await waitFor('the admitted peer to connect (its redial)', () => connectionsTo(ha, ho.peerId) > 0);
    await ha.setMembers(MEMBERS);
    await waitFor('the removed member to be disconnected', () => connectionsTo(ha, ho.peerId) === 0);
    assert.equal(ha.members().sort(), [...MEMBERS].sort());
  } finally {
    await stopAll([outsider, a]);
  }
});

test('a message the validator rejects is not relayed and lowers the sender score', async () => {
  // Line topology A - B - C: C hears A only through B.
  const BAD = 0xee;
  const judgeB = (_kind: TopicKind, bytes: Uint8Array): Verdict => (bytes[0] === BAD ? 'reject' : 'accept');
  const rb = recorder(judgeB);
  const rc = recorder();
  const mb = countingMetrics();
  let a: P2PHost | undefined;
  let b: P2PHost | undefined;
  let c: P2PHost | undefined;
  try {
    a = await startHost(A, { members: MEMBERS }, recorder().handlers);
    b = await startHost(B, { members: MEMBERS, persistentPeers: [addrOf(a)] }, rb.handlers, mb.metrics);
    c = await startHost(C, { members: MEMBERS, persistentPeers: [addrOf(b)] }, rc.handlers);
    const [ha, hb, hc] = [a, b, c];
    const topic = topicName(CHAIN, 'tx');
    await waitFor('B subscribed at A', () => ha.topicPeers('tx').includes(hb.peerId));
    await waitFor('C in B mesh', () => hb.libp2p.services.pubsub.getMeshPeers(topic).includes(hc.peerId));
    assert.is(connectionsTo(ha, hc.peerId), 0, 'A and C are not connected');
    assert.is(hb.score(ha.peerId), 0, 'A starts with a neutral score at B');

    const bad = Uint8Array.of(BAD, 1, 2, 3);
    assert.equal(await ha.publish('tx', bad), { status: 'published', recipients: 1 });
    await waitFor('B to judge the bad message', () => rb.validated.some((v) => v.hex === hex(bad)));
    assert.is(rb.validated[0]?.verdict, 'reject');
    await waitFor('B score of A to drop below zero', () => hb.score(ha.peerId) < 0);
    assert.is(mb.get('rejected', 'tx'), 1);

    // A good message after it travels the same path, so C has had every chance to see the bad one.
    const good = enc.encode('good tx');
    await ha.publish('tx', good);
    await waitFor('C to receive the good message via B', () => rc.received.some((m) => m.hex === hex(good)));
    assert.is(rc.received[0]?.from, hb.peerId, 'C got it from B');
    assert.not.ok(
      rc.validated.some((v) => v.hex === hex(bad)),
      'C never saw the rejected message',
    );
    assert.not.ok(
      rb.received.some((m) => m.hex === hex(bad)),
      'B did not deliver it either',
    );
    assert.is(mb.get('received', 'tx'), 2);
    assert.is(mb.get('bytes', 'tx'), bad.length + good.length);
  } finally {
    await stopAll([c, b, a]);
  }
});

test('invalid messages outside gossip count against the sender: rejected direct messages, reported sync answers', async () => {
  const BAD = 0xee;
  const rb = recorder((_kind, bytes) => (bytes[0] === BAD ? 'reject' : 'accept'));
  let a: P2PHost | undefined;
  let b: P2PHost | undefined;
  let c: P2PHost | undefined;
  try {
    b = await startHost(B, { members: MEMBERS }, rb.handlers);
    a = await startHost(A, { members: MEMBERS, persistentPeers: [addrOf(b)] }, recorder().handlers);
    c = await startHost(C, { members: MEMBERS, persistentPeers: [addrOf(b)] }, recorder().handlers);
    const [ha, hb, hc] = [a, b, c];
    await waitFor(
      'A and C connected to B',
      () => connectionsTo(hb, ha.peerId) > 0 && connectionsTo(hb, hc.peerId) > 0,
    );
    assert.is(hb.score(ha.peerId), 0);
    // A rejected direct message scores like an invalid gossip message (-100 for the first).
    assert.is(await ha.sendDirect(hb.peerId, 'tx', Uint8Array.of(BAD, 1)), 'reject');
    await waitFor('B score of A to drop', () => hb.score(ha.peerId) < -90);
    assert.is(await ha.sendDirect(hb.peerId, 'tx', Uint8Array.of(1)), 'accept');
    // The node reports an invalid sync answer from C; squared, three of them weigh -900.
    for (let i = 0; i < 3; i++) hb.reportInvalid(hc.peerId);
    await waitFor('B score of C to drop', () => hb.score(hc.peerId) < -800);
    assert.ok(hb.score(ha.peerId) > -200, 'A is not charged for C');
  } finally {
    await stopAll([c, a, b]);
  }
});

test('oversized messages are refused on publish, on direct send and on receipt', async () => {
  const small = recorder();
  const ms = countingMetrics();
  let big: P2PHost | undefined;
  let smallHost: P2PHost | undefined;
  try {
    // B accepts at most 1 KiB; A (misconfigured) would publish up to 4 KiB.
    smallHost = await startHost(B, { members: MEMBERS, maxMessageBytes: 1024 }, small.handlers, ms.metrics);
    big = await startHost(
      A,
      { members: MEMBERS, maxMessageBytes: 4096, persistentPeers: [addrOf(smallHost)] },
      recorder().handlers,
    );
    const [hs, hbig] = [smallHost, big];
    await waitFor('B subscribed at A', () => hbig.topicPeers('tx').includes(hs.peerId));

    assert.is(await errorCode(hs.publish('tx', new Uint8Array(1025))), 'P2P_MESSAGE_TOO_LARGE');
    assert.is(
      await errorCode(hs.sendDirect(hbig.peerId, 'tx', new Uint8Array(1025))),
      'P2P_MESSAGE_TOO_LARGE',
    );
    assert.is(await errorCode(hbig.publish('tx', new Uint8Array(4097))), 'P2P_MESSAGE_TOO_LARGE');

    // 2 KiB is within A's limit and over B's: B rejects it before its validator sees it.
    const oversized = new Uint8Array(2048).fill(7);
    assert.equal(await hbig.publish('tx', oversized), { status: 'published', recipients: 1 });
    await waitFor('B to count the oversized message as rejected', () => ms.get('rejected', 'tx') === 1);
    assert.is(small.validated.length, 0, 'the validator never saw it');
    await waitFor('B score of A to drop', () => hs.score(hbig.peerId) < 0);
    // Directly, too: the verdict comes back as reject.
    assert.is(await hbig.sendDirect(hs.peerId, 'tx', oversized), 'reject');
    assert.is(ms.get('rejected', 'tx'), 2);
    assert.is(small.validated.length, 0);
    assert.is(small.received.length, 0);

    // Exactly the limit passes.
    const limit = new Uint8Array(1024).fill(1);
    assert.equal(await hbig.publish('tx', limit), { status: 'published', recipients: 1 });
    await waitFor('B to receive the message at the limit', () => small.received.length === 1);
  } finally {
    await stopAll([big, smallHost]);
  }
});

test('request/response: round trip, remote errors, unknown kind, size limits, timeouts', async () => {
  let release: () => void = () => {};
  const hanging = new Promise<void>((resolve) => {
    release = resolve;
  });
  const serve = async (_kind: RequestKind, bytes: Uint8Array): Promise<Uint8Array> => {
    switch (bytes[0]) {
      case 0:
        return Uint8Array.from(bytes).reverse();
      case 1:
        throw new CareLedgerError('SYNC_BAD_REQUEST', 'bad range', 'reject');
      case 2:
        return new Uint8Array(8192);
      case 3:
        await hanging;
        return new Uint8Array(1);
      case 4:
        return new Uint8Array(20_000);
      default:
        throw new Error('a bug in the handler');
    }
  };
  const rb = recorder(undefined, serve);
  let a: P2PHost | undefined;
  let b: P2PHost | undefined;
  try {
    b = await startHost(
      B,
      {
        members: MEMBERS,
        // With both bounds at 1 KiB the server refuses a bigger request from its length prefix alone.
        maxMessageBytes: 1024,
        maxRequestBytes: 1024,
        maxResponseBytes: 16_384,
        requestHandlerTimeoutMs: 300,
      },
      rb.handlers,
    );
    a = await startHost(
      A,
      { members: MEMBERS, maxRequestBytes: 65_536, maxResponseBytes: 4096, persistentPeers: [addrOf(b)] },
      recorder().handlers,
    );
    const [ha, hb] = [a, b];
    await waitFor('A connected to B', () => connectionsTo(ha, hb.peerId) > 0);

    const answer = await ha.request(hb.peerId, 'blocks', Uint8Array.of(0, 1, 2, 3), { timeoutMs: 2_000 });
    assert.equal([...answer], [3, 2, 1, 0]);
    assert.equal(rb.requests[0], { kind: 'blocks', hex: '00010203', from: ha.peerId });

    // The handler's own error code travels back inside P2P_REMOTE_ERROR.
    let remote: unknown;
    try {
      await ha.request(hb.peerId, 'blocks', Uint8Array.of(1));
    } catch (err) {
      remote = err;
    }
    assert.ok(remote instanceof CareLedgerError && remote.code === 'P2P_REMOTE_ERROR');
    assert.match(remote.message, /SYNC_BAD_REQUEST/);
    assert.is(await errorCode(ha.request(hb.peerId, 'blocks', Uint8Array.of(9))), 'P2P_REMOTE_ERROR');
    assert.equal(rb.errors.length, 1, 'a non-CareLedger failure in the handler is reported locally');

    // Unknown kinds: refused locally, and by the server for a kind it does not know.
    assert.is(
      await errorCode(ha.request(hb.peerId, 'records' as RequestKind, Uint8Array.of(0))),
      'P2P_UNKNOWN_REQUEST',
    );
    const stream = await ha.libp2p.dialProtocol(multiaddr(addrOf(hb)), syncProtocol(CHAIN));
    await writeFrame(stream, Uint8Array.of(0x7f, 1, 2));
    const raw = await readFrame(stream, 64);
    await stream.close();
    let unknown: unknown;
    try {
      decodeResponse(raw, hb.peerId);
    } catch (err) {
      unknown = err;
    }
    assert.ok(unknown instanceof CareLedgerError && unknown.code === 'P2P_UNKNOWN_REQUEST');

    // Sizes: over our own limit (not sent), over the server's request limit, over our response
    // limit, over the server's response limit.
    assert.is(
      await errorCode(ha.request(hb.peerId, 'blocks', new Uint8Array(65_537))),
      'P2P_REQUEST_TOO_LARGE',
    );
    assert.is(
      await errorCode(ha.request(hb.peerId, 'blocks', new Uint8Array(4096))),
      'P2P_REQUEST_TOO_LARGE',
    );
    assert.is(await errorCode(ha.request(hb.peerId, 'blocks', Uint8Array.of(2))), 'P2P_RESPONSE_TOO_LARGE');
    let tooBig: unknown;
    try {
      await ha.request(hb.peerId, 'blocks', Uint8Array.of(4));
    } catch (err) {
      tooBig = err;
    }
    assert.ok(tooBig instanceof CareLedgerError && tooBig.code === 'P2P_REMOTE_ERROR');
    assert.match(tooBig.message, /P2P_RESPONSE_TOO_LARGE/);

    // Timeouts: ours (short), then the server's handler budget (300 ms) inside a longer one of ours.
    const started = Date.now();
    assert.is(
      await errorCode(ha.request(hb.peerId, 'blocks', Uint8Array.of(3), { timeoutMs: 200 })),
      'P2P_TIMEOUT',
    );
    assert.ok(Date.now() - started < 1_500, 'the timeout fired on time');
    assert.is(
      await errorCode(ha.request(hb.peerId, 'blocks', Uint8Array.of(3), { timeoutMs: 3_000 })),
      'P2P_REMOTE_TIMEOUT',
    );
    assert.is(
      await errorCode(ha.request(hb.peerId, 'blocks', Uint8Array.of(0), { timeoutMs: 0 })),
      'P2P_INVALID_OPTIONS',
    );
    assert.is(await errorCode(ha.request('not-a-peer-id', 'blocks', Uint8Array.of(0))), 'P2P_BAD_PEER_ID');

    // After all that the connection still serves.
    const again = await ha.request(hb.peerId, 'blocks', Uint8Array.of(0, 9));
    assert.equal([...again], [9, 0]);
  } finally {
    release();
    await stopAll([a, b]);
  }
});

test('registerProtocol adds a member-only request/response protocol without touching the host', async () => {
  let a: P2PHost | undefined;
  let b: P2PHost | undefined;
  let c: P2PHost | undefined;
  try {
    a = await startHost(A, { members: MEMBERS }, recorder().handlers);
    b = await startHost(B, { members: MEMBERS, persistentPeers: [addrOf(a)] }, recorder().handlers);
    c = await startHost(C, { members: MEMBERS, persistentPeers: [addrOf(a)] }, recorder().handlers);
    const [ha, hb, hc] = [a, b, c];
    await waitFor(
      'B and C connected to A',
      () => connectionsTo(ha, hb.peerId) > 0 && connectionsTo(ha, hc.peerId) > 0,
    );
    const asked: string[] = [];
    const record = {
      name: 'record',
      version: 1,
      maxRequestBytes: 64,
      maxResponseBytes: 1024,
      handle: async (request: Uint8Array, from: string) => {
        asked.push(from);
        return Uint8Array.from(request).reverse();
      },
    };
    const atA = await ha.registerProtocol(record);
    await hb.registerProtocol(record);
    assert.is(atA.protocol, `/careledger/${CHAIN}/record/1`);
    assert.equal([...(await atA.request(hb.peerId, Uint8Array.of(1, 2, 3)))], [3, 2, 1]);
    assert.equal(asked, [ha.peerId]);
    assert.is(await errorCode(atA.request(hb.peerId, new Uint8Array(65))), 'P2P_REQUEST_TOO_LARGE');
    assert.is(await errorCode(atA.request(idOf(OUTSIDER), Uint8Array.of(1))), 'P2P_NOT_MEMBER');
    // C does not serve it: protocol negotiation fails.
    assert.is(await errorCode(atA.request(hc.peerId, Uint8Array.of(1))), 'P2P_UNREACHABLE');
    assert.is(await errorCode(ha.registerProtocol(record)), 'P2P_INVALID_OPTIONS', 'registered twice');
    assert.is(await errorCode(ha.registerProtocol({ ...record, name: 'sync' })), 'P2P_INVALID_OPTIONS');
    // The sync protocol is unaffected.
    assert.is(await ha.sendDirect(hb.peerId, 'tx', Uint8Array.of(1)), 'accept');
  } finally {
    await stopAll([c, b, a]);
  }
});

test('stop() releases every socket and the host refuses work afterwards', async () => {
  const before = await settledTcpHandles();
  let a: P2PHost | undefined;
  let b: P2PHost | undefined;
  try {
    a = await startHost(A, { members: MEMBERS }, recorder().handlers);
    b = await startHost(B, { members: MEMBERS, persistentPeers: [addrOf(a)] }, recorder().handlers);
    const [ha, hb] = [a, b];
    await waitFor(
      'B connected to A',
      () => connectionsTo(hb, ha.peerId) > 0 && connectionsTo(ha, hb.peerId) > 0,
    );
    assert.ok(tcpHandles() >= before + 4, 'two servers and two sockets are open');
  } finally {
    await stopAll([b, a]);
  }
  await waitFor('TCP handles back to where they were', () => tcpHandles() === before, 3_000);
  await a.stop(); // twice is fine
  assert.is(await errorCode(a.publish('tx', new Uint8Array(1))), 'P2P_STOPPED');
  assert.is(await errorCode(a.request(b.peerId, 'blocks', new Uint8Array(1))), 'P2P_STOPPED');
  assert.is(await errorCode(a.sendDirect(b.peerId, 'tx', new Uint8Array(1))), 'P2P_STOPPED');
});

test('a listen address in use is NODE_LISTEN_FAILED, naming the field and why, with nothing left open', async () => {
  const a = await startHost(A, { members: MEMBERS }, recorder().handlers);
  try {
    const taken = addrOf(a).replace(/\/p2p\/.*$/, '');
    const before = await settledTcpHandles();
    const err = await startHost(B, { members: MEMBERS, listen: taken }, recorder().handlers).then(
      () => null,
      (e: unknown) => e,
    );
    assert.instance(err, CareLedgerError);
    assert.is((err as CareLedgerError).code, 'NODE_LISTEN_FAILED');
    assert.is(
      (err as Error).message,
      `cannot listen on p2p.listen ${taken}: the port is already in use (another node or program listens there)`,
    );
    await waitFor('no TCP handle left by the failed start', () => tcpHandles() === before, 3_000);
  } finally {
    await a.stop();
  }
});

test('a process that starts, uses and stops hosts exits by itself', async () => {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'stop-child.ts')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('still running after 20 s: something keeps the event loop alive');
    }, 20_000);
    child.on('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode ?? 'killed');
    });
  });
  assert.is(code, 0, output);
  assert.match(output, /^delivered, stopped$/m);
});

test.run();
