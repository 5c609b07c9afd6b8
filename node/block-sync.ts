/**
 * Block sync between nodes (the sync request ['blocks', from, to], node/README.md): the answer a
 * node gives, how the asking node reads it, and which peer it asks.
 *
 * An answer is the list of [block, commit] pairs from `from` on, at most SYNC_BATCH of them, and
 * it stops before SYNC_ANSWER_BYTES (one block always goes: a block fits in 4 MiB), so it stays
 * under the p2p host's response limit, which is also the most the asking node decodes. A node
 * that asks checks that the answer continues its chain from `from`; each commit is then verified
 * against the validator set and each block validated before it is committed (node.ts).
 */

import { defaultP2POptions } from '../p2p/host.ts';
import {
  type Canonical,
  type DecodeLimits,
  decode,
  defaultDecodeLimits,
  encode,
} from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { CareLedgerError, invalid } from '../packages/core/errors.ts';
import { type Block, type BlockLimits, blockFields, blockFromFields } from '../packages/types/block.ts';
import { type Commit, commitFields, commitFromFields } from '../packages/types/commit.ts';
import { MAX_VALIDATORS } from '../packages/types/validator.ts';

/** Most blocks in one answer. */
export const SYNC_BATCH = 20;
/** An answer stops before this many bytes: under the host's response limit, with room to spare. */
export const SYNC_ANSWER_BYTES = 12 * 1024 * 1024;

/** The answer to ['blocks', first, last]: the stored blocks and commits in that range, from `first` on. */
export async function answerBlocksRequest(
  first: bigint,
  last: bigint,
  read: (height: bigint) => Promise<{ block: Block; commit: Commit } | null>,
  maxBytes: number = SYNC_ANSWER_BYTES,
): Promise<Uint8Array> {
  const out: Canonical[] = [];
  let bytes = 0;
  for (let h = first; h <= last && out.length < SYNC_BATCH; h++) {
    const stored = await read(h);
    if (stored === null) break;
    const pair = [blockFields(stored.block), commitFields(stored.commit)];
    const size = encode(pair).length;
    if (out.length > 0 && bytes + size > maxBytes) break;
    out.push(pair);
    bytes += size;
  }
  return encode(out);
}

/** What a blocks answer may hold, for a chain with `limits`: enough for SYNC_BATCH valid blocks. */
export function blocksAnswerLimits(limits: BlockLimits): DecodeLimits {
  // Per block: its txs, the signatures of two commits (its last commit and its own), its
  // evidence (two votes each), and the fields around them.
  const perBlock = limits.maxTxs + 16 * MAX_VALIDATORS + 64 * limits.maxEvidence + 64;
  return {
    maxBytes: defaultP2POptions.maxResponseBytes,
    maxDepth: defaultDecodeLimits.maxDepth,
    maxItems: SYNC_BATCH * perBlock,
  };
}

/**
 * The blocks of an answer to ['blocks', from, …], checked to follow on from `from` one height at
 * a time. An empty answer is SYNC_NO_BLOCKS (the peer claimed a height it does not serve).
 */
export function readBlocksAnswer(
  bytes: Uint8Array,
  from: bigint,
  limits: BlockLimits,
): { block: Block; commit: Commit }[] {
  const items = s.list(decode(bytes, blocksAnswerLimits(limits)), SYNC_BATCH, 'blocks');
  if (items.length === 0) throw new CareLedgerError('SYNC_NO_BLOCKS', `the peer has no block ${from}`);
  return items.map((item, i) => {
    const [blockValue, commitValue] = s.tuple(item, 2, 'synced block');
    const block = blockFromFields(blockValue!, limits);
    if (block.header.height !== from + BigInt(i))
      throw invalid('SYNC_BAD_ANSWER', `block ${i} of the answer is not height ${from + BigInt(i)}`);
    return { block, commit: commitFromFields(commitValue!) };
  });
}

/**
 * Which peer to block-sync from: the highest height each peer has claimed, and the peers that
 * failed a sync request, which are not asked again for `skipMs`. A claim is only a claim: a peer
 * that says it is far ahead and then answers with an error, nothing, or blocks that do not follow
 * ours must not hold the sync; the next best peer is asked instead.
 */
export class SyncPeers {
  private readonly skipMs: number;
  private readonly now: () => number;
  private readonly heights = new Map<string, bigint>();
  private readonly skipUntil = new Map<string, number>();

  constructor(skipMs: number, now: () => number = Date.now) {
    this.skipMs = skipMs;
    this.now = now;
  }

  /** A peer says it is at `height` (claims only rise: a status can arrive late). */
  claim(peer: string, height: bigint): void {
    if (height > (this.heights.get(peer) ?? -1n)) this.heights.set(peer, height);
  }

  /** The peer disconnected: its claim goes with it (a skip stays: reconnecting does not end it). */
  forget(peer: string): void {
    this.heights.delete(peer);
  }

  /** The peer failed a sync request: skip it for a while, and drop its claim. */
  failed(peer: string): void {
    this.heights.delete(peer);
    this.skipUntil.set(peer, this.now() + this.skipMs);
  }

  /** The peer with the highest claim that is not being skipped, or null if there is none. */
  best(): { readonly peer: string; readonly height: bigint } | null {
    const t = this.now();
    let best: { peer: string; height: bigint } | null = null;
    for (const [peer, height] of this.heights) {
      const until = this.skipUntil.get(peer);
      if (until !== undefined && t < until) continue;
      if (best === null || height > best.height) best = { peer, height };
    }
    return best;
  }
}
