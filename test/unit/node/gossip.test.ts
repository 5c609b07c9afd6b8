/**
 * node/gossip.ts alone: a publish gossipsub takes is not re-sent; one it refuses as a duplicate
 * (consensus re-sending on purpose) goes straight to each topic peer, within the budget per tick
 * across peers and publishes, which `tick` fills again; a failed publish is logged, not thrown.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Gossip, type GossipModules } from '../../../node/gossip.ts';
import type { PublishOutcome } from '../../../p2p/host.ts';
import { recordingLogger } from './fixtures.ts';

/** Lets the publish promise's handlers run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness(outcome: () => Promise<PublishOutcome>) {
  const direct: string[] = [];
  const log = recordingLogger();
  const p2p: GossipModules['p2p'] = {
    publish: outcome,
    topicPeers: () => ['a', 'b', 'c'],
    sendDirect: async (peer) => {
      direct.push(peer);
      return 'accept';
    },
  };
  return { direct, log, gossip: new Gossip({ maxDirectSendsPerTick: 4 }, { p2p, log }) };
}

test('a published message is not sent directly', async () => {
  const { direct, gossip } = harness(async () => ({ status: 'published', recipients: 3 }));
  gossip.publish('consensus', new Uint8Array([1]));
  await settle();
  assert.equal(direct, []);
});

test('a duplicate goes directly to each peer, within the budget per tick', async () => {
  const { direct, gossip } = harness(async () => ({ status: 'duplicate' }));
  gossip.publish('consensus', new Uint8Array([1]));
  await settle();
  assert.equal(direct, ['a', 'b', 'c']);
  gossip.publish('consensus', new Uint8Array([2]));
  await settle();
  assert.equal(direct, ['a', 'b', 'c', 'a'], 'the budget of 4 is spent');
  gossip.publish('consensus', new Uint8Array([3]));
  await settle();
  assert.is(direct.length, 4);
  gossip.tick();
  gossip.publish('consensus', new Uint8Array([4]));
  await settle();
  assert.is(direct.length, 7, 'a new tick, a new budget');
});

test('a failed publish is logged', async () => {
  const { log, gossip } = harness(async () => {
    throw new Error('stream reset');
  });
  gossip.publish('tx', new Uint8Array([1]));
  await settle();
  assert.equal(
    log.lines.map((l) => [l.msg, l.fields?.error]),
    [['publish failed', 'stream reset']],
  );
});

test.run();
