/**
 * p2p/gossip.ts without libp2p: the validation path (size limit before `validate`, the per-topic
 * bound on validations in flight with its drop counter, verdicts and thrown errors mapped to
 * accept/ignore/reject, every outcome counted), incoming gossip mapped to gossipsub's results
 * over a fake pubsub, publish outcomes and refusals, and the gossipsub options that bound input.
 */
import { TopicValidatorResult } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  createGossip,
  createMessageValidator,
  type GossipHandlers,
  type GossipPubSub,
  gossipsubOptions,
  type MessageValidator,
  type Verdict,
} from '../../../p2p/gossip.ts';
import { resolveP2POptions } from '../../../p2p/options.ts';
import { Penalties } from '../../../p2p/scoring.ts';
import { topicName } from '../../../p2p/topics.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { CHAIN, countingMetrics, errorCode, idOf, seed } from './helpers.ts';

const FROM = idOf(5);

function validatorWith(
  validate: GossipHandlers['validate'],
  limits = { maxMessageBytes: 8, maxPendingValidations: 2 },
) {
  const errors: string[] = [];
  const delivered: string[] = [];
  const m = countingMetrics();
  const validator = createMessageValidator({
    ...limits,
    handlers: {
      validate,
      onMessage(kind, bytes, from, via) {
        if (bytes[0] === 0xff) throw new Error('onMessage failed');
        delivered.push(`${kind}:${bytes[0]}:${from}:${via}`);
      },
    },
    metrics: m.metrics,
    reportError: (_err, where) => errors.push(where),
  });
  return { validator, errors, delivered, m };
}

test('verdicts and thrown errors map to accept, ignore or reject, and each is counted', async () => {
  const outcomes: Record<number, () => Verdict> = {
    1: () => 'accept',
    2: () => 'ignore',
    3: () => 'reject',
    4: () => 'maybe' as Verdict,
    5: () => {
      throw new CareLedgerError('TX_BAD_SIGNATURE', 'bad', 'reject');
    },
    6: () => {
      throw new CareLedgerError('TX_STALE', 'stale', 'ignore');
    },
    7: () => {
      throw new CareLedgerError('TX_ODD', 'no action');
    },
    8: () => {
      throw new Error('a bug');
    },
  };
  const { validator, errors, m } = validatorWith((_k, bytes) => outcomes[bytes[0]!]!());
  const got: Verdict[] = [];
  for (let i = 1; i <= 8; i++) got.push(await validator.validate('tx', Uint8Array.of(i), FROM));
  assert.equal(got, ['accept', 'ignore', 'reject', 'ignore', 'reject', 'ignore', 'ignore', 'ignore']);
  assert.equal(errors, ['validate tx'], 'only the non-CareLedger failure is reported');
  assert.is(m.get('received', 'tx'), 8);
  assert.is(m.get('bytes', 'tx'), 8);
  assert.is(m.get('rejected', 'tx'), 2);
  assert.is(m.get('ignored', 'tx'), 5);
});

test('an oversized message is rejected before validate sees it', async () => {
  const seen: number[] = [];
  const { validator, m } = validatorWith((_k, bytes) => {
    seen.push(bytes.length);
    return 'accept';
  });
  assert.is(await validator.validate('consensus', new Uint8Array(9), FROM), 'reject');
  assert.is(await validator.validate('consensus', new Uint8Array(8), FROM), 'accept');
  assert.equal(seen, [8]);
  assert.is(m.get('rejected', 'consensus'), 1);
});

test('validations in flight are bounded per topic; beyond the bound messages are dropped and counted', async () => {
  const held: (() => void)[] = [];
  const { validator, m } = validatorWith(
    () =>
      new Promise<Verdict>((resolve) => {
        held.push(() => resolve('accept'));
      }),
  );
  const first = validator.validate('tx', Uint8Array.of(1), FROM);
  const second = validator.validate('tx', Uint8Array.of(2), FROM);
  assert.is(validator.pending('tx'), 2);
  assert.is(await validator.validate('tx', Uint8Array.of(3), FROM), 'ignore', 'the third is dropped');
  assert.is(m.get('dropped', 'tx'), 1);
  assert.is(m.get('ignored', 'tx'), 1, 'a drop is also an ignore');
  // The other topic has its own bound.
  const other = validator.validate('consensus', Uint8Array.of(4), FROM);
  assert.is(validator.pending('consensus'), 1);
  for (const release of held.splice(0)) release();
  assert.equal([await first, await second, await other], ['accept', 'accept', 'accept']);
  assert.is(validator.pending('tx'), 0, 'the slots are free again');
  const again = validator.validate('tx', Uint8Array.of(5), FROM);
  for (const release of held.splice(0)) release();
  assert.is(await again, 'accept');
});

test('deliver hands accepted messages to onMessage and reports its failures', () => {
  const { validator, errors, delivered } = validatorWith(() => 'accept');
  validator.deliver('tx', Uint8Array.of(1), FROM, 'direct');
  validator.deliver('consensus', Uint8Array.of(0xff), FROM, 'gossip');
  assert.equal(delivered, [`tx:1:${FROM}:direct`]);
  assert.equal(errors, ['onMessage consensus']);
});

type MessageListener = (evt: { detail: unknown }) => void;

/** Records what the gossip layer tells gossipsub; `publish` fails or succeeds as told. */
function fakePubSub(publishResult: () => Promise<{ recipients: unknown[] }>) {
  const results: [string, string, TopicValidatorResult][] = [];
  const subscribed: string[] = [];
  let listener: MessageListener = () => {};
  const pubsub = {
    addEventListener(_type: string, fn: MessageListener) {
      listener = fn;
    },
    publish: () => publishResult(),
    subscribe: (topic: string) => subscribed.push(topic),
    getSubscribers: () => [peerIdFromString(FROM)],
    reportMessageValidationResult: (id: string, from: string, r: TopicValidatorResult) =>
      results.push([id, from, r]),
  } as unknown as GossipPubSub;
  const receive = (topic: string, data: Uint8Array, msgId = 'm') =>
    listener({ detail: { propagationSource: peerIdFromString(FROM), msgId, msg: { topic, data } } });
  return { pubsub, results, subscribed, receive };
}

test('incoming gossip: each verdict becomes gossipsub’s result; accepted messages are delivered', async () => {
  const verdicts: Record<number, Verdict> = { 1: 'accept', 2: 'ignore', 3: 'reject' };
  const { validator, delivered } = validatorWith((_k, bytes) => verdicts[bytes[0]!]!);
  const fake = fakePubSub(async () => ({ recipients: [] }));
  let stopped = false;
  const gossip = createGossip({
    chainId: CHAIN,
    maxMessageBytes: 8,
    pubsub: fake.pubsub,
    validator,
    isStopped: () => stopped,
  });
  gossip.subscribe();
  assert.equal(fake.subscribed, [
    topicName(CHAIN, 'tx'),
    topicName(CHAIN, 'consensus'),
    topicName(CHAIN, 'evidence'),
  ]);
  fake.receive(topicName(CHAIN, 'tx'), Uint8Array.of(1), 'a');
  fake.receive(topicName(CHAIN, 'consensus'), Uint8Array.of(2), 'b');
  fake.receive(topicName(CHAIN, 'tx'), Uint8Array.of(3), 'c');
  fake.receive('/careledger/other-chain/tx/1', Uint8Array.of(1), 'd');
  await settle(validator);
  assert.equal(fake.results, [
    ['d', FROM, TopicValidatorResult.Reject],
    ['a', FROM, TopicValidatorResult.Accept],
    ['b', FROM, TopicValidatorResult.Ignore],
    ['c', FROM, TopicValidatorResult.Reject],
  ]);
  assert.equal(delivered, [`tx:1:${FROM}:gossip`]);
  stopped = true;
  fake.receive(topicName(CHAIN, 'tx'), Uint8Array.of(1), 'e');
  await settle(validator);
  assert.is(fake.results.length, 4, 'nothing is reported to a stopped gossipsub');
});

/** Lets the validations started so far finish (they resolve within a few microtasks here). */
async function settle(validator: MessageValidator): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  assert.is(validator.pending('tx') + validator.pending('consensus'), 0, 'no validation is left in flight');
}

test('publish: outcomes from gossipsub’s errors, and refusals before anything is sent', async () => {
  const { validator } = validatorWith(() => 'accept');
  let next: () => Promise<{ recipients: unknown[] }> = async () => ({ recipients: [1, 2] });
  let stopped = false;
  const fake = fakePubSub(() => next());
  const gossip = createGossip({
    chainId: CHAIN,
    maxMessageBytes: 8,
    pubsub: fake.pubsub,
    validator,
    isStopped: () => stopped,
  });
  assert.equal(await gossip.publish('tx', Uint8Array.of(1)), { status: 'published', recipients: 2 });
  next = () => Promise.reject(new Error('PublishError.Duplicate'));
  assert.equal(await gossip.publish('tx', Uint8Array.of(1)), { status: 'duplicate' });
  next = () => Promise.reject(new Error('PublishError.NoPeersSubscribedToTopic'));
  assert.equal(await gossip.publish('tx', Uint8Array.of(1)), { status: 'no-peers' });
  next = () => Promise.reject(new Error('something else'));
  assert.is(await errorCode(gossip.publish('tx', Uint8Array.of(1))), 'P2P_PUBLISH_FAILED');
  assert.is(await errorCode(gossip.publish('tx', new Uint8Array(9))), 'P2P_MESSAGE_TOO_LARGE');
  assert.is(await errorCode(gossip.publish('blocks' as 'tx', Uint8Array.of(1))), 'P2P_UNKNOWN_TOPIC');
  assert.is(await errorCode(gossip.publish('tx', [1] as unknown as Uint8Array)), 'P2P_BAD_MESSAGE');
  assert.equal(gossip.topicPeers('consensus'), [FROM]);
  stopped = true;
  assert.is(await errorCode(gossip.publish('tx', Uint8Array.of(1))), 'P2P_STOPPED');
});

test('gossipsub options bound what a peer can send and name only our topics', () => {
  const opts = resolveP2POptions({
    chainId: CHAIN,
    nodeKeySeed: seed(1),
    listen: '/ip4/127.0.0.1/tcp/0',
    members: [],
    persistentPeers: [],
    maxRpcBytes: 2 * 1024 * 1024,
  });
  const g = gossipsubOptions(opts, new Penalties());
  assert.equal(
    [...(g.allowedTopics ?? [])],
    [topicName(CHAIN, 'tx'), topicName(CHAIN, 'consensus'), topicName(CHAIN, 'evidence')],
  );
  assert.is(g.maxInboundDataLength, 2 * 1024 * 1024);
  assert.is(g.maxOutboundBufferSize, opts.maxOutboundBufferBytes);
  assert.is(g.globalSignaturePolicy, 'StrictNoSign');
  assert.is(g.asyncValidation, true);
  assert.is(g.decodeRpcLimits?.maxPeerInfos, 0);
  assert.is(g.scoreThresholds?.graylistThreshold, -2_500);
});

test.run();
