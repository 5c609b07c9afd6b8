/**
 * p2p/options.ts: defaults fill what is not given, limits that depend on the message size
 * follow it, and every bad value is refused with P2P_INVALID_OPTIONS before anything starts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultP2POptions, type P2PInit, resolveP2POptions } from '../../../p2p/options.ts';
import { hasCode } from '../../../packages/core/errors.ts';
import { CHAIN, idOf, seed } from './helpers.ts';

const base: P2PInit = {
  chainId: CHAIN,
  nodeKeySeed: seed(1),
  listen: '/ip4/127.0.0.1/tcp/0',
  members: [idOf(1)],
  persistentPeers: [],
};

test('defaults fill the options that are not given', () => {
  const opts = resolveP2POptions(base);
  assert.is(opts.maxMessageBytes, defaultP2POptions.maxMessageBytes);
  assert.is(opts.maxRpcBytes, defaultP2POptions.maxRpcBytes);
  assert.is(opts.seenTtlMs, defaultP2POptions.seenTtlMs);
  assert.equal(opts.redial, defaultP2POptions.redial);
  assert.is(resolveP2POptions({ ...base, seenTtlMs: 5_000 }).seenTtlMs, 5_000);
});

test('RPC and buffer bounds grow with a raised message limit unless set', () => {
  const raised = resolveP2POptions({ ...base, maxMessageBytes: 8 * 1024 * 1024 });
  assert.is(raised.maxRpcBytes, 8 * 1024 * 1024 + 1024);
  assert.is(raised.maxOutboundBufferBytes, defaultP2POptions.maxOutboundBufferBytes);
  const huge = resolveP2POptions({ ...base, maxMessageBytes: 32 * 1024 * 1024 });
  assert.ok(huge.maxOutboundBufferBytes >= huge.maxRpcBytes);
  try {
    resolveP2POptions({ ...base, maxMessageBytes: 8 * 1024 * 1024, maxRpcBytes: 4 * 1024 * 1024 });
    assert.unreachable('an RPC bound below the message bound');
  } catch (err) {
    assert.ok(hasCode(err, 'P2P_INVALID_OPTIONS'), String(err));
  }
});

test('bad options are refused', () => {
  const bad: Partial<P2PInit>[] = [
    { chainId: 'a/b' },
    { listen: 'not a multiaddr' },
    { maxMessageBytes: 0 },
    { maxMessageBytes: 1.5 },
    { maxRequestBytes: -1 },
    { maxResponseBytes: Number.POSITIVE_INFINITY },
    { requestTimeoutMs: 0 },
    { requestHandlerTimeoutMs: 24 * 3600 * 1000 },
    { maxPendingValidations: 0 },
    { maxConnections: 0 },
    { heartbeatIntervalMs: 0 },
    { redial: { initialMs: 10, maxMs: 5, factor: 2, jitter: 0 } },
    { maxOutboundBufferBytes: 1024 },
  ];
  for (const change of bad) {
    try {
      resolveP2POptions({ ...base, ...change });
      assert.unreachable(JSON.stringify(change));
    } catch (err) {
      assert.ok(hasCode(err, 'P2P_INVALID_OPTIONS'), `${JSON.stringify(change)}: ${String(err)}`);
    }
  }
});

test.run();
