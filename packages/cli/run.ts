/**
 * Runs a health-data command of `careledger`, for a person at a terminal: finds the command in
 * the registry (groups.ts), parses and checks its flags, fills --node, --genesis and --key from
 * the environment or the client config where they are not given (config.ts: flag > env > file),
 * connects to a chain and loads the signer key when the command needs them, runs it over
 * HealthClient (so every answer shown is proven against a light-client-verified app hash) and
 * prints its output.
 *
 * Output is human-readable, or JSON with `--json`. A failure is one line,
 * `careledger: CODE: sentence`, and exit status 2, as in node/cli.ts. Private keys and record
 * plaintext are never printed: files are read only to hash them.
 */
import { dirname, join } from 'node:path';
import { HealthClient, type HealthTransport } from '../client/health.ts';
import { loadKeyFile } from '../client/keys.ts';
import { CareLedgerError } from '../core/errors.ts';
import type { KeyPair } from '../crypto/ed25519.ts';
import {
  argsError,
  checkRequired,
  declaredOnly,
  type OptionSpecs,
  parseFlags,
  str,
  type Values,
} from './args.ts';
import { allOptions, type Command } from './command.ts';
import {
  type CliEnv,
  type ConfigKey,
  callerPath,
  checkNodeUrl,
  configDefaults,
  processEnv,
  settingHint,
} from './config.ts';
import { GROUPS } from './groups.ts';
import { groupUsage, usageOf } from './help.ts';
import { type CliIo, defaultCliIo } from './io.ts';
import { errorLine, printable } from './output.ts';

/** The shared settings a command takes: --node and --genesis for a chain, --key to sign. */
function settingsOf(c: Command): ConfigKey[] {
  if (c.needs === 'none') return [];
  return c.needs === 'signer' ? ['node', 'genesis', 'key'] : ['node', 'genesis'];
}

/**
 * The flags with the command's shared settings filled in: a flag as given (a path made absolute
 * against the caller's working directory), else the environment's or the config file's value.
 * The config file is read only when a setting is missing.
 */
function withSettings(c: Command, flags: Values, env: CliEnv): Values {
  const keys = settingsOf(c);
  if (keys.length === 0) return flags;
  const out: Record<string, Values[string]> = { ...flags };
  const missing = keys.filter((k) => typeof flags[k] !== 'string');
  const defaults = missing.length === 0 ? null : configDefaults(env);
  for (const k of keys) {
    const given = flags[k];
    if (typeof given === 'string')
      out[k] = k === 'node' ? checkNodeUrl(given, '--node') : given === '' ? given : callerPath(env, given);
    else if (defaults?.[k] != null) out[k] = defaults[k].value;
  }
  // Last: the genesis.json beside the key file (a node's home keeps both in config/).
  if (c.genesisBesideKey === true && typeof out.genesis !== 'string' && typeof out.key === 'string')
    out.genesis = join(dirname(out.key), 'genesis.json');
  return out;
}

/** Refuses a missing flag: the command's own first, then a shared setting, with how to set it. */
function checkFlags(c: Command, v: Values): void {
  checkRequired(c.options, v);
  for (const k of settingsOf(c)) if (typeof v[k] !== 'string' || v[k] === '') throw argsError(settingHint(k));
}

async function clientFor(
  c: Command,
  v: Values,
  io: CliIo,
): Promise<{ client: HealthClient; key: KeyPair | null }> {
  // Check the arguments a person can get wrong before any file or network is touched.
  checkFlags(c, v);
  if (c.needs === 'none')
    return { client: new HealthClient({ chainId: 'none', transport: unreachableTransport }), key: null };
  const genesis = io.readGenesis(str(v, 'genesis'));
  const key = c.needs === 'signer' ? loadKeyFile(str(v, 'key')) : null;
  const transport = await io.connect(str(v, 'node'), genesis);
  const client = new HealthClient({
    chainId: genesis.chainId,
    transport,
    clockMicros: io.clockMicros,
    ...(key === null ? {} : { key }),
  });
  return { client, key };
}

const unreachableTransport: HealthTransport = {
  broadcast: () => Promise.reject(new CareLedgerError('CLI_NO_CHAIN', 'this command does not use a chain')),
  query: () => Promise.reject(new CareLedgerError('CLI_NO_CHAIN', 'this command does not use a chain')),
};

/** Splits the command's positional arguments (they come first) from its flags. */
function splitPositionals(c: Command, rest: readonly string[]): { args: string[]; flags: string[] } {
  const n = c.positionals?.length ?? 0;
  let i = 0;
  while (i < n && i < rest.length && !rest[i]!.startsWith('-')) i++;
  return { args: rest.slice(0, i), flags: rest.slice(i) };
}

function checkPositionals(c: Command, group: string, name: string, args: readonly string[]): void {
  const names = c.positionals ?? [];
  if (args.length !== names.length)
    throw argsError(
      `careledger ${group} ${name} takes ${names.join(' ')} (see careledger ${group} ${name} --help)`,
    );
}

/**
 * Runs `careledger <group> <command> [options]` (args start at the group) and returns the exit
 * status: 0, or 2 after printing one line `careledger: CODE: message` to stderr. `env` is where
 * the client config and the CARELEDGER_* variables come from (tests pass their own).
 */
export async function runHealthCommand(
  args: readonly string[],
  io: Partial<CliIo> = {},
  env: CliEnv = processEnv(),
): Promise<number> {
  const out: CliIo = { ...defaultCliIo, ...io };
  const [group = '', name, ...rest] = args;
  const commands = GROUPS[group];
  const fail = (err: unknown): number => {
    out.stderr(`careledger: ${printable(errorLine(err))}\n`);
    return 2;
  };
  if (commands === undefined) return fail(argsError(`unknown command group "${group}"`));
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === undefined) {
      out.stderr(groupUsage(group, commands));
      return 2;
    }
    out.stdout(groupUsage(group, commands));
    return 0;
  }
  const command = commands[name];
  if (command === undefined)
    return fail(argsError(`unknown command "${group} ${name}" (see careledger ${group} --help)`));
  try {
    const options: OptionSpecs = allOptions(command);
    const split = splitPositionals(command, rest);
    const flags = parseFlags(options, split.flags);
    if (flags.help === true) {
      out.stdout(usageOf(group, name, command));
      return 0;
    }
    checkPositionals(command, group, name, split.args);
    const v = declaredOnly(options, withSettings(command, flags, env));
    const { client, key } = await clientFor(command, v, out);
    const result = await command.run({ io: out, env, v, args: split.args, client, key });
    out.stdout(v.json === true ? `${JSON.stringify(result.json, null, 2)}\n` : printable(result.text));
    return 0;
  } catch (err) {
    return fail(withFix(command, err));
  }
}

/** `err` with the flag that fixes it appended, when the command names one for its code. */
function withFix(c: Command, err: unknown): unknown {
  if (!(err instanceof CareLedgerError)) return err;
  const flag = c.fixes?.[err.code];
  return flag === undefined
    ? err
    : new CareLedgerError(err.code, `${err.message} (change ${flag})`, err.action);
}

/** The help text of one command (for docs and tests). */
export function healthCommandUsage(group: string, name: string): string {
  const command = GROUPS[group]?.[name];
  if (command === undefined) throw argsError(`unknown command "${group} ${name}"`);
  return usageOf(group, name, command);
}
