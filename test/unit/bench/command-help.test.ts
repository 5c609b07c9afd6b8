/**
 * The command line of every bench command (bench/command-line.ts). Each command is spawned:
 * - with `--help`: it exits 0 and its text names exactly the options its parser accepts, which the
 *   test learns from parseArgs itself (record-parse-args.ts wraps it), not from the text;
 * - with an unknown option, and with a bad value: it exits 2 with one line on stderr, naming the
 *   problem and pointing at --help, and nothing on stdout.
 * None of these gets as far as measuring; each spawn has a deadline in case one would. And every
 * file of bench/ that parses a command line does it through bench/command-line.ts and is listed
 * here, so a new command cannot go without these checks.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configOverrides, integerArg, numberArg, parseCommandLine } from '../../../bench/command-line.ts';

const benchDir = join(import.meta.dirname, '..', '..', '..', 'bench');
const recorder = join(import.meta.dirname, 'record-parse-args.ts');

/** Each command, with arguments it must refuse as a bad value (not an unknown option). */
const COMMANDS: readonly { readonly file: string; readonly bad: readonly string[] }[] = [
  { file: 'run.ts', bad: ['--rate', 'fast'] },
  { file: 'sync.ts', bad: ['--txs', '0'] },
  { file: 'records.ts', bad: ['--set', 'no-equals-sign'] },
  { file: 'consensus.ts', bad: ['--duration', '0'] },
  { file: 'health-app.ts', bad: ['--block', '0'] },
  { file: 'merkle-store.ts', bad: ['many'] },
  { file: 'profile.ts', bad: [] },
  { file: 'chart.ts', bad: ['sweep.txt'] },
  { file: 'cli-latency.ts', bad: ['--validators', '0'] },
  { file: 'cli-startup.ts', bad: ['--runs', 'x'] },
];

/** Not commands: the helper itself, and the load process bench/run.ts forks (no CLI of its own). */
const NOT_COMMANDS = new Set(['command-line.ts', 'load.ts']);

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** What parseArgs was asked to accept, one entry per call. */
  readonly parsers: readonly { readonly long: readonly string[]; readonly short: readonly string[] }[];
}

function run(file: string, args: readonly string[]): Run {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-bench-help-'));
  try {
    const log = join(dir, 'parse-args.jsonl');
    const r = spawnSync(process.execPath, ['--import', recorder, join(benchDir, file), ...args], {
      encoding: 'utf8',
      env: { ...process.env, BENCH_PARSE_ARGS_LOG: log, CACHE_MB: '' },
      // A command that ignored its flags would start measuring: stop it rather than wait.
      timeout: 60_000,
    });
    assert.is(r.signal, null, `${file} ${args.join(' ')} was still running after 60 s`);
    const text = (() => {
      try {
        return readFileSync(log, 'utf8');
      } catch {
        return '';
      }
    })();
    const parsers = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Run['parsers'][number]);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, parsers };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `--name` as a whole flag in the text (not the start of a longer one). */
const mentions = (text: string, flag: string): boolean =>
  new RegExp(`(^|[^\\w-])${flag.replace(/[-]/g, '\\-')}(?![\\w-])`, 'm').test(text);

/** The flags the help's option lines define: `  --name …` or `  -h, --help …`. */
function definedFlags(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-\w, )?--([a-z][\w-]*)/gm)].map((m) => m[1]!);
}

/** One line `<name>: <problem> (see <command> --help)` on stderr, nothing on stdout, exit 2. */
function assertUsageError(r: Run, what: string): void {
  assert.is(r.status, 2, `${what}: exit code (stderr: ${r.stderr})`);
  assert.is(r.stdout, '', `${what}: nothing on stdout`);
  assert.ok(
    /^bench(:[a-z-]+)?: [^\n]+ \(see [^\n]+ --help\)\n$/.test(r.stderr),
    `${what}: one line pointing at --help, got ${JSON.stringify(r.stderr)}`,
  );
}

for (const { file, bad } of COMMANDS) {
  test(`bench/${file} --help: exit 0, and the text lists exactly the options parseArgs accepts`, () => {
    const r = run(file, ['--help']);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stderr, '');
    assert.ok(r.stdout.startsWith('Usage: '), r.stdout);
    assert.is(r.parsers.length, 1, 'the command line is parsed once');
    const { long, short } = r.parsers[0]!;
    assert.ok(long.includes('help') && short.includes('h'), '-h and --help are accepted');
    for (const name of long) assert.ok(mentions(r.stdout, `--${name}`), `--${name} is not in the help`);
    for (const s of short) assert.ok(mentions(r.stdout, `-${s}`), `-${s} is not in the help`);
    for (const name of definedFlags(r.stdout))
      assert.ok(long.includes(name), `the help describes --${name}, which the command refuses`);
    assert.equal(run(file, ['-h']).stdout, r.stdout, '-h prints the same text');
  });

  test(`bench/${file}: an unknown option is one line and exit 2`, () => {
    const r = run(file, ['--no-such-option']);
    assertUsageError(r, `${file} --no-such-option`);
    assert.ok(r.stderr.includes("'--no-such-option'"), r.stderr);
  });

  test(`bench/${file} ${bad.join(' ')}: a bad value is one line and exit 2`, () => {
    assertUsageError(run(file, bad), `${file} ${bad.join(' ')}`);
  });
}

test('every file of bench/ that reads a command line is a command listed here, using the helper', () => {
  const listed = new Set(COMMANDS.map((c) => c.file));
  for (const file of readdirSync(benchDir).filter((f) => f.endsWith('.ts'))) {
    if (NOT_COMMANDS.has(file)) continue;
    const source = readFileSync(join(benchDir, file), 'utf8');
    assert.not.ok(
      /\bparseArgs\(|process\.argv\[[2-9]\]|process\.argv\.slice\(/.test(source),
      `${file} parses by hand`,
    );
    assert.is(
      source.includes('parseCommandLine('),
      listed.has(file),
      `${file}: listed if and only if a command`,
    );
  }
});

const COMMAND = {
  name: 'bench:test',
  command: 'test',
  usage: 'Usage: test\n',
  options: { n: { type: 'string', default: '3' }, set: { type: 'string', multiple: true } },
} as const;

test('parseCommandLine: values with their defaults, -h/--help added', () => {
  const { values } = parseCommandLine(COMMAND, ['--set', 'a=1']);
  assert.equal({ ...values }, { n: '3', set: ['a=1'], help: false });
  assert.is(parseCommandLine(COMMAND, ['--n=7']).values.n, '7');
});

test('integerArg and numberArg return the value in range', () => {
  assert.is(integerArg(COMMAND, '0', '--n', 0, 10), 0);
  assert.is(integerArg(COMMAND, '10', '--n', 0, 10), 10);
  assert.is(numberArg(COMMAND, '0.5', '--s', 0, 1), 0.5);
});

test('configOverrides: booleans and decimal numbers typed, anything else a string, the last one wins', () => {
  assert.equal(configOverrides(COMMAND, ['a=true', 'b=false', 'c=-1.5', 'd=1e3', 'e=x=y', 'a=2']), {
    a: 2,
    b: false,
    c: -1.5,
    d: '1e3',
    e: 'x=y',
  });
  assert.equal(configOverrides(COMMAND, undefined), {});
});

test.run();
