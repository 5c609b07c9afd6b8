/**
 * The policy engine: the one answer to "may grantee G do action A on record R for purpose P now?".
 * Pure and deterministic: the chain (access events, claims, the decision query) and every client
 * call this function, none re-implements it.
 *
 * Rules:
 * 1. Only the patient's consents whose grantee is G (or, for a deny consent, any member `*`) count.
 * 2. A consent is active at (height, time) if it is not revoked before that height (a revocation
 *    in block H takes effect from block H + 1) and `time` lies in its top provision's period
 *    [start, end). Inactive consents neither permit nor deny.
 * 3. A provision applies to a request if the request's time is in its period and its action,
 *    purpose and record match its lists (category covered, or record id listed). An empty list
 *    means "any" in a nested provision or a top deny; a top permit with an empty list applies to
 *    nothing (a permit needs purpose, action and scope to all match).
 * 4. An applicable provision's result comes from its nested provisions (its exceptions): deny if
 *    any nested result is deny, else permit if any is permit, else its own type. So a nested deny
 *    overrides its permit parent, and a permit nested in that deny re-allows a narrower case.
 *    A consent whose top provision is a deny never permits: a permit nested in it only carves
 *    an exception out of the deny.
 * 5. Across consents, deny overrides permit: any active consent resulting in deny denies. Else the
 *    first (by id) active consent resulting in permit permits. Else deny, with the reason: a
 *    revoked consent, or one outside its period, that would have permitted; or no consent.
 */
import { type Action, categoryCovers, type Purpose } from './codes.ts';
import { ANY_MEMBER } from './ids.ts';
import { compareStrings, type Provision } from './provision.ts';

/** What the engine needs of a consent. */
export interface PolicyConsent {
  readonly id: string;
  readonly patient: string;
  /** A member id, or ANY_MEMBER for a deny consent that applies to every member. */
  readonly grantee: string;
  readonly provision: Provision;
  /** The height of the block that revoked it, or null. */
  readonly revokedAt: bigint | null;
}

export interface AccessQuery {
  readonly patient: string;
  readonly grantee: string;
  readonly action: Action;
  readonly record: { readonly id: string; readonly category: string };
  readonly purpose: Purpose;
  /** Block time, unix ms. */
  readonly time: bigint;
  /** The height at which the access happens. */
  readonly height: bigint;
}

export type DecisionReason =
  | 'PERMIT'
  | 'DENY_PROVISION'
  | 'CONSENT_REVOKED'
  | 'CONSENT_NOT_IN_PERIOD'
  | 'NO_CONSENT'
  | 'RECORD_NOT_FOUND'
  | 'RECORD_PATIENT_MISMATCH'
  | 'RECORD_ERASED';

export interface Decision {
  readonly permit: boolean;
  /** The consent that permitted, denied, or would have permitted; null if none. */
  readonly consentId: string | null;
  readonly reason: DecisionReason;
}

type Result = 'permit' | 'deny' | null;

function inPeriod(p: Provision, time: bigint): boolean {
  return (p.start === null || time >= p.start) && (p.end === null || time < p.end);
}

function listMatches<T>(list: readonly T[], value: T, strict: boolean): boolean {
  return list.length === 0 ? !strict : list.includes(value);
}

function scopeMatches(p: Provision, record: AccessQuery['record'], strict: boolean): boolean {
  if (p.categories.length === 0 && p.records.length === 0) return !strict;
  return p.records.includes(record.id) || p.categories.some((c) => categoryCovers(c, record.category));
}

/** Rule 3, without the period of the top provision (the caller classifies that). */
function applies(p: Provision, q: AccessQuery, top: boolean): boolean {
  const strict = top && p.type === 'permit';
  return (
    (top || inPeriod(p, q.time)) &&
    listMatches(p.actions, q.action, strict) &&
    listMatches(p.purposes, q.purpose, strict) &&
    scopeMatches(p, q.record, strict)
  );
}

/** Rule 4. */
function evaluate(p: Provision, q: AccessQuery, top: boolean): Result {
  if (!applies(p, q, top)) return null;
  let permitted = false;
  for (const nested of p.provisions) {
    const r = evaluate(nested, q, false);
    if (r === 'deny') return 'deny';
    if (r === 'permit') permitted = true;
  }
  return permitted ? 'permit' : p.type;
}

/** True if the consent takes part in decisions at `height` (rule 2, revocation half). */
export function notRevokedAt(c: Pick<PolicyConsent, 'revokedAt'>, height: bigint): boolean {
  return c.revokedAt === null || height <= c.revokedAt;
}

/** True if the consent is active at (height, time): rule 2. */
export function isActive(
  c: Pick<PolicyConsent, 'revokedAt' | 'provision'>,
  height: bigint,
  time: bigint,
): boolean {
  return notRevokedAt(c, height) && inPeriod(c.provision, time);
}

/** The decision for `q` under `consents` (any order; others' consents are ignored). */
export function decide(consents: readonly PolicyConsent[], q: AccessQuery): Decision {
  const relevant = consents
    .filter(
      (c) =>
        c.patient === q.patient &&
        (c.grantee === q.grantee || (c.grantee === ANY_MEMBER && c.provision.type === 'deny')),
    )
    .sort((a, b) => compareStrings(a.id, b.id));
  let permitBy: string | null = null;
  let revoked: string | null = null;
  let outOfPeriod: string | null = null;
  for (const c of relevant) {
    const evaluated = evaluate(c.provision, q, true);
    // A deny consent only takes away: a permit nested in it un-denies, it never grants.
    const result = evaluated === 'permit' && c.provision.type === 'deny' ? null : evaluated;
    if (result === null) continue;
    if (!notRevokedAt(c, q.height)) {
      if (result === 'permit') revoked ??= c.id;
      continue;
    }
    if (!inPeriod(c.provision, q.time)) {
      if (result === 'permit') outOfPeriod ??= c.id;
      continue;
    }
    if (result === 'deny') return { permit: false, consentId: c.id, reason: 'DENY_PROVISION' };
    permitBy ??= c.id;
  }
  if (permitBy !== null) return { permit: true, consentId: permitBy, reason: 'PERMIT' };
  if (revoked !== null) return { permit: false, consentId: revoked, reason: 'CONSENT_REVOKED' };
  if (outOfPeriod !== null) return { permit: false, consentId: outOfPeriod, reason: 'CONSENT_NOT_IN_PERIOD' };
  return { permit: false, consentId: null, reason: 'NO_CONSENT' };
}

/** What the engine needs of a record anchor. */
export interface PolicyRecord {
  readonly id: string;
  readonly patient: string;
  readonly category: string;
  readonly erased: boolean;
}

/**
 * The decision for a record looked up by id: the record must exist, belong to the patient and not
 * be erased (its key is gone, so nothing can be disclosed); then `decide`.
 */
export function decideForRecord(
  consents: readonly PolicyConsent[],
  record: PolicyRecord | null,
  q: Omit<AccessQuery, 'record'> & { readonly recordId: string },
): Decision {
  if (record === null || record.id !== q.recordId)
    return { permit: false, consentId: null, reason: 'RECORD_NOT_FOUND' };
  if (record.patient !== q.patient)
    return { permit: false, consentId: null, reason: 'RECORD_PATIENT_MISMATCH' };
  if (record.erased) return { permit: false, consentId: null, reason: 'RECORD_ERASED' };
  return decide(consents, { ...q, record: { id: record.id, category: record.category } });
}
