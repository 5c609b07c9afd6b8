/**
 * A record anchor: the on-chain evidence of an encrypted record kept off chain, and its erasure.
 */
import { encode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import { CATEGORIES, type Category, ERASURE_REASONS, type ErasureReason, oneOf } from '../codes.ts';
import { idOf, memberId } from '../ids.ts';
import { hash32, opt, readBytes } from './read.ts';

export interface Erasure {
  readonly height: bigint;
  readonly time: bigint;
  readonly reason: ErasureReason;
}

export interface RecordAnchor {
  readonly id: string;
  readonly patient: string;
  /** The member holding the encrypted bytes. */
  readonly custodian: string;
  readonly category: Category;
  /** sha256 of the encrypted bytes: what the off-chain vault serves and the recipient checks. */
  readonly ciphertextHash: Uint8Array;
  /** sha256(salt || plaintext): binds the plaintext without revealing it (salt kept off chain). */
  readonly commitment: Uint8Array;
  /** Size of the encrypted bytes. */
  readonly size: bigint;
  readonly supersedes: string | null;
  readonly supersededBy: string | null;
  readonly anchoredAt: bigint;
  readonly anchoredTime: bigint;
  readonly erasure: Erasure | null;
}

export function encodeRecord(r: RecordAnchor): Uint8Array {
  return encode([
    r.id,
    r.patient,
    r.custodian,
    r.category,
    r.ciphertextHash,
    r.commitment,
    r.size,
    r.supersedes,
    r.supersededBy,
    r.anchoredAt,
    r.anchoredTime,
    r.erasure === null ? null : [r.erasure.height, r.erasure.time, r.erasure.reason],
  ]);
}

export function decodeRecord(bytes: Uint8Array): RecordAnchor {
  const f = s.tuple(readBytes(bytes, 'record'), 12, 'record');
  return {
    id: idOf('record', f[0]!, 'record.id'),
    patient: idOf('patient', f[1]!, 'record.patient'),
    custodian: memberId(f[2]!, 'record.custodian'),
    category: oneOf(CATEGORIES, f[3], 'record.category'),
    ciphertextHash: hash32(f[4]!, 'record.ciphertextHash'),
    commitment: hash32(f[5]!, 'record.commitment'),
    size: s.u64(f[6]!, 'record.size'),
    supersedes: opt(f[7]!, (v) => idOf('record', v, 'record.supersedes')),
    supersededBy: opt(f[8]!, (v) => idOf('record', v, 'record.supersededBy')),
    anchoredAt: s.u64(f[9]!, 'record.anchoredAt'),
    anchoredTime: s.u64(f[10]!, 'record.anchoredTime'),
    erasure: opt(f[11]!, (v) => {
      const [h, t, r] = s.tuple(v, 3, 'record.erasure');
      return {
        height: s.u64(h!, 'record.erasure.height'),
        time: s.u64(t!, 'record.erasure.time'),
        reason: oneOf(ERASURE_REASONS, r, 'record.erasure.reason'),
      };
    }),
  };
}
