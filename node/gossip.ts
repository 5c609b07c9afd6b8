/**
 * Publishing on gossip. Gossipsub drops bytes it saw within its seen-cache TTL, but consensus
 * re-sends identical messages on purpose when a height is stuck: those go straight to each peer,
 * within a budget per tick across peers, so that repair never starves block sync of streams (the
 * sync protocol's streams are shared).
 */
import type { P2PHost, TopicKind } from '../p2p/host.ts';
import type { Logger } from './log.ts';

export interface GossipOptions {
  /** Direct sends of re-gossiped messages per tick, across peers. */
  readonly maxDirectSendsPerTick: number;
}

export const defaultGossipOptions: GossipOptions = { maxDirectSendsPerTick: 24 };

export interface GossipModules {
  readonly p2p: Pick<P2PHost, 'publish' | 'topicPeers' | 'sendDirect'>;
  readonly log: Logger;
}

export class Gossip {
  private readonly opts: GossipOptions;
  private readonly m: GossipModules;
  private directBudget: number;

  constructor(opts: GossipOptions, modules: GossipModules) {
    this.opts = opts;
    this.m = modules;
    this.directBudget = opts.maxDirectSendsPerTick;
  }

  /** A new gossip interval: the direct-send budget is full again. */
  tick(): void {
    this.directBudget = this.opts.maxDirectSendsPerTick;
  }

  publish(kind: TopicKind, bytes: Uint8Array): void {
    const { p2p, log } = this.m;
    p2p.publish(kind, bytes).then(
      (outcome) => {
        if (outcome.status !== 'duplicate') return;
        for (const peer of p2p.topicPeers(kind)) {
          if (this.directBudget <= 0) return;
          this.directBudget--;
          p2p.sendDirect(peer, kind, bytes).catch(() => undefined);
        }
      },
      (err: unknown) => log.debug('publish failed', { kind, error: (err as Error).message }),
    );
  }
}
