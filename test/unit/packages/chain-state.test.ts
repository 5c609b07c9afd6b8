/**
 * Chain state between heights: the genesis state, building a block and checking a proposed one
 * against the chain (each refusal names its cause), and applying a block, with validator updates
 * returned at height H taking effect at H+2.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hasCode } from '../../../packages/core/errors.ts';
import { equalBytes, sha256 } from '../../../packages/crypto/hash.ts';
import { type Block, blockIdOf, type Header, MAX_BLOCK_TXS_BYTES } from '../../../packages/types/block.ts';
import {
  applyBlock,
  buildBlock,
  type ChainState,
  checkBlockTimeNotAhead,
  type EvidenceLookup,
  evidenceForBlock,
  genesisState,
  MAX_BLOCK_TIME_AHEAD_MS,
  nextHeightStart,
  type ValidatorUpdate,
  validateBlock,
} from '../../../packages/types/chain-state.ts';
import {
  type DuplicateVoteEvidence,
  evidenceHash,
  makeDuplicateVoteEvidence,
} from '../../../packages/types/commit.ts';
import { genesisValidatorSet } from '../../../packages/types/genesis.ts';
import {
  makeValidatorSet,
  newValidator,
  type ValidatorSet,
  validatorSetHash,
} from '../../../packages/types/validator.ts';
import { GENESIS_TIME, idOf, makeChain, precommit, signedCommit } from '../consensus/fixtures.ts';

const utf8 = new TextEncoder();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const { genesis, chain, fx } = makeChain([1n, 1n, 1n, 1n], 'chain');
const ALL = [0, 1, 2, 3];

/** Evidence lookup over a set of committed evidence hashes and the validator sets by height. */
function lookup(committed: readonly DuplicateVoteEvidence[] = []): EvidenceLookup {
  const hashes = new Set(committed.map((e) => hex(evidenceHash(e))));
  const sets = new Map<bigint, ValidatorSet>([
    [1n, chain.validators.set],
    [2n, chain.nextValidators.set],
  ]);
  return { isCommitted: (h) => hashes.has(hex(h)), validatorsAt: (h) => sets.get(h) };
}

function blockOn(c: ChainState, evidence: readonly DuplicateVoteEvidence[] = [], label = 'tx'): Block {
  return buildBlock(c, {
    txs: [utf8.encode(label)],
    evidence,
    time: c.lastBlockTime + 1000n,
    proposer: c.validators.set.validators[c.validators.proposer]!.address,
  });
}

const withHeader = (block: Block, patch: Partial<Header>): Block => ({
  ...block,
  header: { ...block.header, ...patch },
});

const noUpdates = {
  appHash: sha256(utf8.encode('app-1')),
  resultsHash: sha256(),
  validatorUpdates: [] as ValidatorUpdate[],
};

/** Height 1 built, committed by all four and applied: the chain at height 1. */
function afterHeight1(updates = noUpdates) {
  const block1 = blockOn(chain);
  const id1 = blockIdOf(block1.header);
  const commit1 = signedCommit(fx, ALL, 1n, 0, id1);
  return { block1, id1, commit1, chain1: applyBlock(chain, block1, commit1, updates) };
}

function assertInvalid(run: () => void, code: string, message?: RegExp) {
  try {
    run();
  } catch (err) {
    assert.ok(hasCode(err, code), `expected ${code}, got ${(err as Error).message}`);
    if (message !== undefined) assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('genesisState: nothing committed, the genesis set for the first two heights', () => {
  assert.is(chain.lastHeight, 0n);
  assert.is(chain.lastBlockId.length, 0);
  assert.is(chain.lastBlockTime, GENESIS_TIME);
  assert.is(chain.lastCommit, null);
  assert.is(chain.lastValidators, null);
  assert.is(chain.chainId, genesis.chainId);
  assert.ok(equalBytes(chain.appHash, sha256(utf8.encode('app:chain'))));
  const genesisHash = validatorSetHash(genesisValidatorSet(genesis));
  assert.ok(equalBytes(validatorSetHash(chain.validators.set), genesisHash));
  assert.ok(equalBytes(validatorSetHash(chain.nextValidators.set), genesisHash));
  assert.ok(chain.validators.proposer >= 0 && chain.validators.proposer < 4);
  const start = nextHeightStart(chain);
  assert.is(start.height, 1n);
  assert.is(start.validators, chain.validators.set);
  assert.is(start.proposer, chain.validators.proposer);
});

test('genesisState honours the initial height', () => {
  const later = genesisState({ ...genesis, initialHeight: 10n }, chain.appHash);
  assert.is(later.lastHeight, 9n);
  assert.is(nextHeightStart(later).height, 10n);
  assert.is(blockOn(later).header.height, 10n);
});

test('buildBlock then validateBlock accepts the block, at the first height and the next', () => {
  const block1 = blockOn(chain);
  assert.is(block1.header.height, 1n);
  assert.is(block1.lastCommit, null);
  validateBlock(chain, block1, lookup());
  const { chain1, id1 } = afterHeight1();
  const block2 = blockOn(chain1);
  assert.is(block2.header.height, 2n);
  assert.ok(equalBytes(block2.header.lastBlockId, id1));
  assert.ok(block2.lastCommit !== null && equalBytes(block2.lastCommit.blockId, id1));
  validateBlock(chain1, block2, lookup());
});

test('buildBlock keeps block time strictly increasing when the proposer clock is behind', () => {
  const block = buildBlock(chain, {
    txs: [],
    evidence: [],
    time: GENESIS_TIME - 5n,
    proposer: fx.set.validators[0]!.address,
  });
  assert.is(block.header.time, GENESIS_TIME + 1n);
  validateBlock(chain, block, lookup());
});

test('validateBlock rejects a wrong height', () => {
  const block = blockOn(chain);
  assertInvalid(
    () => validateBlock(chain, withHeader(block, { height: 2n }), lookup()),
    'BLOCK_INVALID',
    /height 2/,
  );
  assertInvalid(
    () => validateBlock(chain, withHeader(block, { height: 0n }), lookup()),
    'BLOCK_INVALID',
    /height 0/,
  );
});

test('validateBlock rejects a block that does not extend the last block', () => {
  const { chain1 } = afterHeight1();
  const block = blockOn(chain1);
  assertInvalid(
    () => validateBlock(chain1, withHeader(block, { lastBlockId: idOf('fork') }), lookup()),
    'BLOCK_INVALID',
    /does not extend/,
  );
});

test('validateBlock rejects a block time that does not increase', () => {
  const { chain1 } = afterHeight1();
  const block = blockOn(chain1);
  for (const time of [chain1.lastBlockTime, chain1.lastBlockTime - 1n]) {
    assertInvalid(
      () => validateBlock(chain1, withHeader(block, { time }), lookup()),
      'BLOCK_INVALID',
      /time/,
    );
  }
});

test('a proposal may be at most MAX_BLOCK_TIME_AHEAD_MS ahead of the clock of the node checking it', () => {
  const { chain1 } = afterHeight1();
  const { header } = blockOn(chain1);
  checkBlockTimeNotAhead(header, header.time - MAX_BLOCK_TIME_AHEAD_MS);
  checkBlockTimeNotAhead(header, header.time + 60_000n);
  assertInvalid(
    () => checkBlockTimeNotAhead(header, header.time - MAX_BLOCK_TIME_AHEAD_MS - 1n),
    'BLOCK_TIME_AHEAD',
    /5001 ms ahead/,
  );
  const farFuture = withHeader(blockOn(chain1), { time: (1n << 64n) - 1n });
  validateBlock(chain1, farFuture, lookup()); // the chain's rules alone would take it
  assertInvalid(() => checkBlockTimeNotAhead(farFuture.header, header.time), 'BLOCK_TIME_AHEAD', /ahead/);
});

test('validateBlock rejects wrong validators, next validators and app hashes, another chain, a stranger proposer', () => {
  const block = blockOn(chain);
  const cases: [Partial<Header>, RegExp][] = [
    [{ validatorsHash: sha256(utf8.encode('x')) }, /wrong validators hash/],
    [{ nextValidatorsHash: sha256(utf8.encode('x')) }, /wrong next validators hash/],
    [{ appHash: sha256(utf8.encode('x')) }, /wrong app hash/],
    [{ chainId: 'another-chain' }, /another chain/],
    [{ proposerAddress: new Uint8Array(20) }, /not a validator/],
  ];
  for (const [patch, message] of cases) {
    assertInvalid(() => validateBlock(chain, withHeader(block, patch), lookup()), 'BLOCK_INVALID', message);
  }
});

test('validateBlock holds every tx to max_tx_bytes and all of them to MAX_BLOCK_TXS_BYTES', () => {
  const withTxs = (txs: Uint8Array[]) =>
    buildBlock(chain, {
      txs,
      evidence: [],
      time: chain.lastBlockTime + 1000n,
      proposer: chain.validators.set.validators[chain.validators.proposer]!.address,
    });
  const max = chain.blockLimits.maxTxBytes;
  validateBlock(chain, withTxs([new Uint8Array(max)]), lookup());
  assertInvalid(
    () => validateBlock(chain, withTxs([new Uint8Array(max + 1)]), lookup()),
    'BLOCK_INVALID',
    /over max_tx_bytes/,
  );
  const count = Math.floor(MAX_BLOCK_TXS_BYTES / max);
  const full = Array.from({ length: count }, (_, i) => new Uint8Array(max).fill(i % 256));
  validateBlock(chain, withTxs(full), lookup());
  assertInvalid(
    () =>
      validateBlock(
        chain,
        withTxs([...full, new Uint8Array(MAX_BLOCK_TXS_BYTES - count * max + 1)]),
        lookup(),
      ),
    'BLOCK_INVALID',
    /bytes of txs is over/,
  );
});

test('validateBlock rejects a last commit with two thirds of the power or less', () => {
  const { chain1, id1 } = afterHeight1();
  // A proposer that saw only two precommits puts them in its block: the header matches its body.
  const weak = signedCommit(fx, [0, 1], 1n, 0, id1);
  const block = blockOn({ ...chain1, lastCommit: weak });
  assertInvalid(() => validateBlock(chain1, block, lookup()), 'COMMIT_INSUFFICIENT_POWER');
  const enough = blockOn({ ...chain1, lastCommit: signedCommit(fx, [0, 1, 3], 1n, 0, id1) });
  validateBlock(chain1, enough, lookup());
});

test('validateBlock rejects duplicated or already committed evidence, and accepts it once', () => {
  const { chain1, id1 } = afterHeight1();
  // Validator 2 precommitted two different blocks at height 1.
  const evidence = makeDuplicateVoteEvidence(
    precommit(fx, 2, 1n, 0, id1),
    precommit(fx, 2, 1n, 0, idOf('other')),
  );
  validateBlock(chain1, blockOn(chain1, [evidence]), lookup());
  assertInvalid(
    () => validateBlock(chain1, blockOn(chain1, [evidence, evidence]), lookup()),
    'BLOCK_INVALID',
    /evidence already committed/,
  );
  assertInvalid(
    () => validateBlock(chain1, blockOn(chain1, [evidence]), lookup([evidence])),
    'BLOCK_INVALID',
    /evidence already committed/,
  );
});

test('evidenceForBlock: what validateBlock would take, at most max; too old or committed is stale', () => {
  const { chain1, id1 } = afterHeight1();
  const at = (validator: number, height: bigint) =>
    makeDuplicateVoteEvidence(
      precommit(fx, validator, height, 0, height === 1n ? id1 : idOf('x')),
      precommit(fx, validator, height, 0, idOf('other')),
    );
  const [a, b, future] = [at(1, 1n), at(2, 1n), at(3, 2n)];
  const pool = new Map([
    ['a', a],
    ['b', b],
    ['future', future],
  ]);
  const none = () => false;
  assert.equal(evidenceForBlock(chain1, pool, none, 10), { take: [a, b], stale: [] });
  assert.equal(evidenceForBlock(chain1, pool, none, 1), { take: [a], stale: [] }, 'at most max');
  validateBlock(chain1, blockOn(chain1, [a, b]), lookup());
  const committedA = (h: Uint8Array) => equalBytes(h, evidenceHash(a));
  assert.equal(evidenceForBlock(chain1, pool, committedA, 10), { take: [b], stale: ['a'] });
  // Far on: the chain at height 1 + max age + 1 can no longer carry height 1's evidence.
  const later = { ...chain1, lastHeight: chain1.evidenceMaxAge + 2n };
  assert.equal(evidenceForBlock(later, pool, none, 10), { take: [future], stale: ['a', 'b'] });
});

test('validateBlock rejects evidence from a height not yet committed', () => {
  const { chain1 } = afterHeight1();
  const evidence = makeDuplicateVoteEvidence(
    precommit(fx, 2, 2n, 0, idOf('a')),
    precommit(fx, 2, 2n, 0, idOf('b')),
  );
  assertInvalid(
    () => validateBlock(chain1, blockOn(chain1, [evidence]), lookup()),
    'BLOCK_INVALID',
    /out of range/,
  );
});

test('applyBlock makes a new state and leaves the old one as it was', () => {
  const { block1, id1, commit1, chain1 } = afterHeight1();
  assert.is(chain1.lastHeight, 1n);
  assert.ok(equalBytes(chain1.lastBlockId, id1));
  assert.is(chain1.lastBlockTime, block1.header.time);
  assert.is(chain1.lastCommit, commit1);
  assert.is(chain1.lastValidators, chain.validators);
  assert.is(chain1.validators, chain.nextValidators);
  assert.ok(equalBytes(chain1.appHash, noUpdates.appHash));
  assert.is(chain.lastHeight, 0n, 'the genesis state is unchanged');
  assert.is(chain.lastCommit, null);
});

test('a validator power update at height H: the set of H+1 is unchanged, the set of H+2 has the new power', () => {
  const target = fx.keys[3]!.publicKey;
  const update = { ...noUpdates, validatorUpdates: [{ pubKey: target, power: 5n }] };
  const { block1, id1, chain1 } = afterHeight1(update);
  const oldHash = validatorSetHash(chain.validators.set);
  const newHash = validatorSetHash(
    makeValidatorSet(
      fx.keys.map((k) => newValidator(k.publicKey, equalBytes(k.publicKey, target) ? 5n : 1n)),
    ),
  );
  assert.not.ok(equalBytes(oldHash, newHash));
  assert.ok(equalBytes(block1.header.nextValidatorsHash, oldHash), 'block 1 could not know the update');

  // Height 2 (H+1): still the old set; its header announces the new set for height 3.
  assert.ok(equalBytes(validatorSetHash(chain1.validators.set), oldHash));
  assert.ok(equalBytes(validatorSetHash(chain1.nextValidators.set), newHash));
  const block2 = blockOn(chain1);
  assert.ok(equalBytes(block2.header.validatorsHash, oldHash));
  assert.ok(equalBytes(block2.header.nextValidatorsHash, newHash));
  validateBlock(chain1, block2, lookup());
  assert.ok(equalBytes(block2.header.lastBlockId, id1));

  // Height 3 (H+2): the new set, with total power 8.
  const id2 = blockIdOf(block2.header);
  const chain2 = applyBlock(chain1, block2, signedCommit(fx, ALL, 2n, 0, id2), noUpdates);
  assert.ok(equalBytes(validatorSetHash(chain2.validators.set), newHash));
  assert.is(chain2.validators.set.totalVotingPower, 8n);
  assert.ok(equalBytes(chain2.validators.set.validators[0]!.pubKey, target), 'sorted first by power');
  const block3 = blockOn(chain2);
  assert.ok(equalBytes(block3.header.validatorsHash, newHash));
  validateBlock(chain2, block3, lookup());
});

test('applyBlock refuses invalid validator updates from the application', () => {
  const stranger = sha256(utf8.encode('not a validator'));
  const removal = { ...noUpdates, validatorUpdates: [{ pubKey: stranger, power: 0n }] };
  const block1 = blockOn(chain);
  const commit1 = signedCommit(fx, ALL, 1n, 0, blockIdOf(block1.header));
  assertInvalid(() => applyBlock(chain, block1, commit1, removal), 'VALIDATOR_UPDATE_INVALID', /unknown/);
});

test.run();
