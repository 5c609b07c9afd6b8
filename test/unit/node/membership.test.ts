/**
 * node/membership.ts alone: who may connect, before and after the node catches up, for an
 * application with members on chain and one without (kvstore); the gater is changed only when
 * the list changes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type MemberGate, Membership } from '../../../node/membership.ts';
import { peerIdFromNodeKey } from '../../../p2p/identity.ts';
import { recordingLogger } from './fixtures.ts';

const id = (n: number) => peerIdFromNodeKey(new Uint8Array(32).fill(n));
const [self, member, other, configured] = [id(1), id(2), id(3), id(4)];
const addr = (peer: string) => `/ip4/127.0.0.1/tcp/26656/p2p/${peer}`;

function gate(initial: string[]): MemberGate & { sets: string[][] } {
  let members = initial;
  const sets: string[][] = [];
  return {
    sets,
    members: () => members,
    setMembers: async (ids) => {
      members = [...ids];
      sets.push(members);
    },
  };
}

test('while catching up, configured peers are admitted besides the on-chain members (not ourselves)', async () => {
  let onChain = [self, member];
  const membership = new Membership(
    { peerId: self, persistentPeers: [addr(configured)] },
    { app: { allowedPeers: async () => onChain }, log: recordingLogger() },
  );
  assert.ok(membership.isCatchingUp);
  assert.equal(await membership.admitted(), [member, configured]);
  const g = gate([member, configured]);
  await membership.caughtUp(g, 7n);
  assert.not.ok(membership.isCatchingUp);
  assert.equal(g.sets, [[member]], 'caught up: the configured peer goes');
  onChain = [self, member, other];
  await membership.follow(g);
  assert.equal(g.sets, [[member], [member, other]], 'a member added on chain');
  await membership.follow(g);
  assert.is(g.sets.length, 2, 'no change, no call');
});

test('without membership (kvstore), the configured peers are admitted and follow changes nothing', async () => {
  const membership = new Membership(
    { peerId: self, persistentPeers: [addr(configured), addr(other)] },
    { app: {}, log: recordingLogger() },
  );
  assert.equal(await membership.admitted(), [configured, other]);
  const g = gate([configured]);
  await membership.caughtUp(g, 1n);
  assert.equal(await membership.admitted(), [configured, other]);
  assert.equal(g.sets, []);
});

test('a configured peer that is no member on chain is warned about', async () => {
  const log = recordingLogger();
  const membership = new Membership(
    { peerId: self, persistentPeers: [addr(member), addr(configured)] },
    { app: { allowedPeers: async () => [member] }, log },
  );
  await membership.warnUnlistedPeers();
  assert.equal(
    log.lines.map((l) => [l.level, l.fields?.addr]),
    [['warn', addr(configured)]],
  );
});

test.run();
