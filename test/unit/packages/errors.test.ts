/**
 * packages/core/errors.ts: CareLedgerError carries a stable code, its message and an optional
 * gossip action; `invalid` always means `reject`; `hasCode` matches only CareLedgerErrors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CareLedgerError, hasCode, invalid } from '../../../packages/core/errors.ts';

test('CareLedgerError has a code, a message, a name and no action by default', () => {
  const err = new CareLedgerError('SOME_CODE', 'one clear sentence');
  assert.instance(err, Error);
  assert.instance(err, CareLedgerError);
  assert.is(err.code, 'SOME_CODE');
  assert.is(err.message, 'one clear sentence');
  assert.is(err.name, 'CareLedgerError');
  assert.is(err.action, undefined);
  assert.ok(typeof err.stack === 'string' && err.stack.includes('one clear sentence'));
});

test('CareLedgerError keeps an explicit action', () => {
  assert.is(new CareLedgerError('STALE', 'old', 'ignore').action, 'ignore');
  assert.is(new CareLedgerError('BAD', 'bad', 'reject').action, 'reject');
});

test('invalid() is a rejecting CareLedgerError', () => {
  const err = invalid('CODEC_SCHEMA', 'field: expected bytes');
  assert.instance(err, CareLedgerError);
  assert.is(err.code, 'CODEC_SCHEMA');
  assert.is(err.message, 'field: expected bytes');
  assert.is(err.action, 'reject');
});

test('hasCode matches the code of a CareLedgerError only', () => {
  const err = invalid('X', 'x');
  assert.ok(hasCode(err, 'X'));
  assert.not.ok(hasCode(err, 'Y'));
  assert.not.ok(hasCode(err, 'x'), 'codes are case sensitive');
  const lookalike = Object.assign(new Error('x'), { code: 'X' });
  assert.not.ok(hasCode(lookalike, 'X'));
  assert.not.ok(hasCode({ code: 'X' }, 'X'));
  assert.not.ok(hasCode(undefined, 'X'));
  assert.not.ok(hasCode('X', 'X'));
});

test.run();
