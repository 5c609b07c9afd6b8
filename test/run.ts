/**
 * `npm test`: the whole suite, in order of cost, ending with one line `N passed, N failed`.
 *
 *  1. `static`: type check (tsc) and lint (Biome) over the whole repo;
 *  2. `unit`: unit tests (uvu) under c8, then a coverage table per source folder: statements,
 *     branches, functions and lines of every .ts file in packages/, consensus/, state/, node/
 *     and p2p/ (files no unit test loads count at 0%), per top-level folder and per packages/*
 *     subfolder (see coverage-summary.ts);
 *  3. `e2e`: end-to-end tests with real processes (before the simulator, alone on the machine);
 *  4. `chaos`: a short run of every fault scenario on real processes (test/chaos/run.ts, 6 s of
 *     faults each; each scenario counts as one test);
 *  5. `sim`: simulator seeds, the configurations the consensus issues require, run in parallel
 *     (then the proofs that the simulator's checker can fail).
 *
 * `node test/run.ts unit` (or any list of step names) runs only those steps. Each check, each uvu
 * test and each simulator seed counts as one test in the totals. Set CARELEDGER_SIM_SEEDS to
 * run fewer seeds locally (CI runs the full count).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { coverageTable } from './coverage-summary.ts';

const root = join(import.meta.dirname, '..');
const seedsPerConfig = Number(process.env.CARELEDGER_SIM_SEEDS ?? 500);
/** The folders of shipped source, whose coverage the unit tests report (see step 2). */
const SOURCE_FOLDERS = ['packages', 'consensus', 'state', 'node', 'p2p'] as const;

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
async function staticChecks(): Promise<void> {
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
}

// 2. Unit tests, all files in one process under c8. Coverage counts every .ts file under the
// five source folders (packages/, consensus/ with its simulator, state/, node/, p2p/), and with
// --all also the files no unit test loads, at 0%: the numbers say how much of the shipped code
// the unit tests run, not how much of what they happen to import. test/, bench/ and
// node_modules/ are not counted. c8 writes a json-summary (per-file counts) into a temp folder,
// and coverage-summary.ts sums it per top-level folder and per packages/* subfolder.
async function unitTests(): Promise<void> {
  const unitFiles = findTests(join(root, 'test', 'unit')).map((f) => relative(root, f));
  const coverageDir = mkdtempSync(join(tmpdir(), 'careledger-coverage-'));
  const unit = await run(
    'npx',
    [
      'c8',
      '--reporter=json-summary',
      `--reports-dir=${coverageDir}`,
      `--temp-directory=${join(coverageDir, 'v8')}`,
      '--all',
      ...SOURCE_FOLDERS.map((folder) => `--include=${folder}/**`),
      'node',
      'test/unit-runner.ts',
      ...unitFiles,
    ],
    'unit',
  );
  try {
    process.stdout.write(`[unit] coverage by folder (covered/total)\n`);
    process.stdout.write(coverageTable(join(coverageDir, 'coverage-summary.json'), root));
  } catch (err) {
    process.stdout.write(`[unit] no coverage summary: ${(err as Error).message}\n`);
  } finally {
    rmSync(coverageDir, { recursive: true, force: true });
  }
  count('unit', totals(unit.output), unit.output);
}

// 3. End-to-end: real node processes on loopback. Alone, before the CPU-heavy simulator runs,
// so their timeouts measure the software, not a starved machine.
async function e2eTests(): Promise<void> {
  const e2eFiles = findTests(join(root, 'test', 'e2e')).map((f) => relative(root, f));
  if (e2eFiles.length > 0) {
    const e2e = await run('node', ['test/unit-runner.ts', ...e2eFiles], 'e2e');
    count('e2e', totals(e2e.output), e2e.output);
  }
}

// 4. Fault injection on real processes: every scenario, briefly (long runs are for a person).
async function chaos(): Promise<void> {
  const result = await run('node', ['test/chaos/run.ts', '--duration', '6'], 'chaos');
  for (const line of result.output.split('\n'))
    if (/^(PASS|FAIL) /.test(line)) process.stdout.write(`  ${line}\n`);
  count('chaos', totals(result.output), result.output);
}

// 5. Simulator seeds: every configuration in chunks run two at a time (two cores). Issue 13 adds
// 200 seeds of ten validators under loss and partitions, and a few at 25 validators (4 to 8 s of
// CPU each, measured); their chunks go first, the big ones first of all, so a slow configuration
// does not finish alone on one core. CARELEDGER_SIM_SEEDS caps every count.
interface SimConfig {
  readonly label: string;
  readonly args: readonly string[];
  readonly seeds: number;
  readonly chunks: number;
}
const SIMS: readonly SimConfig[] = [
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

/** The checker can fail: more byzantine power than tolerated, and evidence left out of blocks. */
const CHECKER_PROOFS: readonly [string, string[]][] = [
  ['f >= n/3', ['--seeds', '1..20', '--validators', '4', '--byzantine', '2', '--no-crashes']],
  ['evidence never committed', ['--seeds', '1..5', '--validators', '4', '--byzantine', '1', '--no-evidence']],
];

async function simulator(): Promise<void> {
  const jobs = SIMS.flatMap(({ label, args, seeds, chunks }) => {
    const seedCount = Math.min(seeds, seedsPerConfig);
    return Array.from({ length: chunks }, (_, c) => ({
      from: Math.floor((seedCount * c) / chunks) + 1,
      to: Math.floor((seedCount * (c + 1)) / chunks),
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

  for (const [what, args] of CHECKER_PROOFS) {
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
}

/** The steps by name, in the order they run; `node test/run.ts unit e2e` runs only those. */
const STEPS = { static: staticChecks, unit: unitTests, e2e: e2eTests, chaos, sim: simulator } as const;
const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !Object.hasOwn(STEPS, name));
if (unknown.length > 0) {
  process.stderr.write(`unknown step ${unknown.join(', ')}: choose from ${Object.keys(STEPS).join(', ')}\n`);
  process.exit(2);
}
for (const [name, step] of Object.entries(STEPS))
  if (asked.length === 0 || asked.includes(name)) await step();

process.stdout.write(`${total.passed} passed, ${total.failed} failed\n`);
process.exit(total.failed > 0 ? 1 : 0);
