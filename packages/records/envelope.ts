/**
 * The record envelope: a record's bytes encrypted under its own data key with AES-256-GCM
 * (node:crypto). One format, used whole or streamed, the two interchangeable:
 *
 *   'C' 'L' 'R' (3 bytes) ‖ version 0x01 ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)
 *
 * The additional data is `domain ‖ 0x00 ‖ the 16-byte header ‖ context`, so the version and
 * nonce are authenticated, and a sealed box made for one purpose (a record, a vault key file)
 * cannot be opened as another. Records use RECORD_DOMAIN and no context; the sha256 of the whole
 * envelope is the record's anchor hash. One key encrypts one record, so the random 96-bit nonce
 * never repeats under a key; GCM's limit of about 64 GiB per message is far above any vault bound.
 *
 * Why the stream API takes a sink instead of returning a stream: GCM authenticates only at the
 * end, so every plaintext byte seen before the tag check is unauthenticated. A decrypting
 * Transform would hand such bytes to whoever reads it. Here the plaintext goes to a
 * `PlaintextSink` that must keep it private until `commit()`, which is called only after the tag
 * has verified; on any failure `abort()` is called instead (file-sink.ts: a temp file renamed
 * only on commit). No node:fs here: this module is shared by clients and nodes.
 */
import { createCipheriv, createDecipheriv, type DecipherGCM, randomBytes } from 'node:crypto';
import { RecordErrorCode, recordError } from './errors.ts';
import { checkDataKey } from './key-material.ts';

export const ENVELOPE_VERSION = 0x01;
const MAGIC = [0x43, 0x4c, 0x52] as const; // 'CLR'
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const HEADER_BYTES = MAGIC.length + 1 + NONCE_BYTES;
/** Bytes an envelope adds to its plaintext. */
export const ENVELOPE_OVERHEAD = HEADER_BYTES + TAG_BYTES;
/** The AAD domain of a record's envelope. */
export const RECORD_DOMAIN = 'careledger/record/envelope/v1';

const utf8 = new TextEncoder();

function newHeader(): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  header.set(MAGIC, 0);
  header[MAGIC.length] = ENVELOPE_VERSION;
  header.set(randomBytes(NONCE_BYTES), MAGIC.length + 1);
  return header;
}

function checkHeader(header: Uint8Array): void {
  if (
    header.length < HEADER_BYTES ||
    header[0] !== MAGIC[0] ||
    header[1] !== MAGIC[1] ||
    header[2] !== MAGIC[2] ||
    header[3] !== ENVELOPE_VERSION
  )
    throw recordError(RecordErrorCode.formatInvalid, 'not a CareLedger envelope of a known version');
}

function aadOf(domain: string, header: Uint8Array, context: Uint8Array): Uint8Array {
  const d = utf8.encode(domain);
  const aad = new Uint8Array(d.length + 1 + HEADER_BYTES + context.length);
  aad.set(d, 0);
  aad.set(header.subarray(0, HEADER_BYTES), d.length + 1);
  aad.set(context, d.length + 1 + HEADER_BYTES);
  return aad;
}

function cipherFor(key: Uint8Array, header: Uint8Array, domain: string, context: Uint8Array) {
  checkDataKey(key);
  const cipher = createCipheriv('aes-256-gcm', key, header.subarray(MAGIC.length + 1, HEADER_BYTES), {
    authTagLength: TAG_BYTES,
  });
  cipher.setAAD(aadOf(domain, header, context));
  return cipher;
}

function decipherFor(key: Uint8Array, header: Uint8Array, domain: string, context: Uint8Array) {
  checkDataKey(key);
  checkHeader(header);
  const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(MAGIC.length + 1, HEADER_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aadOf(domain, header, context));
  return decipher;
}

const NO_CONTEXT = new Uint8Array(0);

/** Encrypts `plaintext` whole under a 32-byte `key` in a fresh random nonce. */
export function sealBytes(
  key: Uint8Array,
  plaintext: Uint8Array,
  domain: string,
  context: Uint8Array = NO_CONTEXT,
): Uint8Array {
  const header = newHeader();
  const cipher = cipherFor(key, header, domain, context);
  const body = cipher.update(plaintext);
  const last = cipher.final();
  const out = new Uint8Array(HEADER_BYTES + body.length + last.length + TAG_BYTES);
  out.set(header, 0);
  out.set(body, HEADER_BYTES);
  out.set(last, HEADER_BYTES + body.length);
  out.set(cipher.getAuthTag(), out.length - TAG_BYTES);
  return out;
}

/** Opens what sealBytes made with the same key, domain and context; RECORD_DECRYPT_FAILED if not. */
export function openBytes(
  key: Uint8Array,
  sealed: Uint8Array,
  domain: string,
  context: Uint8Array = NO_CONTEXT,
): Uint8Array {
  if (sealed.length < ENVELOPE_OVERHEAD)
    throw recordError(RecordErrorCode.formatInvalid, 'the envelope is shorter than its header and tag');
  const decipher = decipherFor(key, sealed, domain, context);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const body = decipher.update(sealed.subarray(HEADER_BYTES, sealed.length - TAG_BYTES));
  try {
    const last = decipher.final();
    const out = new Uint8Array(body.length + last.length);
    out.set(body, 0);
    out.set(last, body.length);
    return out;
  } catch {
    body.fill(0);
    throw recordError(RecordErrorCode.decryptFailed, 'the record does not decrypt under this key');
  }
}

/** A record's envelope, whole. */
export function encryptRecord(plaintext: Uint8Array, dataKey: Uint8Array): Uint8Array {
  return sealBytes(dataKey, plaintext, RECORD_DOMAIN);
}

/** A record's plaintext from its whole envelope; throws RECORD_DECRYPT_FAILED on any tampering. */
export function decryptRecord(envelope: Uint8Array, dataKey: Uint8Array): Uint8Array {
  return openBytes(dataKey, envelope, RECORD_DOMAIN);
}

/**
 * A record's envelope, streamed: yields the header, then ciphertext as `source` yields
 * plaintext, then the tag. Holds one chunk at a time (wrap in `Readable.from` for a node stream).
 */
export async function* encryptRecordStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  dataKey: Uint8Array,
): AsyncGenerator<Uint8Array> {
  const header = newHeader();
  const cipher = cipherFor(dataKey, header, RECORD_DOMAIN, NO_CONTEXT);
  yield header;
  for await (const chunk of source) {
    const out = cipher.update(chunk);
    if (out.length > 0) yield out;
  }
  const last = cipher.final();
  if (last.length > 0) yield last;
  yield cipher.getAuthTag();
}

/**
 * Where streamed plaintext goes. It receives bytes not yet authenticated and must not release
 * them (to a reader, a final file name, the network) before `commit()`. Exactly one of `commit`
 * and `abort` is called, once; `abort` must discard everything written.
 */
export interface PlaintextSink<R> {
  write(chunk: Uint8Array): Promise<void> | void;
  /** Called only after the tag has verified: the plaintext is authentic; release it. */
  commit(): Promise<R>;
  /** Called on any failure (format, tag, source or sink error): discard what was written. */
  abort(): Promise<void>;
}

/**
 * Decrypts an envelope streamed from `source` into `sink` and returns `sink.commit()`'s result.
 * The last 16 bytes seen are held back as the candidate tag; on a bad tag, a truncated or
 * malformed envelope, or any error of the source or the sink, the sink is aborted and the error
 * is thrown (RECORD_DECRYPT_FAILED / RECORD_FORMAT_INVALID, or the source's own).
 */
export async function decryptRecordStream<R>(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  dataKey: Uint8Array,
  sink: PlaintextSink<R>,
): Promise<R> {
  try {
    checkDataKey(dataKey);
    let head: Uint8Array = new Uint8Array(0);
    let decipher: DecipherGCM | undefined;
    let tail: Uint8Array = new Uint8Array(0); // the last bytes seen, up to TAG_BYTES: the tag if the stream ends
    for await (const raw of source) {
      let chunk = raw;
      if (decipher === undefined) {
        head = copyOf(concat(head, chunk));
        if (head.length < HEADER_BYTES) continue;
        decipher = decipherFor(dataKey, head, RECORD_DOMAIN, NO_CONTEXT);
        chunk = head.subarray(HEADER_BYTES);
      }
      // Everything but the last TAG_BYTES of (tail ‖ chunk) is ciphertext.
      if (chunk.length >= TAG_BYTES) {
        if (tail.length > 0) await writeSome(sink, decipher.update(tail));
        await writeSome(sink, decipher.update(chunk.subarray(0, chunk.length - TAG_BYTES)));
        tail = copyOf(chunk.subarray(chunk.length - TAG_BYTES));
      } else {
        const joined = concat(tail, chunk);
        const cut = Math.max(0, joined.length - TAG_BYTES);
        if (cut > 0) await writeSome(sink, decipher.update(joined.subarray(0, cut)));
        tail = copyOf(joined.subarray(cut));
      }
    }
    if (decipher === undefined || tail.length < TAG_BYTES)
      throw recordError(RecordErrorCode.formatInvalid, 'the envelope ends before its header and tag');
    decipher.setAuthTag(tail);
    try {
      await writeSome(sink, decipher.final());
    } catch {
      throw recordError(RecordErrorCode.decryptFailed, 'the record does not decrypt under this key');
    }
  } catch (err) {
    await sink.abort();
    throw err;
  }
  return sink.commit();
}

async function writeSome<R>(sink: PlaintextSink<R>, bytes: Uint8Array): Promise<void> {
  if (bytes.length > 0) await sink.write(bytes);
}

/** A copy (a source may reuse its buffers, and Buffer#slice would share memory). */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
