/**
 * Votes (prevote, precommit) and proposals: what validators sign during consensus. A nil vote has
 * an empty block id. Sign bytes carry the chain id and a domain tag, never the signature itself.
 */
import { type Canonical, decode, encode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { invalid } from '../core/errors.ts';
import { SignDomain, signBytes } from '../crypto/domain.ts';
import { SIGNATURE_BYTES, verifySignature } from '../crypto/ed25519.ts';
import { equalBytes, HASH_BYTES } from '../crypto/hash.ts';
import { ADDRESS_BYTES, MAX_VALIDATORS, type ValidatorSet } from './validator.ts';

export const VoteType = { prevote: 1, precommit: 2 } as const;
export type VoteType = (typeof VoteType)[keyof typeof VoteType];

/** Rounds stay far below 2^31; a peer claiming more is refused, not counted. */
export const MAX_ROUND = 1_000_000;

export const NIL_BLOCK_ID: Uint8Array = new Uint8Array(0);

export interface Vote {
  readonly type: VoteType;
  readonly height: bigint;
  readonly round: number;
  /** Hash of the block's header, or empty for nil. */
  readonly blockId: Uint8Array;
  readonly validatorIndex: number;
  readonly validatorAddress: Uint8Array;
  readonly signature: Uint8Array;
}

export interface Proposal {
  readonly height: bigint;
  readonly round: number;
  /** The round of the polka that justifies re-proposing a valid value, or -1. */
  readonly polRound: number;
  readonly blockId: Uint8Array;
  readonly signature: Uint8Array;
}

export function isNil(blockId: Uint8Array): boolean {
  return blockId.length === 0;
}

function blockIdField(value: Canonical, what: string): Uint8Array {
  const id = s.bytes(value, what);
  if (id.length !== 0 && id.length !== HASH_BYTES)
    throw invalid('CODEC_SCHEMA', `${what}: expected 0 or 32 bytes`);
  return id;
}

export function voteSignBytes(
  chainId: string,
  vote: Pick<Vote, 'type' | 'height' | 'round' | 'blockId'>,
): Uint8Array {
  return signBytes(SignDomain.vote, chainId, [vote.type, vote.height, vote.round, vote.blockId]);
}

export function proposalSignBytes(chainId: string, p: Omit<Proposal, 'signature'>): Uint8Array {
  return signBytes(SignDomain.proposal, chainId, [p.height, p.round, p.polRound, p.blockId]);
}

export function voteFields(v: Vote): Canonical {
  return [v.type, v.height, v.round, v.blockId, v.validatorIndex, v.validatorAddress, v.signature];
}

export function voteFromFields(value: Canonical): Vote {
  const [type, height, round, blockId, index, address, signature] = s.tuple(value, 7, 'vote');
  return {
    type: s.int(type!, 'vote.type', 1, 2) as VoteType,
    height: s.u64(height!, 'vote.height'),
    round: s.int(round!, 'vote.round', 0, MAX_ROUND),
    blockId: blockIdField(blockId!, 'vote.blockId'),
    validatorIndex: s.int(index!, 'vote.validatorIndex', 0, MAX_VALIDATORS - 1),
    validatorAddress: s.bytes(address!, 'vote.validatorAddress', ADDRESS_BYTES),
    signature: s.bytes(signature!, 'vote.signature', SIGNATURE_BYTES),
  };
}

export function encodeVote(v: Vote): Uint8Array {
  return encode(voteFields(v));
}

export function decodeVote(bytes: Uint8Array): Vote {
  return voteFromFields(decode(bytes));
}

export function proposalFields(p: Proposal): Canonical {
  return [p.height, p.round, p.polRound, p.blockId, p.signature];
}

export function proposalFromFields(value: Canonical): Proposal {
  const [height, round, polRound, blockId, signature] = s.tuple(value, 5, 'proposal');
  const r = s.int(round!, 'proposal.round', 0, MAX_ROUND);
  const pol = s.int(polRound!, 'proposal.polRound', -1, MAX_ROUND);
  if (pol >= r) throw invalid('PROPOSAL_INVALID', 'proposal.polRound must be below its round');
  const id = blockIdField(blockId!, 'proposal.blockId');
  if (isNil(id)) throw invalid('PROPOSAL_INVALID', 'a proposal names a block');
  return {
    height: s.u64(height!, 'proposal.height'),
    round: r,
    polRound: pol,
    blockId: id,
    signature: s.bytes(signature!, 'proposal.signature', SIGNATURE_BYTES),
  };
}

/** Checks a vote against the validator set of its height: index, address and signature. */
export function verifyVote(chainId: string, vote: Vote, set: ValidatorSet): void {
  const validator = set.validators[vote.validatorIndex];
  if (validator === undefined)
    throw invalid('VOTE_UNKNOWN_VALIDATOR', 'vote from a validator index outside the set');
  if (!equalBytes(validator.address, vote.validatorAddress)) {
    throw invalid('VOTE_UNKNOWN_VALIDATOR', 'vote address does not match the validator at its index');
  }
  if (!verifySignature(validator.pubKey, voteSignBytes(chainId, vote), vote.signature)) {
    throw invalid('VOTE_BAD_SIGNATURE', 'vote signature does not verify');
  }
}

/** Checks a proposal's signature against the expected proposer's key. */
export function verifyProposal(chainId: string, proposal: Proposal, proposerPubKey: Uint8Array): void {
  if (!verifySignature(proposerPubKey, proposalSignBytes(chainId, proposal), proposal.signature)) {
    throw invalid('PROPOSAL_BAD_SIGNATURE', 'proposal is not signed by the proposer of its round');
  }
}
