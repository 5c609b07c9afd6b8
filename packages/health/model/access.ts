/**
 * The disclosure audit trail: access events (each record with the consent that permitted it) and
 * break-glass declarations.
 */
import { type Canonical, encode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import {
  ACTIONS,
  type Action,
  BREAK_GLASS_REASONS,
  type BreakGlassReason,
  oneOf,
  PURPOSES,
  type Purpose,
} from '../codes.ts';
import { idOf, memberId } from '../ids.ts';
import { MAX_ACCESS_RECORDS } from './limits.ts';
import { hash32, opt, readBytes } from './read.ts';

export interface DisclosedRecord {
  readonly record: string;
  /** The consent that permitted it; null under break-glass. */
  readonly consent: string | null;
}

export interface AccessEvent {
  readonly id: string;
  readonly patient: string;
  readonly custodian: string;
  readonly recipient: string;
  readonly purpose: Purpose;
  readonly action: Action;
  readonly items: readonly DisclosedRecord[];
  /** The break-glass declaration it was made under, or null. */
  readonly breakGlass: string | null;
  /**
   * The release this event audits (records.ts: sha256 of the requester's signed fetch request),
   * or null for an access the custodian recorded by hand. Unique on chain.
   */
  readonly release: Uint8Array | null;
  readonly height: bigint;
  readonly time: bigint;
}

export function accessEventFields(e: AccessEvent): Canonical {
  return [
    e.id,
    e.patient,
    e.custodian,
    e.recipient,
    e.purpose,
    e.action,
    e.items.map((i) => [i.record, i.consent]),
    e.breakGlass,
    e.release,
    e.height,
    e.time,
  ];
}

export function accessEventFromFields(value: Canonical): AccessEvent {
  const f = s.tuple(value, 11, 'access');
  return {
    id: idOf('access', f[0]!, 'access.id'),
    patient: idOf('patient', f[1]!, 'access.patient'),
    custodian: memberId(f[2]!, 'access.custodian'),
    recipient: memberId(f[3]!, 'access.recipient'),
    purpose: oneOf(PURPOSES, f[4], 'access.purpose'),
    action: oneOf(ACTIONS, f[5], 'access.action'),
    items: s.list(f[6]!, MAX_ACCESS_RECORDS, 'access.items').map((item, i) => {
      const [r, c] = s.tuple(item, 2, `access.items[${i}]`);
      return {
        record: idOf('record', r!, `access.items[${i}].record`),
        consent: opt(c!, (v) => idOf('consent', v, `access.items[${i}].consent`)),
      };
    }),
    breakGlass: opt(f[7]!, (v) => idOf('breakGlass', v, 'access.breakGlass')),
    release: opt(f[8]!, (v) => hash32(v, 'access.release')),
    height: s.u64(f[9]!, 'access.height'),
    time: s.u64(f[10]!, 'access.time'),
  };
}

export interface BreakGlass {
  readonly id: string;
  readonly patient: string;
  readonly member: string;
  readonly reason: BreakGlassReason;
  readonly from: bigint;
  readonly until: bigint;
  readonly height: bigint;
}

export function breakGlassFields(b: BreakGlass): Canonical {
  return [b.id, b.patient, b.member, b.reason, b.from, b.until, b.height];
}

export function breakGlassFromFields(value: Canonical): BreakGlass {
  const f = s.tuple(value, 7, 'breakGlass');
  return {
    id: idOf('breakGlass', f[0]!, 'breakGlass.id'),
    patient: idOf('patient', f[1]!, 'breakGlass.patient'),
    member: memberId(f[2]!, 'breakGlass.member'),
    reason: oneOf(BREAK_GLASS_REASONS, f[3], 'breakGlass.reason'),
    from: s.u64(f[4]!, 'breakGlass.from'),
    until: s.u64(f[5]!, 'breakGlass.until'),
    height: s.u64(f[6]!, 'breakGlass.height'),
  };
}

export function encodeBreakGlass(b: BreakGlass): Uint8Array {
  return encode(breakGlassFields(b));
}

export function decodeBreakGlass(bytes: Uint8Array): BreakGlass {
  return breakGlassFromFields(readBytes(bytes, 'breakGlass'));
}
