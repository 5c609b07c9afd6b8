/**
 * Preloaded (`node --import`) into a bench command by command-help.test.ts: wraps util.parseArgs
 * so the test learns which options the command's parser accepts from the parser itself, not from
 * the help text it checks. Each call appends one JSON line `{"long":[…],"short":[…]}` to the file
 * named by BENCH_PARSE_ARGS_LOG, before parsing.
 */
import { appendFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import util from 'node:util';

const log = process.env.BENCH_PARSE_ARGS_LOG;
if (log === undefined || log === '') throw new Error('record-parse-args.ts needs BENCH_PARSE_ARGS_LOG');

const parseArgs = util.parseArgs;
const recording: typeof parseArgs = (config) => {
  const options = Object.entries(config?.options ?? {});
  const line = {
    long: options.map(([name]) => name),
    short: options.flatMap(([, o]) => (o.short === undefined ? [] : [o.short])),
  };
  appendFileSync(log, `${JSON.stringify(line)}\n`);
  return parseArgs(config);
};
(util as { parseArgs: typeof parseArgs }).parseArgs = recording;
// `import { parseArgs } from 'node:util'` in the command sees the wrapper only once the built-in
// module's named exports are synced with its (now changed) object.
syncBuiltinESMExports();
