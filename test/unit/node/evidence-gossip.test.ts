/**
 * node/evidence-gossip.ts's sending side alone (the receiving side is in inbound.test.ts, the
 * commit side in commit-pipeline.test.ts): each tick publishes on the evidence topic what the pool
 * says is due (new evidence at once, again 1 s, 2 s and then every 4 s later), in lists of at most
 * the chain's max_evidence that a peer's decoder takes whole (none when that is 0).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EvidencePool } from '../../../consensus/evidence-pool.ts';
import { decodeEvidenceList } from '../../../consensus/messages.ts';
import { ChainHead } from '../../../node/commit-pipeline.ts';
import { EvidenceGossip, MAX_PENDING_EVIDENCE } from '../../../node/evidence-gossip.ts';
import type { TopicKind } from '../../../p2p/host.ts';
import { toHex } from '../../../packages/crypto/hash.ts';
import {
  type DuplicateVoteEvidence,
  evidenceHash,
  makeDuplicateVoteEvidence,
} from '../../../packages/types/commit.ts';
import { idOf, makeChain, precommit } from '../consensus/fixtures.ts';

const { chain, fx } = makeChain([1n, 1n, 1n, 1n], 'evidence-gossip');
const equivocation = (validator: number, round = 0) =>
  makeDuplicateVoteEvidence(
    precommit(fx, validator, 1n, round, idOf(`a-${validator}-${round}`)),
    precommit(fx, validator, 1n, round, idOf(`b-${validator}-${round}`)),
  );
const hashes = (list: readonly DuplicateVoteEvidence[]) => list.map((e) => toHex(evidenceHash(e)));

/** A reactor over a fresh pool; `sent` holds each published list as its evidence hashes. */
function reactor(maxEvidence: number) {
  const pool = new EvidencePool(MAX_PENDING_EVIDENCE);
  const head = new ChainHead({ ...chain, blockLimits: { ...chain.blockLimits, maxEvidence } });
  const sent: string[][] = [];
  const topics: TopicKind[] = [];
  const gossip = new EvidenceGossip({
    pool,
    head,
    gossip: {
      publish: (kind, bytes) => {
        topics.push(kind);
        sent.push(hashes(decodeEvidenceList(bytes, head.chain.blockLimits)));
      },
    },
  });
  return { pool, gossip, sent, topics };
}

test('new evidence is published at once on the evidence topic, then again until committed', () => {
  const { pool, gossip, sent, topics } = reactor(100);
  const e = equivocation(1);
  gossip.tick(0);
  assert.equal(sent, [], 'nothing pending, nothing sent');
  pool.add(e, 1000);
  gossip.tick(1000);
  assert.equal(sent, [hashes([e])]);
  assert.equal(topics, ['evidence']);
  // Re-sent 1 s, then 2 s, then every 4 s later: copies lost on the way are made good.
  const at: number[] = [];
  for (let now = 1100; now <= 16_000; now += 100) {
    const before = sent.length;
    gossip.tick(now);
    if (sent.length > before) at.push(now);
  }
  assert.equal(at, [2000, 4000, 8000, 12_000, 16_000]);
  pool.committed([e], { ...chain, lastHeight: 2n });
  gossip.tick(60_000);
  assert.is(sent.length, 6, 'committed: never published again');
});

test('due evidence goes out in lists of at most max_evidence, each whole for the receiver', () => {
  const { pool, gossip, sent } = reactor(2);
  const all = [0, 1, 2, 3, 4].map((round) => equivocation(2, round));
  for (const e of all) pool.add(e, 0);
  gossip.tick(0);
  assert.equal(sent, [hashes(all.slice(0, 2)), hashes(all.slice(2, 4)), hashes(all.slice(4))]);
});

test('a chain whose blocks carry no evidence publishes none (peers would refuse a list)', () => {
  const { pool, gossip, sent } = reactor(0);
  pool.add(equivocation(1), 0);
  gossip.tick(0);
  assert.equal(sent, []);
});

test.run();
