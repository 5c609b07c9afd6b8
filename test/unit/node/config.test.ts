/**
 * node/config.ts: listen addresses as the RPC and metrics servers read them, and config values
 * refused with CONFIG_INVALID naming the key.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configToJson, defaultConfig, parseConfig, parseListen } from '../../../node/config.ts';
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

test('unknown or misspelled keys are refused with their path and the nearest known key', () => {
  const cases: [string, string, string][] = [
    ['{"foo":1}', 'foo', ''],
    ['{"mempool":{"max_tx":5}}', 'mempool.max_tx', 'mempool.max_txs'],
    ['{"rpc":{"max_body_byte":2048}}', 'rpc.max_body_byte', 'rpc.max_body_bytes'],
    ['{"rpc":{"idle_timeout":5}}', 'rpc.idle_timeout', 'rpc.idle_timeout_ms'],
    ['{"consensus":{"timeout_comit_ms":5}}', 'consensus.timeout_comit_ms', 'consensus.timeout_commit_ms'],
    ['{"p2p":{"listen":"/ip4/127.0.0.1/tcp/1","extra":{"deep":1}}}', 'p2p.extra', ''],
  ];
  for (const [json, path, nearest] of cases) {
    let error: unknown;
    try {
      parseConfig(json);
    } catch (err) {
      error = err;
    }
    assert.instance(error, CareLedgerError, json);
    assert.is((error as CareLedgerError).code, 'CONFIG_UNKNOWN_KEY', json);
    assert.ok((error as Error).message.includes(`unknown key "${path}"`), (error as Error).message);
    if (nearest !== '') assert.ok((error as Error).message.includes(`did you mean "${nearest}"`), json);
  }
});

test('a null section is refused, not read as the defaults', () => {
  assert.match(
    refusal(() => parseConfig('{"consensus":null}')),
    /consensus must be an object/,
  );
});

test('every key the node writes is accepted back, and log.levels takes any module name', () => {
  const written = configToJson(parseConfig('{"log":{"levels":{"p2p":"debug","my-module":"warn"}}}'));
  assert.equal(parseConfig(written).log.levels, { p2p: 'debug', 'my-module': 'warn' });
});

test("rpc's connection bounds: defaults, read back, refused out of range", () => {
  const d = defaultConfig('n').rpc;
  assert.equal([d.maxOpenConnections, d.maxConnectionsPerAddress, d.idleTimeoutMs], [900, 100, 5000]);
  const c = parseConfig(
    '{"rpc":{"max_open_connections":50,"max_connections_per_address":5,"idle_timeout_ms":1000}}',
  ).rpc;
  assert.equal([c.maxOpenConnections, c.maxConnectionsPerAddress, c.idleTimeoutMs], [50, 5, 1000]);
  assert.match(
    refusal(() => parseConfig('{"rpc":{"max_connections_per_address":0}}')),
    /rpc.max_connections_per_address/,
  );
  assert.match(
    refusal(() => parseConfig('{"rpc":{"idle_timeout_ms":10}}')),
    /rpc.idle_timeout_ms/,
  );
});

test('consensus.skip_timeout_commit: on by default, read and written back, a non-boolean refused', () => {
  assert.is(defaultConfig('n').consensus.skipTimeoutCommit, true);
  const off = parseConfig('{"consensus":{"skip_timeout_commit":false}}');
  assert.is(off.consensus.skipTimeoutCommit, false);
  assert.is(parseConfig(configToJson(off)).consensus.skipTimeoutCommit, false);
  for (const value of ['"false"', '0', '1', '[]']) {
    assert.match(
      refusal(() => parseConfig(`{"consensus":{"skip_timeout_commit":${value}}}`)),
      /consensus\.skip_timeout_commit must be true or false/,
      value,
    );
  }
  assert.match(
    refusal(() => parseConfig('{"instrumentation":{"prometheus":"yes"}}')),
    /instrumentation\.prometheus must be true or false/,
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

test('records: defaults, every key read and written back, bad values and unknown keys refused', () => {
  assert.equal(parseConfig('{}').records, {
    maxRecordBytes: 64 * 1024 * 1024,
    pendingTtlMs: 600_000,
    sweepIntervalMs: 60_000,
    releaseTimeoutMs: 15_000,
    unavailableAfterMs: 10_000,
    uploadTimeoutMs: 300_000,
  });
  const set = parseConfig(
    '{"records":{"max_record_bytes":2048,"pending_ttl_ms":5000,"sweep_interval_ms":500,"release_timeout_ms":700,"unavailable_after_ms":900,"upload_timeout_ms":2500}}',
  );
  assert.equal(parseConfig(configToJson(set)).records, {
    maxRecordBytes: 2048,
    pendingTtlMs: 5000,
    sweepIntervalMs: 500,
    releaseTimeoutMs: 700,
    unavailableAfterMs: 900,
    uploadTimeoutMs: 2500,
  });
  assert.match(
    refusal(() => parseConfig('{"records":{"upload_timeout_ms":10}}')),
    /records\.upload_timeout_ms/,
  );
  assert.match(
    refusal(() => parseConfig('{"records":{"max_record_bytes":10}}')),
    /records\.max_record_bytes/,
  );
  assert.match(
    refusal(() => parseConfig('{"records":{"release_timeout_ms":"soon"}}')),
    /records\.release_timeout_ms/,
  );
  assert.throws(
    () => parseConfig('{"records":{"pending_ttl":5000}}'),
    (err: CareLedgerError) =>
      err.code === 'CONFIG_UNKNOWN_KEY' && /records\.pending_ttl_ms/.test(err.message),
  );
});

test.run();
