/**
 * Membership on chain is membership of the network: genesis members carry their nodes' peer ids
 * (`node_ids`), governance replaces them (`member.nodes`), and `allowedPeers()` — what the node's
 * connection gater follows after each commit — lists exactly the nodes of active members.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { peerIdFromNodeKey } from '../../../../p2p/identity.ts';
import { CareLedgerError } from '../../../../packages/core/errors.ts';
import { sha256 } from '../../../../packages/crypto/hash.ts';
import { healthAppStateToJson, parseHealthAppState } from '../../../../packages/health/genesis.ts';
import { decodeMember, defaultParams, govActionFromFields } from '../../../../packages/health/model.ts';
import { idQueryData } from '../../../../packages/health/query.ts';
import type { HealthTx } from '../../../../packages/health/tx.ts';
import { Harness, member } from './fixtures.ts';

const node = (label: string): string => peerIdFromNodeKey(sha256(Buffer.from(`node/${label}`)));
const hospital = member('city-hospital');
const voters = ['north-clinic', 'acme-lab', 'good-insurance'].map(member);

async function withHarness(fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await Harness.create();
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/** Proposes `action` as the hospital and passes it with three more yes votes (4 of 5). */
async function pass(h: Harness, action: Extract<HealthTx, { type: 'gov.propose' }>['action']): Promise<void> {
  const g = await h.ok(hospital, { type: 'gov.propose', action, deadline: h.height + 100n });
  for (const key of voters) await h.ok(key, { type: 'gov.vote', proposal: g, approve: true });
  assert.is((await h.proposalOf(g)).status, 'passed');
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof CareLedgerError ? err.code : 'not a CareLedgerError';
  }
  return 'no error';
}

test('genesis node_ids: parsed sorted, written back, and refused when malformed or shared', () => {
  const [a, b] = [node('a'), node('b')].sort();
  const raw = {
    members: [
      {
        id: 'city-hospital',
        pub_key: Buffer.from(hospital.publicKey).toString('base64'),
        roles: ['provider'],
      },
      {
        id: 'acme-lab',
        pub_key: Buffer.from(member('acme-lab').publicKey).toString('base64'),
        roles: ['lab'],
        node_ids: [b, a],
      },
    ],
  };
  const state = parseHealthAppState(raw);
  assert.equal(state.members[0]!.nodes, []);
  assert.equal(state.members[1]!.nodes, [a, b]);
  assert.equal(parseHealthAppState(healthAppStateToJson(state)), state);
  const withNodes = (nodes: unknown[], other: unknown[] = []) => ({
    members: [
      { ...raw.members[0], node_ids: other },
      { ...raw.members[1], node_ids: nodes },
    ],
    params: healthAppStateToJson({ members: [], params: defaultParams }) as never,
  });
  assert.is(
    codeOf(() => parseHealthAppState(withNodes(['not-a-peer-id']))),
    'HEALTH_GENESIS_INVALID',
  );
  assert.is(
    codeOf(() => parseHealthAppState(withNodes([a], [a]))),
    'HEALTH_GENESIS_INVALID',
  );
  assert.is(
    codeOf(() => parseHealthAppState(withNodes([node('1'), node('2'), node('3'), node('4'), node('5')]))),
    'HEALTH_GENESIS_INVALID',
  );
  assert.is(
    codeOf(() => parseHealthAppState({ members: [{ ...raw.members[1], node_ids: 'x' }] })),
    'HEALTH_GENESIS_INVALID',
  );
});

test('member.nodes: strict encoding (sorted, unique, peer ids, at most 4)', () => {
  const [a, b] = [node('a'), node('b')].sort() as [string, string];
  assert.equal(govActionFromFields(['member.nodes', 'acme-lab', [a, b]], 'action'), {
    kind: 'member.nodes',
    member: 'acme-lab',
    nodes: [a, b],
  });
  const refused = (nodes: unknown[]) =>
    codeOf(() => govActionFromFields(['member.nodes', 'acme-lab', nodes] as never, 'action'));
  assert.is(refused([b, a]), 'HEALTH_PAYLOAD_INVALID');
  assert.is(refused([a, a]), 'HEALTH_PAYLOAD_INVALID');
  assert.is(refused(['12D3KooWshort']), 'HEALTH_ID_INVALID');
  // The list bound is the schema layer's, before any entry is read.
  assert.is(refused([node('1'), node('2'), node('3'), node('4'), node('5')].sort()), 'CODEC_SCHEMA');
});

test('allowedPeers follows governance: nodes set, moved, refused when shared, dropped on removal', () =>
  withHarness(async (h) => {
    assert.equal(await h.app.allowedPeers(), [], 'the test genesis lists no nodes');
    const [labNode, hospitalNode] = [node('lab'), node('hospital')];
    await pass(h, { kind: 'member.nodes', member: 'acme-lab', nodes: [labNode] });
    assert.equal(await h.app.allowedPeers(), [labNode]);
    assert.equal(decodeMember((await h.proven('/health/member', idQueryData('acme-lab')))!).nodes, [labNode]);

    // Another member cannot claim the lab's node: the proposal fails with the code at once.
    await h.fails(
      hospital,
      {
        type: 'gov.propose',
        action: { kind: 'member.nodes', member: 'city-hospital', nodes: [labNode] },
        deadline: h.height + 100n,
      },
      'MEMBER_NODE_IN_USE',
    );
    await pass(h, { kind: 'member.nodes', member: 'city-hospital', nodes: [hospitalNode] });
    assert.equal(await h.app.allowedPeers(), [labNode, hospitalNode].sort());

    // A removed member's nodes are no longer admitted.
    await pass(h, { kind: 'member.remove', member: 'acme-lab' });
    assert.equal(await h.app.allowedPeers(), [hospitalNode]);
    // An unknown member cannot be given nodes.
    await h.fails(
      hospital,
      {
        type: 'gov.propose',
        action: { kind: 'member.nodes', member: 'acme-lab', nodes: [labNode] },
        deadline: h.height + 100n,
      },
      'MEMBER_NOT_FOUND',
    );
  }));

test.run();
