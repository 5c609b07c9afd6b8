/**
 * A terminal for the CLI tests: runs `careledger` health commands in-process against a real
 * HealthApp (through the test transport), with a deterministic clock and a seeded random source,
 * key files in a temp folder, and helpers for "must succeed" and "must fail with this code".
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { CliEnv } from '../../../../packages/cli/config.ts';
import type { CliIo } from '../../../../packages/cli/io.ts';
import { runHealthCommand } from '../../../../packages/cli/run.ts';
import type { HealthTransport } from '../../../../packages/client/health.ts';
import { saveKeyFile } from '../../../../packages/client/keys.ts';
import { sha256 } from '../../../../packages/crypto/hash.ts';
import { GENESIS_TIME, genesisFor, member } from '../../state/health/fixtures.ts';
import { AppTransport } from '../client/health-transport.ts';

const utf8 = new TextEncoder();

export interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export class Terminal {
  readonly dir = mkdtempSync(join(tmpdir(), 'careledger-cli-'));
  /** Everything printed, to check that no secret ever was. */
  readonly transcript: string[] = [];
  private counter = 0;
  private micros = GENESIS_TIME * 1000n;
  readonly io: Partial<CliIo>;
  /**
   * The terminal's surroundings: no CARELEDGER_* variables and a config folder inside the temp
   * folder, so no test reads the user's config; `cwd` is the temp folder (relative paths resolve there).
   */
  env: CliEnv = { vars: { XDG_CONFIG_HOME: join(this.dir, 'xdg') }, cwd: this.dir, home: this.dir };

  /** `seed` names the random source (salts, generated keys); `t` is the chain (any transport). */
  constructor(t: HealthTransport, seed: string) {
    this.io = {
      connect: async () => t,
      readGenesis: () => genesisFor().genesis,
      clockMicros: () => this.micros++,
      random: (n) => sha256(utf8.encode(`${seed}/${this.counter++}`)).slice(0, n),
    };
  }

  file(name: string, content: Uint8Array | string): string {
    const path = join(this.dir, name);
    writeFileSync(path, content);
    return path;
  }

  /** The key file of a genesis member of the test chain. */
  memberKey(id: string): string {
    const path = join(this.dir, `${id}.key`);
    saveKeyFile(path, member(id));
    return path;
  }

  /** A new key file made with `keys generate`; returns its path, public key (hex) and patient id. */
  async newKey(name: string): Promise<{ file: string; publicKey: string; patientId: string }> {
    const file = join(this.dir, `${name}.key`);
    const r = await this.run('keys', 'generate', '--out', file, '--json');
    assert.is(r.code, 0, r.err);
    return { file, ...(JSON.parse(r.out) as { publicKey: string; patientId: string }) };
  }

  async run(...args: string[]): Promise<Run> {
    let out = '';
    let err = '';
    const code = await runHealthCommand(
      args,
      {
        ...this.io,
        stdout: (s) => {
          out += s;
        },
        stderr: (s) => {
          err += s;
        },
      },
      this.env,
    );
    this.transcript.push(out, err);
    return { code, out, err };
  }

  /** Runs a chain command (adds --genesis) that must succeed; returns its --json output. */
  async ok(...args: string[]): Promise<Record<string, unknown>> {
    const r = await this.run(...args, '--genesis', 'genesis.json', '--json');
    assert.is(r.code, 0, `${args.slice(0, 2).join(' ')}: ${r.err}`);
    assert.is(r.err, '');
    return JSON.parse(r.out) as Record<string, unknown>;
  }

  /** Runs a command that must fail with `code`: one line on stderr, nothing on stdout, exit 2. */
  async fails(code: string, ...args: string[]): Promise<string> {
    const r = await this.run(...args);
    assert.is(r.code, 2, `${args.slice(0, 2).join(' ')} should fail: ${r.out}`);
    assert.is(r.out, '');
    assert.match(r.err, new RegExp(`^careledger: ${code}: [^\\n]+\\n$`), r.err);
    return r.err;
  }
}

/** A fresh chain and terminal for `fn`, removed afterwards. */
export async function withTerminal(
  seed: string,
  fn: (term: Terminal, t: AppTransport) => Promise<void>,
): Promise<void> {
  const t = await AppTransport.create();
  const term = new Terminal(t, seed);
  try {
    await fn(term, t);
  } finally {
    rmSync(term.dir, { recursive: true, force: true });
    await t.close();
  }
}
