/**
 * The faults of the campaign, one scenario each. A scenario injects its faults for `durationMs`
 * (choices from the seeded PRNG), then heals everything it did; the runner then checks recovery,
 * safety and that no acknowledged tx was lost (checks.ts).
 */
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';

import { loadHome } from '../../node/home.ts';
import { peerIdFromNodeKey } from '../../p2p/identity.ts';
import { genesisValidatorSet } from '../../packages/types/genesis.ts';
import { type Consortium, waitUntil } from '../e2e/harness.ts';
import { PeerProcess } from '../e2e/peer-process.ts';
import type { NetworkLab } from './netns.ts';
import type { Prng } from './prng.ts';

export interface ScenarioContext {
  readonly net: Consortium;
  readonly prng: Prng;
  readonly durationMs: number;
  /** Only for scenarios with `netns: true`. */
  readonly lab: NetworkLab | null;
  /** Free ports for helper processes (above the consortium's). */
  readonly sparePort: number;
  say(what: string): void;
}

export interface Scenario {
  readonly name: string;
  readonly summary: string;
  /** Validators started (the equivocation scenario starts one fewer and plays the last itself). */
  readonly validators: number;
  /** Runs every node in its own network namespace. */
  readonly netns?: boolean;
  /** Needs `faketime` (Debian's package). */
  readonly faketime?: boolean;
  /** The validator index whose evidence must be committed; none may be otherwise. */
  readonly equivocator?: number;
  /** Nodes the runner starts and checks (default all). */
  readonly honest?: readonly number[];
  inject(ctx: ScenarioContext): Promise<void>;
}

/** The libfaketime library Debian's faketime package installs. */
function libfaketime(): string {
  const found = [
    '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
    '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  ].find((p) => existsSync(p));
  if (found === undefined)
    throw new Error('libfaketime.so.1 not found: install Debian\'s "faketime" package');
  return found;
}

/** Validator `i`'s place in the genesis set and its address (upper-case hex, as the RPC shows it). */
export function validatorSlot(net: Consortium, i: number): { index: number; address: string } {
  const set = genesisValidatorSet(loadHome(net.homes[0]!).genesis);
  const key = loadHome(net.homes[i]!).validatorKey.publicKey;
  const index = set.validators.findIndex((v) => Buffer.from(v.pubKey).equals(key));
  return { index, address: Buffer.from(set.validators[index]!.address).toString('hex').toUpperCase() };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const all = (net: Consortium) => net.homes.map((_, i) => i);

/** Repeats `step` until the scenario's time is up. */
async function forDuration(ctx: ScenarioContext, step: () => Promise<void>): Promise<void> {
  const until = Date.now() + ctx.durationMs;
  while (Date.now() < until) await step();
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'kill-restart',
    summary: 'kill -9 a random validator and restart it, repeatedly',
    validators: 4,
    async inject(ctx) {
      await forDuration(ctx, async () => {
        const i = ctx.prng.int(ctx.net.homes.length);
        ctx.say(`kill -9 node ${i}`);
        await ctx.net.stop(i, 'SIGKILL');
        await pause(ctx.prng.ms(500, 3000));
        ctx.net.start(i);
        await pause(ctx.prng.ms(1000, 3000));
      });
    },
  },
  {
    name: 'sigstop',
    summary: 'SIGSTOP a random node for 1-5 s, then SIGCONT, repeatedly',
    validators: 4,
    async inject(ctx) {
      await forDuration(ctx, async () => {
        const i = ctx.prng.int(ctx.net.homes.length);
        const ms = ctx.prng.ms(1000, 5000);
        ctx.say(`pause node ${i} for ${ms} ms`);
        ctx.net.signal(i, 'SIGSTOP');
        await pause(ms);
        ctx.net.signal(i, 'SIGCONT');
        await pause(ctx.prng.ms(500, 2000));
      });
    },
  },
  {
    name: 'partition',
    summary: 'network partitions in namespaces: a minority cut off, a 2-2 split, a bridge-shaped split',
    validators: 4,
    netns: true,
    async inject(ctx) {
      const lab = ctx.lab!;
      const shapes = [
        (a: number, rest: number[]) => ({ what: `node ${a} cut off`, groups: [[a], rest] }),
        (a: number, rest: number[]) => ({
          what: `split ${[a, rest[0]]} | ${rest.slice(1)} (no quorum on either side)`,
          groups: [[a, rest[0]!], rest.slice(1)],
        }),
        (a: number, rest: number[]) => ({
          // a reaches only rest[0], the bridge; rest[0] reaches everyone.
          what: `bridge: node ${a} reaches only node ${rest[0]}`,
          groups: [[a], rest.slice(1)],
        }),
      ];
      let k = 0;
      await forDuration(ctx, async () => {
        const nodes = all(ctx.net);
        const a = nodes.splice(ctx.prng.int(nodes.length), 1)[0]!;
        const shape = shapes[k++ % shapes.length]!(a, nodes);
        ctx.say(shape.what);
        lab.partition(shape.groups);
        await pause(ctx.prng.ms(3000, 6000));
        ctx.say('healed');
        lab.heal();
        await pause(ctx.prng.ms(2000, 4000));
      });
    },
  },
  {
    name: 'wal-damage',
    summary: "truncate or corrupt a stopped node's consensus WAL, then restart it",
    validators: 4,
    async inject(ctx) {
      let k = 0;
      await forDuration(ctx, async () => {
        const i = ctx.prng.int(ctx.net.homes.length);
        await ctx.net.stop(i, 'SIGKILL');
        const wal = loadHome(ctx.net.homes[i]!).paths.wal;
        const size = statSync(wal).size;
        if (k++ % 2 === 0) {
          const at = ctx.prng.int(size + 1);
          ctx.say(`node ${i}: WAL truncated from ${size} to ${at} bytes`);
          truncateSync(wal, at);
        } else if (size > 8) {
          const bytes = readFileSync(wal);
          const at = ctx.prng.int(size - 4);
          bytes.fill(0xff, at, at + 4);
          ctx.say(`node ${i}: 4 bytes of its ${size}-byte WAL overwritten at ${at}`);
          writeFileSync(wal, bytes);
        }
        ctx.net.start(i);
        await pause(ctx.prng.ms(2000, 4000));
      });
    },
  },
  {
    name: 'clock-skew',
    summary: "one node's clock off by +10 s, -10 s, +2 min and -2 min in turn (libfaketime, preloaded)",
    validators: 4,
    faketime: true,
    async inject(ctx) {
      const i = ctx.prng.int(ctx.net.homes.length);
      const skews = ['+10s', '-10s', '+120s', '-120s'];
      const each = Math.max(2000, Math.floor(ctx.durationMs / skews.length));
      for (const skew of skews) {
        ctx.say(`node ${i} restarted with its clock ${skew}`);
        await ctx.net.stop(i);
        // libfaketime preloaded through env, which execs node: the faketime program forks
        // instead, and a signal to it would not reach the node.
        ctx.net.wrap(i, ['env', `LD_PRELOAD=${libfaketime()}`, `FAKETIME=${skew}`]);
        ctx.net.start(i);
        await pause(each);
      }
      ctx.say(`node ${i} back on the right time`);
      await ctx.net.stop(i);
      ctx.net.wrap(i, []);
      ctx.net.start(i);
    },
  },
  {
    name: 'equivocation',
    summary: 'validator 3 signs two different prevotes for one height and round; its evidence must land',
    validators: 4,
    equivocator: 3,
    honest: [0, 1, 2],
    async inject(ctx) {
      const homes = ctx.net.homes.map((h) => loadHome(h));
      const ids = homes.map((h) => peerIdFromNodeKey(h.nodeKeySeed));
      const byzantine = homes[3]!.validatorKey;
      const { index, address } = validatorSlot(ctx.net, 3);
      const rogue = new PeerProcess({
        chainId: ctx.net.chainId,
        seedHex: Buffer.from(homes[3]!.nodeKeySeed).toString('hex'),
        members: [ids[0]!],
        port: ctx.sparePort,
        maxMessageBytes: homes[0]!.config.p2p.maxMessageBytes,
      });
      try {
        await rogue.ready;
        await rogue.call('dial', { addr: `${homes[0]!.config.p2p.listen}/p2p/${ids[0]}` });
        await waitUntil(
          'node 0 on the consensus topic at the equivocator',
          async () =>
            (
              (await rogue.call('stats', { peer: ids[0] })).topicPeers as { consensus: string[] }
            ).consensus.includes(ids[0]!),
          10_000,
          () => ctx.net.logTail(0),
        );
        const sent = await rogue.call('equivocate', {
          peer: ids[0],
          validatorSeedHex: Buffer.from(byzantine.secretKey).toString('hex'),
          validatorIndex: index,
          validatorAddressHex: address,
        });
        ctx.say(`validator 3 double-signed at height ${String(sent.height)}`);
        await pause(ctx.durationMs);
      } finally {
        rogue.kill();
      }
    },
  },
  {
    name: 'rolling-restart',
    summary: 'every node stopped and restarted in turn, each back in step before the next',
    validators: 4,
    async inject(ctx) {
      for (const i of all(ctx.net)) {
        ctx.say(`restart node ${i}`);
        await ctx.net.stop(i);
        ctx.net.start(i);
        await ctx.net.ensureLive(all(ctx.net), 60_000);
      }
    },
  },
];

export function scenarioNamed(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
