/**
 * The governance vocabulary of `careledger gov`: the action kinds and the flags each takes (a
 * flag of another kind is refused, not ignored), the action read from those flags, the deadline
 * (a height or +BLOCKS), one line of text per action, and an open proposal's tally and status.
 */
import type { HealthClient, TxReceipt } from '../../client/health.ts';
import { toHex } from '../../crypto/hash.ts';
import { ROLES } from '../../health/codes.ts';
import { type GovAction, PARAM_NAMES, type ParamName, type Proposal } from '../../health/model.ts';
import {
  argsError,
  codeArg,
  codesArg,
  listArg,
  memberArg,
  parsePubKey,
  pubKeyArg,
  quoted,
  str,
  uintArg,
  type Values,
} from '../args.ts';

export const GOV_ACTIONS = [
  'member.add',
  'member.remove',
  'member.roles',
  'member.rekey',
  'member.nodes',
  'member.record-key',
  'validator.set',
  'params.set',
] as const satisfies readonly GovAction['kind'][];

/** The action flags each kind takes; an action flag another kind takes is refused, not ignored. */
const ACTION_FLAGS: Readonly<Record<GovAction['kind'], readonly string[]>> = {
  'member.add': ['member', 'member-key', 'member-pubkey', 'roles'],
  'member.remove': ['member'],
  'member.roles': ['member', 'roles'],
  'member.rekey': ['member', 'member-key', 'member-pubkey'],
  'member.nodes': ['member', 'node-ids'],
  'member.record-key': ['member', 'record-key'],
  'validator.set': ['validator-pubkey', 'power'],
  'params.set': ['param', 'value'],
};

export const PARAMS = Object.keys(PARAM_NAMES) as ParamName[];

export function govAction(v: Values): GovAction {
  const kind = codeArg(v, 'action', GOV_ACTIONS);
  for (const flags of Object.values(ACTION_FLAGS))
    for (const flag of flags)
      if (v[flag] !== undefined && !ACTION_FLAGS[kind].includes(flag))
        throw argsError(`--${flag} does not apply to --action ${kind}`);
  switch (kind) {
    case 'member.add':
      return {
        kind,
        member: memberArg(v, 'member'),
        pubKey: pubKeyArg(v, 'member'),
        roles: codesArg(v, 'roles', ROLES, true),
      };
    case 'member.remove':
      return { kind, member: memberArg(v, 'member') };
    case 'member.roles':
      return { kind, member: memberArg(v, 'member'), roles: codesArg(v, 'roles', ROLES, true) };
    case 'member.rekey':
      return { kind, member: memberArg(v, 'member'), pubKey: pubKeyArg(v, 'member') };
    case 'member.nodes': {
      // Required: the action replaces the list, so a forgotten flag must not remove every node;
      // `--node-ids ''` says "no nodes" on purpose.
      if (v['node-ids'] === undefined) throw argsError("--node-ids is required (--node-ids '' for none)");
      const nodes = v['node-ids'] === '' ? [] : listArg(v, 'node-ids');
      // Sorted and unique, as the chain requires; the chain checks each is a peer id.
      return { kind, member: memberArg(v, 'member'), nodes: [...new Set(nodes)].sort() };
    }
    case 'member.record-key': {
      // Required, like --node-ids: `none` clears the key on purpose, never by a forgotten flag.
      const value = str(v, 'record-key');
      const recordKey = value === 'none' ? null : parsePubKey(value, 'record-key');
      return { kind, member: memberArg(v, 'member'), recordKey };
    }
    case 'validator.set':
      return {
        kind,
        pubKey: parsePubKey(str(v, 'validator-pubkey'), 'validator-pubkey'),
        power: uintArg(v, 'power'),
      };
    case 'params.set':
      return { kind, name: codeArg(v, 'param', PARAMS), value: uintArg(v, 'value') };
    default:
      return kind satisfies never;
  }
}

/** `HEIGHT`, or `+BLOCKS` after the latest block. */
export async function deadlineArg(v: Values, client: HealthClient): Promise<bigint> {
  const value = str(v, 'deadline');
  const m = /^(\+?)([1-9]\d{0,15})$/.exec(value);
  if (m === null)
    throw argsError(`--deadline: ${quoted(value)} is not a block height, or +BLOCKS after the latest block`);
  const n = BigInt(m[2]!);
  // Any proven answer carries the latest height; the open proposals are a small one.
  return m[1] === '+' ? (await client.openProposals()).height + n : n;
}

/** One line for an action, e.g. `member.add st-mary (provider) key 3b6a…`. */
export function actionText(a: GovAction): string {
  switch (a.kind) {
    case 'member.add':
      return `${a.kind} ${a.member} (${a.roles.join(',')}) key ${toHex(a.pubKey)}`;
    case 'member.remove':
      return `${a.kind} ${a.member}`;
    case 'member.roles':
      return `${a.kind} ${a.member} (${a.roles.join(',')})`;
    case 'member.rekey':
      return `${a.kind} ${a.member} key ${toHex(a.pubKey)}`;
    case 'member.nodes':
      return `${a.kind} ${a.member} nodes ${a.nodes.length === 0 ? '(none)' : a.nodes.join(',')}`;
    case 'member.record-key':
      return `${a.kind} ${a.member} record key ${a.recordKey === null ? '(none)' : toHex(a.recordKey)}`;
    case 'validator.set':
      return `${a.kind} ${Buffer.from(a.pubKey).toString('base64')} power ${a.power}`;
    case 'params.set':
      return `${a.kind} ${a.name} = ${a.value}`;
    default:
      return a satisfies never;
  }
}

/** The count of an open proposal: votes of active members only, and the yes votes it needs (> 2/3). */
export function tallyOf(p: Proposal, members: readonly string[]) {
  const active = new Set(members);
  const counted = p.votes.filter((x) => active.has(x.member));
  const yes = counted.filter((x) => x.approve).length;
  return {
    activeMembers: active.size,
    yes,
    no: counted.length - yes,
    needed: Math.floor((2 * active.size) / 3) + 1,
  };
}

/** A proposal's status after a propose or vote tx, from the tx's events (open unless it closed). */
export function statusAfter(r: TxReceipt): Record<string, unknown> {
  for (const e of r.events) {
    const m = /^health\.gov\.(passed|rejected|failed)$/.exec(e.type);
    if (m === null) continue;
    const failure = e.attributes.find((a) => a.key === 'failure')?.value;
    return { status: m[1], ...(failure === undefined ? {} : { failure }) };
  }
  return { status: 'open' };
}
