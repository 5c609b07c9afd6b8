/**
 * A HealthTransport over a real in-process HealthApp (classic-level in a temp folder, via the
 * health tests' Harness): broadcast checks the tx as a node would (signature, checkTx) and runs it
 * in its own block (finalize, write, commit); query asks the app with prove=true and reports the
 * app hash of the queried height as the verified root. A hook can tamper with answers, to test
 * that the client refuses them. Not a test file itself.
 */

import type { BroadcastOutcome, HealthTransport, ProvenAnswer } from '../../../../packages/client/health.ts';
import { CareLedgerError } from '../../../../packages/core/errors.ts';
import { checkTxBytes } from '../../../../packages/types/tx.ts';
import { CHAIN_ID, Harness } from '../../state/health/fixtures.ts';

export class AppTransport implements HealthTransport {
  readonly h: Harness;
  /** The app hash after each committed height (the genesis state at height 0). */
  private readonly roots = new Map<bigint, Uint8Array>();
  /** Rewrites every answer before the client sees it (a lying node). */
  tamper: ((path: string, answer: ProvenAnswer) => ProvenAnswer) | null = null;

  private constructor(h: Harness) {
    this.h = h;
    this.roots.set(0n, h.genesisHash);
  }

  static async create(): Promise<AppTransport> {
    return new AppTransport(await Harness.create());
  }

  close(): Promise<void> {
    return this.h.close();
  }

  /** The app hash after executing `height` (what header `height + 1` carries). */
  rootAt(height: bigint): Uint8Array {
    const root = this.roots.get(height);
    if (root === undefined) throw new CareLedgerError('TEST_NO_ROOT', `no root at height ${height}`);
    return root;
  }

  async broadcast(bytes: Uint8Array): Promise<BroadcastOutcome> {
    let checked: ReturnType<typeof checkTxBytes>;
    try {
      checked = checkTxBytes(CHAIN_ID, bytes);
    } catch (err) {
      return refused(err as CareLedgerError);
    }
    const check = this.h.app.checkTx(checked);
    if (check !== null) return refused(check);
    const [result] = await this.h.block([checked]);
    this.roots.set(this.h.height, this.h.app.info().appHash);
    return { height: this.h.height, ...result! };
  }

  async query(path: string, data: Uint8Array, opts: { height?: bigint } = {}): Promise<ProvenAnswer> {
    const r = await this.h.app.query(path, data, opts.height ?? null, true);
    if (r.code !== 0) throw new CareLedgerError(r.codespace, r.log);
    const root = this.roots.get(r.height);
    if (root === undefined || r.proof === null)
      throw new CareLedgerError('TEST_NO_ROOT', `no root at ${r.height}`);
    const answer = { key: r.key, value: r.value, height: r.height, proof: r.proof, root };
    return this.tamper === null ? answer : this.tamper(path, answer);
  }
}

function refused(err: CareLedgerError): BroadcastOutcome {
  return { height: 0n, code: 1, codespace: err.code, log: err.message, events: [] };
}
