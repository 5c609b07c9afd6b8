/**
 * A consortium member (an institution): its key, roles, nodes and record-encryption key, with the
 * checks on roles, peer ids and X25519 record keys that the txs share.
 */
import { type Canonical, encode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import { toHex } from '../../crypto/hash.ts';
import { oneOf, ROLES, type Role } from '../codes.ts';
import { healthError } from '../errors.ts';
import { memberId } from '../ids.ts';
import { codeList } from '../provision.ts';
import { key32, opt, readBytes } from './read.ts';

export function rolesFrom(value: Canonical, what: string): Role[] {
  const roles = codeList(value, ROLES.length, what, (v, w) => oneOf(ROLES, v, w));
  if (roles.length === 0) throw healthError('HEALTH_CODE_INVALID', `${what}: a member has at least one role`);
  return roles;
}

export interface Member {
  readonly id: string;
  readonly pubKey: Uint8Array;
  readonly roles: readonly Role[];
  readonly active: boolean;
  readonly joinedAt: bigint;
  readonly leftAt: bigint | null;
  /**
   * The libp2p peer ids of the member's nodes, sorted: the nodes' connection gaters admit exactly
   * the nodes of active members, so membership on chain is membership of the network.
   */
  readonly nodes: readonly string[];
  /**
   * The member's record-encryption public key (X25519, 32 bytes), or null if it has none: a
   * custodian wraps a record's data key to it (HPKE) when it releases the record to this member.
   */
  readonly recordKey: Uint8Array | null;
}

export const MAX_MEMBER_NODES = 4;
export const RECORD_KEY_BYTES = 32;

/**
 * X25519 public keys of small order (and their non-canonical forms, compared without the top bit,
 * as libsodium does): a shared secret with one is a known constant, so such a key would let
 * anyone unwrap a data key wrapped to it. HPKE refuses them too; the chain refuses them first.
 */
const SMALL_ORDER_X25519 = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

/** A member's record-encryption public key: 32 bytes, not a small-order point. */
export function recordKeyFrom(value: Canonical, what: string): Uint8Array {
  const key = s.bytes(value, what, RECORD_KEY_BYTES);
  const masked = Uint8Array.from(key);
  masked[31] = masked[31]! & 0x7f;
  const hex = toHex(masked);
  if (SMALL_ORDER_X25519.includes(hex))
    throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: a small-order X25519 key cannot receive records`);
  return key;
}
/** An ed25519 libp2p peer id in its canonical base58btc form (what `show-node-id` prints). */
const PEER_ID = /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/;

/** A sorted, duplicate-free list of peer ids (one rule, one encoding). */
export function nodeIdsFrom(value: Canonical, what: string): string[] {
  const ids = s.list(value, MAX_MEMBER_NODES, what).map((v, i) => {
    if (typeof v !== 'string' || !PEER_ID.test(v))
      throw healthError('HEALTH_ID_INVALID', `${what}[${i}]: expected a libp2p peer id (12D3KooW…)`);
    return v;
  });
  for (let i = 1; i < ids.length; i++) {
    if (ids[i - 1]! >= ids[i]!)
      throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: peer ids must be sorted and unique`);
  }
  return ids;
}

export function encodeMember(m: Member): Uint8Array {
  return encode([m.id, m.pubKey, [...m.roles], m.active, m.joinedAt, m.leftAt, [...m.nodes], m.recordKey]);
}

export function decodeMember(bytes: Uint8Array): Member {
  const f = s.tuple(readBytes(bytes, 'member'), 8, 'member');
  return {
    id: memberId(f[0]!, 'member.id'),
    pubKey: key32(f[1]!, 'member.pubKey'),
    roles: rolesFrom(f[2]!, 'member.roles'),
    active: s.bool(f[3]!, 'member.active'),
    joinedAt: s.u64(f[4]!, 'member.joinedAt'),
    leftAt: opt(f[5]!, (v) => s.u64(v, 'member.leftAt')),
    nodes: nodeIdsFrom(f[6]!, 'member.nodes'),
    recordKey: opt(f[7]!, (v) => recordKeyFrom(v, 'member.recordKey')),
  };
}
