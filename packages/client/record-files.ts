/**
 * The files of a record on its way through a client: the envelope in a private temp folder (mode
 * 0700, removed on every path), written while it is hashed, so a record of any size is never held
 * whole in memory and its hash and size are known before it is uploaded or decrypted; and the
 * output file that appears only after the plaintext has authenticated and matched its commitment.
 * Used by records.ts; every failure is a ClientError with a code.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { equalBytes, toHex } from '../crypto/hash.ts';
import type { RecordAnchor } from '../health/model.ts';
import { encryptRecordStream, type PlaintextSink } from '../records/envelope.ts';
import { fileSink } from '../records/file-sink.ts';
import type { KeyMaterial } from '../records/key-material.ts';
import type { ReleaseResponse } from './local-api.ts';
import { ClientError } from './rpc.ts';

const recordError = (code: string, message: string): ClientError => new ClientError(code, message);

/** Runs `fn` with a fresh private temp folder (mode 0700), removed afterwards whatever happens. */
export async function withTempDir<T>(tempDir: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tempDir, 'careledger-record-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface SealedFile {
  readonly sha256: Uint8Array;
  readonly size: bigint;
  readonly commitment: Uint8Array;
}

/** Encrypts `source` into the new file `path`, hashing the envelope and the salted plaintext on the way. */
export async function encryptToFile(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  material: KeyMaterial,
  path: string,
): Promise<SealedFile> {
  const commitment = createHash('sha256').update(material.salt);
  let plainBytes = 0;
  async function* plaintext(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      if (!(chunk instanceof Uint8Array))
        throw recordError('CLIENT_INPUT_INVALID', 'a record stream yields bytes (Uint8Array), not text');
      commitment.update(chunk);
      plainBytes += chunk.length;
      yield chunk;
    }
  }
  const envelope = createHash('sha256');
  let size = 0n;
  const out = await open(path, 'wx', 0o600);
  try {
    for await (const chunk of encryptRecordStream(plaintext(), material.dataKey)) {
      envelope.update(chunk);
      size += BigInt(chunk.length);
      await out.write(chunk);
    }
    await out.sync();
  } finally {
    await out.close();
  }
  if (plainBytes === 0) throw recordError('CLIENT_RECORD_EMPTY', 'the record is empty');
  return { sha256: envelope.digest(), size, commitment: commitment.digest() };
}

/**
 * Streams the released envelope into the new file `path`, hashing and counting; refuses it
 * (RECORD_SIZE_MISMATCH as soon as it is longer than the anchor says, or declared so;
 * RECORD_HASH_MISMATCH) before anything is decrypted. Returns the verified hash.
 */
export async function downloadVerified(
  release: ReleaseResponse,
  anchor: RecordAnchor,
  path: string,
): Promise<Uint8Array> {
  const sizeError = (n: bigint) =>
    recordError('RECORD_SIZE_MISMATCH', `the custodian sent ${n} bytes; the anchor says ${anchor.size}`);
  if (release.size !== anchor.size) {
    release.body.destroy();
    throw sizeError(release.size);
  }
  const hash = createHash('sha256');
  let size = 0n;
  const out = await open(path, 'wx', 0o600);
  try {
    for await (const chunk of release.body as AsyncIterable<Buffer>) {
      size += BigInt(chunk.length);
      if (size > anchor.size) throw sizeError(size);
      hash.update(chunk);
      await out.write(chunk);
    }
  } catch (err) {
    release.body.destroy();
    if (err instanceof ClientError) throw err;
    throw recordError(
      'RECORD_TRANSFER_INCOMPLETE',
      `the release was cut off after ${size} of ${anchor.size} bytes (${(err as Error).message}); nothing is decrypted`,
    );
  } finally {
    await out.close();
  }
  if (size !== anchor.size) throw sizeError(size);
  const digest = hash.digest();
  if (!equalBytes(digest, anchor.ciphertextHash))
    throw recordError(
      'RECORD_HASH_MISMATCH',
      `the custodian's bytes hash to ${toHex(digest)}, not to the anchored ${toHex(anchor.ciphertextHash)}`,
    );
  return digest;
}

/**
 * A sink into `path` (a temp file beside it, renamed at commit: file-sink.ts) that also checks
 * the decrypted plaintext against the salted commitment: on a mismatch the temp file is removed
 * and RECORD_COMMITMENT_MISMATCH thrown, so `path` never holds bytes the chain does not vouch for.
 */
export async function committedFileSink(
  path: string,
  salt: Uint8Array,
  commitment: Uint8Array,
): Promise<PlaintextSink<string>> {
  const inner = await fileSink(path);
  const hash = createHash('sha256').update(salt);
  return {
    write(chunk) {
      hash.update(chunk);
      return inner.write(chunk);
    },
    async commit() {
      if (!equalBytes(hash.digest(), commitment)) {
        await inner.abort();
        throw recordError(
          'RECORD_COMMITMENT_MISMATCH',
          'the decrypted record does not match the salted commitment on chain; nothing is written',
        );
      }
      return inner.commit();
    },
    abort: () => inner.abort(),
  };
}
