/**
 * Consent provisions, shaped like FHIR R4 Consent.provision: a rule of type permit or deny with a
 * period, actions, purposes of use, a scope (record categories and/or record ids), and nested
 * provisions that make exceptions to it (Consent.provision.provision). The top provision of a
 * consent is the grant itself.
 *
 * Wire form (canonical tuple): [type, start|null, end|null, actions, purposes, categories, records,
 * provisions]. Every list is sorted and without duplicates, so one rule has exactly one encoding.
 * Bounds: nesting depth 3, 8 nested provisions per level, 16 provisions in all, 32 scope entries.
 */
import type { Canonical } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { ACTIONS, type Action, CATEGORIES, type Category, oneOf, PURPOSES, type Purpose } from './codes.ts';
import { healthError } from './errors.ts';
import { idOf } from './ids.ts';

export type ProvisionType = 'permit' | 'deny';

export interface Provision {
  readonly type: ProvisionType;
  /** Unix ms, inclusive; null: from the beginning. */
  readonly start: bigint | null;
  /** Unix ms, exclusive; null: no end. */
  readonly end: bigint | null;
  /** Empty in a nested provision (or a top deny): any action. */
  readonly actions: readonly Action[];
  readonly purposes: readonly Purpose[];
  /** Scope: a record matches if its category is covered by one entry or its id is listed. */
  readonly categories: readonly Category[];
  readonly records: readonly string[];
  readonly provisions: readonly Provision[];
}

export const MAX_PROVISION_DEPTH = 3;
export const MAX_NESTED_PROVISIONS = 8;
export const MAX_PROVISIONS = 16;
export const MAX_SCOPE_ENTRIES = 32;

/** A provision with every list empty and no period, for building rules in code. */
export function provision(p: Partial<Provision> & { readonly type: ProvisionType }): Provision {
  return {
    type: p.type,
    start: p.start ?? null,
    end: p.end ?? null,
    actions: sortedUnique(p.actions ?? []),
    purposes: sortedUnique(p.purposes ?? []),
    categories: sortedUnique(p.categories ?? []),
    records: sortedUnique(p.records ?? []),
    provisions: p.provisions ?? [],
  };
}

function sortedUnique<T extends string>(list: readonly T[]): T[] {
  return [...new Set(list)].sort(compareStrings);
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function provisionFields(p: Provision): Canonical {
  return [
    p.type,
    p.start,
    p.end,
    [...p.actions],
    [...p.purposes],
    [...p.categories],
    [...p.records],
    p.provisions.map(provisionFields),
  ];
}

/** Reads a list of codes that must be sorted and unique (one rule, one encoding). */
export function codeList<T extends string>(
  value: Canonical,
  max: number,
  what: string,
  read: (item: Canonical, what: string) => T,
): T[] {
  const items = s.list(value, max, what).map((item, i) => read(item, `${what}[${i}]`));
  for (let i = 1; i < items.length; i++) {
    if (compareStrings(items[i - 1]!, items[i]!) >= 0)
      throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: entries must be sorted and unique`);
  }
  return items;
}

function optionalTime(value: Canonical, what: string): bigint | null {
  return value === null ? null : s.u64(value, what);
}

export function provisionFromFields(value: Canonical, what = 'provision'): Provision {
  const count = { n: 0 };
  return readProvision(value, what, 1, count);
}

function readProvision(value: Canonical, what: string, depth: number, count: { n: number }): Provision {
  if (++count.n > MAX_PROVISIONS)
    throw healthError('HEALTH_LIMIT', `${what}: at most ${MAX_PROVISIONS} provisions in a consent`);
  const f = s.tuple(value, 8, what);
  const type = f[0];
  if (type !== 'permit' && type !== 'deny')
    throw healthError('HEALTH_CODE_INVALID', `${what}.type: expected permit or deny`);
  const start = optionalTime(f[1]!, `${what}.start`);
  const end = optionalTime(f[2]!, `${what}.end`);
  if (start !== null && end !== null && end <= start)
    throw healthError('CONSENT_PERIOD_INVALID', `${what}: the period ends before it starts`);
  const nested = s.list(f[7]!, MAX_NESTED_PROVISIONS, `${what}.provisions`);
  if (nested.length > 0 && depth >= MAX_PROVISION_DEPTH)
    throw healthError('HEALTH_LIMIT', `${what}: provisions nest at most ${MAX_PROVISION_DEPTH} deep`);
  return {
    type,
    start,
    end,
    actions: codeList(f[3]!, ACTIONS.length, `${what}.actions`, (v, w) => oneOf(ACTIONS, v, w)),
    purposes: codeList(f[4]!, PURPOSES.length, `${what}.purposes`, (v, w) => oneOf(PURPOSES, v, w)),
    categories: codeList(f[5]!, MAX_SCOPE_ENTRIES, `${what}.categories`, (v, w) => oneOf(CATEGORIES, v, w)),
    records: codeList(f[6]!, MAX_SCOPE_ENTRIES, `${what}.records`, (v, w) => idOf('record', v, w)),
    provisions: nested.map((p, i) => readProvision(p, `${what}.provisions[${i}]`, depth + 1, count)),
  };
}

/** Every record id named anywhere in the rule. */
export function provisionRecords(p: Provision): string[] {
  return [...p.records, ...p.provisions.flatMap(provisionRecords)];
}

/**
 * The checks a grant's top provision must pass beyond its shape: a permit names at least one
 * action, one purpose and a scope (nothing is granted by omission).
 */
export function checkGrant(p: Provision): void {
  if (p.type === 'permit') {
    if (p.actions.length === 0 || p.purposes.length === 0)
      throw healthError('CONSENT_SCOPE_INVALID', 'a permit names its actions and purposes');
    if (p.categories.length === 0 && p.records.length === 0)
      throw healthError('CONSENT_SCOPE_INVALID', 'a permit names record categories or record ids');
  }
}
