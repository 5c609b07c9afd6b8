/**
 * p2p/topics.ts: topic and protocol names of one chain, parsing that refuses every other chain,
 * version, kind or shape, chain ids that cannot be path segments, and request/response protocol
 * ids built from a name and a version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkChainId,
  isTopicKind,
  parseTopic,
  protocolId,
  syncProtocol,
  TOPIC_KINDS,
  topicName,
} from '../../../p2p/topics.ts';
import { hasCode } from '../../../packages/core/errors.ts';

test('names of the three topics and the sync protocol', () => {
  assert.is(topicName('care-1', 'tx'), '/careledger/care-1/tx/1');
  assert.is(topicName('care-1', 'consensus'), '/careledger/care-1/consensus/1');
  assert.is(topicName('care-1', 'evidence'), '/careledger/care-1/evidence/1');
  assert.is(syncProtocol('care-1'), '/careledger/care-1/sync/1');
  assert.equal(TOPIC_KINDS, ['tx', 'consensus', 'evidence']);
});

test('parseTopic inverts topicName for its own chain only', () => {
  for (const kind of TOPIC_KINDS) assert.is(parseTopic('care-1', topicName('care-1', kind)), kind);
  for (const other of [
    '/careledger/care-2/tx/1',
    '/careledger/care-1/tx/2',
    '/careledger/care-1/blocks/1',
    '/careledger/care-1/tx/1/',
    '/careledger/care-1/evidence/2',
    'careledger/care-1/tx/1',
    '/other/care-1/tx/1',
    '/careledger/care-1/sync/1',
    '',
  ]) {
    assert.is(parseTopic('care-1', other), null, other);
  }
});

test('chain ids that cannot be a path segment are refused', () => {
  for (const bad of ['', 'a/b', 'a b', 'x'.repeat(65), 'ü']) {
    let code = '';
    try {
      checkChainId(bad);
    } catch (err) {
      code = hasCode(err, 'P2P_INVALID_OPTIONS') ? 'P2P_INVALID_OPTIONS' : 'other';
    }
    assert.is(code, 'P2P_INVALID_OPTIONS', JSON.stringify(bad));
  }
  assert.throws(() => topicName('a/b', 'tx'));
  assert.not.throws(() => checkChainId('careledger-local_1.0'));
  assert.ok(isTopicKind('tx') && isTopicKind('consensus') && isTopicKind('evidence'));
  assert.not.ok(isTopicKind('blocks'));
  assert.not.ok(isTopicKind('toString'), 'no inherited name');
});

test('protocol ids: one per chain, name and version; bad names and versions are refused', () => {
  assert.is(protocolId('care-1', 'record', 1), '/careledger/care-1/record/1');
  assert.is(protocolId('care-1', 'sync', 1), syncProtocol('care-1'));
  for (const [name, version] of [
    ['Record', 1],
    ['rec/ord', 1],
    ['', 1],
    ['x'.repeat(33), 1],
    ['tx', 1],
    ['evidence', 1],
    ['record', 0],
    ['record', 1.5],
  ] as const) {
    let code = '';
    try {
      protocolId('care-1', name, version);
    } catch (err) {
      code = hasCode(err, 'P2P_INVALID_OPTIONS') ? 'P2P_INVALID_OPTIONS' : 'other';
    }
    assert.is(code, 'P2P_INVALID_OPTIONS', `${name} ${version}`);
  }
});

test.run();
