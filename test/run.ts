/**
 * `npm test`: the whole suite, in order of cost, ending with one line `N passed, N failed`.
 *
 *  1. type check (tsc) and lint (Biome) over the whole repo;
 *  2. unit tests (uvu), under c8 for coverage;
 *  3. simulator seeds: the configurations the consensus issues require, run in parallel
 *     (then the proofs that the simulator's checker can fail);
 *  4. end-to-end tests with real processes (before the simulator, alone on the machine).
 *
 * Each test file and each simulator seed counts as one test in the totals. Set
 * CARELEDGER_SIM_SEEDS to run fewer seeds locally (CI runs the full count).
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const seedsPerConfig = Number(process.env.CARELEDGER_SIM_SEEDS ?? 500);

interface Outcome {
  passed: number;
  failed: number;
}

function run(command: string, args: string[], label: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('close', (code) => {
      process.stdout.write(`[${label}] exit ${code} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      resolve({ code: code ?? 1, output });
    });
  });
}

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** The last `X passed, Y failed` line a child printed. */
function totals(output: string): Outcome | null {
  const matches = [...output.matchAll(/^(\d+) passed, (\d+) failed$/gm)];
  const last = matches.at(-1);
  return last === undefined ? null : { passed: Number(last[1]), failed: Number(last[2]) };
}

const total: Outcome = { passed: 0, failed: 0 };
function count(label: string, outcome: Outcome | null, output: string): void {
  if (outcome === null || outcome.failed > 0) {
    process.stdout.write(output);
    if (outcome === null) {
      process.stdout.write(`[${label}] printed no totals: counted as one failure\n`);
      total.failed++;
      return;
    }
  }
  total.passed += outcome.passed;
  total.failed += outcome.failed;
}

// 1. Static checks: each counts as one test.
for (const [label, args] of [
  ['typecheck', ['tsc', '--noEmit', '-p', '.']],
  ['lint', ['biome', 'check', '.']],
] as const) {
  const result = await run('npx', [...args], label);
  if (result.code === 0) total.passed++;
  else {
    total.failed++;
    process.stdout.write(result.output);
  }
}

// 2. Unit tests, all files in one process under c8.
const unitFiles = findTests(join(root, 'test', 'unit')).map((f) => relative(root, f));
const unit = await run(
  'npx',
  [
    'c8',
    '--reporter=text-summary',
    '--include=packages/**',
    '--include=consensus/**',
    '--include=state/**',
    'node',
    'test/unit-runner.ts',
    ...unitFiles,
  ],
  'unit',
);
process.stdout.write(
  unit.output
    .split('\n')
    .filter((l) => /^(Statements|Branches|Functions|Lines)\s*:/.test(l.trim()))
    .map((l) => `  coverage ${l.trim()}\n`)
    .join(''),
);
count('unit', totals(unit.output), unit.output);

// 3. End-to-end: real node processes on loopback. Alone, before the CPU-heavy simulator runs,
// so their timeouts measure the software, not a starved machine.
const e2eFiles = findTests(join(root, 'test', 'e2e')).map((f) => relative(root, f));
if (e2eFiles.length > 0) {
  const e2e = await run('node', ['test/unit-runner.ts', ...e2eFiles], 'e2e');
  count('e2e', totals(e2e.output), e2e.output);
}

// 4. Simulator seeds: the required configurations, split into chunks run two at a time (two
// cores), so a slow configuration does not finish alone on one core. Issue 13 adds 200 seeds of
// ten validators under loss and partitions, and a few at 25 validators (4 to 8 s of CPU each, measured);
// their chunks go first, the big ones first of all. CARELEDGER_SIM_SEEDS caps every count.
interface SimConfig {
  readonly label: string;
  readonly args: readonly string[];
  readonly seeds: number;
  readonly chunks: number;
}
const sims: SimConfig[] = [
  { label: 'sim n=25 f=8', args: ['--validators', '25', '--byzantine', '8'], seeds: 6, chunks: 3 },
  {
    label: 'sim n=10 f=3 drops+partitions',
    args: ['--validators', '10', '--byzantine', '3', '--drop', '0.1', '--partitions'],
    seeds: 200,
    chunks: 4,
  },
  { label: 'sim n=4 f=1', args: ['--validators', '4', '--byzantine', '1'], seeds: seedsPerConfig, chunks: 4 },
  { label: 'sim n=7 f=2', args: ['--validators', '7', '--byzantine', '2'], seeds: seedsPerConfig, chunks: 4 },
  {
    label: 'sim n=4 f=0 drops+partitions',
    args: ['--validators', '4', '--byzantine', '0', '--drop', '0.2', '--partitions'],
    seeds: seedsPerConfig,
    chunks: 4,
  },
];
const jobs = sims.flatMap(({ label, args, seeds, chunks }) => {
  const count = Math.min(seeds, seedsPerConfig);
  return Array.from({ length: chunks }, (_, c) => ({
    from: Math.floor((count * c) / chunks) + 1,
    to: Math.floor((count * (c + 1)) / chunks),
  }))
    .filter((chunk) => chunk.from <= chunk.to)
    .map((chunk) => ({
      label,
      args: ['consensus/sim/cli.ts', '--seeds', `${chunk.from}..${chunk.to}`, '--quiet', ...args],
    }));
});
const simTotals = new Map<string, Outcome>();
let nextJob = 0;
async function worker(): Promise<void> {
  for (let job = jobs[nextJob++]; job !== undefined; job = jobs[nextJob++]) {
    const result = await run('node', job.args, `${job.label} seeds ${job.args[2]}`);
    const outcome = totals(result.output);
    count(job.label, outcome, result.output);
    const sum = simTotals.get(job.label) ?? { passed: 0, failed: 0 };
    simTotals.set(job.label, {
      passed: sum.passed + (outcome?.passed ?? 0),
      failed: sum.failed + (outcome?.failed ?? 1),
    });
  }
}
await Promise.all([worker(), worker()]);
for (const [label, outcome] of simTotals)
  process.stdout.write(`[${label}] ${outcome.passed} passed, ${outcome.failed} failed\n`);

// 5. The checker can fail: more byzantine power than tolerated must produce a violation, and so
// must evidence that proposers leave out of their blocks.
const checkerProofs: [string, string[]][] = [
  ['f >= n/3', ['--seeds', '1..20', '--validators', '4', '--byzantine', '2', '--no-crashes']],
  ['evidence never committed', ['--seeds', '1..5', '--validators', '4', '--byzantine', '1', '--no-evidence']],
];
for (const [what, args] of checkerProofs) {
  const proof = await run(
    'node',
    ['consensus/sim/cli.ts', ...args, '--quiet', '--expect-violation'],
    `sim checker catches ${what}`,
  );
  if (proof.code === 0) total.passed++;
  else {
    total.failed++;
    process.stdout.write(`${proof.output}[sim checker] found no violation with ${what}\n`);
  }
}

process.stdout.write(`${total.passed} passed, ${total.failed} failed\n`);
process.exit(total.failed > 0 ? 1 : 0);
