/**
 * Search parameters and paging: reading a request's query string against the parameters an
 * interaction declares (anything else is refused with FHIR_PARAM_UNKNOWN, never ignored), the
 * three value kinds the facade uses (reference, token, date with a prefix), and the searchset
 * Bundle with `total` and self/next/previous links.
 *
 * Paging is by offset into the matches in chain order (`_offset`, `_count`): the lists the facade
 * reads are append-only, so a later page read at a newer height shows the same entries in the
 * same places (only statuses may have moved on).
 */
import type { FhirJson } from './fhir-json.ts';
import { fhirError } from './outcome.ts';

export type ParamType = 'reference' | 'token' | 'date' | 'number';

export interface ParamSpec {
  readonly name: string;
  readonly type: ParamType;
  readonly documentation: string;
  /** The search fails without it. */
  readonly required?: boolean;
  /** How many times it may be repeated (ANDed), 1 if absent: `date` takes a lower and an upper bound. */
  readonly maxRepeat?: number;
  /** A token's allowed codes (comma-separated values are ORed). */
  readonly codes?: readonly string[];
  /** A reference's target type. */
  readonly target?: string;
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 100;

/** Result parameters every search takes (listed in the CapabilityStatement with the rest). */
export const RESULT_PARAMS: readonly ParamSpec[] = [
  {
    name: '_count',
    type: 'number',
    documentation: `entries per page, 0 to ${MAX_COUNT} (default ${DEFAULT_COUNT})`,
  },
  {
    name: '_offset',
    type: 'number',
    documentation: 'index of the first match on this page (the next link sets it)',
  },
];

const RESULT_NAMES = RESULT_PARAMS.map((p) => p.name);

/** Taken by every interaction: JSON is the only format served. */
const FORMAT_PARAM = '_format';
const JSON_FORMATS = ['json', 'application/json', 'application/fhir+json'];

export interface SearchQuery {
  /** The values of each declared parameter present (repeats in order). */
  readonly values: ReadonlyMap<string, readonly string[]>;
  readonly count: number;
  readonly offset: number;
}

function checkFormat(values: readonly string[]): void {
  if (values.length !== 1 || !JSON_FORMATS.includes(values[0]!))
    throw fhirError('FHIR_PARAM_INVALID', `_format: only JSON is served (${JSON_FORMATS.join(', ')})`);
}

function group(params: URLSearchParams): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, value] of params) {
    const list = out.get(name);
    if (list === undefined) out.set(name, [value]);
    else list.push(value);
  }
  return out;
}

/** A read takes no parameter but _format. */
export function checkReadParams(params: URLSearchParams): void {
  for (const [name, values] of group(params)) {
    if (name !== FORMAT_PARAM)
      throw fhirError('FHIR_PARAM_UNKNOWN', `parameter ${JSON.stringify(name)} is not supported on a read`);
    checkFormat(values);
  }
}

function nonNegative(name: string, values: readonly string[], max: number): number {
  const text = values[0]!;
  if (values.length !== 1 || !/^[0-9]{1,9}$/.test(text) || Number(text) > max)
    throw fhirError('FHIR_PARAM_INVALID', `${name} must be one integer from 0 to ${max}`);
  return Number(text);
}

export function parseSearch(params: URLSearchParams, specs: readonly ParamSpec[]): SearchQuery {
  const values = new Map<string, readonly string[]>();
  let count = DEFAULT_COUNT;
  let offset = 0;
  for (const [name, list] of group(params)) {
    if (name === FORMAT_PARAM) checkFormat(list);
    else if (name === '_count') count = nonNegative(name, list, MAX_COUNT);
    else if (name === '_offset') offset = nonNegative(name, list, 2 ** 31 - 1);
    else {
      const spec = specs.find((s) => s.name === name);
      if (spec === undefined)
        throw fhirError(
          'FHIR_PARAM_UNKNOWN',
          `parameter ${JSON.stringify(name)} is not supported here (supported: ${[...specs.map((s) => s.name), ...RESULT_NAMES].join(', ')})`,
        );
      if (list.length > (spec.maxRepeat ?? 1))
        throw fhirError('FHIR_PARAM_INVALID', `${name} may be given at most ${spec.maxRepeat ?? 1} time(s)`);
      if (list.some((v) => v === '')) throw fhirError('FHIR_PARAM_INVALID', `${name} has an empty value`);
      values.set(name, list);
    }
  }
  for (const spec of specs)
    if (spec.required === true && !values.has(spec.name))
      throw fhirError('FHIR_PARAM_INVALID', `${spec.name} is required for this search`);
  return { values, count, offset };
}

/**
 * The id a reference parameter names: `id`, `Type/id` or an absolute URL ending in `/Type/id`;
 * `valid` says whether it can be an id of that type.
 */
export function referenceId(
  name: string,
  value: string,
  type: string,
  valid: (id: string) => boolean,
): string {
  const parts = value.split('/');
  const id = parts[parts.length - 1]!;
  const shape = parts.length === 1 || parts[parts.length - 2] === type;
  if (!shape || !valid(id) || (parts.length > 2 && !/^https?:$/.test(parts[0]!)))
    throw fhirError(
      'FHIR_PARAM_INVALID',
      `${name}: ${JSON.stringify(value.slice(0, 80))} is not a ${type} reference`,
    );
  return id;
}

/** The codes of a token parameter (comma-separated, ORed), each one of `allowed`. */
export function tokenCodes(name: string, value: string, allowed: readonly string[]): string[] {
  const codes = value.split(',');
  for (const code of codes)
    if (!allowed.includes(code))
      throw fhirError(
        'FHIR_PARAM_INVALID',
        `${name}: ${JSON.stringify(code.slice(0, 40))} is not one of ${allowed.join(', ')}`,
      );
  return codes;
}

const DATE =
  /^(eq|ge|gt|le|lt)?([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?(Z|[+-][0-9]{2}:[0-9]{2}))?)?)?$/;

/**
 * A date parameter as a test on unix ms. The value is a range by its precision (`2026-03` is the
 * whole month), and the prefix compares the time with it as FHIR says: eq (default) within it,
 * ge/gt from its start/end, le/lt before its end/start.
 */
export function dateTest(name: string, value: string): (ms: bigint) => boolean {
  const m = DATE.exec(value);
  const bad = () =>
    fhirError(
      'FHIR_PARAM_INVALID',
      `${name}: ${JSON.stringify(value.slice(0, 40))} is not [eq|ge|gt|le|lt]YYYY[-MM[-DD[Thh:mm[:ss[.fff]]±zone]]]`,
    );
  if (m === null) throw bad();
  const [, prefix = 'eq', y, mo, d, h, mi, s, frac, zone] = m;
  const n = (x: string | undefined, dflt: number) => (x === undefined ? dflt : Number(x));
  const fields = [n(y, 0), n(mo, 1) - 1, n(d, 1), n(h, 0), n(mi, 0), n(s, 0)] as const;
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  const local = Date.UTC(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], ms);
  const check = new Date(local);
  if (
    check.getUTCMonth() !== fields[1] ||
    check.getUTCDate() !== fields[2] ||
    fields[3] > 23 ||
    fields[4] > 59 ||
    fields[5] > 59
  )
    throw bad();
  const offsetMin =
    zone === undefined || zone === 'Z'
      ? 0
      : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4)));
  const low = BigInt(local - offsetMin * 60_000);
  const span =
    frac !== undefined
      ? 1
      : s !== undefined
        ? 1000
        : mi !== undefined
          ? 60_000
          : d !== undefined
            ? 86_400_000
            : mo !== undefined
              ? Date.UTC(fields[0], fields[1] + 1, 1) - local
              : Date.UTC(fields[0] + 1, 0, 1) - local;
  const high = low + BigInt(span);
  switch (prefix) {
    case 'ge':
      return (t) => t >= low;
    case 'gt':
      return (t) => t >= high;
    case 'le':
      return (t) => t < high;
    case 'lt':
      return (t) => t < low;
    default:
      return (t) => t >= low && t < high;
  }
}

export interface BundleEntry {
  readonly resource: FhirJson;
  /** `search.mode`: a match, or an outcome the server adds (e.g. "no such patient"). */
  readonly mode?: 'match' | 'outcome';
}

/**
 * One page of a searchset. `requestUrl` is the absolute URL of the search (its parameters are
 * kept in the links); `base` the facade's absolute base URL, for fullUrl.
 */
export function searchsetBundle(opts: {
  readonly base: string;
  readonly requestUrl: URL;
  readonly query: SearchQuery;
  readonly total: number;
  readonly page: readonly BundleEntry[];
  readonly meta: FhirJson;
}): FhirJson {
  const { requestUrl, query } = opts;
  const linkAt = (offset: number): string => {
    const url = new URL(requestUrl);
    url.searchParams.set('_count', String(query.count));
    url.searchParams.set('_offset', String(offset));
    return url.toString();
  };
  const link = [{ relation: 'self', url: linkAt(query.offset) }];
  if (query.count > 0 && query.offset + query.count < opts.total)
    link.push({ relation: 'next', url: linkAt(query.offset + query.count) });
  if (query.offset > 0 && query.count > 0)
    link.push({ relation: 'previous', url: linkAt(Math.max(0, query.offset - query.count)) });
  const bundle: FhirJson = {
    resourceType: 'Bundle',
    meta: opts.meta,
    type: 'searchset',
    total: opts.total,
    link,
  };
  if (opts.page.length > 0)
    bundle.entry = opts.page.map((e) => {
      const r = e.resource;
      const mode = e.mode ?? 'match';
      return mode === 'match'
        ? { fullUrl: `${opts.base}/${String(r.resourceType)}/${String(r.id)}`, resource: r, search: { mode } }
        : { resource: r, search: { mode } };
    });
  return bundle;
}
