/**
 * The client config: the node, genesis file and key a person uses every time, so chain commands
 * need not repeat `--node`, `--genesis` and `--key`. Each setting comes from, in order of
 * precedence: the command's flag, the environment (CARELEDGER_NODE, CARELEDGER_GENESIS,
 * CARELEDGER_KEY), the config file, and (for the node only) the default address.
 *
 * The file is JSON, `{"node": URL, "genesis": PATH, "key": PATH}`, at
 * `$XDG_CONFIG_HOME/careledger/config.json` (or `~/.config/careledger/config.json` when
 * XDG_CONFIG_HOME is unset or relative, as the XDG base directory spec says). Paths are stored
 * absolute, resolved against the working directory of `config set`, so the config means the same
 * from any folder; a relative path in the environment or a flag is resolved against the caller's
 * working directory (`CliEnv.cwd`).
 *
 * The environment, working directory and home folder come in through `CliEnv`, so tests run
 * with their own (a temp folder, no CARELEDGER_* variables) and never read the user's config.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CareLedgerError } from '../core/errors.ts';
import { DEFAULT_NODE } from './io.ts';

/** What the CLI reads from its surroundings besides flags. */
export interface CliEnv {
  /** Environment variables (CARELEDGER_*, XDG_CONFIG_HOME). */
  readonly vars: Readonly<Record<string, string | undefined>>;
  /** The caller's working directory: relative paths resolve against it. */
  readonly cwd: string;
  /** The user's home folder (for ~/.config). */
  readonly home: string;
}

export function processEnv(): CliEnv {
  return { vars: process.env, cwd: process.cwd(), home: homedir() };
}

export const CONFIG_KEYS = ['node', 'genesis', 'key'] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];
export type ClientConfig = Partial<Record<ConfigKey, string>>;

/** The environment variable of each setting. */
export const CONFIG_ENV: Readonly<Record<ConfigKey, string>> = {
  node: 'CARELEDGER_NODE',
  genesis: 'CARELEDGER_GENESIS',
  key: 'CARELEDGER_KEY',
};

function configError(message: string): CareLedgerError {
  return new CareLedgerError('CLI_CONFIG_INVALID', message);
}

/** The config file's path for `env`. */
export function configPath(env: CliEnv): string {
  const xdg = env.vars.XDG_CONFIG_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(env.home, '.config');
  return join(base, 'careledger', 'config.json');
}

/** `path` as an absolute path, relative to the caller's working directory. */
export function callerPath(env: CliEnv, path: string): string {
  return resolve(env.cwd, path);
}

/** A node address: an http(s) URL with a host (and a path, behind a proxy), without its final `/`. */
export function checkNodeUrl(value: string, what: string): string {
  const url = value.replace(/\/$/, '');
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(url))
    throw new CareLedgerError(
      'CLI_ARGS_INVALID',
      `${what}: ${JSON.stringify(value)} is not a URL such as ${DEFAULT_NODE}`,
    );
  return url;
}

/** Reads the config file: {} if there is none; CLI_CONFIG_INVALID if it is not a config. */
export function readConfig(env: CliEnv): ClientConfig {
  const path = configPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw configError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw configError(`${path} is not JSON (fix it, or remove it and run careledger config set again)`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw configError(`${path} must hold a JSON object`);
  const config: ClientConfig = {};
  for (const [k, v] of Object.entries(json)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(k))
      throw configError(`${path}: unknown setting "${k}" (settings: ${CONFIG_KEYS.join(', ')})`);
    if (typeof v !== 'string' || v === '') throw configError(`${path}: "${k}" must be a non-empty string`);
    config[k as ConfigKey] = v;
  }
  return config;
}

/** Writes the config file (atomically: a crash leaves the old file or the new one). */
export function writeConfig(env: CliEnv, config: ClientConfig): string {
  const path = configPath(env);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err) {
    throw configError(`cannot write ${path}: ${(err as Error).message}`);
  }
  return path;
}

/** A setting's value as it will be stored: a URL checked, a path made absolute. */
export function normalizeSetting(env: CliEnv, key: ConfigKey, value: string): string {
  if (value === '') throw new CareLedgerError('CLI_ARGS_INVALID', `the value of ${key} is empty`);
  return key === 'node' ? checkNodeUrl(value, key) : callerPath(env, value);
}

export type Source = 'flag' | 'env' | 'file' | 'default';

/** A setting in effect, and where it came from. */
export interface Setting {
  readonly value: string;
  readonly source: Source;
}

/**
 * The settings from the environment and the file (env first), paths absolute: what a command
 * uses where its flag is absent. The node falls back to the default address.
 */
export function configDefaults(
  env: CliEnv,
  file: ClientConfig = readConfig(env),
): Record<ConfigKey, Setting | null> {
  const out = {} as Record<ConfigKey, Setting | null>;
  for (const key of CONFIG_KEYS) {
    const fromEnv = env.vars[CONFIG_ENV[key]];
    if (fromEnv !== undefined && fromEnv !== '')
      out[key] = { value: normalizeSetting(env, key, fromEnv), source: 'env' };
    else if (file[key] !== undefined)
      out[key] = { value: normalizeSetting(env, key, file[key]), source: 'file' };
    else out[key] = key === 'node' ? { value: DEFAULT_NODE, source: 'default' } : null;
  }
  return out;
}

/** How to give a setting when it is missing: for the one-line error of a required flag. */
export function settingHint(key: ConfigKey): string {
  return `--${key} is required (or set ${CONFIG_ENV[key]}, or run careledger config set ${key} ${key === 'node' ? 'URL' : 'FILE'})`;
}
