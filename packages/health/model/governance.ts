/**
 * Governance: the actions a proposal may carry out, and proposals with their votes.
 */
import { type Canonical, encode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import { oneOf, type Role } from '../codes.ts';
import { healthError } from '../errors.ts';
import { idOf, memberId } from '../ids.ts';
import { MAX_MEMBERS, MAX_VALIDATOR_POWER } from './limits.ts';
import { nodeIdsFrom, recordKeyFrom, rolesFrom } from './members.ts';
import { checkParam, PARAM_NAMES, type ParamName } from './params.ts';
import { key32, opt, readBytes, unreachable } from './read.ts';

export type GovAction =
  | {
      readonly kind: 'member.add';
      readonly member: string;
      readonly pubKey: Uint8Array;
      readonly roles: readonly Role[];
    }
  | { readonly kind: 'member.remove'; readonly member: string }
  | { readonly kind: 'member.roles'; readonly member: string; readonly roles: readonly Role[] }
  | { readonly kind: 'member.rekey'; readonly member: string; readonly pubKey: Uint8Array }
  /** Replaces the peer ids of the member's nodes (a new node, a new node key, a node retired). */
  | { readonly kind: 'member.nodes'; readonly member: string; readonly nodes: readonly string[] }
  /**
   * Sets (or clears, with null) a member's record-encryption key by consortium vote: for a member
   * whose record secret key leaked while it cannot sign `member.set-record-key` itself (its member
   * key lost too), so that no custodian keeps wrapping data keys to the leaked key.
   */
  | { readonly kind: 'member.record-key'; readonly member: string; readonly recordKey: Uint8Array | null }
  | { readonly kind: 'validator.set'; readonly pubKey: Uint8Array; readonly power: bigint }
  | { readonly kind: 'params.set'; readonly name: ParamName; readonly value: bigint };

export function govActionFields(a: GovAction): Canonical {
  switch (a.kind) {
    case 'member.add':
      return [a.kind, a.member, a.pubKey, [...a.roles]];
    case 'member.remove':
      return [a.kind, a.member];
    case 'member.roles':
      return [a.kind, a.member, [...a.roles]];
    case 'member.rekey':
      return [a.kind, a.member, a.pubKey];
    case 'member.nodes':
      return [a.kind, a.member, [...a.nodes]];
    case 'member.record-key':
      return [a.kind, a.member, a.recordKey];
    case 'validator.set':
      return [a.kind, a.pubKey, a.power];
    case 'params.set':
      return [a.kind, a.name, a.value];
    default:
      return unreachable(a);
  }
}

export function govActionFromFields(value: Canonical, what: string): GovAction {
  if (!Array.isArray(value) || value.length === 0)
    throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: expected a tagged tuple`);
  const kind = value[0];
  switch (kind) {
    case 'member.add': {
      const f = s.tuple(value, 4, what);
      return {
        kind,
        member: memberId(f[1]!, `${what}.member`),
        pubKey: key32(f[2]!, `${what}.pubKey`),
        roles: rolesFrom(f[3]!, `${what}.roles`),
      };
    }
    case 'member.remove': {
      const f = s.tuple(value, 2, what);
      return { kind, member: memberId(f[1]!, `${what}.member`) };
    }
    case 'member.roles': {
      const f = s.tuple(value, 3, what);
      return { kind, member: memberId(f[1]!, `${what}.member`), roles: rolesFrom(f[2]!, `${what}.roles`) };
    }
    case 'member.rekey': {
      const f = s.tuple(value, 3, what);
      return { kind, member: memberId(f[1]!, `${what}.member`), pubKey: key32(f[2]!, `${what}.pubKey`) };
    }
    case 'member.nodes': {
      const f = s.tuple(value, 3, what);
      return { kind, member: memberId(f[1]!, `${what}.member`), nodes: nodeIdsFrom(f[2]!, `${what}.nodes`) };
    }
    case 'member.record-key': {
      const f = s.tuple(value, 3, what);
      return {
        kind,
        member: memberId(f[1]!, `${what}.member`),
        recordKey: opt(f[2]!, (v) => recordKeyFrom(v, `${what}.recordKey`)),
      };
    }
    case 'validator.set': {
      const f = s.tuple(value, 3, what);
      const power = s.u64(f[2]!, `${what}.power`);
      if (power > MAX_VALIDATOR_POWER)
        throw healthError('GOV_ACTION_INVALID', `${what}.power is at most ${MAX_VALIDATOR_POWER}`);
      return { kind, pubKey: key32(f[1]!, `${what}.pubKey`), power };
    }
    case 'params.set': {
      const f = s.tuple(value, 3, what);
      const name = oneOf(Object.keys(PARAM_NAMES) as ParamName[], f[1], `${what}.name`);
      return { kind, name, value: checkParam(PARAM_NAMES[name], s.u64(f[2]!, `${what}.value`)) };
    }
    default:
      throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: unknown governance action`);
  }
}

export type ProposalStatus = 'open' | 'passed' | 'rejected' | 'expired' | 'failed';
const PROPOSAL_STATUSES: readonly ProposalStatus[] = ['expired', 'failed', 'open', 'passed', 'rejected'];

export interface Vote {
  readonly member: string;
  readonly approve: boolean;
}

export interface Proposal {
  readonly id: string;
  readonly proposer: string;
  readonly action: GovAction;
  /** The last height at which votes count. */
  readonly deadline: bigint;
  readonly createdAt: bigint;
  /** In the order cast. */
  readonly votes: readonly Vote[];
  readonly status: ProposalStatus;
  readonly closedAt: bigint | null;
  /** Why a passed proposal could not be carried out (an error code), or null. */
  readonly failure: string | null;
}

export function encodeProposal(p: Proposal): Uint8Array {
  return encode([
    p.id,
    p.proposer,
    govActionFields(p.action),
    p.deadline,
    p.createdAt,
    p.votes.map((v) => [v.member, v.approve]),
    p.status,
    p.closedAt,
    p.failure,
  ]);
}

export function decodeProposal(bytes: Uint8Array): Proposal {
  const f = s.tuple(readBytes(bytes, 'proposal'), 9, 'proposal');
  return {
    id: idOf('proposal', f[0]!, 'proposal.id'),
    proposer: memberId(f[1]!, 'proposal.proposer'),
    action: govActionFromFields(f[2]!, 'proposal.action'),
    deadline: s.u64(f[3]!, 'proposal.deadline'),
    createdAt: s.u64(f[4]!, 'proposal.createdAt'),
    votes: s.list(f[5]!, MAX_MEMBERS, 'proposal.votes').map((v, i) => {
      const [m, a] = s.tuple(v, 2, `proposal.votes[${i}]`);
      return { member: memberId(m!, `proposal.votes[${i}].member`), approve: s.bool(a!, 'approve') };
    }),
    status: oneOf(PROPOSAL_STATUSES, f[6], 'proposal.status'),
    closedAt: opt(f[7]!, (v) => s.u64(v, 'proposal.closedAt')),
    failure: opt(f[8]!, (v) => s.string(v, 'proposal.failure', 64)),
  };
}
