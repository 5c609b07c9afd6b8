/**
 * The command line of every bench command, in one place so they all behave alike:
 *
 * - `-h` / `--help` prints the command's usage text to stdout and exits 0 (before any value is
 *   checked, so `--help` works whatever else is on the line);
 * - an unknown option, a missing or bad value, or a wrong number of arguments prints one line
 *   `<name>: <problem> (see <command> --help)` to stderr and exits 2: a person typing a flag wrong
 *   needs the flag's name, not a stack trace or a page of usage;
 * - the usual values (integers, decimals, `--set KEY=VALUE` config overrides) are checked here.
 *
 * Each command declares its options without `help`: parseCommandLine adds `-h, --help`, and the
 * usage text lists every option (test/unit/bench/command-help.test.ts checks that it does).
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';

export interface BenchCommand<O extends ParseArgsOptionsConfig = ParseArgsOptionsConfig> {
  /** Starts each error line, e.g. `bench:sync`. */
  readonly name: string;
  /** How the command is run, to point at its help: `npm run bench:sync --`, `npx node bench/chart.ts`. */
  readonly command: string;
  /** The whole --help text: what it measures, every option with its default, where results go. */
  readonly usage: string;
  /** The options, without `help` (added here). */
  readonly options: O;
  /** Positional arguments it takes, if any: how many, and how the usage names them. */
  readonly positionals?: { readonly min: number; readonly max: number; readonly synopsis: string };
}

const HELP = { help: { type: 'boolean', short: 'h', default: false } } as const;

type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O & typeof HELP; strict: true; allowPositionals: true }>
>;

/** Prints `<name>: <message> (see … --help)` and exits 2. */
export function usageError(command: BenchCommand<ParseArgsOptionsConfig>, message: string): never {
  // One line whatever the message holds, so a script's log keeps one line per failure.
  const line = message.replace(/\s*\n\s*/g, ' ');
  process.stderr.write(`${command.name}: ${line} (see ${command.command} --help)\n`);
  process.exit(2);
}

/**
 * Parses `args` (default: this process's) against the command's options; prints the usage and
 * exits 0 on -h/--help, reports a bad line with usageError.
 */
export function parseCommandLine<O extends ParseArgsOptionsConfig>(
  command: BenchCommand<O>,
  args: readonly string[] = process.argv.slice(2),
): Parsed<O> {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({
      args,
      options: { ...command.options, ...HELP },
      strict: true,
      allowPositionals: command.positionals !== undefined,
    }) as Parsed<O>;
  } catch (err) {
    // parseArgs names the flag in its first sentence; the rest is advice about `--` for scripts.
    usageError(command, (err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  // (The values' type depends on O, unknown here: every command's values have `help`.)
  if ((parsed.values as { help?: boolean }).help === true) {
    process.stdout.write(command.usage);
    process.exit(0);
  }
  const { positionals } = command;
  const count = parsed.positionals.length;
  if (positionals !== undefined && (count < positionals.min || count > positionals.max))
    usageError(command, `expects ${positionals.synopsis}, got ${count} argument${count === 1 ? '' : 's'}`);
  return parsed;
}

/** A value to check: the command (named in the error), the text, its flag, and its range. */
type Ranged = [command: BenchCommand, text: unknown, flag: string, min: number, max: number];

/** An integer option's value (digits only), from min to max. */
export function integerArg(...args: Ranged): number {
  return rangedArg(true, ...args);
}

/** A decimal option's value (`12` or `0.5`), from min to max. */
export function numberArg(...args: Ranged): number {
  return rangedArg(false, ...args);
}

function rangedArg(integer: boolean, ...[command, text, flag, min, max]: Ranged): number {
  // Digits only: Number() alone would take '', ' 1', '0x10' and '1e3'.
  const form = integer ? /^\d+$/ : /^\d+(?:\.\d+)?$/;
  const value = typeof text === 'string' && form.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max && (!integer || Number.isSafeInteger(value))))
    usageError(
      command,
      `${flag} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${text}"`,
    );
  return value;
}

/**
 * `--set KEY=VALUE` items as config.json overrides: `true`/`false` become booleans and decimal
 * numbers numbers, anything else stays a string.
 */
export function configOverrides(
  command: BenchCommand,
  items: readonly string[] | undefined,
): Record<string, string | number | boolean> {
  const overrides: Record<string, string | number | boolean> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) usageError(command, `--set takes KEY=VALUE, got "${item}"`);
    const raw = item.slice(eq + 1);
    overrides[item.slice(0, eq)] =
      raw === 'true' ? true : raw === 'false' ? false : /^-?\d+(?:\.\d+)?$/.test(raw) ? Number(raw) : raw;
  }
  return overrides;
}
