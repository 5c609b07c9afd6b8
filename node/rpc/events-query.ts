/**
 * CometBFT's event query language, for WebSocket subscriptions, `tx_search` and `block_search`:
 *
 *   query      = condition { "AND" condition }
 *   condition  = tag ( "=" (string | number | time | date)
 *                    | ("<" | "<=" | ">" | ">=") (number | time | date)
 *                    | "CONTAINS" string
 *                    | "EXISTS" )
 *   tag        = [letter digit _] [letter digit _ . -]*      e.g. tm.event, kv.key, tx.height
 *   string     = '…' (no escapes, as CometBFT)      number = 12 | 3.25
 *   time       = TIME 2026-01-02T15:04:05Z            date = DATE 2026-01-02
 *
 * `parseQuery` turns the text into a small AST or throws a `QueryError` naming the offset and
 * what was expected; `matches` evaluates it against an event map (`type.key` -> values), with
 * CometBFT's semantics: every condition must hold for at least one value of its tag. Numbers are
 * compared exactly as decimals (no float rounding, so 64-bit heights compare right); an attribute
 * value such as `8atom` compares as its leading number, as CometBFT does.
 */

export const MAX_QUERY_LENGTH = 512;
export const MAX_CONDITIONS = 32;

export type QueryOp = '=' | '<' | '<=' | '>' | '>=' | 'CONTAINS' | 'EXISTS';

export type QueryArg =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly value: Decimal; readonly text: string }
  | { readonly kind: 'time'; readonly ms: number; readonly text: string }
  | { readonly kind: 'date'; readonly ms: number; readonly text: string };

export interface Condition {
  readonly tag: string;
  readonly op: QueryOp;
  /** Null only for EXISTS. */
  readonly arg: QueryArg | null;
}

export interface Query {
  readonly conditions: readonly Condition[];
}

export class QueryError extends Error {
  readonly offset: number;

  constructor(offset: number, message: string) {
    super(`offset ${offset}: ${message}`);
    this.name = 'QueryError';
    this.offset = offset;
  }
}

/** An exact non-negative decimal: `units / 10^scale`. */
export interface Decimal {
  readonly units: bigint;
  readonly scale: number;
}

const DECIMAL = /^([0-9]+)(?:\.([0-9]+))?/;

/** The leading decimal number of `text` (`8atom` -> 8), or null. */
export function parseDecimal(text: string): Decimal | null {
  const m = DECIMAL.exec(text);
  if (m === null) return null;
  const fraction = m[2] ?? '';
  return { units: BigInt(m[1]! + fraction), scale: fraction.length };
}

export function compareDecimal(a: Decimal, b: Decimal): number {
  const scale = Math.max(a.scale, b.scale);
  const x = a.units * 10n ** BigInt(scale - a.scale);
  const y = b.units * 10n ** BigInt(scale - b.scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Scanner

type TokenKind =
  | 'tag'
  | 'string'
  | 'number'
  | 'time'
  | 'date'
  | 'AND'
  | 'CONTAINS'
  | 'EXISTS'
  | '='
  | '<'
  | '<='
  | '>'
  | '>=';

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly offset: number;
}

const TOKEN_NAMES: Record<TokenKind, string> = {
  tag: 'tag',
  string: 'string',
  number: 'number',
  time: 'timestamp',
  date: 'datestamp',
  AND: 'AND operator',
  CONTAINS: 'CONTAINS operator',
  EXISTS: 'EXISTS operator',
  '=': '= operator',
  '<': '< operator',
  '<=': '<= operator',
  '>': '> operator',
  '>=': '>= operator',
};

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isFirstTagChar = (c: string): boolean => c === '_' || /^[\p{L}\p{Nd}]$/u.test(c);
const isTagChar = (c: string): boolean => c === '.' || c === '-' || isFirstTagChar(c);

const TIME =
  /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})$/;
const DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;

/** Milliseconds of an RFC 3339 timestamp, or null if it is not one (or the year is off range). */
export function parseTime(text: string): number | null {
  if (!TIME.test(text)) return null;
  return checkedDate(text, Date.parse(text));
}

export function parseDate(text: string): number | null {
  if (!DATE.test(text)) return null;
  return checkedDate(text, Date.parse(`${text}T00:00:00Z`));
}

function checkedDate(text: string, ms: number): number | null {
  if (Number.isNaN(ms)) return null;
  // Date.parse rolls 2026-02-31 over to March: refuse dates that do not round-trip.
  const year = Number(text.slice(0, 4));
  const month = Number(text.slice(5, 7));
  const day = Number(text.slice(8, 10));
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate())
    return null;
  return ms;
}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (isDigit(c)) {
      while (i < input.length && isDigit(input[i]!)) i++;
      if (input[i] === '.') {
        i++;
        const fractionStart = i;
        while (i < input.length && isDigit(input[i]!)) i++;
        if (i === fractionStart) throw new QueryError(start, `invalid number ${input.slice(start, i)}`);
      }
      tokens.push({ kind: 'number', text: input.slice(start, i), offset: start });
    } else if (isFirstTagChar(c)) {
      while (i < input.length && isTagChar(input[i]!)) i++;
      const word = input.slice(start, i);
      if ((word === 'TIME' || word === 'DATE') && input[i] === ' ') {
        let j = i + 1;
        const valueStart = j;
        while (j < input.length && /[0-9TZ:+\-.]/.test(input[j]!)) j++;
        const text = input.slice(valueStart, j);
        const ms = word === 'TIME' ? parseTime(text) : parseDate(text);
        if (ms === null) throw new QueryError(valueStart, `invalid ${word} value ${JSON.stringify(text)}`);
        const year = new Date(ms).getUTCFullYear();
        if (year < 1900 || year > 2999) throw new QueryError(valueStart, `year ${year} out of range`);
        tokens.push({ kind: word === 'TIME' ? 'time' : 'date', text, offset: start });
        i = j;
      } else if (word === 'AND' || word === 'CONTAINS' || word === 'EXISTS') {
        tokens.push({ kind: word, text: word, offset: start });
      } else {
        tokens.push({ kind: 'tag', text: word, offset: start });
      }
    } else if (c === "'") {
      const end = input.indexOf("'", i + 1);
      if (end < 0) throw new QueryError(start, "unterminated string (a string is quoted with ')");
      tokens.push({ kind: 'string', text: input.slice(i + 1, end), offset: start });
      i = end + 1;
    } else if (c === '=') {
      tokens.push({ kind: '=', text: '=', offset: start });
      i++;
    } else if (c === '<' || c === '>') {
      const op = input[i + 1] === '=' ? (`${c}=` as '<=' | '>=') : c;
      tokens.push({ kind: op, text: op, offset: start });
      i += op.length;
    } else {
      throw new QueryError(start, `invalid input ${JSON.stringify(c)}`);
    }
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser

function expectedLabel(kinds: readonly TokenKind[]): string {
  const names = kinds.map((k) => TOKEN_NAMES[k]);
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}

/** Parses a query; throws QueryError with the offset and what was expected there. */
export function parseQuery(input: unknown): Query {
  if (typeof input !== 'string') throw new QueryError(0, 'query must be a string');
  if (input.length > MAX_QUERY_LENGTH)
    throw new QueryError(MAX_QUERY_LENGTH, `query is longer than ${MAX_QUERY_LENGTH} characters`);
  const tokens = tokenize(input);
  let pos = 0;
  const take = (...kinds: TokenKind[]): Token => {
    const token = tokens[pos];
    if (token === undefined)
      throw new QueryError(input.length, `got end of query, wanted ${expectedLabel(kinds)}`);
    if (!kinds.includes(token.kind))
      throw new QueryError(token.offset, `got ${TOKEN_NAMES[token.kind]}, wanted ${expectedLabel(kinds)}`);
    pos++;
    return token;
  };
  const conditions: Condition[] = [];
  for (;;) {
    const tag = take('tag').text;
    const op = take('=', '<', '<=', '>', '>=', 'CONTAINS', 'EXISTS');
    let arg: QueryArg | null = null;
    if (op.kind !== 'EXISTS') {
      const kinds: TokenKind[] =
        op.kind === '='
          ? ['number', 'time', 'date', 'string']
          : op.kind === 'CONTAINS'
            ? ['string']
            : ['number', 'time', 'date'];
      const value = take(...kinds);
      arg = argOf(value);
    }
    conditions.push({ tag, op: op.kind as QueryOp, arg });
    if (conditions.length > MAX_CONDITIONS)
      throw new QueryError(op.offset, `a query holds at most ${MAX_CONDITIONS} conditions`);
    if (pos === tokens.length) return { conditions };
    take('AND');
  }
}

function argOf(token: Token): QueryArg {
  switch (token.kind) {
    case 'string':
      return { kind: 'string', value: token.text };
    case 'number':
      return { kind: 'number', value: parseDecimal(token.text)!, text: token.text };
    case 'time':
      return { kind: 'time', ms: parseTime(token.text)!, text: token.text };
    case 'date':
      return { kind: 'date', ms: parseDate(token.text)!, text: token.text };
    default:
      throw new QueryError(token.offset, `got ${TOKEN_NAMES[token.kind]}, wanted a value`);
  }
}

/** The canonical text of a query (CometBFT's String()): the key of a subscription. */
export function queryText(q: Query): string {
  return q.conditions.map(conditionText).join(' AND ');
}

function conditionText(c: Condition): string {
  if (c.arg === null) return `${c.tag} ${c.op}`;
  switch (c.arg.kind) {
    case 'string':
      return `${c.tag} ${c.op} '${c.arg.value}'`;
    case 'number':
      return `${c.tag} ${c.op} ${c.arg.text}`;
    case 'time':
      return `${c.tag} ${c.op} TIME ${c.arg.text}`;
    case 'date':
      return `${c.tag} ${c.op} DATE ${c.arg.text}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Matcher

function compareOk(op: QueryOp, cmp: number): boolean {
  switch (op) {
    case '=':
      return cmp === 0;
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
    case '>':
      return cmp > 0;
    case '>=':
      return cmp >= 0;
    case 'CONTAINS':
    case 'EXISTS':
      return false;
  }
}

/** Whether one attribute value satisfies one condition. */
export function matchesValue(c: Condition, value: string): boolean {
  if (c.op === 'EXISTS' || c.arg === null) return true;
  const arg = c.arg;
  switch (arg.kind) {
    case 'string':
      return c.op === 'CONTAINS' ? value.includes(arg.value) : value === arg.value;
    case 'number': {
      const v = parseDecimal(value);
      return v !== null && compareOk(c.op, compareDecimal(v, arg.value));
    }
    case 'time': {
      const ms = parseTime(value);
      return ms !== null && compareOk(c.op, Math.sign(ms - arg.ms));
    }
    case 'date': {
      const ms = parseDate(value);
      return ms !== null && compareOk(c.op, Math.sign(ms - arg.ms));
    }
  }
}

export type EventMap = ReadonlyMap<string, readonly string[]>;

/**
 * CometBFT's semantics: every condition holds for some value of its tag; a tag that names an event
 * type rather than `type.key` (`kv EXISTS`) is matched against the empty string if that type occurs.
 */
export function matches(q: Query, events: EventMap): boolean {
  if (events.size === 0) return false;
  return q.conditions.every((c) => {
    const values = events.get(c.tag);
    if (values !== undefined && values.length > 0) return values.some((v) => matchesValue(c, v));
    const prefix = `${c.tag}.`;
    for (const key of events.keys()) if (key.startsWith(prefix)) return matchesValue(c, '');
    return false;
  });
}

/** Flattens app events into `type.key -> values`, skipping empty types and keys (as CometBFT). */
export function flattenEvents(
  events: readonly {
    readonly type: string;
    readonly attributes: readonly { readonly key: string; readonly value: string }[];
  }[],
  into: Map<string, string[]> = new Map(),
): Map<string, string[]> {
  for (const e of events) {
    if (e.type === '') continue;
    for (const a of e.attributes) {
      if (a.key === '') continue;
      const key = `${e.type}.${a.key}`;
      const list = into.get(key);
      if (list === undefined) into.set(key, [a.value]);
      else list.push(a.value);
    }
  }
  return into;
}
