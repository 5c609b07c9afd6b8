/**
 * packages/codec/schema.ts: each typed reader returns its value unchanged when it fits, and
 * refuses a wrong type, size, arity or range with CODEC_SCHEMA, action `reject`, naming the field.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Canonical } from '../../../packages/codec/canonical.ts';
import * as s from '../../../packages/codec/schema.ts';
import { throwsCode } from './fixtures.ts';

function rejects(fn: () => unknown, field: string): void {
  const err = throwsCode(fn, 'CODEC_SCHEMA');
  assert.ok(err.message.startsWith(`${field}:`), `message names the field: ${err.message}`);
  assert.is(err.action, 'reject');
}

const bytes3 = Uint8Array.of(1, 2, 3);

test('tuple: exact arity only', () => {
  const value: Canonical = [1, 'a', null];
  assert.is(s.tuple(value, 3, 'v'), value);
  rejects(() => s.tuple(value, 2, 'v'), 'v');
  rejects(() => s.tuple(value, 4, 'v'), 'v');
  rejects(() => s.tuple('abc', 3, 'v'), 'v');
  rejects(() => s.tuple(bytes3, 3, 'v'), 'v');
  assert.match(throwsCode(() => s.tuple([], 2, 'vote'), 'CODEC_SCHEMA').message, /tuple of 2 fields/);
});

test('list: up to maxLength items', () => {
  assert.equal(s.list([], 0, 'l'), []);
  assert.equal(s.list([1, 2], 2, 'l'), [1, 2]);
  rejects(() => s.list([1, 2, 3], 2, 'l'), 'l');
  rejects(() => s.list(null, 2, 'l'), 'l');
  rejects(() => s.list(bytes3, 5, 'l'), 'l');
});

test('u64: non-negative bigints only', () => {
  assert.is(s.u64(0n, 'h'), 0n);
  assert.is(s.u64(2n ** 63n - 1n, 'h'), 2n ** 63n - 1n);
  rejects(() => s.u64(-1n, 'h'), 'h');
  rejects(() => s.u64(5, 'h'), 'h');
  rejects(() => s.u64('5', 'h'), 'h');
  rejects(() => s.u64(null, 'h'), 'h');
});

test('i64: any bigint, nothing else', () => {
  assert.is(s.i64(-(2n ** 63n), 'p'), -(2n ** 63n));
  assert.is(s.i64(7n, 'p'), 7n);
  rejects(() => s.i64(7, 'p'), 'p');
  rejects(() => s.i64(true, 'p'), 'p');
});

test('int: an integer number within [min, max], both ends inclusive', () => {
  assert.is(s.int(-1, 'r', -1, 10), -1);
  assert.is(s.int(10, 'r', -1, 10), 10);
  rejects(() => s.int(-2, 'r', -1, 10), 'r');
  rejects(() => s.int(11, 'r', -1, 10), 'r');
  rejects(() => s.int(1.5, 'r', 0, 10), 'r');
  rejects(() => s.int(1n, 'r', 0, 10), 'r');
  rejects(() => s.int('1', 'r', 0, 10), 'r');
  assert.match(throwsCode(() => s.int(11, 'r', 0, 10), 'CODEC_SCHEMA').message, /from 0 to 10/);
});

test('bytes: a copy of a Uint8Array, of an exact length when one is given', () => {
  assert.equal([...s.bytes(bytes3, 'b')], [...bytes3]);
  const copy = s.bytes(bytes3, 'b', 3);
  assert.equal([...copy], [...bytes3]);
  // A copy, not a view: the decoder's input may be reused by its owner.
  assert.is.not(copy, bytes3);
  assert.is.not(copy.buffer, bytes3.buffer);
  assert.is(s.bytes(new Uint8Array(0), 'b', 0).length, 0);
  rejects(() => s.bytes(bytes3, 'b', 2), 'b');
  rejects(() => s.bytes(bytes3, 'b', 4), 'b');
  rejects(() => s.bytes('abc', 'b'), 'b');
  rejects(() => s.bytes([1, 2, 3], 'b', 3), 'b');
});

test('boundedBytes: a copy of at most maxLength bytes', () => {
  const copy = s.boundedBytes(bytes3, 'tx', 3);
  assert.equal([...copy], [...bytes3]);
  assert.is.not(copy.buffer, bytes3.buffer);
  rejects(() => s.boundedBytes(bytes3, 'tx', 2), 'tx');
  rejects(() => s.boundedBytes('abc', 'tx', 10), 'tx');
});

test('string: a string of at most maxLength characters', () => {
  assert.is(s.string('', 'c', 0), '');
  assert.is(s.string('abc', 'c', 3), 'abc');
  rejects(() => s.string('abcd', 'c', 3), 'c');
  rejects(() => s.string(bytes3, 'c', 10), 'c');
  rejects(() => s.string(3, 'c', 10), 'c');
});

test('bool: true and false only', () => {
  assert.is(s.bool(true, 'f'), true);
  assert.is(s.bool(false, 'f'), false);
  rejects(() => s.bool(0, 'f'), 'f');
  rejects(() => s.bool(null, 'f'), 'f');
});

test.run();
