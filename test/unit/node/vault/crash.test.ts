/**
 * Crash safety of node/vault: opening the vault after a crash at any step of an upload, an
 * erase or a sweep leaves it consistent: no partial blob under a final name, no temp file, no
 * key of a confirmed record lost, an interrupted upload rolled back, an interrupted erase
 * finished. Each crash point is rebuilt on disk with the vault's own parts, performing exactly
 * the steps before the crash (and a half-written temp file for the step in progress); a real
 * process is also killed with SIGKILL at arbitrary moments of a busy loop.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { shredFile } from '../../../../node/vault/durable.ts';
import { FileBlobStore } from '../../../../node/vault/file-blob-store.ts';
import { KeyStore } from '../../../../node/vault/key-store.ts';
import { MarkerDir } from '../../../../node/vault/markers.ts';
import { Vault, vaultPaths } from '../../../../node/vault/vault.ts';
import { loadOrCreateVaultKey } from '../../../../node/vault/vault-key.ts';
import { decryptRecord, encryptRecord } from '../../../../packages/records/envelope.ts';
import {
  bytesOf,
  chunksOf,
  collect,
  filesContaining,
  filesUnder,
  inTempHome,
  materialOf,
} from './fixtures.ts';

/** The vault's parts over `home`, to replay the first steps of an operation by hand. */
async function partsOf(home: string) {
  await (await Vault.open(home)).sweep(0); // creates the folders and the vault key
  const p = vaultPaths(home);
  const vaultKey = await loadOrCreateVaultKey(p.vaultKey);
  return {
    p,
    blobs: new FileBlobStore(p.blobs, p.tmp),
    keys: new KeyStore(p.keys, p.tmp, vaultKey),
    pending: new MarkerDir(p.pending, p.tmp),
    erased: new MarkerDir(p.erased, p.tmp),
  };
}

function blobFiles(home: string): string[] {
  return filesUnder(vaultPaths(home).blobs);
}

const UPLOAD_STEPS = [
  'streaming',
  'staged',
  'pending written',
  'key half-written',
  'key written',
  'blob committed',
];

for (const [step, name] of UPLOAD_STEPS.entries()) {
  test(`upload killed after "${name}": reopened, the vault is consistent`, () =>
    inTempHome(async (home) => {
      const { p, blobs, keys, pending } = await partsOf(home);
      const material = materialOf(1);
      const envelope = encryptRecord(bytesOf(1, 100_000), material.dataKey);
      if (step === 0) writeFileSync(join(p.tmp, 'blob-0123456789abcdef'), envelope.subarray(0, 5000));
      const staged = step >= 1 ? await blobs.stage(chunksOf(envelope), 1 << 20) : undefined;
      if (step >= 2) await pending.put(staged!.sha256, '1000');
      const keyTemp = join(p.tmp, 'key-0123456789abcdef');
      if (step === 3) writeFileSync(keyTemp, new Uint8Array(40).fill(0xaa));
      if (step >= 4) await keys.put(staged!.sha256, material);
      if (step >= 5) await staged!.commit();

      const vault = await Vault.open(home);
      assert.equal(readdirSync(p.tmp), [], 'temp files removed');
      if (step < 5) {
        // Cut short: nothing of it remains, and it was never visible.
        assert.equal(blobFiles(home), []);
        assert.equal(readdirSync(p.keys), []);
        assert.equal(readdirSync(p.pending), []);
        assert.is(vault.recovery.uploadsRolledBack, step >= 2 ? 1 : 0);
        assert.is(existsSync(keyTemp), false);
        // And it can be uploaded again from scratch.
        const again = await vault.upload(chunksOf(envelope), material);
        assert.is(again.alreadyStored, false);
      } else {
        assert.is(vault.recovery.uploadsRolledBack, 0);
        assert.is(await vault.status(staged!.sha256), 'pending');
        const rec = await vault.read(staged!.sha256);
        assert.equal(await collect(rec.stream), envelope);
      }
    }));
}

const ERASE_STEPS = ['marked erased', 'key zeroed', 'key unlinked', 'blob deleted'];

for (const [step, name] of ERASE_STEPS.entries()) {
  test(`erase killed after "${name}": reopened, the erase is finished`, () =>
    inTempHome(async (home) => {
      const vault = await Vault.open(home);
      const material = materialOf(2);
      const up = await vault.upload(chunksOf(encryptRecord(bytesOf(2, 9000), material.dataKey)), material);
      await vault.confirm(up.sha256);
      const { p, blobs, erased } = await partsOf(home);
      const keyFile = join(p.keys, Buffer.from(up.sha256).toString('hex'));
      await erased.put(up.sha256);
      if (step === 1) writeFileSync(keyFile, new Uint8Array(statSync(keyFile).size));
      if (step >= 2) await shredFile(keyFile);
      if (step >= 3) await blobs.delete(up.sha256);

      const reopened = await Vault.open(home);
      assert.is(reopened.recovery.erasuresFinished, step < 3 ? 1 : 0);
      assert.is(await reopened.status(up.sha256), 'erased');
      assert.equal(readdirSync(p.keys), []);
      assert.equal(blobFiles(home), []);
      assert.equal(filesContaining(home, material.dataKey), []);
    }));
}

test('sweep killed after the key was shredded: reopened, the upload is gone', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home);
    const material = materialOf(3);
    const up = await vault.upload(chunksOf(encryptRecord(bytesOf(3, 9000), material.dataKey)), material);
    const { p, keys } = await partsOf(home);
    await keys.shred(up.sha256);
    const reopened = await Vault.open(home);
    assert.is(reopened.recovery.uploadsRolledBack, 1);
    assert.is(await reopened.status(up.sha256), 'unknown');
    assert.equal(blobFiles(home), []);
    assert.equal(readdirSync(p.pending), []);
  }));

test('a blob without a key is removed; a confirmed key whose blob vanished is kept and reported', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home);
    const kept = await vault.upload(chunksOf(bytesOf(4, 500)), materialOf(4));
    await vault.confirm(kept.sha256);
    const { p, blobs } = await partsOf(home);
    const orphan = await blobs.stage(chunksOf(bytesOf(5, 500)), 10_000);
    await orphan.commit();
    await blobs.delete(kept.sha256);
    const reopened = await Vault.open(home);
    assert.is(reopened.recovery.orphanBlobsRemoved, 1);
    assert.equal(reopened.recovery.blobsMissing, [kept.sha256]);
    assert.is(readdirSync(p.keys).length, 1);
    assert.is(await reopened.status(kept.sha256), 'anchored');
    assert.equal(blobFiles(home), []);
  }));

/** Runs the crash child from record `start` until it has confirmed `count` records, then SIGKILLs it. */
async function runAndKill(home: string, start: number, count: number) {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'crash-child.ts'), home, String(start)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const confirmed = new Map<number, string>();
  const erasing = new Set<number>();
  const erasedDone = new Set<number>();
  let last = start;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for await (const line of createInterface({ input: child.stdout! })) {
    const [what, i, hex] = line.split(' ') as [string, string, string];
    const n = Number(i);
    last = Math.max(last, n);
    if (what === 'confirmed') confirmed.set(n, hex);
    if (what === 'erasing') erasing.add(n);
    if (what === 'erased') erasedDone.add(n);
    // Lines written before the kill landed are still read: the child may have gone on a little.
    if (confirmed.size >= count && !child.killed) child.kill('SIGKILL');
  }
  await exited;
  return { confirmed, erasing, erasedDone, next: last + 1 };
}

test('SIGKILL at arbitrary moments of a busy vault: after each restart it is consistent', () =>
  inTempHome(async (home) => {
    let start = 0;
    const all = new Map<number, string>();
    const erasedEver = new Set<number>();
    for (let round = 0; round < 3; round++) {
      const run = await runAndKill(home, start, 7 + round);
      for (const [i, hex] of run.confirmed) all.set(i, hex);
      const vault = await Vault.open(home);
      const p = vaultPaths(home);
      assert.equal(readdirSync(p.tmp), [], `round ${round}: temp files removed`);
      assert.equal(vault.recovery.blobsMissing, [], `round ${round}: no confirmed blob lost`);
      for (const [i, hex] of all) {
        const sha256 = new Uint8Array(Buffer.from(hex, 'hex'));
        const status = await vault.status(sha256);
        if (run.erasedDone.has(i) || erasedEver.has(i)) {
          erasedEver.add(i);
          assert.is(status, 'erased', `record ${i}`);
        } else if (run.erasing.has(i)) {
          assert.ok(status === 'erased' || status === 'anchored', `record ${i} mid-erase: ${status}`);
          if (status === 'erased') erasedEver.add(i);
        } else {
          assert.is(status, 'anchored', `record ${i}`);
          const rec = await vault.read(sha256);
          assert.is(rec.anchored, true);
          assert.equal(decryptRecord(await collect(rec.stream), rec.dataKey), bytesOf(i, 150_000 + i));
        }
      }
      // Every blob has its key and every key its blob; pending ones are whole.
      assert.is(blobFiles(home).length, readdirSync(p.keys).length, `round ${round}`);
      start = run.next;
    }
  }));

test.run();
