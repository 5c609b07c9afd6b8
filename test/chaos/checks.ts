/**
 * What every chaos scenario must leave true, checked after the last fault has healed:
 * - recovery (the harness's ensureLive, with a margin): every node reaches the same height within
 *   a bound, and the chain commits again;
 * - safety: every node has the same block id at every height they share;
 * - no acknowledged tx lost: every tx acknowledged as committed is in the final chain exactly
 *   once, in the block of the height it was acknowledged at;
 * - evidence: no validator is caught double-signing, except the one a scenario makes equivocate,
 *   whose evidence must be in a block.
 */
import { sha256 } from '../../packages/crypto/hash.ts';
import type { Consortium } from '../e2e/harness.ts';
import type { Ack } from './load.ts';

type BlockJson = {
  block_id: { hash: string };
  block: {
    data: { txs: string[] };
    evidence: { evidence: { value: { vote_a: { validator_address: string } } }[] };
  };
};

export interface ChainFacts {
  readonly height: bigint;
  /** Times each tx hash (upper-case hex) appears in blocks 1..height, and the heights. */
  readonly txs: Map<string, bigint[]>;
  /** Validator addresses named by committed evidence. */
  readonly equivocators: Set<string>;
}

/** Compares every node's block ids up to `height`, and reads node 0's chain for txs and evidence. */
export async function chainFacts(
  net: Consortium,
  nodes: readonly number[],
  height: bigint,
): Promise<ChainFacts> {
  const txs = new Map<string, bigint[]>();
  const equivocators = new Set<string>();
  for (let h = 1n; h <= height; h++) {
    const blocks = await Promise.all(nodes.map((i) => net.rpc<BlockJson>(i, `/block?height=${h}`, 10_000)));
    const ids = new Set(blocks.map((b) => b.block_id.hash));
    if (ids.size !== 1)
      throw new Error(`safety: nodes ${nodes.join(',')} disagree at height ${h}: ${[...ids].join(' vs ')}`);
    const block = blocks[0]!.block;
    for (const tx of block.data.txs ?? []) {
      const hash = Buffer.from(sha256(Buffer.from(tx, 'base64')))
        .toString('hex')
        .toUpperCase();
      txs.set(hash, [...(txs.get(hash) ?? []), h]);
    }
    for (const e of block.evidence?.evidence ?? []) equivocators.add(e.value.vote_a.validator_address);
  }
  return { height, txs, equivocators };
}

/** Every acknowledged tx is in the chain exactly once, at its acknowledged height. */
export function noAckLost(acks: readonly Ack[], facts: ChainFacts): void {
  for (const ack of acks) {
    const heights = facts.txs.get(ack.hash) ?? [];
    if (heights.length !== 1)
      throw new Error(
        `tx ${ack.hash} acknowledged at height ${ack.height} is in the chain ${heights.length} times`,
      );
    if (heights[0] !== ack.height)
      throw new Error(`tx ${ack.hash} acknowledged at height ${ack.height} is at height ${heights[0]}`);
  }
}
