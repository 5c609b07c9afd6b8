/**
 * Runs a health-data command of `careledger`, for a person at a terminal: finds the command in
 * the registry (groups.ts), parses and checks its flags, connects to a chain and loads the signer
 * key when the command needs them, runs it over HealthClient (so every answer shown is proven
 * against a light-client-verified app hash) and prints its output.
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
import { argsError, checkRequired, declaredOnly, optStr, parseFlags, str, type Values } from './args.ts';
import { allOptions, type Command } from './command.ts';
import { GROUPS } from './groups.ts';
import { groupUsage, usageOf } from './help.ts';
import { type CliIo, DEFAULT_NODE, defaultCliIo } from './io.ts';
import { errorLine, printable } from './output.ts';

async function clientFor(
  c: Command,
  v: Values,
  io: CliIo,
): Promise<{ client: HealthClient; key: KeyPair | null }> {
  // Check the arguments a person can get wrong before any file or network is touched.
  checkRequired(allOptions(c), v);
  if (c.needs === 'none')
    return { client: new HealthClient({ chainId: 'none', transport: unreachableTransport }), key: null };
  const besideKey = c.genesisBesideKey === true && v.genesis === undefined;
  const genesis = io.readGenesis(
    besideKey ? join(dirname(str(v, 'key')), 'genesis.json') : str(v, 'genesis'),
  );
  const key = c.needs === 'signer' ? loadKeyFile(str(v, 'key')) : null;
  const transport = await io.connect(optStr(v, 'node') ?? DEFAULT_NODE, genesis);
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

/**
 * Runs `careledger <group> <command> [options]` (args start at the group) and returns the exit
 * status: 0, or 2 after printing one line `careledger: CODE: message` to stderr.
 */
export async function runHealthCommand(args: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const env: CliIo = { ...defaultCliIo, ...io };
  const [group = '', name, ...rest] = args;
  const commands = GROUPS[group];
  const fail = (err: unknown): number => {
    env.stderr(`careledger: ${printable(errorLine(err))}\n`);
    return 2;
  };
  if (commands === undefined) return fail(argsError(`unknown command group "${group}"`));
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === undefined) {
      env.stderr(groupUsage(group, commands));
      return 2;
    }
    env.stdout(groupUsage(group, commands));
    return 0;
  }
  const command = commands[name];
  if (command === undefined)
    return fail(argsError(`unknown command "${group} ${name}" (see careledger ${group} --help)`));
  try {
    const options = allOptions(command);
    const v = declaredOnly(options, parseFlags(options, rest));
    if (v.help === true) {
      env.stdout(usageOf(group, name, command));
      return 0;
    }
    const { client, key } = await clientFor(command, v, env);
    const out = await command.run({ io: env, v, client, key });
    env.stdout(v.json === true ? `${JSON.stringify(out.json, null, 2)}\n` : printable(out.text));
    return 0;
  } catch (err) {
    return fail(err);
  }
}

/** The help text of one command (for docs and tests). */
export function healthCommandUsage(group: string, name: string): string {
  const command = GROUPS[group]?.[name];
  if (command === undefined) throw argsError(`unknown command "${group} ${name}"`);
  return usageOf(group, name, command);
}
