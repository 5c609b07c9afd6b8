/**
 * node/inbound.ts alone: consensus is closed (messages ignored, round requests answered with
 * nothing) until `open`, and again once the node stops; a tx batch is accepted for relay only if
 * it brought a new tx and asked for relay, rejected if a tx is invalid (a full mempool is not the
 * sender's fault); sync requests reach the handler with our height.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChainHead } from '../../../node/commit-pipeline.ts';
import { Inbound, type InboundModules, type OpenConsensus } from '../../../node/inbound.ts';
import type { AddResult } from '../../../node/mempool.ts';
import { encodeSyncRequest } from '../../../node/sync/protocol.ts';
import { encodeTxBatch } from '../../../node/tx-gossip.ts';
import type { Verdict } from '../../../p2p/host.ts';
import { decode } from '../../../packages/codec/canonical.ts';
import { CareLedgerError, invalid } from '../../../packages/core/errors.ts';
import { sha256 } from '../../../packages/crypto/hash.ts';
import { makeChain } from '../consensus/fixtures.ts';
import { recordingLogger } from './fixtures.ts';

const utf8 = new TextEncoder();
const { chain } = makeChain([1n, 1n, 1n, 1n], 'inbound');

/** A mempool that answers each tx by its text: 'new', 'dup', 'bad' or 'full'. */
function mempoolAdd(tx: Uint8Array): AddResult {
  const text = new TextDecoder().decode(tx);
  const hash = sha256(tx);
  if (text === 'new') return { ok: true, hash, duplicate: false };
  if (text === 'dup') return { ok: true, hash, duplicate: true };
  if (text === 'full') return { ok: false, error: new CareLedgerError('MEMPOOL_FULL', 'full', 'reject') };
  return { ok: false, error: invalid('TX_BAD_SIGNATURE', 'bad') };
}

function inbound(stopped = () => false): Inbound {
  const modules: InboundModules = {
    head: new ChainHead({ ...chain, lastHeight: 9n }),
    blocks: { block: async () => null, commit: async () => null },
    mempool: { add: mempoolAdd },
    txs: { local: () => undefined },
    isStopped: stopped,
    log: recordingLogger(),
  };
  return new Inbound(modules);
}

const consensus = (verdict: Verdict, received: string[] = []): OpenConsensus => ({
  receive: (bytes, from) => {
    received.push(`${new TextDecoder().decode(bytes)} from ${from}`);
    return verdict;
  },
  roundMessages: () => [utf8.encode('vote')],
});

test('consensus messages are ignored until consensus is open, then handed to it', async () => {
  const received: string[] = [];
  const node = inbound();
  assert.is(await node.validate('consensus', utf8.encode('vote'), 'peer-a'), 'ignore');
  node.open(consensus('reject', received));
  assert.is(await node.validate('consensus', utf8.encode('vote'), 'peer-a'), 'reject');
  assert.equal(received, ['vote from peer-a']);
});

test('a stopped node ignores consensus messages', async () => {
  let stopped = false;
  const node = inbound(() => stopped);
  node.open(consensus('accept'));
  assert.is(await node.validate('consensus', utf8.encode('vote'), 'p'), 'accept');
  stopped = true;
  assert.is(await node.validate('consensus', utf8.encode('vote'), 'p'), 'ignore');
});

test('a tx batch: accepted only with a new tx and relay asked; rejected for an invalid tx, not for a full pool', async () => {
  const node = inbound();
  const batch = (texts: string[], relay = true) =>
    encodeTxBatch(
      texts.map((t) => utf8.encode(t)),
      relay,
    );
  assert.is(await node.validate('tx', batch(['dup', 'new']), 'p'), 'accept');
  assert.is(await node.validate('tx', batch(['dup', 'new'], false), 'p'), 'ignore', 'no relay asked');
  assert.is(await node.validate('tx', batch(['dup']), 'p'), 'ignore', 'nothing new');
  assert.is(await node.validate('tx', batch(['full', 'dup']), 'p'), 'ignore');
  assert.is(await node.validate('tx', batch(['new', 'bad']), 'p'), 'reject');
});

test('sync requests: our height; a round only once consensus is open', async () => {
  const node = inbound();
  assert.equal(decode(await node.onRequest('blocks', encodeSyncRequest({ kind: 'status' }))), [9n]);
  const round = encodeSyncRequest({ kind: 'round', height: 10n, round: 1 });
  assert.equal(decode(await node.onRequest('blocks', round)), []);
  node.open(consensus('accept'));
  const answer = decode(await node.onRequest('blocks', round)) as Uint8Array[];
  assert.equal(
    answer.map((b) => new TextDecoder().decode(b)),
    ['vote'],
  );
});

test.run();
