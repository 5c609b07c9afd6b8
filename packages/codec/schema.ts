/**
 * Typed readers over decoded canonical values. Each type's decoder is written with these, so a
 * field of the wrong type, size or arity is refused with a code naming the field.
 */
import { invalid } from '../core/errors.ts';
import type { Canonical } from './canonical.ts';

function fail(what: string, expected: string): never {
  throw invalid('CODEC_SCHEMA', `${what}: expected ${expected}`);
}

export function tuple(value: Canonical, length: number, what: string): readonly Canonical[] {
  if (!Array.isArray(value) || value.length !== length) fail(what, `a tuple of ${length} fields`);
  return value;
}

export function list(value: Canonical, maxLength: number, what: string): readonly Canonical[] {
  if (!Array.isArray(value)) fail(what, 'a list');
  if (value.length > maxLength) fail(what, `at most ${maxLength} items`);
  return value;
}

/** Non-negative int64, carried as bigint (heights, powers, amounts, times). */
export function u64(value: Canonical, what: string): bigint {
  if (typeof value !== 'bigint' || value < 0n) fail(what, 'a non-negative 64-bit integer');
  return value;
}

export function i64(value: Canonical, what: string): bigint {
  if (typeof value !== 'bigint') fail(what, 'a 64-bit integer');
  return value;
}

/** Small integer within [min, max] (rounds, type tags, indexes). */
export function int(value: Canonical, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(what, `an integer from ${min} to ${max}`);
  }
  return value;
}

// Byte fields are copied: the decoder returns views into the input, which its owner may reuse.

export function bytes(value: Canonical, what: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(what, 'bytes');
  if (length !== undefined && value.length !== length) fail(what, `${length} bytes`);
  return new Uint8Array(value);
}

export function boundedBytes(value: Canonical, what: string, maxLength: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length > maxLength) fail(what, `at most ${maxLength} bytes`);
  return new Uint8Array(value);
}

export function string(value: Canonical, what: string, maxLength: number): string {
  if (typeof value !== 'string' || value.length > maxLength)
    fail(what, `a string of at most ${maxLength} characters`);
  return value;
}

export function bool(value: Canonical, what: string): boolean {
  if (typeof value !== 'boolean') fail(what, 'a boolean');
  return value;
}
