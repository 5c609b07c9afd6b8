/**
 * The vault's key store: for each stored record, its data key and commitment salt, encrypted
 * under the node's vault key, one small file per ciphertext hash:
 *
 *   keys/<sha256 hex>   sealBytes(vault key, key material, 'careledger/vault/key/v1', hash)
 *
 * The hash is in the additional data, so a key file renamed onto another record does not open.
 *
 * Why plain files and not LevelDB: erasure here is crypto-shredding, and it must really destroy
 * the key. A LevelDB delete only writes a tombstone; the old value stays in the .log and .ldb
 * files until a compaction that may never drop it (leveldb #454, #783, #593; open iterators and
 * snapshots keep it alive too), and obsolete files are unlinked, not overwritten. A file of its
 * own can be overwritten with zeros in place, fsynced and unlinked (durable.ts `shredFile`).
 *
 * Only the custodian's own copy is stored. The HPKE-wrapped copies made for requesters
 * (packages/records/key-wrap.ts) are made at release time, in memory, and never persisted, so
 * erasure has nothing else to find.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '../../packages/core/errors.ts';
import { openBytes, sealBytes } from '../../packages/records/envelope.ts';
import {
  decodeKeyMaterial,
  encodeKeyMaterial,
  type KeyMaterial,
} from '../../packages/records/key-material.ts';
import { exists, listDir, shredFile, writeFileDurably } from './durable.ts';
import { VaultErrorCode, vaultError } from './errors.ts';
import { hashHex, hashOfHex, isHashName } from './hash.ts';

const KEY_FILE_DOMAIN = 'careledger/vault/key/v1';
export const KEY_TEMP_PREFIX = 'key';

export class KeyStore {
  readonly #dir: string;
  readonly #tmpDir: string;
  readonly #vaultKey: Uint8Array;

  constructor(dir: string, tmpDir: string, vaultKey: Uint8Array) {
    this.#dir = dir;
    this.#tmpDir = tmpDir;
    this.#vaultKey = vaultKey;
  }

  #pathOf(sha256: Uint8Array): string {
    return join(this.#dir, hashHex(sha256));
  }

  /** Stores the record's key material durably (replacing none: the vault checks first). */
  async put(sha256: Uint8Array, material: KeyMaterial): Promise<void> {
    const plain = encodeKeyMaterial(material);
    try {
      const sealed = sealBytes(this.#vaultKey, plain, KEY_FILE_DOMAIN, sha256);
      await writeFileDurably(this.#tmpDir, KEY_TEMP_PREFIX, this.#pathOf(sha256), sealed);
    } finally {
      plain.fill(0);
    }
  }

  /** The record's key material, or undefined if none is stored; VAULT_KEY_CORRUPT if it does not open. */
  async get(sha256: Uint8Array): Promise<KeyMaterial | undefined> {
    let sealed: Uint8Array;
    try {
      sealed = await readFile(this.#pathOf(sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let plain: Uint8Array;
    try {
      plain = openBytes(this.#vaultKey, sealed, KEY_FILE_DOMAIN, sha256);
    } catch (err) {
      if (hasCode(err, 'RECORD_DECRYPT_FAILED') || hasCode(err, 'RECORD_FORMAT_INVALID'))
        throw vaultError(VaultErrorCode.keyCorrupt, 'a key file does not open under this vault key');
      throw err;
    }
    try {
      return decodeKeyMaterial(plain);
    } finally {
      plain.fill(0);
    }
  }

  async has(sha256: Uint8Array): Promise<boolean> {
    return exists(this.#pathOf(sha256));
  }

  /** Crypto-shreds the record's key file (zeros, fsync, unlink, fsync folder); false if none. */
  async shred(sha256: Uint8Array): Promise<boolean> {
    return shredFile(this.#pathOf(sha256));
  }

  async *list(): AsyncIterable<Uint8Array> {
    for (const name of await listDir(this.#dir)) if (isHashName(name)) yield hashOfHex(name);
  }
}
