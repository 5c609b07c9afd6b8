/**
 * `node bench/cli-latency.ts [--txs N] [--validators V] [--base-port P] [--keep]` (see `--help`):
 * how long a committed tx takes, from the caller's side, on a throw-away health consortium
 * (bench/consortium.ts, app 'health', the node's default timeout_commit so blocks come about every
 * 1.1 s as on `npm start`).
 *
 * "Committed" is what the SDK and the CLI return: the tx broadcast, included in a block, and proven
 * by the light client (inclusion in the verified header at its height H, result code in header
 * H+1's last results hash). Each row sends N `patient.register` txs (a new patient key each), one
 * after another, and prints p50, p90 and max:
 *  - sdk, one client: one HealthClient kept across txs (an application);
 *  - sdk, new client: a new HealthClient and light client per tx (what one CLI run does, in-process);
 *  - cli: `node node/bin.ts patient register …` per tx (start-up included), and `--help` alone
 *    for the start-up floor.
 * The block interval is measured in the same run from the verified header times, so the numbers
 * can be read in block intervals (the target: at most two intervals plus 0.5 s).
 *
 * Ports: P2P base-port + 10*i, RPC one above (default 30656, away from the e2e tests' ports).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HealthClient, rpcTransport } from '../packages/client/health.ts';
import { generateKey, loadKeyFile, saveKeyFile } from '../packages/client/keys.ts';
import { LightClient } from '../packages/client/light-client.ts';
import { RpcClient } from '../packages/client/rpc.ts';
import { parseGenesisJson } from '../packages/types/genesis.ts';
import { type BenchCommand, integerArg, parseCommandLine } from './command-line.ts';
import { Consortium, machineBusyCores } from './consortium.ts';

const COMMAND = {
  name: 'bench:cli-latency',
  command: 'npx node bench/cli-latency.ts',
  usage: `Usage: npx node bench/cli-latency.ts [options]

How long a committed tx takes from the caller's side, on a throw-away health consortium of real
node processes on 127.0.0.1 (temp folder, the node's default timeout_commit: a block about every
1.1 s). "Committed" is what the SDK and the CLI return: the tx included and proven by the light
client. Each row sends --txs patient.register txs one after another: the SDK with one client kept
across txs, the SDK with a new client per tx, and the CLI (node node/bin.ts patient register, one
process per tx), plus the CLI's --help alone for its start-up. Prints p50, p90 and max of each
row, in ms and in block intervals measured in the same run; writes no file.

Options:
  --txs N           txs per row (default 10)
  --validators V    validators, each its own process (default 4)
  --base-port P     P2P port of node 0; RPC is P+1; node I adds 10*I (default 30656)
  --keep            keep the temp folder (homes and node logs)
  -h, --help        show this help
`,
  options: {
    txs: { type: 'string', default: '10' },
    validators: { type: 'string', default: '4' },
    'base-port': { type: 'string', default: '30656' },
    keep: { type: 'boolean', default: false },
  },
} as const satisfies BenchCommand;

const { values } = parseCommandLine(COMMAND);
const txs = integerArg(COMMAND, values.txs, '--txs', 1, 10_000);
const validators = integerArg(COMMAND, values.validators, '--validators', 1, 20);
const basePort = integerArg(COMMAND, values['base-port'], '--base-port', 1024, 65535 - 10 * validators - 10);

const root = join(import.meta.dirname, '..');

/** An RpcClient that notes when broadcast_tx_commit answered, to split a tx's time in two. */
class TimedRpc extends RpcClient {
  answeredAt = 0;
  override async broadcastTxCommit(tx: Uint8Array) {
    const r = await super.broadcastTxCommit(tx);
    this.answeredAt = performance.now();
    return r;
  }
}

/** Nearest-rank percentile of sorted values. */
function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function report(name: string, ms: number[], intervalMs: number): void {
  const s = [...ms].sort((a, b) => a - b);
  const f = (v: number) => `${v.toFixed(0).padStart(5)} ms (${(v / intervalMs).toFixed(2)} iv)`;
  process.stdout.write(
    `${name.padEnd(26)}p50 ${f(pct(s, 50))}   p90 ${f(pct(s, 90))}   max ${f(s[s.length - 1]!)}\n`,
  );
}

/**
 * Retries a read once: after the CLI rows the bench's own keep-alive connection has idled, and a
 * node may have closed it just as it is reused (EPIPE); the read is idempotent.
 */
async function again<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch {
    return read();
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const consortium = Consortium.create({
  validators,
  basePort,
  overrides: { proxy_app: 'health', 'consensus.timeout_commit_ms': 1000 },
  profileNode: null,
});
process.on('exit', () => consortium.destroySync(values.keep));
try {
  consortium.startAll();
  await consortium.waitForHeight(2, 120_000);
  const home = consortium.homes[0]!;
  const genesisPath = join(home, 'config', 'genesis.json');
  const keyPath = join(home, 'config', 'member_key.json');
  const genesis = parseGenesisJson(readFileSync(genesisPath, 'utf8'));
  const memberKey = loadKeyFile(keyPath);
  const url = consortium.rpcs[0]!;
  const newClient = (rpc = new TimedRpc(url)) => {
    return new HealthClient({
      chainId: genesis.chainId,
      transport: rpcTransport(rpc, new LightClient(genesis, rpc)),
      key: memberKey,
    });
  };
  const rpc = new RpcClient(url);
  const startHeight = (await rpc.status()).latestBlockHeight;

  const kept = newClient();
  const sdkKept: number[] = [];
  const sdkNew: number[] = [];
  const cli: number[] = [];
  const help: number[] = [];
  const progress = (name: string, ms: number[]) =>
    process.stderr.write(`${name}: ${ms.map((v) => v.toFixed(0)).join(' ')} ms\n`);
  for (let i = 0; i < txs; i++) sdkKept.push(await timed(() => kept.registerPatient(generateKey())));
  progress('sdk, one client', sdkKept);
  // The new-client row also splits each tx: until broadcast_tx_commit answers (reads before
  // signing, the wait for the tx's block), and after it (the light client's proof, which waits
  // for the next header).
  const untilAnswer: number[] = [];
  const afterAnswer: number[] = [];
  for (let i = 0; i < txs; i++) {
    const timedRpc = new TimedRpc(url);
    const start = performance.now();
    await newClient(timedRpc).registerPatient(generateKey());
    const end = performance.now();
    sdkNew.push(end - start);
    untilAnswer.push(timedRpc.answeredAt - start);
    afterAnswer.push(end - timedRpc.answeredAt);
  }
  progress('sdk, new client', sdkNew);
  const run = (args: string[]) => {
    const start = performance.now();
    const r = spawnSync(process.execPath, ['node/bin.ts', ...args], { cwd: root, encoding: 'utf8' });
    const ms = performance.now() - start;
    if (r.status !== 0) throw new Error(`careledger ${args.join(' ')} failed: ${r.stderr}`);
    return ms;
  };
  run(['--help']); // fills the compile cache
  for (let i = 0; i < txs; i++) {
    const patientKey = join(consortium.dir, `patient-${i}.key`);
    saveKeyFile(patientKey, generateKey());
    help.push(run(['--help']));
    cli.push(
      run([
        'patient',
        'register',
        '--patient-key',
        patientKey,
        '--node',
        url,
        '--genesis',
        genesisPath,
        '--key',
        keyPath,
      ]),
    );
  }

  progress('cli', cli);
  // The block interval over the run, from verified header times.
  const light = new LightClient(genesis, rpc);
  const endHeight = (await again(() => rpc.status())).latestBlockHeight;
  const [a, b] = await again(() =>
    Promise.all([light.verifiedHeader(startHeight), light.verifiedHeader(endHeight)]),
  );
  const intervalMs = Number(b.time - a.time) / Number(endHeight - startHeight);
  const busy = await machineBusyCores(1000);
  process.stdout.write(
    `${validators} validators, ${txs} txs per row, block interval ${intervalMs.toFixed(0)} ms ` +
      `(heights ${startHeight}–${endHeight}); machine: ${busy === null ? '?' : busy.toFixed(2)} cores busy ` +
      `of ${(await import('node:os')).availableParallelism()} (measured after the run)\n`,
  );
  report('sdk, one client', sdkKept, intervalMs);
  report('sdk, new client per tx', sdkNew, intervalMs);
  report('  until the commit answer', untilAnswer, intervalMs);
  report('  proof after the answer', afterAnswer, intervalMs);
  report('cli patient register', cli, intervalMs);
  report('cli --help (start-up)', help, intervalMs);
  process.stdout.write(`target: 2 intervals + 500 ms = ${(2 * intervalMs + 500).toFixed(0)} ms\n`);
} finally {
  await consortium.destroy(values.keep);
}
