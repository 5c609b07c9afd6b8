/**
 * Key files for the client and the CLI: an ed25519 key pair (a patient's or a member's) as a small
 * JSON document, `{"type": "careledger/ed25519-key/v1", "public_key": base64, "secret_key": base64}`
 * (the secret key is the 32-byte seed).
 *
 * The secret key is never printed: a loaded or generated pair keeps it in a non-enumerable
 * property, so `console.log`, `util.inspect` and `JSON.stringify` of the pair show only the public
 * key. Files are written with mode 0600 through a temporary file in the same folder, so a crash
 * never leaves a half-written key; without `overwrite` the final step is a hard link, which fails
 * atomically if the file appeared meanwhile. Like ssh, loading refuses a key file that group or
 * others can read.
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CareLedgerError } from '../core/errors.ts';
import {
  generateKeyPair,
  type KeyPair,
  keyPairFromSeed,
  PUBLIC_KEY_BYTES,
  SECRET_KEY_BYTES,
} from '../crypto/ed25519.ts';
import { equalBytes } from '../crypto/hash.ts';
import { patientIdOf } from '../health/ids.ts';

export const KEY_FILE_TYPE = 'careledger/ed25519-key/v1';
/** Key files hold at most this many bytes (a valid one is about 150). */
const MAX_KEY_FILE_BYTES = 4096;

function keyError(code: string, message: string): CareLedgerError {
  return new CareLedgerError(code, message);
}

/** A copy of `pair` whose secret key does not show when the pair is logged or serialised. */
export function sealed(pair: KeyPair): KeyPair {
  const out = { publicKey: new Uint8Array(pair.publicKey) } as {
    publicKey: Uint8Array;
    secretKey: Uint8Array;
  };
  Object.defineProperty(out, 'secretKey', { value: new Uint8Array(pair.secretKey), enumerable: false });
  return Object.freeze(out);
}

/** A fresh key pair from the system's secure random source. */
export function generateKey(): KeyPair {
  return sealed(generateKeyPair());
}

/** The id a patient holding this key gets at registration (kept after key rotation). */
export function patientIdOfKey(key: KeyPair | Uint8Array): string {
  return patientIdOf(key instanceof Uint8Array ? key : key.publicKey);
}

export function encodeKeyFile(pair: KeyPair): string {
  return `${JSON.stringify(
    {
      type: KEY_FILE_TYPE,
      public_key: Buffer.from(pair.publicKey).toString('base64'),
      secret_key: Buffer.from(pair.secretKey).toString('base64'),
    },
    null,
    2,
  )}\n`;
}

function base64Field(raw: Record<string, unknown>, field: string, length: number, path: string): Uint8Array {
  const value = raw[field];
  const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : null;
  // Strict: only the canonical base64 of exactly `length` bytes.
  if (bytes === null || bytes.length !== length || bytes.toString('base64') !== value)
    throw keyError('KEY_FILE_INVALID', `${path}: ${field} must be the base64 of ${length} bytes`);
  return new Uint8Array(bytes);
}

/** Parses a key file's text; `path` only names the file in errors. Throws KEY_FILE_INVALID. */
export function decodeKeyFile(text: string, path = 'key file'): KeyPair {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // Not the parser's message: it may quote the file's content, which holds the secret key.
    throw keyError('KEY_FILE_INVALID', `${path}: not valid JSON`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw keyError('KEY_FILE_INVALID', `${path}: must be a JSON object`);
  const fields = raw as Record<string, unknown>;
  if (fields.type !== KEY_FILE_TYPE)
    throw keyError('KEY_FILE_INVALID', `${path}: type must be "${KEY_FILE_TYPE}"`);
  const publicKey = base64Field(fields, 'public_key', PUBLIC_KEY_BYTES, path);
  const pair = keyPairFromSeed(base64Field(fields, 'secret_key', SECRET_KEY_BYTES, path));
  if (!equalBytes(pair.publicKey, publicKey))
    throw keyError('KEY_FILE_INVALID', `${path}: public_key does not belong to secret_key`);
  return sealed(pair);
}

/** Reads a key file. Throws KEY_FILE_NOT_FOUND, KEY_FILE_INSECURE or KEY_FILE_INVALID. */
export function loadKeyFile(path: string): KeyPair {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch {
    throw keyError('KEY_FILE_NOT_FOUND', `no key file at ${path}`);
  }
  // A directory (or device, fifo) is no key file: say so before its mode is blamed or it is read.
  if (!stats.isFile()) throw keyError('KEY_FILE_NOT_FOUND', `${path} is not a file`);
  const { mode, size } = stats;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0)
    throw keyError(
      'KEY_FILE_INSECURE',
      `${path} can be read by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}`,
    );
  if (size > MAX_KEY_FILE_BYTES) throw keyError('KEY_FILE_INVALID', `${path}: too large for a key file`);
  return decodeKeyFile(readFileSync(path, 'utf8'), path);
}

export interface SaveKeyOptions {
  /** Replace an existing file; without it an existing file is an error (KEY_FILE_EXISTS). */
  readonly overwrite?: boolean;
}

/** Writes `pair` to `path` (mode 0600, atomically). Throws KEY_FILE_EXISTS or KEY_FILE_WRITE. */
export function saveKeyFile(path: string, pair: KeyPair, options: SaveKeyOptions = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o600);
  } catch (err) {
    throw keyError('KEY_FILE_WRITE', `cannot write in ${dirname(path)}: ${(err as Error).message}`);
  }
  try {
    try {
      writeSync(fd, encodeKeyFile(pair));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.overwrite === true) renameSync(tmp, path);
    else linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw keyError('KEY_FILE_EXISTS', `${path} exists; pass overwrite (--force) to replace it`);
    throw keyError('KEY_FILE_WRITE', `cannot write ${path}: ${(err as Error).message}`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Already renamed into place.
    }
  }
}
