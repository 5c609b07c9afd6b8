/** WAL storage: framing round trip, torn-tail repair, limits, atomic reset, simulated crash. */
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileWal, MemoryWal } from '../../../consensus/wal.ts';
import { hasCode } from '../../../packages/core/errors.ts';

let dir = '';
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'careledger-wal-'));
});
test.after.each(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Deterministic bytes, so a failure reproduces. */
function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const hexAll = (rs: readonly Uint8Array[]) => rs.map(hex);
const frameLen = (r: Uint8Array) => 8 + r.length;
const isCode = (code: string) => (err: unknown) => hasCode(err, code);

/** Writes `records` through a fresh FileWal and closes it; returns the file path. */
function writeWal(name: string, records: readonly Uint8Array[]): string {
  const path = join(dir, name);
  const wal = FileWal.open(path);
  records.forEach((r, i) => {
    wal.append(r, i % 3 === 0);
  });
  wal.close();
  return path;
}

function readWal(path: string, opts?: { maxRecordBytes?: number }) {
  const wal = FileWal.open(path, opts);
  try {
    return wal.readAll();
  } finally {
    wal.close();
  }
}

test('round trip of many records of varied sizes, across reopen', () => {
  const records = Array.from({ length: 300 }, (_, i) => bytes(i, 1 + ((i * 37) % 900)));
  const path = writeWal('wal', records);
  const { records: got, droppedBytes } = readWal(path);
  assert.is(droppedBytes, 0);
  assert.equal(hexAll(got), hexAll(records));
  assert.is(
    statSync(path).size,
    records.reduce((n, r) => n + frameLen(r), 0),
  );
});

test('open creates the parent folder', () => {
  const path = join(dir, 'a', 'b', 'wal');
  const wal = FileWal.open(path);
  wal.append(bytes(1, 10), true);
  wal.close();
  assert.equal(hexAll(readWal(path).records), [hex(bytes(1, 10))]);
});

test('tail truncated mid-payload is dropped; earlier records survive; appending afterwards works', () => {
  const records = [1, 2, 3, 4, 5].map((i) => bytes(i, 50));
  const path = writeWal('wal', records);
  const goodSize = 4 * frameLen(records[0]!);
  truncateSync(path, goodSize + 8 + 20);

  const wal = FileWal.open(path);
  const first = wal.readAll();
  assert.is(first.droppedBytes, 28);
  assert.equal(hexAll(first.records), hexAll(records.slice(0, 4)));
  assert.is(statSync(path).size, goodSize, 'file truncated to the last good record');

  const extra = bytes(99, 33);
  wal.append(extra, true);
  wal.close();
  const again = readWal(path);
  assert.is(again.droppedBytes, 0);
  assert.equal(hexAll(again.records), hexAll([...records.slice(0, 4), extra]));
});

test('tail truncated mid-header is dropped', () => {
  const records = [1, 2, 3].map((i) => bytes(i, 40));
  const path = writeWal('wal', records);
  truncateSync(path, 2 * frameLen(records[0]!) + 5);
  const { records: got, droppedBytes } = readWal(path);
  assert.is(droppedBytes, 5);
  assert.equal(hexAll(got), hexAll(records.slice(0, 2)));
});

test('garbage appended after the last record is dropped; appending afterwards works', () => {
  const records = [1, 2, 3].map((i) => bytes(i, 64));
  const path = writeWal('wal', records);
  // A plausible header (length 3) whose checksum is wrong, then its payload.
  appendFileSync(path, Uint8Array.from([0, 0, 0, 3, 1, 2, 3, 4, 9, 9, 9]));

  const wal = FileWal.open(path);
  const first = wal.readAll();
  assert.is(first.droppedBytes, 11);
  assert.equal(hexAll(first.records), hexAll(records));
  const extra = bytes(7, 5);
  wal.append(extra, false);
  assert.equal(hexAll(wal.readAll().records), hexAll([...records, extra]));
  wal.close();
  assert.equal(hexAll(readWal(path).records), hexAll([...records, extra]));
});

test('a flipped payload byte fails the CRC: that record and everything after it is dropped', () => {
  const records = [1, 2, 3, 4].map((i) => bytes(i, 30));
  const path = writeWal('wal', records);
  const file = readFileSync(path);
  const third = 2 * frameLen(records[0]!);
  file[third + 8 + 10]! ^= 0x01;
  writeFileSync(path, file);

  const wal = FileWal.open(path);
  const first = wal.readAll();
  assert.is(first.droppedBytes, 2 * frameLen(records[0]!));
  assert.equal(hexAll(first.records), hexAll(records.slice(0, 2)));
  const extra = bytes(42, 12);
  wal.append(extra, true);
  wal.close();
  assert.equal(hexAll(readWal(path).records), hexAll([...records.slice(0, 2), extra]));
});

test('damage in the middle is reported on open: bytes dropped and the intact records lost behind it', () => {
  const records = [1, 2, 3, 4, 5, 6].map((i) => bytes(i, 40 + i));
  const path = writeWal('wal', records);
  const intact = FileWal.open(path);
  assert.is(intact.repairedOnOpen, null, 'an intact log needs no repair');
  intact.close();
  const file = readFileSync(path);
  // Four 0xff bytes over the length of the third frame (what `printf '\xff\xff\xff\xff' | dd`
  // at its offset does): it and the three intact frames after it are lost.
  const third = frameLen(records[0]!) + frameLen(records[1]!);
  file.fill(0xff, third, third + 4);
  writeFileSync(path, file);
  const wal = FileWal.open(path);
  const lost = records.slice(2).reduce((n, r) => n + frameLen(r), 0);
  assert.equal(wal.repairedOnOpen, { droppedBytes: lost, droppedRecords: 3, keptRecords: 2 });
  assert.is(wal.readAll().droppedBytes, lost);
  wal.close();
  const reopened = FileWal.open(path);
  assert.is(reopened.repairedOnOpen, null, 'the repair is durable: the next open finds it intact');
  reopened.close();
});

test('a huge length header in the tail is dropped, not trusted', () => {
  const records = [1, 2].map((i) => bytes(i, 20));
  const path = writeWal('wal', records);
  const header = new Uint8Array(8);
  new DataView(header.buffer).setUint32(0, 0xffff_fff0);
  appendFileSync(path, Uint8Array.from([...header, 1, 2, 3]));
  const { records: got, droppedBytes } = readWal(path);
  assert.is(droppedBytes, 11);
  assert.equal(hexAll(got), hexAll(records));
});

test('a complete, CRC-valid frame longer than maxRecordBytes is dropped: the limit is checked before reading', () => {
  const ok = bytes(1, 16);
  const tooBig = bytes(2, 17);
  const path = join(dir, 'wal');
  const frameOf = (r: Uint8Array) => {
    const f = new Uint8Array(8 + r.length);
    const view = new DataView(f.buffer);
    view.setUint32(0, r.length);
    view.setUint32(4, crc32(r));
    f.set(r, 8);
    return f;
  };
  writeFileSync(path, Uint8Array.from([...frameOf(ok), ...frameOf(tooBig)]));
  const { records, droppedBytes } = readWal(path, { maxRecordBytes: 16 });
  assert.is(droppedBytes, 8 + 17);
  assert.equal(hexAll(records), [hex(ok)]);
});

test('a zero-filled tail (as a crash can leave) is dropped, not read as empty records', () => {
  const records = [bytes(1, 10)];
  const path = writeWal('wal', records);
  appendFileSync(path, new Uint8Array(64));
  const { records: got, droppedBytes } = readWal(path);
  assert.is(droppedBytes, 64);
  assert.equal(hexAll(got), hexAll(records));
});

test('append refuses a record over maxRecordBytes, and an empty one, changing nothing', () => {
  const path = join(dir, 'wal');
  const wal = FileWal.open(path, { maxRecordBytes: 100 });
  wal.append(bytes(1, 100), true);
  assert.throws(() => wal.append(bytes(2, 101), true), isCode('WAL_RECORD_TOO_LARGE'));
  assert.throws(() => wal.append(new Uint8Array(0), true), isCode('WAL_RECORD_EMPTY'));
  assert.is(statSync(path).size, 108);
  assert.equal(hexAll(wal.readAll().records), [hex(bytes(1, 100))]);
  wal.close();
});

test('reset replaces the contents atomically; appends continue after it', () => {
  const path = writeWal(
    'wal',
    [1, 2, 3].map((i) => bytes(i, 25)),
  );
  const wal = FileWal.open(path);
  const kept = [bytes(10, 5), bytes(11, 6)];
  wal.reset(kept);
  assert.equal(hexAll(wal.readAll().records), hexAll(kept));
  assert.not.ok(existsSync(`${path}.tmp`), 'temp file renamed away');
  const extra = bytes(12, 7);
  wal.append(extra, true);
  wal.close();
  assert.equal(hexAll(readWal(path).records), hexAll([...kept, extra]));

  const wal2 = FileWal.open(path);
  wal2.reset([]);
  wal2.close();
  assert.is(statSync(path).size, 0);
  assert.equal(readWal(path).records, []);
});

test('reset with an oversize record changes nothing', () => {
  const records = [bytes(1, 10)];
  const path = writeWal('wal', records);
  const wal = FileWal.open(path, { maxRecordBytes: 10 });
  assert.throws(() => wal.reset([bytes(2, 5), bytes(3, 11)]), isCode('WAL_RECORD_TOO_LARGE'));
  assert.equal(hexAll(wal.readAll().records), hexAll(records));
  wal.close();
});

test('a closed WAL refuses use', () => {
  const wal = FileWal.open(join(dir, 'wal'));
  wal.close();
  wal.close();
  assert.throws(() => wal.append(bytes(1, 3), true), isCode('WAL_CLOSED'));
  assert.throws(() => wal.readAll(), isCode('WAL_CLOSED'));
});

test('MemoryWal.crash drops only records appended since the last sync or reset', () => {
  const wal = new MemoryWal();
  const [a, b, c, d, e, x, y] = [1, 2, 3, 4, 5, 6, 7].map((i) => bytes(i, 8)) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  wal.append(a, true);
  wal.append(b, false);
  assert.equal(hexAll(wal.readAll().records), hexAll([a, b]), 'unsynced records are readable before a crash');
  wal.crash();
  assert.equal(hexAll(wal.readAll().records), hexAll([a]));

  // A sync makes earlier unsynced appends durable too, as fsync does.
  wal.append(c, false);
  wal.append(d, true);
  wal.append(e, false);
  wal.crash();
  assert.equal(hexAll(wal.readAll().records), hexAll([a, c, d]));

  wal.reset([x]);
  wal.append(y, false);
  wal.crash();
  assert.equal(hexAll(wal.readAll().records), hexAll([x]));
});

test('MemoryWal keeps its own copy and enforces the same limits', () => {
  const wal = new MemoryWal({ maxRecordBytes: 4 });
  const r = Buffer.from([1, 2, 3]);
  wal.append(r, true);
  r[0] = 9;
  assert.equal(hexAll(wal.readAll().records), ['010203']);
  assert.throws(() => wal.append(new Uint8Array(5), true), isCode('WAL_RECORD_TOO_LARGE'));
});

test.run();
