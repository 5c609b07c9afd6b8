/**
 * The operator's path through the real `careledger` CLI: testnet, start, status, /metrics, and
 * the one-line errors for bad flags, missing homes and corrupt files.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const cli = join(import.meta.dirname, '..', '..', 'node', 'cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'careledger-cli-'));
const BASE = 16656;
const nodes: ChildProcess[] = [];

function careledger(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

test.after(async () => {
  await Promise.all(
    nodes.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
});

test('testnet creates 4 homes; start runs them; status shows heights advancing; /metrics serves CometBFT names', async () => {
  const created = careledger(
    'testnet',
    '--validators',
    '4',
    '--output',
    dir,
    '--base-port',
    String(BASE),
    '--chain-id',
    'cli-e2e',
  );
  assert.is(created.code, 0, created.stderr);
  assert.is(created.stdout.trim().split('\n').length, 4, 'one progress line per node');
  for (let i = 0; i < 4; i++) {
    const config = JSON.parse(readFileSync(join(dir, `node${i}`, 'config', 'config.json'), 'utf8'));
    assert.is(config.rpc.listen, `127.0.0.1:${BASE + 10 * i + 1}`);
    assert.is(config.p2p.persistent_peers.length, 3);
    const child = spawn(process.execPath, [cli, 'start', '--home', join(dir, `node${i}`)], {
      stdio: 'ignore',
    });
    nodes.push(child);
  }
  const rpc = `http://127.0.0.1:${BASE + 1}`;
  const heightOf = (out: string): number => Number(/^height\s+(\d+)$/m.exec(out)?.[1] ?? -1);
  const first = await until('a first block', 60_000, async () => {
    const r = careledger('status', '--node', rpc);
    return r.code === 0 && heightOf(r.stdout) >= 1 ? heightOf(r.stdout) : null;
  });
  await until('heights advancing', 30_000, async () => {
    const r = careledger('status', '--node', rpc);
    return heightOf(r.stdout) >= first + 2 ? true : null;
  });
  const status = careledger('status', '--node', rpc);
  assert.match(status.stdout, /^chain\s+cli-e2e$/m);
  assert.match(status.stdout, /^voting power\s+10$/m);
  assert.match(status.stdout, /^peers\s+3$/m);
  // --rpc, the old name of --node, still works.
  const json = JSON.parse(careledger('status', '--rpc', rpc, '--json').stdout);
  assert.type(json.sync_info.latest_block_height, 'string');

  const metrics = await (await fetch(`http://127.0.0.1:${BASE + 4}/metrics`)).text();
  const height = Number(
    /^cometbft_consensus_latest_block_height\{chain_id="cli-e2e"\} (\d+)$/m.exec(metrics)?.[1] ?? -1,
  );
  assert.ok(height >= first, `metrics height ${height}`);
  assert.match(metrics, /^cometbft_consensus_validators\{chain_id="cli-e2e"\} 4$/m);
  assert.match(metrics, /^cometbft_p2p_peers\{chain_id="cli-e2e"\} 3$/m);
  assert.match(metrics, /^cometbft_consensus_block_interval_seconds_count\{chain_id="cli-e2e"\} \d+$/m);
});

test('bad flags, missing homes and corrupt files print one line with a code and exit non-zero', () => {
  const unknown = careledger('start', '--bogus');
  assert.is(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /^careledger: CLI_ARGS_INVALID: Unknown option '--bogus' \(see careledger start --help\)\n$/,
  );

  const missing = careledger('start', '--home', join(dir, 'nope'));
  assert.is(missing.code, 2);
  assert.is(
    missing.stderr.trim(),
    `careledger: HOME_MISSING: home folder ${join(dir, 'nope')} does not exist`,
  );

  const home = join(dir, 'node3');
  writeFileSync(join(home, 'config', 'config.json'), '{"rpc": {"listen": "nowhere"}}');
  const corrupt = careledger('show-node-id', '--home', home);
  assert.is(corrupt.code, 2);
  assert.match(corrupt.stderr.trim(), /^careledger: CONFIG_INVALID: config: rpc\.listen must be host:port/);

  writeFileSync(join(dir, 'node2', 'config', 'genesis.json'), '{');
  const badGenesis = careledger('show-validator', '--home', join(dir, 'node2'));
  assert.is(badGenesis.code, 2);
  assert.match(badGenesis.stderr.trim(), /^careledger: GENESIS_INVALID: genesis: not valid JSON/);

  const validator = careledger('show-validator', '--home', join(dir, 'node1'));
  assert.is(validator.code, 0, validator.stderr);
  assert.match(validator.stdout, /^\{"type":"tendermint\/PubKeyEd25519","value":"[A-Za-z0-9+/]{43}="\}$/m);

  for (const command of [
    'init',
    'testnet',
    'start',
    'status',
    'show-node-id',
    'show-validator',
    'unsafe-reset-all',
    'rollback',
    'version',
  ]) {
    const help = careledger(command, '--help');
    assert.is(help.code, 0, command);
    assert.match(help.stdout, new RegExp(`^Usage: careledger ${command}`), command);
  }
});

test.run();
