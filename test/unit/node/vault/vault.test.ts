/**
 * node/vault/vault.ts: the record lifecycle through the facade, against a real temp home folder:
 * upload → read → decrypt with the envelope; confirm; duplicates; the size bound; sweep of
 * unanchored uploads (state kept across a reopen); refusals of erased and unknown hashes; the
 * vault key file; key files bound to their hash.
 */
import { chmodSync, existsSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Vault, vaultPaths } from '../../../../node/vault/vault.ts';
import { loadOrCreateVaultKey } from '../../../../node/vault/vault-key.ts';
import { hasCode } from '../../../../packages/core/errors.ts';
import { decryptRecord, encryptRecord } from '../../../../packages/records/envelope.ts';
import { bytesOf, chunksOf, collect, inTempHome, materialOf } from './fixtures.ts';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

async function refusal(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => null,
    (e: unknown) => e,
  );
}

test('upload → read round-trips the ciphertext, data key and salt; confirm marks it anchored', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home);
    const material = materialOf(1);
    const plaintext = bytesOf(3, 200_000);
    const envelope = encryptRecord(plaintext, material.dataKey);
    const up = await vault.upload(chunksOf(envelope, 4096), material);
    assert.is(up.size, envelope.length);
    assert.is(up.alreadyStored, false);
    assert.is(await vault.status(up.sha256), 'pending');
    const first = await vault.read(up.sha256);
    assert.is(first.anchored, false);
    assert.equal(first.dataKey, material.dataKey);
    assert.equal(first.salt, material.salt);
    assert.equal(decryptRecord(await collect(first.stream), first.dataKey), plaintext);
    await vault.confirm(up.sha256);
    await vault.confirm(up.sha256); // idempotent
    assert.is(await vault.status(up.sha256), 'anchored');
    const second = await vault.read(up.sha256);
    second.stream.destroy();
    assert.is(second.anchored, true);
  }));

test('the vault key is created once, 0600, 32 bytes, and reused; a damaged one is refused', () =>
  inTempHome(async (home) => {
    const { vaultKey } = vaultPaths(home);
    const vault = await Vault.open(home);
    const up = await vault.upload(chunksOf(bytesOf(4, 100)), materialOf(4));
    assert.is(statSync(vaultKey).mode & 0o777, 0o600);
    assert.is(statSync(vaultKey).size, 32);
    const again = await Vault.open(home);
    const read = await again.read(up.sha256);
    read.stream.destroy();
    assert.equal(read.dataKey, materialOf(4).dataKey);
    writeFileSync(vaultKey, new Uint8Array(31), { mode: 0o600 });
    assert.ok(hasCode(await refusal(Vault.open(home)), 'VAULT_KEY_CORRUPT'));
    writeFileSync(vaultKey, new Uint8Array(32), { mode: 0o600 });
    // Another vault key: the stored key files no longer open.
    const other = await Vault.open(home);
    assert.ok(hasCode(await refusal(other.read(up.sha256)), 'VAULT_KEY_CORRUPT'));
  }));

test('a vault key readable by others is refused; racing creators end with one key', () =>
  inTempHome(async (home) => {
    const path = join(home, 'config', 'vault_key');
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateVaultKey(path)));
    for (const key of keys) assert.equal(key, keys[0]);
    assert.equal(readdirSync(join(home, 'config')), ['vault_key']);
    chmodSync(path, 0o640);
    assert.ok(hasCode(await refusal(loadOrCreateVaultKey(path)), 'VAULT_KEY_CORRUPT'));
  }));

test('a home folder that does not exist yet is created with the vault in it', () =>
  inTempHome(async (parent) => {
    const home = join(parent, 'institutions', 'city-lab');
    const vault = await Vault.open(home);
    const up = await vault.upload(chunksOf(bytesOf(15, 10)), materialOf(15));
    assert.is(await vault.status(up.sha256), 'pending');
    assert.is(statSync(vaultPaths(home).vaultKey).size, 32);
  }));

test('a key file moved onto another record does not open (the hash is authenticated)', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home);
    const a = await vault.upload(chunksOf(bytesOf(5, 100)), materialOf(5));
    const b = await vault.upload(chunksOf(bytesOf(6, 100)), materialOf(6));
    const { keys } = vaultPaths(home);
    const hex = (h: Uint8Array) => Buffer.from(h).toString('hex');
    renameSync(join(keys, hex(a.sha256)), join(keys, hex(b.sha256)));
    assert.ok(hasCode(await refusal(vault.read(b.sha256)), 'VAULT_KEY_CORRUPT'));
  }));

test('the same bytes again: idempotent with the same key, VAULT_DUPLICATE with another', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home);
    const bytes = bytesOf(7, 5000);
    const first = await vault.upload(chunksOf(bytes), materialOf(7));
    const again = await vault.upload(chunksOf(bytes, 100), materialOf(7));
    assert.equal(again.sha256, first.sha256);
    assert.is(again.alreadyStored, true);
    assert.ok(hasCode(await refusal(vault.upload(chunksOf(bytes), materialOf(8))), 'VAULT_DUPLICATE'));
    const read = await vault.read(first.sha256);
    read.stream.destroy();
    assert.equal(read.dataKey, materialOf(7).dataKey);
    assert.equal(readdirSync(vaultPaths(home).tmp), []);
  }));

test('the size bound: refused with VAULT_TOO_LARGE, nothing kept', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home, { maxRecordBytes: 10_000 });
    assert.ok(
      hasCode(
        await refusal(vault.upload(chunksOf(bytesOf(9, 10_001), 1000), materialOf(9))),
        'VAULT_TOO_LARGE',
      ),
    );
    const ok = await vault.upload(chunksOf(bytesOf(9, 10_000), 1000), materialOf(9));
    assert.is(ok.size, 10_000);
    const { tmp, pending, keys } = vaultPaths(home);
    assert.equal(readdirSync(tmp), []);
    assert.is(readdirSync(pending).length, 1);
    assert.is(readdirSync(keys).length, 1);
  }));

test('bad inputs are refused before anything is stored', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home);
    const bad = { dataKey: new Uint8Array(31), salt: new Uint8Array(16) };
    assert.ok(hasCode(await refusal(vault.upload(chunksOf(bytesOf(1, 10)), bad)), 'RECORD_INPUT_INVALID'));
    const short = { dataKey: new Uint8Array(32), salt: new Uint8Array(15) };
    assert.ok(hasCode(await refusal(vault.upload(chunksOf(bytesOf(1, 10)), short)), 'RECORD_INPUT_INVALID'));
    assert.ok(hasCode(await refusal(vault.read(new Uint8Array(16))), 'VAULT_INPUT_INVALID'));
    assert.ok(hasCode(await refusal(Vault.open(home, { maxRecordBytes: 0 })), 'VAULT_INPUT_INVALID'));
    assert.ok(hasCode(await refusal(Vault.open(home, { pendingTtlMs: -1 })), 'VAULT_INPUT_INVALID'));
    assert.equal(readdirSync(vaultPaths(home).keys), []);
  }));

test('unknown hashes: VAULT_BLOB_UNKNOWN for read and confirm, status unknown', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home);
    const nothing = new Uint8Array(32).fill(9);
    assert.ok(hasCode(await refusal(vault.read(nothing)), 'VAULT_BLOB_UNKNOWN'));
    assert.ok(hasCode(await refusal(vault.confirm(nothing)), 'VAULT_BLOB_UNKNOWN'));
    assert.is(await vault.status(nothing), 'unknown');
  }));

test('sweep removes uploads unanchored past the TTL, keeps confirmed ones, across a reopen', () =>
  inTempHome(async (home) => {
    const clock = manualClock();
    const opts = { pendingTtlMs: 60_000, now: clock.now };
    const vault = await Vault.open(home, opts);
    const old = await vault.upload(chunksOf(bytesOf(10, 300)), materialOf(10));
    const anchored = await vault.upload(chunksOf(bytesOf(11, 300)), materialOf(11));
    await vault.confirm(anchored.sha256);
    clock.t += 30_000;
    const young = await vault.upload(chunksOf(bytesOf(12, 300)), materialOf(12));
    assert.equal(await vault.sweep(clock.t + 30_000), [], 'exactly at the TTL: kept');

    // The pending state is in files: a reopened vault sweeps what the first one recorded.
    const reopened = await Vault.open(home, opts);
    assert.equal(await reopened.sweep(clock.t + 30_001), [old.sha256]);
    assert.is(await reopened.status(old.sha256), 'unknown');
    assert.ok(hasCode(await refusal(reopened.read(old.sha256)), 'VAULT_BLOB_UNKNOWN'));
    assert.is(await reopened.status(anchored.sha256), 'anchored');
    assert.is(await reopened.status(young.sha256), 'pending');
    assert.equal(await reopened.sweep(clock.t + 60_001), [young.sha256]);
    assert.is(await reopened.status(anchored.sha256), 'anchored');
    // A swept upload was never anchored, so it is not erased: it may come again.
    const back = await reopened.upload(chunksOf(bytesOf(10, 300)), materialOf(10));
    assert.is(back.alreadyStored, false);
  }));

test('an erased hash is refused by read, confirm and a re-upload, and erase is idempotent', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home);
    const bytes = bytesOf(13, 4000);
    const up = await vault.upload(chunksOf(bytes), materialOf(13));
    await vault.confirm(up.sha256);
    assert.equal(await vault.erase(up.sha256), { keyDestroyed: true });
    assert.equal(await vault.erase(up.sha256), { keyDestroyed: false });
    assert.is(await vault.status(up.sha256), 'erased');
    assert.ok(hasCode(await refusal(vault.read(up.sha256)), 'VAULT_ERASED'));
    assert.ok(hasCode(await refusal(vault.confirm(up.sha256)), 'VAULT_ERASED'));
    assert.ok(hasCode(await refusal(vault.upload(chunksOf(bytes), materialOf(13))), 'VAULT_ERASED'));
    const { blobs, keys, pending, tmp } = vaultPaths(home);
    const hex = Buffer.from(up.sha256).toString('hex');
    assert.is(existsSync(join(blobs, hex.slice(0, 2), hex)), false);
    assert.equal(readdirSync(keys), []);
    assert.equal(readdirSync(pending), []);
    assert.equal(readdirSync(tmp), []);
    // Erasing a hash never stored here still marks it, so it is refused later.
    const never = new Uint8Array(32).fill(1);
    assert.equal(await vault.erase(never), { keyDestroyed: false });
    assert.is(await vault.status(never), 'erased');
    assert.is(await (await Vault.open(home)).status(up.sha256), 'erased');
  }));

test('concurrent operations on one hash are serialised: erase during uploads leaves it erased', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home);
    const bytes = bytesOf(14, 50_000);
    const first = await vault.upload(chunksOf(bytes), materialOf(14));
    const results = await Promise.allSettled([
      vault.upload(chunksOf(bytes, 999), materialOf(14)),
      vault.erase(first.sha256),
      vault.upload(chunksOf(bytes, 1001), materialOf(14)),
      vault.read(first.sha256).then((r) => r.stream.destroy()),
    ]);
    assert.is(results[1]!.status, 'fulfilled');
    assert.is(await vault.status(first.sha256), 'erased');
    assert.equal(readdirSync(vaultPaths(home).keys), []);
    assert.equal(
      readdirSync(vaultPaths(home).blobs).flatMap((d) => readdirSync(join(vaultPaths(home).blobs, d))),
      [],
    );
  }));

test.run();
