/**
 * Proposals by hashes on the wire (consensus/messages.ts): what they carry, how they are told
 * apart from the other consensus messages without decoding, and what a strict decode refuses.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeMessage,
  decodeProposalByHashes,
  encodeMessage,
  encodeProposalByHashes,
  isProposalByHashes,
} from '../../../consensus/messages.ts';
import { encode } from '../../../packages/codec/canonical.ts';
import { equalBytes, sha256 } from '../../../packages/crypto/hash.ts';
import {
  blockFields,
  blockIdOf,
  blockTxHashes,
  defaultBlockLimits,
  headerFields,
} from '../../../packages/types/block.ts';
import { applyBlock, buildBlock } from '../../../packages/types/chain-state.ts';
import { commitFields } from '../../../packages/types/commit.ts';
import { proposalFields } from '../../../packages/types/vote.ts';
import { throwsCode } from '../packages/fixtures.ts';
import { idOf, makeChain, prevote, signedCommit, signedProposal } from './fixtures.ts';

const { chain, fx } = makeChain([1n, 1n, 1n, 1n], 'messages');
const tx = (i: number) => new Uint8Array(250).fill(i % 251);

// Height 2, so the block has a last commit as well as txs.
const first = buildBlock(chain, {
  txs: [tx(0)],
  evidence: [],
  time: chain.lastBlockTime + 1n,
  proposer: fx.set.validators[0]!.address,
});
const firstId = blockIdOf(first.header);
const afterFirst = applyBlock(chain, first, signedCommit(fx, [0, 1, 2], 1n, 0, firstId), {
  appHash: sha256(),
  resultsHash: sha256(),
  validatorUpdates: [],
});
const block = buildBlock(afterFirst, {
  txs: Array.from({ length: 100 }, (_, i) => tx(i)),
  evidence: [],
  time: afterFirst.lastBlockTime + 1n,
  proposer: fx.set.validators[1]!.address,
});
const proposal = signedProposal(fx, 1, 2n, 0, -1, blockIdOf(block.header));
const wire = encodeProposalByHashes(proposal, block);

test('a proposal by hashes carries the block without tx bytes; decoding gives back every part', () => {
  const back = decodeProposalByHashes(wire);
  assert.equal(encode(proposalFields(back.proposal)), encode(proposalFields(proposal)));
  assert.equal(encode(headerFields(back.header)), encode(headerFields(block.header)));
  assert.equal(encode(commitFields(back.lastCommit!)), encode(commitFields(block.lastCommit!)));
  assert.equal(back.evidence, []);
  assert.is(back.txHashes.length, 100);
  for (const [i, hash] of back.txHashes.entries())
    assert.ok(equalBytes(hash, sha256(block.txs[i]!)), `hash ${i}`);
  const full = encodeMessage({ kind: 'proposal', proposal, block });
  assert.ok(wire.length * 4 < full.length, `${wire.length} bytes by hashes, ${full.length} in full`);
});

test('isProposalByHashes tells it from the other messages by its first two bytes', () => {
  assert.ok(isProposalByHashes(wire));
  assert.not.ok(isProposalByHashes(encodeMessage({ kind: 'proposal', proposal, block })));
  assert.not.ok(isProposalByHashes(encodeMessage({ kind: 'vote', vote: prevote(fx, 0, 2n, 0, idOf('x')) })));
  assert.not.ok(isProposalByHashes(encodeMessage({ kind: 'status', height: 5n, round: 0 })));
  assert.not.ok(isProposalByHashes(new Uint8Array(0)));
  // The full decoder does not take it: only the node, which can fill in the txs, does.
  throwsCode(() => decodeMessage(wire), 'MESSAGE_INVALID', /unknown consensus message tag 5/);
});

test('decoding refuses hashes of the wrong size, too many hashes, another tag and trailing garbage', () => {
  const hashed = (txs: readonly Uint8Array[]) =>
    encode([5, proposalFields(proposal), blockFields({ ...block, txs })]);
  const hashes = blockTxHashes(block);
  throwsCode(
    () => decodeProposalByHashes(hashed([...hashes.slice(1), hashes[0]!.subarray(1)])),
    'CODEC_SCHEMA',
    /32-byte tx hash/,
  );
  throwsCode(() => decodeProposalByHashes(hashed([tx(1)])), 'CODEC_SCHEMA', /block\.txs\[0\]/);
  throwsCode(
    () => decodeProposalByHashes(wire, { ...defaultBlockLimits, maxTxs: 99 }),
    'CODEC_SCHEMA',
    /block\.txs/,
  );
  throwsCode(
    () => decodeProposalByHashes(encode([1, proposalFields(proposal), blockFields(block)])),
    'MESSAGE_INVALID',
    /not a proposal by hashes/,
  );
  const extended = new Uint8Array(wire.length + 1);
  extended.set(wire);
  assert.throws(() => decodeProposalByHashes(extended));
});

test.run();
