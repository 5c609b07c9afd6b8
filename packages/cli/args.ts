/**
 * The CLI's argument parsing, shared by every command: how an option is declared (`OptionSpec`),
 * the strict parse of a command line into flag values, the check of required flags, and the typed
 * readers a command uses to turn a flag into a value the SDK takes (ids, member ids, codes, lists,
 * UTC times, durations, amounts, whole numbers, public keys, input files).
 *
 * Every failure is a CareLedgerError with code CLI_ARGS_INVALID (CLI_FILE_NOT_FOUND for a file
 * that cannot be read) and a message that names the flag, so a person sees what to fix in one
 * line. A user's value is quoted and shortened in a message, never echoed at length.
 */
import { parseArgs } from 'node:util';
import { loadKeyFile } from '../client/keys.ts';
import { CareLedgerError } from '../core/errors.ts';
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.ts';
import { fromHex } from '../crypto/hash.ts';
import { DAY_MS, oneOf } from '../health/codes.ts';
import { type IdKind, isIdOf, isMemberId } from '../health/ids.ts';
import { compareStrings } from '../health/provision.ts';
import type { CliIo } from './io.ts';

/** One option of a command: how it parses, and the line `--help` shows for it. */
export interface OptionSpec {
  /** The value's placeholder in help; absent for a boolean flag. */
  readonly arg?: string;
  readonly help: string;
  readonly required?: boolean;
  /** Required unless this boolean flag is given (e.g. a permit's purposes, waived by --deny). */
  readonly requiredUnless?: string;
  readonly multiple?: boolean;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** The parsed flags of a command line, by flag name (without the dashes). */
export type Values = Readonly<Record<string, string | boolean | string[] | undefined>>;

export function argsError(message: string): CareLedgerError {
  return new CareLedgerError('CLI_ARGS_INVALID', message);
}

/**
 * Parses `args` against `options` (and -h/--help): strict, so an unknown flag, a missing value or
 * a positional argument is refused, naming the flag.
 */
export function parseFlags(options: OptionSpecs, args: string[]): Values {
  const config = Object.fromEntries(
    Object.entries(options).map(([flag, o]) => [
      flag,
      {
        type: o.arg === undefined ? ('boolean' as const) : ('string' as const),
        multiple: o.multiple === true,
      },
    ]),
  );
  try {
    return parseArgs({
      args,
      options: { ...config, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values as Values;
  } catch (err) {
    // parseArgs' messages name the flag; keep the first sentence only (one line).
    throw argsError((err as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, ''));
  }
}

/**
 * `v` as seen by a command: reading a flag the command did not declare is a bug in the command
 * (its help would not list the flag, and the flag could never be given), so it fails loudly as
 * CLI_FLAG_UNDECLARED rather than reading as absent.
 */
export function declaredOnly(options: OptionSpecs, v: Values): Values {
  return new Proxy(v, {
    get(target, flag) {
      if (typeof flag === 'string' && flag !== 'help' && !Object.hasOwn(options, flag))
        throw new CareLedgerError(
          'CLI_FLAG_UNDECLARED',
          `the command reads --${flag}, which it does not declare`,
        );
      return Reflect.get(target, flag);
    },
  });
}

/**
 * Refuses a command line that lacks a required flag (or one required unless a boolean flag is
 * given). Repeatable flags are checked by the command, which reads them as a list.
 */
export function checkRequired(options: OptionSpecs, v: Values): void {
  for (const [flag, o] of Object.entries(options)) {
    const required = o.required === true || (o.requiredUnless !== undefined && v[o.requiredUnless] !== true);
    if (required && o.multiple !== true) str(v, flag);
  }
}

// --- typed readers: each failure is CLI_ARGS_INVALID naming the flag ---

export function str(v: Values, flag: string): string {
  const value = v[flag];
  if (typeof value !== 'string' || value.length === 0) throw argsError(`--${flag} is required`);
  return value;
}

/** A user's value, shortened and quoted, for an error line. */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

export function optStr(v: Values, flag: string): string | undefined {
  return v[flag] === undefined ? undefined : str(v, flag);
}

/** An id of `kind` in --flag. */
export function idArg(v: Values, flag: string, kind: IdKind): string {
  return idValue(str(v, flag), flag, kind);
}

/** One id of `kind` given in --flag (a list's item, a claim line's record). */
export function idValue(value: string, flag: string, kind: IdKind): string {
  if (value === '') throw argsError(`--${flag} is required`);
  if (!isIdOf(kind, value)) throw argsError(`--${flag}: ${quoted(value)} is not a ${kind} id`);
  return value;
}

export function memberArg(v: Values, flag: string): string {
  const value: string = str(v, flag);
  if (!isMemberId(value)) throw argsError(`--${flag}: ${quoted(value)} is not a member id`);
  return value;
}

/** A comma-separated list; empty if the flag is absent and not required. */
export function listArg(v: Values, flag: string, required = false): string[] {
  const value = v[flag];
  if (value === undefined && !required) return [];
  return str(v, flag)
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

/** A comma-separated list of ids of `kind`; empty if the flag is absent and not required. */
export function idsArg(v: Values, flag: string, kind: IdKind, required = false): string[] {
  return listArg(v, flag, required).map((id) => idValue(id, flag, kind));
}

/**
 * A comma-separated set of codes, in any order and with repeats: returned deduplicated and sorted
 * (the one order the chain's canonical sets accept), so `grant,revoke,approve` signs as
 * `approve,grant,revoke`.
 */
export function codesArg<T extends string>(
  v: Values,
  flag: string,
  codes: readonly T[],
  required = false,
): T[] {
  const set = new Set(listArg(v, flag, required).map((x) => oneOf(codes, x, `--${flag}`)));
  return [...set].sort(compareStrings);
}

export function codeArg<T extends string>(v: Values, flag: string, codes: readonly T[]): T {
  return oneOf(codes, str(v, flag), `--${flag}`);
}

/** A day, as `2026-06-30`. */
export const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?Z$/;

/** A time in UTC: `2026-06-30` (midnight) or `2026-06-30T12:00:00Z`, as unix ms. */
export function parseTime(value: string, flag: string): bigint {
  const ms = DATE.test(value) || DATE_TIME.test(value) ? Date.parse(value) : Number.NaN;
  // Date.parse rolls an impossible day over (2026-02-31 is 3 March): the time must read back as given.
  const exact = Number.isFinite(ms) && new Date(ms).toISOString().startsWith(value.replace(/Z$/, ''));
  if (!exact || ms < 0)
    throw argsError(`--${flag}: ${quoted(value)} is not a UTC date (2026-06-30 or 2026-06-30T12:00:00Z)`);
  return BigInt(ms);
}

/** The UTC time in --flag as unix ms; null if the flag is absent. */
export function timeArg(v: Values, flag: string): bigint | null {
  const value = optStr(v, flag);
  return value === undefined ? null : parseTime(value, flag);
}

/** An amount in whole cents; `what` names where it was given (a flag, a claim line). */
export function amountArg(value: string, what: string): bigint {
  if (!/^(0|[1-9]\d{0,15})$/.test(value)) throw argsError(`${what}: an amount is whole cents, like 12050`);
  return BigInt(value);
}

/** A whole number (a height, a power, a parameter value). */
export function uintArg(v: Values, flag: string): bigint {
  const value = str(v, flag);
  if (!/^(0|[1-9]\d{0,18})$/.test(value))
    throw argsError(`--${flag}: ${quoted(value)} is not a whole number`);
  return BigInt(value);
}

const DURATION_UNITS: Readonly<Record<string, bigint>> = { s: 1000n, m: 60_000n, h: 3_600_000n, d: DAY_MS };

/** A duration such as `90d`, `12h`, `30m` or `45s`, as ms; null if the flag is absent. */
export function durationArg(v: Values, flag: string): bigint | null {
  const value = optStr(v, flag);
  if (value === undefined) return null;
  const m = /^([1-9]\d{0,9})([smhd])$/.exec(value);
  if (m === null) throw argsError(`--${flag}: ${quoted(value)} is not a duration like 90d, 12h or 30m`);
  return BigInt(m[1]!) * DURATION_UNITS[m[2]!]!;
}

/** An ed25519 public key: base64 (as genesis.json and `careledger show-validator` write it) or hex. */
export function parsePubKey(value: string, flag: string): Uint8Array {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return fromHex(value);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length === PUBLIC_KEY_BYTES && bytes.toString('base64') === value) return new Uint8Array(bytes);
  throw argsError(`--${flag}: ${quoted(value)} is not a 32-byte public key in base64 or hex`);
}

/**
 * The public key of `--NAME-key FILE` (a key file: only its public key is used) or
 * `--NAME-pubkey KEY`: exactly one of the two.
 */
export function pubKeyArg(v: Values, name: string): Uint8Array {
  const file = optStr(v, `${name}-key`);
  const text = optStr(v, `${name}-pubkey`);
  if ((file === undefined) === (text === undefined))
    throw argsError(`give one of --${name}-key FILE and --${name}-pubkey KEY`);
  return file === undefined ? parsePubKey(text!, `${name}-pubkey`) : loadKeyFile(file).publicKey;
}

/** The bytes of the file named in --flag, read through `io` (only to hash them: never printed). */
export function fileArg(io: CliIo, v: Values, flag: string): Uint8Array {
  const path = str(v, flag);
  try {
    return io.readFile(path);
  } catch (err) {
    if (err instanceof CareLedgerError && err.code === 'CLI_FILE_NOT_FOUND')
      throw new CareLedgerError('CLI_FILE_NOT_FOUND', `--${flag}: ${err.message}`);
    throw err;
  }
}
