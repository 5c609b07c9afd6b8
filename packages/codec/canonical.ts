/**
 * The one deterministic encoding of CareLedger: canonical MessagePack via msgpackr.
 *
 * Whatever is hashed or signed is these bytes, so every node must produce exactly the same bytes
 * for the same value. Values are tuples (arrays with a fixed field order), never maps, so there
 * is no key order to disagree on. Allowed leaves: bigint (always int64), small integers
 * (int32/uint32 range), strings, byte arrays, booleans and null. Floats, undefined, maps and
 * extension types are refused. The decoder is strict: a structural pre-scan bounds size, depth and
 * element counts before anything is allocated, then the decoded value must re-encode to the very
 * same bytes, which rejects trailing bytes and every non-minimal form.
 */
import { Packr } from 'msgpackr';
import { CareLedgerError, invalid } from '../core/errors.ts';
import { equalBytes } from '../crypto/hash.ts';

export type Canonical = bigint | number | string | boolean | null | Uint8Array | readonly Canonical[];

export interface DecodeLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly maxItems: number;
}

export const defaultDecodeLimits: DecodeLimits = {
  maxBytes: 4 * 1024 * 1024,
  maxDepth: 16,
  maxItems: 200_000,
};

const packr = new Packr({
  useRecords: false,
  int64AsType: 'bigint',
  mapsAsObjects: false,
  variableMapSize: true,
  bundleStrings: false,
  structuredClone: false,
  moreTypes: false,
});

const INT32_MIN = -(2 ** 31);
const UINT32_MAX = 2 ** 32 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function checkEncodable(value: unknown, depth: number): void {
  if (depth > defaultDecodeLimits.maxDepth)
    throw new CareLedgerError('CODEC_TOO_DEEP', 'value nests too deeply to encode');
  switch (typeof value) {
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX)
        throw new CareLedgerError('CODEC_UNSUPPORTED', 'bigint outside int64 range');
      return;
    case 'number':
      if (!Number.isInteger(value) || value < INT32_MIN || value > UINT32_MAX) {
        throw new CareLedgerError('CODEC_UNSUPPORTED', `number ${value} is not a 32-bit integer: use bigint`);
      }
      return;
    case 'string':
      // A lone surrogate would encode like U+FFFD: two values, one encoding.
      if (!value.isWellFormed())
        throw new CareLedgerError('CODEC_UNSUPPORTED', 'string is not well-formed UTF-16');
      return;
    case 'boolean':
      return;
    case 'object':
      if (value === null || value instanceof Uint8Array) return;
      if (Array.isArray(value)) {
        for (const item of value) checkEncodable(item, depth + 1);
        return;
      }
      break;
  }
  throw new CareLedgerError('CODEC_UNSUPPORTED', `cannot encode a value of type ${typeof value}`);
}

/** Canonical bytes of a value. Throws CODEC_UNSUPPORTED for anything outside the canonical subset. */
export function encode(value: Canonical): Uint8Array {
  checkEncodable(value, 0);
  return packr.pack(value);
}

/**
 * Walks the MessagePack structure without allocating, refusing anything outside the canonical
 * subset and any declared length larger than the bytes that remain (the classic memory bomb).
 */
function prescan(bytes: Uint8Array, limits: DecodeLimits): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let pos = 0;
  let items = 0;
  // Remaining element counts of the open arrays; its length is the current depth.
  const open: number[] = [];
  const need = (n: number): void => {
    if (pos + n > end) throw invalid('CODEC_TRUNCATED', 'encoded value ends early');
  };
  do {
    if (++items > limits.maxItems) throw invalid('CODEC_TOO_LARGE', 'too many elements');
    need(1);
    const b = bytes[pos++]!;
    let arrayLength = -1;
    let skip = 0;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      // positive/negative fixint, nil, false, true
    } else if (b >= 0x90 && b <= 0x9f) arrayLength = b & 0x0f;
    else if (b >= 0xa0 && b <= 0xbf) skip = b & 0x1f;
    else {
      switch (b) {
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xc4:
        case 0xd9:
          need(1);
          skip = bytes[pos++]!;
          break;
        case 0xc5:
        case 0xda:
          need(2);
          skip = view.getUint16(pos);
          pos += 2;
          break;
        case 0xc6:
        case 0xdb:
          need(4);
          skip = view.getUint32(pos);
          pos += 4;
          break;
        case 0xdc:
          need(2);
          arrayLength = view.getUint16(pos);
          pos += 2;
          break;
        case 0xdd:
          need(4);
          arrayLength = view.getUint32(pos);
          pos += 4;
          break;
        case 0xca:
        case 0xcb:
          throw invalid('CODEC_FLOAT', 'floats are not allowed');
        default:
          throw invalid('CODEC_UNSUPPORTED', `type byte 0x${b.toString(16)} is not in the canonical subset`);
      }
    }
    need(skip);
    pos += skip;
    if (arrayLength >= 0) {
      if (arrayLength > end - pos)
        throw invalid('CODEC_TRUNCATED', 'array longer than the bytes that remain');
      if (arrayLength > 0) {
        if (open.length >= limits.maxDepth) throw invalid('CODEC_TOO_DEEP', 'value nests too deeply');
        open.push(arrayLength);
        continue;
      }
    }
    // A value completed: close every array it completes.
    while (open.length > 0) {
      const left = open[open.length - 1]! - 1;
      if (left > 0) {
        open[open.length - 1] = left;
        break;
      }
      open.pop();
    }
  } while (open.length > 0);
  if (pos !== end) throw invalid('CODEC_TRAILING_BYTES', 'bytes follow the encoded value');
}

/** Decodes canonical bytes. Every failure is a CareLedgerError with action `reject`. */
export function decode(bytes: Uint8Array, limits: DecodeLimits = defaultDecodeLimits): Canonical {
  if (!(bytes instanceof Uint8Array)) throw invalid('CODEC_NOT_BYTES', 'expected bytes');
  if (bytes.length > limits.maxBytes)
    throw invalid('CODEC_TOO_LARGE', `message of ${bytes.length} bytes exceeds ${limits.maxBytes}`);
  prescan(bytes, limits);
  let value: Canonical;
  try {
    value = packr.unpack(bytes) as Canonical;
  } catch (err) {
    throw invalid('CODEC_MALFORMED', `malformed encoding: ${(err as Error).message}`);
  }
  let again: Uint8Array;
  try {
    // encode(), not pack(): values outside the canonical subset (a uint64 above int64) are refused too.
    again = encode(value);
  } catch (err) {
    throw invalid(
      'CODEC_NON_CANONICAL',
      `decoded value is outside the canonical subset: ${(err as Error).message}`,
    );
  }
  if (!equalBytes(again, bytes)) throw invalid('CODEC_NON_CANONICAL', 'encoding is not canonical');
  return value;
}
