/**
 * An honest validator inside the simulator: the real consensus driver, WAL and double-sign guard,
 * with in-memory storage that survives a simulated crash exactly as a disk would (what was synced
 * stays, the rest is lost), and the chain state of state/ for building and checking blocks.
 */
import { type KeyPair, signerFor } from '../../packages/crypto/ed25519.ts';
import { toHex } from '../../packages/crypto/hash.ts';
import type { Block } from '../../packages/types/block.ts';
import {
  applyBlock,
  buildBlock,
  type ChainState,
  type EvidenceLookup,
  nextHeightStart,
  validateBlock,
} from '../../packages/types/chain-state.ts';
import {
  type Commit,
  type DuplicateVoteEvidence,
  evidenceHash,
  verifyEvidence,
} from '../../packages/types/commit.ts';
import { addressOf, type ValidatorSet } from '../../packages/types/validator.ts';
import type { ConsensusOptions, TimeoutStep } from '../core/state-machine.ts';
import { ConsensusDriver, type ConsensusHost, defaultDriverOptions, type ProposedBlock } from '../driver.ts';
import { EvidencePool } from '../evidence-pool.ts';
import {
  type ConsensusMessage,
  decodeEvidenceList,
  encodeEvidenceList,
  encodeMessage,
  isEvidenceList,
} from '../messages.ts';
import { DoubleSignGuard, MemorySignStateStore } from '../privval.ts';
import { MemoryWal } from '../wal.ts';
import { executeBlock, isValidBlockForApp, TxKind } from './app.ts';
import type { Prng } from './prng.ts';

/** What a node needs from the simulated world around it. */
export interface World {
  readonly now: number;
  after(delayMs: number, run: () => void): void;
  broadcast(from: number, bytes: Uint8Array, message: ConsensusMessage): void;
  send(from: number, to: number, bytes: Uint8Array): void;
  /** Forwards a message this node accepted to every peer, as gossip does. */
  relay(from: number, bytes: Uint8Array): void;
  onCommit(node: number, block: ProposedBlock, commit: Commit): void;
  onEvidence(node: number, evidence: DuplicateVoteEvidence): void;
  readonly pubKeys: readonly Uint8Array[];
  readonly honest: readonly number[];
  readonly commitDelayMs: number;
  /** False only to show the checker catches evidence that never reaches a block. */
  readonly includeEvidence: boolean;
}

/** Evidence waiting for a block, at most (as the node's pool). */
const MAX_EVIDENCE_PENDING = 1000;

export class SimNode implements ConsensusHost, EvidenceLookup {
  readonly index: number;
  private readonly world: World;
  private readonly key: KeyPair;
  private readonly options: ConsensusOptions;
  private readonly chainId: string;
  private readonly rng: Prng;
  // Durable: survives crashes.
  chain: ChainState;
  readonly blocks = new Map<bigint, { block: Block; commit: Commit }>();
  /** Each height's catch-up message, encoded once: every peer behind asks for it each second. */
  private readonly catchUps = new Map<bigint, Uint8Array>();
  private readonly setsByHeight = new Map<bigint, ValidatorSet>();
  private readonly committedEvidence = new Set<string>();
  private readonly wal = new MemoryWal();
  private readonly signStore = new MemorySignStateStore();
  /** Pending evidence is stored, as CometBFT's evidence pool, so a crash does not lose it. */
  readonly evidencePool = new EvidencePool(MAX_EVIDENCE_PENDING);
  // Volatile: lost on a crash.
  driver: ConsensusDriver | null = null;
  private epoch = 0;
  private lastProgress = '';

  constructor(
    index: number,
    key: KeyPair,
    genesis: ChainState,
    world: World,
    options: ConsensusOptions,
    rng: Prng,
  ) {
    this.index = index;
    this.key = key;
    this.chain = genesis;
    this.chainId = genesis.chainId;
    this.world = world;
    this.options = options;
    this.rng = rng;
    this.setsByHeight.set(genesis.lastHeight + 1n, genesis.validators.set);
  }

  get isUp(): boolean {
    return this.driver !== null;
  }

  get height(): bigint {
    return this.chain.lastHeight;
  }

  /** Starts (or restarts after a crash) from durable state, replaying the WAL. */
  start(): void {
    this.epoch++;
    const guard = new DoubleSignGuard(this.signStore, signerFor(this.key.secretKey));
    const start = nextHeightStart(this.chain);
    this.driver = new ConsensusDriver(
      {
        chainId: this.chainId,
        consensus: this.options,
        blockLimits: this.chain.blockLimits,
        ...defaultDriverOptions,
      },
      this,
      this.wal,
      { guard, pubKey: this.key.publicKey },
      start,
    );
    this.driver.recover(start);
    this.scheduleTick();
  }

  /** Loses everything volatile; the WAL keeps only what was synced. */
  crash(): void {
    this.epoch++;
    this.driver = null;
    this.wal.crash();
  }

  deliver(from: number, bytes: Uint8Array): void {
    if (this.driver === null) return;
    if (isEvidenceList(bytes)) {
      this.receiveEvidence(bytes);
      return;
    }
    const outcome = this.driver.receive(bytes, String(from));
    // Gossip relays what it accepted, as gossipsub does after validation.
    if (outcome.result === 'accept') this.world.relay(this.index, bytes);
  }

  private alive(run: () => void): () => void {
    const epoch = this.epoch;
    return () => {
      if (this.epoch === epoch && this.driver !== null) run();
    };
  }

  private scheduleTick(): void {
    this.world.after(
      1000,
      this.alive(() => {
        // Re-send messages only while the height is stuck: gossip may have lost them.
        const d = this.driver!;
        const progress = String(d.height);
        if (progress === this.lastProgress) d.rebroadcast();
        this.lastProgress = progress;
        this.gossipEvidence();
        this.scheduleTick();
      }),
    );
  }

  /** The evidence reactor: pending evidence goes to every peer until committed or expired. */
  private gossipEvidence(): void {
    const due = this.evidencePool.due(this.world.now);
    const max = this.chain.blockLimits.maxEvidence;
    for (let i = 0; i < due.length; i += max)
      this.world.relay(this.index, encodeEvidenceList(due.slice(i, i + max)));
  }

  /** A peer's evidence: each piece not known yet is checked against its height's set and kept. */
  private receiveEvidence(bytes: Uint8Array): void {
    let list: DuplicateVoteEvidence[];
    try {
      list = decodeEvidenceList(bytes, this.chain.blockLimits);
    } catch {
      return;
    }
    for (const e of list) {
      if (this.evidencePool.knows(e)) continue;
      const set = this.setsByHeight.get(e.voteA.height);
      // A height this node has not reached yet: a later re-gossip brings it again.
      if (set === undefined) continue;
      try {
        verifyEvidence(this.chainId, e, set);
      } catch {
        continue;
      }
      this.evidence(e);
    }
  }

  // ConsensusHost

  buildBlock(): Block {
    const txs: Uint8Array[] = [];
    const count = this.rng.int(0, 3);
    for (let i = 0; i < count; i++) txs.push(Uint8Array.of(TxKind.plain, ...this.rng.bytes(8)));
    if (this.rng.chance(0.1)) {
      const target = this.rng.pick(this.world.honest);
      txs.push(Uint8Array.of(TxKind.power, target, this.rng.int(10, 12)));
    }
    const evidence = this.world.includeEvidence
      ? this.evidencePool.forBlock(
          this.chain,
          (hash) => this.isCommitted(hash),
          this.chain.blockLimits.maxEvidence,
        )
      : [];
    return buildBlock(this.chain, {
      txs,
      evidence,
      time: BigInt(this.world.now),
      proposer: addressOf(this.key.publicKey),
    });
  }

  isValidBlock(block: Block): boolean {
    try {
      validateBlock(this.chain, block, this);
    } catch {
      return false;
    }
    return isValidBlockForApp(block, this.world.pubKeys.length);
  }

  broadcast(bytes: Uint8Array, message: ConsensusMessage): void {
    this.world.broadcast(this.index, bytes, message);
  }

  relay(bytes: Uint8Array): void {
    this.world.relay(this.index, bytes);
  }

  scheduleTimeout(height: bigint, round: number, step: TimeoutStep, delayMs: number): void {
    this.world.after(
      delayMs,
      this.alive(() => this.driver!.onTimeout(height, round, step)),
    );
  }

  decide(value: ProposedBlock, commit: Commit): void {
    const result = executeBlock(this.chain.appHash, value.block, this.world.pubKeys);
    this.world.onCommit(this.index, value, commit);
    // One atomic step, as the node's single LevelDB batch: block, commit, state.
    this.blocks.set(value.block.header.height, { block: value.block, commit });
    for (const e of value.block.evidence) this.committedEvidence.add(toHex(evidenceHash(e)));
    this.chain = applyBlock(this.chain, value.block, commit, result);
    this.evidencePool.committed(value.block.evidence, this.chain);
    this.setsByHeight.set(this.chain.lastHeight + 1n, this.chain.validators.set);
    this.world.after(
      this.world.commitDelayMs,
      this.alive(() => this.driver!.startHeight(nextHeightStart(this.chain))),
    );
  }

  evidence(evidence: DuplicateVoteEvidence): void {
    this.world.onEvidence(this.index, evidence);
    if (!this.committedEvidence.has(toHex(evidenceHash(evidence))))
      this.evidencePool.add(evidence, this.world.now);
  }

  peerStatus(peer: string, height: bigint): void {
    let bytes = this.catchUps.get(height);
    if (bytes === undefined) {
      const decided = this.blocks.get(height);
      if (decided === undefined) return;
      bytes = encodeMessage({ kind: 'catch-up', block: decided.block, commit: decided.commit });
      this.catchUps.set(height, bytes);
    }
    this.world.send(this.index, Number(peer), bytes);
  }

  // EvidenceLookup

  isCommitted(hash: Uint8Array): boolean {
    return this.committedEvidence.has(toHex(hash));
  }

  validatorsAt(height: bigint): ValidatorSet | undefined {
    return this.setsByHeight.get(height);
  }
}
