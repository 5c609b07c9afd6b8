/**
 * What the CLI prints: a command's result as JSON for `--json` (bigints as decimal strings, bytes
 * as hex) and as lines a person reads, the one-line error `careledger: CODE: sentence` (shared
 * with node/cli.ts), and the escaping that keeps text from a node from driving the terminal.
 */
import type { TxReceipt } from '../client/health.ts';
import { CareLedgerError } from '../core/errors.ts';
import { toHex } from '../crypto/hash.ts';
import { humanDuration, isoTime } from '../health/codes.ts';

export { humanDuration, isoTime };

/** A command's result: JSON for --json, and the lines a person reads. */
export interface Output {
  readonly json: unknown;
  readonly text: string;
}

/** A value with bigints as decimal strings and bytes as hex: what --json prints and text shows. */
export function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, plain(x)]));
  return value;
}

/** Fields that hold a chain time (unix ms); `*Time` fields too. Fields named `*At` are heights. */
const TIME_FIELDS: ReadonlySet<string> = new Set(['time', 'from', 'until', 'start', 'end', 'expiresAt']);

/**
 * `value` for a person: times (by field name) as ISO 8601, a claim line's `date` as its day, and
 * durations (`*Ms`) as `90 d`. Only the text shows this; --json keeps the numbers, for machines.
 */
export function readable(value: unknown, field = ''): unknown {
  if (typeof value === 'bigint') {
    if (field === 'date') return isoTime(value).replace(/T00:00:00\.000Z$/, '');
    if (TIME_FIELDS.has(field) || field.endsWith('Time')) return isoTime(value);
    if (field.endsWith('Ms')) return humanDuration(value);
    return value;
  }
  if (Array.isArray(value)) return value.map((x) => readable(x, field));
  if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array))
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, readable(x, k)]));
  return value;
}

/** `name  value` lines, times and durations readable; nested values on one line as JSON. */
function fieldLines(fields: Record<string, unknown>): string {
  const entries = Object.entries(plain(readable(fields)) as Record<string, unknown>);
  const width = Math.max(...entries.map(([k]) => k.length)) + 2;
  return entries
    .map(([k, x]) => `${k.padEnd(width)}${typeof x === 'string' ? x : JSON.stringify(x)}`)
    .join('\n')
    .concat('\n');
}

/** An object's fields, one per line. */
export function shown(json: Record<string, unknown>): Output {
  return { json: plain(json), text: fieldLines(json) };
}

/** A committed tx: its type, the id it made or changed, its height and hash, and `extra` fields. */
export function receipt(r: TxReceipt, extra: Record<string, unknown> = {}): Output {
  const json = { type: r.type, id: r.id, height: r.height, tx: r.hash, ...extra };
  return { json: plain(json), text: `${r.type} committed at height ${r.height}\n${fieldLines(json)}` };
}

/** The value of a proven read, or CLI_NOT_FOUND when the chain proved it absent. */
export function found<T>(value: T | null, what: string, id: string): T {
  if (value === null) throw new CareLedgerError('CLI_NOT_FOUND', `no ${what} ${id} on chain (proven absent)`);
  return value;
}

/**
 * Rows read at one height, as `{height, [key]: rows}` and one line per row; `no <none> (at height
 * H)` when there are none.
 */
export function listed<T>(
  height: bigint,
  key: string,
  rows: readonly T[],
  line: (row: T) => string,
  none: string = key,
): Output {
  return {
    json: plain({ height, [key]: rows }),
    text: rows.length === 0 ? `no ${none} (at height ${height})\n` : `${rows.map(line).join('\n')}\n`,
  };
}

/**
 * What a failed command prints after `careledger: ` (the node's commands too): the error's code,
 * CLI_UNEXPECTED for anything that is not a CareLedgerError, and the first line of its message.
 */
export function errorLine(err: unknown): string {
  const line =
    err instanceof CareLedgerError
      ? `${err.code}: ${err.message}`
      : `CLI_UNEXPECTED: ${err instanceof Error ? err.message : String(err)}`;
  return line.split('\n')[0]!;
}

/**
 * Text for a terminal: control characters other than newline and tab (escape sequences, carriage
 * returns) shown as \u{…}, since much of what is printed comes from a node, which could otherwise
 * overwrite the line or restyle the terminal. JSON output escapes them already.
 */
export function printable(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    const control = (code < 0x20 && c !== '\n' && c !== '\t') || (code >= 0x7f && code <= 0x9f);
    out += control ? `\\u{${code.toString(16)}}` : c;
  }
  return out;
}
