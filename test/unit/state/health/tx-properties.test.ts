/**
 * Property tests (fast-check) of every health tx type in packages/health/tx.ts's TX_TYPES:
 *
 * 1. Codec: arbitrary valid payloads of every type round-trip through their canonical encoding
 *    (and re-encode to the same bytes); single-byte changes, truncations, insertions and appended
 *    bytes of a valid encoding are refused with a CareLedgerError whose code is in the health
 *    error table, or decode to a tx whose encoding is exactly the mutated bytes (one tx, one
 *    encoding), never another exception.
 * 2. Execution isolation: random histories of txs of every type, valid ones built from the current
 *    state (registered patients, anchored records, consents, requests, claims, proposals,
 *    delegates, break-glass declarations) mixed with deliberately wrong ones (a stranger's key,
 *    a replayed nonce, a resent tx, unknown ids, another patient's key or record, the wrong member)
 *    run through a real HealthApp. A second, fresh app runs every block without the txs that failed
 *    on the first: the app hash, the results of the kept txs, block events and validator updates
 *    must be the same at every height. Every failure has a code from packages/health/errors.ts and
 *    `code === errorNumber(codespace)`; wrong txs never succeed; replays fail with
 *    HEALTH_NONCE_REPLAYED.
 * 3. Replay: after a random history, every successful tx sent again (the same bytes, or the same
 *    payload signed again with a nonce at or below the one it used) is refused by checkTx and fails
 *    in a block with HEALTH_NONCE_REPLAYED, and that block's state is exactly the state of an
 *    empty block at the same height and time (same ops, same app hash).
 *
 * The arbitraries are keyed by tx type and the tests count the types they generate, so a new tx
 * type without a generator fails here. Runs are seeded: CARELEDGER_PROPERTY_SEED (an integer) sets
 * the seed, 20260101 by default; fast-check prints the seed and path of a failing case. Each app
 * runs over classic-level in a temp folder, closed and removed after. DEBUG_TX_PROPERTIES=1 prints
 * what the execution generator covered (types planned and succeeded, faults, failure codes).
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode } from '../../../../packages/codec/canonical.ts';
import { CareLedgerError } from '../../../../packages/core/errors.ts';
import type { KeyPair } from '../../../../packages/crypto/ed25519.ts';
import { sha256, toHex } from '../../../../packages/crypto/hash.ts';
import {
  ACTIONS,
  BREAK_GLASS_REASONS,
  CATEGORIES,
  type Category,
  DAY_MS,
  DELEGATE_POWERS,
  DELEGATE_ROLES,
  type DelegatePower,
  ERASURE_REASONS,
  PURPOSES,
  type Purpose,
  REQUEST_REASONS,
  ROLES,
} from '../../../../packages/health/codes.ts';
import { errorNumber, HEALTH_ERRORS } from '../../../../packages/health/errors.ts';
import {
  derivedId,
  ID_KINDS,
  type IdKind,
  patientIdOf,
  recordIdOf,
} from '../../../../packages/health/ids.ts';
import {
  type GovAction,
  MAX_LINE_AMOUNT,
  MAX_RECORD_BYTES,
  MAX_VALIDATOR_POWER,
  PARAM_BOUNDS,
  PARAM_NAMES,
  type ParamName,
} from '../../../../packages/health/model.ts';
import { compareStrings, type Provision, provision } from '../../../../packages/health/provision.ts';
import {
  accessRecordTx,
  claimSubmitTx,
  decodeHealthTx,
  encodeHealthTx,
  type HealthTx,
  type HealthTxOf,
  type HealthTxType,
  registerPatientTx,
  requestCreateTx,
  rotatePatientKeyTx,
  signHealthTx,
  TX_TYPES,
} from '../../../../packages/health/tx.ts';
import type { CheckedTx } from '../../../../packages/types/tx.ts';
import type { ExecTxResult, FinalizeResult } from '../../../../state/application.ts';
import { anchorTx, blockAt, CHAIN_ID, Harness, HOUR, keyOf, MEMBERS, member, patient } from './fixtures.ts';

const SEED = (() => {
  const raw = process.env.CARELEDGER_PROPERTY_SEED;
  const seed = raw === undefined || raw === '' ? 20260101 : Number(raw);
  if (!Number.isSafeInteger(seed)) throw new Error(`CARELEDGER_PROPERTY_SEED must be an integer, got ${raw}`);
  return seed;
})();

const utf8 = new TextEncoder();
const U64_MAX = 2n ** 63n - 1n;

/** A failure is a CareLedgerError with a code from the health error table. */
function isHealthError(err: unknown): err is CareLedgerError {
  return err instanceof CareLedgerError && Object.hasOwn(HEALTH_ERRORS, err.code);
}

function describeError(err: unknown): string {
  return err instanceof CareLedgerError
    ? `CareLedgerError ${err.code}: ${err.message}`
    : `${(err as Error)?.name}: ${String((err as Error)?.message ?? err)}`;
}

// --- 1. codec ------------------------------------------------------------------------------------

const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
const optU64 = fc.option(u64, { nil: null });
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const sig64 = fc.uint8Array({ minLength: 64, maxLength: 64 });
const hash32 = key32;
/** An X25519 public key: any 32 bytes but the few small-order points (which decoding refuses). */
const recordKey32 = key32.filter((k) => k.some((b, i) => b !== 0 && i > 0) && k[0]! < 0xe0);
const idArb = (kind: IdKind) =>
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => `${ID_KINDS[kind]}${toHex(b)}`);
const memberIdArb = fc.stringMatching(/^[a-z][a-z0-9-]{1,39}$/);
/** A sorted, duplicate-free subset of a closed code list (the one order decoding accepts). */
const codeSet = <T extends string>(codes: readonly T[], minLength = 0) =>
  fc.subarray([...codes], { minLength }).map((xs) => [...xs].sort(compareStrings));
const idSet = (kind: IdKind, minLength: number, maxLength: number) =>
  fc.uniqueArray(idArb(kind), { minLength, maxLength }).map((xs) => [...xs].sort(compareStrings));
const serviceCode = fc.oneof(fc.stringMatching(/^[0-9]{4}[0-9A-Z]$/), fc.stringMatching(/^[A-V][0-9]{4}$/));
const adjustmentReason = fc.stringMatching(/^(?:CO|CR|OA|PI|PR)-[A-Z0-9]{1,4}$/);
const period = fc.tuple(optU64, optU64).map(([start, end]) => {
  if (start !== null && end !== null && end <= start)
    return start === U64_MAX ? [null, end] : [start, start + 1n];
  return [start, end];
});

function provisionArb(depth: number): fc.Arbitrary<Provision> {
  // Depth 3 at most, at most 3 + 3 * 2 nested provisions: within every decoding bound.
  const nested =
    depth >= 3 ? fc.constant([] as Provision[]) : fc.array(provisionArb(depth + 1), { maxLength: 3 - depth });
  return fc
    .record({
      type: fc.constantFrom<'permit' | 'deny'>('permit', 'deny'),
      period,
      actions: codeSet(ACTIONS),
      purposes: codeSet(PURPOSES),
      categories: codeSet(CATEGORIES),
      records: idSet('record', 0, 4),
      provisions: nested,
    })
    .map(({ period: [start, end], ...p }) => ({ ...p, start: start ?? null, end: end ?? null }));
}

const rolesArb = codeSet(ROLES, 1);
const paramArb = fc
  .constantFrom(...(Object.keys(PARAM_NAMES) as ParamName[]))
  .chain((name) =>
    fc
      .bigInt({ min: PARAM_BOUNDS[PARAM_NAMES[name]][0], max: PARAM_BOUNDS[PARAM_NAMES[name]][1] })
      .map((value): GovAction => ({ kind: 'params.set', name, value })),
  );
const govActionArb: fc.Arbitrary<GovAction> = fc.oneof(
  fc.record({
    kind: fc.constant('member.add' as const),
    member: memberIdArb,
    pubKey: key32,
    roles: rolesArb,
  }),
  fc.record({ kind: fc.constant('member.remove' as const), member: memberIdArb }),
  fc.record({ kind: fc.constant('member.roles' as const), member: memberIdArb, roles: rolesArb }),
  fc.record({ kind: fc.constant('member.rekey' as const), member: memberIdArb, pubKey: key32 }),
  fc.record({
    kind: fc.constant('member.record-key' as const),
    member: memberIdArb,
    recordKey: fc.option(recordKey32, { nil: null }),
  }),
  fc.record({
    kind: fc.constant('validator.set' as const),
    pubKey: key32,
    power: fc.bigInt({ min: 0n, max: MAX_VALIDATOR_POWER }),
  }),
  paramArb,
);

/** One generator per tx type: the mapped type makes a missing one a type error, the test a failure. */
const payloadArbs: { readonly [T in HealthTxType]: fc.Arbitrary<HealthTxOf<T>> } = {
  'patient.register': fc.record({
    type: fc.constant('patient.register' as const),
    patientKey: key32,
    proof: sig64,
  }),
  'patient.rotate-key': fc.record({
    type: fc.constant('patient.rotate-key' as const),
    patient: idArb('patient'),
    newKey: key32,
    proof: sig64,
  }),
  'delegate.set': fc.record({
    type: fc.constant('delegate.set' as const),
    patient: idArb('patient'),
    delegate: fc.record({
      pubKey: key32,
      role: fc.constantFrom(...DELEGATE_ROLES),
      powers: codeSet(DELEGATE_POWERS, 1),
      purposes: codeSet(PURPOSES),
      expiresAt: optU64,
      maxConsentMs: fc.option(fc.bigInt({ min: 1n, max: U64_MAX }), { nil: null }),
    }),
  }),
  'delegate.remove': fc.record({
    type: fc.constant('delegate.remove' as const),
    patient: idArb('patient'),
    delegateKey: key32,
  }),
  'record.anchor': fc.record({
    type: fc.constant('record.anchor' as const),
    patient: idArb('patient'),
    category: fc.constantFrom(...CATEGORIES),
    ciphertextHash: hash32,
    commitment: hash32,
    size: fc.bigInt({ min: 1n, max: MAX_RECORD_BYTES }),
    supersedes: fc.option(idArb('record'), { nil: null }),
  }),
  'record.erase': fc.record({
    type: fc.constant('record.erase' as const),
    record: idArb('record'),
    reason: fc.constantFrom(...ERASURE_REASONS),
  }),
  'consent.grant': fc.record({
    type: fc.constant('consent.grant' as const),
    patient: idArb('patient'),
    grantee: fc.oneof(memberIdArb, fc.constant('*')),
    provision: provisionArb(1),
  }),
  'consent.revoke': fc.record({ type: fc.constant('consent.revoke' as const), consent: idArb('consent') }),
  'request.create': fc.record({
    type: fc.constant('request.create' as const),
    patient: idArb('patient'),
    categories: codeSet(CATEGORIES),
    records: idSet('record', 0, 32),
    purposes: codeSet(PURPOSES),
    actions: codeSet(ACTIONS),
    reason: fc.constantFrom(...REQUEST_REASONS),
    periodEnd: optU64,
    expiresAt: u64,
  }),
  'request.approve': fc.record({
    type: fc.constant('request.approve' as const),
    request: idArb('request'),
    periodEnd: optU64,
    exceptions: fc.array(provisionArb(2), { maxLength: 4 }),
  }),
  'request.deny': fc.record({ type: fc.constant('request.deny' as const), request: idArb('request') }),
  'access.record': fc.record({
    type: fc.constant('access.record' as const),
    patient: idArb('patient'),
    recipient: memberIdArb,
    purpose: fc.constantFrom(...PURPOSES),
    action: fc.constantFrom(...ACTIONS),
    records: idSet('record', 1, 32),
    breakGlass: fc.boolean(),
    release: fc.option(hash32, { nil: null }),
  }),
  'breakglass.declare': fc.record({
    type: fc.constant('breakglass.declare' as const),
    patient: idArb('patient'),
    reason: fc.constantFrom(...BREAK_GLASS_REASONS),
  }),
  'claim.submit': fc.record({
    type: fc.constant('claim.submit' as const),
    patient: idArb('patient'),
    payer: memberIdArb,
    lines: fc.array(
      fc.record({
        code: serviceCode,
        date: u64,
        amount: fc.bigInt({ min: 1n, max: MAX_LINE_AMOUNT }),
        records: idSet('record', 1, 16),
      }),
      { minLength: 1, maxLength: 50 },
    ),
    supersedes: fc.option(idArb('claim'), { nil: null }),
  }),
  'claim.adjudicate': fc.oneof(
    fc.record({
      type: fc.constant('claim.adjudicate' as const),
      claim: idArb('claim'),
      outcome: fc.constant('approved' as const),
      amounts: fc.constant([] as bigint[]),
      reason: fc.constant(null),
    }),
    fc.record({
      type: fc.constant('claim.adjudicate' as const),
      claim: idArb('claim'),
      outcome: fc.constant('denied' as const),
      amounts: fc.constant([] as bigint[]),
      reason: adjustmentReason,
    }),
    fc.record({
      type: fc.constant('claim.adjudicate' as const),
      claim: idArb('claim'),
      outcome: fc.constant('partial' as const),
      amounts: fc.array(u64, { minLength: 1, maxLength: 50 }),
      reason: adjustmentReason,
    }),
  ),
  'gov.propose': fc.record({
    type: fc.constant('gov.propose' as const),
    action: govActionArb,
    deadline: u64,
  }),
  'gov.vote': fc.record({
    type: fc.constant('gov.vote' as const),
    proposal: idArb('proposal'),
    approve: fc.boolean(),
  }),
  'member.set-record-key': fc.record({
    type: fc.constant('member.set-record-key' as const),
    recordKey: fc.option(recordKey32, { nil: null }),
  }),
};

const anyPayload: fc.Arbitrary<HealthTx> = fc.oneof(
  ...TX_TYPES.map((type) => payloadArbs[type] as fc.Arbitrary<HealthTx>),
);

test('the codec generators cover exactly TX_TYPES', () => {
  assert.equal(Object.keys(payloadArbs).sort(compareStrings), [...TX_TYPES].sort(compareStrings));
  const seen = new Map<string, number>();
  for (const tx of fc.sample(anyPayload, { seed: SEED, numRuns: 400 }))
    seen.set(tx.type, (seen.get(tx.type) ?? 0) + 1);
  assert.equal(
    [...seen.keys()].sort(compareStrings),
    [...TX_TYPES].sort(compareStrings),
    'every type is generated',
  );
});

test('codec: every valid payload of every type round-trips to the same tx and the same bytes', () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(anyPayload, (tx) => {
      seen.add(tx.type);
      const bytes = encodeHealthTx(tx);
      let decoded: HealthTx;
      try {
        decoded = decodeHealthTx(bytes);
      } catch (err) {
        throw new Error(`a valid ${tx.type} payload was refused: ${describeError(err)}`);
      }
      // fast-check builds records without a prototype; compare with plain objects.
      assert.equal(decoded, structuredClone(tx), tx.type);
      assert.equal(encodeHealthTx(decoded), bytes, `${tx.type} re-encodes to the same bytes`);
    }),
    { seed: SEED, numRuns: 600 },
  );
  assert.equal([...seen].sort(compareStrings), [...TX_TYPES].sort(compareStrings), 'every type was tested');
});

type Mutation =
  | { readonly kind: 'set'; readonly at: number; readonly xor: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly byte: number }
  | { readonly kind: 'delete'; readonly at: number }
  | { readonly kind: 'append'; readonly bytes: Uint8Array };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      at: fc.nat(),
      xor: fc.integer({ min: 1, max: 255 }),
    }),
  },
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const out = [...bytes];
  switch (m.kind) {
    case 'set': {
      const i = m.at % out.length;
      out[i] = out[i]! ^ m.xor;
      break;
    }
    case 'truncate':
      out.length = m.at % out.length;
      break;
    case 'insert':
      out.splice(m.at % (out.length + 1), 0, m.byte);
      break;
    case 'delete':
      out.splice(m.at % out.length, 1);
      break;
    case 'append':
      out.push(...m.bytes);
      break;
  }
  return Uint8Array.from(out);
}

test('codec: a changed, cut or extended encoding is refused with a health code, or is the one encoding of another tx', () => {
  const seen = new Set<string>();
  const outcomes = { refused: 0, decoded: 0 };
  fc.assert(
    fc.property(anyPayload, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (tx, mutations) => {
      seen.add(tx.type);
      const valid = encodeHealthTx(tx);
      for (const m of mutations) {
        const bytes = mutate(valid, m);
        let decoded: HealthTx;
        try {
          decoded = decodeHealthTx(bytes);
        } catch (err) {
          assert.ok(
            isHealthError(err),
            `${tx.type} ${JSON.stringify(m, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v))}: ${describeError(err)}`,
          );
          outcomes.refused++;
          continue;
        }
        outcomes.decoded++;
        assert.ok(TX_TYPES.includes(decoded.type), `decoded a known type (${decoded.type})`);
        assert.equal(
          toHex(encodeHealthTx(decoded)),
          toHex(bytes),
          `${tx.type}: a mutated encoding that decodes is the canonical encoding of what it decodes to`,
        );
      }
    }),
    { seed: SEED, numRuns: 800 },
  );
  assert.equal([...seen].sort(compareStrings), [...TX_TYPES].sort(compareStrings), 'every type was mutated');
  assert.ok(
    outcomes.refused > 0 && outcomes.decoded > 0,
    `both outcomes occur (${JSON.stringify(outcomes)})`,
  );
});

// --- a model of the state, to build valid and wrong txs from it ------------------------------------

const MEMBER_IDS = MEMBERS.map((m) => m.id);
const PROVIDERS = ['city-hospital', 'north-clinic'];
const CUSTODIANS = ['city-hospital', 'north-clinic', 'acme-lab'];
const PAYER = 'good-insurance';
const RECORD_CATEGORIES: Category[] = ['Observation.laboratory', 'Condition', 'Procedure'];
const GRANT_CATEGORIES: Category[] = ['Observation', 'Condition', 'Procedure'];
const GRANT_PURPOSES: Purpose[] = ['TREAT', 'HPAYMT', 'ETREAT'];

interface PatientState {
  readonly id: string;
  key: KeyPair;
  delegates: { readonly key: KeyPair; readonly powers: readonly DelegatePower[] }[];
}
interface RecordState {
  readonly id: string;
  readonly patient: string;
  readonly custodian: string;
  readonly category: Category;
  erased: boolean;
  superseded: boolean;
}
interface ConsentState {
  readonly id: string;
  readonly patient: string;
  readonly grantee: string;
  readonly type: 'permit' | 'deny';
  readonly purposes: readonly Purpose[];
  readonly categories: readonly Category[];
  revoked: boolean;
}
interface RequestState {
  readonly id: string;
  readonly patient: string;
  readonly requester: string;
  readonly purposes: readonly Purpose[];
  readonly categories: readonly Category[];
  readonly expiresAt: bigint;
  open: boolean;
}
interface ClaimState {
  readonly id: string;
  readonly patient: string;
  readonly code: string;
  readonly date: bigint;
  readonly provider: string;
  readonly payer: string;
  readonly amounts: readonly bigint[];
  open: boolean;
}
interface ProposalState {
  readonly id: string;
  readonly voters: Set<string>;
  readonly deadline: bigint;
}

/** A deliberately wrong tx, or a valid one. */
type Fault = 'valid' | 'replay' | 'resend' | 'stranger' | 'unknown' | 'misdirected';
const FAULTS: readonly Fault[] = ['valid', 'replay', 'resend', 'stranger', 'unknown', 'misdirected'];

interface Signed {
  readonly key: KeyPair;
  readonly payload: HealthTx;
  readonly tx: CheckedTx;
}

class World {
  readonly patients: PatientState[] = [];
  readonly records: RecordState[] = [];
  readonly consents: ConsentState[] = [];
  readonly requests: RequestState[] = [];
  readonly claims: ClaimState[] = [];
  readonly proposals: ProposalState[] = [];
  readonly breakGlass: { patient: string; member: string; until: bigint }[] = [];
  /** Every tx that succeeded, with the key and payload it was signed with. */
  readonly successes: Signed[] = [];
  private readonly nonces = new Map<string, bigint>();
  serial = 0;

  patient(id: string): PatientState | undefined {
    return this.patients.find((p) => p.id === id);
  }

  /** The next nonce of `key` (never reused: a failed tx leaves a gap, which is allowed). */
  nextNonce(key: KeyPair): bigint {
    const id = toHex(key.publicKey);
    const n = (this.nonces.get(id) ?? 0n) + 1n;
    this.nonces.set(id, n);
    return n;
  }

  fresh(label: string): string {
    return `${label}-${this.serial++}`;
  }
}

/** Reads an intent's choices; wraps around, each read different. */
class Picks {
  private i = 0;
  private readonly values: readonly number[];
  constructor(values: readonly number[]) {
    this.values = values.length === 0 ? [0] : values;
  }
  next(): number {
    const v = this.values[this.i % this.values.length]! + Math.floor(this.i / this.values.length) * 7919;
    this.i++;
    return v;
  }
  int(n: number): number {
    return this.next() % n;
  }
  chance(percent: number): boolean {
    return this.int(100) < percent;
  }
  pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.int(xs.length)];
  }
  pickOr<T>(xs: readonly T[], fallback: T): T {
    return this.pick(xs) ?? fallback;
  }
}

interface Env {
  readonly height: bigint;
  readonly time: bigint;
}

interface Built {
  readonly key: KeyPair;
  readonly payload: HealthTx;
  /** Applies the tx's effect to the model; gets the result's log (the created id). */
  readonly onSuccess?: (log: string) => void;
}

const stranger = (n: number): KeyPair => keyOf(`stranger/${n}`);
const ghostPatient = (w: World) => patientIdOf(keyOf(`ghost/${w.serial++}`).publicKey);
const ghostRecord = (w: World) =>
  recordIdOf('nobody', ghostPatient(w), sha256(utf8.encode(`ghost/${w.serial++}`)));
const ghostId = (w: World, kind: 'consent' | 'request' | 'claim' | 'proposal') =>
  derivedId(kind, sha256(utf8.encode(`ghost/${w.serial++}`)));
const otherMember = (r: Picks, not: string) =>
  r.pickOr(
    MEMBER_IDS.filter((m) => m !== not),
    PAYER,
  );

type Mode = 'valid' | 'unknown' | 'misdirected';
type Builder = (w: World, mode: Mode, r: Picks, env: Env) => Built;

/** The patient acting, or one of its delegates holding `power` (sometimes), or null. */
function patientSigner(r: Picks, p: PatientState, power: DelegatePower): KeyPair {
  const able = p.delegates.filter((d) => d.powers.includes(power));
  return able.length > 0 && r.chance(25) ? r.pick(able)!.key : p.key;
}

/** A key that does not act for `p`: another patient's, or a stranger's. */
function notPatientsKey(w: World, r: Picks, p: PatientState | undefined): KeyPair {
  const others = w.patients.filter((q) => q !== p);
  return r.pick(others)?.key ?? stranger(r.next());
}

function covers(scope: readonly Category[], category: Category): boolean {
  return scope.some((s) => category === s || category.startsWith(`${s}.`));
}

const BUILDERS: { readonly [T in HealthTxType]: Builder } = {
  'patient.register': (w, mode, r) => {
    const label = w.fresh('n');
    const p = patient(label);
    const by = r.pickOr(MEMBER_IDS, PAYER);
    if (mode === 'unknown')
      // A proof made for another enrolling member.
      return { key: member(by), payload: registerPatientTx(CHAIN_ID, otherMember(r, by), p.key) };
    if (mode === 'misdirected')
      // A member's key registered as a patient's.
      return {
        key: member(by),
        payload: registerPatientTx(CHAIN_ID, by, member(r.pickOr(MEMBER_IDS, PAYER))),
      };
    return {
      key: member(by),
      payload: registerPatientTx(CHAIN_ID, by, p.key),
      onSuccess: () => w.patients.push({ id: p.id, key: p.key, delegates: [] }),
    };
  },
  'patient.rotate-key': (w, mode, r) => {
    const p = r.pick(w.patients);
    const next = keyOf(w.fresh('rotated'));
    if (p === undefined || mode === 'unknown') {
      const ghost = keyOf(w.fresh('ghost'));
      return { key: ghost, payload: rotatePatientKeyTx(CHAIN_ID, patientIdOf(ghost.publicKey), next) };
    }
    if (mode === 'misdirected')
      return r.chance(50)
        ? { key: notPatientsKey(w, r, p), payload: rotatePatientKeyTx(CHAIN_ID, p.id, next) }
        : { key: p.key, payload: rotatePatientKeyTx(CHAIN_ID, p.id, member(r.pickOr(MEMBER_IDS, PAYER))) };
    return {
      key: p.key,
      payload: rotatePatientKeyTx(CHAIN_ID, p.id, next),
      onSuccess: () => {
        p.key = next;
      },
    };
  },
  'delegate.set': (w, mode, r, env) => {
    const p = r.pick(w.patients);
    const existing = p === undefined ? undefined : r.pick(p.delegates);
    const dkey = existing !== undefined && r.chance(30) ? existing.key : keyOf(w.fresh('delegate'));
    const mask = 1 + r.int(15);
    const powers = DELEGATE_POWERS.filter((_, i) => (mask >> i) & 1);
    const payload = (patientId: string): HealthTx => ({
      type: 'delegate.set',
      patient: patientId,
      delegate: {
        pubKey: dkey.publicKey,
        role: r.pickOr(DELEGATE_ROLES, 'proxy'),
        powers,
        purposes: r.chance(70) ? [] : ['TREAT'],
        expiresAt: r.chance(70) ? null : env.time + DAY_MS,
        maxConsentMs: null,
      },
    });
    if (p === undefined || mode === 'unknown')
      return { key: keyOf(w.fresh('ghost')), payload: payload(ghostPatient(w)) };
    if (mode === 'misdirected') {
      // A delegate may not name delegates; nor may another patient.
      const key = r.pick(p.delegates)?.key ?? notPatientsKey(w, r, p);
      return { key, payload: payload(p.id) };
    }
    return {
      key: p.key,
      payload: payload(p.id),
      onSuccess: () => {
        p.delegates = [
          ...p.delegates.filter((d) => toHex(d.key.publicKey) !== toHex(dkey.publicKey)),
          { key: dkey, powers },
        ];
      },
    };
  },
  'delegate.remove': (w, mode, r) => {
    const p = r.pick(w.patients.filter((x) => x.delegates.length > 0)) ?? r.pick(w.patients);
    const d = p === undefined ? undefined : r.pick(p.delegates);
    const dkey = d?.key ?? keyOf(w.fresh('not-a-delegate'));
    const payload = (patientId: string): HealthTx => ({
      type: 'delegate.remove',
      patient: patientId,
      delegateKey: dkey.publicKey,
    });
    if (p === undefined || mode === 'unknown') return { key: dkey, payload: payload(ghostPatient(w)) };
    if (mode === 'misdirected') return { key: notPatientsKey(w, r, p), payload: payload(p.id) };
    return {
      key: d !== undefined && r.chance(30) ? d.key : p.key,
      payload: payload(p.id),
      onSuccess: () => {
        p.delegates = p.delegates.filter((x) => x !== d);
      },
    };
  },
  'record.anchor': (w, mode, r) => {
    const custodian = r.pickOr(CUSTODIANS, 'acme-lab');
    const p = r.pick(w.patients);
    const category = r.pickOr(RECORD_CATEGORIES, 'Condition');
    const label = w.fresh('ciphertext');
    if (p === undefined || mode === 'unknown')
      return r.chance(50) || p === undefined
        ? {
            key: member(custodian),
            payload: anchorTx({ id: ghostPatient(w), key: p?.key ?? stranger(0) }, label, category),
          }
        : { key: member(custodian), payload: anchorTx(p, label, category, ghostRecord(w)) };
    if (mode === 'misdirected') {
      // Only a provider or a lab anchors; only the custodian amends its own record.
      const foreign = r.pick(w.records.filter((x) => x.custodian !== custodian));
      if (foreign === undefined || r.chance(40))
        return {
          key: member(r.pickOr([PAYER, 'uni-research'], PAYER)),
          payload: anchorTx(p, label, category),
        };
      const owner = w.patient(foreign.patient) ?? p;
      return { key: member(custodian), payload: anchorTx(owner, label, category, foreign.id) };
    }
    const amendable = w.records.filter(
      (x) => x.patient === p.id && x.custodian === custodian && !x.erased && !x.superseded,
    );
    const old = r.chance(20) ? r.pick(amendable) : undefined;
    return {
      key: member(custodian),
      payload: anchorTx(p, label, category, old?.id ?? null),
      onSuccess: (id) => {
        w.records.push({ id, patient: p.id, custodian, category, erased: false, superseded: false });
        if (old !== undefined) old.superseded = true;
      },
    };
  },
  'record.erase': (w, mode, r) => {
    const reason = r.pickOr(ERASURE_REASONS, 'ENTERED_IN_ERROR');
    const rec = r.pick(w.records.filter((x) => !x.erased)) ?? r.pick(w.records);
    if (rec === undefined || mode === 'unknown')
      return {
        key: member(r.pickOr(CUSTODIANS, 'acme-lab')),
        payload: { type: 'record.erase', record: ghostRecord(w), reason },
      };
    const payload: HealthTx = { type: 'record.erase', record: rec.id, reason };
    if (mode === 'misdirected') return { key: member(otherMember(r, rec.custodian)), payload };
    return {
      key: member(rec.custodian),
      payload,
      onSuccess: () => {
        rec.erased = true;
      },
    };
  },
  'consent.grant': (w, mode, r, env) => {
    const p = r.pick(w.patients);
    const deny = r.chance(10);
    const toPayer = !deny && r.chance(35);
    const grantee = deny && r.chance(50) ? '*' : toPayer ? PAYER : r.pickOr(MEMBER_IDS, PAYER);
    const purposes: Purpose[] = toPayer ? ['HPAYMT'] : [r.pickOr(GRANT_PURPOSES, 'TREAT')];
    const categories: Category[] = [r.pickOr(GRANT_CATEGORIES, 'Condition')];
    const mine = p === undefined ? [] : w.records.filter((x) => x.patient === p.id);
    const named = r.chance(20) ? r.pick(mine) : undefined;
    const end = r.chance(60) ? null : env.time + BigInt(1 + r.int(6)) * HOUR;
    const rule = (records: string[]) =>
      deny
        ? provision({ type: 'deny', categories, records, end })
        : provision({ type: 'permit', actions: ['read'], purposes, categories, records, end });
    const payload = (patientId: string, rec: string[] = named ? [named.id] : []): HealthTx => ({
      type: 'consent.grant',
      patient: patientId,
      grantee,
      provision: rule(rec),
    });
    if (p === undefined || mode === 'unknown')
      return p === undefined || r.chance(50)
        ? { key: keyOf(w.fresh('ghost')), payload: payload(ghostPatient(w)) }
        : { key: p.key, payload: payload(p.id, [ghostRecord(w)]) };
    if (mode === 'misdirected') {
      const foreign = r.pick(w.records.filter((x) => x.patient !== p.id));
      const choice = r.int(3);
      if (choice === 0 && foreign !== undefined) return { key: p.key, payload: payload(p.id, [foreign.id]) };
      if (choice === 1)
        return {
          key: p.key,
          payload: {
            type: 'consent.grant',
            patient: p.id,
            grantee: '*',
            provision: provision({ type: 'permit', actions: ['read'], purposes, categories }),
          },
        };
      return { key: notPatientsKey(w, r, p), payload: payload(p.id) };
    }
    return {
      key: patientSigner(r, p, 'grant'),
      payload: payload(p.id),
      onSuccess: (id) =>
        w.consents.push({
          id,
          patient: p.id,
          grantee,
          type: deny ? 'deny' : 'permit',
          purposes,
          categories,
          revoked: false,
        }),
    };
  },
  'consent.revoke': (w, mode, r) => {
    const c = r.pick(w.consents.filter((x) => !x.revoked)) ?? r.pick(w.consents);
    const owner = c === undefined ? undefined : w.patient(c.patient);
    if (c === undefined || owner === undefined || mode === 'unknown')
      return {
        key: r.pick(w.patients)?.key ?? stranger(r.next()),
        payload: { type: 'consent.revoke', consent: ghostId(w, 'consent') },
      };
    const payload: HealthTx = { type: 'consent.revoke', consent: c.id };
    if (mode === 'misdirected') return { key: notPatientsKey(w, r, owner), payload };
    return {
      key: patientSigner(r, owner, 'revoke'),
      payload,
      onSuccess: () => {
        c.revoked = true;
      },
    };
  },
  'request.create': (w, mode, r, env) => {
    const requester = r.pickOr(MEMBER_IDS, PAYER);
    const p = r.pick(w.patients);
    const purposes: Purpose[] = [r.pickOr(GRANT_PURPOSES, 'TREAT')];
    const categories: Category[] = [r.pickOr(GRANT_CATEGORIES, 'Condition')];
    const expiresAt = env.time + BigInt(1 + r.int(6)) * HOUR;
    const spec = (patientId: string, records: string[] = []) =>
      requestCreateTx(patientId, {
        categories,
        records,
        purposes,
        actions: ['read'],
        reason: r.pickOr(REQUEST_REASONS, 'REFERRAL'),
        periodEnd: r.chance(50) ? null : env.time + DAY_MS,
        expiresAt,
      });
    if (p === undefined || mode === 'unknown')
      return { key: member(requester), payload: spec(ghostPatient(w)) };
    if (mode === 'misdirected') {
      const foreign = r.pick(w.records.filter((x) => x.patient !== p.id));
      if (foreign !== undefined && r.chance(60))
        return { key: member(requester), payload: spec(p.id, [foreign.id]) };
      return { key: member(requester), payload: { ...spec(p.id), expiresAt: env.time } };
    }
    return {
      key: member(requester),
      payload: spec(p.id),
      onSuccess: (id) =>
        w.requests.push({ id, patient: p.id, requester, purposes, categories, expiresAt, open: true }),
    };
  },
  'request.approve': (w, mode, r, env) => {
    const q = r.pick(w.requests.filter((x) => x.open && x.expiresAt > env.time)) ?? r.pick(w.requests);
    const owner = q === undefined ? undefined : w.patient(q.patient);
    const exceptions = r.chance(30) ? [provision({ type: 'deny', purposes: ['HRESCH'] })] : [];
    if (q === undefined || owner === undefined || mode === 'unknown')
      return {
        key: r.pick(w.patients)?.key ?? stranger(r.next()),
        payload: { type: 'request.approve', request: ghostId(w, 'request'), periodEnd: null, exceptions },
      };
    const payload: HealthTx = { type: 'request.approve', request: q.id, periodEnd: null, exceptions };
    if (mode === 'misdirected') return { key: notPatientsKey(w, r, owner), payload };
    return {
      key: patientSigner(r, owner, 'approve'),
      payload,
      onSuccess: (id) => {
        q.open = false;
        w.consents.push({
          id,
          patient: q.patient,
          grantee: q.requester,
          type: 'permit',
          purposes: q.purposes,
          categories: q.categories,
          revoked: false,
        });
      },
    };
  },
  'request.deny': (w, mode, r, env) => {
    const q = r.pick(w.requests.filter((x) => x.open && x.expiresAt > env.time)) ?? r.pick(w.requests);
    const owner = q === undefined ? undefined : w.patient(q.patient);
    if (q === undefined || owner === undefined || mode === 'unknown')
      return {
        key: r.pick(w.patients)?.key ?? stranger(r.next()),
        payload: { type: 'request.deny', request: ghostId(w, 'request') },
      };
    const payload: HealthTx = { type: 'request.deny', request: q.id };
    if (mode === 'misdirected') return { key: notPatientsKey(w, r, owner), payload };
    return {
      key: patientSigner(r, owner, 'deny'),
      payload,
      onSuccess: () => {
        q.open = false;
      },
    };
  },
  'access.record': (w, mode, r, env) => {
    const live = w.records.filter((x) => !x.erased);
    if (live.length === 0 || mode === 'unknown') {
      const p = r.pick(w.patients);
      const custodian = r.pickOr(CUSTODIANS, 'acme-lab');
      return {
        key: member(custodian),
        payload: accessRecordTx({
          patient: p?.id ?? ghostPatient(w),
          recipient: otherMember(r, custodian),
          purpose: 'TREAT',
          action: 'read',
          records: [ghostRecord(w)],
        }),
      };
    }
    if (mode === 'misdirected') {
      // Only the custodian records a disclosure of its record.
      const rec = r.pick(live)!;
      const signer = otherMember(r, rec.custodian);
      return {
        key: member(signer),
        payload: accessRecordTx({
          patient: rec.patient,
          recipient: otherMember(r, signer),
          purpose: 'TREAT',
          action: 'read',
          records: [rec.id],
        }),
      };
    }
    // Under break-glass, or under a consent that covers the record, else whatever the engine says.
    const bg = r.chance(40) ? r.pick(w.breakGlass.filter((b) => b.until > env.time)) : undefined;
    const bgRecord = bg && r.pick(live.filter((x) => x.patient === bg.patient && x.custodian !== bg.member));
    if (bg !== undefined && bgRecord !== undefined)
      return {
        key: member(bgRecord.custodian),
        payload: accessRecordTx({
          patient: bg.patient,
          recipient: bg.member,
          purpose: 'ETREAT',
          action: 'read',
          records: [bgRecord.id],
          breakGlass: true,
        }),
      };
    const options = w.consents.flatMap((c) =>
      c.type !== 'permit' || c.revoked || c.grantee === '*'
        ? []
        : live
            .filter(
              (x) => x.patient === c.patient && x.custodian !== c.grantee && covers(c.categories, x.category),
            )
            .map((x) => ({ c, x })),
    );
    const chosen = r.pick(options);
    if (chosen !== undefined)
      return {
        key: member(chosen.x.custodian),
        payload: accessRecordTx({
          patient: chosen.x.patient,
          recipient: chosen.c.grantee,
          purpose: chosen.c.purposes[0]!,
          action: 'read',
          records: [chosen.x.id],
        }),
      };
    const rec = r.pick(live)!;
    return {
      key: member(rec.custodian),
      payload: accessRecordTx({
        patient: rec.patient,
        recipient: otherMember(r, rec.custodian),
        purpose: r.pickOr(GRANT_PURPOSES, 'TREAT'),
        action: 'read',
        records: [rec.id],
      }),
    };
  },
  'breakglass.declare': (w, mode, r, env) => {
    const p = r.pick(w.patients);
    const provider = r.pickOr(PROVIDERS, 'city-hospital');
    const reason = r.pickOr(BREAK_GLASS_REASONS, 'LIFE_THREATENING');
    if (p === undefined || mode === 'unknown')
      return {
        key: member(provider),
        payload: { type: 'breakglass.declare', patient: ghostPatient(w), reason },
      };
    const payload: HealthTx = { type: 'breakglass.declare', patient: p.id, reason };
    // Only a provider declares break-glass.
    if (mode === 'misdirected')
      return { key: member(r.pickOr(['acme-lab', PAYER, 'uni-research'], PAYER)), payload };
    return {
      key: member(provider),
      payload,
      onSuccess: () => w.breakGlass.push({ patient: p.id, member: provider, until: env.time + 4n * HOUR }),
    };
  },
  'claim.submit': (w, mode, r, env) => {
    const provider = r.pickOr(PROVIDERS, 'city-hospital');
    const live = w.records.filter((x) => !x.erased);
    const covered = w.consents.flatMap((c) =>
      c.type === 'permit' && !c.revoked && c.grantee === PAYER && c.purposes.includes('HPAYMT')
        ? live.filter((x) => x.patient === c.patient && covers(c.categories, x.category))
        : [],
    );
    const rec = r.pick(covered) ?? r.pick(live);
    const day = (env.time / DAY_MS - BigInt(r.int(3))) * DAY_MS;
    const amount = BigInt(2 + r.int(50_000));
    const line = (records: string[]) => ({
      code: String(10_000 + (w.serial++ % 90_000)),
      date: day,
      amount,
      records,
    });
    if (rec === undefined || mode === 'unknown')
      return {
        key: member(provider),
        payload: claimSubmitTx(r.pick(w.patients)?.id ?? ghostPatient(w), PAYER, [line([ghostRecord(w)])]),
      };
    if (mode === 'misdirected') {
      const choice = r.int(4);
      // A second line bills a service an earlier claim of this provider already billed: the
      // handler has written the first line's duplicate mark when it fails.
      const billed = r.pick(w.claims.filter((k) => k.provider === provider && k.patient === rec.patient));
      if (choice === 3 && billed !== undefined)
        return {
          key: member(provider),
          payload: claimSubmitTx(rec.patient, PAYER, [
            line([rec.id]),
            { code: billed.code, date: billed.date, amount, records: [rec.id] },
          ]),
        };
      // The payer must be a payer other than the provider; only a provider submits; a line's
      // records are the patient's.
      if (choice === 0)
        return { key: member(provider), payload: claimSubmitTx(rec.patient, 'acme-lab', [line([rec.id])]) };
      if (choice === 1)
        return { key: member(PAYER), payload: claimSubmitTx(rec.patient, PAYER, [line([rec.id])]) };
      const other = r.pick(w.patients.filter((q) => q.id !== rec.patient));
      return {
        key: member(provider),
        payload: claimSubmitTx(other?.id ?? ghostPatient(w), PAYER, [line([rec.id])]),
      };
    }
    const only = line([rec.id]);
    return {
      key: member(provider),
      payload: claimSubmitTx(rec.patient, PAYER, [only]),
      onSuccess: (id) =>
        w.claims.push({
          id,
          patient: rec.patient,
          code: only.code,
          date: only.date,
          provider,
          payer: PAYER,
          amounts: [amount],
          open: true,
        }),
    };
  },
  'claim.adjudicate': (w, mode, r) => {
    const k = r.pick(w.claims.filter((x) => x.open)) ?? r.pick(w.claims);
    const outcome = r.pickOr(['approved', 'denied', 'partial'] as const, 'approved');
    const payload = (claim: string, amounts: readonly bigint[]): HealthTx => ({
      type: 'claim.adjudicate',
      claim,
      outcome,
      amounts: outcome === 'partial' ? amounts.map((a) => a / 2n) : [],
      reason: outcome === 'approved' ? null : r.pickOr(['CO-45', 'CO-16', 'PR-1'], 'CO-45'),
    });
    if (k === undefined || mode === 'unknown')
      return { key: member(PAYER), payload: payload(ghostId(w, 'claim'), [10n]) };
    // Only the named payer adjudicates.
    if (mode === 'misdirected') return { key: member(k.provider), payload: payload(k.id, k.amounts) };
    return {
      key: member(k.payer),
      payload: payload(k.id, k.amounts),
      onSuccess: () => {
        k.open = false;
      },
    };
  },
  'gov.propose': (w, mode, r, env) => {
    const proposer = r.pickOr(MEMBER_IDS, PAYER);
    const deadline = env.height + BigInt(4 + r.int(16));
    if (mode === 'unknown')
      return {
        key: member(proposer),
        payload: {
          type: 'gov.propose',
          action: r.chance(50)
            ? { kind: 'member.remove', member: 'no-such-member' }
            : { kind: 'member.roles', member: 'no-such-member', roles: ['lab'] },
          deadline,
        },
      };
    const choice = r.int(3);
    const action: GovAction =
      choice === 0
        ? { kind: 'params.set', name: 'break_glass_window_ms', value: BigInt(2 + r.int(6)) * HOUR }
        : choice === 1
          ? {
              kind: 'validator.set',
              pubKey: keyOf(`new-validator/${r.int(3)}`).publicKey,
              power: BigInt(1 + r.int(5)),
            }
          : {
              kind: 'member.add',
              member: w.fresh('new-member'),
              pubKey: keyOf(w.fresh('new-member')).publicKey,
              roles: ['research'],
            };
    // A deadline in the past.
    if (mode === 'misdirected')
      return { key: member(proposer), payload: { type: 'gov.propose', action, deadline: env.height - 1n } };
    return {
      key: member(proposer),
      payload: { type: 'gov.propose', action, deadline },
      onSuccess: (id) => w.proposals.push({ id, voters: new Set([proposer]), deadline }),
    };
  },
  'gov.vote': (w, mode, r, env) => {
    const g =
      r.pick(w.proposals.filter((x) => x.deadline >= env.height && x.voters.size < MEMBER_IDS.length)) ??
      r.pick(w.proposals);
    const approve = r.chance(80);
    if (g === undefined || mode === 'unknown')
      return {
        key: member(r.pickOr(MEMBER_IDS, PAYER)),
        payload: { type: 'gov.vote', proposal: ghostId(w, 'proposal'), approve },
      };
    const payload: HealthTx = { type: 'gov.vote', proposal: g.id, approve };
    // A member votes once (the proposer has voted by proposing).
    if (mode === 'misdirected') return { key: member(r.pick([...g.voters])!), payload };
    const voter = r.pickOr(
      MEMBER_IDS.filter((m) => !g.voters.has(m)),
      r.pickOr(MEMBER_IDS, PAYER),
    );
    return { key: member(voter), payload, onSuccess: () => g.voters.add(voter) };
  },
  'member.set-record-key': (w, mode, r) => {
    const recordKey = r.chance(20) ? null : sha256(new TextEncoder().encode(`record-key/${w.serial++}`));
    const payload: HealthTx = { type: 'member.set-record-key', recordKey };
    // Only a member's own key sets its record key: a stranger's or a patient's is refused.
    if (mode === 'unknown') return { key: stranger(r.next()), payload };
    if (mode === 'misdirected') return { key: notPatientsKey(w, r, undefined), payload };
    return { key: member(r.pickOr(MEMBER_IDS, PAYER)), payload };
  },
};

// --- running histories ---

interface Intent {
  readonly type: HealthTxType;
  readonly fault: Fault;
  readonly picks: readonly number[];
}

interface BlockPlan {
  readonly intents: readonly Intent[];
  readonly step: bigint;
}

const intentArb: fc.Arbitrary<Intent> = fc.record({
  type: fc.constantFrom(...TX_TYPES),
  fault: fc.oneof(
    { weight: 10, arbitrary: fc.constant<Fault>('valid') },
    { weight: 5, arbitrary: fc.constantFrom<Fault>(...FAULTS.filter((f) => f !== 'valid')) },
  ),
  picks: fc.array(fc.nat({ max: 10_000 }), { minLength: 8, maxLength: 8 }),
});

const historyArb = (blocks: number, txs: number): fc.Arbitrary<BlockPlan[]> =>
  fc.array(
    fc.record({
      intents: fc.array(intentArb, { maxLength: txs }),
      step: fc.constantFrom(1000n, 20_000n, 90_000n, HOUR),
    }),
    { minLength: 1, maxLength: blocks },
  );

/** Tallies over every run of a property, to show the generator exercised what it should. */
class Coverage {
  readonly planned = new Map<string, number>();
  readonly succeeded = new Map<string, number>();
  readonly faults = new Map<string, number>();
  readonly codes = new Set<string>();
  private static bump(m: Map<string, number>, k: string) {
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  plan(type: string, fault: Fault) {
    Coverage.bump(this.planned, type);
    Coverage.bump(this.faults, fault);
  }
  readonly validFailures = new Map<string, number>();
  result(type: string, fault: Fault, r: ExecTxResult) {
    if (r.code === 0) Coverage.bump(this.succeeded, type);
    else {
      this.codes.add(r.codespace);
      if (fault === 'valid') Coverage.bump(this.validFailures, `${type} ${r.codespace}`);
    }
  }
}

interface Planned {
  readonly signed: Signed;
  readonly intent: Intent;
  readonly onSuccess?: (log: string) => void;
}

/** The last nonce `key` used in a committed successful tx (0 if none), read from the app. */
async function lastNonce(h: Harness, key: KeyPair): Promise<bigint> {
  const q = await h.app.query('/health/nonce', key.publicKey, null, false);
  assert.is(q.codespace, '', q.log);
  return q.value === null ? 0n : (decode(q.value) as bigint);
}

/** Turns a block's intents into signed txs against the model and the app's committed state. */
async function planBlock(h: Harness, w: World, plan: BlockPlan, cov: Coverage | null): Promise<Planned[]> {
  const env: Env = { height: h.height + 1n, time: h.time + plan.step };
  const out: Planned[] = [];
  for (const intent of plan.intents) {
    const r = new Picks(intent.picks);
    cov?.plan(intent.type, intent.fault);
    if (intent.fault === 'resend') {
      const earlier = r.pick(w.successes);
      if (earlier !== undefined) {
        out.push({ signed: earlier, intent });
        continue;
      }
    }
    const mode: Mode = intent.fault === 'unknown' || intent.fault === 'misdirected' ? intent.fault : 'valid';
    const built = BUILDERS[intent.type](w, mode, r, env);
    assert.is(built.payload.type, intent.type, 'a builder builds its own type');
    let key = built.key;
    let nonce: bigint;
    if (intent.fault === 'replay' || intent.fault === 'resend') {
      const last = await lastNonce(h, key);
      nonce = BigInt(r.int(Number(last) + 1));
    } else {
      if (intent.fault === 'stranger') key = stranger(r.next());
      nonce = w.nextNonce(key);
    }
    const valid = intent.fault === 'valid';
    out.push({
      signed: { key, payload: built.payload, tx: signHealthTx(CHAIN_ID, key, nonce, built.payload) },
      // 'resend' without an earlier success falls back to a replayed nonce.
      intent: intent.fault === 'resend' ? { ...intent, fault: 'replay' } : intent,
      ...(valid && built.onSuccess ? { onSuccess: built.onSuccess } : {}),
    });
  }
  return out;
}

function summary(r: ExecTxResult): string {
  return JSON.stringify([r.code, r.codespace, r.log, r.events]);
}

function blockSummary(r: FinalizeResult): string {
  return JSON.stringify({
    appHash: toHex(r.appHash),
    events: r.events,
    updates: r.validatorUpdates.map((u) => [toHex(u.pubKey), u.power.toString()]),
  });
}

/** Checks what every result must satisfy, and that a wrong tx did not succeed. */
function checkResult(p: Planned, res: ExecTxResult, where: string): void {
  const what = `${where} ${p.signed.payload.type} (${p.intent.fault})`;
  if (res.code === 0) {
    assert.is(res.codespace, '', `${what}: a success has no codespace`);
  } else {
    assert.ok(Object.hasOwn(HEALTH_ERRORS, res.codespace), `${what}: ${res.codespace} is in the error table`);
    assert.is(res.code, errorNumber(res.codespace), `${what}: code = errorNumber(codespace)`);
    assert.is.not(res.codespace, 'HEALTH_INTERNAL', `${what}: not an internal error`);
    assert.equal(res.events, [], `${what}: a failed tx emits nothing`);
  }
  switch (p.intent.fault) {
    case 'replay':
    case 'resend':
      assert.is(res.codespace, 'HEALTH_NONCE_REPLAYED', `${what}: ${res.codespace || 'success'} ${res.log}`);
      break;
    case 'stranger':
    case 'unknown':
    case 'misdirected':
      assert.ok(res.code !== 0, `${what} succeeded: ${res.log}`);
      break;
    case 'valid':
      break;
  }
}

/**
 * Runs one block on `a`, and (if given) the same block without the txs that failed on `a` on
 * `b`: both must reach the same state. Updates the model from the successes.
 */
async function runBlock(
  a: Harness,
  b: Harness | null,
  w: World,
  planned: readonly Planned[],
  step: bigint,
  where: string,
  cov: Coverage | null,
): Promise<ExecTxResult[]> {
  const results = await a.block(
    planned.map((p) => p.signed.tx),
    step,
  );
  const resultA = a.lastResult!;
  assert.is(results.length, planned.length);
  planned.forEach((p, i) => {
    checkResult(p, results[i]!, `${where} tx ${i}`);
    cov?.result(p.signed.payload.type, p.intent.fault, results[i]!);
  });
  if (b !== null) {
    const kept = planned.flatMap((p, i) => (results[i]!.code === 0 ? [p.signed.tx] : []));
    const keptResults = results.filter((x) => x.code === 0);
    const resultsB = await b.block(kept, step);
    // The one assertion of isolation: the failed txs might as well not have been in the block.
    assert.is(
      blockSummary(b.lastResult!),
      blockSummary(resultA),
      `${where}: the block without its ${planned.length - kept.length} failed txs reaches the same state`,
    );
    assert.equal(
      resultsB.map(summary),
      keptResults.map(summary),
      `${where}: the kept txs have the same results`,
    );
  }
  planned.forEach((p, i) => {
    const res = results[i]!;
    if (res.code !== 0) return;
    w.successes.push(p.signed);
    p.onSuccess?.(res.log);
  });
  return results;
}

/** Three patients with records at three custodians and consents for a provider and the payer. */
async function setup(a: Harness, b: Harness | null, w: World): Promise<void> {
  const sign = (built: Built): Planned => {
    const nonce = w.nextNonce(built.key);
    return {
      signed: {
        key: built.key,
        payload: built.payload,
        tx: signHealthTx(CHAIN_ID, built.key, nonce, built.payload),
      },
      intent: { type: built.payload.type, fault: 'valid', picks: [0] },
      ...(built.onSuccess ? { onSuccess: built.onSuccess } : {}),
    };
  };
  const ok = async (builts: Built[], where: string) => {
    const results = await runBlock(a, b, w, builts.map(sign), 1000n, where, null);
    for (const [i, r] of results.entries()) assert.is(r.codespace, '', `${where} tx ${i}: ${r.log}`);
  };
  await ok(
    ['a', 'b', 'c'].map((label, i) => {
      const p = patient(`setup-${label}`);
      const by = MEMBER_IDS[i]!;
      return {
        key: member(by),
        payload: registerPatientTx(CHAIN_ID, by, p.key),
        onSuccess: () => w.patients.push({ id: p.id, key: p.key, delegates: [] }),
      };
    }),
    'setup registrations',
  );
  const builts: Built[] = [];
  for (const p of w.patients) {
    for (const [custodian, category] of [
      ['city-hospital', 'Observation.laboratory'],
      ['acme-lab', 'Condition'],
    ] as const) {
      const label = w.fresh('setup-ciphertext');
      builts.push({
        key: member(custodian),
        payload: anchorTx(p, label, category),
        onSuccess: (id) =>
          w.records.push({ id, patient: p.id, custodian, category, erased: false, superseded: false }),
      });
    }
    for (const [grantee, purpose] of [
      [PAYER, 'HPAYMT'],
      ['north-clinic', 'TREAT'],
    ] as const) {
      const categories: Category[] = ['Condition', 'Observation'];
      builts.push({
        key: p.key,
        payload: {
          type: 'consent.grant',
          patient: p.id,
          grantee,
          provision: provision({ type: 'permit', actions: ['read'], purposes: [purpose], categories }),
        },
        onSuccess: (id) =>
          w.consents.push({
            id,
            patient: p.id,
            grantee,
            type: 'permit',
            purposes: [purpose],
            categories,
            revoked: false,
          }),
      });
    }
  }
  await ok(builts, 'setup records and consents');
  // Something for every tx type to act on: requests, claims, delegates and a proposal.
  const env: Env = { height: a.height + 1n, time: a.time + 1000n };
  const more: HealthTxType[] = [
    'request.create',
    'request.create',
    'request.create',
    'request.create',
    'claim.submit',
    'claim.submit',
    'delegate.set',
    'delegate.set',
    'delegate.set',
    'gov.propose',
  ];
  await ok(
    more.map((type, i) => BUILDERS[type](w, 'valid', new Picks([i * 37 + 11, i * 101 + 3, i * 7 + 5]), env)),
    'setup requests, claims, delegates and a proposal',
  );
  await ok(
    [BUILDERS['gov.vote'](w, 'valid', new Picks([5, 3, 1]), { height: a.height + 1n, time: a.time + 1000n })],
    'setup a vote',
  );
}

async function withHarnesses<T>(n: number, fn: (hs: Harness[]) => Promise<T>): Promise<T> {
  const hs: Harness[] = [];
  try {
    for (let i = 0; i < n; i++) hs.push(await Harness.create());
    return await fn(hs);
  } finally {
    for (const h of hs) await h.close();
  }
}

test('execution: a failed tx leaves the state as if it were not in the block, for every tx type', async () => {
  const cov = new Coverage();
  await fc.assert(
    fc.asyncProperty(historyArb(6, 14), async (history) =>
      withHarnesses(2, async ([a, b]) => {
        const w = new World();
        await setup(a!, b!, w);
        for (const [i, plan] of history.entries()) {
          const planned = await planBlock(a!, w, plan, cov);
          await runBlock(a!, b!, w, planned, plan.step, `block ${i + 1} of the history`, cov);
        }
      }),
    ),
    { seed: SEED, numRuns: 30 },
  );
  if (process.env.DEBUG_TX_PROPERTIES) console.log(cov);
  const sorted = (m: Map<string, number>) => [...m.keys()].sort(compareStrings);
  const all = [...TX_TYPES].sort(compareStrings);
  assert.equal(sorted(cov.planned), all, 'every tx type was generated');
  assert.equal(sorted(cov.faults), [...FAULTS].sort(compareStrings), 'every kind of wrong tx was generated');
  // The valid generators build txs the app accepts: every type succeeded somewhere.
  assert.equal(sorted(cov.succeeded), all, `every tx type succeeded (${JSON.stringify([...cov.succeeded])})`);
  assert.ok(cov.codes.size >= 20, `many failure codes (${[...cov.codes].join(' ')})`);
});

test('replay: every successful tx sent again (same bytes, or re-signed with a used nonce) fails and changes nothing', async () => {
  const replayedTypes = new Set<string>();
  await fc.assert(
    fc.asyncProperty(
      historyArb(6, 14),
      fc.array(fc.nat({ max: 1_000_000 }), { minLength: 1, maxLength: 64 }),
      async (history, picks) =>
        withHarnesses(1, async ([h]) => {
          const w = new World();
          await setup(h!, null, w);
          for (const [i, plan] of history.entries()) {
            const planned = await planBlock(h!, w, plan, null);
            await runBlock(h!, null, w, planned, plan.step, `block ${i + 1} of the history`, null);
          }
          const replays: CheckedTx[] = [];
          for (const [i, s] of w.successes.entries()) {
            const r = new Picks([picks[i % picks.length]!, i]);
            if (r.chance(50)) {
              replays.push(s.tx);
            } else {
              // The same payload signed again with a nonce at or below the last its key used.
              const last = await lastNonce(h!, s.key);
              assert.ok(last >= s.tx.tx.nonce, 'the nonce of a success is used');
              replays.push(signHealthTx(CHAIN_ID, s.key, BigInt(r.int(Number(last) + 1)), s.payload));
            }
            replayedTypes.add(s.payload.type);
          }
          for (const tx of replays) {
            const err = h!.app.checkTx(tx);
            assert.ok(
              err !== null && err.code === 'HEALTH_NONCE_REPLAYED',
              `checkTx refuses a replay: ${err?.code}`,
            );
          }
          // The state an empty block at this height and time would reach...
          const empty = await h!.app.finalizeBlock(blockAt(h!.height + 1n, h!.time + 1000n), []);
          // ...is the state the block of replays reaches.
          const results = await h!.block(replays, 1000n);
          results.forEach((res, i) => {
            assert.is(
              res.codespace,
              'HEALTH_NONCE_REPLAYED',
              `replay ${i} (${w.successes[i]!.payload.type}): ${res.log}`,
            );
            assert.is(res.code, errorNumber('HEALTH_NONCE_REPLAYED'));
            assert.equal(res.events, []);
          });
          assert.is(
            toHex(h!.lastResult!.appHash),
            toHex(empty.appHash),
            'a block of replays changes nothing',
          );
          assert.equal(h!.lastResult!.events, empty.events);
        }),
    ),
    { seed: SEED, numRuns: 12 },
  );
  assert.equal(
    [...replayedTypes].sort(compareStrings),
    [...TX_TYPES].sort(compareStrings),
    'every type was replayed',
  );
});

test.run();
