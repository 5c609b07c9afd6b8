/**
 * Crypto-shredding (issue 12, point 5): after `erase`, and after a sweep, no file anywhere under
 * the home folder contains the record's raw data key, nor the bytes of its wrapped key file,
 * while every other record's stays readable. The scan reads every file recursively; it is shown
 * to find the wrapped key before the erase, so an empty result means something.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Vault, vaultPaths } from '../../../../node/vault/vault.ts';
import { encryptRecord } from '../../../../packages/records/envelope.ts';
import { bytesOf, chunksOf, filesContaining, inTempHome, materialOf } from './fixtures.ts';

/** Uploads record `seed` and returns its hash, key material and its key file's bytes. */
async function store(vault: Vault, home: string, seed: number) {
  const material = materialOf(seed);
  const up = await vault.upload(chunksOf(encryptRecord(bytesOf(seed, 20_000), material.dataKey)), material);
  const keyFile = join(vaultPaths(home).keys, Buffer.from(up.sha256).toString('hex'));
  return { ...up, material, wrapped: new Uint8Array(readFileSync(keyFile)) };
}

/** The byte strings whose presence anywhere would let the record be decrypted again. */
function secretsOf(r: Awaited<ReturnType<typeof store>>): [string, Uint8Array][] {
  return [
    ['raw data key', r.material.dataKey],
    ['wrapped key file', r.wrapped],
    // The file minus its 16-byte header: the AES-GCM ciphertext and tag of the key material.
    ['wrapped key body', r.wrapped.subarray(16)],
  ];
}

test('after erase, nothing under the home folder holds the data key or its wrapped copy', () =>
  inTempHome(async (home) => {
    const vault = await Vault.open(home);
    const victim = await store(vault, home, 1);
    const other = await store(vault, home, 2);
    await vault.confirm(victim.sha256);
    await vault.confirm(other.sha256);

    // The raw key is never on disk, even before the erase; the wrapped copy is, once.
    assert.equal(filesContaining(home, victim.material.dataKey), []);
    assert.is(filesContaining(home, victim.wrapped).length, 1);

    await vault.erase(victim.sha256);
    for (const [what, secret] of secretsOf(victim)) assert.equal(filesContaining(home, secret), [], what);
    // A reopen (the vault's only maintenance pass) changes nothing, and other records are intact.
    const reopened = await Vault.open(home);
    for (const [what, secret] of secretsOf(victim)) assert.equal(filesContaining(home, secret), [], what);
    assert.is(filesContaining(home, other.wrapped).length, 1);
    const read = await reopened.read(other.sha256);
    read.stream.destroy();
    assert.equal(read.dataKey, other.material.dataKey);
  }));

test("after a sweep, nothing holds the swept upload's key either", () =>
  inTempHome(async (home) => {
    const clock = { t: 5_000_000 };
    const vault = await Vault.open(home, { pendingTtlMs: 1000, now: () => clock.t });
    const swept = await store(vault, home, 3);
    const kept = await store(vault, home, 4);
    await vault.confirm(kept.sha256);
    assert.equal(await vault.sweep(clock.t + 1001), [swept.sha256]);
    for (const [what, secret] of secretsOf(swept)) assert.equal(filesContaining(home, secret), [], what);
    assert.is(filesContaining(home, kept.wrapped).length, 1);
  }));

test.run();
