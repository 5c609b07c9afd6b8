#!/usr/bin/env node
/**
 * `careledger`: the node's command line, modelled on `cometbft`. Each command has --help; bad
 * flags, missing homes and corrupt files print one clear line and exit non-zero.
 */
import { parseArgs } from 'node:util';
import { CareLedgerError } from '../packages/core/errors.ts';
import { loadHome } from './home.ts';
import { createLogger } from './log.ts';
import { CareLedgerNode } from './node.ts';
import { createTestnet } from './testnet.ts';

const usage = `Usage: careledger <command> [options]

Commands:
  testnet   create home folders for a consortium of validators
  start     run a node from its home folder

Run \`careledger <command> --help\` for a command's options.
`;

const testnetUsage = `Usage: careledger testnet --validators N --output DIR [options]

Creates N node home folders (DIR/node0 … DIR/nodeN-1) that share one genesis and list each other
as persistent peers. Without --hostnames, node I listens on 127.0.0.1 with P2P on 26656+10*I and
RPC on 26657+10*I. With --hostnames h0,h1,… node I uses the default ports (P2P 26656, RPC 26657)
on host I: copy DIR/nodeI to host I and run \`careledger start --home DIR/nodeI\` there.

Options:
  --validators N      number of validators, 1 to 100 (required)
  --output DIR        where to create the homes (required; must not hold keys already)
  --hostnames LIST    comma-separated hostnames or IPs, one per validator
  --names LIST        comma-separated monikers, one per validator (default node0, node1, …)
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
  const chainId = typeof v['chain-id'] === 'string' ? v['chain-id'] : undefined;
  const basePort = v['base-port'];
  if (basePort !== undefined && (typeof basePort !== 'string' || !/^\d+$/.test(basePort)))
    fail('--base-port must be a port number', testnetUsage);
  createTestnet({
    validators: Number(v.validators),
    output: v.output,
    ...(hostnames === undefined ? {} : { hostnames }),
    ...(names === undefined ? {} : { names }),
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

const [command, ...rest] = process.argv.slice(2);
const commands: Record<string, (args: string[]) => Promise<void>> = { testnet, start };
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
