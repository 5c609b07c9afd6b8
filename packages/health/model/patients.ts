/**
 * A patient and the delegates (guardians, proxies) acting for them, with their encodings.
 */
import { type Canonical, encode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import {
  DELEGATE_POWERS,
  DELEGATE_ROLES,
  type DelegatePower,
  type DelegateRole,
  oneOf,
  PURPOSES,
  type Purpose,
} from '../codes.ts';
import { healthError } from '../errors.ts';
import { idOf, memberId } from '../ids.ts';
import { codeList } from '../provision.ts';
import { MAX_DELEGATES } from './limits.ts';
import { key32, opt, readBytes } from './read.ts';

export interface DelegateSpec {
  readonly pubKey: Uint8Array;
  readonly role: DelegateRole;
  readonly powers: readonly DelegatePower[];
  /** Purposes the delegate may grant or approve for; empty: any. */
  readonly purposes: readonly Purpose[];
  /** After this time the delegate can do nothing; null: until removed. */
  readonly expiresAt: bigint | null;
  /** Consents the delegate grants must end within this long; null: no limit. */
  readonly maxConsentMs: bigint | null;
}

export interface Delegate extends DelegateSpec {
  readonly addedAt: bigint;
}

export function delegateSpecFields(d: DelegateSpec): Canonical {
  return [d.pubKey, d.role, [...d.powers], [...d.purposes], d.expiresAt, d.maxConsentMs];
}

export function delegateSpecFromFields(value: Canonical, what: string): DelegateSpec {
  const f = s.tuple(value, 6, what);
  const powers = codeList(f[2]!, DELEGATE_POWERS.length, `${what}.powers`, (v, w) =>
    oneOf(DELEGATE_POWERS, v, w),
  );
  if (powers.length === 0)
    throw healthError('DELEGATE_INVALID', `${what}: a delegate has at least one power`);
  const maxConsentMs = opt(f[5]!, (v) => s.u64(v, `${what}.maxConsentMs`));
  if (maxConsentMs === 0n) throw healthError('DELEGATE_INVALID', `${what}.maxConsentMs must be positive`);
  return {
    pubKey: key32(f[0]!, `${what}.pubKey`),
    role: oneOf(DELEGATE_ROLES, f[1], `${what}.role`),
    powers,
    purposes: codeList(f[3]!, PURPOSES.length, `${what}.purposes`, (v, w) => oneOf(PURPOSES, v, w)),
    expiresAt: opt(f[4]!, (v) => s.u64(v, `${what}.expiresAt`)),
    maxConsentMs,
  };
}

export interface Patient {
  readonly id: string;
  readonly pubKey: Uint8Array;
  readonly enrolledBy: string;
  readonly enrolledAt: bigint;
  readonly keyRotations: number;
  readonly delegates: readonly Delegate[];
}

export function encodePatient(p: Patient): Uint8Array {
  return encode([
    p.id,
    p.pubKey,
    p.enrolledBy,
    p.enrolledAt,
    p.keyRotations,
    p.delegates.map((d) => [delegateSpecFields(d), d.addedAt]),
  ]);
}

export function decodePatient(bytes: Uint8Array): Patient {
  const f = s.tuple(readBytes(bytes, 'patient'), 6, 'patient');
  return {
    id: idOf('patient', f[0]!, 'patient.id'),
    pubKey: key32(f[1]!, 'patient.pubKey'),
    enrolledBy: memberId(f[2]!, 'patient.enrolledBy'),
    enrolledAt: s.u64(f[3]!, 'patient.enrolledAt'),
    keyRotations: s.int(f[4]!, 'patient.keyRotations', 0, 2 ** 31),
    delegates: s.list(f[5]!, MAX_DELEGATES, 'patient.delegates').map((item, i) => {
      const [spec, addedAt] = s.tuple(item, 2, `patient.delegates[${i}]`);
      return {
        ...delegateSpecFromFields(spec!, `patient.delegates[${i}]`),
        addedAt: s.u64(addedAt!, `patient.delegates[${i}].addedAt`),
      };
    }),
  };
}
