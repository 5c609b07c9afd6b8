/**
 * state/db.ts openDb: a database already open elsewhere (LevelDB's LOCK, as a second `careledger
 * start` on a home in use meets it) is refused as DB_IN_USE naming the path, not as LevelDB's
 * "Database failed to open"; once the holder closes it, it opens. writeBatch writes puts and deletes
 * together, and a batch with a bad op writes none of them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { type BatchOp, openDb, writeBatch } from '../../../state/db.ts';

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

test('writeBatch writes puts and deletes as one batch; one bad op and nothing is written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-db-'));
  const db = await openDb(join(dir, 'data'));
  try {
    const k = (s: string) => Buffer.from(s);
    await writeBatch(db, [{ type: 'put', key: k('gone'), value: k('x') }], { sync: false });
    await writeBatch(
      db,
      [
        { type: 'put', key: k('a'), value: k('1') },
        { type: 'del', key: k('gone') },
        { type: 'put', key: k('b'), value: k('2') },
      ],
      { sync: true },
    );
    assert.equal(
      await db.getMany([k('a'), k('b'), k('gone')]).then((v) => v.map((x) => x && Buffer.from(x).toString())),
      ['1', '2', undefined],
    );
    const bad = [
      { type: 'put', key: k('c'), value: k('3') },
      { type: 'put', key: null, value: k('4') },
    ] as unknown as BatchOp[];
    let failed = false;
    await writeBatch(db, bad, { sync: true }).catch(() => {
      failed = true;
    });
    assert.ok(failed, 'a null key is refused');
    assert.is(await db.get(k('c')), undefined, 'and the good op before it was not written');
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
