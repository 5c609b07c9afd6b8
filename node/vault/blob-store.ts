/**
 * Where a vault keeps ciphertexts: content-addressed by the sha256 of their bytes. The embedded
 * default is FileBlobStore (plain files in the home folder); an S3-compatible backend implements
 * the same interface (README.md says how). A blob store holds only ciphertext: it never sees a
 * data key, and it does not check hashes on read (the requester verifies them against the chain).
 */
import type { Readable } from 'node:stream';

/** A stored ciphertext's identity. */
export interface BlobInfo {
  /** sha256 of the bytes: the anchor's ciphertext hash. */
  readonly sha256: Uint8Array;
  readonly size: number;
}

/**
 * An upload streamed in full but not yet visible under its hash. Exactly one of `commit` and
 * `discard` must be called. The vault commits only after the record's key is stored, so a blob
 * never exists under its hash without its key except while being erased (see vault.ts).
 */
export interface StagedBlob extends BlobInfo {
  /** Makes the blob readable under its hash, atomically. Committing bytes already stored is a no-op. */
  commit(): Promise<void>;
  /** Drops the staged bytes. */
  discard(): Promise<void>;
}

export interface BlobStore {
  /**
   * Streams `source` into the store, hashing as it goes; refuses with VAULT_TOO_LARGE as soon as
   * more than `maxBytes` arrive (nothing is kept). The bytes are held one chunk at a time.
   */
  stage(source: AsyncIterable<Uint8Array>, maxBytes: number): Promise<StagedBlob>;
  /** The blob's bytes as a stream, and its size; VAULT_BLOB_UNKNOWN if there is none. */
  get(sha256: Uint8Array): Promise<{ readonly size: number; readonly stream: Readable }>;
  has(sha256: Uint8Array): Promise<boolean>;
  /** Removes the blob durably; false if there was none. */
  delete(sha256: Uint8Array): Promise<boolean>;
  /** Every stored blob's hash (not staged ones). */
  list(): AsyncIterable<Uint8Array>;
}
