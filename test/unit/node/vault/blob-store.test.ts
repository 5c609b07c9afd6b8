/**
 * node/vault/file-blob-store.ts: blobs are content-addressed files under blobs/ab/<hex>, streamed
 * in and out, refused past the bound mid-stream (the rest of the upload is never read), and
 * invisible under their hash until committed.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileBlobStore } from '../../../../node/vault/file-blob-store.ts';
import { hasCode } from '../../../../packages/core/errors.ts';
import { bytesOf, chunksOf, collect, inTempHome, listAll } from './fixtures.ts';

function storeIn(home: string): { store: FileBlobStore; blobs: string; tmp: string } {
  const blobs = join(home, 'blobs');
  const tmp = join(home, 'tmp');
  mkdirSync(blobs);
  mkdirSync(tmp);
  return { store: new FileBlobStore(blobs, tmp), blobs, tmp };
}

test('stage + commit stores the bytes under blobs/<first two hex>/<sha256 hex>, mode 0600', () =>
  inTempHome(async (home) => {
    const { store, blobs, tmp } = storeIn(home);
    const bytes = bytesOf(1, 3 * 1024 * 1024 + 17);
    const staged = await store.stage(chunksOf(bytes), 4 * 1024 * 1024);
    const hex = createHash('sha256').update(bytes).digest('hex');
    assert.is(Buffer.from(staged.sha256).toString('hex'), hex);
    assert.is(staged.size, bytes.length);
    // Staged: not visible under its hash yet.
    assert.is(await store.has(staged.sha256), false);
    await staged.commit();
    const path = join(blobs, hex.slice(0, 2), hex);
    assert.equal(new Uint8Array(readFileSync(path)), bytes);
    assert.is(statSync(path).mode & 0o777, 0o600);
    assert.equal(readdirSync(tmp), []);
    assert.is(await store.has(staged.sha256), true);
    const got = await store.get(staged.sha256);
    assert.is(got.size, bytes.length);
    assert.equal(await collect(got.stream), bytes);
    assert.equal(await listAll(store.list()), [staged.sha256]);
    assert.is(await store.delete(staged.sha256), true);
    assert.is(existsSync(path), false);
    assert.is(await store.delete(staged.sha256), false);
    assert.ok(hasCode(await store.get(staged.sha256).catch((e: unknown) => e), 'VAULT_BLOB_UNKNOWN'));
  }));

test('an upload past the bound is refused with VAULT_TOO_LARGE mid-stream and leaves nothing', () =>
  inTempHome(async (home) => {
    const { store, blobs, tmp } = storeIn(home);
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield new Uint8Array(1000);
      }
    }
    const err = await store.stage(source(), 2500).catch((e: unknown) => e);
    assert.ok(hasCode(err, 'VAULT_TOO_LARGE'), String(err));
    assert.is(pulled, 3, 'stopped at the chunk that crossed the bound');
    assert.equal(readdirSync(tmp), []);
    assert.equal(readdirSync(blobs), []);
    // Exactly at the bound is accepted.
    const staged = await store.stage(chunksOf(new Uint8Array(2500), 1000), 2500);
    assert.is(staged.size, 2500);
    await staged.discard();
    assert.equal(readdirSync(tmp), []);
  }));

test('a source that fails, or yields something other than bytes, leaves no temp file', () =>
  inTempHome(async (home) => {
    const { store, tmp } = storeIn(home);
    async function* failing() {
      yield new Uint8Array(10);
      throw new Error('peer went away');
    }
    assert.is(
      ((await store.stage(failing(), 100).catch((e: unknown) => e)) as Error).message,
      'peer went away',
    );
    async function* strings() {
      yield 'text' as unknown as Uint8Array;
    }
    assert.ok(hasCode(await store.stage(strings(), 100).catch((e: unknown) => e), 'VAULT_INPUT_INVALID'));
    assert.equal(readdirSync(tmp), []);
    assert.ok(hasCode(await store.has(new Uint8Array(31)).catch((e: unknown) => e), 'VAULT_INPUT_INVALID'));
  }));

test('committing the same bytes twice keeps one blob', () =>
  inTempHome(async (home) => {
    const { store } = storeIn(home);
    const bytes = bytesOf(2, 1000);
    const a = await store.stage(chunksOf(bytes), 5000);
    const b = await store.stage(chunksOf(bytes, 7), 5000);
    await a.commit();
    await b.commit();
    assert.equal(await listAll(store.list()), [a.sha256]);
    assert.equal(await collect((await store.get(a.sha256)).stream), bytes);
  }));

test.run();
