/**
 * The consensus wire messages, in the canonical encoding: a proposal travels with its block; a
 * status tells peers our height and round (a peer ahead answers with a catch-up); a catch-up
 * carries a decided block with its commit, for a node that fell behind a height.
 */
import { type Canonical, decode, encode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { invalid } from '../packages/core/errors.ts';
import {
  type Block,
  type BlockLimits,
  blockFields,
  blockFromFields,
  defaultBlockLimits,
} from '../packages/types/block.ts';
import { type Commit, commitFields, commitFromFields } from '../packages/types/commit.ts';
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

const Tag = { proposal: 1, vote: 2, status: 3, catchUp: 4 } as const;

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
