/**
 * node/config.ts: listen addresses as the RPC and metrics servers read them, and config values
 * refused with CONFIG_INVALID naming the key.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig, parseListen } from '../../../node/config.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.instance(err, CareLedgerError);
    assert.is((err as CareLedgerError).code, 'CONFIG_INVALID');
    return (err as Error).message;
  }
  throw new Error('expected CONFIG_INVALID');
}

test('parseListen reads host:port, [v6]:port and tcp://host:port', () => {
  assert.equal(parseListen('127.0.0.1:26657', 'rpc.listen'), { host: '127.0.0.1', port: 26657 });
  assert.equal(parseListen('[::1]:26660', 'x'), { host: '::1', port: 26660 });
  assert.equal(parseListen('tcp://0.0.0.0:1', 'x'), { host: '0.0.0.0', port: 1 });
});

test('parseListen refuses what is not host:port, naming the key', () => {
  assert.match(
    refusal(() => parseListen('26657', 'rpc.listen')),
    /^rpc\.listen must be host:port/,
  );
  assert.match(
    refusal(() => parseListen(':26657', 'm')),
    /^m must/,
  );
  assert.match(
    refusal(() => parseListen('h:70000', 'm')),
    /^m must/,
  );
  assert.match(
    refusal(() => parseListen('h:port', 'm')),
    /^m must/,
  );
});

test('config refuses bad values with the key in the message', () => {
  assert.match(
    refusal(() => parseConfig('{"rpc":{"listen":"nowhere"}}')),
    /rpc\.listen/,
  );
  assert.match(
    refusal(() => parseConfig('{"instrumentation":{"prometheus_listen":"h:0"}}')),
    /prometheus_listen/,
  );
  assert.match(
    refusal(() => parseConfig('{"consensus":{"timeout_commit_ms":-1}}')),
    /timeout_commit_ms/,
  );
  assert.match(
    refusal(() => parseConfig('[]')),
    /JSON object/,
  );
  assert.match(
    refusal(() => parseConfig('{')),
    /not valid JSON/,
  );
});

test.run();
