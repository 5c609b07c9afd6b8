/**
 * A rogue-peer.ts child process driven from a test: one JSON command per line in, one JSON reply
 * per line out (the commands are listed in rogue-peer.ts). Shared by the e2e files whose other
 * side is a libp2p host that is not a node (p2p.test.ts, equivocation.test.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as assert from 'uvu/assert';

const script = join(import.meta.dirname, 'rogue-peer.ts');

export type Reply = Record<string, unknown> & { id?: number; ok?: boolean; error?: string };

/** A rogue-peer.ts process: one JSON command per line in, one JSON reply per line out. */
export class PeerProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<Reply>;
  private readonly pending = new Map<number, (r: Reply) => void>();
  private nextId = 1;
  private stderr = '';

  constructor(opts: {
    chainId: string;
    seedHex: string | null;
    members: string[];
    port: number;
    maxMessageBytes: number;
  }) {
    const arg = JSON.stringify({
      chainId: opts.chainId,
      seedHex: opts.seedHex,
      members: opts.members,
      listen: `/ip4/127.0.0.1/tcp/${opts.port}`,
      maxMessageBytes: opts.maxMessageBytes,
    });
    this.child = spawn(process.execPath, [script, arg], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    let readyResolve: (r: Reply) => void = () => {};
    this.ready = withDeadline(
      new Promise<Reply>((resolve) => {
        readyResolve = resolve;
      }),
      15_000,
      () => `peer process not ready\n${this.stderr}`,
    );
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as Reply;
      if (r.ready === true) readyResolve(r);
      else if (r.id !== undefined) this.pending.get(r.id)?.(r);
    });
  }

  async call(cmd: string, params: Record<string, unknown> = {}, timeoutMs = 15_000): Promise<Reply> {
    const id = this.nextId++;
    const reply = new Promise<Reply>((resolve) => this.pending.set(id, resolve));
    this.child.stdin!.write(`${JSON.stringify({ id, cmd, ...params })}\n`);
    const r = await withDeadline(reply, timeoutMs, () => `peer command ${cmd} got no reply\n${this.stderr}`);
    this.pending.delete(id);
    assert.ok(r.ok, `peer command ${cmd} failed: ${r.error}\n${this.stderr}`);
    return r;
  }

  /** Stops the host and waits for the process to exit; SIGKILL if it does not within 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    await this.call('stop').catch(() => undefined);
    this.child.stdin!.end();
    await withDeadline(exited, 5_000, () => 'peer process did not exit').catch(() => {
      this.kill();
      return exited;
    });
  }

  kill(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null)
      process.kill(this.child.pid, 'SIGKILL');
  }
}

export async function withDeadline<T>(work: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what())), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
