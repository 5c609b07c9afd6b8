#!/usr/bin/env node
/**
 * `careledger`: the node's command line, modelled on `cometbft`. Each command has --help; bad
 * flags, missing homes and corrupt files print one clear line and exit non-zero.
 */
import { rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkNodeUrl, configDefaults, processEnv } from '../packages/cli/config.ts';
import { HEALTH_COMMAND_GROUPS, HEALTH_COMMANDS_HELP } from '../packages/cli/groups.ts';
import { DEFAULT_NODE } from '../packages/cli/io.ts';
import { errorLine } from '../packages/cli/output.ts';
import { runHealthCommand } from '../packages/cli/run.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { assertChainVerifier } from '../packages/crypto/verifier-rules.ts';
import { APPLICATIONS, type ApplicationName } from './config.ts';
import { loadHome } from './home.ts';

const usage = `Usage: careledger <command> [options]

Commands:
  init              create a home folder for a single-validator chain
  testnet           create home folders for a consortium of validators
  start             run a node from its home folder
  status            show a running node's height, peers, sync state and voting power
  show-node-id      print the node's libp2p peer id
  show-validator    print the validator's public key
  rollback          move a stopped node's state back one height
  unsafe-reset-all  delete a node's blocks, state and WAL and reset its double-sign guard
                    (data/priv_validator_state.json); keeps keys and config
  version           print the version

Health-data commands (a client of any node's RPC; sign with a key file):
${HEALTH_COMMANDS_HELP}

Run \`careledger <command> --help\` for a command's options. A failure prints one line
\`careledger: CODE: message\` to stderr and exits 2; with CARELEDGER_DEBUG=1 in the environment an
unexpected error also prints its stack.
`;

const testnetUsage = `Usage: careledger testnet --validators N --output DIR [options]

Creates N node home folders (DIR/node0 … DIR/nodeN-1) that share one genesis and list each other
as persistent peers. P is --base-port (default 26656). Without --hostnames, node I listens on
127.0.0.1 with P2P on P+10*I and RPC on P+1+10*I. With --hostnames h0,h1,… every node uses P2P P
and RPC P+1 itself, on host I: copy DIR/nodeI to host I and run
\`careledger start --home DIR/nodeI\` there. P2P listens on host I's IP (every interface for a DNS
name); RPC and metrics (P2P port + 4) listen on 127.0.0.1 until rpc.listen and
instrumentation.prometheus_listen say otherwise.

Options:
  --validators N      number of validators, 1 to 100 (required)
  --output DIR        where to create the homes (required; must not hold keys already)
  --hostnames LIST    comma-separated hostnames or IPs, one per validator
  --names LIST        comma-separated monikers, one per validator (default node0, node1, …);
                      each node's institution joins the genesis as a member of that name
                      (lower-cased), its signing key in DIR/nodeI/config/member_key.json
  --roles LIST        comma-separated member roles (provider, lab, payer, research), one per
                      validator (default from the name: lab…, insur…/payer…, research…, else provider)
  --app NAME          the application: health (default) or kvstore (a test key-value store for
                      benchmarks and consensus tests)
  --chain-id ID       chain id (default careledger-<random>)
  --base-port P       P2P port, RPC is P+1 (default 26656): with --hostnames every node's;
                      without, node 0's, and node I adds 10*I
  -h, --help          show this help
`;

const startUsage = `Usage: careledger start --home DIR

Runs a validator node from its home folder until SIGINT or SIGTERM, then stops cleanly (finishes
the block being written and closes the database).

Options:
  --home DIR          the node's home folder (required)
  -h, --help          show this help
`;

/**
 * Modules only some commands use, loaded when one runs: testnet.ts brings libp2p (a node's peer
 * id), over a hundred modules that `--help` and every health command would otherwise load first.
 */
const nodeModules = {
  testnet: () => import('./testnet.ts'),
};

/** Prints the one line `careledger: CODE: message` (as the health commands do) and exits 2. */
function report(err: unknown): never {
  process.stderr.write(`careledger: ${errorLine(err)}\n`);
  // A stack helps whoever debugs the node, not an operator: only on request.
  if (process.env.CARELEDGER_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(2);
}

/** A bad command line, pointing at the help of `command` (or the command list). */
function argsError(message: string, command?: string): CareLedgerError {
  const help = command === undefined ? 'careledger --help' : `careledger ${command} --help`;
  return new CareLedgerError('CLI_ARGS_INVALID', `${message} (see ${help})`);
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];
type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: Options, command: string): Values {
  try {
    const { values } = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    return values as Values;
  } catch (err) {
    // parseArgs' messages name the flag in their first sentence; the rest is advice for scripts.
    throw argsError((err as Error).message.split('\n')[0]!.replace(/\.( To specify.*)?$/, ''), command);
  }
}

/** A whole-number flag, undefined if absent; a present but bad value is named as such. */
function wholeNumber(v: Values, flag: string, min: number, max: number, command: string): number | undefined {
  const value = v[flag];
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max))
    throw argsError(`--${flag} must be a whole number from ${min} to ${max}`, command);
  return n;
}

function list(value: unknown): string[] | undefined {
  return typeof value === 'string'
    ? value
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v.length > 0)
    : undefined;
}

async function testnet(args: string[]): Promise<void> {
  const v = parse(
    args,
    {
      validators: { type: 'string' },
      output: { type: 'string' },
      hostnames: { type: 'string' },
      names: { type: 'string' },
      roles: { type: 'string' },
      app: { type: 'string' },
      'chain-id': { type: 'string' },
      'base-port': { type: 'string' },
    },
    'testnet',
  );
  if (v.help === true) {
    process.stdout.write(testnetUsage);
    return;
  }
  const validators = wholeNumber(v, 'validators', 1, 100, 'testnet');
  if (validators === undefined) throw argsError('--validators N is required', 'testnet');
  if (typeof v.output !== 'string' || v.output.length === 0)
    throw argsError('--output DIR is required', 'testnet');
  const hostnames = list(v.hostnames);
  const names = list(v.names);
  const roles = list(v.roles);
  const app = v.app;
  if (app !== undefined && !APPLICATIONS.includes(app as ApplicationName))
    throw argsError(`--app must be ${APPLICATIONS.join(' or ')}`, 'testnet');
  const chainId = typeof v['chain-id'] === 'string' ? v['chain-id'] : undefined;
  // createTestnet checks that every node's ports fit.
  const basePort = wholeNumber(v, 'base-port', 1024, 65535, 'testnet');
  const { createTestnet } = await nodeModules.testnet();
  createTestnet({
    validators,
    output: v.output,
    ...(hostnames === undefined ? {} : { hostnames }),
    ...(names === undefined ? {} : { names }),
    ...(roles === undefined ? {} : { roles }),
    ...(app === undefined ? {} : { app: app as ApplicationName }),
    ...(chainId === undefined ? {} : { chainId }),
    ...(basePort === undefined ? {} : { basePort }),
    progress: (line) => process.stdout.write(`${line}\n`),
  });
}

async function start(args: string[]): Promise<void> {
  const v = parse(args, { home: { type: 'string' } }, 'start');
  if (v.help === true) {
    process.stdout.write(startUsage);
    return;
  }
  if (typeof v.home !== 'string' || v.home.length === 0) throw argsError('--home DIR is required', 'start');
  // The signature rule is a consensus rule: a build whose verifier answers the pinned edge cases
  // differently could fork the chain, so it stops here (exit 2) before it opens anything.
  assertChainVerifier();
  const home = loadHome(v.home);
  // The node's modules (libp2p, LevelDB, consensus) load only for the commands that run one:
  // they take most of a second, which every client command would otherwise wait for.
  const [{ createLogger }, { CareLedgerNode }] = await Promise.all([import('./log.ts'), import('./node.ts')]);
  const log = createLogger(home.config.log, { moniker: home.config.moniker });
  const node = await CareLedgerNode.start(home, log);
  let stopping = false;
  const stop = (why: string, exitCode: number): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { why });
    node.stop().then(
      () => process.exit(exitCode),
      (err: unknown) => {
        log.error('stop failed', { error: (err as Error).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT', 0));
  process.on('SIGTERM', () => stop('SIGTERM', 0));
  // A block it could not write: stop, with a failure status for the supervisor to restart it.
  node.events.once('fatal', (err) => stop(err.code, 1));
}

const initUsage = `Usage: careledger init --home DIR [--chain-id ID] [--moniker NAME]

Creates a home folder with new keys, a default config and a genesis in which this node is the
only validator (a chain to try things on; a consortium starts from \`careledger testnet\`). The
node's institution is the chain's one health-data member (id from the moniker, role from it as in
testnet), signing with config/member_key.json.

Options:
  --home DIR          the folder to create (required; must not hold keys already)
  --chain-id ID       chain id (default careledger-<random>)
  --moniker NAME      node name (default the folder's name)
  -h, --help          show this help
`;

async function init(args: string[]): Promise<void> {
  const v = parse(
    args,
    { home: { type: 'string' }, 'chain-id': { type: 'string' }, moniker: { type: 'string' } },
    'init',
  );
  if (v.help === true) {
    process.stdout.write(initUsage);
    return;
  }
  if (typeof v.home !== 'string' || v.home.length === 0) throw argsError('--home DIR is required', 'init');
  const moniker = typeof v.moniker === 'string' ? v.moniker : basename(resolve(v.home));
  const { createTestnet, memberIdOf } = await nodeModules.testnet();
  // The moniker names the chain's one member; a folder name the user never chose as one gets a hint.
  if (typeof v.moniker !== 'string' && memberIdOf(moniker) === undefined)
    throw new CareLedgerError(
      'INIT_INVALID',
      `the folder name "${moniker}" is not a valid member id (2-40 of a-z, 0-9 and -): pass --moniker NAME`,
    );
  const chainId = typeof v['chain-id'] === 'string' ? v['chain-id'] : undefined;
  const dir = createTestnet({
    validators: 1,
    output: v.home,
    names: [moniker],
    flat: true,
    ...(chainId === undefined ? {} : { chainId }),
  })[0]!;
  process.stdout.write(`initialised ${dir}: start it with \`careledger start --home ${dir}\`\n`);
}

function homeOnlyUsage(command: string, what: string): string {
  return `Usage: careledger ${command} --home DIR\n\n${what}\n\nOptions:\n  --home DIR          the node's home folder (required)\n  -h, --help          show this help\n`;
}

/** The --home of a command that takes nothing else; null after printing its help. */
function homeArg(args: string[], command: string, what: string): string | null {
  const v = parse(args, { home: { type: 'string' } }, command);
  if (v.help === true) {
    process.stdout.write(homeOnlyUsage(command, what));
    return null;
  }
  if (typeof v.home !== 'string' || v.home.length === 0) throw argsError('--home DIR is required', command);
  return v.home;
}

async function showNodeId(args: string[]): Promise<void> {
  const dir = homeArg(
    args,
    'show-node-id',
    "Prints the libp2p peer id of the node (from config/node_key.json): the id member lists hold, /status's node_info.other.peer_id (node_info.id is CometBFT's hex form of the same key).",
  );
  if (dir === null) return;
  const { peerIdFromNodeKey } = await import('../p2p/identity.ts');
  process.stdout.write(`${peerIdFromNodeKey(loadHome(dir).nodeKeySeed)}\n`);
}

async function showValidator(args: string[]): Promise<void> {
  const dir = homeArg(
    args,
    'show-validator',
    'Prints the validator\'s public key as CometBFT does: {"type", "value"}.',
  );
  if (dir === null) return;
  const { pubKeyJson } = await import('./rpc/format.ts');
  process.stdout.write(`${JSON.stringify(pubKeyJson(loadHome(dir).validatorKey.publicKey))}\n`);
}

async function unsafeResetAll(args: string[]): Promise<void> {
  const dir = homeArg(
    args,
    'unsafe-reset-all',
    "Deletes the node's blocks, state and consensus WAL, and resets the double-sign guard to height 0.\nKeys and config stay. Unsafe: a validator reset this way can sign again at heights it signed\nbefore; only use it on a chain that is itself being reset.",
  );
  if (dir === null) return;
  const paths = loadHome(dir).paths;
  rmSync(paths.db, { recursive: true, force: true });
  rmSync(paths.wal, { force: true });
  rmSync(paths.signState, { force: true });
  process.stdout.write(`removed ${paths.db}, ${paths.wal} and ${paths.signState}\n`);
}

const statusUsage = `Usage: careledger status [--node URL] [--json]

Shows a running node's height, sync state, peers and voting power, from its RPC.

Options:
  --node URL          the node's RPC (default: CARELEDGER_NODE, the client config, else
                      http://127.0.0.1:26657), as every chain command takes it
  --rpc URL           deprecated: the old name of --node
  --json              print the raw /status result as JSON
  -h, --help          show this help
`;

async function status(args: string[]): Promise<void> {
  const v = parse(
    args,
    { node: { type: 'string' }, rpc: { type: 'string' }, json: { type: 'boolean' } },
    'status',
  );
  if (v.help === true) {
    process.stdout.write(statusUsage);
    return;
  }
  if (typeof v.node === 'string' && typeof v.rpc === 'string')
    throw argsError('give --node only (--rpc is its deprecated old name)', 'status');
  // flag > CARELEDGER_NODE > the client config > the default, as for the health commands.
  const given = typeof v.node === 'string' ? v.node : v.rpc;
  const flag = typeof v.node === 'string' ? '--node' : '--rpc';
  const rpc =
    typeof given === 'string'
      ? checkNodeUrl(given, flag)
      : (configDefaults(processEnv()).node?.value ?? DEFAULT_NODE);
  const get = async <T>(path: string): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${rpc}${path}`, { signal: AbortSignal.timeout(5000) });
    } catch (err) {
      throw new CareLedgerError('RPC_UNREACHABLE', `cannot reach ${rpc} (${(err as Error).message})`);
    }
    let body: { result?: T; error?: { data?: string } } | null;
    try {
      body = (await res.json()) as typeof body;
    } catch {
      // Not a CareLedger RPC (a web page, a proxy's error): say so rather than show a parse error.
      throw new CareLedgerError(
        'RPC_ERROR',
        `${rpc} did not answer JSON-RPC (HTTP ${res.status} for ${path})`,
      );
    }
    if (body?.result === undefined)
      throw new CareLedgerError('RPC_ERROR', `${path} failed: ${body?.error?.data ?? res.status}`);
    return body.result;
  };
  const s = await get<{
    node_info: { moniker: string; network: string };
    sync_info: { latest_block_height: string; latest_block_time: string; catching_up: boolean };
    validator_info: { voting_power: string };
  }>('/status');
  if (v.json === true) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const peers = await get<{ n_peers?: string }>('/net_info').then(
    (n) => String(n.n_peers ?? '?'),
    () => '?',
  );
  const lines = [
    ['moniker', s.node_info.moniker],
    ['chain', s.node_info.network],
    ['height', s.sync_info.latest_block_height],
    ['block time', s.sync_info.latest_block_time],
    ['catching up', String(s.sync_info.catching_up)],
    ['peers', peers],
    ['voting power', s.validator_info.voting_power],
  ];
  for (const [k, val] of lines) process.stdout.write(`${k!.padEnd(13)} ${val}\n`);
}

async function rollbackCommand(args: string[]): Promise<void> {
  const dir = homeArg(
    args,
    'rollback',
    "Moves a stopped node's state back one height (H to H-1), to recover from a wrong state\ntransition: the database is rebuilt by replaying the node's blocks up to H-1, checked against\nthe app hash block H recorded, and swapped in; the old one is kept beside it. On restart the\nnode gets block H again from its peers. The double-sign state is kept.",
  );
  if (dir === null) return;
  const { rollback } = await import('./rollback.ts');
  const result = await rollback(loadHome(dir), (line) => process.stdout.write(`${line}\n`));
  process.stdout.write(
    `rolled back from height ${result.from} to ${result.to}; the old database is kept at ${result.kept}\n`,
  );
}

const versionUsage = `Usage: careledger version

Prints the node's version.

Options:
  -h, --help          show this help
`;

async function version(args: string[]): Promise<void> {
  const v = parse(args, {}, 'version');
  if (v.help === true) process.stdout.write(versionUsage);
  else process.stdout.write(`${(await import('./rpc/status.ts')).NODE_VERSION}\n`);
}

const [command, ...rest] = process.argv.slice(2);
const commands: Record<string, (args: string[]) => Promise<void>> = {
  init,
  testnet,
  start,
  status,
  'show-node-id': showNodeId,
  'show-validator': showValidator,
  'unsafe-reset-all': unsafeResetAll,
  rollback: rollbackCommand,
  version,
  ...Object.fromEntries(
    HEALTH_COMMAND_GROUPS.map((group) => [
      group,
      async (args: string[]) => {
        const code = await runHealthCommand([group, ...args]);
        if (code !== 0) process.exit(code);
      },
    ]),
  ),
};
if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write(usage);
  process.exit(command === undefined ? 2 : 0);
}
const run = commands[command];
if (run === undefined) report(argsError(`unknown command "${command}"`));
run(rest).catch(report);
