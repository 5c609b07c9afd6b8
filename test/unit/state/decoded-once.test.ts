/**
 * `decodedOnce` (state/application.ts): an application decodes each checked tx's payload once,
 * however many steps (checkTx, processProposal, finalizeBlock) see the same CheckedTx.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { invalid } from '../../../packages/core/errors.ts';
import type { CheckedTx } from '../../../packages/types/tx.ts';
import { decodedOnce } from '../../../state/application.ts';

const checked = (payload: Uint8Array) =>
  ({ tx: { payload }, bytes: payload, hash: payload }) as unknown as CheckedTx;

test('each CheckedTx is decoded once; a failure is remembered and thrown again; another object decodes anew', () => {
  let calls = 0;
  const decodeOf = decodedOnce((payload: Uint8Array) => {
    calls++;
    if (payload[0] === 0) throw invalid('TEST_BAD', 'zero');
    return { first: payload[0] };
  });
  const good = checked(Uint8Array.of(7));
  const value = decodeOf(good);
  assert.equal(value, { first: 7 });
  assert.is(decodeOf(good), value, 'the same decoded value');
  assert.is(calls, 1);

  const bad = checked(Uint8Array.of(0));
  const first = (() => {
    try {
      decodeOf(bad);
    } catch (err) {
      return err;
    }
  })();
  assert.throws(
    () => decodeOf(bad),
    (err: unknown) => err === first,
  );
  assert.is(calls, 2, 'the failure was not decoded again');

  assert.equal(decodeOf(checked(Uint8Array.of(7))), { first: 7 });
  assert.is(calls, 3, 'a different CheckedTx with the same bytes is its own entry');
});

test.run();
