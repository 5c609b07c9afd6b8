/**
 * Who is who in the health workload of `npm run bench -- --workload health`: the consortium's
 * members (one per node, roles in turn provider, lab, payer, provider, …), the patients of the
 * pre-grown state and which member holds, may read and is paid for each patient's records.
 *
 * Everything is derived from the patient's index, so the pre-growth (bench/health-state.ts) and
 * the load process (bench/health-mix.ts) agree on every id without passing a million of them
 * between processes.
 */
import { readFileSync } from 'node:fs';
import { homePaths } from '../node/home.ts';
import { loadKeyFile } from '../packages/client/keys.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import type { Role } from '../packages/health/codes.ts';
import { recordIdOf } from '../packages/health/ids.ts';
import { parseGenesisJson } from '../packages/types/genesis.ts';
import { BenchKey, type BenchPatient, benchPatient, benchSeal, patientRecordLabel } from './health-txs.ts';

/** The role of node i's institution: a payer is needed for claims, two custodians for disclosures. */
const ROLE_CYCLE: readonly Role[] = ['provider', 'lab', 'payer', 'provider'];

/** At least one provider, one lab and one payer. */
export const MIN_HEALTH_VALIDATORS = 3;

export function benchRoles(validators: number): Role[] {
  return Array.from({ length: validators }, (_, i) => ROLE_CYCLE[i % ROLE_CYCLE.length]!);
}

export interface WorldMember {
  readonly id: string;
  readonly role: Role;
  readonly key: BenchKey;
  /** The node (home) index of this member's institution: where it sends its txs. */
  readonly node: number;
}

export interface HealthWorld {
  readonly chainId: string;
  /** Unix ms of the genesis: claims bill days before it, so never a day in the future. */
  readonly genesisTime: bigint;
  readonly members: readonly WorldMember[];
  /** Records anchored in the pre-grown state, `perPatient` per patient (the last may have fewer). */
  readonly records: number;
  readonly perPatient: number;
}

export function patientCount(w: Pick<HealthWorld, 'records' | 'perPatient'>): number {
  return Math.ceil(w.records / w.perPatient);
}

/** Records of pre-grown patient p. */
export function recordsOf(w: HealthWorld, p: number): number {
  return Math.min(w.perPatient, w.records - p * w.perPatient);
}

/** The key of patient p (pre-grown below patientCount, enrolled by the load above it). */
export function worldPatient(w: Pick<HealthWorld, 'chainId'>, p: number): BenchPatient {
  return benchPatient(`careledger/bench/health/${w.chainId}/patient/${p}`);
}

function withRoles(w: HealthWorld, roles: readonly Role[]): readonly WorldMember[] {
  return w.members.filter((m) => roles.includes(m.role));
}

/** Members that may anchor records (provider, lab). */
export function custodians(w: HealthWorld): readonly WorldMember[] {
  return withRoles(w, ['provider', 'lab']);
}

export function providers(w: HealthWorld): readonly WorldMember[] {
  return withRoles(w, ['provider']);
}

export function payers(w: HealthWorld): readonly WorldMember[] {
  return withRoles(w, ['payer']);
}

/** The member that enrolled patient p and holds her records. */
export function custodianOf(w: HealthWorld, p: number): WorldMember {
  const c = custodians(w);
  return c[p % c.length]!;
}

/** The other custodian she lets read her records for treatment (a disclosure's recipient). */
export function treatingOf(w: HealthWorld, p: number): WorldMember {
  const holder = custodianOf(w, p);
  const others = custodians(w).filter((m) => m.id !== holder.id);
  return others[Math.floor(p / custodians(w).length) % others.length]!;
}

/** The payer she lets read her records for payment (a claim's payer). */
export function payerOf(w: HealthWorld, p: number): WorldMember {
  const list = payers(w);
  return list[p % list.length]!;
}

/** The id of pre-grown patient p's k-th record. */
export function recordIdAt(w: HealthWorld, patient: BenchPatient, p: number, k: number): string {
  return recordIdOf(custodianOf(w, p).id, patient.id, benchSeal(patientRecordLabel(p, k)).ciphertextHash);
}

/**
 * The world of a consortium whose homes are `homes` (node i's member key and id from its
 * config/member_key.json, the chain id and genesis time from its genesis), over a state of
 * `records` records, `perPatient` each.
 */
export function loadWorld(homes: readonly string[], records: number, perPatient: number): HealthWorld {
  const roles = benchRoles(homes.length);
  const genesis = parseGenesisJson(readFileSync(homePaths(homes[0]!).genesis, 'utf8'));
  const members = homes.map((home, node): WorldMember => {
    const path = homePaths(home).memberKey;
    const id = (JSON.parse(readFileSync(path, 'utf8')) as { member_id?: unknown }).member_id;
    if (typeof id !== 'string') throw new CareLedgerError('BENCH_HOME', `${path} names no member_id`);
    return { id, role: roles[node]!, key: new BenchKey(loadKeyFile(path).secretKey), node };
  });
  const world = { chainId: genesis.chainId, genesisTime: genesis.genesisTime, members, records, perPatient };
  if (homes.length < MIN_HEALTH_VALIDATORS || payers(world).length === 0)
    throw new CareLedgerError(
      'BENCH_HOME',
      `the health workload needs at least ${MIN_HEALTH_VALIDATORS} validators (a provider, a lab and a payer)`,
    );
  return world;
}
