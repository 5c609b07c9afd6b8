/**
 * node/proposal-filler.ts with the real consensus driver (an observer of a 4-validator chain) and
 * peers played by the test: the order of checks and fetches, holding a next-height proposal until
 * the height starts, and the guards against repeated or concurrent work.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultTimeouts } from '../../../consensus/core/state-machine.ts';
import { ConsensusDriver, type ConsensusHost, defaultDriverOptions } from '../../../consensus/driver.ts';
import { encodeMessage, encodeProposalByHashes } from '../../../consensus/messages.ts';
import { MemoryWal } from '../../../consensus/wal.ts';
import { ProposalFiller } from '../../../node/proposal-filler.ts';
import { answerTxsRequest, encodeTxsRequest, txsRequestHashes } from '../../../node/proposal-txs.ts';
import { decode } from '../../../packages/codec/canonical.ts';
import { sha256 } from '../../../packages/crypto/hash.ts';
import { type Block, blockIdOf, defaultBlockLimits } from '../../../packages/types/block.ts';
import {
  applyBlock,
  buildBlock,
  type ChainState,
  nextHeightStart,
  validateBlock,
} from '../../../packages/types/chain-state.ts';
import type { Proposal } from '../../../packages/types/vote.ts';
import {
  CHAIN_ID,
  makeChain,
  precommit,
  prevote,
  signedCommit,
  signedProposal,
} from '../consensus/fixtures.ts';
import { holding } from '../packages/fixtures.ts';

const { chain, fx } = makeChain([1n, 1n, 1n, 1n], 'filler');
const tx = (label: string) => new TextEncoder().encode(label);
const TXS = [tx('held here'), tx('with the sender'), tx('with another peer')];

function blockOn(c: ChainState, txs: readonly Uint8Array[], label = ''): Block {
  return buildBlock(c, {
    txs: [...txs, ...(label === '' ? [] : [tx(label)])],
    evidence: [],
    time: c.lastBlockTime + 1000n,
    proposer: c.validators.set.validators[c.validators.proposer]!.address,
  });
}
const proposer = (c: ChainState) => c.validators.proposer;
function signed(c: ChainState, block: Block, signer = proposer(c)): { proposal: Proposal; wire: Uint8Array } {
  const proposal = signedProposal(fx, signer, c.lastHeight + 1n, 0, -1, blockIdOf(block.header));
  return { proposal, wire: encodeProposalByHashes(proposal, block) };
}

/** An observer driver at height 1, the filler around it, and peers holding txs by name. */
function setup(local: readonly Uint8Array[], peers: Record<string, readonly Uint8Array[]>) {
  let current = chain;
  const decided: Block[] = [];
  const host: ConsensusHost = {
    buildBlock: () => {
      throw new Error('an observer never proposes');
    },
    isValidBlock: (block) => {
      try {
        validateBlock(current, block, { isCommitted: () => false, validatorsAt: () => undefined });
        return true;
      } catch {
        return false;
      }
    },
    broadcast: () => {},
    relay: () => {},
    scheduleTimeout: () => {},
    decide: (value) => decided.push(value.block),
    evidence: () => {},
    peerStatus: () => {},
  };
  const driver = new ConsensusDriver(
    {
      chainId: CHAIN_ID,
      consensus: { timeouts: defaultTimeouts },
      blockLimits: defaultBlockLimits,
      ...defaultDriverOptions,
    },
    host,
    new MemoryWal(),
    null,
    nextHeightStart(chain),
  );
  driver.startHeight(nextHeightStart(chain));
  const asked: { peer: string; count: number }[] = [];
  let fetched = 0;
  const verdicts: string[] = [];
  const filler = new ProposalFiller({
    driver,
    blockLimits: () => defaultBlockLimits,
    localTx: holding(local),
    peers: () => Object.keys(peers),
    requestTxs: async (peer, missing) => {
      const hashes = txsRequestHashes(decode(encodeTxsRequest(missing)));
      asked.push({ peer, count: hashes.length });
      return answerTxsRequest(hashes, holding(peers[peer] ?? []));
    },
    isStopped: () => false,
    fetched: (n) => {
      fetched += n;
    },
    verdict: (outcome) => {
      if (outcome.result === 'reject') verdicts.push(outcome.code);
      return outcome.result;
    },
    debug: () => {},
  });
  const moveTo = (next: ChainState) => {
    current = next;
    driver.startHeight(nextHeightStart(next));
  };
  return { driver, filler, asked, decided, moveTo, verdicts, fetched: () => fetched };
}

test('a proposal signed by someone else, or whose heights disagree, is rejected before any fetch', async () => {
  const { filler, asked, verdicts } = setup([], { sender: TXS });
  const block = blockOn(chain, TXS);
  const other = (proposer(chain) + 1) % 4;
  assert.is(await filler.receive(signed(chain, block, other).wire, 'sender'), 'reject');
  const { proposal } = signed(chain, block);
  const lying = encodeProposalByHashes({ ...proposal, height: 2n }, block);
  assert.is(await filler.receive(lying, 'sender'), 'reject');
  assert.equal(verdicts, ['PROPOSAL_BAD_SIGNATURE', 'PROPOSAL_INVALID']);
  assert.equal(asked, [], 'nobody was asked for txs');
});

test('filled from our txs, then the sender, then another peer; taken by consensus once; copies cost nothing', async () => {
  const { driver, filler, asked, fetched } = setup([TXS[0]!], { sender: [TXS[1]!], other: TXS });
  const block = blockOn(chain, TXS);
  const { proposal, wire } = signed(chain, block);
  assert.is(await filler.receive(wire, 'sender'), 'accept');
  assert.equal(asked, [
    { peer: 'sender', count: 2 },
    { peer: 'sender', count: 1 },
    { peer: 'other', count: 1 },
  ]);
  assert.is(fetched(), 2);
  assert.ok(driver.hasProposal(proposal));
  assert.is(await filler.receive(wire, 'other'), 'ignore', 'the same bytes again');
  const resent = encodeProposalByHashes(proposal, block);
  assert.is(await filler.receive(resent, 'other'), 'ignore');
  assert.is(asked.length, 3, 'no fetch for the copies');
});

test('txs nobody has: ignored, not rejected (the sender may just lack them)', async () => {
  const { driver, filler, verdicts } = setup([], { sender: [] });
  const { proposal, wire } = signed(chain, blockOn(chain, TXS));
  assert.is(await filler.receive(wire, 'sender'), 'ignore');
  assert.equal(verdicts, []);
  assert.not.ok(driver.hasProposal(proposal));
});

test('a next-height proposal is held (four per peer) and goes to consensus when the height starts', async () => {
  const { driver, filler, moveTo, decided } = setup([...TXS, tx('height 2')], {});
  const block1 = blockOn(chain, TXS);
  const p1 = signed(chain, block1);
  const commit1 = signedCommit(fx, [0, 1, 2], 1n, 0, blockIdOf(block1.header));
  const chain1 = applyBlock(chain, block1, commit1, {
    appHash: sha256(),
    resultsHash: sha256(),
    validatorUpdates: [],
  });
  const p2 = signed(chain1, blockOn(chain1, TXS, 'height 2'));

  assert.is(await filler.receive(p2.wire, 'early'), 'ignore');
  for (let i = 0; i < 5; i++) {
    const spam = signed(chain1, blockOn(chain1, TXS, `spam ${i}`));
    await filler.receive(spam.wire, 'spammer');
  }
  assert.is(filler.heldCount, 1 + 4, "the early proposal and four of the spammer's");

  // Height 1 decides (the proposal and three validators' votes), then height 2 starts.
  assert.is(await filler.receive(p1.wire, 'sender'), 'accept');
  for (const i of [0, 1, 2])
    driver.receive(
      encodeMessage({ kind: 'vote', vote: prevote(fx, i, 1n, 0, blockIdOf(block1.header)) }),
      'peer',
    );
  for (const i of [0, 1, 2])
    driver.receive(
      encodeMessage({ kind: 'vote', vote: precommit(fx, i, 1n, 0, blockIdOf(block1.header)) }),
      'peer',
    );
  assert.is(decided.length, 1, 'height 1 decided');
  moveTo(chain1);
  assert.not.ok(driver.hasProposal(p2.proposal));
  await filler.heightStarted();
  assert.ok(driver.hasProposal(p2.proposal), 'the held proposal was taken at height 2');
  assert.is(filler.heldCount, 0);
});

test.run();
