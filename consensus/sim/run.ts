/**
 * One simulation run: N validators (F of them byzantine) over a simulated network, driven by a
 * seeded PRNG, checked for agreement, validity, no double signing, liveness after stabilisation
 * and evidence inclusion (evidence-check.ts). The run stops at the first violation.
 *
 * Before the global stabilisation time (GST) messages are delayed (sometimes for seconds),
 * reordered, duplicated, dropped with probability `drop`, cut by partitions, and honest nodes
 * crash and restart from their WAL. From GST on, every honest node is up, nothing is dropped and
 * delays are bounded; each honest node must then commit `heights` more heights within a bound.
 */
import { encode } from '../../packages/codec/canonical.ts';
import { type KeyPair, keyPairFromSeed } from '../../packages/crypto/ed25519.ts';
import { sha256, toHex } from '../../packages/crypto/hash.ts';
import { defaultBlockLimits } from '../../packages/types/block.ts';
import { genesisState } from '../../packages/types/chain-state.ts';
import type { Commit } from '../../packages/types/commit.ts';
import type { Genesis } from '../../packages/types/genesis.ts';
import { addressOf, validatorSetHash } from '../../packages/types/validator.ts';
import { defaultTimeouts } from '../core/state-machine.ts';
import type { ProposedBlock } from '../driver.ts';
import type { ConsensusMessage } from '../messages.ts';
import { Adversary } from './adversary.ts';
import { isValidBlockForApp } from './app.ts';
import { EvidenceChecker } from './evidence-check.ts';
import { SimNode, type World } from './node.ts';
import { Prng } from './prng.ts';
import { Scheduler } from './scheduler.ts';

export interface SimConfig {
  readonly seed: number;
  readonly validators: number;
  readonly byzantine: number;
  /** Probability that a message is lost before GST. */
  readonly drop: number;
  readonly partitions: boolean;
  /** Crash and restart honest nodes before GST. */
  readonly crashes: boolean;
  /** Heights every honest node must commit after GST. */
  readonly heights: number;
  /** Breaks the lock rule in every honest node, to show that the checker catches it. */
  readonly brokenLock: boolean;
  /** Honest proposers leave evidence out of their blocks, to show that the checker catches it. */
  readonly noEvidence?: boolean;
  /** Receives a line of the nodes' heights, rounds and steps every two simulated seconds. */
  readonly trace?: (line: string) => void;
}

export const defaultSimConfig: Omit<SimConfig, 'seed'> = {
  validators: 4,
  byzantine: 1,
  drop: 0,
  partitions: false,
  crashes: true,
  heights: 5,
  brokenLock: false,
};

export interface SimResult {
  readonly seed: number;
  readonly violation: string | null;
  /** Lowest committed height among honest nodes at the end. */
  readonly height: bigint;
  readonly simulatedMs: number;
  readonly messages: number;
  readonly evidenceCommitted: number;
}

const GST_MS = 15_000;
/** After GST, each required height must come within this much simulated time on average. */
const LIVENESS_MS_PER_HEIGHT = 20_000;
const COMMIT_DELAY_MS = 1000;

class Violation extends Error {}

export function runSeed(config: SimConfig): SimResult {
  const n = config.validators;
  if (config.byzantine >= n) throw new Error('at least one validator must be honest');
  const rng = new Prng(config.seed);
  const scheduler = new Scheduler();
  const keys: KeyPair[] = Array.from({ length: n }, (_, i) =>
    keyPairFromSeed(sha256(encode(['careledger-sim', config.seed, i]))),
  );
  const byzantine = new Set(rng.shuffle([...keys.keys()]).slice(0, config.byzantine));
  const honest = [...keys.keys()].filter((i) => !byzantine.has(i));
  const genesis: Genesis = {
    chainId: 'careledger-sim',
    genesisTime: 0n,
    initialHeight: 1n,
    validators: keys.map((k, i) => ({ name: `v${i}`, pubKey: k.publicKey, power: 10n })),
    blockLimits: defaultBlockLimits,
  };
  const genesisChain = genesisState(genesis, sha256());
  const unstable = config.drop > 0 || config.partitions || config.crashes;
  const gst = unstable ? GST_MS : 0;
  let partition: Set<number> | null = null;
  let messages = 0;

  // What the checker has seen.
  const committedIds = new Map<bigint, string>();
  const committedBlocks = new Map<bigint, ProposedBlock>();
  const proposedIds = new Set<string>();
  const signedBy = new Map<string, string>();
  const evidence = new EvidenceChecker(gst, genesis.blockLimits.maxEvidence);
  const nodeByAddress = new Map(keys.map((k, i) => [toHex(addressOf(k.publicKey)), i] as const));
  const expectedPower = new Map<bigint, Map<number, bigint>>();
  let violation: string | null = null;
  const fail = (message: string): never => {
    violation ??= message;
    throw new Violation(message);
  };

  const deliver = (from: number, to: number, bytes: Uint8Array): void => {
    messages++;
    if (byzantine.has(to)) adversary.observe(bytes);
    else nodes[to]!.deliver(from, bytes);
  };

  const send = (from: number, to: number, bytes: Uint8Array): void => {
    const beforeGst = scheduler.now < gst;
    if (beforeGst && rng.chance(config.drop)) return;
    if (partition !== null && partition.has(from) !== partition.has(to)) return;
    const delay = beforeGst ? (rng.chance(0.05) ? rng.int(300, 3000) : rng.int(1, 300)) : rng.int(1, 100);
    scheduler.after(delay, () => deliver(from, to, bytes));
    if (beforeGst && rng.chance(0.02))
      scheduler.after(delay + rng.int(1, 500), () => deliver(from, to, bytes));
  };

  /** Record an honest node's own signed message; two different ones for one step is a double sign. */
  const checkSigned = (from: number, message: ConsensusMessage): void => {
    if (message.kind === 'proposal') {
      proposedIds.add(toHex(message.proposal.blockId));
      const { height, round, blockId } = message.proposal;
      const key = `${from}:${height}:${round}:proposal`;
      const previous = signedBy.get(key);
      if (previous !== undefined && previous !== toHex(blockId))
        fail(`double sign: node ${from} proposed twice at ${key}`);
      signedBy.set(key, toHex(blockId));
    } else if (message.kind === 'vote') {
      const { height, round, type, blockId } = message.vote;
      const key = `${from}:${height}:${round}:${type}`;
      const previous = signedBy.get(key);
      if (previous !== undefined && previous !== toHex(blockId))
        fail(`double sign: node ${from} voted twice at ${key}`);
      signedBy.set(key, toHex(blockId));
    }
  };

  const checkCommit = (node: number, value: ProposedBlock, commit: Commit): void => {
    const { header } = value.block;
    const height = header.height;
    const id = toHex(value.id);
    const first = committedIds.get(height);
    if (first !== undefined && first !== id)
      fail(
        `agreement: node ${node} committed ${id.slice(0, 12)} at height ${height}, another node ${first.slice(0, 12)}`,
      );
    if (!proposedIds.has(id))
      fail(`validity: node ${node} committed a block at height ${height} that nobody proposed`);
    if (!isValidBlockForApp(value.block, n))
      fail(`validity: node ${node} committed a block the application rejects at height ${height}`);
    if (commit.height !== height) fail(`node ${node} built a commit for the wrong height`);
    evidence.reached(node, height, scheduler.now);
    if (first === undefined) {
      committedIds.set(height, id);
      committedBlocks.set(height, value);
      const proposer = nodeByAddress.get(toHex(header.proposerAddress));
      const missing = evidence.check(
        value.block,
        proposer === undefined || byzantine.has(proposer) ? null : proposer,
      );
      if (missing !== null) fail(missing);
      checkValidatorSet(height, value);
    }
  };

  /** Validator-set changes take effect at H+2: recompute the expected set independently. */
  const checkValidatorSet = (height: bigint, value: ProposedBlock): void => {
    const powers = new Map(expectedPower.get(height - 1n) ?? keys.map((_, i) => [i, 10n] as const));
    for (const tx of value.block.txs) if (tx[0] === 1) powers.set(tx[1]!, BigInt(tx[2]!));
    expectedPower.set(height, powers);
    const effective = expectedPower.get(height - 2n) ?? new Map(keys.map((_, i) => [i, 10n] as const));
    const set = genesisState(
      {
        ...genesis,
        validators: keys.map((k, i) => ({ name: `v${i}`, pubKey: k.publicKey, power: effective.get(i)! })),
      },
      sha256(),
    ).validators.set;
    if (toHex(validatorSetHash(set)) !== toHex(value.block.header.validatorsHash)) {
      fail(`validator set: block ${height} does not use the set fixed at height ${height - 2n}`);
    }
  };

  const world: World & { chainId: string } = {
    chainId: genesis.chainId,
    get now() {
      return scheduler.now;
    },
    after: (delay, run) => scheduler.after(delay, run),
    broadcast: (from, bytes, message) => {
      checkSigned(from, message);
      for (let to = 0; to < n; to++) if (to !== from) send(from, to, bytes);
    },
    relay: (from, bytes) => {
      for (let to = 0; to < n; to++) if (to !== from) send(from, to, bytes);
    },
    send,
    onCommit: (node, value, commit) => checkCommit(node, value, commit),
    onEvidence: (_node, e) => evidence.seen(e, scheduler.now),
    pubKeys: keys.map((k) => k.publicKey),
    honest,
    commitDelayMs: COMMIT_DELAY_MS,
    includeEvidence: config.noEvidence !== true,
  };

  const options = { timeouts: defaultTimeouts, unsafeIgnoreLock: config.brokenLock };
  const nodes: (SimNode | undefined)[] = keys.map((key, i) =>
    byzantine.has(i)
      ? undefined
      : new SimNode(i, key, genesisChain, world, options, new Prng(config.seed * 1000 + i)),
  );
  const honestNodes = honest.map((i) => nodes[i]!);
  const adversary = new Adversary(
    {
      chainId: genesis.chainId,
      get now() {
        return scheduler.now;
      },
      honestViews: () =>
        honestNodes.map((node) => ({
          node: node.index,
          chain: node.chain,
          round: node.driver === null ? null : node.driver.round,
        })),
      send,
      proposed: (blockId) => proposedIds.add(toHex(blockId)),
    },
    new Map([...byzantine].map((i) => [i, keys[i]!])),
    new Prng(config.seed ^ 0x5eed),
  );
  if (byzantine.size > 0) {
    const adversaryTick = (): void => {
      adversary.tick();
      scheduler.after(250, adversaryTick);
    };
    scheduler.after(100, adversaryTick);
  }

  // Faults before GST.
  if (config.partitions) {
    for (let start = rng.int(1000, 4000); start < gst - 3000; start += rng.int(3000, 8000)) {
      const groupSize = rng.int(1, n - 1);
      const group = new Set(rng.shuffle([...keys.keys()]).slice(0, groupSize));
      const heal = Math.min(start + rng.int(1000, 6000), gst);
      scheduler.at(start, () => {
        partition = group;
      });
      scheduler.at(heal, () => {
        partition = null;
      });
    }
  }
  if (config.crashes) {
    for (let i = 0, count = rng.int(1, 2); i < count; i++) {
      const node = rng.pick(honestNodes);
      const at = rng.int(1000, gst - 6000);
      scheduler.at(at, () => node.isUp && node.crash());
      scheduler.at(at + rng.int(500, 5000), () => !node.isUp && node.start());
    }
  }
  scheduler.at(gst, () => {
    partition = null;
    for (const node of honestNodes) if (!node.isUp) node.start();
  });

  for (const node of honestNodes) node.start();
  if (config.trace) {
    const trace = (): void => {
      const states = honestNodes.map((node) =>
        node.driver === null
          ? `${node.index}:down@${node.height}`
          : `${node.index}:${node.driver.height}/${node.driver.round}/${node.driver.stepName}`,
      );
      config.trace?.(
        `t=${scheduler.now} ${states.join(' ')}${partition === null ? '' : ` partition=${[...partition].join(',')}`}`,
      );
      scheduler.after(2000, trace);
    };
    trace();
  }
  const minHeight = (): bigint =>
    honestNodes.reduce((m, node) => (node.height < m ? node.height : m), honestNodes[0]!.height);
  try {
    scheduler.runUntil(gst, () => false);
    const target =
      honestNodes.reduce((m, node) => (node.height > m ? node.height : m), 0n) + BigInt(config.heights);
    const deadline = gst + LIVENESS_MS_PER_HEIGHT * config.heights + 60_000;
    // Evidence is checked at each committed block (evidence-check.ts); the run also goes on until
    // no equivocation is overdue, so that one never committed fails even without such a block.
    scheduler.runUntil(deadline, () => minHeight() >= target && evidence.overdue(scheduler.now) === null);
    if (minHeight() < target) {
      fail(
        `liveness: after GST, honest nodes reached only height ${minHeight()} of ${target} by ${deadline} ms`,
      );
    }
    const overdue = evidence.overdue(scheduler.now);
    if (overdue !== null) fail(overdue);
  } catch (err) {
    if (!(err instanceof Violation)) throw err;
  }
  return {
    seed: config.seed,
    violation,
    height: minHeight(),
    simulatedMs: scheduler.now,
    messages,
    evidenceCommitted: evidence.committed,
  };
}
