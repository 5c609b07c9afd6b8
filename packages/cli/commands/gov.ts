/**
 * `careledger gov`: the consortium's governance. A member proposes an action (members, their
 * nodes, validators, parameters) with a deadline; members vote; a proposal passes with more than
 * 2/3 of the active members' yes votes. Proposals are shown with their tally and listed.
 */
import { ROLES } from '../../health/codes.ts';
import { PARAM_BOUNDS, PARAM_NAMES } from '../../health/model.ts';
import { argsError, idArg } from '../args.ts';
import { type Group, idOption } from '../command.ts';
import { found, listed, receipt, shown } from '../output.ts';
import {
  actionText,
  deadlineArg,
  GOV_ACTIONS,
  govAction,
  PARAMS,
  statusAfter,
  tallyOf,
} from './gov-action.ts';

const PASS_RULE =
  "A proposal passes when more than 2/3 of the active members have voted yes (4 of 5, 5 of 6, 7 of 10)\nat or before its deadline height; its action is then carried out in that block. The proposer's\nvote is a yes. It is rejected as soon as that can no longer happen, and expires after the deadline.";

export const gov: Group = {
  propose: {
    summary: 'propose a consortium change: members, validators, parameters (signed by a member)',
    description: `Proposes a governance action, signed by an active member. The action is checked now and refused
if it could not be carried out. Prints the proposal id: send it to the other members for gov vote.
${PASS_RULE}

Actions and their flags:
  member.add     --member ID, --member-key FILE or --member-pubkey KEY, --roles LIST
                 admit an institution; its key then signs as that member
  member.remove  --member ID
  member.roles   --member ID --roles LIST        replace the member's roles
  member.rekey   --member ID, --member-key FILE or --member-pubkey KEY
  member.nodes   --member ID --node-ids LIST     the peer ids of the member's nodes (from
                 careledger show-node-id; --node-ids '' for none); the nodes admit exactly the
                 active members' nodes, so this is how a new institution's node joins the network
  member.record-key --member ID --record-key KEY|none   the member's X25519 record-encryption
                 public key (records are wrapped to it), for a member that lost its own key
  validator.set  --validator-pubkey KEY --power N   add a validator or set its power; 0 removes it
  params.set     --param NAME --value N
Roles: ${ROLES.join(', ')}.
A key is base64 (as genesis.json and careledger show-validator print it) or hex (as careledger keys
show prints it). Parameters, and their bounds:
${PARAMS.map((n) => `  ${n.padEnd(23)}${PARAM_BOUNDS[PARAM_NAMES[n]].join(' to ')}`).join('\n')}`,
    needs: 'signer',
    options: {
      action: { arg: 'KIND', help: GOV_ACTIONS.join(', '), required: true },
      deadline: {
        arg: 'HEIGHT|+BLOCKS',
        help: 'the last height votes count at, or blocks after the latest',
        required: true,
      },
      member: { arg: 'ID', help: 'the member id (member.*)' },
      'member-key': {
        arg: 'FILE',
        help: "the member's key file, if this machine holds it (only its public key is read; else --member-pubkey)",
      },
      'member-pubkey': { arg: 'KEY', help: "or the member's public key, in base64 or hex" },
      roles: { arg: 'LIST', help: `the member's roles: ${ROLES.join(', ')}` },
      'node-ids': {
        arg: 'LIST',
        help: "the peer ids of the member's nodes, '' for none (required for member.nodes)",
      },
      'record-key': {
        arg: 'KEY|none',
        help: "the member's X25519 record public key in base64 or hex, or none (member.record-key)",
      },
      'validator-pubkey': { arg: 'KEY', help: "the validator's public key, in base64 or hex" },
      power: { arg: 'N', help: 'the voting power (0 removes the validator)' },
      param: { arg: 'NAME', help: PARAMS.join(', ') },
      value: { arg: 'N', help: "the parameter's new value" },
    },
    async run({ v, client }) {
      const action = govAction(v);
      const r = await client.propose(action, await deadlineArg(v, client));
      return receipt(r, { action: actionText(action), ...statusAfter(r) });
    },
  },
  vote: {
    summary: 'vote yes or no on an open proposal (signed by a member)',
    description: `Votes --yes or --no on an open proposal, as an active member; each member votes once.
${PASS_RULE}
Prints the proposal's status after this vote.`,
    needs: 'signer',
    options: {
      ...idOption('proposal'),
      yes: { help: 'vote for the proposal' },
      no: { help: 'vote against it' },
    },
    async run({ v, client }) {
      const id = idArg(v, 'proposal', 'proposal');
      if ((v.yes === true) === (v.no === true)) throw argsError('give one of --yes and --no');
      const r = await client.vote(id, v.yes === true);
      return receipt(r, statusAfter(r));
    },
  },
  show: {
    summary: 'show a proposal, its votes and its status',
    description: `Shows a proposal: its action, deadline, votes and status; while open, the yes votes of active
members it has and needs (proven).
${PASS_RULE}`,
    needs: 'chain',
    options: idOption('proposal'),
    async run({ v, client }) {
      const id = idArg(v, 'proposal', 'proposal');
      const p = await client.proposal(id);
      const proposal = found(p.value, 'proposal', id);
      const tally =
        proposal.status === 'open'
          ? { tally: tallyOf(proposal, (await client.activeMembers({ height: p.height })).value) }
          : {};
      return shown({ ...proposal, summary: actionText(proposal.action), ...tally, height: p.height });
    },
  },
  list: {
    summary: 'list the open proposals',
    description: 'Lists the open proposals with their action, votes and deadline (proven).',
    needs: 'chain',
    options: {},
    async run({ client }) {
      const ids = await client.openProposals();
      const opts = { height: ids.height };
      const [members, proposals] = await Promise.all([
        client.activeMembers(opts),
        Promise.all(ids.value.map(async (id) => (await client.proposal(id, opts)).value!)),
      ]);
      const rows = proposals.map((p) => ({ ...p, tally: tallyOf(p, members.value) }));
      return listed(
        ids.height,
        'proposals',
        rows,
        (p) =>
          `${p.id}  ${actionText(p.action)}  yes ${p.tally.yes}/${p.tally.needed} of ${p.tally.activeMembers}, no ${p.tally.no}  deadline ${p.deadline}  by ${p.proposer}`,
        'open proposals',
      );
    },
  },
};
