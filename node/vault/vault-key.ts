/**
 * The node's vault key: 32 random bytes in `config/vault_key` of the home folder (mode 0600),
 * created on first use. Every record's data key is stored wrapped under it (key-store.ts), so
 * the raw data keys never touch the disk. Losing this file loses every stored record; copying it
 * with the vault folder is how a node's vault is backed up.
 *
 * Created under a temp name and linked into place (link fails if the name exists), so two
 * processes racing to create it end up using the same key, and a crash never leaves a short file.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ensureDir, syncDir } from './durable.ts';
import { VaultErrorCode, vaultError } from './errors.ts';

export const VAULT_KEY_BYTES = 32;

/** The vault key file of the home folder `home`. */
export function vaultKeyPath(home: string): string {
  return join(home, 'config', 'vault_key');
}

/** Reads the vault key at `path`, creating it if missing; VAULT_KEY_CORRUPT if it is damaged. */
export async function loadOrCreateVaultKey(path: string): Promise<Uint8Array> {
  const existing = await readKey(path);
  if (existing !== undefined) return existing;
  await ensureDir(dirname(path));
  const temp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(randomBytes(VAULT_KEY_BYTES));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(temp);
  }
  await syncDir(dirname(path));
  const key = await readKey(path);
  if (key === undefined) throw vaultError(VaultErrorCode.keyCorrupt, `${path}: vanished while created`);
  return key;
}

async function readKey(path: string): Promise<Uint8Array | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (bytes.length !== VAULT_KEY_BYTES)
    throw vaultError(VaultErrorCode.keyCorrupt, `${path}: a vault key is ${VAULT_KEY_BYTES} bytes`);
  if (((await stat(path)).mode & 0o077) !== 0)
    throw vaultError(VaultErrorCode.keyCorrupt, `${path}: readable by others (chmod 600 it)`);
  return new Uint8Array(bytes);
}
