/**
 * Key files for the client and the CLI, as small JSON documents `{"type", "public_key": base64,
 * "secret_key": base64}`:
 * - `careledger/ed25519-key/v1`: a patient's or a member's signing key pair (the secret key is
 *   the 32-byte seed);
 * - `careledger/x25519-record-key/v1`: a member's record-encryption key pair (X25519, RFC 7748),
 *   whose public key is on chain (`Member.recordKey`): custodians wrap records' data keys to it.
 *   By convention it lies beside the member key file (`recordKeyPathFor`).
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
import { x25519 } from '@noble/curves/ed25519.js';
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
import { RECORD_KEY_BYTES } from '../health/model.ts';

export const KEY_FILE_TYPE = 'careledger/ed25519-key/v1';
export const RECORD_KEY_FILE_TYPE = 'careledger/x25519-record-key/v1';
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

function keyFileText(type: string, pair: KeyPair): string {
  return `${JSON.stringify(
    {
      type,
      public_key: Buffer.from(pair.publicKey).toString('base64'),
      secret_key: Buffer.from(pair.secretKey).toString('base64'),
    },
    null,
    2,
  )}\n`;
}

export function encodeKeyFile(pair: KeyPair): string {
  return keyFileText(KEY_FILE_TYPE, pair);
}

function base64Field(raw: Record<string, unknown>, field: string, length: number, path: string): Uint8Array {
  const value = raw[field];
  const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : null;
  // Strict: only the canonical base64 of exactly `length` bytes.
  if (bytes === null || bytes.length !== length || bytes.toString('base64') !== value)
    throw keyError('KEY_FILE_INVALID', `${path}: ${field} must be the base64 of ${length} bytes`);
  return new Uint8Array(bytes);
}

/** Parses a key file of `type`; `fromSecret` derives the pair that public_key must match. */
function parseKeyFile(
  text: string,
  path: string,
  type: string,
  fromSecret: (secret: Uint8Array) => KeyPair,
): KeyPair {
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
  if (fields.type !== type) throw keyError('KEY_FILE_INVALID', `${path}: type must be "${type}"`);
  const publicKey = base64Field(fields, 'public_key', PUBLIC_KEY_BYTES, path);
  const pair = fromSecret(base64Field(fields, 'secret_key', SECRET_KEY_BYTES, path));
  if (!equalBytes(pair.publicKey, publicKey))
    throw keyError('KEY_FILE_INVALID', `${path}: public_key does not belong to secret_key`);
  return sealed(pair);
}

/** Parses a key file's text; `path` only names the file in errors. Throws KEY_FILE_INVALID. */
export function decodeKeyFile(text: string, path = 'key file'): KeyPair {
  return parseKeyFile(text, path, KEY_FILE_TYPE, keyPairFromSeed);
}

/** A key file's text, after the checks that keep a secret safe. */
function readKeyFileText(path: string): string {
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
  return readFileSync(path, 'utf8');
}

/** Reads a key file. Throws KEY_FILE_NOT_FOUND, KEY_FILE_INSECURE or KEY_FILE_INVALID. */
export function loadKeyFile(path: string): KeyPair {
  return decodeKeyFile(readKeyFileText(path), path);
}

export interface SaveKeyOptions {
  /** Replace an existing file; without it an existing file is an error (KEY_FILE_EXISTS). */
  readonly overwrite?: boolean;
}

/** Writes a key file's text to `path` (mode 0600, atomically). Throws KEY_FILE_EXISTS or KEY_FILE_WRITE. */
function writeKeyFileText(path: string, text: string, options: SaveKeyOptions): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o600);
  } catch (err) {
    throw keyError('KEY_FILE_WRITE', `cannot write in ${dirname(path)}: ${(err as Error).message}`);
  }
  try {
    try {
      writeSync(fd, text);
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

/** Writes `pair` to `path` (mode 0600, atomically). Throws KEY_FILE_EXISTS or KEY_FILE_WRITE. */
export function saveKeyFile(path: string, pair: KeyPair, options: SaveKeyOptions = {}): void {
  writeKeyFileText(path, encodeKeyFile(pair), options);
}

// --- record-encryption keys (X25519) ---

/** The record key pair whose X25519 secret key is `secretKey` (32 bytes). */
export function recordKeyPairFromSecret(secretKey: Uint8Array): KeyPair {
  if (secretKey.length !== RECORD_KEY_BYTES)
    throw keyError('KEY_FILE_INVALID', `an X25519 secret key is ${RECORD_KEY_BYTES} bytes`);
  // Any 32 bytes are a secret key (RFC 7748 clamps them); the public key is never of small order.
  return { publicKey: x25519.getPublicKey(secretKey), secretKey: new Uint8Array(secretKey) };
}

/** A fresh record-encryption key pair from the system's secure random source. */
export function generateRecordKey(): KeyPair {
  return sealed(recordKeyPairFromSecret(new Uint8Array(randomBytes(RECORD_KEY_BYTES))));
}

export function encodeRecordKeyFile(pair: KeyPair): string {
  return keyFileText(RECORD_KEY_FILE_TYPE, pair);
}

/** Parses a record key file's text. Throws KEY_FILE_INVALID. */
export function decodeRecordKeyFile(text: string, path = 'record key file'): KeyPair {
  return parseKeyFile(text, path, RECORD_KEY_FILE_TYPE, recordKeyPairFromSecret);
}

/** Reads a record key file. Throws KEY_FILE_NOT_FOUND, KEY_FILE_INSECURE or KEY_FILE_INVALID. */
export function loadRecordKeyFile(path: string): KeyPair {
  return decodeRecordKeyFile(readKeyFileText(path), path);
}

/** Writes a record key pair to `path` (mode 0600, atomically). Throws KEY_FILE_EXISTS or KEY_FILE_WRITE. */
export function saveRecordKeyFile(path: string, pair: KeyPair, options: SaveKeyOptions = {}): void {
  writeKeyFileText(path, encodeRecordKeyFile(pair), options);
}

/**
 * Where the record key file of the member key file `memberKeyPath` lies: beside it, `X_key.json`
 * → `X_record_key.json` (so a home's `config/member_key.json` has `config/member_record_key.json`),
 * any other `NAME.json` or `NAME` → `NAME.record_key.json`.
 */
export function recordKeyPathFor(memberKeyPath: string): string {
  const name = basename(memberKeyPath);
  const record = name.endsWith('_key.json')
    ? `${name.slice(0, -'_key.json'.length)}_record_key.json`
    : `${name.replace(/\.json$/, '')}.record_key.json`;
  return join(dirname(memberKeyPath), record);
}
