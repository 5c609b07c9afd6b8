/**
 * What a node does with a proposal that arrived by hashes (consensus/messages.ts), in order:
 *  1. strict decode; the proposal's height must be its header's;
 *  2. stale, seen or already taken: ignored; of the next height: held (a few per peer, since the
 *     next height's proposer is known only once this one commits) until `heightStarted`;
 *  3. checked: its round's proposer signed this header (consensus' own check), so no peer makes
 *     us fetch anything for a proposal that is not one;
 *  4. filled in from our own txs, the rest fetched from the sender, then from two other peers
 *     (node/proposal-txs.ts `fillTxs`); a peer may have us fetching for two proposals at once,
 *     and a proposal already being filled in is not filled again;
 *  5. handed to consensus as any proposal. Gossip relays it only once filled in, so whoever we
 *     relay it to can fetch what it lacks from us.
 */
import { type Acceptance, type ConsensusDriver, rejection } from '../consensus/driver.ts';
import { decodeProposalByHashes, type ProposalByHashes } from '../consensus/messages.ts';
import type { Verdict } from '../p2p/host.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { sha256, toHex } from '../packages/crypto/hash.ts';
import { type BlockLimits, withTxHashes } from '../packages/types/block.ts';
import { fillTxs, type TxSource } from './proposal-txs.ts';

/** Proposals of the next height kept until we get there: a few rounds' worth per peer. */
export const MAX_HELD_PROPOSALS = 64;
export const MAX_HELD_PROPOSALS_PER_PEER = 4;
/** Proposals a peer may have us fetching txs for at once. */
export const MAX_FETCHES_PER_PEER = 2;
/** Peers asked for a proposal's missing txs, the sender first. */
export const MAX_TX_SOURCES = 3;

/** What the filler needs of the node around it. */
export interface ProposalFillerHost {
  readonly driver: Pick<
    ConsensusDriver,
    'height' | 'hasSeen' | 'hasProposal' | 'checkProposal' | 'receiveDecoded'
  >;
  blockLimits(): BlockLimits;
  /** A tx this node holds (its mempool, the blocks seen this height). */
  localTx(hash: Uint8Array): Uint8Array | undefined;
  /** Peers that may hold the txs besides the sender. */
  peers(): readonly string[];
  /** A txs request (node/proposal-txs.ts) to `peer`: its encoded answer. */
  requestTxs(peer: string, missing: readonly Uint8Array[]): Promise<Uint8Array>;
  isStopped(): boolean;
  /** Txs that had to be fetched to fill in a proposal. */
  fetched(count: number): void;
  /** The gossip verdict for a consensus outcome (the node logs rejections). */
  verdict(outcome: Acceptance, from: string): Verdict;
  debug(message: string, fields: Record<string, unknown>): void;
}

export class ProposalFiller {
  private readonly host: ProposalFillerHost;
  /** Next-height proposals by hash of their bytes, with the peer that sent each. */
  private readonly held = new Map<string, { bytes: Uint8Array; from: string }>();
  /** Proposals being filled in, by round and block id. */
  private readonly filling = new Set<string>();
  /** Fills waiting on fetches, by the peer that sent the proposal. */
  private readonly fetchesFrom = new Map<string, number>();

  constructor(host: ProposalFillerHost) {
    this.host = host;
  }

  /** A proposal by hashes from `from`, through steps 1-5 above; resolves to the gossip verdict. */
  async receive(bytes: Uint8Array, from: string): Promise<Verdict> {
    const host = this.host;
    let message: ProposalByHashes;
    try {
      message = decodeProposalByHashes(bytes, host.blockLimits());
    } catch (err) {
      return host.verdict(rejection(err), from);
    }
    const { proposal, header, evidence, lastCommit, txHashes } = message;
    if (header.height !== proposal.height) {
      const reason = 'proposal and block heights differ';
      return host.verdict({ result: 'reject', code: 'PROPOSAL_INVALID', reason }, from);
    }
    const driver = host.driver;
    if (proposal.height < driver.height || driver.hasSeen(bytes) || driver.hasProposal(proposal))
      return 'ignore';
    if (proposal.height > driver.height) {
      if (proposal.height === driver.height + 1n) this.hold(bytes, from);
      return 'ignore';
    }
    const check = driver.checkProposal(proposal, header);
    if (check.result !== 'accept') return host.verdict(check, from);
    // A copy (a direct re-send) of a proposal being filled in waits for nothing: the first will do.
    const id = `${proposal.round}:${toHex(proposal.blockId)}`;
    if (this.filling.has(id)) return 'ignore';
    this.filling.add(id);
    let fetching = false;
    let filled: { txs: Uint8Array[]; fetched: number };
    try {
      filled = await fillTxs(
        txHashes,
        (hash) => host.localTx(hash),
        () => {
          // Only fills that wait on peers count against the sender's allowance.
          if ((this.fetchesFrom.get(from) ?? 0) >= MAX_FETCHES_PER_PEER)
            throw new CareLedgerError('PROPOSAL_FETCH_BUSY', 'this peer has fills in flight', 'ignore');
          this.fetchesFrom.set(from, (this.fetchesFrom.get(from) ?? 0) + 1);
          fetching = true;
          return this.sources(from);
        },
        () => !host.isStopped() && host.driver.height === proposal.height,
      );
    } catch (err) {
      host.debug('could not fill in a proposal', { from, error: (err as Error).message });
      return 'ignore';
    } finally {
      this.filling.delete(id);
      if (fetching) {
        const left = (this.fetchesFrom.get(from) ?? 1) - 1;
        if (left > 0) this.fetchesFrom.set(from, left);
        else this.fetchesFrom.delete(from);
      }
    }
    if (host.isStopped()) return 'ignore';
    if (filled.fetched > 0) host.fetched(filled.fetched);
    // Each tx was found under its hash (mempool keys are hashes of the bytes) or fetched and hashed.
    const block = withTxHashes({ header, txs: filled.txs, evidence, lastCommit }, txHashes);
    return host.verdict(host.driver.receiveDecoded({ kind: 'proposal', proposal, block }, bytes, from), from);
  }

  /** The node started a height: the proposals held for it go through, one after another. */
  heightStarted(): Promise<void> {
    const held = [...this.held.values()];
    this.held.clear();
    // One after another: each may take a fetch, and each peer has an allowance of those.
    return (async () => {
      for (const { bytes, from } of held) await this.receive(bytes, from);
    })();
  }

  /** How many next-height proposals are held (for tests and status). */
  get heldCount(): number {
    return this.held.size;
  }

  private hold(bytes: Uint8Array, from: string): void {
    if (this.held.size >= MAX_HELD_PROPOSALS) return;
    if ([...this.held.values()].filter((p) => p.from === from).length >= MAX_HELD_PROPOSALS_PER_PEER) return;
    this.held.set(toHex(sha256(bytes)), { bytes, from });
  }

  /** Who to ask for a proposal's missing txs: its sender, then a few other peers. */
  private sources(from: string): TxSource[] {
    const others = this.host.peers().filter((peer) => peer !== from);
    return [from, ...others.slice(0, MAX_TX_SOURCES - 1)].map(
      (peer) => (missing) => this.host.requestTxs(peer, missing),
    );
  }
}
