/**
 * Shared fixtures for the consensus and chain-state unit tests: deterministic validator keys,
 * validator sets with the key of each index, and hand-signed votes, proposals and commits.
 */
import { type KeyPair, keyPairFromSeed, signMessage } from '../../../packages/crypto/ed25519.ts';
import { equalBytes, sha256 } from '../../../packages/crypto/hash.ts';
import { defaultBlockLimits } from '../../../packages/types/block.ts';
import { genesisState } from '../../../packages/types/chain-state.ts';
import { type Commit, makeCommit } from '../../../packages/types/commit.ts';
import type { Genesis } from '../../../packages/types/genesis.ts';
import { makeValidatorSet, newValidator, type ValidatorSet } from '../../../packages/types/validator.ts';
import {
  type Proposal,
  proposalSignBytes,
  type Vote,
  VoteType,
  voteSignBytes,
} from '../../../packages/types/vote.ts';

export const CHAIN_ID = 'careledger-test';

const utf8 = new TextEncoder();

/** A deterministic key pair: the seed is the SHA-256 of the label. */
export function keyFor(label: string): KeyPair {
  return keyPairFromSeed(sha256(utf8.encode(label)));
}

/** A 32-byte block id derived from a label. */
export function idOf(label: string): Uint8Array {
  return sha256(utf8.encode(`block:${label}`));
}

/** A validator set and, for each index of the (sorted) set, its key pair. */
export interface Fixture {
  readonly set: ValidatorSet;
  readonly keys: readonly KeyPair[];
}

/** Validators `label-0`, `label-1`, … with the given powers; `keys[i]` signs for index i of the set. */
export function makeFixture(powers: readonly bigint[], label = 'validator'): Fixture {
  const pairs = powers.map((_, i) => keyFor(`${label}-${i}`));
  const set = makeValidatorSet(pairs.map((k, i) => newValidator(k.publicKey, powers[i]!)));
  const keys = set.validators.map((v) => pairs.find((k) => equalBytes(k.publicKey, v.pubKey))!);
  return { set, keys };
}

export function signedVote(
  fx: Fixture,
  index: number,
  type: VoteType,
  height: bigint,
  round: number,
  blockId: Uint8Array,
  chainId = CHAIN_ID,
): Vote {
  const signature = signMessage(
    fx.keys[index]!.secretKey,
    voteSignBytes(chainId, { type, height, round, blockId }),
  );
  return {
    type,
    height,
    round,
    blockId,
    validatorIndex: index,
    validatorAddress: fx.set.validators[index]!.address,
    signature,
  };
}

export const prevote = (
  fx: Fixture,
  index: number,
  height: bigint,
  round: number,
  blockId: Uint8Array,
): Vote => signedVote(fx, index, VoteType.prevote, height, round, blockId);

export const precommit = (
  fx: Fixture,
  index: number,
  height: bigint,
  round: number,
  blockId: Uint8Array,
): Vote => signedVote(fx, index, VoteType.precommit, height, round, blockId);

/** A proposal signed with the key of validator `signer` (the round's proposer, unless a test says otherwise). */
export function signedProposal(
  fx: Fixture,
  signer: number,
  height: bigint,
  round: number,
  polRound: number,
  blockId: Uint8Array,
  chainId = CHAIN_ID,
): Proposal {
  const unsigned = { height, round, polRound, blockId };
  return {
    ...unsigned,
    signature: signMessage(fx.keys[signer]!.secretKey, proposalSignBytes(chainId, unsigned)),
  };
}

/** A commit for `blockId` signed by the validators in `signers` (the others absent). */
export function signedCommit(
  fx: Fixture,
  signers: readonly number[],
  height: bigint,
  round: number,
  blockId: Uint8Array,
): Commit {
  const votes: (Vote | undefined)[] = [];
  for (const i of signers) votes[i] = precommit(fx, i, height, round, blockId);
  return makeCommit(height, round, blockId, votes, fx.set.validators.length);
}

export const GENESIS_TIME = 1_700_000_000_000n;

/** A genesis of validators `label-i` with the given powers, its chain state, and keys by set index. */
export function makeChain(powers: readonly bigint[], label = 'validator') {
  const pairs = powers.map((_, i) => keyFor(`${label}-${i}`));
  const genesis: Genesis = {
    chainId: CHAIN_ID,
    genesisTime: GENESIS_TIME,
    initialHeight: 1n,
    validators: pairs.map((k, i) => ({ name: `${label}-${i}`, pubKey: k.publicKey, power: powers[i]! })),
    blockLimits: defaultBlockLimits,
  };
  const chain = genesisState(genesis, sha256(utf8.encode(`app:${label}`)));
  const set = chain.validators.set;
  const keys = set.validators.map((v) => pairs.find((k) => equalBytes(k.publicKey, v.pubKey))!);
  const fx: Fixture = { set, keys };
  return { genesis, chain, fx };
}
