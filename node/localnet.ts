/**
 * `npm start`: a local consortium of four validator processes (hospital, clinic, lab, insurer) on
 * loopback. The homes are created on first run under one folder and reused after. It prints where
 * each node's RPC is, shows heights advancing, and on Ctrl-C stops all four cleanly.
 *
 *   CARELEDGER_LOCALNET  the folder for the homes (default ./localnet)
 */
import type { ChildProcess } from 'node:child_process';
import { CareLedgerError } from '../packages/core/errors.ts';
import { loadHome } from './home.ts';
import { ensureLocalnetHomes, localnetRoot, LOCALNET_NAMES as NAMES } from './local-consortium.ts';
import { nodeLogPath, spawnNode } from './spawn.ts';

const root = localnetRoot();

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(`Usage: npm start

Runs a local consortium of 4 validators (hospital, clinic, lab, insurer) as separate processes on
127.0.0.1, RPC on ports 26657, 26667, 26677, 26687 and P2P on 26656, 26666, 26676, 26686. Homes are
created under ${root} on first run (set CARELEDGER_LOCALNET to move them) and reused after.
Ctrl-C stops all four. Each node's log goes to <home>/node.log.
`);
  process.exit(0);
}

let homes: string[];
try {
  homes = ensureLocalnetHomes(root, (l) => process.stdout.write(`${l}\n`));
} catch (err) {
  if (!(err instanceof CareLedgerError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
const rpcs = homes.map((home) => loadHome(home).config.rpc.listen);
const children: ChildProcess[] = homes.map((home, i) => {
  const child = spawnNode(home);
  const log = nodeLogPath(home);
  child.on('exit', (code, signal) => {
    if (!stopping) process.stdout.write(`${NAMES[i]} exited (${signal ?? code}); see ${log}\n`);
  });
  return child;
});
for (const [i, name] of NAMES.entries()) {
  process.stdout.write(`${name.padEnd(9)} rpc http://${rpcs[i]}  home ${homes[i]}\n`);
}
process.stdout.write(
  `Each institution signs health-data txs with <home>/config/member_key.json; try \`npx careledger --help\`.\n`,
);
process.stdout.write('Ctrl-C stops all four.\n');

async function height(rpc: string): Promise<string> {
  try {
    const res = await fetch(`http://${rpc}/status`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { result?: { sync_info?: { latest_block_height?: string } } };
    return body.result?.sync_info?.latest_block_height ?? '?';
  } catch {
    return '-';
  }
}

const timer = setInterval(async () => {
  const heights = await Promise.all(rpcs.map(height));
  process.stdout.write(`heights: ${NAMES.map((n, i) => `${n} ${heights[i]}`).join('  ')}\n`);
}, 2000);

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  process.stdout.write('stopping all four nodes…\n');
  const alive = children.filter((child) => child.exitCode === null && child.signalCode === null);
  let left = alive.length;
  if (left === 0) process.exit(0);
  for (const child of alive) {
    child.once('exit', () => {
      if (--left === 0) {
        process.stdout.write('stopped.\n');
        process.exit(0);
      }
    });
    child.kill('SIGTERM');
  }
  setTimeout(() => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  }, 15_000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
