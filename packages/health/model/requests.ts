/**
 * An access request: the scope and purpose a member asks a patient for, and how it was closed.
 */
import { type Canonical, encode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import {
  ACTIONS,
  type Action,
  CATEGORIES,
  type Category,
  oneOf,
  PURPOSES,
  type Purpose,
  REQUEST_REASONS,
  type RequestReason,
} from '../codes.ts';
import { idOf, memberId } from '../ids.ts';
import { codeList } from '../provision.ts';
import { opt, readBytes } from './read.ts';

export type RequestStatus = 'pending' | 'approved' | 'denied' | 'expired';
const REQUEST_STATUSES: readonly RequestStatus[] = ['approved', 'denied', 'expired', 'pending'];

/** The scope and purpose a member asks for. */
export interface RequestSpec {
  readonly categories: readonly Category[];
  readonly records: readonly string[];
  readonly purposes: readonly Purpose[];
  readonly actions: readonly Action[];
  readonly reason: RequestReason;
  /** The end of the access asked for; null: open-ended (the patient may set one). */
  readonly periodEnd: bigint | null;
  /** The request closes, unanswered, at this time. */
  readonly expiresAt: bigint;
}

export interface AccessRequest extends RequestSpec {
  readonly id: string;
  readonly patient: string;
  readonly requester: string;
  readonly createdAt: bigint;
  readonly createdTime: bigint;
  readonly status: RequestStatus;
  readonly closedAt: bigint | null;
  readonly consent: string | null;
}

export function requestSpecFields(r: RequestSpec): Canonical[] {
  return [
    [...r.categories],
    [...r.records],
    [...r.purposes],
    [...r.actions],
    r.reason,
    r.periodEnd,
    r.expiresAt,
  ];
}

export function requestSpecFromFields(f: readonly Canonical[], what: string): RequestSpec {
  return {
    categories: codeList(f[0]!, 32, `${what}.categories`, (v, w) => oneOf(CATEGORIES, v, w)),
    records: codeList(f[1]!, 32, `${what}.records`, (v, w) => idOf('record', v, w)),
    purposes: codeList(f[2]!, PURPOSES.length, `${what}.purposes`, (v, w) => oneOf(PURPOSES, v, w)),
    actions: codeList(f[3]!, ACTIONS.length, `${what}.actions`, (v, w) => oneOf(ACTIONS, v, w)),
    reason: oneOf(REQUEST_REASONS, f[4], `${what}.reason`),
    periodEnd: opt(f[5]!, (v) => s.u64(v, `${what}.periodEnd`)),
    expiresAt: s.u64(f[6]!, `${what}.expiresAt`),
  };
}

export function encodeRequest(r: AccessRequest): Uint8Array {
  return encode([
    r.id,
    r.patient,
    r.requester,
    ...requestSpecFields(r),
    r.createdAt,
    r.createdTime,
    r.status,
    r.closedAt,
    r.consent,
  ]);
}

export function decodeRequest(bytes: Uint8Array): AccessRequest {
  const f = s.tuple(readBytes(bytes, 'request'), 15, 'request');
  return {
    id: idOf('request', f[0]!, 'request.id'),
    patient: idOf('patient', f[1]!, 'request.patient'),
    requester: memberId(f[2]!, 'request.requester'),
    ...requestSpecFromFields(f.slice(3, 10), 'request'),
    createdAt: s.u64(f[10]!, 'request.createdAt'),
    createdTime: s.u64(f[11]!, 'request.createdTime'),
    status: oneOf(REQUEST_STATUSES, f[12], 'request.status'),
    closedAt: opt(f[13]!, (v) => s.u64(v, 'request.closedAt')),
    consent: opt(f[14]!, (v) => idOf('consent', v, 'request.consent')),
  };
}
