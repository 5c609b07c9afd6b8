/**
 * Commits (the +2/3 precommits that finalise a block) and duplicate-vote evidence.
 * A commit holds one entry per validator index, so it can be checked against the validator set
 * without trusting any address a peer supplies.
 */
import { type Canonical, encode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { invalid } from '../core/errors.ts';
import { SIGNATURE_BYTES, verifySignature } from '../crypto/ed25519.ts';
import { equalBytes, HASH_BYTES, merkleRoot, sha256 } from '../crypto/hash.ts';
import { compareBytes, isTwoThirdsMajority, MAX_VALIDATORS, type ValidatorSet } from './validator.ts';
import {
  isNil,
  MAX_ROUND,
  type Vote,
  VoteType,
  verifyVote,
  voteFields,
  voteFromFields,
  voteSignBytes,
} from './vote.ts';

export const CommitFlag = { absent: 1, commit: 2, nil: 3 } as const;
export type CommitFlag = (typeof CommitFlag)[keyof typeof CommitFlag];

export interface CommitSig {
  readonly flag: CommitFlag;
  /** Empty when absent. */
  readonly signature: Uint8Array;
}

export interface Commit {
  readonly height: bigint;
  readonly round: number;
  readonly blockId: Uint8Array;
  readonly signatures: readonly CommitSig[];
}

/** Builds a commit from the precommits of one round, indexed by validator. */
export function makeCommit(
  height: bigint,
  round: number,
  blockId: Uint8Array,
  precommits: readonly (Vote | undefined)[],
  validatorCount: number,
): Commit {
  const signatures: CommitSig[] = [];
  for (let i = 0; i < validatorCount; i++) {
    const vote = precommits[i];
    if (vote === undefined) signatures.push({ flag: CommitFlag.absent, signature: new Uint8Array(0) });
    else if (equalBytes(vote.blockId, blockId))
      signatures.push({ flag: CommitFlag.commit, signature: vote.signature });
    else if (isNil(vote.blockId)) signatures.push({ flag: CommitFlag.nil, signature: vote.signature });
    else signatures.push({ flag: CommitFlag.absent, signature: new Uint8Array(0) });
  }
  return { height, round, blockId, signatures };
}

export function commitFields(c: Commit): Canonical {
  return [c.height, c.round, c.blockId, c.signatures.map((sig) => [sig.flag, sig.signature])];
}

export function commitFromFields(value: Canonical): Commit {
  const [height, round, blockId, sigs] = s.tuple(value, 4, 'commit');
  const signatures = s.list(sigs!, MAX_VALIDATORS, 'commit.signatures').map((item, i) => {
    const [flag, signature] = s.tuple(item, 2, `commit.signatures[${i}]`);
    const f = s.int(flag!, `commit.signatures[${i}].flag`, 1, 3) as CommitFlag;
    const sig = s.bytes(
      signature!,
      `commit.signatures[${i}].signature`,
      f === CommitFlag.absent ? 0 : SIGNATURE_BYTES,
    );
    return { flag: f, signature: sig };
  });
  return {
    height: s.u64(height!, 'commit.height'),
    round: s.int(round!, 'commit.round', 0, MAX_ROUND),
    blockId: s.bytes(blockId!, 'commit.blockId', HASH_BYTES),
    signatures,
  };
}

export function commitHash(commit: Commit | null): Uint8Array {
  if (commit === null) return sha256();
  return merkleRoot(commit.signatures.map((sig) => encode([sig.flag, sig.signature])));
}

/**
 * Verifies every signature in a commit against the validator set of its height and that the
 * validators committing to `blockId` hold more than two thirds of the voting power.
 */
export function verifyCommit(chainId: string, commit: Commit, set: ValidatorSet, blockId: Uint8Array): void {
  if (!equalBytes(commit.blockId, blockId))
    throw invalid('COMMIT_WRONG_BLOCK', 'commit is for another block');
  if (commit.signatures.length !== set.validators.length) {
    throw invalid('COMMIT_INVALID', 'commit has a different number of entries than the validator set');
  }
  let power = 0n;
  commit.signatures.forEach((sig, i) => {
    if (sig.flag === CommitFlag.absent) return;
    const validator = set.validators[i]!;
    const voted = sig.flag === CommitFlag.commit ? commit.blockId : new Uint8Array(0);
    const bytes = voteSignBytes(chainId, {
      type: VoteType.precommit,
      height: commit.height,
      round: commit.round,
      blockId: voted,
    });
    if (!verifySignature(validator.pubKey, bytes, sig.signature)) {
      throw invalid('COMMIT_BAD_SIGNATURE', `commit signature of validator ${i} does not verify`);
    }
    if (sig.flag === CommitFlag.commit) power += validator.votingPower;
  });
  if (!isTwoThirdsMajority(power, set.totalVotingPower)) {
    throw invalid(
      'COMMIT_INSUFFICIENT_POWER',
      'commit signatures hold two thirds or less of the voting power',
    );
  }
}

/** Two conflicting signed votes from one validator for one height, round and type. */
export interface DuplicateVoteEvidence {
  readonly voteA: Vote;
  readonly voteB: Vote;
}

/** Orders the pair canonically (by block id), so both orders of discovery give one evidence. */
export function makeDuplicateVoteEvidence(a: Vote, b: Vote): DuplicateVoteEvidence {
  return compareBytes(a.blockId, b.blockId) < 0 ? { voteA: a, voteB: b } : { voteA: b, voteB: a };
}

export function evidenceFields(e: DuplicateVoteEvidence): Canonical {
  return [voteFields(e.voteA), voteFields(e.voteB)];
}

export function evidenceFromFields(value: Canonical): DuplicateVoteEvidence {
  const [a, b] = s.tuple(value, 2, 'evidence');
  return { voteA: voteFromFields(a!), voteB: voteFromFields(b!) };
}

export function evidenceHash(e: DuplicateVoteEvidence): Uint8Array {
  return sha256(encode(evidenceFields(e)));
}

/** Verifies that the evidence proves an equivocation by a member of `set` (the set of its height). */
export function verifyEvidence(chainId: string, e: DuplicateVoteEvidence, set: ValidatorSet): void {
  const { voteA: a, voteB: b } = e;
  if (
    a.height !== b.height ||
    a.round !== b.round ||
    a.type !== b.type ||
    a.validatorIndex !== b.validatorIndex
  ) {
    throw invalid(
      'EVIDENCE_INVALID',
      'evidence votes are not for the same height, round, type and validator',
    );
  }
  if (compareBytes(a.blockId, b.blockId) >= 0) {
    throw invalid('EVIDENCE_INVALID', 'evidence votes must name different blocks in canonical order');
  }
  verifyVote(chainId, a, set);
  verifyVote(chainId, b, set);
}
