/**
 * Who may connect to this node, following the chain: the nodes of the application's members on
 * chain, or, for an application without membership (kvstore), the configured persistent peers.
 *
 * Until this node decides a block with the network, its configured persistent peers may connect
 * besides the members of the state it has replayed: a node syncing from genesis starts with the
 * genesis members, whose nodes may all be gone. What they send is verified all the same.
 */
import type { P2PHost } from '../p2p/host.ts';
import { parsePersistentPeers } from '../p2p/peers.ts';
import type { Application } from '../state/application.ts';
import type { Logger } from './log.ts';

export interface MembershipOptions {
  /** This node's own peer id (never a member of its own list). */
  readonly peerId: string;
  /** The `p2p.persistent_peers` config value. */
  readonly persistentPeers: readonly string[];
}

export interface MembershipModules {
  readonly app: Pick<Application, 'allowedPeers'>;
  readonly log: Logger;
}

/** The p2p host's member gater, as membership changes it. */
export type MemberGate = Pick<P2PHost, 'members' | 'setMembers'>;

export class Membership {
  private readonly opts: MembershipOptions;
  private readonly app: Pick<Application, 'allowedPeers'>;
  private readonly log: Logger;
  private catchingUp = true;

  constructor(opts: MembershipOptions, modules: MembershipModules) {
    this.opts = opts;
    this.app = modules.app;
    this.log = modules.log;
  }

  /** True until the first block decided with the network (persistent peers are admitted). */
  get isCatchingUp(): boolean {
    return this.catchingUp;
  }

  /** Warns of configured persistent peers that only the catching-up exception admits. */
  async warnUnlistedPeers(): Promise<void> {
    const members = await this.memberNodes();
    for (const peer of parsePersistentPeers(this.opts.persistentPeers)) {
      if (members !== null && !members.includes(peer.id))
        this.log.warn(
          'persistent peer is not a member node in the state at this height: admitted while catching up, refused after unless the chain admits it',
          { addr: peer.addr },
        );
    }
  }

  /** Who may connect now. */
  async admitted(): Promise<string[]> {
    const members = await this.memberNodes();
    // The steady state, after every commit: no need to read the configured peers.
    if (members !== null && !this.catchingUp) return members;
    const configured = parsePersistentPeers(this.opts.persistentPeers).map((peer) => peer.id);
    return members === null ? configured : [...new Set([...members, ...configured])];
  }

  /** The first block decided with the network: from now on only on-chain members may connect. */
  async caughtUp(gate: MemberGate, height: bigint): Promise<void> {
    this.catchingUp = false;
    this.log.info('caught up: admitting the nodes of on-chain members only', { height });
    await this.follow(gate);
  }

  /** After a commit: a member added, removed or given new nodes changes who may connect. */
  async follow(gate: MemberGate): Promise<void> {
    if (this.app.allowedPeers === undefined) return;
    const next = await this.admitted();
    const current = gate.members();
    if (next.length === current.length && next.every((id) => current.includes(id))) return;
    this.log.info('membership changed', {
      admitted: next.filter((id) => !current.includes(id)),
      removed: current.filter((id) => !next.includes(id)),
    });
    await gate.setMembers(next);
  }

  /** The other nodes of on-chain members, or null for an application without membership. */
  private async memberNodes(): Promise<string[] | null> {
    if (this.app.allowedPeers === undefined) return null;
    return (await this.app.allowedPeers()).filter((id) => id !== this.opts.peerId);
  }
}
