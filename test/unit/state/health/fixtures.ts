/**
 * Fixtures for the health-app tests: a consortium (hospital, clinic, lab, insurer, research) with
 * deterministic keys, a harness that runs blocks through a real HealthApp over classic-level in a
 * temp folder (finalize, write the batch, commit, as the node does), and tx builders.
 * Not a test file itself (no `.test.ts`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { Canonical } from '../../../../packages/codec/canonical.ts';
import { type KeyPair, keyPairFromSeed } from '../../../../packages/crypto/ed25519.ts';
import { sha256 } from '../../../../packages/crypto/hash.ts';
import type { Role } from '../../../../packages/health/codes.ts';
import type { HealthAppState } from '../../../../packages/health/genesis.ts';
import { patientIdOf, recordIdOf } from '../../../../packages/health/ids.ts';
import {
  type AccessRequest,
  type Claim,
  type Consent,
  decodeClaim,
  decodeConsent,
  decodeIdList,
  decodePage,
  decodePatient,
  decodeProposal,
  decodeRecord,
  decodeRequest,
  defaultParams,
  LIST_PAGE_SIZE,
  type Patient,
  type Proposal,
  type RecordAnchor,
} from '../../../../packages/health/model.ts';
import { type Provision, provision } from '../../../../packages/health/provision.ts';
import { idQueryData, patientListQueryData, verifyAnswer } from '../../../../packages/health/query.ts';
import {
  type HealthTx,
  registerPatientTx,
  rotatePatientKeyTx,
  signHealthTx,
} from '../../../../packages/health/tx.ts';
import type { Block, Header } from '../../../../packages/types/block.ts';
import { defaultBlockLimits } from '../../../../packages/types/block.ts';
import type { Genesis } from '../../../../packages/types/genesis.ts';
import type { CheckedTx } from '../../../../packages/types/tx.ts';
import type { ExecTxResult, FinalizeResult } from '../../../../state/application.ts';
import { Bucket, type Db, openDb } from '../../../../state/db.ts';
import { HealthApp } from '../../../../state/health/app.ts';

export const CHAIN_ID = 'careledger-health-test';
export const GENESIS_TIME = 1_767_225_600_000n; // 2026-01-01T00:00:00Z
export const DAY = 86_400_000n;
export const HOUR = 3_600_000n;

const utf8 = new TextEncoder();

export function keyOf(label: string): KeyPair {
  return keyPairFromSeed(sha256(utf8.encode(`careledger-health-test/${label}`)));
}

export interface TestMember {
  readonly id: string;
  readonly roles: Role[];
  /** Peer ids of the member's nodes (genesis `node_ids`). */
  readonly nodes?: string[];
  /** The member's record-encryption public key (genesis `record_key`). */
  readonly recordKey?: Uint8Array;
}

export const MEMBERS: readonly TestMember[] = [
  { id: 'city-hospital', roles: ['provider'] },
  { id: 'north-clinic', roles: ['provider'] },
  { id: 'acme-lab', roles: ['lab'] },
  { id: 'good-insurance', roles: ['payer'] },
  { id: 'uni-research', roles: ['research'] },
];

export const member = (id: string): KeyPair => keyOf(`member/${id}`);
export const validatorKey = (i: number): KeyPair => keyOf(`validator/${i}`);

export function genesisFor(members = MEMBERS): { genesis: Genesis; appState: HealthAppState } {
  return {
    genesis: {
      chainId: CHAIN_ID,
      genesisTime: GENESIS_TIME,
      initialHeight: 1n,
      validators: [0, 1, 2, 3].map((i) => ({ name: `v${i}`, pubKey: validatorKey(i).publicKey, power: 10n })),
      blockLimits: defaultBlockLimits,
    },
    appState: {
      members: members.map((m) => ({
        id: m.id,
        pubKey: member(m.id).publicKey,
        roles: m.roles,
        nodes: m.nodes ?? [],
        recordKey: m.recordKey ?? null,
      })),
      params: defaultParams,
    },
  };
}

/** A block shell for driving the app directly: only its height, time and chain id matter to it. */
export function blockAt(height: bigint, time: bigint, chainId = CHAIN_ID): Block {
  const zero = new Uint8Array(32);
  const header: Header = {
    chainId,
    height,
    time,
    lastBlockId: new Uint8Array(0),
    lastCommitHash: zero,
    dataHash: zero,
    validatorsHash: zero,
    nextValidatorsHash: zero,
    appHash: zero,
    lastResultsHash: zero,
    evidenceHash: zero,
    proposerAddress: new Uint8Array(20),
  };
  return { header, txs: [], evidence: [], lastCommit: null };
}

/** A fresh app over a temp LevelDB, initialised from genesis, with a clock and nonces. */
export class Harness {
  readonly app: HealthApp;
  readonly db: Db;
  readonly dir: string;
  height = 0n;
  time = GENESIS_TIME;
  readonly genesisHash: Uint8Array;
  private readonly nonces = new Map<string, bigint>();
  lastResult: FinalizeResult | null = null;

  private constructor(app: HealthApp, db: Db, dir: string, genesisHash: Uint8Array) {
    this.app = app;
    this.db = db;
    this.dir = dir;
    this.genesisHash = genesisHash;
  }

  static async create(members = MEMBERS): Promise<Harness> {
    const dir = mkdtempSync(join(tmpdir(), 'careledger-health-'));
    const db = await openDb(dir);
    try {
      const app = await HealthApp.open(db);
      const { genesis, appState } = genesisFor(members);
      const init = await app.initChain(genesis, appState);
      await db.batch(init.ops.slice(), { sync: false });
      app.commit(genesis.initialHeight - 1n, init.appHash);
      return new Harness(app, db, dir, init.appHash);
    } catch (err) {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Signs `payload` with `key`, with the key's next nonce (or the one given). */
  tx(key: KeyPair, payload: HealthTx, nonce?: bigint): CheckedTx {
    const id = Buffer.from(key.publicKey).toString('hex');
    const n = nonce ?? (this.nonces.get(id) ?? 0n) + 1n;
    if (nonce === undefined) this.nonces.set(id, n);
    return signHealthTx(CHAIN_ID, key, n, payload);
  }

  /** Executes one block `stepMs` after the last, writes and commits it; returns its tx results. */
  async block(txs: readonly CheckedTx[], stepMs = 1000n): Promise<ExecTxResult[]> {
    this.height += 1n;
    this.time += stepMs;
    const result = await this.app.finalizeBlock(blockAt(this.height, this.time), txs);
    await this.db.batch(result.ops.slice(), { sync: false });
    this.app.commit(this.height, result.appHash);
    this.lastResult = result;
    return [...result.txResults];
  }

  /** Runs one tx in its own block and asserts it succeeded; returns its log (the created id). */
  async ok(key: KeyPair, payload: HealthTx): Promise<string> {
    const [r] = await this.block([this.tx(key, payload)]);
    assert.is(r!.codespace, '', `${payload.type} failed: ${r!.codespace} ${r!.log}`);
    assert.is(r!.code, 0);
    return r!.log;
  }

  /** Runs one tx in its own block and asserts it failed with `code`; checks it changed nothing. */
  async fails(key: KeyPair, payload: HealthTx, code: string, nonce?: bigint): Promise<ExecTxResult> {
    const [r] = await this.block([this.tx(key, payload, nonce)]);
    assert.is(
      r!.codespace,
      code,
      `${payload.type}: expected ${code}, got ${r!.codespace || 'success'} ${r!.log}`,
    );
    assert.ok(r!.code !== 0);
    assert.equal(r!.events, []);
    // A block whose one tx failed writes only its block-info leaf (height and time).
    const written = this.lastResult!.ops.filter((o) => o.key[0] === Bucket.merkleValues);
    assert.equal(
      written.map((o) => Buffer.from(o.key.subarray(1)).toString('utf8')),
      ['h/block'],
      'a failed tx changes nothing',
    );
    return r!;
  }

  /** A query at the latest height whose proof must verify against the latest app hash. */
  async proven(path: string, data: Uint8Array): Promise<Uint8Array | null> {
    const r = await this.app.query(path, data, null, true);
    assert.is(r.codespace, '', `${path}: ${r.log}`);
    assert.ok(verifyAnswer(this.app.info().appHash, r.key, r.value, r.proof!), `${path}: the proof verifies`);
    return r.value;
  }

  async patientOf(id: string): Promise<Patient | null> {
    const v = await this.proven('/health/patient', idQueryData(id));
    return v === null ? null : decodePatient(v);
  }

  async recordOf(id: string): Promise<RecordAnchor> {
    return decodeRecord((await this.proven('/health/record', idQueryData(id)))!);
  }

  async consentOf(id: string): Promise<Consent> {
    return decodeConsent((await this.proven('/health/consent', idQueryData(id)))!);
  }

  async requestOf(id: string): Promise<AccessRequest> {
    return decodeRequest((await this.proven('/health/request', idQueryData(id)))!);
  }

  async claimOf(id: string): Promise<Claim> {
    return decodeClaim((await this.proven('/health/claim', idQueryData(id)))!);
  }

  async proposalOf(id: string): Promise<Proposal> {
    return decodeProposal((await this.proven('/health/proposal', idQueryData(id)))!);
  }

  /** Every entry of a patient's list, page by page, each page proven, ending at a proven absence or a short page. */
  async list(path: string, owner: string): Promise<Canonical[]> {
    const out: Canonical[] = [];
    for (let page = 0; ; page++) {
      const v = await this.proven(path, patientListQueryData(owner, page));
      if (v === null) return out;
      const entries = decodePage(v);
      out.push(...entries);
      if (entries.length < LIST_PAGE_SIZE) return out;
    }
  }

  async pending(patientId: string): Promise<string[]> {
    const v = await this.proven('/health/pending', idQueryData(patientId));
    return v === null ? [] : decodeIdList(v);
  }
}

// --- patients and payload builders ---

export interface TestPatient {
  readonly key: KeyPair;
  readonly id: string;
}

export function patient(label: string): TestPatient {
  const key = keyOf(`patient/${label}`);
  return { key, id: patientIdOf(key.publicKey) };
}

export function registerTx(p: TestPatient, by: string): HealthTx {
  return registerPatientTx(CHAIN_ID, by, p.key);
}

export function rotateTx(p: TestPatient, next: KeyPair): HealthTx {
  return rotatePatientKeyTx(CHAIN_ID, p.id, next);
}

export function anchorTx(
  p: TestPatient,
  label: string,
  category: Extract<HealthTx, { type: 'record.anchor' }>['category'] = 'Observation.laboratory',
  supersedes: string | null = null,
): HealthTx {
  return {
    type: 'record.anchor',
    patient: p.id,
    category,
    ciphertextHash: sha256(utf8.encode(`ciphertext/${label}`)),
    commitment: sha256(utf8.encode(`commitment/${label}`)),
    size: 1234n,
    supersedes,
  };
}

export function recordId(custodian: string, p: TestPatient, label: string): string {
  return recordIdOf(custodian, p.id, sha256(utf8.encode(`ciphertext/${label}`)));
}

/** A consent letting `grantee` read the patient's records of these categories for these purposes. */
export function grantTx(
  p: TestPatient,
  grantee: string,
  rule: Partial<Provision> = {},
): Extract<HealthTx, { type: 'consent.grant' }> {
  return {
    type: 'consent.grant',
    patient: p.id,
    grantee,
    provision: provision({
      type: 'permit',
      actions: ['read'],
      purposes: ['TREAT'],
      categories: ['Observation'],
      ...rule,
    }),
  };
}

export function accessTx(
  p: TestPatient,
  recipient: string,
  records: string[],
  purpose: Extract<HealthTx, { type: 'access.record' }>['purpose'] = 'TREAT',
  breakGlass = false,
): HealthTx {
  return {
    type: 'access.record',
    patient: p.id,
    recipient,
    purpose,
    action: 'read',
    records: records.sort(),
    breakGlass,
    release: null,
  };
}
