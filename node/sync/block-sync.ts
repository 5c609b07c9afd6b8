/**
 * Block sync between nodes (the sync request ['blocks', from, to], node/README.md): the answer a
 * node gives, how the asking node reads it, and which peer it asks.
 *
 * An answer is the list of [block, commit] pairs from `from` on, at most SYNC_BATCH of them, and
 * it stops before SYNC_ANSWER_BYTES (one block always goes: a block fits in 4 MiB), so it stays
 * under the p2p host's response limit, which is also the most the asking node decodes. A node
 * that asks checks that the answer continues its chain from `from`; each commit is then verified
 * against the validator set and each block validated before it is committed (commit-pipeline.ts).
 * A serving node sends the stored encodings as they are (no decode, no re-encode).
 * `BlockSync` runs it: which peer, when, and what a failure costs the peer; one answer is asked
 * for ahead while the previous one is committed, its txs verified on a worker thread meanwhile
 * (tx-verifier.ts); its progress is logged at most every few seconds (progress.ts).
 */

import { defaultP2POptions, type P2PHost } from '../../p2p/host.ts';
import { type DecodeLimits, decode, defaultDecodeLimits } from '../../packages/codec/canonical.ts';
import * as s from '../../packages/codec/schema.ts';
import { CareLedgerError, invalid } from '../../packages/core/errors.ts';
import { type Block, type BlockLimits, blockFromFields, txHash } from '../../packages/types/block.ts';
import { type Commit, commitFromFields } from '../../packages/types/commit.ts';
import { MAX_VALIDATORS } from '../../packages/types/validator.ts';
import type { CommitPipeline } from '../commit-pipeline.ts';
import type { Logger } from '../log.ts';
import type { NodeMetrics } from '../metrics.ts';
import type { CheckedTxs } from '../seen-txs.ts';
import { SyncProgress } from './progress.ts';
import { encodeSyncRequest } from './protocol.ts';
import { checkBlockTxs, type OffThreadVerifier } from './tx-verifier.ts';

/** Most blocks in one answer. */
export const SYNC_BATCH = 20;
/**
 * An answer stops before this many bytes (far under the host's response limit). Small, because the
 * answering node must read, encode and send it within the stream's budget even on a busy machine:
 * with 12 MiB, 20 blocks of ~1,000 txs (~7 MB) took longer than that under a load of 15 on 2 cores
 * (bench/sync.ts), every peer's stream was reset and each was skipped for SYNC_SKIP_MS.
 */
export const SYNC_ANSWER_BYTES = 2 * 1024 * 1024;

/** A committed block and its commit as the block store holds them: their canonical encodings. */
export interface StoredBlock {
  /** `encodeBlock(block)`. */
  readonly block: Uint8Array;
  /** `encode(commitFields(commit))`. */
  readonly commit: Uint8Array;
}

/** The canonical encoder's header of an array of `n` elements (MessagePack fixarray, array 16, array 32). */
export function arrayHeader(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError(`array length ${n}`);
  if (n < 16) return Uint8Array.of(0x90 | n);
  if (n <= 0xffff) return Uint8Array.of(0xdc, n >> 8, n & 0xff);
  return Uint8Array.of(0xdd, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

const PAIR_HEADER = arrayHeader(2);

/**
 * The answer to ['blocks', first, last]: the stored blocks and commits in that range, from `first`
 * on, as `encode([[blockFields, commitFields], …])`. It is assembled from the stored encodings
 * (an array header, then each pair's header and its two stored values), which are those very
 * bytes, so a serving node neither decodes nor re-encodes what it sends.
 */
export async function answerBlocksRequest(
  first: bigint,
  last: bigint,
  read: (height: bigint) => Promise<StoredBlock | null>,
  maxBytes: number = SYNC_ANSWER_BYTES,
): Promise<Uint8Array> {
  const pairs: StoredBlock[] = [];
  let bytes = 0;
  for (let h = first; h <= last && pairs.length < SYNC_BATCH; h++) {
    const stored = await read(h);
    if (stored === null) break;
    const size = PAIR_HEADER.length + stored.block.length + stored.commit.length;
    if (pairs.length > 0 && bytes + size > maxBytes) break;
    pairs.push(stored);
    bytes += size;
  }
  const header = arrayHeader(pairs.length);
  const out = new Uint8Array(header.length + bytes);
  out.set(header, 0);
  let at = header.length;
  for (const { block, commit } of pairs) {
    out.set(PAIR_HEADER, at);
    out.set(block, at + PAIR_HEADER.length);
    out.set(commit, at + PAIR_HEADER.length + block.length);
    at += PAIR_HEADER.length + block.length + commit.length;
  }
  return out;
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

/**
 * How many of a fetched block's first txs are looked up in what the node holds before its txs
 * are sent to the worker. A node a few heights behind (a validator that fell back under load)
 * mostly holds a block's txs in its mempool, checked already, and the commit path takes them
 * from there for a hash each: checking them all again on the worker would only take the other
 * core from its peers. A node catching up from far behind holds none of them.
 */
export const HELD_TX_SAMPLE = 4;

/** How long a peer that failed a block sync request is not asked again. */
export const SYNC_SKIP_MS = 30_000;
/** How long a blocks request may take. */
export const SYNC_REQUEST_TIMEOUT_MS = 5000;

/** What block sync needs of the node. */
export interface BlockSyncModules {
  readonly p2p: Pick<P2PHost, 'request' | 'reportInvalid'>;
  readonly peers: SyncPeers;
  readonly commits: Pick<CommitPipeline, 'chain' | 'failed' | 'synced'>;
  /** Consensus moves on to the height after our last commit (if it is not there yet). */
  advanceConsensus(): void;
  isStopped(): boolean;
  readonly metrics: NodeMetrics | null;
  readonly log: Logger;
  /** The clock of the progress lines, in milliseconds (tests inject one); default `performance.now`. */
  readonly now?: () => number;
  /**
   * Verifies fetched blocks' txs off the main thread and hands them to the commit path
   * (tx-verifier.ts); absent, the commit path verifies them as it executes each block.
   */
  readonly preverify?: {
    readonly verifier: Pick<OffThreadVerifier, 'check' | 'close'>;
    readonly checked: Pick<CheckedTxs, 'remember' | 'local'>;
  };
}

/** An answer asked for, and what is done with it as soon as it arrives (read, txs sent to be verified). */
interface Fetch {
  readonly peer: string;
  readonly from: bigint;
  /** The blocks, each with the verifying of its txs under way (it always resolves). */
  readonly blocks: Promise<{ block: Block; commit: Commit; checked: Promise<void> }[]>;
}

/**
 * Block sync: while a peer claims a height more than one ahead of ours, fetch blocks from the
 * most advanced peer and commit them. A peer whose request fails, or whose answer does not
 * continue our chain, is skipped for a while (SyncPeers) and the next best is asked.
 */
export class BlockSync {
  private readonly m: BlockSyncModules;
  private syncing = false;
  private readonly progress: SyncProgress;
  /** Our last committed height at the previous tick. */
  private lastTickHeight: bigint | null = null;

  constructor(modules: BlockSyncModules) {
    this.m = modules;
    this.progress = new SyncProgress(modules.log, modules.now ?? (() => performance.now()));
    // The gauge is reported from the start, not only once a sync has run.
    this.setSyncing(false);
  }

  /** True while block-syncing from peers (CometBFT's `catching_up`). */
  get active(): boolean {
    return this.syncing;
  }

  /** The node stops: the verifier's worker thread ends (a block still waiting for it is checked by the commit path). */
  stop(): void {
    this.m.preverify?.verifier.close();
  }

  /**
   * Periodic: starts a sync, if none is running, when a peer decides a height two or more past the
   * one we decide, or one past it for a whole tick in which we committed nothing. A peer one height
   * ahead is the usual sight under load: the others, with every precommit in, move on at once
   * (skip_timeout_commit) while this node still executes or writes the block they just committed,
   * and a sync then would fetch and execute that block a second time beside consensus.
   */
  tick(): void {
    const last = this.m.commits.chain.lastHeight;
    const stuck = last === this.lastTickHeight;
    this.lastTickHeight = last;
    const best = this.m.peers.best();
    if (best === null || this.syncing) return;
    const ahead = best.height - (last + 1n);
    if (ahead >= 2n || (ahead === 1n && stuck)) void this.run();
  }

  private setSyncing(on: boolean): void {
    this.syncing = on;
    this.m.metrics?.syncing.set(this.m.metrics.labels, on ? 1 : 0);
  }

  /**
   * Requests one answer at a time ahead: while the blocks of one answer are executed and written,
   * the next range is already asked of the same peer, read as it arrives, and its txs verified
   * on the worker thread; so the node does not sit idle for a round trip per answer, and the
   * verifying of the next blocks runs beside the executing of these.
   */
  private async run(): Promise<void> {
    const { peers, commits, p2p, log } = this.m;
    this.setSyncing(true);
    this.progress.begin(commits.chain.lastHeight);
    let ahead: Fetch | null = null;
    try {
      for (;;) {
        const best = peers.best();
        // A node that could not write a block takes none after it: asking on would only mark
        // honest peers as failed.
        if (
          best === null ||
          best.height <= commits.chain.lastHeight + 1n ||
          this.m.isStopped() ||
          commits.failed
        )
          return;
        const from = commits.chain.lastHeight + 1n;
        const fetch: Fetch =
          ahead !== null && ahead.peer === best.peer && ahead.from === from
            ? ahead
            : this.fetch(best.peer, from, best.height);
        ahead = null;
        try {
          const blocks = await fetch.blocks;
          const next = blocks[blocks.length - 1]!.block.header.height + 1n;
          // The loop goes on while the best claim is more than a height past our last commit.
          if (best.height > next) ahead = this.fetch(best.peer, next, best.height);
          for (const { block, commit, checked } of blocks) {
            await checked;
            await commits.synced(block, commit);
            this.progress.committed(block.header.height, block.txs.length, best.height);
          }
          this.m.advanceConsensus();
        } catch (err) {
          ahead = null;
          peers.failed(best.peer);
          // An invalid answer is scored against the peer; a timeout or a remote error may be honest.
          if (err instanceof CareLedgerError && err.action === 'reject') p2p.reportInvalid(best.peer);
          log.warn('block sync from a peer failed; trying another', {
            peer: best.peer,
            error: (err as Error).message,
          });
        }
      }
    } finally {
      this.progress.end(commits.chain.lastHeight);
      this.setSyncing(false);
    }
  }

  /** Asks `peer` for up to SYNC_BATCH blocks from `from`; the blocks are read as soon as they arrive. */
  private fetch(peer: string, from: bigint, best: bigint): Fetch {
    const { commits } = this.m;
    const to = from + BigInt(SYNC_BATCH - 1) < best ? from + BigInt(SYNC_BATCH - 1) : best;
    // One line per request is too many for a long sync: the progress lines say how it goes.
    this.m.log.debug('block sync', { peer, from, to, best });
    const blocks = this.m.p2p
      .request(peer, 'blocks', encodeSyncRequest({ kind: 'blocks', from, to }), {
        timeoutMs: SYNC_REQUEST_TIMEOUT_MS,
      })
      .then((answer) =>
        readBlocksAnswer(answer, from, commits.chain.blockLimits).map((x) => ({
          ...x,
          checked: this.preverify(x.block),
        })),
      );
    // An answer fetched ahead may never be waited for (the sync stopped or moved to another peer).
    blocks.catch(() => {});
    return { peer, from, blocks };
  }

  /**
   * Starts checking the block's txs off the main thread, unless the node already holds some of
   * them (HELD_TX_SAMPLE); resolves when done (never rejects).
   */
  private async preverify(block: Block): Promise<void> {
    const pre = this.m.preverify;
    if (pre === undefined) return;
    if (block.txs.slice(0, HELD_TX_SAMPLE).some((tx) => pre.checked.local(txHash(tx)) !== undefined)) return;
    const checked = await checkBlockTxs(this.m.commits.chain.chainId, block, pre.verifier).catch(() => null);
    if (checked !== null) pre.checked.remember(block, checked);
  }
}
