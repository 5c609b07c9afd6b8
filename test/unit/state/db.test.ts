/**
 * state/db.ts openDb: a database already open elsewhere (LevelDB's LOCK, as a second `careledger
 * start` on a home in use meets it) is refused as DB_IN_USE naming the path, not as LevelDB's
 * "Database failed to open"; once the holder closes it, it opens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { openDb } from '../../../state/db.ts';

test('a database held by another handle is refused as DB_IN_USE; free again after close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-db-'));
  try {
    const path = join(dir, 'data');
    const holder = await openDb(path);
    let error: unknown;
    try {
      await openDb(path);
    } catch (err) {
      error = err;
    }
    assert.instance(error, CareLedgerError);
    assert.is((error as CareLedgerError).code, 'DB_IN_USE');
    assert.match((error as Error).message, /in use by another process/);
    assert.ok((error as Error).message.includes(path));
    await holder.close();
    const again = await openDb(path);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
