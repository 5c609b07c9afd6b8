/**
 * node/rollback.ts: a rollback killed between its two renames (the old database moved away, the
 * rebuilt one not yet in its place) is finished by the next start, and nothing else is touched.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { finishInterruptedRollback } from '../../../node/rollback.ts';
import { inTempDir } from '../packages/fixtures.ts';

const withDir = (fn: (dir: string) => void) => inTempDir('rollback-unit', fn);

test('no database and a rebuilt one: the rebuilt one takes its place', () => {
  withDir((dir) => {
    const db = join(dir, 'state.db');
    mkdirSync(`${db}.rollback-in-progress`);
    writeFileSync(join(`${db}.rollback-in-progress`, 'CURRENT'), 'rebuilt');
    assert.ok(finishInterruptedRollback(db));
    assert.is(readFileSync(join(db, 'CURRENT'), 'utf8'), 'rebuilt');
    assert.not.ok(existsSync(`${db}.rollback-in-progress`));
    assert.not.ok(finishInterruptedRollback(db), 'done once');
  });
});

test('a database in place (a rollback killed while rebuilding, or none at all) is left alone', () => {
  withDir((dir) => {
    const db = join(dir, 'state.db');
    assert.not.ok(finishInterruptedRollback(db), 'a fresh home: nothing to do');
    mkdirSync(db);
    mkdirSync(`${db}.rollback-in-progress`);
    assert.not.ok(finishInterruptedRollback(db));
    assert.ok(existsSync(`${db}.rollback-in-progress`), 'a half-built one is not used');
  });
});

test.run();
