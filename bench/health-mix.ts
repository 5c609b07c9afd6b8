/**
 * The txs `npm run bench -- --workload health` offers: a fixed mix of health txs over the
 * pre-grown state (bench/health-state.ts), every one signed by its real signer and expected to
 * succeed. A tx the application refuses or fails is a bug here, and the bench reports it by code.
 *
 * The mix, per 20 txs (interleaved evenly, MIX_SCHEDULE):
 *  - 8 `record.anchor`   (40%) a new record of a random pre-grown patient, by her custodian;
 *  - 4 `access.record`   (20%) her custodian discloses one of her records to the member she let
 *                              read them for treatment (a consent of the history);
 *  - 3 `consent.grant`   (15%) a random patient, signing herself, lets a custodian read for treatment;
 *  - 3 `claim.submit`    (15%) a provider bills a service on one of her records to her payer (who
 *                              may read it for payment: a consent of the history); patients taken
 *                              in a stride through all of them, a day earlier each round, so no
 *                              claim is a duplicate;
 *  - 2 `patient.register` (10%) a new patient (above the pre-grown ones), by a custodian.
 * Random choices come from a seeded generator, so a run's txs are the same for the same seed.
 *
 * Nothing in the mix depends on another tx of the mix: a disclosure or a claim relies only on the
 * history, so the order in which nodes commit the load's txs cannot fail one. What does depend on
 * order is a signer's nonce (a key's nonce must rise; gaps are allowed): each member's txs go to
 * its own node (as an institution would send them) and each patient's to one node, in nonce order.
 */

import { seededRandom } from '../packages/core/seeded-random.ts';
import type { HealthTx } from '../packages/health/tx.ts';
import type { CheckedTx } from '../packages/types/tx.ts';
import { PATIENT_HISTORY_NONCE } from './health-state.ts';
import {
  anchorTx,
  claimTx,
  DAY_MS,
  disclosureTx,
  registerTx,
  SERVICE_CODES,
  treatmentConsentTx,
} from './health-txs.ts';
import {
  custodianOf,
  custodians,
  type HealthWorld,
  patientCount,
  payerOf,
  providers,
  recordIdAt,
  recordsOf,
  treatingOf,
  type WorldMember,
  worldPatient,
} from './health-world.ts';

export const MIX_KINDS = ['anchor', 'access', 'consent', 'claim', 'register'] as const;
export type MixKind = (typeof MIX_KINDS)[number];

/** Txs of each kind per 20. */
export const MIX: Readonly<Record<MixKind, number>> = {
  anchor: 8,
  access: 4,
  consent: 3,
  claim: 3,
  register: 2,
};

/** The kinds of 20 consecutive txs, spread evenly (smooth weighted round robin). */
export const MIX_SCHEDULE: readonly MixKind[] = (() => {
  const total = MIX_KINDS.reduce((sum, k) => sum + MIX[k], 0);
  const credit = new Map<MixKind, number>(MIX_KINDS.map((k) => [k, 0]));
  const out: MixKind[] = [];
  for (let s = 0; s < total; s++) {
    for (const k of MIX_KINDS) credit.set(k, credit.get(k)! + MIX[k]);
    const pick = MIX_KINDS.reduce((a, b) => (credit.get(b)! > credit.get(a)! ? b : a));
    credit.set(pick, credit.get(pick)! - total);
    out.push(pick);
  }
  return out;
})();

export interface MixTx {
  readonly kind: MixKind;
  readonly tx: CheckedTx;
  /** The node it is sent to: its member's, or the patient's (index mod nodes). */
  readonly node: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** Makes the load's txs in order; `memberNonces` is the last nonce of each member in the history. */
export class HealthMix {
  private readonly w: HealthWorld;
  private readonly rand: () => number;
  private readonly patients: number;
  private readonly nodes: number;
  /** Claims visit patients in this stride (coprime with the count: every patient once per round). */
  private readonly stride: number;
  private readonly nonces = new Map<string, number>();
  private readonly patientUses = new Map<number, number>();
  private readonly counts = { register: 0, claim: 0, made: 0 };
  private readonly today: bigint;

  constructor(world: HealthWorld, memberNonces: Readonly<Record<string, number>>, seed: number) {
    this.w = world;
    this.rand = seededRandom(seed);
    this.patients = patientCount(world);
    this.nodes = world.members.length;
    let stride = Math.max(1, Math.floor(this.patients * 0.618));
    while (gcd(stride, this.patients) !== 1) stride++;
    this.stride = stride;
    for (const m of world.members) this.nonces.set(m.id, memberNonces[m.id] ?? 0);
    this.today = (world.genesisTime / DAY_MS) * DAY_MS;
  }

  private nonce(m: WorldMember): bigint {
    const n = this.nonces.get(m.id)! + 1;
    this.nonces.set(m.id, n);
    return BigInt(n);
  }

  private pick(): number {
    return Math.floor(this.rand() * this.patients);
  }

  private byMember(kind: MixKind, m: WorldMember, payload: HealthTx): MixTx {
    return { kind, tx: m.key.tx(this.w.chainId, this.nonce(m), payload), node: m.node };
  }

  next(): MixTx {
    const w = this.w;
    const i = this.counts.made++;
    const kind = MIX_SCHEDULE[i % MIX_SCHEDULE.length]!;
    switch (kind) {
      case 'register': {
        const j = this.counts.register++;
        const list = custodians(w);
        const enroller = list[j % list.length]!;
        const patient = worldPatient(w, this.patients + j);
        return this.byMember(kind, enroller, registerTx(w.chainId, enroller.id, patient.key));
      }
      case 'anchor': {
        const p = this.pick();
        const patient = worldPatient(w, p);
        return this.byMember(kind, custodianOf(w, p), anchorTx(patient.id, i, `load/${i}`));
      }
      case 'access': {
        const p = this.pick();
        const patient = worldPatient(w, p);
        const record = recordIdAt(w, patient, p, Math.floor(this.rand() * recordsOf(w, p)));
        return this.byMember(
          kind,
          custodianOf(w, p),
          disclosureTx(patient.id, treatingOf(w, p).id, [record]),
        );
      }
      case 'consent': {
        const p = this.pick();
        const uses = (this.patientUses.get(p) ?? 0) + 1;
        this.patientUses.set(p, uses);
        const patient = worldPatient(w, p);
        const list = custodians(w);
        const grantee = list[(p + uses) % list.length]!;
        const nonce = BigInt(PATIENT_HISTORY_NONCE + uses);
        const tx = patient.key.tx(w.chainId, nonce, treatmentConsentTx(patient.id, grantee.id));
        return { kind, tx, node: p % this.nodes };
      }
      case 'claim': {
        const j = this.counts.claim++;
        const p = (j * this.stride) % this.patients;
        const round = Math.floor(j / this.patients);
        const patient = worldPatient(w, p);
        const record = recordIdAt(w, patient, p, j % recordsOf(w, p));
        const list = providers(w);
        const date = this.today - BigInt(1 + round) * DAY_MS;
        const code = SERVICE_CODES[j % SERVICE_CODES.length]!;
        return this.byMember(
          kind,
          list[j % list.length]!,
          claimTx(patient.id, payerOf(w, p).id, record, code, date),
        );
      }
    }
  }
}
