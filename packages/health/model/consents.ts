/**
 * A consent: one FHIR-shaped provision a patient (or a delegate) gave a grantee, and its revocation.
 */
import { encode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import { granteeId, idOf } from '../ids.ts';
import { type Provision, provisionFields, provisionFromFields } from '../provision.ts';
import { key32, opt, readBytes } from './read.ts';

export interface Consent {
  readonly id: string;
  readonly patient: string;
  readonly grantee: string;
  readonly provision: Provision;
  /** The key that signed the grant: the patient's, or a delegate's. */
  readonly grantedBy: Uint8Array;
  readonly createdAt: bigint;
  readonly createdTime: bigint;
  /** The access request this consent approved, if any. */
  readonly request: string | null;
  readonly revokedAt: bigint | null;
  readonly revokedBy: Uint8Array | null;
}

export function encodeConsent(c: Consent): Uint8Array {
  return encode([
    c.id,
    c.patient,
    c.grantee,
    provisionFields(c.provision),
    c.grantedBy,
    c.createdAt,
    c.createdTime,
    c.request,
    c.revokedAt,
    c.revokedBy,
  ]);
}

export function decodeConsent(bytes: Uint8Array): Consent {
  const f = s.tuple(readBytes(bytes, 'consent'), 10, 'consent');
  return {
    id: idOf('consent', f[0]!, 'consent.id'),
    patient: idOf('patient', f[1]!, 'consent.patient'),
    grantee: granteeId(f[2]!, 'consent.grantee'),
    provision: provisionFromFields(f[3]!, 'consent.provision'),
    grantedBy: key32(f[4]!, 'consent.grantedBy'),
    createdAt: s.u64(f[5]!, 'consent.createdAt'),
    createdTime: s.u64(f[6]!, 'consent.createdTime'),
    request: opt(f[7]!, (v) => idOf('request', v, 'consent.request')),
    revokedAt: opt(f[8]!, (v) => s.u64(v, 'consent.revokedAt')),
    revokedBy: opt(f[9]!, (v) => key32(v, 'consent.revokedBy')),
  };
}
