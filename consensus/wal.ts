/**
 * Storage for the consensus write-ahead log: framing and durability only; the driver decides
 * what the opaque records mean.
 *
 * Why: after a crash the node must replay what it did in the current height, above all the
 * messages it signed, or it may sign something conflicting when it comes back. So, like CometBFT,
 * the driver appends its own signed messages with sync=true, which fsyncs them, before it sends
 * them. That is also why this file uses synchronous fs: the write must be complete before the
 * caller goes on.
 *
 * Frame: 4-byte big-endian payload length, 4-byte big-endian CRC32 of the payload, payload.
 * A crash can leave a torn last frame; reading stops at the first frame that does not check out
 * and truncates the file there, so later appends follow the last good record. Damage in the
 * middle (a bad disk, a stray write) loses every record behind it too: the repair is reported
 * (`WalRepair`, with the intact records found in the dropped bytes) so the node can say so.
 */
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { CareLedgerError } from '../packages/core/errors.ts';

export interface WalStorage {
  /** Appends one record. With sync=true it is durable (fsync) before this returns. */
  append(record: Uint8Array, sync: boolean): void;
  /** All intact records in order. A torn or corrupt tail (bad length, bad checksum, short read) is dropped and the file truncated to the last good record; `droppedBytes` says how much. */
  readAll(): { records: Uint8Array[]; droppedBytes: number };
  /** Atomically replaces the whole log with `records` (used after a height commits so the WAL stays small): write temp file, fsync, rename, fsync dir. */
  reset(records: readonly Uint8Array[]): void;
  close(): void;
}

/** What a repair dropped: the bytes, and how many intact records were found in them and lost. */
export interface WalRepair {
  readonly droppedBytes: number;
  readonly droppedRecords: number;
  readonly keptRecords: number;
}

export interface WalOptions {
  readonly maxRecordBytes: number;
}

export const defaultWalOptions: WalOptions = { maxRecordBytes: 4 * 1024 * 1024 };

const HEADER_BYTES = 8;

function resolveOptions(opts: Partial<WalOptions> | undefined): WalOptions {
  const maxRecordBytes = opts?.maxRecordBytes ?? defaultWalOptions.maxRecordBytes;
  // The length field is a uint32, so larger limits could never be written.
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 1 || maxRecordBytes > 0xffff_ffff) {
    throw new CareLedgerError('WAL_OPTIONS_INVALID', `maxRecordBytes must be an integer in 1..2^32-1`);
  }
  return { maxRecordBytes };
}

/**
 * Empty records are refused because a crash can leave a zero-filled tail, and a zeroed header
 * (length 0, CRC32 of nothing = 0) would otherwise read back as a valid record.
 */
function checkRecord(record: Uint8Array, opts: WalOptions): void {
  if (!(record instanceof Uint8Array))
    throw new CareLedgerError('WAL_RECORD_INVALID', 'WAL record must be bytes');
  if (record.length === 0) throw new CareLedgerError('WAL_RECORD_EMPTY', 'WAL record must not be empty');
  if (record.length > opts.maxRecordBytes) {
    throw new CareLedgerError(
      'WAL_RECORD_TOO_LARGE',
      `WAL record of ${record.length} bytes exceeds the limit of ${opts.maxRecordBytes}`,
    );
  }
}

function frame(record: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + record.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, record.length);
  view.setUint32(4, crc32(record));
  out.set(record, HEADER_BYTES);
  return out;
}

/** writeSync may write less than asked; loop until all of it is at `position`. */
function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function readFully(fd: number, length: number, position: number): Uint8Array | null {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0) return null;
    done += n;
  }
  return out;
}

/** A rename or file creation is only durable once the directory entry itself is fsynced. */
function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class FileWal implements WalStorage {
  private readonly path: string;
  private readonly opts: WalOptions;
  private fd: number | null;
  /** End of the last good frame: where the next append goes. */
  private size: number;
  /** Dropped while repairing on open, reported by the next readAll. */
  private pendingDropped: number;
  /** The repair made when the file was opened, or null if it was intact. */
  repairedOnOpen: WalRepair | null = null;

  private constructor(path: string, opts: WalOptions, fd: number) {
    this.path = path;
    this.opts = opts;
    this.fd = fd;
    this.size = 0;
    this.pendingDropped = 0;
  }

  static open(path: string, opts?: Partial<WalOptions>): FileWal {
    const resolved = resolveOptions(opts);
    const dir = dirname(path);
    mkdirSync(dir, { recursive: true });
    let fd: number;
    let created = false;
    try {
      fd = openSync(path, constants.O_RDWR);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL);
      created = true;
    }
    if (created) fsyncDir(dir);
    const wal = new FileWal(path, resolved, fd);
    try {
      // Repair now, so an append before the first readAll never lands behind a torn frame.
      const { records, droppedBytes, droppedRecords } = wal.scan();
      wal.pendingDropped = droppedBytes;
      if (droppedBytes > 0)
        wal.repairedOnOpen = { droppedBytes, droppedRecords, keptRecords: records.length };
    } catch (err) {
      wal.close();
      throw err;
    }
    return wal;
  }

  append(record: Uint8Array, sync: boolean): void {
    const fd = this.openFd();
    checkRecord(record, this.opts);
    try {
      writeFully(fd, frame(record), this.size);
      if (sync) fsyncSync(fd);
    } catch (err) {
      // Do not leave a partial frame behind for later appends to follow.
      try {
        ftruncateSync(fd, this.size);
      } catch {
        // The next open repairs the tail anyway.
      }
      throw err;
    }
    this.size += HEADER_BYTES + record.length;
  }

  readAll(): { records: Uint8Array[]; droppedBytes: number } {
    const { records, droppedBytes } = this.scan();
    const total = droppedBytes + this.pendingDropped;
    this.pendingDropped = 0;
    return { records, droppedBytes: total };
  }

  reset(records: readonly Uint8Array[]): void {
    const old = this.openFd();
    // Check every record first, so a bad one changes nothing.
    for (const record of records) checkRecord(record, this.opts);
    const tmpPath = `${this.path}.tmp`;
    const tmp = openSync(tmpPath, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC);
    let size = 0;
    try {
      for (const record of records) {
        const bytes = frame(record);
        writeFully(tmp, bytes, size);
        size += bytes.length;
      }
      fsyncSync(tmp);
      renameSync(tmpPath, this.path);
    } catch (err) {
      closeSync(tmp);
      throw err;
    }
    // The temp file's inode is now the log: switch to it before anything else can fail, or later
    // appends would go to the unlinked old file.
    closeSync(old);
    this.fd = tmp;
    this.size = size;
    this.pendingDropped = 0;
    fsyncDir(dirname(this.path));
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }

  private openFd(): number {
    if (this.fd === null) throw new CareLedgerError('WAL_CLOSED', 'the WAL is closed');
    return this.fd;
  }

  /** Reads frames from the start, truncating (durably) at the first one that does not check out. */
  private scan(): { records: Uint8Array[]; droppedBytes: number; droppedRecords: number } {
    const fd = this.openFd();
    const fileSize = fstatSync(fd).size;
    const records: Uint8Array[] = [];
    let offset = 0;
    while (offset < fileSize) {
      const header = readFully(fd, HEADER_BYTES, offset);
      if (header === null) break;
      const view = new DataView(header.buffer);
      const length = view.getUint32(0);
      // Check the length against the limit and the file before allocating anything for it.
      if (length === 0 || length > this.opts.maxRecordBytes || length > fileSize - offset - HEADER_BYTES)
        break;
      const payload = readFully(fd, length, offset + HEADER_BYTES);
      if (payload === null || crc32(payload) !== view.getUint32(4)) break;
      records.push(payload);
      offset += HEADER_BYTES + length;
    }
    const droppedBytes = fileSize - offset;
    let droppedRecords = 0;
    if (droppedBytes > 0) {
      const tail = droppedBytes <= MAX_COUNTED_TAIL_BYTES ? readFully(fd, droppedBytes, offset) : null;
      droppedRecords = tail === null ? 0 : intactFramesIn(tail, this.opts);
      ftruncateSync(fd, offset);
      fsyncSync(fd);
    }
    this.size = offset;
    return { records, droppedBytes, droppedRecords };
  }
}

/** Past this, dropped bytes are not searched for intact records (the count is then 0). */
const MAX_COUNTED_TAIL_BYTES = 64 * 1024 * 1024;

/**
 * Intact frames in bytes that follow a damaged one: the records a repair loses. From the damage
 * on, every offset is tried as a frame start; a frame that checks out is counted and skipped.
 */
function intactFramesIn(bytes: Uint8Array, opts: WalOptions): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let count = 0;
  let at = 1;
  while (at + HEADER_BYTES < bytes.length) {
    const length = view.getUint32(at);
    const end = at + HEADER_BYTES + length;
    if (
      length > 0 &&
      length <= opts.maxRecordBytes &&
      end <= bytes.length &&
      crc32(bytes.subarray(at + HEADER_BYTES, end)) === view.getUint32(at + 4)
    ) {
      count++;
      at = end;
    } else at++;
  }
  return count;
}

/**
 * In-memory WAL for the deterministic simulator. The simulator keeps the object across a
 * simulated restart, so `crash` models exactly what a real crash loses: whatever was not yet
 * fsynced.
 */
export class MemoryWal implements WalStorage {
  private readonly opts: WalOptions;
  private durable: Uint8Array[] = [];
  private unsynced: Uint8Array[] = [];

  constructor(opts?: Partial<WalOptions>) {
    this.opts = resolveOptions(opts);
  }

  append(record: Uint8Array, sync: boolean): void {
    checkRecord(record, this.opts);
    // A copy (not slice: Buffer.slice shares memory), as a file would keep the bytes written.
    this.unsynced.push(new Uint8Array(record));
    if (sync) {
      // An fsync makes everything written before it durable, not just this record.
      this.durable.push(...this.unsynced);
      this.unsynced = [];
    }
  }

  readAll(): { records: Uint8Array[]; droppedBytes: number } {
    return { records: [...this.durable, ...this.unsynced].map((r) => new Uint8Array(r)), droppedBytes: 0 };
  }

  reset(records: readonly Uint8Array[]): void {
    for (const record of records) checkRecord(record, this.opts);
    this.durable = records.map((r) => new Uint8Array(r));
    this.unsynced = [];
  }

  /** Nothing to release: the simulator keeps this object to "reopen" it after a restart. */
  close(): void {}

  /** Simulated crash: loses every record appended since the last sync=true append (or reset). */
  crash(): void {
    this.unsynced = [];
  }
}
