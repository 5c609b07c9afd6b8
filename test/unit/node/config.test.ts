/**
 * node/config.ts: listen addresses as the RPC and metrics servers read them, and config values
 * refused with CONFIG_INVALID naming the key.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configToJson, parseConfig, parseListen } from '../../../node/config.ts';
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

test('storage.keep_state_versions: 100,000 by default, 0 keeps every state, 1 is refused', () => {
  assert.is(parseConfig('{}').storage.keepStateVersions, 100_000);
  assert.is(parseConfig('{"storage":{"keep_state_versions":0}}').storage.keepStateVersions, 0);
  const two = parseConfig('{"storage":{"keep_state_versions":2}}');
  assert.is(parseConfig(configToJson(two)).storage.keepStateVersions, 2);
  assert.match(
    refusal(() => parseConfig('{"storage":{"keep_state_versions":1}}')),
    /^config: storage\.keep_state_versions must be 0 \(keep every state\) or at least 2$/,
  );
  assert.match(
    refusal(() => parseConfig('{"storage":{"keep_state_versions":"all"}}')),
    /keep_state_versions/,
  );
});

test.run();
