/**
 * A claim: its service lines, status and adjudication history, and the amendment links.
 */
import { type Canonical, encode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import { ADJUSTMENT_REASON, formatted, oneOf, SERVICE_CODE } from '../codes.ts';
import { idOf, memberId } from '../ids.ts';
import { codeList } from '../provision.ts';
import { MAX_CLAIM_LINES, MAX_LINE_RECORDS } from './limits.ts';
import { opt, readBytes } from './read.ts';

export interface ClaimLine {
  /** CPT or HCPCS code. */
  readonly code: string;
  /** Date of service: unix ms at 00:00 UTC. */
  readonly date: bigint;
  /** Billed amount, integer cents. */
  readonly amount: bigint;
  /** The anchored records that back the line. */
  readonly records: readonly string[];
}

export function claimLineFields(l: ClaimLine): Canonical {
  return [l.code, l.date, l.amount, [...l.records]];
}

export function claimLineFromFields(value: Canonical, what: string): ClaimLine {
  const f = s.tuple(value, 4, what);
  return {
    code: formatted(SERVICE_CODE, f[0], `${what}.code`),
    date: s.u64(f[1]!, `${what}.date`),
    amount: s.u64(f[2]!, `${what}.amount`),
    records: codeList(f[3]!, MAX_LINE_RECORDS, `${what}.records`, (v, w) => idOf('record', v, w)),
  };
}

/** `superseded`: replaced by an amendment (`Claim.supersededBy`) before it was adjudicated. */
export type ClaimStatus = 'submitted' | 'approved' | 'partial' | 'denied' | 'superseded';
const CLAIM_STATUSES: readonly ClaimStatus[] = ['approved', 'denied', 'partial', 'submitted', 'superseded'];

export interface ClaimStep {
  readonly status: ClaimStatus;
  readonly height: bigint;
  readonly time: bigint;
  /** Allowed amount per line (approved and partial), else empty. */
  readonly amounts: readonly bigint[];
  /** An X12 adjustment reason (partial and denied), else null. */
  readonly reason: string | null;
}

export interface Claim {
  readonly id: string;
  readonly patient: string;
  readonly provider: string;
  readonly payer: string;
  readonly lines: readonly ClaimLine[];
  readonly status: ClaimStatus;
  /** Every status the claim has had, oldest first. */
  readonly history: readonly ClaimStep[];
  /** The earlier claim this one amends, or null. */
  readonly supersedes: string | null;
  /** The amendment that replaced this claim (status `superseded`), or null. */
  readonly supersededBy: string | null;
}

export function encodeClaim(c: Claim): Uint8Array {
  return encode([
    c.id,
    c.patient,
    c.provider,
    c.payer,
    c.lines.map(claimLineFields),
    c.status,
    c.history.map((h) => [h.status, h.height, h.time, [...h.amounts], h.reason]),
    c.supersedes,
    c.supersededBy,
  ]);
}

export function decodeClaim(bytes: Uint8Array): Claim {
  const f = s.tuple(readBytes(bytes, 'claim'), 9, 'claim');
  return {
    id: idOf('claim', f[0]!, 'claim.id'),
    patient: idOf('patient', f[1]!, 'claim.patient'),
    provider: memberId(f[2]!, 'claim.provider'),
    payer: memberId(f[3]!, 'claim.payer'),
    lines: s
      .list(f[4]!, MAX_CLAIM_LINES, 'claim.lines')
      .map((l, i) => claimLineFromFields(l, `claim.lines[${i}]`)),
    status: oneOf(CLAIM_STATUSES, f[5], 'claim.status'),
    history: s.list(f[6]!, 16, 'claim.history').map((h, i) => {
      const [st, height, time, amounts, reason] = s.tuple(h, 5, `claim.history[${i}]`);
      return {
        status: oneOf(CLAIM_STATUSES, st, `claim.history[${i}].status`),
        height: s.u64(height!, `claim.history[${i}].height`),
        time: s.u64(time!, `claim.history[${i}].time`),
        amounts: s
          .list(amounts!, MAX_CLAIM_LINES, `claim.history[${i}].amounts`)
          .map((a) => s.u64(a, 'amount')),
        reason: opt(reason!, (v) => formatted(ADJUSTMENT_REASON, v, `claim.history[${i}].reason`)),
      };
    }),
    supersedes: opt(f[7]!, (v) => idOf('claim', v, 'claim.supersedes')),
    supersededBy: opt(f[8]!, (v) => idOf('claim', v, 'claim.supersededBy')),
  };
}
