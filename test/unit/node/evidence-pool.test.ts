/**
 * node/evidence-pool.ts alone: evidence is taken once (not again while pending, not if already
 * committed), the pool refuses more than `maxPending`, a block takes at most its max and what is
 * too old or committed leaves the pool, and a committed block's evidence is dropped.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EvidencePool } from '../../../node/evidence-pool.ts';
import { equalBytes } from '../../../packages/crypto/hash.ts';
import { evidenceHash, makeDuplicateVoteEvidence } from '../../../packages/types/commit.ts';
import { idOf, makeChain, precommit } from '../consensus/fixtures.ts';

const { chain, fx } = makeChain([1n, 1n, 1n, 1n], 'evidence-pool');
// Height 1 committed, so height 1's equivocations may go in the next block.
const chain1 = { ...chain, lastHeight: 1n };
const equivocation = (validator: number, height = 1n, round = 0) =>
  makeDuplicateVoteEvidence(
    precommit(fx, validator, height, round, idOf(`a-${validator}-${round}`)),
    precommit(fx, validator, height, round, idOf(`b-${validator}-${round}`)),
  );

test('evidence is added once; evidence already committed is not added', () => {
  const committed = equivocation(2);
  const pool = new EvidencePool(
    { maxPending: 10 },
    { isCommitted: (hash) => equalBytes(hash, evidenceHash(committed)) },
  );
  const e = equivocation(1);
  assert.is(pool.add(e), true);
  assert.is(pool.add(e), false, 'already pending');
  assert.is(pool.add(committed), false, 'already committed');
  assert.is(pool.size, 1);
});

test('the pool holds at most maxPending; room frees up once evidence is committed', () => {
  const pool = new EvidencePool({ maxPending: 2 }, { isCommitted: () => false });
  const [a, b, c] = [equivocation(0), equivocation(1), equivocation(2)];
  assert.is(pool.add(a), true);
  assert.is(pool.add(b), true);
  assert.is(pool.add(c), false, 'full');
  assert.is(pool.size, 2);
  pool.committed([a]);
  assert.is(pool.size, 1);
  assert.is(pool.add(c), true);
});

test('forBlock takes at most max, in arrival order, and keeps what it took pending', () => {
  const pool = new EvidencePool({ maxPending: 10 }, { isCommitted: () => false });
  const list = [equivocation(0), equivocation(1), equivocation(2)];
  for (const e of list) pool.add(e);
  assert.equal(pool.forBlock(chain1, 2), list.slice(0, 2));
  assert.is(pool.size, 3, 'taken into a proposal is not committed yet');
  assert.equal(pool.forBlock(chain1, 10), list);
});

test('forBlock skips evidence of a height not yet committed and drops expired or committed evidence', () => {
  let committedHash: Uint8Array | null = null;
  const pool = new EvidencePool(
    { maxPending: 10 },
    { isCommitted: (hash) => committedHash !== null && equalBytes(hash, committedHash) },
  );
  const [old, future, later] = [equivocation(0, 1n), equivocation(1, 3n), equivocation(2, 2n)];
  for (const e of [old, future, later]) pool.add(e);
  assert.equal(pool.forBlock(chain1, 10), [old], 'height 2 and 3 are not committed yet');
  assert.is(pool.size, 3);
  // Far on: height 1's evidence is past the max age and leaves the pool.
  const far = { ...chain1, lastHeight: chain1.evidenceMaxAge + 2n };
  assert.equal(pool.forBlock(far, 10), [future, later]);
  assert.is(pool.size, 2);
  // Committed by a block this node did not propose (block sync): dropped when next asked.
  committedHash = evidenceHash(later);
  assert.equal(pool.forBlock(far, 10), [future]);
  assert.is(pool.size, 1);
});

test.run();
