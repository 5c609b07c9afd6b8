/**
 * Shared by the tests of the fast decoders (a hand-written reader beside the generic strict
 * decoder, taken only when the bytes are laid out exactly as the encoder writes them): seeded
 * random mutations of valid encodings, `sameOutcome`, which checks that two decoders give the
 * same value or throw the same error (code, message and action) on one input, and
 * `checkMutations`, the loop that runs both over many mutated inputs.
 * Not a test file itself (no `.test.ts`), so the runner does not pick it up.
 */
import * as assert from 'uvu/assert';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { seededRandom } from '../../../packages/core/seeded-random.ts';

/** Bytes that matter in the canonical MessagePack subset: headers that a mutation swaps in. */
const HEADER_BYTES = [
  0x00, 0x01, 0x02, 0x7f, 0x80, 0x90, 0x92, 0x93, 0x94, 0x95, 0x9f, 0xa0, 0xa3, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3,
  0xc4, 0xc5, 0xc6, 0xc7, 0xca, 0xcc, 0xcf, 0xd3, 0xd9, 0xda, 0xdc, 0xdd, 0xff,
];

/** One random change to `bytes`: a byte set to a header or a random value, a cut, bytes added or removed. */
export function mutate(bytes: Uint8Array, rand: () => number): Uint8Array {
  const at = Math.floor(rand() * bytes.length);
  const out = Uint8Array.from(bytes);
  switch (Math.floor(rand() * 6)) {
    case 0:
      out[at] = HEADER_BYTES[Math.floor(rand() * HEADER_BYTES.length)]!;
      return out;
    case 1:
      out[at] = Math.floor(rand() * 256);
      return out;
    case 2:
      out[at] = out[at]! ^ (1 << Math.floor(rand() * 8));
      return out;
    case 3:
      return out.subarray(0, at);
    case 4: {
      const extra = Math.floor(rand() * 3) + 1;
      const grown = new Uint8Array(bytes.length + extra);
      grown.set(bytes.subarray(0, at));
      for (let i = 0; i < extra; i++) grown[at + i] = Math.floor(rand() * 256);
      grown.set(bytes.subarray(at), at + extra);
      return grown;
    }
    default: {
      const removed = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]);
      return removed;
    }
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: CareLedgerError };

function outcome(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (!(err instanceof CareLedgerError)) throw err;
    return { ok: false, error: err };
  }
}

/**
 * `fast` and `reference` on the same input: equal values (dequal: same types, same bytes), or
 * the same CareLedgerError code, message and action. Returns whether the input decoded.
 */
export function sameOutcome(fast: () => unknown, reference: () => unknown, what: string): boolean {
  const got = outcome(fast);
  const want = outcome(reference);
  if (want.ok) {
    assert.ok(
      got.ok,
      `${what}: the reference decodes it, the fast path threw ${got.ok ? '' : got.error.code}`,
    );
    assert.equal(got.value, want.value, `${what}: same value`);
    return true;
  }
  assert.ok(!got.ok, `${what}: the reference refuses it (${want.error.code}), the fast path decoded it`);
  if (!got.ok) {
    assert.is(got.error.code, want.error.code, `${what}: same code`);
    assert.is(got.error.message, want.error.message, `${what}: same message`);
    assert.is(got.error.action, want.error.action, `${what}: same action`);
  }
  return false;
}

/** One fast decoder beside its generic twin, over mutated valid encodings (checkMutations). */
export interface MutationCheck {
  readonly seed: number;
  readonly inputs: number;
  /** A valid encoding, from the seeded generator. */
  valid(rand: () => number): Uint8Array;
  /** The decoder under test (fast path first, generic otherwise). */
  decode(bytes: Uint8Array): unknown;
  /** The generic strict decoder, the reference. */
  generic(bytes: Uint8Array): unknown;
  /** The fast reader alone: null when it leaves the bytes to the generic decoder. */
  fast(bytes: Uint8Array): unknown;
}

/**
 * `inputs` valid encodings, each changed 1 to 3 times by `mutate`: `decode` must give the same
 * value or error as `generic` on each, and whatever `fast` reads in place must be what `generic`
 * decodes. Returns how many mutated inputs decoded.
 */
export function checkMutations(c: MutationCheck): number {
  const rand = seededRandom(c.seed);
  let decoded = 0;
  for (let i = 0; i < c.inputs; i++) {
    let bytes = c.valid(rand);
    const changes = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < changes && bytes.length > 0; k++) bytes = mutate(bytes, rand);
    const what = `seed ${c.seed}, input ${i}`;
    if (
      sameOutcome(
        () => c.decode(bytes),
        () => c.generic(bytes),
        what,
      )
    )
      decoded++;
    const fast = c.fast(bytes);
    if (fast !== null) assert.equal(fast, c.generic(bytes), `${what}: fast read implies the generic one`);
  }
  return decoded;
}
