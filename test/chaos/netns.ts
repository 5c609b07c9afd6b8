/**
 * A small network lab for fault injection: each node in its own network namespace, joined by veth
 * pairs to one bridge in the root namespace (where the harness runs, so it reaches every node's RPC).
 * Addresses are 10.213.0.(i+1)/24 inside namespaces this lab creates and removes itself; nothing
 * outside this machine is ever addressed.
 *
 * A partition drops links: inside each node's namespace, a blackhole route to every node of the
 * other groups, so packets between groups vanish (as on a cut link: no reset, connections time
 * out) while the harness still sees every node. Healing deletes those routes.
 */
import { execFileSync } from 'node:child_process';

const SUBNET = '10.213.0';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function ipQuiet(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // Removing what a previous run left behind: absent is fine.
  }
}

export class NetworkLab {
  readonly size: number;
  private readonly tag: string;
  private blackholes: [number, number][] = [];

  constructor(size: number, tag = 'clchaos') {
    if (size < 1 || size > 200) throw new Error('a lab holds 1 to 200 nodes');
    this.size = size;
    this.tag = tag;
  }

  address(i: number): string {
    return `${SUBNET}.${i + 1}`;
  }

  namespace(i: number): string {
    return `${this.tag}${i}`;
  }

  /** The command prefix that runs a process inside node i's namespace. */
  wrapper(i: number): string[] {
    return ['ip', 'netns', 'exec', this.namespace(i)];
  }

  /** Creates the bridge and one namespace per node (removing leftovers of an interrupted run). */
  setUp(): void {
    this.tearDown();
    const bridge = `${this.tag}br`;
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${SUBNET}.254/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (let i = 0; i < this.size; i++) {
      const ns = this.namespace(i);
      const veth = `${this.tag}v${i}`;
      ip('netns', 'add', ns);
      ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('link', 'set', veth, 'master', bridge);
      ip('link', 'set', veth, 'up');
      ip('-n', ns, 'addr', 'add', `${this.address(i)}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  }

  /** Cuts every link between nodes of different groups (a node in no group keeps its links). */
  partition(groups: readonly (readonly number[])[]): void {
    this.heal();
    for (const [g, group] of groups.entries())
      for (const a of group)
        for (const [h, other] of groups.entries())
          if (h !== g)
            for (const b of other) {
              ip('-n', this.namespace(a), 'route', 'add', 'blackhole', `${this.address(b)}/32`);
              this.blackholes.push([a, b]);
            }
  }

  /** Restores every link. */
  heal(): void {
    for (const [a, b] of this.blackholes)
      ipQuiet('-n', this.namespace(a), 'route', 'del', 'blackhole', `${this.address(b)}/32`);
    this.blackholes = [];
  }

  tearDown(): void {
    for (let i = 0; i < this.size; i++) ipQuiet('netns', 'del', this.namespace(i));
    ipQuiet('link', 'del', `${this.tag}br`);
  }
}
