/**
 * HealthApp governance: proposals pass with more than 2/3 of the active members' votes before
 * their deadline; members are added, removed, re-roled and re-keyed; validator changes come out of
 * finalizeBlock as validator updates; parameters change; every rejection path has its code.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeIdList,
  decodeMember,
  decodeParams,
  decodeValidators,
} from '../../../../packages/health/model.ts';
import { idQueryData } from '../../../../packages/health/query.ts';
import type { HealthTx } from '../../../../packages/health/tx.ts';
import { anchorTx, Harness, keyOf, MEMBERS, member, patient, registerTx, validatorKey } from './fixtures.ts';

const hospital = member('city-hospital');
const clinic = member('north-clinic');
const lab = member('acme-lab');
const insurer = member('good-insurance');
const research = member('uni-research');
const newcomer = keyOf('member/metro-lab');

/** Seventeen members: sixteen can fill the 64 open proposal slots, four each. */
const GOVERNORS = [
  ...MEMBERS,
  ...Array.from({ length: 12 }, (_, i) => ({ id: `member-${i + 1}`, roles: ['provider' as const] })),
];

async function gov(fn: (h: Harness) => Promise<void>, members = MEMBERS): Promise<void> {
  const h = await Harness.create(members);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

const propose = (
  h: Harness,
  action: Extract<HealthTx, { type: 'gov.propose' }>['action'],
  ahead = 100n,
): HealthTx => ({
  type: 'gov.propose',
  action,
  deadline: h.height + 1n + ahead,
});
const voteTx = (proposal: string, approve = true): HealthTx => ({ type: 'gov.vote', proposal, approve });

test('a proposal passes with more than 2/3 of the members (4 of 5) and is carried out', () =>
  gov(async (h) => {
    const add = {
      kind: 'member.add',
      member: 'metro-lab',
      pubKey: newcomer.publicKey,
      roles: ['lab'],
    } as const;
    const g = await h.ok(hospital, propose(h, add));
    assert.is((await h.proposalOf(g)).status, 'open');
    assert.equal(decodeIdList((await h.proven('/health/open-proposals', new Uint8Array(0)))!), [g]);
    await h.ok(clinic, voteTx(g));
    await h.fails(clinic, voteTx(g), 'GOV_ALREADY_VOTED');
    await h.fails(alicePatient(), voteTx(g), 'HEALTH_UNAUTHORIZED');
    await h.fails(newcomer, registerTx(patient('z'), 'metro-lab'), 'HEALTH_UNAUTHORIZED');
    await h.ok(lab, voteTx(g)); // 3 of 5: not yet
    assert.is((await h.proposalOf(g)).status, 'open');
    await h.ok(insurer, voteTx(g)); // 4 of 5 > 2/3
    const p = await h.proposalOf(g);
    assert.is(p.status, 'passed');
    assert.is(p.closedAt, h.height);
    assert.ok(h.lastResult!.txResults[0]!.events.some((e) => e.type === 'health.gov.passed'));
    assert.equal(decodeMember((await h.proven('/health/member', idQueryData('metro-lab')))!).roles, ['lab']);
    assert.is(decodeIdList((await h.proven('/health/members', new Uint8Array(0)))!).length, 6);
    await h.fails(research, voteTx(g), 'GOV_PROPOSAL_CLOSED');
    await h.ok(newcomer, registerTx(patient('z'), 'metro-lab'));
  }));

test('a proposal is rejected once 2/3 can no longer be reached, and expires after its deadline', () =>
  gov(async (h) => {
    const g = await h.ok(
      hospital,
      propose(h, { kind: 'params.set', name: 'break_glass_window_ms', value: 3_600_000n }),
    );
    await h.ok(clinic, voteTx(g, false));
    await h.ok(lab, voteTx(g, false)); // yes can be at most 3 of 5: rejected
    assert.is((await h.proposalOf(g)).status, 'rejected');
    const g2 = await h.ok(
      hospital,
      propose(h, { kind: 'params.set', name: 'break_glass_window_ms', value: 3_600_000n }, 2n),
    );
    await h.ok(clinic, voteTx(g2));
    await h.block([]);
    await h.block([]); // the deadline height passes with no further vote
    assert.is((await h.proposalOf(g2)).status, 'expired');
    assert.ok(h.lastResult!.events.some((e) => e.type === 'health.gov.expired'));
    await h.fails(lab, voteTx(g2), 'GOV_PROPOSAL_CLOSED');
    await h.fails(lab, voteTx(`g${'0'.repeat(32)}`), 'GOV_PROPOSAL_NOT_FOUND');
    assert.equal(
      decodeIdList((await h.proven('/health/open-proposals', new Uint8Array(0))) ?? new Uint8Array([0x90])),
      [],
    );
  }));

test('proposals are checked when made: deadline, limits and the action itself', () =>
  gov(async (h) => {
    const ok = { kind: 'params.set', name: 'proposal_max_blocks', value: 50n } as const;
    await h.fails(hospital, { type: 'gov.propose', action: ok, deadline: h.height }, 'GOV_DEADLINE_INVALID');
    await h.fails(
      hospital,
      { type: 'gov.propose', action: ok, deadline: h.height + 200_000n },
      'GOV_DEADLINE_INVALID',
    );
    await h.fails(
      hospital,
      propose(h, { kind: 'member.add', member: 'acme-lab', pubKey: newcomer.publicKey, roles: ['lab'] }),
      'MEMBER_EXISTS',
    );
    await h.fails(
      hospital,
      propose(h, { kind: 'member.add', member: 'metro-lab', pubKey: lab.publicKey, roles: ['lab'] }),
      'HEALTH_KEY_IN_USE',
    );
    await h.fails(hospital, propose(h, { kind: 'member.remove', member: 'no-such' }), 'MEMBER_NOT_FOUND');
    await h.fails(
      hospital,
      propose(h, { kind: 'validator.set', pubKey: keyOf('x').publicKey, power: 0n }),
      'GOV_ACTION_INVALID',
    );
    await h.fails(patientKey(), propose(h, ok), 'HEALTH_UNAUTHORIZED');
    // At most 4 open proposals per member, so one member cannot fill the 64 open slots.
    const own = await h.block(
      [0, 1, 2, 3, 4].map((i) =>
        h.tx(hospital, {
          type: 'gov.propose',
          action: { ...ok, value: 20n + BigInt(i) },
          deadline: h.height + 50n,
        }),
      ),
    );
    assert.equal(
      own.map((r) => r.codespace),
      ['', '', '', '', 'GOV_LIMIT'],
    );
    assert.match(own[4]!.log, /a member has at most 4 open proposals/);
  }));

test('at most 64 open proposals: sixteen members at four each fill them', () =>
  gov(async (h) => {
    const proposers = GOVERNORS.map((m) => m.id);
    const many = proposers.flatMap((id, j) =>
      [0, 1, 2, 3].map((i) =>
        h.tx(member(id), {
          type: 'gov.propose',
          action: { kind: 'params.set', name: 'proposal_max_blocks', value: 60n + BigInt(4 * j + i) },
          deadline: h.height + 50n,
        }),
      ),
    );
    const results = await h.block(many);
    assert.is(results.filter((r) => r.code === 0).length, 64);
    for (const r of results.slice(64)) assert.match(r.log, /at most 64 open proposals/);
  }, GOVERNORS));

test('validator changes come out of finalizeBlock as validator updates', () =>
  gov(async (h) => {
    const v = keyOf('validator/new');
    const g = await h.ok(hospital, propose(h, { kind: 'validator.set', pubKey: v.publicKey, power: 5n }));
    await h.ok(clinic, voteTx(g));
    await h.ok(lab, voteTx(g));
    assert.equal(h.lastResult!.validatorUpdates, []);
    const [r] = await h.block([h.tx(insurer, voteTx(g))]);
    assert.is(r!.codespace, '');
    assert.equal(h.lastResult!.validatorUpdates, [{ pubKey: v.publicKey, power: 5n }]);
    const set = decodeValidators((await h.proven('/health/validators', new Uint8Array(0)))!);
    assert.is(set.length, 5);
    // Remove a genesis validator: power 0.
    const g2 = await h.ok(
      hospital,
      propose(h, { kind: 'validator.set', pubKey: validatorKey(0).publicKey, power: 0n }),
    );
    const votes = await h.block([h.tx(clinic, voteTx(g2)), h.tx(lab, voteTx(g2)), h.tx(insurer, voteTx(g2))]);
    assert.ok(votes.every((x) => x.code === 0));
    assert.equal(h.lastResult!.validatorUpdates, [{ pubKey: validatorKey(0).publicKey, power: 0n }]);
    assert.is(decodeValidators((await h.proven('/health/validators', new Uint8Array(0)))!).length, 4);
  }));

test('members are removed, re-roled and re-keyed; a passed action that became impossible fails cleanly', () =>
  gov(async (h) => {
    let voters = [clinic, lab, insurer];
    const pass = async (action: Extract<HealthTx, { type: 'gov.propose' }>['action']) => {
      const g = await h.ok(hospital, propose(h, action));
      await h.block(voters.map((v) => h.tx(v, voteTx(g))));
      return h.proposalOf(g);
    };
    assert.is(
      (await pass({ kind: 'member.roles', member: 'acme-lab', roles: ['lab', 'research'] })).status,
      'passed',
    );
    assert.equal(decodeMember((await h.proven('/health/member', idQueryData('acme-lab')))!).roles, [
      'lab',
      'research',
    ]);
    const rekeyed = keyOf('member/acme-lab/2');
    assert.is(
      (await pass({ kind: 'member.rekey', member: 'acme-lab', pubKey: rekeyed.publicKey })).status,
      'passed',
    );
    voters = [clinic, rekeyed, insurer];
    await h.block([h.tx(hospital, registerTx(patient('pp'), 'city-hospital'))]);
    await h.fails(lab, anchorTx(patient('pp'), 'x'), 'HEALTH_UNAUTHORIZED');
    await h.ok(rekeyed, anchorTx(patient('pp'), 'x'));
    assert.is((await pass({ kind: 'member.remove', member: 'uni-research' })).status, 'passed');
    await h.fails(research, registerTx(patient('q'), 'uni-research'), 'HEALTH_UNAUTHORIZED');
    const removed = decodeMember((await h.proven('/health/member', idQueryData('uni-research')))!);
    assert.not.ok(removed.active);
    // Now 4 members: 3 votes are needed (3/4 > 2/3), the proposer's and two more.
    assert.is(
      (await pass({ kind: 'params.set', name: 'request_max_ttl_ms', value: 7_200_000n })).status,
      'passed',
    );
    assert.is(
      decodeParams((await h.proven('/health/params', new Uint8Array(0)))!).requestMaxTtlMs,
      7_200_000n,
    );
    // Two proposals adding one id: the second passes but cannot be carried out.
    const add = (key: string) =>
      ({ kind: 'member.add', member: 'metro-lab', pubKey: keyOf(key).publicKey, roles: ['lab'] }) as const;
    const g1 = await h.ok(hospital, propose(h, add('a')));
    const g2 = await h.ok(hospital, propose(h, add('b')));
    await h.block([
      h.tx(clinic, voteTx(g1)),
      h.tx(rekeyed, voteTx(g1)),
      h.tx(clinic, voteTx(g2)),
      h.tx(rekeyed, voteTx(g2)),
      // metro-lab joined with g1: 5 members now, so g2 needs a fourth vote.
      h.tx(insurer, voteTx(g2)),
    ]);
    assert.is((await h.proposalOf(g1)).status, 'passed');
    const failed = await h.proposalOf(g2);
    assert.is(failed.status, 'failed');
    assert.is(failed.failure, 'MEMBER_EXISTS');
  }));

test('the last member cannot be removed', async () => {
  const h = await Harness.create([{ id: 'solo-hospital', roles: ['provider'] }]);
  try {
    const solo = member('solo-hospital');
    // One member: its own proposal passes at once (1 of 1 > 2/3), but the action cannot be done.
    await h.fails(solo, propose(h, { kind: 'member.remove', member: 'solo-hospital' }), 'MEMBER_LAST');
    const g = await h.ok(solo, propose(h, { kind: 'params.set', name: 'proposal_max_blocks', value: 10n }));
    assert.is((await h.proposalOf(g)).status, 'passed');
  } finally {
    await h.close();
  }
});

function alicePatient() {
  return patient('alice').key;
}

function patientKey() {
  return patient('anyone').key;
}

test.run();
