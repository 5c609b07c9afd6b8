/**
 * node/log.ts: each line carries one `module` key (a child of a child used to print the key twice:
 * `"module":"node","module":"p2p"`), per-module levels apply to children, and fields pass through.
 * The logger writes to stderr synchronously, so it runs in a child process whose stderr is read.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const logModule = join(import.meta.dirname, '..', '..', '..', 'node', 'log.ts');

function linesOf(script: string): string[] {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  return run.stderr.split('\n').filter((l) => l.length > 0);
}

test('a child of a child logs one module key, its own', () => {
  const [line] = linesOf(`
    const { createLogger } = await import(${JSON.stringify(logModule)});
    const log = createLogger({ level: 'info', format: 'json', levels: {} }, { moniker: 'n0' });
    log.child('p2p').child('sync').info('hello', { height: 5 });
  `);
  assert.ok(line !== undefined, 'one line is written');
  assert.is(line!.match(/"module":/g)?.length, 1, line);
  const parsed = JSON.parse(line!) as Record<string, unknown>;
  assert.is(parsed.module, 'sync');
  assert.is(parsed.moniker, 'n0');
  assert.is(parsed.height, 5);
  assert.is(parsed.msg, 'hello');
});

test('per-module levels: a debug module logs debug, the others stay at the default level', () => {
  const lines = linesOf(`
    const { createLogger } = await import(${JSON.stringify(logModule)});
    const log = createLogger({ level: 'info', format: 'json', levels: { p2p: 'debug' } });
    log.debug('node debug');
    log.child('p2p').debug('p2p debug');
    log.child('consensus').debug('consensus debug');
    log.child('consensus').warn('consensus warn');
  `);
  assert.equal(
    lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
    ['p2p debug', 'consensus warn'],
  );
});

test.run();
