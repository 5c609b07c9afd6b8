/**
 * node/cli.ts as an operator meets it: every failure is one line `careledger: CODE: sentence` on
 * stderr and exit 2 (bad flags, corrupt files, unwritable homes, a non-JSON RPC, unexpected
 * errors without their stack), and the help says what the commands do. Each case spawns the real
 * CLI; the spawns of a test run side by side.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTestnet } from '../../../node/testnet.ts';

const cli = join(import.meta.dirname, '..', '..', '..', 'node', 'cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'careledger-cli-unit-'));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `careledger ARGS` (CARELEDGER_DEBUG unset unless `env` sets it), by default as node/cli.ts. */
function careledger(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  script = cli,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, CARELEDGER_DEBUG: undefined, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Asserts a failure printed exactly one line with `code` and exited 2; returns the sentence. */
function failed(r: Run, code: string): string {
  assert.is(r.code, 2, r.stderr);
  assert.is(r.stdout, '');
  const m = /^careledger: ([A-Z_]+): ([^\n]+)\n$/.exec(r.stderr);
  assert.ok(m, `one line with a code, got ${JSON.stringify(r.stderr)}`);
  assert.is(m[1], code, r.stderr);
  return m[2]!;
}

/** An HTTP server on a free loopback port answering every request with `body`; returns its URL. */
async function serving(body: string, type: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': type }).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('bad arguments are one CLI_ARGS_INVALID line pointing at the help', async () => {
  const cases: [string[], RegExp][] = [
    [['testnet', '--validators', '-1', '--output', dir], /--validators.*\(see careledger testnet --help\)$/],
    [['start', '--bogus'], /^Unknown option '--bogus' \(see careledger start --help\)$/],
    [['start'], /^--home DIR is required \(see careledger start --help\)$/],
    [['show-node-id', '--home'], /--home.*\(see careledger show-node-id --help\)$/],
    [['nosuch'], /^unknown command "nosuch" \(see careledger --help\)$/],
  ];
  const runs = await Promise.all(cases.map(([args]) => careledger(args)));
  for (const [i, r] of runs.entries()) assert.match(failed(r, 'CLI_ARGS_INVALID'), cases[i]![1]);
});

test('a numeric flag that is present but invalid says what it must be', async () => {
  const testnet = (...flags: string[]) => careledger(['testnet', '--output', join(dir, 'never'), ...flags]);
  const [abc, fraction, zero, port] = await Promise.all([
    testnet('--validators', 'abc'),
    testnet('--validators', '2.5'),
    testnet('--validators', '0'),
    testnet('--validators', '2', '--base-port', 'http'),
  ]);
  for (const r of [abc, fraction, zero])
    assert.match(failed(r, 'CLI_ARGS_INVALID'), /^--validators must be a whole number from 1 to 100 /);
  assert.match(failed(port, 'CLI_ARGS_INVALID'), /^--base-port must be a whole number from 1024 to 65535 /);
});

test('version has a help and refuses unknown flags', async () => {
  const [help, bogus, plain] = await Promise.all([
    careledger(['version', '--help']),
    careledger(['version', '--bogus']),
    careledger(['version']),
  ]);
  assert.is(help.code, 0);
  assert.match(help.stdout, /^Usage: careledger version\n/);
  assert.match(failed(bogus, 'CLI_ARGS_INVALID'), /--bogus/);
  assert.match(plain.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('a corrupt genesis is one whole line: the parser message quoting the newline is folded', async () => {
  const [home] = createTestnet({ validators: 1, output: join(dir, 'corrupt'), flat: true, basePort: 40600 });
  writeFileSync(join(home!, 'config', 'genesis.json'), 'garbage\n');
  assert.match(
    failed(await careledger(['show-validator', '--home', home!]), 'GENESIS_INVALID'),
    /^genesis: not valid JSON \(Unexpected token .*"garbage " is not valid JSON\)$/,
  );
});

test('init names the folder when it cannot be a member id, and an unwritable home is HOME_WRITE_FAILED', async () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const [short, unwritable] = await Promise.all([
    careledger(['init', '--home', join(dir, 'x')]),
    careledger(['init', '--home', file]),
  ]);
  assert.is(
    failed(short, 'INIT_INVALID'),
    'the folder name "x" is not a valid member id (2-40 of a-z, 0-9 and -): pass --moniker NAME',
  );
  assert.is(
    failed(unwritable, 'HOME_WRITE_FAILED'),
    `cannot write ${join(file, 'config')}: ENOTDIR: not a directory`,
  );
});

test('status takes --node like every chain command; --rpc still works; CARELEDGER_NODE is the default', async () => {
  const html = await serving('<html>not an RPC</html>', 'text/html');
  // No user config is read: XDG_CONFIG_HOME points at an empty folder.
  const xdg = mkdtempSync(join(tmpdir(), 'careledger-xdg-'));
  try {
    const [byNode, byRpc, byEnv, both, bad] = await Promise.all([
      careledger(['status', '--node', html.url], { XDG_CONFIG_HOME: xdg }),
      careledger(['status', '--rpc', html.url], { XDG_CONFIG_HOME: xdg }),
      careledger(['status'], { XDG_CONFIG_HOME: xdg, CARELEDGER_NODE: html.url }),
      careledger(['status', '--node', html.url, '--rpc', html.url], { XDG_CONFIG_HOME: xdg }),
      careledger(['status', '--node', 'localhost:26657'], { XDG_CONFIG_HOME: xdg }),
    ]);
    for (const r of [byNode, byRpc, byEnv])
      assert.match(failed(r, 'RPC_ERROR'), `${html.url} did not answer JSON-RPC`);
    assert.match(failed(both, 'CLI_ARGS_INVALID'), 'give --node only');
    assert.match(failed(bad, 'CLI_ARGS_INVALID'), '--node: "localhost:26657" is not a URL');
    const help = await careledger(['status', '--help']);
    assert.match(help.stdout, /^Usage: careledger status \[--node URL\]/);
    assert.match(help.stdout, /--rpc URL\s+deprecated/);
  } finally {
    html.server.close();
    rmSync(xdg, { recursive: true, force: true });
  }
});

test('node/bin.ts, the executable: runs the command line with the compile cache in the user cache folder', async () => {
  const bin = join(import.meta.dirname, '..', '..', '..', 'node', 'bin.ts');
  const cache = mkdtempSync(join(tmpdir(), 'careledger-cache-'));
  const run = (args: string[], env: Record<string, string>) =>
    careledger(args, { NODE_COMPILE_CACHE: undefined, XDG_CACHE_HOME: cache, ...env }, bin);
  try {
    const off = await run(['--help'], { NODE_DISABLE_COMPILE_CACHE: '1' });
    assert.is(off.code, 0, off.stderr);
    assert.not.ok(existsSync(join(cache, 'careledger')), 'no cache when it is turned off');
    const first = await run(['--help'], {});
    assert.is(first.code, 0, first.stderr);
    assert.match(first.stdout, /^Usage: careledger <command>/);
    assert.ok(readdirSync(join(cache, 'careledger', 'compile-cache')).length > 0, 'the cache is written');
    // A health command and a failure behave as through node/cli.ts.
    const bad = await run(['keys', 'show'], {});
    assert.match(failed(bad, 'CLI_ARGS_INVALID'), '--key is required');
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('status: a non-JSON answer is RPC_ERROR; an unexpected error is one line, its stack only with CARELEDGER_DEBUG=1', async () => {
  const html = await serving('<html>not an RPC</html>', 'text/html');
  // JSON-RPC, but no /status fields: the CLI trips over it (a TypeError, not a CareLedgerError).
  const odd = await serving('{"jsonrpc":"2.0","id":-1,"result":{}}', 'application/json');
  try {
    const [page, unexpected, debug] = await Promise.all([
      careledger(['status', '--node', html.url]),
      careledger(['status', '--node', odd.url]),
      careledger(['status', '--node', odd.url], { CARELEDGER_DEBUG: '1' }),
    ]);
    assert.match(failed(page, 'RPC_ERROR'), `${html.url} did not answer JSON-RPC`);
    assert.not.match(failed(unexpected, 'CLI_UNEXPECTED'), /\sat\s/);
    assert.is(debug.code, 2);
    assert.match(debug.stderr, /^careledger: CLI_UNEXPECTED: [^\n]+\n\w*Error: [^\n]+\n\s+at /);
  } finally {
    html.server.close();
    odd.server.close();
  }
});

test('help: unsafe-reset-all resets the double-sign guard; --base-port with and without --hostnames; CARELEDGER_DEBUG', async () => {
  const [usage, testnet] = await Promise.all([careledger(['--help']), careledger(['testnet', '--help'])]);
  assert.match(usage.stdout, /unsafe-reset-all {2}delete [^\n]*double-sign guard/);
  assert.match(usage.stdout, /CARELEDGER_DEBUG=1/);
  assert.match(
    testnet.stdout,
    /--base-port P {7}[^-]*with --hostnames every node's;\s+without, node 0's, and\s+node I adds 10\*I/,
  );
  assert.not.match(testnet.stdout, /default ports/);
});

test.run();
