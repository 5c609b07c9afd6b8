/**
 * The file operations the vault's crash safety rests on (POSIX semantics, as on ext4/xfs):
 *
 * - a file is written under a temp name, fsynced, renamed onto its final name (atomic within one
 *   file system), and the folder fsynced, so after a crash a name holds the whole new content
 *   or does not exist;
 * - a removal is made durable by fsyncing the folder after the unlink;
 * - shredding a file overwrites its bytes in place with zeros and fsyncs before unlinking, so
 *   the freed blocks do not keep the old bytes (on file systems that write in place; see
 *   README.md for copy-on-write file systems and SSDs).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** fsync a folder, so the names created, renamed or removed in it survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates `dir` (and parents) if missing; fsyncs the parent of each folder it created. */
export async function ensureDir(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (created === undefined) return;
  for (let d = dir; d !== dirname(created); d = dirname(d)) await syncDir(dirname(d));
}

/** A fresh temp path in `tmpDir`, named `prefix-<random>`. */
export function tempPath(tmpDir: string, prefix: string): string {
  return join(tmpDir, `${prefix}-${randomBytes(8).toString('hex')}`);
}

/**
 * Writes `bytes` to `path` so that a crash leaves either no file or the whole one. The temp file
 * lives in `tmpDir` (same file system as `path`); a leftover is removed when the vault opens.
 */
export async function writeFileDurably(
  tmpDir: string,
  tempPrefix: string,
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  const temp = tempPath(tmpDir, tempPrefix);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await syncDir(dirname(path));
}

/** Unlinks `path` if it exists and makes the removal durable; false if there was nothing. */
export async function removeDurably(path: string): Promise<boolean> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  await syncDir(dirname(path));
  return true;
}

/**
 * Overwrites `path` with zeros, fsyncs, unlinks it and fsyncs its folder: the crypto-shredding
 * of a key file. False if there was no such file.
 */
export async function shredFile(path: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    if (size > 0) await handle.write(new Uint8Array(size), 0, size, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return removeDurably(path);
}

/** The names in `dir`, or none if it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** True if `path` names a regular file. */
export async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
