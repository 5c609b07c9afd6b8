/**
 * Small per-hash marker files the vault keeps its state in, one folder per kind:
 *
 *   pending/<sha256 hex>   an upload not yet anchored; holds its upload time (ms, decimal)
 *   erased/<sha256 hex>    a record erased here; empty
 *
 * Each is created with writeFileDurably and removed with removeDurably, so a marker is either
 * whole or absent after a crash.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exists, listDir, removeDurably, writeFileDurably } from './durable.ts';
import { hashHex, hashOfHex, isHashName } from './hash.ts';

export const MARKER_TEMP_PREFIX = 'marker';

export class MarkerDir {
  readonly #dir: string;
  readonly #tmpDir: string;

  constructor(dir: string, tmpDir: string) {
    this.#dir = dir;
    this.#tmpDir = tmpDir;
  }

  async put(sha256: Uint8Array, content = ''): Promise<void> {
    await writeFileDurably(
      this.#tmpDir,
      MARKER_TEMP_PREFIX,
      join(this.#dir, hashHex(sha256)),
      new TextEncoder().encode(content),
    );
  }

  /** The marker's content, or undefined if there is none. */
  async get(sha256: Uint8Array): Promise<string | undefined> {
    try {
      return await readFile(join(this.#dir, hashHex(sha256)), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async has(sha256: Uint8Array): Promise<boolean> {
    return exists(join(this.#dir, hashHex(sha256)));
  }

  async remove(sha256: Uint8Array): Promise<boolean> {
    return removeDurably(join(this.#dir, hashHex(sha256)));
  }

  async list(): Promise<Uint8Array[]> {
    return (await listDir(this.#dir)).filter(isHashName).map(hashOfHex);
  }
}
