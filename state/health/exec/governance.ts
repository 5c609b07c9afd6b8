/**
 * Governance: proposals, votes, the tally over current members, the actions a passed proposal
 * carries out (each in its own layer), and expiry of proposals past their deadline.
 */
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { equalBytes } from '../../../packages/crypto/hash.ts';
import { healthError } from '../../../packages/health/errors.ts';
import { derivedId } from '../../../packages/health/ids.ts';
import { stateKey } from '../../../packages/health/keys.ts';
import {
  decodeValidators,
  encodeBinding,
  encodeParams,
  encodeValidators,
  type GovAction,
  MAX_MEMBERS,
  MAX_OPEN_PROPOSALS,
  PARAM_NAMES,
  type Proposal,
  unreachable,
} from '../../../packages/health/model.ts';
import { compareStrings } from '../../../packages/health/provision.ts';
import { MAX_TOTAL_VOTING_POWER, MAX_VALIDATORS } from '../../../packages/types/validator.ts';
import type { TxContext } from '../context.ts';
import { countMatching, type Tx } from './common.ts';

/** Open governance proposals of one member. */
export const MAX_OPEN_PROPOSALS_PER_MEMBER = 4;

/** Carries out a governance action. Throws (with a code) if it cannot be done in this state. */
async function applyAction(ctx: TxContext, action: GovAction): Promise<void> {
  switch (action.kind) {
    case 'member.add': {
      if ((await ctx.member(action.member)) !== null)
        throw healthError('MEMBER_EXISTS', `member id ${action.member} is taken`);
      if ((await ctx.get(stateKey.key(action.pubKey))) !== null)
        throw healthError('HEALTH_KEY_IN_USE', 'the key is already bound to a member or a patient');
      const ids = await ctx.memberIds();
      if (ids.length >= MAX_MEMBERS) throw healthError('HEALTH_LIMIT', `at most ${MAX_MEMBERS} members`);
      ctx.putMember({
        id: action.member,
        pubKey: action.pubKey,
        roles: action.roles,
        active: true,
        joinedAt: ctx.height,
        leftAt: null,
        nodes: [],
        recordKey: null,
      });
      ctx.put(stateKey.key(action.pubKey), encodeBinding({ kind: 'member', id: action.member }));
      ctx.putIdList(stateKey.members(), [...ids, action.member].sort(compareStrings));
      return;
    }
    case 'member.remove': {
      const member = await activeMember(ctx, action.member);
      const ids = await ctx.memberIds();
      if (ids.length <= 1) throw healthError('MEMBER_LAST', 'the last member cannot be removed');
      ctx.putMember({ ...member, active: false, leftAt: ctx.height });
      ctx.putIdList(
        stateKey.members(),
        ids.filter((id) => id !== member.id),
      );
      return;
    }
    case 'member.roles': {
      const member = await activeMember(ctx, action.member);
      ctx.putMember({ ...member, roles: action.roles });
      return;
    }
    case 'member.rekey': {
      const member = await activeMember(ctx, action.member);
      if ((await ctx.get(stateKey.key(action.pubKey))) !== null)
        throw healthError('HEALTH_KEY_IN_USE', 'the key is already bound to a member or a patient');
      ctx.putMember({ ...member, pubKey: action.pubKey });
      ctx.put(stateKey.key(action.pubKey), encodeBinding({ kind: 'member', id: member.id }));
      return;
    }
    case 'member.nodes': {
      const member = await activeMember(ctx, action.member);
      // One node, one institution: the gater and the audit of who connected stay unambiguous.
      for (const id of await ctx.memberIds()) {
        if (id === member.id) continue;
        const other = await ctx.member(id);
        const shared = other?.nodes.find((node) => action.nodes.includes(node));
        if (shared !== undefined)
          throw healthError('MEMBER_NODE_IN_USE', `node ${shared} is already a node of member ${id}`);
      }
      ctx.putMember({ ...member, nodes: action.nodes });
      return;
    }
    case 'member.record-key': {
      const member = await activeMember(ctx, action.member);
      ctx.putMember({ ...member, recordKey: action.recordKey });
      return;
    }
    case 'validator.set': {
      const bytes = await ctx.get(stateKey.validators());
      const current = bytes === null ? [] : decodeValidators(bytes);
      const others = current.filter((v) => !equalBytes(v.pubKey, action.pubKey));
      if (action.power === 0n && others.length === current.length)
        throw healthError('GOV_ACTION_INVALID', 'cannot remove a key that is not a validator');
      const next = action.power === 0n ? others : [...others, { pubKey: action.pubKey, power: action.power }];
      if (next.length === 0) throw healthError('GOV_ACTION_INVALID', 'the last validator cannot be removed');
      if (next.length > MAX_VALIDATORS)
        throw healthError('HEALTH_LIMIT', `at most ${MAX_VALIDATORS} validators`);
      if (next.reduce((sum, v) => sum + v.power, 0n) > MAX_TOTAL_VOTING_POWER)
        throw healthError('GOV_ACTION_INVALID', 'total voting power too large');
      next.sort((a, b) => Buffer.compare(a.pubKey, b.pubKey));
      ctx.put(stateKey.validators(), encodeValidators(next));
      ctx.validatorUpdates.push({ pubKey: action.pubKey, power: action.power });
      return;
    }
    case 'params.set': {
      const params = await ctx.params();
      ctx.putParams(encodeParams({ ...params, [PARAM_NAMES[action.name]]: action.value }));
      return;
    }
    default:
      unreachable(action);
  }
}

async function activeMember(ctx: TxContext, id: string) {
  const member = await ctx.member(id);
  if (member === null || !member.active)
    throw healthError('MEMBER_NOT_FOUND', `${id} is not an active member`);
  return member;
}

/** Runs `fn` in a layer of its own: kept if it succeeds, dropped (with its validator updates) if it throws. */
async function isolated(ctx: TxContext, fn: () => Promise<void>, keep: boolean): Promise<void> {
  const saved = ctx.state;
  const updates = ctx.validatorUpdates;
  ctx.state = saved.child();
  ctx.validatorUpdates = [...updates];
  try {
    await fn();
    if (keep) {
      saved.absorb(ctx.state);
      return;
    }
    ctx.validatorUpdates = updates;
  } catch (err) {
    ctx.validatorUpdates = updates;
    throw err;
  } finally {
    ctx.state = saved;
  }
}

export async function propose(ctx: TxContext, tx: Tx<'gov.propose'>): Promise<string> {
  const member = await ctx.signerMember();
  const { proposalMaxBlocks } = await ctx.params();
  if (tx.deadline < ctx.height || tx.deadline > ctx.height + proposalMaxBlocks)
    throw healthError(
      'GOV_DEADLINE_INVALID',
      `the deadline is a height from now to ${proposalMaxBlocks} blocks ahead`,
    );
  const open = await ctx.idList(stateKey.openProposals());
  if (open.length >= MAX_OPEN_PROPOSALS)
    throw healthError('GOV_LIMIT', `at most ${MAX_OPEN_PROPOSALS} open proposals`);
  // So that one member cannot fill the open slots and block every vote, its own removal included.
  if (
    (await countMatching(
      open,
      (id) => ctx.proposal(id),
      (p) => p.proposer === member.id,
    )) >= MAX_OPEN_PROPOSALS_PER_MEMBER
  )
    throw healthError('GOV_LIMIT', `a member has at most ${MAX_OPEN_PROPOSALS_PER_MEMBER} open proposals`);
  // Refuse now what could not be carried out now (the check runs again when it passes).
  await isolated(ctx, () => applyAction(ctx, tx.action), false);
  const proposal: Proposal = {
    id: derivedId('proposal', ctx.txHash),
    proposer: member.id,
    action: tx.action,
    deadline: tx.deadline,
    createdAt: ctx.height,
    votes: [{ member: member.id, approve: true }],
    status: 'open',
    closedAt: null,
    failure: null,
  };
  ctx.putIdList(stateKey.openProposals(), [...open, proposal.id]);
  const deadlineIds = await ctx.idList(stateKey.deadline(tx.deadline));
  ctx.putIdList(stateKey.deadline(tx.deadline), [...deadlineIds, proposal.id]);
  ctx.emit('gov.proposed', { proposal: proposal.id, member: member.id, action: tx.action.kind });
  await tally(ctx, proposal);
  return proposal.id;
}

export async function vote(ctx: TxContext, tx: Tx<'gov.vote'>): Promise<string> {
  const member = await ctx.signerMember();
  const proposal = await ctx.needProposal(tx.proposal);
  if (proposal.status !== 'open' || ctx.height > proposal.deadline)
    throw healthError('GOV_PROPOSAL_CLOSED', `proposal ${proposal.id} is ${proposal.status}`);
  if (proposal.votes.some((v) => v.member === member.id))
    throw healthError('GOV_ALREADY_VOTED', `${member.id} has voted on ${proposal.id}`);
  ctx.emit('gov.voted', { proposal: proposal.id, member: member.id, approve: String(tx.approve) });
  await tally(ctx, { ...proposal, votes: [...proposal.votes, { member: member.id, approve: tx.approve }] });
  return proposal.id;
}

/**
 * Counts the votes of current members: more than 2/3 of them in favour passes (and carries out
 * the action); when that can no longer happen, the proposal is rejected. Writes the proposal.
 */
async function tally(ctx: TxContext, proposal: Proposal): Promise<void> {
  const members = new Set(await ctx.memberIds());
  const n = BigInt(members.size);
  const counted = proposal.votes.filter((v) => members.has(v.member));
  const yes = BigInt(counted.filter((v) => v.approve).length);
  const no = BigInt(counted.length) - yes;
  let next = proposal;
  if (3n * yes > 2n * n) {
    let failure: string | null = null;
    try {
      await isolated(ctx, () => applyAction(ctx, proposal.action), true);
    } catch (err) {
      if (!(err instanceof CareLedgerError)) throw err;
      failure = err.code;
    }
    next = { ...proposal, status: failure === null ? 'passed' : 'failed', closedAt: ctx.height, failure };
  } else if (3n * (n - no) <= 2n * n) {
    next = { ...proposal, status: 'rejected', closedAt: ctx.height };
  }
  ctx.putProposal(next);
  if (next.status !== 'open') {
    await closeProposal(ctx, next.id);
    ctx.emit(`gov.${next.status}`, {
      proposal: next.id,
      action: next.action.kind,
      ...(next.failure === null ? {} : { failure: next.failure }),
    });
  }
}

async function closeProposal(ctx: TxContext, id: string): Promise<void> {
  const open = await ctx.idList(stateKey.openProposals());
  ctx.putIdList(
    stateKey.openProposals(),
    open.filter((x) => x !== id),
  );
}

/** Closes an open proposal whose deadline has passed (called at the start of a block). */
export async function expireProposal(ctx: TxContext, id: string): Promise<boolean> {
  const proposal = await ctx.proposal(id);
  if (proposal === null || proposal.status !== 'open' || ctx.height <= proposal.deadline) return false;
  ctx.putProposal({ ...proposal, status: 'expired', closedAt: ctx.height });
  await closeProposal(ctx, id);
  ctx.emit('gov.expired', { proposal: id, action: proposal.action.kind });
  return true;
}
