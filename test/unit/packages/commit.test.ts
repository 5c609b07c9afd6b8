/**
 * packages/types/commit.ts: makeCommit's flags, the commit codec and its refusals, the golden
 * commit hash, verifyCommit (3 of 4 accepted; 2 of 4, forged signatures and another block refused;
 * exact two-thirds with unequal powers), and duplicate-vote evidence (accepted when two signed
 * votes conflict; refused for one block id, other heights/rounds/types/validators, wrong order).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../../packages/codec/canonical.ts';
import { merkleRoot, sha256 } from '../../../packages/crypto/hash.ts';
import {
  type Commit,
  CommitFlag,
  commitFields,
  commitFromFields,
  commitHash,
  evidenceFields,
  evidenceFromFields,
  evidenceHash,
  makeCommit,
  makeDuplicateVoteEvidence,
  verifyCommit,
  verifyEvidence,
} from '../../../packages/types/commit.ts';
import { makeValidatorSet, newValidator, type ValidatorSet } from '../../../packages/types/validator.ts';
import { NIL_BLOCK_ID, type Vote, VoteType } from '../../../packages/types/vote.ts';
import {
  BLOCK_A,
  BLOCK_B,
  CHAIN_ID,
  filled,
  flipBit,
  hex,
  KEYS,
  plain,
  SET,
  signedVote,
  throwsCode,
  unhex,
} from './fixtures.ts';

const H = 7n;
const R = 1;

function precommit(index: number, blockId: Uint8Array, set: ValidatorSet = SET, round = R): Vote {
  return signedVote(index, { type: VoteType.precommit, height: H, round, blockId }, set);
}

/** A commit for BLOCK_A from the validators in `commits`, nil precommits from `nils`, others absent. */
function commitOf(commits: number[], nils: number[] = [], set: ValidatorSet = SET): Commit {
  const votes = set.validators.map((_, i) =>
    commits.includes(i)
      ? precommit(i, BLOCK_A, set)
      : nils.includes(i)
        ? precommit(i, NIL_BLOCK_ID, set)
        : undefined,
  );
  return makeCommit(H, R, BLOCK_A, votes, set.validators.length);
}

test('makeCommit: a flag per validator index', () => {
  const votes = [precommit(0, BLOCK_A), precommit(1, NIL_BLOCK_ID), precommit(2, BLOCK_B), undefined];
  const commit = makeCommit(H, R, BLOCK_A, votes, 4);
  assert.equal(
    commit.signatures.map((s) => s.flag),
    [CommitFlag.commit, CommitFlag.nil, CommitFlag.absent, CommitFlag.absent],
  );
  assert.is(hex(commit.signatures[0]!.signature), hex(votes[0]!.signature));
  assert.is(hex(commit.signatures[1]!.signature), hex(votes[1]!.signature));
  assert.is(commit.signatures[2]!.signature.length, 0, 'a vote for another block is dropped');
  assert.is(commit.signatures[3]!.signature.length, 0);
  assert.is(commit.height, H);
  assert.is(commit.round, R);
  assert.equal({ ...CommitFlag }, { absent: 1, commit: 2, nil: 3 });
});

test('commit fields round trip through the codec', () => {
  const commit = commitOf([0, 1, 3], [2]);
  const back = commitFromFields(decode(encode(commitFields(commit))));
  assert.equal(
    {
      ...back,
      blockId: plain(back.blockId),
      signatures: back.signatures.map((s) => ({ ...s, signature: plain(s.signature) })),
    },
    { ...commit, signatures: commit.signatures.map((s) => ({ ...s, signature: plain(s.signature) })) },
  );
});

test('commitFromFields refuses malformed fields with CODEC_SCHEMA', () => {
  const sig = filled(64, 1);
  const cases: [unknown, RegExp][] = [
    [[H, R, BLOCK_A], /^commit:/],
    [[H, R, BLOCK_A, [[2, sig]], 0], /^commit:/],
    [[-1n, R, BLOCK_A, [[2, sig]]], /commit\.height/],
    [[H, -1, BLOCK_A, [[2, sig]]], /commit\.round/],
    [[H, R, filled(31, 1), [[2, sig]]], /commit\.blockId/],
    [[H, R, NIL_BLOCK_ID, [[2, sig]]], /commit\.blockId/],
    [[H, R, BLOCK_A, 'x'], /commit\.signatures/],
    [[H, R, BLOCK_A, [[2]]], /commit\.signatures\[0\]/],
    [[H, R, BLOCK_A, [[0, sig]]], /commit\.signatures\[0\]\.flag/],
    [[H, R, BLOCK_A, [[4, sig]]], /commit\.signatures\[0\]\.flag/],
    [
      [
        H,
        R,
        BLOCK_A,
        [
          [2, sig],
          [1, sig],
        ],
      ],
      /commit\.signatures\[1\]\.signature/,
    ],
    [[H, R, BLOCK_A, [[2, new Uint8Array(0)]]], /commit\.signatures\[0\]\.signature/],
    [[H, R, BLOCK_A, [[3, sig.subarray(1)]]], /commit\.signatures\[0\]\.signature/],
    [[H, R, BLOCK_A, Array.from({ length: 201 }, () => [1, new Uint8Array(0)])], /at most 200/],
  ];
  for (const [fields, message] of cases) {
    throwsCode(() => commitFromFields(fields as never), 'CODEC_SCHEMA', message);
  }
});

test('commitHash(null) is sha256 of nothing', () => {
  assert.is(hex(commitHash(null)), hex(sha256()));
});

test('GOLDEN: commitHash of a fixed commit (two commits, one absent, one nil)', () => {
  // A change here is a consensus-breaking encoding change.
  // Precommits at height 7, round 1 for 32 x ab, signed by fixture validators 0, 1 (commit) and 3 (nil).
  // Leaves are encode([flag, signature]): 92 02 c4 40 <sig> | 92 01 c4 00 | 92 03 c4 40 <sig>.
  const block = filled(32, 0xab);
  const votes = [
    signedVote(0, { type: VoteType.precommit, height: 7n, round: 1, blockId: block }),
    signedVote(1, { type: VoteType.precommit, height: 7n, round: 1, blockId: block }),
    undefined,
    signedVote(3, { type: VoteType.precommit, height: 7n, round: 1, blockId: NIL_BLOCK_ID }),
  ];
  const commit = makeCommit(7n, 1, block, votes, 4);
  const sig0 =
    '0ea8ef5eca1655f7ef892e22c07f31718792737e1eebd0d9b437919c1578bbe5' +
    '26a9a24c7b72c74a6874261f5f1c891692689b52e458dc5f2c238dac2c1dcb0b';
  const sig1 =
    '72ccbc3e6318b23a64932166239262d8d4a634f0503cf54be83ee5e65e78f495' +
    'e6afae62a162ca5b3e8d77a0fece3014f05be6980aedd1cf8726aad3a778e506';
  const sig3 =
    'fe14fc4da31d79a863e8cebdd822f00511706dd493a3126c5fbd3069e769c670' +
    'a97caf9b07d187274b67ba66ec20775cf2db8bda4058eed7111cb3a5c2d26200';
  assert.equal(
    commit.signatures.map((s) => hex(s.signature)),
    [sig0, sig1, '', sig3],
  );
  const leaves = [`9202c440${sig0}`, `9202c440${sig1}`, '9201c400', `9203c440${sig3}`].map(unhex);
  assert.is(hex(commitHash(commit)), hex(merkleRoot(leaves)));
  assert.is(hex(commitHash(commit)), 'a61980966ad1c76f00035289ae357cecada2f545d3426f612a5a6184607bdbfa');
  // Every signature verifies (signatures are checked before power): only the power is short.
  throwsCode(() => verifyCommit(CHAIN_ID, commit, SET, block), 'COMMIT_INSUFFICIENT_POWER');
});

// ---------------------------------------------------------------------------------------------
// verifyCommit.

test('verifyCommit accepts 3 of 4 equal validators, with or without a nil precommit', () => {
  verifyCommit(CHAIN_ID, commitOf([0, 1, 2]), SET, BLOCK_A);
  verifyCommit(CHAIN_ID, commitOf([1, 2, 3], [0]), SET, BLOCK_A);
  verifyCommit(CHAIN_ID, commitOf([0, 1, 2, 3]), SET, BLOCK_A);
});

test('verifyCommit refuses 2 of 4 with COMMIT_INSUFFICIENT_POWER, nil precommits do not count', () => {
  const err = throwsCode(
    () => verifyCommit(CHAIN_ID, commitOf([0, 1]), SET, BLOCK_A),
    'COMMIT_INSUFFICIENT_POWER',
  );
  assert.is(err.action, 'reject');
  throwsCode(
    () => verifyCommit(CHAIN_ID, commitOf([0, 1], [2, 3]), SET, BLOCK_A),
    'COMMIT_INSUFFICIENT_POWER',
  );
  throwsCode(
    () => verifyCommit(CHAIN_ID, commitOf([], [0, 1, 2, 3]), SET, BLOCK_A),
    'COMMIT_INSUFFICIENT_POWER',
  );
});

test('verifyCommit counts power, not heads, and needs strictly more than two thirds', () => {
  // Powers 20, 10: the first alone holds exactly two thirds (not enough); 20 + 10 is enough.
  const pair = makeValidatorSet([
    newValidator(KEYS[0]!.publicKey, 20n),
    newValidator(KEYS[1]!.publicKey, 10n),
  ]);
  throwsCode(
    () => verifyCommit(CHAIN_ID, commitOf([0], [], pair), pair, BLOCK_A),
    'COMMIT_INSUFFICIENT_POWER',
  );
  verifyCommit(CHAIN_ID, commitOf([0, 1], [], pair), pair, BLOCK_A);
  // Powers 21, 5, 5: the big validator alone holds 21/31 > 2/3.
  const skewed = makeValidatorSet([
    newValidator(KEYS[0]!.publicKey, 21n),
    newValidator(KEYS[1]!.publicKey, 5n),
    newValidator(KEYS[2]!.publicKey, 5n),
  ]);
  assert.is(skewed.validators[0]!.votingPower, 21n);
  verifyCommit(CHAIN_ID, commitOf([0], [], skewed), skewed, BLOCK_A);
  throwsCode(
    () => verifyCommit(CHAIN_ID, commitOf([1, 2], [], skewed), skewed, BLOCK_A),
    'COMMIT_INSUFFICIENT_POWER',
  );
});

test('verifyCommit refuses a forged signature with COMMIT_BAD_SIGNATURE', () => {
  const commit = commitOf([0, 1, 2], [3]);
  for (const index of [0, 2, 3]) {
    const signatures = commit.signatures.map((s, i) =>
      i === index ? { ...s, signature: flipBit(s.signature, 77) } : s,
    );
    const err = throwsCode(
      () => verifyCommit(CHAIN_ID, { ...commit, signatures }, SET, BLOCK_A),
      'COMMIT_BAD_SIGNATURE',
      new RegExp(`validator ${index}`),
    );
    assert.is(err.action, 'reject');
  }
});

test('verifyCommit refuses signatures swapped between validators, or from another round or chain', () => {
  const commit = commitOf([0, 1, 2]);
  const swapped = [commit.signatures[1]!, commit.signatures[0]!, ...commit.signatures.slice(2)];
  throwsCode(
    () => verifyCommit(CHAIN_ID, { ...commit, signatures: swapped }, SET, BLOCK_A),
    'COMMIT_BAD_SIGNATURE',
  );
  throwsCode(() => verifyCommit(CHAIN_ID, { ...commit, round: R + 1 }, SET, BLOCK_A), 'COMMIT_BAD_SIGNATURE');
  throwsCode(
    () => verifyCommit(CHAIN_ID, { ...commit, height: H + 1n }, SET, BLOCK_A),
    'COMMIT_BAD_SIGNATURE',
  );
  throwsCode(() => verifyCommit('other-chain', commit, SET, BLOCK_A), 'COMMIT_BAD_SIGNATURE');
  // A nil flag on a signature made for the block does not verify either.
  const relabelled = commit.signatures.map((s, i) => (i === 0 ? { ...s, flag: CommitFlag.nil } : s));
  throwsCode(
    () => verifyCommit(CHAIN_ID, { ...commit, signatures: relabelled }, SET, BLOCK_A),
    'COMMIT_BAD_SIGNATURE',
  );
  // Prevotes are not precommits.
  const prevotes = SET.validators.map((_, i) =>
    signedVote(i, { type: VoteType.prevote, height: H, round: R, blockId: BLOCK_A }),
  );
  throwsCode(
    () => verifyCommit(CHAIN_ID, makeCommit(H, R, BLOCK_A, prevotes, 4), SET, BLOCK_A),
    'COMMIT_BAD_SIGNATURE',
  );
});

test('verifyCommit refuses a commit for another block with COMMIT_WRONG_BLOCK', () => {
  const err = throwsCode(
    () => verifyCommit(CHAIN_ID, commitOf([0, 1, 2, 3]), SET, BLOCK_B),
    'COMMIT_WRONG_BLOCK',
  );
  assert.is(err.action, 'reject');
});

test('verifyCommit refuses a commit whose size differs from the set with COMMIT_INVALID', () => {
  const commit = commitOf([0, 1, 2, 3]);
  throwsCode(
    () => verifyCommit(CHAIN_ID, { ...commit, signatures: commit.signatures.slice(0, 3) }, SET, BLOCK_A),
    'COMMIT_INVALID',
  );
  const extra = [...commit.signatures, { flag: CommitFlag.absent, signature: new Uint8Array(0) }];
  throwsCode(() => verifyCommit(CHAIN_ID, { ...commit, signatures: extra }, SET, BLOCK_A), 'COMMIT_INVALID');
});

// ---------------------------------------------------------------------------------------------
// Duplicate-vote evidence.

const onA = signedVote(2, { type: VoteType.prevote, height: 9n, round: 0, blockId: BLOCK_A });
const onB = signedVote(2, { type: VoteType.prevote, height: 9n, round: 0, blockId: BLOCK_B });

test('makeDuplicateVoteEvidence orders the pair by block id, whichever came first', () => {
  const one = makeDuplicateVoteEvidence(onA, onB);
  const two = makeDuplicateVoteEvidence(onB, onA);
  assert.is(one.voteA, onA);
  assert.is(two.voteA, onA);
  assert.is(hex(evidenceHash(one)), hex(evidenceHash(two)));
});

test('verifyEvidence accepts two conflicting signed votes, including nil against a block', () => {
  verifyEvidence(CHAIN_ID, makeDuplicateVoteEvidence(onB, onA), SET);
  const nil = signedVote(2, { type: VoteType.prevote, height: 9n, round: 0, blockId: NIL_BLOCK_ID });
  const evidence = makeDuplicateVoteEvidence(onA, nil);
  assert.is(evidence.voteA, nil);
  verifyEvidence(CHAIN_ID, evidence, SET);
});

test('verifyEvidence refuses votes for the same block id', () => {
  const again = signedVote(2, { type: VoteType.prevote, height: 9n, round: 0, blockId: BLOCK_A });
  throwsCode(
    () => verifyEvidence(CHAIN_ID, { voteA: onA, voteB: again }, SET),
    'EVIDENCE_INVALID',
    /different blocks/,
  );
});

test('verifyEvidence refuses votes of different heights, rounds, types or validators', () => {
  const cases: Vote[] = [
    signedVote(2, { type: VoteType.prevote, height: 10n, round: 0, blockId: BLOCK_B }),
    signedVote(2, { type: VoteType.prevote, height: 9n, round: 1, blockId: BLOCK_B }),
    signedVote(2, { type: VoteType.precommit, height: 9n, round: 0, blockId: BLOCK_B }),
    signedVote(3, { type: VoteType.prevote, height: 9n, round: 0, blockId: BLOCK_B }),
  ];
  for (const other of cases) {
    const err = throwsCode(
      () => verifyEvidence(CHAIN_ID, { voteA: onA, voteB: other }, SET),
      'EVIDENCE_INVALID',
    );
    assert.is(err.action, 'reject');
  }
});

test('verifyEvidence refuses the pair in the wrong canonical order', () => {
  throwsCode(
    () => verifyEvidence(CHAIN_ID, { voteA: onB, voteB: onA }, SET),
    'EVIDENCE_INVALID',
    /canonical order/,
  );
});

test('verifyEvidence refuses a forged or misattributed vote', () => {
  throwsCode(
    () =>
      verifyEvidence(CHAIN_ID, { voteA: onA, voteB: { ...onB, signature: flipBit(onB.signature, 3) } }, SET),
    'VOTE_BAD_SIGNATURE',
  );
  throwsCode(
    () =>
      verifyEvidence(
        CHAIN_ID,
        { voteA: { ...onA, validatorIndex: 7 }, voteB: { ...onB, validatorIndex: 7 } },
        SET,
      ),
    'VOTE_UNKNOWN_VALIDATOR',
  );
  throwsCode(() => verifyEvidence('other-chain', { voteA: onA, voteB: onB }, SET), 'VOTE_BAD_SIGNATURE');
});

test('evidence fields round trip and evidenceHash is sha256 of their encoding', () => {
  const evidence = makeDuplicateVoteEvidence(onA, onB);
  const back = evidenceFromFields(decode(encode(evidenceFields(evidence))));
  verifyEvidence(CHAIN_ID, back, SET);
  assert.is(hex(encode(evidenceFields(back))), hex(encode(evidenceFields(evidence))));
  assert.is(hex(evidenceHash(evidence)), hex(sha256(encode(evidenceFields(evidence)))));
  throwsCode(() => evidenceFromFields([evidenceFields(evidence)]), 'CODEC_SCHEMA', /^evidence:/);
});

test.run();
