/**
 * The embedded BlobStore: one plain file per ciphertext under the vault folder,
 *
 *   blobs/<first two hex digits>/<sha256 hex>   the ciphertext (mode 0600)
 *   tmp/blob-<random>                           an upload being streamed (staged)
 *
 * An upload streams into a temp file while its sha256 and size are computed, chunk by chunk
 * (the record is never held in memory); it is fsynced before it is staged, and committed by a
 * rename onto its final name followed by an fsync of the folder. A crash therefore never leaves
 * a partial blob under a final name; temp files left by a crash are removed when the vault opens
 * (the vault owns `tmp/` and cleans it before any upload starts).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobStore, StagedBlob } from './blob-store.ts';
import { ensureDir, exists, listDir, removeDurably, syncDir, tempPath } from './durable.ts';
import { VaultErrorCode, vaultError } from './errors.ts';
import { hashHex, hashOfHex, isHashName } from './hash.ts';

export const BLOB_TEMP_PREFIX = 'blob';

export class FileBlobStore implements BlobStore {
  readonly #blobsDir: string;
  readonly #tmpDir: string;

  /** `blobsDir` and `tmpDir` must be on the same file system (the commit is a rename). */
  constructor(blobsDir: string, tmpDir: string) {
    this.#blobsDir = blobsDir;
    this.#tmpDir = tmpDir;
  }

  #pathOf(hex: string): string {
    return join(this.#blobsDir, hex.slice(0, 2), hex);
  }

  async stage(source: AsyncIterable<Uint8Array>, maxBytes: number): Promise<StagedBlob> {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw vaultError(VaultErrorCode.inputInvalid, 'the size bound is a non-negative integer');
    const temp = tempPath(this.#tmpDir, BLOB_TEMP_PREFIX);
    const handle: FileHandle = await open(temp, 'wx', 0o600);
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of source) {
        if (!(chunk instanceof Uint8Array))
          throw vaultError(VaultErrorCode.inputInvalid, 'an upload is a stream of byte chunks');
        size += chunk.length;
        // Refused mid-stream: the rest of the upload is never read.
        if (size > maxBytes)
          throw vaultError(
            VaultErrorCode.tooLarge,
            `the record is larger than the vault's bound of ${maxBytes} bytes`,
          );
        hash.update(chunk);
        await handle.write(chunk);
      }
      await handle.sync();
    } catch (err) {
      await handle.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw err;
    }
    await handle.close();
    const sha256 = new Uint8Array(hash.digest());
    const hex = hashHex(sha256);
    const final = this.#pathOf(hex);
    let settled = false;
    return {
      sha256,
      size,
      commit: async () => {
        if (settled) return;
        settled = true;
        await ensureDir(join(this.#blobsDir, hex.slice(0, 2)));
        await rename(temp, final);
        await syncDir(join(this.#blobsDir, hex.slice(0, 2)));
      },
      discard: async () => {
        if (settled) return;
        settled = true;
        await unlink(temp).catch(() => {});
      },
    };
  }

  async get(sha256: Uint8Array): Promise<{ size: number; stream: Readable }> {
    const path = this.#pathOf(hashHex(sha256));
    let handle: FileHandle;
    try {
      // Opened before returning: a missing blob is reported here, not as a stream error later.
      handle = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw vaultError(VaultErrorCode.blobUnknown, 'no ciphertext with this hash is stored');
      throw err;
    }
    const { size } = await handle.stat();
    return { size, stream: createReadStream('', { fd: handle, autoClose: true }) };
  }

  async has(sha256: Uint8Array): Promise<boolean> {
    return exists(this.#pathOf(hashHex(sha256)));
  }

  async delete(sha256: Uint8Array): Promise<boolean> {
    return removeDurably(this.#pathOf(hashHex(sha256)));
  }

  async *list(): AsyncIterable<Uint8Array> {
    for (const prefix of await listDir(this.#blobsDir)) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const name of await listDir(join(this.#blobsDir, prefix)))
        if (isHashName(name) && name.startsWith(prefix)) yield hashOfHex(name);
    }
  }
}
