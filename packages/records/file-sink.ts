/**
 * Decrypting a streamed record to a file so that the file exists under its name only if the
 * whole record authenticated: plaintext goes to a temp file beside the target (same folder, so
 * the rename is atomic), which is fsynced and renamed onto `path` only after the GCM tag has
 * verified, and unlinked on any failure. A reader of `path` never sees unauthenticated bytes.
 * Kept apart from envelope.ts, which has no file-system access and is usable anywhere.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decryptRecordStream, type PlaintextSink } from './envelope.ts';

/** The temp file name beside `path` (`.NAME.partial-<hex>`); exported so tests can look for it. */
export const PARTIAL_MARK = '.partial-';

/** A sink writing to a temp file beside `path`, renamed onto it at commit (mode 0600). */
export async function fileSink(path: string): Promise<PlaintextSink<string>> {
  const temp = join(dirname(path), `.${basename(path)}${PARTIAL_MARK}${randomBytes(6).toString('hex')}`);
  const handle: FileHandle = await open(temp, 'wx', 0o600);
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) {
      closed = true;
      await handle.close();
    }
  };
  return {
    async write(chunk) {
      await handle.write(chunk);
    },
    async commit() {
      try {
        await handle.sync();
        await close();
        await rename(temp, path);
      } catch (err) {
        await close().catch(() => {});
        await unlink(temp).catch(() => {});
        throw err;
      }
      return path;
    },
    async abort() {
      await close().catch(() => {});
      await unlink(temp).catch(() => {});
    },
  };
}

/**
 * Decrypts the envelope streamed from `source` into the file `path`, which appears (or is
 * replaced) only if the record authenticates; on failure nothing is left and the error is thrown.
 */
export async function decryptRecordToFile(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  dataKey: Uint8Array,
  path: string,
): Promise<string> {
  return decryptRecordStream(source, dataKey, await fileSink(path));
}
