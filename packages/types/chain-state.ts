/**
 * The chain state that consensus needs between heights, as CometBFT's `state.State`: the last
 * committed block, the validator sets of the next heights, and the app hash. It is never changed
 * in place: each committed block makes the next state (`applyBlock`). This module also builds a
 * proposal's block and checks a proposed block against the state; it does no I/O.
 *
 * Validator-set changes returned by the application for height H take effect at H+2: the set of
 * H+1 was fixed when H-1 committed, so no height ever mixes two sets.
 *
 * It lives in packages/ (not state/) because both the node and the consensus simulator build and
 * check blocks with it, and consensus/ may import only packages/.
 */

import { type Canonical, decode, encode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { CareLedgerError, hasCode, invalid } from '../core/errors.ts';
import { equalBytes, merkleRoot, sha256, toHex } from '../crypto/hash.ts';
import {
  type Block,
  type BlockLimits,
  blockIdOf,
  evidenceHashOf,
  type Header,
  MAX_BLOCK_TXS_BYTES,
  txHash,
  validateBlockBody,
  withTxHashes,
} from './block.ts';
import {
  type Commit,
  commitFields,
  commitFromFields,
  commitHash,
  type DuplicateVoteEvidence,
  evidenceHash,
  verifyCommit,
  verifyEvidence,
} from './commit.ts';
import { type Genesis, genesisValidatorSet } from './genesis.ts';
import {
  decodeValidatorSetFields,
  encodeValidatorSetFields,
  indexOfAddress,
  makeValidatorSet,
  newValidator,
  type Validator,
  type ValidatorSet,
  validatorSetHash,
} from './validator.ts';
import { applyValidatorUpdates, type HeightStart, newValidatorSet, rotateProposer } from './validator-set.ts';

/** A validator set with the proposer of round 0 of the height it serves. */
export interface RotatingSet {
  readonly set: ValidatorSet;
  readonly proposer: number;
}

export interface ValidatorUpdate {
  readonly pubKey: Uint8Array;
  /** 0 removes the validator. */
  readonly power: bigint;
}

export interface ChainState {
  readonly chainId: string;
  readonly initialHeight: bigint;
  readonly blockLimits: BlockLimits;
  /** Height of the last committed block (initialHeight - 1 before the first). */
  readonly lastHeight: bigint;
  readonly lastBlockId: Uint8Array;
  readonly lastBlockTime: bigint;
  readonly lastCommit: Commit | null;
  /** The set that signed lastCommit. */
  readonly lastValidators: RotatingSet | null;
  /** The set of lastHeight + 1. */
  readonly validators: RotatingSet;
  /** The set of lastHeight + 2. */
  readonly nextValidators: RotatingSet;
  /** App hash after executing the last block: goes into the next header. */
  readonly appHash: Uint8Array;
  readonly lastResultsHash: Uint8Array;
  /** Evidence maximum age, in heights. */
  readonly evidenceMaxAge: bigint;
}

function advance(set: RotatingSet, times: number): RotatingSet {
  const rotated = rotateProposer(set.set.validators, times);
  return {
    set: { validators: rotated.validators, totalVotingPower: set.set.totalVotingPower },
    proposer: rotated.proposer,
  };
}

export function genesisState(genesis: Genesis, appHash: Uint8Array): ChainState {
  const initial = newValidatorSet(genesisValidatorSet(genesis).validators);
  const validators: RotatingSet = { set: makeValidatorSet(initial.validators), proposer: initial.proposer };
  return {
    chainId: genesis.chainId,
    initialHeight: genesis.initialHeight,
    blockLimits: genesis.blockLimits,
    lastHeight: genesis.initialHeight - 1n,
    lastBlockId: new Uint8Array(0),
    lastBlockTime: genesis.genesisTime,
    lastCommit: null,
    lastValidators: null,
    validators,
    nextValidators: advance(validators, 1),
    appHash,
    lastResultsHash: sha256(),
    evidenceMaxAge: 100_000n,
  };
}

/** What the consensus core needs to start the next height. */
export function nextHeightStart(chain: ChainState): HeightStart {
  return {
    height: chain.lastHeight + 1n,
    validators: chain.validators.set,
    proposer: chain.validators.proposer,
  };
}

/** The header and body of a new block on top of `chain`. */
export function buildBlock(
  chain: ChainState,
  body: {
    readonly txs: readonly Uint8Array[];
    /** The txs' hashes, if the caller has them (each `txHash` of its tx, computed locally). */
    readonly txHashes?: readonly Uint8Array[];
    readonly evidence: readonly DuplicateVoteEvidence[];
    readonly time: bigint;
    readonly proposer: Uint8Array;
  },
): Block {
  const txHashes = body.txHashes ?? body.txs.map(txHash);
  const header: Header = {
    chainId: chain.chainId,
    height: chain.lastHeight + 1n,
    // Block time strictly increases, even if the proposer's clock is behind.
    time: body.time > chain.lastBlockTime ? body.time : chain.lastBlockTime + 1n,
    lastBlockId: chain.lastBlockId,
    lastCommitHash: commitHash(chain.lastCommit),
    dataHash: merkleRoot(txHashes),
    validatorsHash: validatorSetHash(chain.validators.set),
    nextValidatorsHash: validatorSetHash(chain.nextValidators.set),
    appHash: chain.appHash,
    lastResultsHash: chain.lastResultsHash,
    evidenceHash: evidenceHashOf(body.evidence),
    proposerAddress: body.proposer,
  };
  return withTxHashes(
    { header, txs: body.txs, evidence: body.evidence, lastCommit: chain.lastCommit },
    txHashes,
  );
}

/**
 * How far ahead of a validator's clock a proposed block's time may be. The chain's time (the
 * health app's clock for consents and expiries) only moves forward, so one proposer with a clock
 * years ahead, or a forged time, would otherwise move it there for good.
 */
export const MAX_BLOCK_TIME_AHEAD_MS = 5_000n;

/**
 * A proposal's own check of its block time against this node's clock (`nowMs`, Unix ms): not part
 * of validateBlock, which must give every node, and a node syncing years later, the same answer.
 */
export function checkBlockTimeNotAhead(header: Header, nowMs: bigint): void {
  if (header.time > nowMs + MAX_BLOCK_TIME_AHEAD_MS) {
    throw invalid(
      'BLOCK_TIME_AHEAD',
      `block time is ${header.time - nowMs} ms ahead of this node's clock (at most ${MAX_BLOCK_TIME_AHEAD_MS})`,
    );
  }
}

export interface EvidenceLookup {
  /** True if this evidence (by hash) is already in a committed block. */
  isCommitted(hash: Uint8Array): boolean;
  /** The validator set of a past height, to verify evidence against. */
  validatorsAt(height: bigint): ValidatorSet | undefined;
}

/**
 * Which of the pending evidence (by key) a block built on `chain` may carry, by validateBlock's
 * rules: a committed height within `evidenceMaxAge`, not committed before, at most `max`. `stale`
 * is the evidence no later block can carry either (too old, or committed), to drop from the pool;
 * kept there, it would make every block this node proposes invalid.
 */
export function evidenceForBlock(
  chain: ChainState,
  pending: Iterable<readonly [string, DuplicateVoteEvidence]>,
  isCommitted: (hash: Uint8Array) => boolean,
  max: number,
): { readonly take: DuplicateVoteEvidence[]; readonly stale: string[] } {
  const take: DuplicateVoteEvidence[] = [];
  const stale: string[] = [];
  for (const [key, e] of pending) {
    const height = e.voteA.height;
    if (chain.lastHeight - height > chain.evidenceMaxAge || isCommitted(evidenceHash(e))) stale.push(key);
    else if (height <= chain.lastHeight && take.length < max) take.push(e);
  }
  return { take, stale };
}

/**
 * Checks a proposed block against the chain: everything except the application's own checks.
 * Throws a CareLedgerError (action reject) naming the first problem.
 */
export function validateBlock(chain: ChainState, block: Block, evidence: EvidenceLookup): void {
  const h = block.header;
  const fail = (message: string): never => {
    throw invalid('BLOCK_INVALID', message);
  };
  if (h.chainId !== chain.chainId) fail('block is for another chain');
  if (h.height !== chain.lastHeight + 1n) fail(`block height ${h.height} is not ${chain.lastHeight + 1n}`);
  if (!equalBytes(h.lastBlockId, chain.lastBlockId)) fail('block does not extend the last committed block');
  if (h.time <= chain.lastBlockTime) fail('block time does not increase');
  if (!equalBytes(h.validatorsHash, validatorSetHash(chain.validators.set))) fail('wrong validators hash');
  if (!equalBytes(h.nextValidatorsHash, validatorSetHash(chain.nextValidators.set)))
    fail('wrong next validators hash');
  if (!equalBytes(h.appHash, chain.appHash)) fail('wrong app hash');
  if (!equalBytes(h.lastResultsHash, chain.lastResultsHash)) fail('wrong last results hash');
  if (indexOfAddress(chain.validators.set, h.proposerAddress) < 0) fail('proposer is not a validator');
  if (block.txs.length > chain.blockLimits.maxTxs) fail('too many txs');
  // Blocks decoded from bytes were held to maxTxBytes already; one filled in from a mempool or
  // from peers (a proposal by hashes) is checked here.
  let txsBytes = 0;
  for (const tx of block.txs) {
    if (tx.length > chain.blockLimits.maxTxBytes) fail(`a tx of ${tx.length} bytes is over max_tx_bytes`);
    txsBytes += tx.length;
  }
  if (txsBytes > MAX_BLOCK_TXS_BYTES) fail(`${txsBytes} bytes of txs is over ${MAX_BLOCK_TXS_BYTES}`);
  if (block.evidence.length > chain.blockLimits.maxEvidence) fail('too much evidence');
  validateBlockBody(block);
  if (block.lastCommit !== null) {
    if (chain.lastValidators === null || block.lastCommit.height !== chain.lastHeight)
      fail('last commit is for another height');
    verifyCommit(chain.chainId, block.lastCommit, chain.lastValidators!.set, chain.lastBlockId);
  }
  const seen = new Set<string>();
  for (const e of block.evidence) {
    const hash = toHex(evidenceHash(e));
    if (seen.has(hash) || evidence.isCommitted(evidenceHash(e))) fail('evidence already committed');
    seen.add(hash);
    try {
      checkEvidence(chain, e, (h) => evidence.validatorsAt(h));
    } catch (err) {
      // Evidence a block may not carry yet or any more is the block's fault, as a false proof is.
      if (hasCode(err, 'EVIDENCE_OUT_OF_RANGE')) fail((err as Error).message);
      throw err;
    }
  }
}

/**
 * Checks one evidence against the chain, as validateBlock checks each a block carries and a node
 * checks a peer's gossiped evidence before it enters the pool: its height committed and within
 * the maximum age, its votes a proven equivocation by a member of that height's validator set.
 * Throws EVIDENCE_OUT_OF_RANGE (action ignore: a peer ahead of or behind us holds it honestly), or
 * the proof's own failure (EVIDENCE_INVALID, VOTE_BAD_SIGNATURE, …; action reject).
 */
export function checkEvidence(
  chain: ChainState,
  e: DuplicateVoteEvidence,
  validatorsAt: EvidenceLookup['validatorsAt'],
): void {
  const height = e.voteA.height;
  const outOfRange = (message: string) => new CareLedgerError('EVIDENCE_OUT_OF_RANGE', message, 'ignore');
  if (height > chain.lastHeight || chain.lastHeight - height > chain.evidenceMaxAge)
    throw outOfRange(`evidence height ${height} out of range`);
  const set = validatorsAt(height);
  if (set === undefined) throw outOfRange(`evidence height ${height} has no known validator set`);
  verifyEvidence(chain.chainId, e, set);
}

/**
 * The state after committing `block` with `commit`, given what the application returned:
 * its new app hash, the hash of the txs' results, and validator updates (effective at H+2).
 */
export function applyBlock(
  chain: ChainState,
  block: Block,
  commit: Commit,
  result: {
    readonly appHash: Uint8Array;
    readonly resultsHash: Uint8Array;
    readonly validatorUpdates: readonly ValidatorUpdate[];
  },
): ChainState {
  let next = chain.nextValidators;
  if (result.validatorUpdates.length > 0) {
    const changes: Validator[] = result.validatorUpdates.map((u) => ({
      ...newValidator(u.pubKey, u.power),
      votingPower: u.power,
    }));
    try {
      const updated = applyValidatorUpdates(next.set.validators, changes);
      next = { set: makeValidatorSet(updated), proposer: next.proposer };
    } catch (err) {
      throw new CareLedgerError(
        'VALIDATOR_UPDATE_INVALID',
        `application returned invalid validator updates: ${(err as Error).message}`,
      );
    }
  }
  return {
    ...chain,
    lastHeight: block.header.height,
    lastBlockId: blockIdOf(block.header),
    lastBlockTime: block.header.time,
    lastCommit: commit,
    lastValidators: chain.validators,
    validators: chain.nextValidators,
    nextValidators: advance(next, 1),
    appHash: result.appHash,
    lastResultsHash: result.resultsHash,
  };
}

function rotatingFields(set: RotatingSet): Canonical {
  return [encodeValidatorSetFields(set.set), set.proposer];
}

function rotatingFromFields(value: Canonical, what: string): RotatingSet {
  const [validators, proposer] = s.tuple(value, 2, what);
  // Sets are always stored sorted (power, then address), so decoding keeps the proposer's index.
  const set = decodeValidatorSetFields(validators!);
  return { set, proposer: s.int(proposer!, `${what}.proposer`, 0, set.validators.length - 1) };
}

/** The chain state's canonical bytes, stored with every committed block. */
export function encodeChainState(chain: ChainState): Uint8Array {
  return encode([
    chain.chainId,
    chain.initialHeight,
    [chain.blockLimits.maxTxs, chain.blockLimits.maxTxBytes, chain.blockLimits.maxEvidence],
    chain.lastHeight,
    chain.lastBlockId,
    chain.lastBlockTime,
    chain.lastCommit === null ? null : commitFields(chain.lastCommit),
    chain.lastValidators === null ? null : rotatingFields(chain.lastValidators),
    rotatingFields(chain.validators),
    rotatingFields(chain.nextValidators),
    chain.appHash,
    chain.lastResultsHash,
    chain.evidenceMaxAge,
  ]);
}

export function decodeChainState(bytes: Uint8Array): ChainState {
  const f = s.tuple(decode(bytes), 13, 'chain state');
  const [maxTxs, maxTxBytes, maxEvidence] = s.tuple(f[2]!, 3, 'chain state.blockLimits');
  return {
    chainId: s.string(f[0]!, 'chainId', 50),
    initialHeight: s.u64(f[1]!, 'initialHeight'),
    blockLimits: {
      maxTxs: s.int(maxTxs!, 'maxTxs', 1, 2 ** 31),
      maxTxBytes: s.int(maxTxBytes!, 'maxTxBytes', 1, 2 ** 31),
      maxEvidence: s.int(maxEvidence!, 'maxEvidence', 0, 2 ** 31),
    },
    lastHeight: s.u64(f[3]!, 'lastHeight'),
    lastBlockId: s.bytes(f[4]!, 'lastBlockId'),
    lastBlockTime: s.u64(f[5]!, 'lastBlockTime'),
    lastCommit: f[6] === null ? null : commitFromFields(f[6]!),
    lastValidators: f[7] === null ? null : rotatingFromFields(f[7]!, 'lastValidators'),
    validators: rotatingFromFields(f[8]!, 'validators'),
    nextValidators: rotatingFromFields(f[9]!, 'nextValidators'),
    appHash: s.bytes(f[10]!, 'appHash'),
    lastResultsHash: s.bytes(f[11]!, 'lastResultsHash'),
    evidenceMaxAge: s.u64(f[12]!, 'evidenceMaxAge'),
  };
}
