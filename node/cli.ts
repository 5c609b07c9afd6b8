#!/usr/bin/env node
/**
 * `careledger`: the node's command line, modelled on `cometbft`. Each command has --help; bad
 * flags, missing homes and corrupt files print one clear line and exit non-zero.
 */
import { rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { peerIdFromNodeKey } from '../p2p/identity.ts';
import { HEALTH_COMMAND_GROUPS, HEALTH_COMMANDS_HELP, runHealthCommand } from '../packages/client/cli.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { APPLICATIONS, type ApplicationName } from './config.ts';
import { loadHome } from './home.ts';
import { createLogger } from './log.ts';
import { CareLedgerNode } from './node.ts';
import { rollback } from './rollback.ts';
import { pubKeyJson } from './rpc-format.ts';
import { NODE_VERSION } from './rpc-methods.ts';
import { createTestnet } from './testnet.ts';

const usage = `Usage: careledger <command> [options]

Commands:
  init              create a home folder for a single-validator chain
  testnet           create home folders for a consortium of validators
  start             run a node from its home folder
  status            show a running node's height, peers, sync state and voting power
  show-node-id      print the node's libp2p peer id
  show-validator    print the validator's public key
  rollback          move a stopped node's state back one height
  unsafe-reset-all  delete a node's blocks, state and WAL (keeps keys and config)
  version           print the version

Health-data commands (a client of any node's RPC; sign with a key file):
${HEALTH_COMMANDS_HELP}

Run \`careledger <command> --help\` for a command's options.
`;

const testnetUsage = `Usage: careledger testnet --validators N --output DIR [options]

Creates N node home folders (DIR/node0 … DIR/nodeN-1) that share one genesis and list each other
as persistent peers. Without --hostnames, node I listens on 127.0.0.1 with P2P on 26656+10*I and
RPC on 26657+10*I. With --hostnames h0,h1,… node I uses the default ports (P2P 26656, RPC 26657)
on host I: copy DIR/nodeI to host I and run \`careledger start --home DIR/nodeI\` there. P2P
listens on host I's IP (every interface for a DNS name); RPC and metrics (P2P port + 4) listen on
127.0.0.1 until rpc.listen and instrumentation.prometheus_listen say otherwise.

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
  --base-port P       P2P port of node 0, RPC is P+1, node I adds 10*I (default 26656)
  -h, --help          show this help
`;

const startUsage = `Usage: careledger start --home DIR

Runs a validator node from its home folder until SIGINT or SIGTERM, then stops cleanly (finishes
the block being written and closes the database).

Options:
  --home DIR          the node's home folder (required)
  -h, --help          show this help
`;

function fail(message: string, help?: string): never {
  process.stderr.write(`careledger: ${message}\n`);
  if (help !== undefined) process.stderr.write(`\n${help}`);
  process.exit(2);
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

function parse(args: string[], options: Options, help: string): Record<string, string | boolean | undefined> {
  try {
    const { values } = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    fail((err as Error).message, help);
  }
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
    testnetUsage,
  );
  if (v.help === true) {
    process.stdout.write(testnetUsage);
    return;
  }
  if (typeof v.validators !== 'string' || !/^\d+$/.test(v.validators))
    fail('--validators N is required', testnetUsage);
  if (typeof v.output !== 'string' || v.output.length === 0) fail('--output DIR is required', testnetUsage);
  const hostnames = list(v.hostnames);
  const names = list(v.names);
  const roles = list(v.roles);
  const app = v.app;
  if (app !== undefined && !APPLICATIONS.includes(app as ApplicationName))
    fail(`--app must be ${APPLICATIONS.join(' or ')}`, testnetUsage);
  const chainId = typeof v['chain-id'] === 'string' ? v['chain-id'] : undefined;
  const basePort = v['base-port'];
  if (basePort !== undefined && (typeof basePort !== 'string' || !/^\d+$/.test(basePort)))
    fail('--base-port must be a port number', testnetUsage);
  createTestnet({
    validators: Number(v.validators),
    output: v.output,
    ...(hostnames === undefined ? {} : { hostnames }),
    ...(names === undefined ? {} : { names }),
    ...(roles === undefined ? {} : { roles }),
    ...(app === undefined ? {} : { app: app as ApplicationName }),
    ...(chainId === undefined ? {} : { chainId }),
    ...(basePort === undefined ? {} : { basePort: Number(basePort) }),
    progress: (line) => process.stdout.write(`${line}\n`),
  });
}

async function start(args: string[]): Promise<void> {
  const v = parse(args, { home: { type: 'string' } }, startUsage);
  if (v.help === true) {
    process.stdout.write(startUsage);
    return;
  }
  if (typeof v.home !== 'string' || v.home.length === 0) fail('--home DIR is required', startUsage);
  const home = loadHome(v.home);
  const log = createLogger(home.config.log, { moniker: home.config.moniker });
  const node = await CareLedgerNode.start(home, log);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('stop failed', { error: (err as Error).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
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
    initUsage,
  );
  if (v.help === true) {
    process.stdout.write(initUsage);
    return;
  }
  if (typeof v.home !== 'string' || v.home.length === 0) fail('--home DIR is required', initUsage);
  const moniker = typeof v.moniker === 'string' ? v.moniker : basename(resolve(v.home));
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

function homeArg(args: string[], help: string): string | null {
  const v = parse(args, { home: { type: 'string' } }, help);
  if (v.help === true) {
    process.stdout.write(help);
    return null;
  }
  if (typeof v.home !== 'string' || v.home.length === 0) fail('--home DIR is required', help);
  return v.home;
}

async function showNodeId(args: string[]): Promise<void> {
  const dir = homeArg(
    args,
    homeOnlyUsage('show-node-id', 'Prints the libp2p peer id of the node (from config/node_key.json).'),
  );
  if (dir !== null) process.stdout.write(`${peerIdFromNodeKey(loadHome(dir).nodeKeySeed)}\n`);
}

async function showValidator(args: string[]): Promise<void> {
  const dir = homeArg(
    args,
    homeOnlyUsage(
      'show-validator',
      'Prints the validator\'s public key as CometBFT does: {"type", "value"}.',
    ),
  );
  if (dir !== null)
    process.stdout.write(`${JSON.stringify(pubKeyJson(loadHome(dir).validatorKey.publicKey))}\n`);
}

async function unsafeResetAll(args: string[]): Promise<void> {
  const help = homeOnlyUsage(
    'unsafe-reset-all',
    "Deletes the node's blocks, state and consensus WAL, and resets the double-sign guard to height 0.\nKeys and config stay. Unsafe: a validator reset this way can sign again at heights it signed\nbefore; only use it on a chain that is itself being reset.",
  );
  const dir = homeArg(args, help);
  if (dir === null) return;
  const paths = loadHome(dir).paths;
  rmSync(paths.db, { recursive: true, force: true });
  rmSync(paths.wal, { force: true });
  rmSync(paths.signState, { force: true });
  process.stdout.write(`removed ${paths.db}, ${paths.wal} and ${paths.signState}\n`);
}

const statusUsage = `Usage: careledger status [--rpc URL] [--json]

Shows a running node's height, sync state, peers and voting power, from its RPC.

Options:
  --rpc URL           the node's RPC (default http://127.0.0.1:26657)
  --json              print the raw /status result as JSON
  -h, --help          show this help
`;

async function status(args: string[]): Promise<void> {
  const v = parse(args, { rpc: { type: 'string' }, json: { type: 'boolean' } }, statusUsage);
  if (v.help === true) {
    process.stdout.write(statusUsage);
    return;
  }
  const rpc = (typeof v.rpc === 'string' ? v.rpc : 'http://127.0.0.1:26657').replace(/\/$/, '');
  if (!/^https?:\/\/[^\s/]+$/.test(rpc))
    fail('--rpc must be a URL such as http://127.0.0.1:26657', statusUsage);
  const get = async <T>(path: string): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${rpc}${path}`, { signal: AbortSignal.timeout(5000) });
    } catch (err) {
      throw new CareLedgerError('RPC_UNREACHABLE', `cannot reach ${rpc} (${(err as Error).message})`);
    }
    const body = (await res.json()) as { result?: T; error?: { data?: string } };
    if (body.result === undefined)
      throw new CareLedgerError('RPC_ERROR', `${path} failed: ${body.error?.data ?? res.status}`);
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
  const help = homeOnlyUsage(
    'rollback',
    "Moves a stopped node's state back one height (H to H-1), to recover from a wrong state\ntransition: the database is rebuilt by replaying the node's blocks up to H-1, checked against\nthe app hash block H recorded, and swapped in; the old one is kept beside it. On restart the\nnode gets block H again from its peers. The double-sign state is kept.",
  );
  const dir = homeArg(args, help);
  if (dir === null) return;
  const result = await rollback(loadHome(dir), (line) => process.stdout.write(`${line}\n`));
  process.stdout.write(
    `rolled back from height ${result.from} to ${result.to}; the old database is kept at ${result.kept}\n`,
  );
}

async function version(): Promise<void> {
  process.stdout.write(`${NODE_VERSION}\n`);
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
if (run === undefined) fail(`unknown command "${command}"`, usage);
run(rest).catch((err: unknown) => {
  if (err instanceof CareLedgerError) fail(`${err.code}: ${err.message}`);
  fail(`unexpected error: ${(err as Error).stack ?? String(err)}`);
});
