/**
 * The consensus methods (CometBFT's rpc/core/consensus.go): validators (paged), consensus_params
 * and consensus_state (the round being decided, its votes in CometBFT's text form).
 */
import type { VoteType } from '../../packages/types/vote.ts';
import { heightOf } from './blocks.ts';
import { consensusParamsJson, hexUpper, validatorJson, ZERO_TIME } from './format.ts';
import { methodError } from './jsonrpc.ts';
import { pageOf, perPageOf } from './params.ts';
import type { RpcNode } from './rpc-node.ts';
import type { MethodTable } from './server.ts';

export type ConsensusNode = Pick<RpcNode, 'chain' | 'blocks' | 'driver'>;

const STEP_NUMBER: Record<string, number> = { propose: 3, prevote: 4, precommit: 6 };
const VOTE_NAMES: Record<number, string> = {
  1: 'SIGNED_MSG_TYPE_PREVOTE(Prevote)',
  2: 'SIGNED_MSG_TYPE_PRECOMMIT(Precommit)',
};

function fingerprint(bytes: Uint8Array): string {
  return hexUpper(bytes.subarray(0, 6));
}

export function consensusMethods(node: ConsensusNode): MethodTable {
  return {
    validators: {
      params: ['height', 'page', 'per_page'],
      run: async (params) => {
        // As CometBFT: the latest height here is the next one, whose set is already known.
        const height = heightOf(node, params, node.chain.lastHeight + 1n);
        const set = node.blocks.validatorsAt(height);
        if (set === undefined) throw methodError(`could not find validator set for height #${height}`);
        const total = set.validators.length;
        const perPage = perPageOf(params);
        const page = pageOf(params, perPage, total);
        const slice = set.validators.slice((page - 1) * perPage, page * perPage);
        return {
          block_height: height.toString(),
          validators: slice.map(validatorJson),
          count: String(slice.length),
          total: String(total),
        };
      },
    },

    consensus_params: {
      params: ['height'],
      run: async (params) => {
        const height = heightOf(node, params, node.chain.lastHeight + 1n);
        return {
          block_height: height.toString(),
          consensus_params: consensusParamsJson(node.chain.blockLimits, node.chain.evidenceMaxAge),
        };
      },
    },

    consensus_state: { params: [], run: async () => roundState(node) },
  };
}

function roundState(node: ConsensusNode): Record<string, unknown> {
  const s = node.driver.consensusState;
  const validators = s.validators.validators;
  const total = s.validators.totalVotingPower;
  const votesOf = (round: number, type: VoteType) => {
    const set = type === 1 ? s.votes.prevotes(round) : s.votes.precommits(round);
    const byIndex = new Map<number, { blockId: Uint8Array; signature: Uint8Array }>();
    for (const v of set.allVotes()) if (!byIndex.has(v.validatorIndex)) byIndex.set(v.validatorIndex, v);
    let power = 0n;
    const bits = validators.map((val, i) => {
      if (!byIndex.has(i)) return '_';
      power += val.votingPower;
      return 'x';
    });
    const votes = validators.map((val, i) => {
      const v = byIndex.get(i);
      if (v === undefined) return 'nil-Vote';
      const block = v.blockId.length === 0 ? '000000000000' : fingerprint(v.blockId);
      return `Vote{${i}:${fingerprint(val.address)} ${s.height}/${String(round).padStart(2, '0')}/${VOTE_NAMES[type]} ${block} ${fingerprint(v.signature)} @ ${ZERO_TIME}}`;
    });
    const fraction = total === 0n ? '0.00' : (Number((power * 10000n) / total) / 10000).toFixed(2);
    return { votes, bitArray: `BA{${validators.length}:${bits.join('')}} ${power}/${total} = ${fraction}` };
  };
  const rounds = s.votes.roundsSeen().sort((a, b) => a - b);
  const proposerIndex = s.proposers.get(s.round) ?? -1;
  const proposal = s.proposals.get(s.round);
  return {
    round_state: {
      'height/round/step': `${s.height}/${s.round}/${STEP_NUMBER[s.step] ?? 1}`,
      start_time: ZERO_TIME,
      proposal_block_hash: proposal === undefined ? '' : hexUpper(proposal.value.id),
      locked_block_hash: s.lockedValue === null ? '' : hexUpper(s.lockedValue.id),
      valid_block_hash: s.validValue === null ? '' : hexUpper(s.validValue.id),
      height_vote_set: rounds.map((round) => {
        const prevotes = votesOf(round, 1);
        const precommits = votesOf(round, 2);
        return {
          round,
          prevotes: prevotes.votes,
          prevotes_bit_array: prevotes.bitArray,
          precommits: precommits.votes,
          precommits_bit_array: precommits.bitArray,
        };
      }),
      proposer: {
        address: proposerIndex < 0 ? '' : hexUpper(validators[proposerIndex]?.address ?? new Uint8Array(0)),
        index: proposerIndex,
      },
    },
  };
}
