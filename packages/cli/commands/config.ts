/**
 * `careledger config`: the client config (config.ts), so a person sets the node, the genesis file
 * and their key once instead of giving --node, --genesis and --key to every chain command. `set`
 * stores a path absolute; `get` and `list` show the value in effect and where it comes from
 * (CARELEDGER_* in the environment wins over the file; a flag wins over both).
 */
import { existsSync } from 'node:fs';
import { CareLedgerError } from '../../core/errors.ts';
import { argsError, quoted } from '../args.ts';
import type { Group } from '../command.ts';
import {
  CONFIG_ENV,
  CONFIG_KEYS,
  type ConfigKey,
  configDefaults,
  configPath,
  normalizeSetting,
  readConfig,
  type Setting,
  writeConfig,
} from '../config.ts';
import { plain } from '../output.ts';

function keyOf(value: string | undefined): ConfigKey {
  if (!(CONFIG_KEYS as readonly (string | undefined)[]).includes(value))
    throw argsError(`unknown setting ${quoted(value ?? '')} (settings: ${CONFIG_KEYS.join(', ')})`);
  return value as ConfigKey;
}

function from(key: ConfigKey, s: Setting, path: string): string {
  switch (s.source) {
    case 'env':
      return `from ${CONFIG_ENV[key]}`;
    case 'file':
      return `from ${path}`;
    default:
      return 'default';
  }
}

const SETTINGS_HELP = `Settings: node (URL), genesis (FILE), key (FILE). Environment variables ${Object.values(CONFIG_ENV).join(', ')}\noverride the file, and a command's flags override both.`;

export const config: Group = {
  set: {
    summary: 'store the node, genesis file or key chain commands use by default',
    description: `Stores a setting in the client config file ($XDG_CONFIG_HOME/careledger/config.json, else\n~/.config/careledger/config.json). A file path is stored absolute, resolved from this folder.\n${SETTINGS_HELP}`,
    needs: 'none',
    positionals: ['KEY', 'VALUE'],
    options: {},
    async run({ env, args }) {
      const key = keyOf(args[0]);
      const value = normalizeSetting(env, key, args[1] ?? '');
      // A mistyped path is caught now rather than at every later command.
      if (key !== 'node' && !existsSync(value))
        throw new CareLedgerError('CLI_FILE_NOT_FOUND', `${value} does not exist (${key} not set)`);
      const path = writeConfig(env, { ...readConfig(env), [key]: value });
      return { json: { key, value, file: path }, text: `${key} = ${value}  (in ${path})\n` };
    },
  },
  unset: {
    summary: 'remove a setting from the client config',
    description: `Removes a setting from the client config file.\n${SETTINGS_HELP}`,
    needs: 'none',
    positionals: ['KEY'],
    options: {},
    async run({ env, args }) {
      const key = keyOf(args[0]);
      const { [key]: _removed, ...rest } = readConfig(env);
      const path = writeConfig(env, rest);
      return { json: { key, file: path }, text: `${key} removed  (from ${path})\n` };
    },
  },
  get: {
    summary: 'print the value a setting has now',
    description: `Prints the value of a setting in effect (environment, else file, else default), alone on its\nline for scripts; fails with CLI_NOT_FOUND when it is not set.\n${SETTINGS_HELP}`,
    needs: 'none',
    positionals: ['KEY'],
    options: {},
    async run({ env, args }) {
      const key = keyOf(args[0]);
      const s = configDefaults(env)[key];
      if (s === null)
        throw new CareLedgerError(
          'CLI_NOT_FOUND',
          `${key} is not set (careledger config set ${key} FILE, or ${CONFIG_ENV[key]})`,
        );
      return { json: { key, ...s }, text: `${s.value}\n` };
    },
  },
  list: {
    summary: 'show every setting, its value and where it comes from',
    description: `Shows each setting in effect and its source (environment, the config file, or the default).\n${SETTINGS_HELP}`,
    needs: 'none',
    options: {},
    async run({ env }) {
      const path = configPath(env);
      const settings = configDefaults(env);
      const rows = CONFIG_KEYS.map((key) => {
        const s = settings[key];
        return s === null ? { key, value: null, source: null } : { key, ...s };
      });
      const width = Math.max(...CONFIG_KEYS.map((k) => k.length)) + 2;
      const text = CONFIG_KEYS.map((key) => {
        const s = settings[key];
        return `${key.padEnd(width)}${s === null ? '(not set)' : `${s.value}  (${from(key, s, path)})`}`;
      });
      return { json: plain({ file: path, settings: rows }), text: `${text.join('\n')}\n` };
    },
  },
};
