/**
 * `npm run sim -- --seeds A..B --validators N --byzantine F [--drop P] [--partitions]`
 *
 * Runs the deterministic consensus simulator once per seed and ends with `X passed, Y failed`.
 * Exits 1 on any violation and prints, for each failing seed, the command that replays it.
 */
import { parseArgs } from 'node:util';
import { defaultSimConfig, runSeed, type SimConfig } from './run.ts';

const usage = `Usage: npm run sim -- [options]

Runs the deterministic consensus simulator: N validators, F of them byzantine, over a simulated
network with delays, reordering, duplication, drops, partitions and crash-restarts before the
global stabilisation time. Checks agreement, validity, no double signing, liveness after
stabilisation and evidence inclusion for each seed.

Options:
  --seeds A..B        seeds to run, inclusive (default 1..20); a single number runs one seed
  --validators N      number of validators (default ${defaultSimConfig.validators})
  --byzantine F       number of byzantine validators (default ${defaultSimConfig.byzantine})
  --drop P            probability of losing a message before stabilisation (default 0)
  --partitions        partition the network (it heals at stabilisation)
  --no-crashes        do not crash and restart honest validators
  --heights K         heights to commit after stabilisation (default ${defaultSimConfig.heights})
  --broken-lock       break the lock rule (to show the checker catches it)
  --no-evidence       proposers leave evidence out of blocks (to show the checker catches it)
  --expect-violation  exit 0 only if some seed finds a violation (for checker tests)
  --quiet             print only failures and the summary
  --trace             print every node's height, round and step as the run goes
  -h, --help          show this help
`;

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n\n${usage}`);
  process.exit(2);
}

function parseSeeds(text: string): [number, number] {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(text);
  if (m === null) fail(`--seeds must be A..B or a single seed, got "${text}"`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from)
    fail('--seeds range is empty or too large');
  return [from, to];
}

function positiveInt(text: string, name: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) fail(`${name} must be an integer of at least ${min}`);
  return value;
}

let values: ReturnType<typeof parse>['values'];
function parse() {
  return parseArgs({
    options: {
      seeds: { type: 'string', default: '1..20' },
      validators: { type: 'string', default: String(defaultSimConfig.validators) },
      byzantine: { type: 'string', default: String(defaultSimConfig.byzantine) },
      drop: { type: 'string', default: '0' },
      partitions: { type: 'boolean', default: false },
      'no-crashes': { type: 'boolean', default: false },
      heights: { type: 'string', default: String(defaultSimConfig.heights) },
      'broken-lock': { type: 'boolean', default: false },
      'no-evidence': { type: 'boolean', default: false },
      'expect-violation': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      trace: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
}
try {
  values = parse().values;
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}

const [from, to] = parseSeeds(values.seeds);
const drop = Number(values.drop);
if (!(drop >= 0 && drop < 1)) fail('--drop must be a probability from 0 to below 1');
const base: Omit<SimConfig, 'seed'> = {
  validators: positiveInt(values.validators, '--validators', 1),
  byzantine: positiveInt(values.byzantine, '--byzantine', 0),
  drop,
  partitions: values.partitions,
  crashes: !values['no-crashes'],
  heights: positiveInt(values.heights, '--heights', 1),
  brokenLock: values['broken-lock'],
  noEvidence: values['no-evidence'],
};
if (base.byzantine >= base.validators) fail('--byzantine must be smaller than --validators');

function replayCommand(seed: number): string {
  const parts = [
    `npm run sim -- --seeds ${seed} --validators ${base.validators} --byzantine ${base.byzantine}`,
  ];
  if (base.drop > 0) parts.push(`--drop ${base.drop}`);
  if (base.partitions) parts.push('--partitions');
  if (!base.crashes) parts.push('--no-crashes');
  if (base.heights !== defaultSimConfig.heights) parts.push(`--heights ${base.heights}`);
  if (base.brokenLock) parts.push('--broken-lock');
  if (base.noEvidence === true) parts.push('--no-evidence');
  return parts.join(' ');
}

let passed = 0;
let failed = 0;
const started = Date.now();
for (let seed = from; seed <= to; seed++) {
  const trace = values.trace ? (line: string) => process.stdout.write(`  ${line}\n`) : undefined;
  const result = runSeed({ ...base, seed, ...(trace === undefined ? {} : { trace }) });
  if (result.violation === null) {
    passed++;
    if (!values.quiet) {
      process.stdout.write(
        `seed ${seed}: ok, height ${result.height}, ${result.messages} messages, ${result.evidenceCommitted} equivocations committed, ${result.simulatedMs} ms simulated\n`,
      );
    }
  } else {
    failed++;
    process.stdout.write(`seed ${seed}: VIOLATION ${result.violation}\n  replay: ${replayCommand(seed)}\n`);
  }
  const done = seed - from + 1;
  if (values.quiet && done % 50 === 0)
    process.stderr.write(
      `sim: ${done}/${to - from + 1} seeds, ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
    );
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
if (values['expect-violation']) process.exit(failed > 0 ? 0 : 1);
process.exit(failed > 0 ? 1 : 0);
