/**
 * `node bench/cli-startup.ts [--runs N]` (see `--help`): how long `careledger` takes to start,
 * for the commands a person runs most, with and without the module compile cache that node/bin.ts
 * turns on, and through npx. Each row runs the command N times (default 7) after one unmeasured
 * run that fills the cache, and prints the median and the fastest wall-clock time. The commands
 * touch no network (`--help`, `keys show`, a chain command's `--help`), so the numbers are
 * start-up alone: parsing and compiling the modules and running the command line's top level.
 *
 * The cache goes to a temp folder of its own (XDG_CACHE_HOME), removed at the end; nothing of the
 * user's is read or written.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey, saveKeyFile } from '../packages/client/keys.ts';
import { type BenchCommand, integerArg, parseCommandLine } from './command-line.ts';

const COMMAND = {
  name: 'bench:cli-startup',
  command: 'npx node bench/cli-startup.ts',
  usage: `Usage: npx node bench/cli-startup.ts [options]

How long careledger takes to start, for commands that touch no network (--help, keys show, a
chain command's --help): through node node/bin.ts with and without the module compile cache, and
through npx careledger. Each row runs its command --runs times after one unmeasured run and
prints the median and the fastest wall-clock time. The cache goes to a temp folder of its own,
removed at the end; writes no file.

Options:
  --runs N          measured runs per row (default 7)
  -h, --help        show this help
`,
  options: { runs: { type: 'string', default: '7' } },
} as const satisfies BenchCommand;

const runs = integerArg(COMMAND, parseCommandLine(COMMAND).values.runs, '--runs', 1, 1000);

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'careledger-startup-'));
const key = join(dir, 'a.key');
saveKeyFile(key, generateKey());

function timed(cmd: string, args: string[], env: Record<string, string | undefined>): number {
  const start = performance.now();
  const r = spawnSync(cmd, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

function row(name: string, cmd: string, args: string[], env: Record<string, string | undefined> = {}) {
  timed(cmd, args, env);
  const times = Array.from({ length: runs }, () => timed(cmd, args, env)).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  process.stdout.write(
    `${name.padEnd(48)}median ${median.toFixed(0).padStart(5)} ms   min ${times[0]!.toFixed(0).padStart(5)} ms\n`,
  );
}

try {
  const cache = { XDG_CACHE_HOME: join(dir, 'cache'), NODE_COMPILE_CACHE: undefined };
  const off = { NODE_DISABLE_COMPILE_CACHE: '1' };
  const node = process.execPath;
  row('node -e 0 (the floor)', node, ['-e', '0']);
  for (const [what, args] of [
    ['--help', ['--help']],
    ['keys show', ['keys', 'show', '--key', key]],
    ['consent grant --help', ['consent', 'grant', '--help']],
  ] as const) {
    row(`${what}: node/bin.ts, compile cache`, node, ['node/bin.ts', ...args], cache);
    row(`${what}: node/bin.ts, no cache`, node, ['node/bin.ts', ...args], off);
  }
  row('--help: npx careledger (compile cache)', 'npx', ['careledger', '--help'], cache);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
