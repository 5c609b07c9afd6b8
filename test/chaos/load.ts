/**
 * The chaos campaign's client: a steady load of kvstore txs through `broadcast_tx_commit` to the
 * nodes that are up, recording every acknowledgement (code 0 at check and at execution, with the
 * height the node committed it at). Each tx sets its own key, so every tx is distinct and the
 * final chain can be searched for each one.
 */
import { type Consortium, KvClient } from '../e2e/harness.ts';
import type { Prng } from './prng.ts';

export interface Ack {
  readonly hash: string;
  readonly height: bigint;
  readonly node: number;
}

export class AckLoad {
  readonly acks: Ack[] = [];
  sent = 0;
  private running = false;
  private workers: Promise<void>[] = [];

  private readonly net: Consortium;
  private readonly prng: Prng;
  private readonly seed: number;
  private readonly concurrency: number;

  constructor(net: Consortium, prng: Prng, seed: number, concurrency = 3) {
    this.net = net;
    this.prng = prng;
    this.seed = seed;
    this.concurrency = concurrency;
  }

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.concurrency }, (_, w) => this.worker(w));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  private async worker(w: number): Promise<void> {
    const client = new KvClient(this.net.chainId, `careledger-chaos-${this.seed}-${w}`);
    for (let n = 0; this.running; n++) {
      const up = this.net.homes.map((_, i) => i).filter((i) => this.net.isRunning(i));
      if (up.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      const node = up[this.prng.int(up.length)]!;
      const { hex, hash } = client.tx(`chaos-${this.seed}-${w}-${n}`, String(n));
      this.sent++;
      try {
        const r = await this.net.rpc<{
          check_tx: { code: number };
          tx_result: { code: number };
          height: string;
        }>(node, `/broadcast_tx_commit?tx=${hex}`, 12_000);
        if (r.check_tx.code === 0 && r.tx_result.code === 0)
          this.acks.push({ hash, height: BigInt(r.height), node });
      } catch {
        // Not acknowledged (node down, paused, partitioned, busy): it may or may not commit; only
        // acknowledged txs are owed.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
}
