/**
 * The record vault of a node: ciphertexts (a BlobStore) and their data keys wrapped under the
 * node's vault key (KeyStore), with the lifecycle upload → confirm (anchored) → read … → erase,
 * and a sweep of uploads never anchored. Layout under the home folder (README.md has the whole
 * argument):
 *
 *   config/vault_key          the vault key (vault-key.ts)
 *   vault/blobs/ab/<hex>      ciphertexts (file-blob-store.ts)
 *   vault/keys/<hex>          wrapped key material (key-store.ts)
 *   vault/pending/<hex>       uploads not yet anchored, with their time (markers.ts)
 *   vault/erased/<hex>        records erased here (markers.ts)
 *   vault/synced_height       the last committed height whose anchors and erasures the vault
 *                             has applied (decimal); the records service replays from it at start
 *   vault/tmp/                temp files; emptied at open
 *
 * Invariants, which open() restores after a crash:
 *   I1  a blob is visible only if its key file exists (upload writes pending, key, then commits
 *       the blob; erase and sweep destroy the key before the blob);
 *   I2  a key file whose blob is missing is an upload cut short iff its pending marker exists
 *       (then it is rolled back); a confirmed record's key is never removed by recovery;
 *   I3  an erased marker is written before anything is destroyed, so an erase cut short is
 *       finished at open; an erased hash is refused by upload, confirm and read (VAULT_ERASED).
 *
 * Decision: an erased hash is refused on re-upload. The chain marks the record erased and the
 * same ciphertext hash names the same record id; storing it again would bring back, on this
 * node, a record its custodian declared destroyed. A swept upload, never anchored, is not erased:
 * it may be uploaded again.
 *
 * One Vault per home folder per process (the node owns it); operations on one hash are serialised.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { checkKeyMaterial, type KeyMaterial } from '../../packages/records/key-material.ts';
import type { BlobStore } from './blob-store.ts';
import { ensureDir, listDir, removeDurably, shredFile, writeFileDurably } from './durable.ts';
import { VaultErrorCode, vaultError } from './errors.ts';
import { FileBlobStore } from './file-blob-store.ts';
import { hashHex } from './hash.ts';
import { KEY_TEMP_PREFIX, KeyStore } from './key-store.ts';
import { KeyedLock } from './keyed-lock.ts';
import { MarkerDir } from './markers.ts';
import { loadOrCreateVaultKey, vaultKeyPath } from './vault-key.ts';

export interface VaultOptions {
  /** The largest ciphertext accepted, in bytes; an upload is stopped as soon as it passes it. */
  readonly maxRecordBytes: number;
  /** How long an upload may stay unanchored before sweep removes it, in ms. */
  readonly pendingTtlMs: number;
  /** The clock stamped on uploads (ms since the epoch). */
  readonly now: () => number;
}

export const defaultVaultOptions: VaultOptions = {
  maxRecordBytes: 64 * 1024 * 1024,
  pendingTtlMs: 10 * 60 * 1000,
  now: () => Date.now(),
};

export interface VaultPaths {
  readonly root: string;
  readonly blobs: string;
  readonly keys: string;
  readonly pending: string;
  readonly erased: string;
  readonly tmp: string;
  readonly syncedHeight: string;
  readonly vaultKey: string;
}

export function vaultPaths(home: string): VaultPaths {
  const root = join(home, 'vault');
  return {
    root,
    blobs: join(root, 'blobs'),
    keys: join(root, 'keys'),
    pending: join(root, 'pending'),
    erased: join(root, 'erased'),
    tmp: join(root, 'tmp'),
    syncedHeight: join(root, 'synced_height'),
    vaultKey: vaultKeyPath(home),
  };
}

export type RecordStatus = 'pending' | 'anchored' | 'erased' | 'unknown';

export interface UploadResult {
  readonly sha256: Uint8Array;
  readonly size: number;
  /** True if these bytes were already stored with the same key and salt (nothing changed). */
  readonly alreadyStored: boolean;
}

export interface VaultRecord extends KeyMaterial {
  readonly size: number;
  /** The ciphertext; the caller must consume or destroy it (it holds a file descriptor). */
  readonly stream: Readable;
  /** False while the upload is not yet confirmed as anchored. */
  readonly anchored: boolean;
}

/** What open() found and repaired. */
export interface RecoveryReport {
  readonly tempFilesRemoved: number;
  /** Uploads cut short by a crash, rolled back (key shredded, blob and marker removed). */
  readonly uploadsRolledBack: number;
  /** Erasures cut short by a crash, finished. */
  readonly erasuresFinished: number;
  /** Blobs without a key file (undecryptable), removed. */
  readonly orphanBlobsRemoved: number;
  /** Confirmed records whose blob is missing (removed outside the vault); their keys are kept. */
  readonly blobsMissing: readonly Uint8Array[];
}

export class Vault {
  readonly options: VaultOptions;
  readonly recovery: RecoveryReport;
  readonly #blobs: BlobStore;
  readonly #keys: KeyStore;
  readonly #pending: MarkerDir;
  readonly #erased: MarkerDir;
  readonly #lock = new KeyedLock();
  readonly #paths: VaultPaths;
  /** Ciphertext bytes held (blobs visible under their hash); summed at open, kept up to date. */
  #storedBytes: number;

  private constructor(
    paths: VaultPaths,
    options: VaultOptions,
    blobs: BlobStore,
    keys: KeyStore,
    pending: MarkerDir,
    erased: MarkerDir,
    recovery: RecoveryReport,
    storedBytes: number,
  ) {
    this.#storedBytes = storedBytes;
    this.#paths = paths;
    this.options = options;
    this.#blobs = blobs;
    this.#keys = keys;
    this.#pending = pending;
    this.#erased = erased;
    this.recovery = recovery;
  }

  /**
   * Opens (creating if needed) the vault of the home folder `home` and repairs what a crash
   * left (see the invariants above). `blobs` replaces the embedded file store (e.g. S3).
   */
  static async open(home: string, options: Partial<VaultOptions> = {}, blobs?: BlobStore): Promise<Vault> {
    const opts: VaultOptions = { ...defaultVaultOptions, ...options };
    if (!Number.isSafeInteger(opts.maxRecordBytes) || opts.maxRecordBytes <= 0)
      throw vaultError(VaultErrorCode.inputInvalid, 'maxRecordBytes is a positive integer');
    if (!Number.isSafeInteger(opts.pendingTtlMs) || opts.pendingTtlMs <= 0)
      throw vaultError(VaultErrorCode.inputInvalid, 'pendingTtlMs is a positive integer');
    const paths = vaultPaths(home);
    await ensureDir(paths.root);
    for (const dir of [paths.blobs, paths.keys, paths.pending, paths.erased, paths.tmp]) await ensureDir(dir);
    const vaultKey = await loadOrCreateVaultKey(paths.vaultKey);
    const tempFilesRemoved = await clearTemps(paths.tmp);
    const store = blobs ?? new FileBlobStore(paths.blobs, paths.tmp);
    const keys = new KeyStore(paths.keys, paths.tmp, vaultKey);
    const pending = new MarkerDir(paths.pending, paths.tmp);
    const erased = new MarkerDir(paths.erased, paths.tmp);
    const repaired = await recover(store, keys, pending, erased);
    let storedBytes = 0;
    for await (const sha256 of store.list()) storedBytes += (await blobSize(store, sha256)) ?? 0;
    return new Vault(
      paths,
      opts,
      store,
      keys,
      pending,
      erased,
      { tempFilesRemoved, ...repaired },
      storedBytes,
    );
  }

  /**
   * Stores a record's ciphertext, streamed from `source`, with its data key and salt; it stays
   * pending until `confirm`. Refused: VAULT_TOO_LARGE (mid-stream), VAULT_ERASED, VAULT_DUPLICATE
   * (same bytes already stored with another key or salt), RECORD_INPUT_INVALID (bad key or salt).
   */
  async upload(source: AsyncIterable<Uint8Array>, material: KeyMaterial): Promise<UploadResult> {
    checkKeyMaterial(material);
    const staged = await this.#blobs.stage(source, this.options.maxRecordBytes);
    const { sha256, size } = staged;
    try {
      return await this.#lock.run(hashHex(sha256), async () => {
        if (await this.#erased.has(sha256))
          throw vaultError(VaultErrorCode.erased, 'this record was erased here; it is not stored again');
        const stored = await this.#keys.get(sha256);
        if (stored !== undefined) {
          if (!sameMaterial(stored, material))
            throw vaultError(VaultErrorCode.duplicate, 'these bytes are already stored with another key');
          await staged.discard();
          return { sha256, size, alreadyStored: true };
        }
        // I1: pending marker, then key, then the blob becomes visible.
        await this.#pending.put(sha256, String(this.options.now()));
        await this.#keys.put(sha256, material);
        await staged.commit();
        this.#storedBytes += size;
        return { sha256, size, alreadyStored: false };
      });
    } finally {
      await staged.discard(); // a no-op once committed or discarded
    }
  }

  /** Marks the upload anchored (never swept); idempotent. VAULT_BLOB_UNKNOWN, VAULT_ERASED. */
  async confirm(sha256: Uint8Array): Promise<void> {
    await this.#lock.run(hashHex(sha256), async () => {
      await this.#refuseErased(sha256);
      if (!(await this.#keys.has(sha256)))
        throw vaultError(VaultErrorCode.blobUnknown, 'no record with this ciphertext hash is stored');
      await this.#pending.remove(sha256);
    });
  }

  /** The record's ciphertext stream, data key and salt. VAULT_BLOB_UNKNOWN, VAULT_ERASED. */
  async read(sha256: Uint8Array): Promise<VaultRecord> {
    return this.#lock.run(hashHex(sha256), async () => {
      await this.#refuseErased(sha256);
      const material = await this.#keys.get(sha256);
      if (material === undefined)
        throw vaultError(VaultErrorCode.blobUnknown, 'no record with this ciphertext hash is stored');
      const { size, stream } = await this.#blobs.get(sha256);
      return { ...material, size, stream, anchored: !(await this.#pending.has(sha256)) };
    });
  }

  /**
   * Crypto-shreds the record: marks it erased, overwrites and removes its key file, removes its
   * blob. Idempotent; a hash never stored here is still marked (so it is refused later).
   * Returns whether a key was destroyed.
   */
  async erase(sha256: Uint8Array): Promise<{ readonly keyDestroyed: boolean }> {
    return this.#lock.run(hashHex(sha256), async () => {
      await this.#erased.put(sha256); // I3: first
      const size = await blobSize(this.#blobs, sha256);
      const keyDestroyed = await destroy(sha256, this.#keys, this.#blobs, this.#pending);
      this.#storedBytes -= size ?? 0;
      return { keyDestroyed };
    });
  }

  /**
   * Removes every upload still pending after `pendingTtlMs` (key shredded, blob removed, not
   * marked erased). Returns the hashes removed.
   */
  async sweep(now: number = this.options.now()): Promise<Uint8Array[]> {
    const swept: Uint8Array[] = [];
    for (const sha256 of await this.#pending.list()) {
      const removed = await this.#lock.run(hashHex(sha256), async () => {
        const stamp = await this.#pending.get(sha256);
        if (stamp === undefined) return false; // confirmed meanwhile
        const at = Number(stamp);
        // An unreadable stamp counts as old: the upload never completed its bookkeeping.
        if (Number.isSafeInteger(at) && now - at <= this.options.pendingTtlMs) return false;
        const size = await blobSize(this.#blobs, sha256);
        await destroy(sha256, this.#keys, this.#blobs, this.#pending);
        this.#storedBytes -= size ?? 0;
        return true;
      });
      if (removed) swept.push(sha256);
    }
    return swept;
  }

  async status(sha256: Uint8Array): Promise<RecordStatus> {
    if (await this.#erased.has(sha256)) return 'erased';
    if (!(await this.#keys.has(sha256))) return 'unknown';
    return (await this.#pending.has(sha256)) ? 'pending' : 'anchored';
  }

  /** Ciphertext bytes the vault holds (pending and anchored records). */
  get storedBytes(): number {
    return this.#storedBytes;
  }

  /** True if any record (pending or anchored) is stored. */
  async hasEntries(): Promise<boolean> {
    for await (const _ of this.#keys.list()) return true;
    return (await this.#pending.list()).length > 0;
  }

  /**
   * The last committed height whose anchors and erasures were applied to this vault, or null if
   * none was recorded (a vault older than the cursor, or a new one).
   */
  async syncedHeight(): Promise<bigint | null> {
    let text: string;
    try {
      text = await readFile(this.#paths.syncedHeight, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    // Written whole or not at all (writeFileDurably); anything else means start over.
    return /^[0-9]{1,20}$/.test(text) ? BigInt(text) : null;
  }

  /** Records that every committed block up to `height` has been applied (durably). */
  async setSyncedHeight(height: bigint): Promise<void> {
    if (typeof height !== 'bigint' || height < 0n)
      throw vaultError(VaultErrorCode.inputInvalid, 'a synced height is a non-negative bigint');
    await writeFileDurably(
      this.#paths.tmp,
      'synced',
      this.#paths.syncedHeight,
      new TextEncoder().encode(height.toString()),
    );
  }

  async #refuseErased(sha256: Uint8Array): Promise<void> {
    if (await this.#erased.has(sha256))
      throw vaultError(VaultErrorCode.erased, 'this record was erased (crypto-shredded)');
  }
}

/** The size of a stored blob, or null if there is none. */
async function blobSize(blobs: BlobStore, sha256: Uint8Array): Promise<number | null> {
  if (!(await blobs.has(sha256))) return null;
  const { size, stream } = await blobs.get(sha256);
  stream.destroy();
  return size;
}

/** Key first (shredded), then the blob, then the pending marker: I1 holds at every step. */
async function destroy(sha256: Uint8Array, keys: KeyStore, blobs: BlobStore, pending: MarkerDir) {
  const keyDestroyed = await keys.shred(sha256);
  await blobs.delete(sha256);
  await pending.remove(sha256);
  return keyDestroyed;
}

function sameMaterial(a: KeyMaterial, b: KeyMaterial): boolean {
  return Buffer.from(a.dataKey).equals(b.dataKey) && Buffer.from(a.salt).equals(b.salt);
}

/** Empties the temp folder: key temp files are shredded (they hold wrapped keys), others unlinked. */
async function clearTemps(tmp: string): Promise<number> {
  const names = await listDir(tmp);
  for (const name of names) {
    const path = join(tmp, name);
    if (name.startsWith(`${KEY_TEMP_PREFIX}-`)) await shredFile(path);
    else await removeDurably(path);
  }
  return names.length;
}

/** Restores invariants I1–I3 after a crash; run before any other operation. */
async function recover(blobs: BlobStore, keys: KeyStore, pending: MarkerDir, erased: MarkerDir) {
  let erasuresFinished = 0;
  for (const sha256 of await erased.list()) {
    const leftover = (await keys.has(sha256)) || (await blobs.has(sha256)) || (await pending.has(sha256));
    if (leftover) {
      await destroy(sha256, keys, blobs, pending);
      erasuresFinished++;
    }
  }
  let uploadsRolledBack = 0;
  for (const sha256 of await pending.list()) {
    if ((await keys.has(sha256)) && (await blobs.has(sha256))) continue; // complete, awaiting anchor
    await destroy(sha256, keys, blobs, pending);
    uploadsRolledBack++;
  }
  const blobsMissing: Uint8Array[] = [];
  for await (const sha256 of keys.list()) if (!(await blobs.has(sha256))) blobsMissing.push(sha256); // I2: confirmed; keep the key
  let orphanBlobsRemoved = 0;
  for await (const sha256 of blobs.list()) {
    if (await keys.has(sha256)) continue;
    await blobs.delete(sha256);
    orphanBlobsRemoved++;
  }
  return { uploadsRolledBack, erasuresFinished, orphanBlobsRemoved, blobsMissing };
}
