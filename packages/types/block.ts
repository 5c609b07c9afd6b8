/**
 * Blocks and headers. The block id is the hash of the header, and the header commits to the
 * body (tx hashes, evidence, last commit), so a header plus its commit is all a light client needs.
 * The app hash in the header of height H is the state after executing block H-1 (as CometBFT).
 */
import {
  type Canonical,
  type DecodeLimits,
  decode,
  defaultDecodeLimits,
  encode,
} from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { invalid } from '../core/errors.ts';
import { equalBytes, HASH_BYTES, leafHash, merkleRoot, merkleRootOfLeaves, sha256 } from '../crypto/hash.ts';
import {
  type Commit,
  commitFields,
  commitFromFields,
  commitHash,
  type DuplicateVoteEvidence,
  evidenceFields,
  evidenceFromFields,
  evidenceHash,
} from './commit.ts';
import { ADDRESS_BYTES } from './validator.ts';

export const BLOCK_VERSION = 1;
export const MAX_CHAIN_ID_LENGTH = 50;

export interface BlockLimits {
  readonly maxTxs: number;
  readonly maxTxBytes: number;
  readonly maxEvidence: number;
}

/**
 * Most bytes of txs in one block, summed: a whole proposal (with header, last commit and
 * evidence) then fits a 4 MiB consensus WAL record and a 4 MiB catch-up message. A protocol
 * rule, checked by every validator (chain-state.ts validateBlock); proposers reap up to it.
 */
export const MAX_BLOCK_TXS_BYTES = 3.5 * 1024 * 1024;

export const defaultBlockLimits: BlockLimits = { maxTxs: 10_000, maxTxBytes: 64 * 1024, maxEvidence: 100 };

export interface Header {
  readonly chainId: string;
  readonly height: bigint;
  /** Unix time in milliseconds, chosen by the proposer, strictly increasing. */
  readonly time: bigint;
  /** Empty at the first height. */
  readonly lastBlockId: Uint8Array;
  readonly lastCommitHash: Uint8Array;
  readonly dataHash: Uint8Array;
  readonly validatorsHash: Uint8Array;
  readonly nextValidatorsHash: Uint8Array;
  readonly appHash: Uint8Array;
  readonly lastResultsHash: Uint8Array;
  readonly evidenceHash: Uint8Array;
  readonly proposerAddress: Uint8Array;
}

export interface Block {
  readonly header: Header;
  readonly txs: readonly Uint8Array[];
  readonly evidence: readonly DuplicateVoteEvidence[];
  /** The commit of the previous height; null at the first height. */
  readonly lastCommit: Commit | null;
}

export function headerFields(h: Header): Canonical {
  return [
    BLOCK_VERSION,
    h.chainId,
    h.height,
    h.time,
    h.lastBlockId,
    h.lastCommitHash,
    h.dataHash,
    h.validatorsHash,
    h.nextValidatorsHash,
    h.appHash,
    h.lastResultsHash,
    h.evidenceHash,
    h.proposerAddress,
  ];
}

export function headerFromFields(value: Canonical): Header {
  const f = s.tuple(value, 13, 'header');
  s.int(f[0]!, 'header.version', BLOCK_VERSION, BLOCK_VERSION);
  const lastBlockId = s.bytes(f[4]!, 'header.lastBlockId');
  if (lastBlockId.length !== 0 && lastBlockId.length !== HASH_BYTES) {
    throw invalid('CODEC_SCHEMA', 'header.lastBlockId: expected 0 or 32 bytes');
  }
  return {
    chainId: s.string(f[1]!, 'header.chainId', MAX_CHAIN_ID_LENGTH),
    height: s.u64(f[2]!, 'header.height'),
    time: s.u64(f[3]!, 'header.time'),
    lastBlockId,
    lastCommitHash: s.bytes(f[5]!, 'header.lastCommitHash', HASH_BYTES),
    dataHash: s.bytes(f[6]!, 'header.dataHash', HASH_BYTES),
    validatorsHash: s.bytes(f[7]!, 'header.validatorsHash', HASH_BYTES),
    nextValidatorsHash: s.bytes(f[8]!, 'header.nextValidatorsHash', HASH_BYTES),
    appHash: s.bytes(f[9]!, 'header.appHash', HASH_BYTES),
    lastResultsHash: s.bytes(f[10]!, 'header.lastResultsHash', HASH_BYTES),
    evidenceHash: s.bytes(f[11]!, 'header.evidenceHash', HASH_BYTES),
    proposerAddress: s.bytes(f[12]!, 'header.proposerAddress', ADDRESS_BYTES),
  };
}

/** The block id: the hash of the header's canonical bytes. */
export function blockIdOf(header: Header): Uint8Array {
  return sha256(encode(headerFields(header)));
}

export function txHash(tx: Uint8Array): Uint8Array {
  return sha256(tx);
}

export function dataHashOf(txs: readonly Uint8Array[]): Uint8Array {
  return merkleRoot(txs.map(txHash));
}

/** Each block's tx hashes, computed once per Block object (blocks are never mutated). */
const txHashesByBlock = new WeakMap<Block, readonly Uint8Array[]>();

/** The hashes of a block's txs, in order: hashed on first use, then carried with the block. */
export function blockTxHashes(block: Block): readonly Uint8Array[] {
  let hashes = txHashesByBlock.get(block);
  if (hashes === undefined) {
    hashes = block.txs.map(txHash);
    txHashesByBlock.set(block, hashes);
  }
  return hashes;
}

/**
 * Records the hashes of a block's txs that the caller already holds. Each must be `txHash` of the
 * tx at its index, computed on this node from the bytes (a mempool key, a verified fetch): never
 * a peer's claim, or the data hash check would trust it.
 */
export function withTxHashes(block: Block, hashes: readonly Uint8Array[]): Block {
  if (hashes.length !== block.txs.length) throw new Error('one hash per tx');
  txHashesByBlock.set(block, hashes);
  return block;
}

/**
 * The hash of a block's results that the next header carries (CometBFT's LastResultsHash): a
 * Merkle root over each tx's deterministic outcome (code and codespace), not its log or events.
 */
export function resultsHash(
  results: readonly { readonly code: number; readonly codespace: string }[],
): Uint8Array {
  return merkleRootOfLeaves(results.map(resultLeaf));
}

/** Leaf hashes of (code, codespace) outcomes seen so far: a block's results repeat a few outcomes. */
const resultLeaves = new Map<string, Uint8Array>();
const MAX_RESULT_LEAVES = 1024;

function resultLeaf(r: { readonly code: number; readonly codespace: string }): Uint8Array {
  const id = `${r.code}:${r.codespace}`;
  let leaf = resultLeaves.get(id);
  if (leaf === undefined) {
    leaf = leafHash(encode([r.code, r.codespace]));
    // Codespaces come from the application: remember a bounded number of distinct outcomes.
    if (resultLeaves.size < MAX_RESULT_LEAVES) resultLeaves.set(id, leaf);
  }
  return leaf;
}

export function evidenceHashOf(evidence: readonly DuplicateVoteEvidence[]): Uint8Array {
  return merkleRoot(evidence.map(evidenceHash));
}

export function blockFields(b: Block): Canonical {
  return [
    headerFields(b.header),
    b.txs,
    b.evidence.map(evidenceFields),
    b.lastCommit === null ? null : commitFields(b.lastCommit),
  ];
}

export function encodeBlock(b: Block): Uint8Array {
  return encode(blockFields(b));
}

export function blockFromFields(value: Canonical, limits: BlockLimits = defaultBlockLimits): Block {
  const [header, txs, evidence, lastCommit] = s.tuple(value, 4, 'block');
  return {
    header: headerFromFields(header!),
    txs: s
      .list(txs!, limits.maxTxs, 'block.txs')
      .map((tx, i) => s.boundedBytes(tx, `block.txs[${i}]`, limits.maxTxBytes)),
    evidence: s.list(evidence!, limits.maxEvidence, 'block.evidence').map(evidenceFromFields),
    lastCommit: lastCommit === null ? null : commitFromFields(lastCommit!),
  };
}

export function decodeBlock(
  bytes: Uint8Array,
  limits: BlockLimits = defaultBlockLimits,
  decodeLimits: DecodeLimits = defaultDecodeLimits,
): Block {
  return blockFromFields(decode(bytes, decodeLimits), limits);
}

/** Blocks whose body `validateBlockBody` found to match their header (blocks are never mutated). */
const bodyChecked = new WeakSet<Block>();

/**
 * Checks that the header commits to the body. Stateful checks (height, last block id, proposer,
 * validator hashes, commit signatures, app hash) need the chain and are done by the caller.
 */
export function validateBlockBody(b: Block): void {
  // A proposal is checked by consensus and again with the chain's checks: hash its body once.
  if (bodyChecked.has(b)) return;
  const h = b.header;
  if (!equalBytes(h.dataHash, merkleRoot(blockTxHashes(b))))
    throw invalid('BLOCK_INVALID', 'header.dataHash does not match the txs');
  if (!equalBytes(h.evidenceHash, evidenceHashOf(b.evidence))) {
    throw invalid('BLOCK_INVALID', 'header.evidenceHash does not match the evidence');
  }
  if (!equalBytes(h.lastCommitHash, commitHash(b.lastCommit))) {
    throw invalid('BLOCK_INVALID', 'header.lastCommitHash does not match the last commit');
  }
  if ((h.lastBlockId.length === 0) !== (b.lastCommit === null)) {
    throw invalid('BLOCK_INVALID', 'a block has a last commit exactly when it has a last block id');
  }
  if (b.lastCommit !== null && !equalBytes(b.lastCommit.blockId, h.lastBlockId)) {
    throw invalid('BLOCK_INVALID', 'last commit is not for the last block id');
  }
  bodyChecked.add(b);
}
