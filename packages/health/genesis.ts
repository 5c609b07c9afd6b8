/**
 * The health application's part of the genesis document (`app_state` in genesis.json): the
 * founding members of the consortium and, optionally, parameters. Checked field by field like the
 * rest of the genesis; a bad field is named in one HEALTH_GENESIS_INVALID error.
 *
 *   "app_state": {
 *     "members": [
 *       { "id": "city-hospital", "pub_key": "<base64 ed25519>", "roles": ["provider"],
 *         "node_ids": ["12D3KooW…"], "record_key": "<base64 X25519>" },
 *       { "id": "acme-insurance", "pub_key": "<base64 ed25519>", "roles": ["payer"] }
 *     ],
 *     "params": { "break_glass_window_ms": "14400000", "request_max_ttl_ms": "2592000000",
 *                 "proposal_max_blocks": "100000" }
 *   }
 */
import { CareLedgerError } from '../core/errors.ts';
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.ts';
import { oneOf, ROLES, type Role } from './codes.ts';
import { isMemberId } from './ids.ts';
import {
  checkParam,
  defaultParams,
  MAX_MEMBERS,
  nodeIdsFrom,
  PARAM_NAMES,
  type ParamName,
  type Params,
  recordKeyFrom,
} from './model.ts';
import { compareStrings } from './provision.ts';

export interface GenesisMember {
  readonly id: string;
  readonly pubKey: Uint8Array;
  readonly roles: readonly Role[];
  /** The libp2p peer ids of the member's nodes (`node_ids`, optional; sorted here). */
  readonly nodes?: readonly string[];
  /** The member's record-encryption public key (X25519; `record_key`, optional). */
  readonly recordKey?: Uint8Array | null;
}

export interface HealthAppState {
  readonly members: readonly GenesisMember[];
  readonly params: Params;
}

function bad(message: string): never {
  throw new CareLedgerError('HEALTH_GENESIS_INVALID', `genesis app_state: ${message}`);
}

function base64Key(value: unknown, field: string, kind = 'ed25519'): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(value))
    bad(`${field} must be a base64 ${kind} key`);
  const key = Buffer.from(value, 'base64');
  if (key.length !== PUBLIC_KEY_BYTES || key.toString('base64') !== value)
    bad(`${field} must be a base64 ${kind} key`);
  return new Uint8Array(key);
}

/** Checks the parsed JSON value of `app_state` (for example `JSON.parse(text).app_state`). */
export function parseHealthAppState(raw: unknown): HealthAppState {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('must be an object');
  const obj = raw as Record<string, unknown>;
  const members = obj.members;
  if (!Array.isArray(members) || members.length === 0 || members.length > MAX_MEMBERS)
    bad(`members must list 1 to ${MAX_MEMBERS} members`);
  const seenIds = new Set<string>();
  const seenKeys = new Set<string>();
  const seenNodes = new Set<string>();
  const parsed = members.map((m: unknown, i: number): GenesisMember => {
    if (typeof m !== 'object' || m === null) bad(`members[${i}] must be an object`);
    const { id, pub_key, roles, node_ids, record_key } = m as Record<string, unknown>;
    if (!isMemberId(id)) bad(`members[${i}].id must be 2 to 40 of a-z, 0-9 and -, starting with a letter`);
    if (seenIds.has(id)) bad(`members[${i}].id ${id} appears twice`);
    seenIds.add(id);
    const key = base64Key(pub_key, `members[${i}].pub_key`);
    const hex = Buffer.from(key).toString('hex');
    if (seenKeys.has(hex)) bad(`members[${i}].pub_key is another member's key`);
    seenKeys.add(hex);
    if (!Array.isArray(roles) || roles.length === 0) bad(`members[${i}].roles must be a non-empty list`);
    let list: Role[];
    try {
      list = [...new Set(roles.map((r, j) => oneOf(ROLES, r, `members[${i}].roles[${j}]`)))].sort(
        compareStrings,
      );
    } catch (err) {
      bad((err as Error).message);
    }
    let nodes: string[] = [];
    if (node_ids !== undefined) {
      if (!Array.isArray(node_ids)) bad(`members[${i}].node_ids must be a list of peer ids`);
      try {
        nodes = nodeIdsFrom(
          [...new Set(node_ids as string[])].sort(compareStrings),
          `members[${i}].node_ids`,
        );
      } catch (err) {
        bad((err as Error).message);
      }
      for (const node of nodes) {
        if (seenNodes.has(node)) bad(`members[${i}].node_ids: ${node} is another member's node`);
        seenNodes.add(node);
      }
    }
    let recordKey: Uint8Array | null = null;
    if (record_key !== undefined) {
      const raw = base64Key(record_key, `members[${i}].record_key`, 'X25519');
      try {
        recordKey = recordKeyFrom(raw, `members[${i}].record_key`);
      } catch (err) {
        bad((err as Error).message);
      }
    }
    return { id, pubKey: key, roles: list, nodes, recordKey };
  });
  const params = { ...defaultParams } as { -readonly [K in keyof Params]: bigint };
  if (obj.params !== undefined) {
    if (typeof obj.params !== 'object' || obj.params === null || Array.isArray(obj.params))
      bad('params must be an object');
    for (const [name, value] of Object.entries(obj.params as Record<string, unknown>)) {
      if (!Object.hasOwn(PARAM_NAMES, name)) bad(`params.${name} is not a parameter`);
      if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,17})$/.test(value))
        bad(`params.${name} must be a decimal string`);
      const field = PARAM_NAMES[name as ParamName];
      try {
        params[field] = checkParam(field, BigInt(value));
      } catch (err) {
        bad((err as Error).message);
      }
    }
  }
  return { members: parsed, params };
}

/** The JSON value of `app_state` for `state` (what `testnet` writes into genesis.json). */
export function healthAppStateToJson(state: HealthAppState): unknown {
  return {
    members: state.members.map((m) => ({
      id: m.id,
      pub_key: Buffer.from(m.pubKey).toString('base64'),
      roles: [...m.roles],
      ...(m.nodes === undefined || m.nodes.length === 0 ? {} : { node_ids: [...m.nodes] }),
      ...(m.recordKey === undefined || m.recordKey === null
        ? {}
        : { record_key: Buffer.from(m.recordKey).toString('base64') }),
    })),
    params: Object.fromEntries(
      (Object.entries(PARAM_NAMES) as [ParamName, keyof Params][]).map(([name, field]) => [
        name,
        state.params[field].toString(),
      ]),
    ),
  };
}
