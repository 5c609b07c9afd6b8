/**
 * The consensus wire messages, in the canonical encoding: a proposal travels with its block (in
 * the WAL; between nodes as a proposal by hashes, below); a status tells peers our
 * height and round (a peer ahead answers with a catch-up); a catch-up carries a decided block with
 * its commit, for a node that fell behind a height.
 */
import { type Canonical, decode, encode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { invalid } from '../packages/core/errors.ts';
import { HASH_BYTES } from '../packages/crypto/hash.ts';
import {
  type Block,
  type BlockLimits,
  blockFields,
  blockFromFields,
  blockTxHashes,
  defaultBlockLimits,
  type Header,
} from '../packages/types/block.ts';
import {
  type Commit,
  commitFields,
  commitFromFields,
  type DuplicateVoteEvidence,
  evidenceFields,
  evidenceFromFields,
} from '../packages/types/commit.ts';
import {
  MAX_ROUND,
  type Proposal,
  proposalFields,
  proposalFromFields,
  type Vote,
  voteFields,
  voteFromFields,
} from '../packages/types/vote.ts';

export type ConsensusMessage =
  | { readonly kind: 'proposal'; readonly proposal: Proposal; readonly block: Block }
  | { readonly kind: 'vote'; readonly vote: Vote }
  | { readonly kind: 'status'; readonly height: bigint; readonly round: number }
  | { readonly kind: 'catch-up'; readonly block: Block; readonly commit: Commit };

const Tag = { proposal: 1, vote: 2, status: 3, catchUp: 4, proposalByHashes: 5, evidence: 6 } as const;

/**
 * A proposal as nodes gossip it: the block with each tx replaced by its hash (on the wire, the
 * block tuple's tx list holds the hashes). Every validator already holds nearly all of a block's
 * txs in its mempool, so this carries 32 bytes per tx instead of the tx; the receiver fills the
 * block in from its mempool and fetches the few it lacks (node/proposal-txs.ts), then checks it as
 * any proposal: the header's data hash commits to the hashes, the proposal's signature to the
 * header. A node that does not know this tag rejects it: every member must run a node that does.
 */
export interface ProposalByHashes {
  readonly proposal: Proposal;
  /** The block without its txs: header, evidence, last commit. */
  readonly header: Header;
  readonly evidence: Block['evidence'];
  readonly lastCommit: Block['lastCommit'];
  readonly txHashes: readonly Uint8Array[];
}

/** The wire form of a proposal and its block: the block's tx hashes (hashed once per block) in place of its txs. */
export function encodeProposalByHashes(proposal: Proposal, block: Block): Uint8Array {
  return encode([
    Tag.proposalByHashes,
    proposalFields(proposal),
    blockFields({ ...block, txs: blockTxHashes(block) }),
  ]);
}

/** Whether these bytes are a proposal by hashes (a 3-tuple with its tag), without decoding them. */
export function isProposalByHashes(bytes: Uint8Array): boolean {
  return bytes[0] === FIXARRAY_3 && bytes[1] === Tag.proposalByHashes;
}

/**
 * Whether these bytes are a proposal with its whole block inside (the form the WAL keeps), without
 * decoding them. Nodes send proposals by hashes, so a node refuses this form from a peer.
 */
export function isFullProposal(bytes: Uint8Array): boolean {
  return bytes[0] === FIXARRAY_3 && bytes[1] === Tag.proposal;
}

/** A fixed-length array of 3 in MessagePack: the canonical encoding's header for our 3-tuples. */
const FIXARRAY_3 = 0x93;

export function decodeProposalByHashes(
  bytes: Uint8Array,
  limits: BlockLimits = defaultBlockLimits,
): ProposalByHashes {
  const [tag, proposal, block] = s.tuple(decode(bytes), 3, 'proposal by hashes');
  if (tag !== Tag.proposalByHashes) throw invalid('MESSAGE_INVALID', 'not a proposal by hashes');
  const hashed = blockFromFields(block!, { ...limits, maxTxBytes: HASH_BYTES });
  for (const [i, hash] of hashed.txs.entries()) {
    if (hash.length !== HASH_BYTES)
      throw invalid('CODEC_SCHEMA', `block.txs[${i}]: expected a 32-byte tx hash`);
  }
  const { header, evidence, lastCommit } = hashed;
  return { proposal: proposalFromFields(proposal!), header, evidence, lastCommit, txHashes: hashed.txs };
}

/**
 * Evidence as the evidence reactor gossips it (consensus/evidence-pool.ts): a list of at most
 * `max_evidence` duplicate-vote evidence, checked by the receiver against the validator set of
 * each one's height. Not a ConsensusMessage: it goes to the evidence pool, not the driver.
 */
export function encodeEvidenceList(evidence: readonly DuplicateVoteEvidence[]): Uint8Array {
  return encode([Tag.evidence, evidence.map(evidenceFields)]);
}

/** Whether these bytes are an evidence list (a 2-tuple with its tag), without decoding them. */
export function isEvidenceList(bytes: Uint8Array): boolean {
  return bytes[0] === FIXARRAY_2 && bytes[1] === Tag.evidence;
}

const FIXARRAY_2 = 0x92;

export function decodeEvidenceList(
  bytes: Uint8Array,
  limits: BlockLimits = defaultBlockLimits,
): DuplicateVoteEvidence[] {
  const [tag, list] = s.tuple(decode(bytes), 2, 'evidence list');
  if (tag !== Tag.evidence) throw invalid('MESSAGE_INVALID', 'not an evidence list');
  return s.list(list!, limits.maxEvidence, 'evidence list').map(evidenceFromFields);
}

function fields(m: ConsensusMessage): Canonical {
  switch (m.kind) {
    case 'proposal':
      return [Tag.proposal, proposalFields(m.proposal), blockFields(m.block)];
    case 'vote':
      return [Tag.vote, voteFields(m.vote)];
    case 'status':
      return [Tag.status, m.height, m.round];
    case 'catch-up':
      return [Tag.catchUp, blockFields(m.block), commitFields(m.commit)];
  }
}

export function encodeMessage(m: ConsensusMessage): Uint8Array {
  return encode(fields(m));
}

export function decodeMessage(bytes: Uint8Array, limits: BlockLimits = defaultBlockLimits): ConsensusMessage {
  const value = decode(bytes);
  if (!Array.isArray(value) || value.length === 0)
    throw invalid('MESSAGE_INVALID', 'consensus message must be a tagged tuple');
  const tag = value[0];
  switch (tag) {
    case Tag.proposal: {
      const [, proposal, block] = s.tuple(value, 3, 'proposal message');
      return {
        kind: 'proposal',
        proposal: proposalFromFields(proposal!),
        block: blockFromFields(block!, limits),
      };
    }
    case Tag.vote: {
      const [, vote] = s.tuple(value, 2, 'vote message');
      return { kind: 'vote', vote: voteFromFields(vote!) };
    }
    case Tag.status: {
      const [, height, round] = s.tuple(value, 3, 'status message');
      return {
        kind: 'status',
        height: s.u64(height!, 'status.height'),
        round: s.int(round!, 'status.round', 0, MAX_ROUND),
      };
    }
    case Tag.catchUp: {
      const [, block, commit] = s.tuple(value, 3, 'catch-up message');
      return { kind: 'catch-up', block: blockFromFields(block!, limits), commit: commitFromFields(commit!) };
    }
    default:
      throw invalid('MESSAGE_INVALID', `unknown consensus message tag ${String(tag)}`);
  }
}
