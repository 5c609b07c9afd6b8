/**
 * p2p/gater.ts: only members pass any gate (dial by id or address, inbound and outbound after
 * the handshake and after upgrade, peer store addresses); relays are refused; `setMembers`
 * replaces the set, reports who left, and refuses ids that are not peer ids.
 */
import type { MultiaddrConnection } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemberGater } from '../../../p2p/gater.ts';
import { hasCode } from '../../../packages/core/errors.ts';
import { idOf } from './helpers.ts';

const member = peerIdFromString(idOf(1));
const outsider = peerIdFromString(idOf(9));
const conn = {} as MultiaddrConnection;

test('members pass every gate, others none', async () => {
  const { gater } = createMemberGater([idOf(1), idOf(2)]);
  const checks = async (peer: typeof member) => [
    await gater.denyDialPeer!(peer),
    await gater.denyDialMultiaddr!(multiaddr(`/ip4/10.0.0.1/tcp/26656/p2p/${peer.toString()}`)),
    await gater.denyOutboundConnection!(peer, conn),
    await gater.denyInboundEncryptedConnection!(peer, conn),
    await gater.denyOutboundEncryptedConnection!(peer, conn),
    await gater.denyInboundUpgradedConnection!(peer, conn),
    await gater.denyOutboundUpgradedConnection!(peer, conn),
    !(await gater.filterMultiaddrForPeer!(peer, multiaddr('/ip4/10.0.0.1/tcp/26656'))),
  ];
  assert.equal(await checks(member), [false, false, false, false, false, false, false, false]);
  assert.equal(await checks(outsider), [true, true, true, true, true, true, true, true]);
  // Before the handshake the peer is unknown: an address without /p2p/ may be dialled, and the
  // encrypted check decides.
  assert.is(await gater.denyDialMultiaddr!(multiaddr('/ip4/10.0.0.1/tcp/26656')), false);
  assert.is(await gater.denyInboundConnection!(conn), false);
  assert.is(await gater.denyInboundRelayReservation!(member), true);
  assert.is(await gater.denyOutboundRelayedConnection!(member, member), true);
  assert.is(await gater.denyInboundRelayedConnection!(member, member), true);
});

test('setMembers replaces the set and reports who left', async () => {
  const gate = createMemberGater([idOf(1), idOf(2)]);
  assert.equal(gate.setMembers([idOf(2), idOf(9)]), [idOf(1)]);
  assert.ok(gate.isMember(idOf(9)) && gate.isMember(idOf(2)));
  assert.not.ok(gate.isMember(idOf(1)));
  assert.is(await gate.gater.denyDialPeer!(member), true);
  assert.is(await gate.gater.denyDialPeer!(outsider), false);
  assert.equal(gate.members().sort(), [idOf(2), idOf(9)].sort());
  try {
    gate.setMembers([idOf(1), 'garbage']);
    assert.unreachable('accepted a bad id');
  } catch (err) {
    assert.ok(hasCode(err, 'P2P_BAD_PEER_ID'), String(err));
  }
  assert.ok(gate.isMember(idOf(9)), 'a refused update changes nothing');
});

test.run();
