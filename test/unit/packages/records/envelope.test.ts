/**
 * packages/records/envelope.ts and file-sink.ts: the record envelope round-trips whole and
 * streamed (the two forms interoperate), any single bit flip or truncation is refused, the
 * streaming decrypt releases nothing unless the tag verifies, and a failed decrypt to a file
 * leaves no file. Property tests are seeded (fast-check prints the seed of a failure).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hasCode } from '../../../../packages/core/errors.ts';
import {
  decryptRecord,
  decryptRecordStream,
  ENVELOPE_OVERHEAD,
  encryptRecord,
  encryptRecordStream,
  openBytes,
  type PlaintextSink,
  sealBytes,
} from '../../../../packages/records/envelope.ts';
import { decryptRecordToFile } from '../../../../packages/records/file-sink.ts';
import {
  decodeKeyMaterial,
  encodeKeyMaterial,
  generateDataKey,
} from '../../../../packages/records/key-material.ts';

const FC = { seed: 20261207, numRuns: 150 } as const;
const REFUSED = ['RECORD_DECRYPT_FAILED', 'RECORD_FORMAT_INVALID'];

/** A sink that keeps what it is given and records how it ended. */
function memorySink(): PlaintextSink<Uint8Array> & { state: 'open' | 'committed' | 'aborted' } {
  const chunks: Uint8Array[] = [];
  const sink = {
    state: 'open' as 'open' | 'committed' | 'aborted',
    write(chunk: Uint8Array) {
      assert.is(sink.state, 'open');
      chunks.push(Uint8Array.from(chunk));
    },
    async commit() {
      assert.is(sink.state, 'open');
      sink.state = 'committed';
      return new Uint8Array(Buffer.concat(chunks));
    },
    async abort() {
      assert.is(sink.state, 'open');
      sink.state = 'aborted';
      chunks.length = 0;
    },
  };
  return sink;
}

/** `bytes` cut at the given points (sorted, deduplicated), as a stream of chunks. */
function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of source) chunks.push(c);
  return new Uint8Array(Buffer.concat(chunks));
}

function refusedWith(err: unknown, codes: readonly string[]): boolean {
  return codes.some((code) => hasCode(err, code));
}

test('the envelope is CLR, version 1, a 12-byte nonce, the ciphertext and a 16-byte tag', () => {
  const key = generateDataKey();
  const env = encryptRecord(new Uint8Array(100), key);
  assert.is(env.length, 100 + ENVELOPE_OVERHEAD);
  assert.equal([...env.subarray(0, 4)], [0x43, 0x4c, 0x52, 0x01]);
  // A fresh nonce each time: the same plaintext under the same key never gives the same bytes.
  assert.not.equal(encryptRecord(new Uint8Array(100), key), env);
});

test('golden vector: an envelope made by this code decrypts (pins the format and the AAD)', () => {
  const golden = Buffer.from(
    '434c52017a19894202058276f56c7077d5c9f91262c6a1c88a28300e907701c8a411734929aee488ec8660f7e3b5' +
      'd7c740d2b691bd659de4ad7f4ea93bcf',
    'hex',
  );
  const plaintext = decryptRecord(new Uint8Array(golden), new Uint8Array(32).fill(0x42));
  assert.is(new TextDecoder().decode(plaintext), '{"resourceType":"Observation"}');
});

test('whole and streamed forms interoperate, for any plaintext and any chunking', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      async (plaintext, inCuts, outCuts) => {
        const key = generateDataKey();
        const whole = encryptRecord(plaintext, key);
        const streamed = await collect(encryptRecordStream(chunked(plaintext, inCuts), key));
        assert.equal(decryptRecord(streamed, key), plaintext);
        const sink = memorySink();
        assert.equal(await decryptRecordStream(chunked(whole, outCuts), key, sink), plaintext);
        assert.is(sink.state, 'committed');
      },
    ),
    FC,
  );
});

test('any single bit flip is refused, whole and streamed, and the sink is aborted', async () => {
  const key = generateDataKey();
  const env = encryptRecord(
    Uint8Array.from({ length: 300 }, (_, i) => i & 0xff),
    key,
  );
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: env.length * 8 - 1 }),
      fc.array(fc.nat(), { maxLength: 5 }),
      async (bit, cuts) => {
        const bad = Uint8Array.from(env);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.throws(
          () => decryptRecord(bad, key),
          (e: unknown) => refusedWith(e, REFUSED),
        );
        const sink = memorySink();
        const err = await decryptRecordStream(chunked(bad, cuts), key, sink).then(
          () => null,
          (e: unknown) => e,
        );
        assert.ok(refusedWith(err, REFUSED), `bit ${bit}: ${String(err)}`);
        assert.is(sink.state, 'aborted');
      },
    ),
    FC,
  );
});

test('a truncated envelope is refused at every length, and so is an empty one', async () => {
  const key = generateDataKey();
  const env = encryptRecord(new Uint8Array(64).fill(7), key);
  for (let n = 0; n < env.length; n++) {
    assert.throws(
      () => decryptRecord(env.subarray(0, n), key),
      (e: unknown) => refusedWith(e, REFUSED),
    );
    const sink = memorySink();
    const err = await decryptRecordStream([env.subarray(0, n)], key, sink).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(refusedWith(err, REFUSED), `length ${n}`);
    assert.is(sink.state, 'aborted');
  }
});

test('another key, or a box sealed for another domain or context, is refused', () => {
  const key = generateDataKey();
  const env = encryptRecord(new Uint8Array([1, 2, 3]), key);
  assert.throws(
    () => decryptRecord(env, generateDataKey()),
    (e: unknown) => hasCode(e, 'RECORD_DECRYPT_FAILED'),
  );
  const boxed = sealBytes(key, new Uint8Array([1, 2, 3]), 'careledger/other/v1', new Uint8Array([9]));
  assert.equal(openBytes(key, boxed, 'careledger/other/v1', new Uint8Array([9])), new Uint8Array([1, 2, 3]));
  assert.throws(
    () => decryptRecord(boxed, key),
    (e: unknown) => hasCode(e, 'RECORD_DECRYPT_FAILED'),
  );
  assert.throws(
    () => openBytes(key, boxed, 'careledger/other/v1', new Uint8Array([8])),
    (e: unknown) => hasCode(e, 'RECORD_DECRYPT_FAILED'),
  );
});

test('a data key that is not 32 bytes is refused before anything is written', async () => {
  for (const len of [0, 16, 31, 33]) {
    assert.throws(
      () => encryptRecord(new Uint8Array(1), new Uint8Array(len)),
      (e: unknown) => hasCode(e, 'RECORD_INPUT_INVALID'),
    );
    const sink = memorySink();
    const err = await decryptRecordStream([], new Uint8Array(len), sink).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(hasCode(err, 'RECORD_INPUT_INVALID'));
    assert.is(sink.state, 'aborted');
  }
});

test('a source that reuses one Buffer for every chunk still decrypts (nothing kept as a view)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 2000 }),
      fc.integer({ min: 1, max: 40 }),
      async (plaintext, size) => {
        const key = generateDataKey();
        const env = encryptRecord(plaintext, key);
        async function* reusing() {
          const buffer = Buffer.alloc(size);
          for (let i = 0; i < env.length; i += size) {
            const n = Buffer.from(env.subarray(i, i + size)).copy(buffer);
            yield buffer.subarray(0, n);
          }
        }
        assert.equal(await decryptRecordStream(reusing(), key, memorySink()), plaintext);
        const material = { dataKey: key, salt: new Uint8Array(16).fill(3) };
        const asBuffer = Buffer.from(encodeKeyMaterial(material));
        const decoded = decodeKeyMaterial(asBuffer);
        asBuffer.fill(0);
        assert.equal(decoded, material);
      },
    ),
    FC,
  );
});

test('a source that fails midway aborts the sink and its error comes through', async () => {
  const key = generateDataKey();
  const env = encryptRecord(new Uint8Array(1000), key);
  async function* failing() {
    yield env.subarray(0, 500);
    throw new Error('connection reset');
  }
  const sink = memorySink();
  const err = await decryptRecordStream(failing(), key, sink).then(
    () => null,
    (e: unknown) => e,
  );
  assert.is((err as Error).message, 'connection reset');
  assert.is(sink.state, 'aborted');
});

test('decryptRecordToFile: the file appears only when the record authenticates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-envelope-'));
  try {
    const key = generateDataKey();
    const plaintext = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) & 0xff);
    const env = encryptRecord(plaintext, key);
    const out = join(dir, 'record.pdf');
    assert.is(await decryptRecordToFile(chunked(env, [1, 17, 4096, 70_000]), key, out), out);
    assert.equal(new Uint8Array(readFileSync(out)), plaintext);

    // Truncated at any of several points, or one bit flipped: no output file and no temp file.
    const target = join(dir, 'tampered.pdf');
    const flipped = Uint8Array.from(env);
    flipped[50_000]! ^= 0x10;
    for (const bad of [
      env.subarray(0, 10),
      env.subarray(0, 60_000),
      env.subarray(0, env.length - 1),
      flipped,
    ]) {
      const err = await decryptRecordToFile(chunked(bad, [4096, 8192]), key, target).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(refusedWith(err, REFUSED));
      assert.equal(readdirSync(dir).sort(), ['record.pdf']);
    }

    // A failed decrypt onto an existing file leaves that file as it was.
    writeFileSync(target, 'previous');
    await decryptRecordToFile([flipped], key, target).catch(() => {});
    assert.is(readFileSync(target, 'utf8'), 'previous');
    assert.equal(readdirSync(dir).sort(), ['record.pdf', 'tampered.pdf']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
