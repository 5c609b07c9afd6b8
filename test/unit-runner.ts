/**
 * Runs uvu test files in one process and prints `N passed, N failed` from uvu's own per-suite
 * results (uvu prints no machine-readable total). Usage: node test/unit-runner.ts FILE...
 */
import { pathToFileURL } from 'node:url';

type SuiteRun = () => Promise<[errors: string | true, passed: number, skipped: number, total: number]>;
const globals = globalThis as unknown as {
  UVU_DEFER: number;
  UVU_QUEUE: [string | null, ...SuiteRun[]][];
  UVU_INDEX: number;
};
globals.UVU_DEFER = 1;
globals.UVU_QUEUE = [];

const files = process.argv.slice(2);
for (const [index, file] of files.entries()) {
  globals.UVU_INDEX = index;
  globals.UVU_QUEUE.push([file]);
  await import(pathToFileURL(file).href);
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const [file, ...suites] of globals.UVU_QUEUE) {
  process.stdout.write(`${file}\n`);
  for (const suite of suites) {
    const [errors, ran, skip, total] = await suite();
    passed += ran;
    failed += total - ran;
    skipped += skip;
    if (errors !== true) process.stdout.write(`\n${errors}\n`);
    else if (ran + skip < total)
      // uvu returns from a `finally` when a hook throws, or when a failure cannot be formatted
      // (a diff of values holding a bigint), and the error is lost: say so, at least.
      process.stdout.write(
        `\n  ${total - ran - skip} test(s) of ${file} did not pass, and uvu lost the error: a hook threw, or an assertion's diff could not be printed (bigint values)\n`,
      );
  }
}
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed > 0 ? 1 : 0);
