/**
 * The byzantine validators of a simulation, played by one omniscient adversary: it sees every
 * honest node's height and round and every message sent to a byzantine node. It equivocates as
 * hard as it can: as proposer it sends two different blocks (one sometimes invalid) to two halves
 * of the honest nodes and votes for each half's block towards that half; otherwise it prevotes
 * and precommits the proposed block towards one half and nil towards the other, and shows both
 * votes to one honest node so that evidence can be formed. It also sends garbage: random bytes,
 * corrupted copies of real messages and votes with bad signatures.
 */
import { type KeyPair, signerFor } from '../../packages/crypto/ed25519.ts';
import { type Block, blockIdOf } from '../../packages/types/block.ts';
import { buildBlock, type ChainState } from '../../packages/types/chain-state.ts';
import { rotateProposer } from '../../packages/types/validator-set.ts';
import {
  NIL_BLOCK_ID,
  type Proposal,
  proposalSignBytes,
  type Vote,
  type VoteType,
  VoteType as VoteTypes,
  voteSignBytes,
} from '../../packages/types/vote.ts';
import { type ConsensusMessage, decodeMessage, encodeMessage, isFullProposal } from '../messages.ts';
import { TxKind } from './app.ts';
import type { Prng } from './prng.ts';

export interface AdversaryWorld {
  readonly now: number;
  readonly chainId: string;
  /** Honest nodes' chain states and current rounds, indexed by node. */
  honestViews(): readonly {
    readonly node: number;
    readonly chain: ChainState;
    readonly round: number | null;
  }[];
  send(from: number, to: number, bytes: Uint8Array): void;
  /** Records a proposal the adversary made, for the validity check. */
  proposed(blockId: Uint8Array): void;
}

export class Adversary {
  private readonly world: AdversaryWorld;
  private readonly rng: Prng;
  private readonly keys: Map<number, KeyPair>;
  private readonly acted = new Set<string>();
  private readonly signers = new Map<number, (bytes: Uint8Array) => Uint8Array>();

  constructor(world: AdversaryWorld, keys: Map<number, KeyPair>, rng: Prng) {
    this.world = world;
    this.keys = keys;
    this.rng = rng;
  }

  private indexInSet(chain: ChainState, node: number): number {
    const key = this.keys.get(node)!;
    return chain.validators.set.validators.findIndex((v) => Buffer.compare(v.pubKey, key.publicKey) === 0);
  }

  /** Two disjoint, non-empty groups of honest nodes, fixed per height and round. */
  private split(nodes: readonly number[]): [number[], number[]] {
    const shuffled = this.rng.shuffle(nodes);
    const half = Math.max(1, Math.floor(shuffled.length / 2));
    return [shuffled.slice(0, half), shuffled.slice(half)];
  }

  /** Called periodically: proposes where a byzantine validator is the proposer of a live round. */
  tick(): void {
    const views = this.world.honestViews();
    for (const view of views) {
      if (view.round === null) continue;
      const height = view.chain.lastHeight + 1n;
      const key = `propose:${height}:${view.round}`;
      if (this.acted.has(key)) continue;
      this.acted.add(key);
      const set = view.chain.validators;
      const proposer =
        view.round === 0 ? set.proposer : rotateProposer(set.set.validators, view.round).proposer;
      const node = [...this.keys.keys()].find((n) => this.indexInSet(view.chain, n) === proposer);
      if (node === undefined) continue;
      this.equivocatingProposal(
        node,
        view.chain,
        view.round,
        views.map((v) => v.node),
      );
    }
    if (this.rng.chance(0.3)) this.garbage(views.map((v) => v.node));
  }

  private equivocatingProposal(
    node: number,
    chain: ChainState,
    round: number,
    honest: readonly number[],
  ): void {
    const [groupA, groupB] = this.split(honest);
    const address = chain.validators.set.validators[this.indexInSet(chain, node)]!.address;
    const blockFor = (variant: number): Block => {
      const txs = [Uint8Array.of(TxKind.plain, variant, ...this.rng.bytes(4))];
      if (variant === 1 && this.rng.chance(0.5)) txs.push(Uint8Array.of(0xff, 1, 2)); // fails the app's check
      return buildBlock(chain, {
        txs,
        evidence: [],
        time: BigInt(this.world.now) + BigInt(variant),
        proposer: address,
      });
    };
    for (const [group, variant] of [
      [groupA, 0],
      [groupB, 1],
    ] as const) {
      const block = blockFor(variant);
      const blockId = blockIdOf(block.header);
      const unsigned = { height: block.header.height, round, polRound: -1, blockId };
      const proposal: Proposal = {
        ...unsigned,
        signature: this.sign(node, proposalSignBytes(this.world.chainId, unsigned)),
      };
      this.world.proposed(blockId);
      this.sendAll(node, group, { kind: 'proposal', proposal, block });
      for (const byz of this.keys.keys()) {
        for (const type of [VoteTypes.prevote, VoteTypes.precommit]) {
          this.sendAll(byz, group, {
            kind: 'vote',
            vote: this.vote(byz, chain, type, block.header.height, round, blockId),
          });
        }
      }
    }
  }

  /** A message reached a byzantine node: equivocate on every honest proposal it sees. */
  observe(bytes: Uint8Array): void {
    // Only proposals matter here: skip decoding the flood of votes and evidence relayed to it.
    if (!isFullProposal(bytes)) return;
    let message: ConsensusMessage;
    try {
      message = decodeMessage(bytes);
    } catch {
      return;
    }
    if (message.kind !== 'proposal') return;
    const { height, round, blockId } = message.proposal;
    const key = `vote:${height}:${round}`;
    if (this.acted.has(key)) return;
    this.acted.add(key);
    const views = this.world.honestViews();
    const view = views.find((v) => v.chain.lastHeight + 1n === height);
    if (view === undefined) return;
    const [groupA, groupB] = this.split(views.map((v) => v.node));
    const witness = this.rng.pick(views).node;
    for (const byz of this.keys.keys()) {
      for (const type of [VoteTypes.prevote, VoteTypes.precommit]) {
        const forBlock = this.vote(byz, view.chain, type, height, round, blockId);
        const forNil = this.vote(byz, view.chain, type, height, round, NIL_BLOCK_ID);
        this.sendAll(byz, groupA, { kind: 'vote', vote: forBlock });
        this.sendAll(byz, groupB, { kind: 'vote', vote: forNil });
        this.sendAll(byz, [witness], { kind: 'vote', vote: groupA.includes(witness) ? forNil : forBlock });
      }
    }
  }

  private vote(
    node: number,
    chain: ChainState,
    type: VoteType,
    height: bigint,
    round: number,
    blockId: Uint8Array,
  ): Vote {
    const index = this.indexInSet(chain, node);
    const address = chain.validators.set.validators[index]!.address;
    const signature = this.sign(node, voteSignBytes(this.world.chainId, { type, height, round, blockId }));
    return { type, height, round, blockId, validatorIndex: index, validatorAddress: address, signature };
  }

  private garbage(honest: readonly number[]): void {
    const from = this.rng.pick([...this.keys.keys()]);
    const to = this.rng.pick(honest);
    const views = this.world.honestViews();
    const chain = views[0]!.chain;
    const height = chain.lastHeight + 1n;
    switch (this.rng.int(0, 3)) {
      case 0:
        this.world.send(from, to, this.rng.bytes(this.rng.int(0, 64)));
        break;
      case 1: {
        const vote = this.vote(from, chain, VoteTypes.prevote, height, 0, NIL_BLOCK_ID);
        const bytes = Uint8Array.from(encodeMessage({ kind: 'vote', vote }));
        const at = this.rng.int(0, bytes.length - 1);
        bytes[at] = bytes[at]! ^ (1 << this.rng.int(0, 7));
        this.world.send(from, to, bytes);
        break;
      }
      case 2: {
        const vote = this.vote(from, chain, VoteTypes.precommit, height, 0, NIL_BLOCK_ID);
        this.world.send(
          from,
          to,
          encodeMessage({ kind: 'vote', vote: { ...vote, signature: this.rng.bytes(64) } }),
        );
        break;
      }
      default: {
        // A well-signed vote for a height far in the future.
        const vote = this.vote(from, chain, VoteTypes.prevote, height + 1000n, 0, NIL_BLOCK_ID);
        this.world.send(from, to, encodeMessage({ kind: 'vote', vote }));
      }
    }
  }

  private sendAll(from: number, to: readonly number[], message: ConsensusMessage): void {
    const bytes = encodeMessage(message);
    for (const node of to) this.world.send(from, node, bytes);
  }

  private sign(node: number, bytes: Uint8Array): Uint8Array {
    let signer = this.signers.get(node);
    if (signer === undefined) {
      signer = signerFor(this.keys.get(node)!.secretKey);
      this.signers.set(node, signer);
    }
    return signer(bytes);
  }
}
