/**
 * The objects the health-data application keeps in its state, with their canonical encodings.
 * A query answer's value is exactly one of these encodings (the Merkle leaf's value), so a client
 * decodes it with the same functions the chain used to write it. Every field is an id, a code, a
 * hash, a key, a number or a time: there is no free text to hold personal data.
 *
 * Times are unix ms (bigint), heights are bigints, amounts are integer cents (bigint).
 */
import { type Canonical, decode, encode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.ts';
import { HASH_BYTES, toHex } from '../crypto/hash.ts';
import {
  ACTIONS,
  type Action,
  ADJUSTMENT_REASON,
  BREAK_GLASS_REASONS,
  type BreakGlassReason,
  CATEGORIES,
  type Category,
  DELEGATE_POWERS,
  DELEGATE_ROLES,
  type DelegatePower,
  type DelegateRole,
  ERASURE_REASONS,
  type ErasureReason,
  formatted,
  oneOf,
  PURPOSES,
  type Purpose,
  REQUEST_REASONS,
  type RequestReason,
  ROLES,
  type Role,
  SERVICE_CODE,
} from './codes.ts';
import { healthError } from './errors.ts';
import { granteeId, idOf, memberId } from './ids.ts';
import { codeList, type Provision, provisionFields, provisionFromFields } from './provision.ts';

// --- limits that are part of the rules (not governance parameters) ---

export const MAX_MEMBERS = 200;
export const MAX_DELEGATES = 8;
export const MAX_CLAIM_LINES = 50;
export const MAX_LINE_RECORDS = 16;
export const MAX_ACCESS_RECORDS = 32;
export const MAX_RECORD_BYTES = 2n ** 40n;
/** $10 million in cents: no single service line is larger. */
export const MAX_LINE_AMOUNT = 1_000_000_000n;
export const MAX_VALIDATOR_POWER = 1_000_000_000_000n;
export const MAX_OPEN_PROPOSALS = 64;

// --- small readers ---

function opt<T>(value: Canonical, read: (v: Canonical) => T): T | null {
  return value === null ? null : read(value);
}

function key32(value: Canonical, what: string): Uint8Array {
  return s.bytes(value, what, PUBLIC_KEY_BYTES);
}

function hash32(value: Canonical, what: string): Uint8Array {
  return s.bytes(value, what, HASH_BYTES);
}

function readBytes(bytes: Uint8Array, what: string): Canonical {
  try {
    return decode(bytes);
  } catch (err) {
    throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: ${(err as Error).message}`);
  }
}

export function rolesFrom(value: Canonical, what: string): Role[] {
  const roles = codeList(value, ROLES.length, what, (v, w) => oneOf(ROLES, v, w));
  if (roles.length === 0) throw healthError('HEALTH_CODE_INVALID', `${what}: a member has at least one role`);
  return roles;
}

// --- governance parameters ---

export interface Params {
  /** How long a break-glass declaration lets its provider receive the patient's records. */
  readonly breakGlassWindowMs: bigint;
  /** The longest an access request may stay open. */
  readonly requestMaxTtlMs: bigint;
  /** The furthest a proposal's deadline may be, in blocks after the proposal. */
  readonly proposalMaxBlocks: bigint;
}

export const PARAM_NAMES = {
  break_glass_window_ms: 'breakGlassWindowMs',
  request_max_ttl_ms: 'requestMaxTtlMs',
  proposal_max_blocks: 'proposalMaxBlocks',
} as const satisfies Record<string, keyof Params>;
export type ParamName = keyof typeof PARAM_NAMES;

export const PARAM_BOUNDS: Record<keyof Params, readonly [bigint, bigint]> = {
  breakGlassWindowMs: [60_000n, 72n * 3_600_000n],
  requestMaxTtlMs: [3_600_000n, 365n * 86_400_000n],
  proposalMaxBlocks: [10n, 10_000_000n],
};

export const defaultParams: Params = {
  breakGlassWindowMs: 4n * 3_600_000n,
  requestMaxTtlMs: 30n * 86_400_000n,
  proposalMaxBlocks: 100_000n,
};

export function checkParam(name: keyof Params, value: bigint): bigint {
  const [min, max] = PARAM_BOUNDS[name];
  if (value < min || value > max)
    throw healthError('GOV_ACTION_INVALID', `parameter ${name} must be from ${min} to ${max}`);
  return value;
}

export function encodeParams(p: Params): Uint8Array {
  return encode([p.breakGlassWindowMs, p.requestMaxTtlMs, p.proposalMaxBlocks]);
}

export function decodeParams(bytes: Uint8Array): Params {
  const f = s.tuple(readBytes(bytes, 'params'), 3, 'params');
  return {
    breakGlassWindowMs: s.u64(f[0]!, 'params.breakGlassWindowMs'),
    requestMaxTtlMs: s.u64(f[1]!, 'params.requestMaxTtlMs'),
    proposalMaxBlocks: s.u64(f[2]!, 'params.proposalMaxBlocks'),
  };
}

// --- chain bookkeeping ---

export interface ChainMeta {
  readonly chainId: string;
  readonly initialHeight: bigint;
  readonly genesisTime: bigint;
}

export function encodeChainMeta(m: ChainMeta): Uint8Array {
  return encode([1, m.chainId, m.initialHeight, m.genesisTime]);
}

export function decodeChainMeta(bytes: Uint8Array): ChainMeta {
  const f = s.tuple(readBytes(bytes, 'meta'), 4, 'meta');
  s.int(f[0]!, 'meta.format', 1, 1);
  return {
    chainId: s.string(f[1]!, 'meta.chainId', 50),
    initialHeight: s.u64(f[2]!, 'meta.initialHeight'),
    genesisTime: s.u64(f[3]!, 'meta.genesisTime'),
  };
}

/** The last executed block, and how far request expiry has been processed (in minute slots). */
export interface BlockInfo {
  readonly height: bigint;
  readonly time: bigint;
  readonly expirySlot: bigint;
}

export function encodeBlockInfo(b: BlockInfo): Uint8Array {
  return encode([b.height, b.time, b.expirySlot]);
}

export function decodeBlockInfo(bytes: Uint8Array): BlockInfo {
  const f = s.tuple(readBytes(bytes, 'block info'), 3, 'block info');
  return {
    height: s.u64(f[0]!, 'block.height'),
    time: s.u64(f[1]!, 'block.time'),
    expirySlot: s.u64(f[2]!, 'block.expirySlot'),
  };
}

export interface ValidatorPower {
  readonly pubKey: Uint8Array;
  readonly power: bigint;
}

export function encodeValidators(list: readonly ValidatorPower[]): Uint8Array {
  return encode(list.map((v) => [v.pubKey, v.power]));
}

export function decodeValidators(bytes: Uint8Array): ValidatorPower[] {
  return s.list(readBytes(bytes, 'validators'), 1000, 'validators').map((item, i) => {
    const [k, p] = s.tuple(item, 2, `validators[${i}]`);
    return { pubKey: key32(k!, `validators[${i}].pubKey`), power: s.u64(p!, `validators[${i}].power`) };
  });
}

/** What a public key signs for. */
export type KeyBinding =
  | { readonly kind: 'member'; readonly id: string }
  | { readonly kind: 'patient'; readonly id: string };

export function encodeBinding(b: KeyBinding): Uint8Array {
  return encode([b.kind, b.id]);
}

export function decodeBinding(bytes: Uint8Array): KeyBinding {
  const [kind, id] = s.tuple(readBytes(bytes, 'binding'), 2, 'binding');
  if (kind === 'member') return { kind, id: memberId(id, 'binding.id') };
  if (kind === 'patient') return { kind, id: idOf('patient', id, 'binding.id') };
  throw healthError('HEALTH_PAYLOAD_INVALID', 'binding: unknown kind');
}

export function encodeIdList(ids: readonly string[]): Uint8Array {
  return encode([...ids]);
}

export function decodeIdList(bytes: Uint8Array, max = 100_000): string[] {
  return s.list(readBytes(bytes, 'id list'), max, 'id list').map((v, i) => s.string(v, `ids[${i}]`, 64));
}

export function encodeCount(n: number): Uint8Array {
  return encode(n);
}

export function decodeCount(bytes: Uint8Array): number {
  return s.int(readBytes(bytes, 'count'), 'count', 0, 2 ** 32 - 1);
}

// --- members ---

export interface Member {
  readonly id: string;
  readonly pubKey: Uint8Array;
  readonly roles: readonly Role[];
  readonly active: boolean;
  readonly joinedAt: bigint;
  readonly leftAt: bigint | null;
  /**
   * The libp2p peer ids of the member's nodes, sorted: the nodes' connection gaters admit exactly
   * the nodes of active members, so membership on chain is membership of the network.
   */
  readonly nodes: readonly string[];
  /**
   * The member's record-encryption public key (X25519, 32 bytes), or null if it has none: a
   * custodian wraps a record's data key to it (HPKE) when it releases the record to this member.
   */
  readonly recordKey: Uint8Array | null;
}

export const MAX_MEMBER_NODES = 4;
export const RECORD_KEY_BYTES = 32;

/**
 * X25519 public keys of small order (and their non-canonical forms, compared without the top bit,
 * as libsodium does): a shared secret with one is a known constant, so such a key would let
 * anyone unwrap a data key wrapped to it. HPKE refuses them too; the chain refuses them first.
 */
const SMALL_ORDER_X25519 = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

/** A member's record-encryption public key: 32 bytes, not a small-order point. */
export function recordKeyFrom(value: Canonical, what: string): Uint8Array {
  const key = s.bytes(value, what, RECORD_KEY_BYTES);
  const masked = Uint8Array.from(key);
  masked[31] = masked[31]! & 0x7f;
  const hex = toHex(masked);
  if (SMALL_ORDER_X25519.includes(hex))
    throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: a small-order X25519 key cannot receive records`);
  return key;
}
/** An ed25519 libp2p peer id in its canonical base58btc form (what `show-node-id` prints). */
const PEER_ID = /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/;

/** A sorted, duplicate-free list of peer ids (one rule, one encoding). */
export function nodeIdsFrom(value: Canonical, what: string): string[] {
  const ids = s.list(value, MAX_MEMBER_NODES, what).map((v, i) => {
    if (typeof v !== 'string' || !PEER_ID.test(v))
      throw healthError('HEALTH_ID_INVALID', `${what}[${i}]: expected a libp2p peer id (12D3KooW…)`);
    return v;
  });
  for (let i = 1; i < ids.length; i++) {
    if (ids[i - 1]! >= ids[i]!)
      throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: peer ids must be sorted and unique`);
  }
  return ids;
}

export function encodeMember(m: Member): Uint8Array {
  return encode([m.id, m.pubKey, [...m.roles], m.active, m.joinedAt, m.leftAt, [...m.nodes], m.recordKey]);
}

export function decodeMember(bytes: Uint8Array): Member {
  const f = s.tuple(readBytes(bytes, 'member'), 8, 'member');
  return {
    id: memberId(f[0]!, 'member.id'),
    pubKey: key32(f[1]!, 'member.pubKey'),
    roles: rolesFrom(f[2]!, 'member.roles'),
    active: s.bool(f[3]!, 'member.active'),
    joinedAt: s.u64(f[4]!, 'member.joinedAt'),
    leftAt: opt(f[5]!, (v) => s.u64(v, 'member.leftAt')),
    nodes: nodeIdsFrom(f[6]!, 'member.nodes'),
    recordKey: opt(f[7]!, (v) => recordKeyFrom(v, 'member.recordKey')),
  };
}

// --- patients and delegates ---

export interface DelegateSpec {
  readonly pubKey: Uint8Array;
  readonly role: DelegateRole;
  readonly powers: readonly DelegatePower[];
  /** Purposes the delegate may grant or approve for; empty: any. */
  readonly purposes: readonly Purpose[];
  /** After this time the delegate can do nothing; null: until removed. */
  readonly expiresAt: bigint | null;
  /** Consents the delegate grants must end within this long; null: no limit. */
  readonly maxConsentMs: bigint | null;
}

export interface Delegate extends DelegateSpec {
  readonly addedAt: bigint;
}

export function delegateSpecFields(d: DelegateSpec): Canonical {
  return [d.pubKey, d.role, [...d.powers], [...d.purposes], d.expiresAt, d.maxConsentMs];
}

export function delegateSpecFromFields(value: Canonical, what: string): DelegateSpec {
  const f = s.tuple(value, 6, what);
  const powers = codeList(f[2]!, DELEGATE_POWERS.length, `${what}.powers`, (v, w) =>
    oneOf(DELEGATE_POWERS, v, w),
  );
  if (powers.length === 0)
    throw healthError('DELEGATE_INVALID', `${what}: a delegate has at least one power`);
  const maxConsentMs = opt(f[5]!, (v) => s.u64(v, `${what}.maxConsentMs`));
  if (maxConsentMs === 0n) throw healthError('DELEGATE_INVALID', `${what}.maxConsentMs must be positive`);
  return {
    pubKey: key32(f[0]!, `${what}.pubKey`),
    role: oneOf(DELEGATE_ROLES, f[1], `${what}.role`),
    powers,
    purposes: codeList(f[3]!, PURPOSES.length, `${what}.purposes`, (v, w) => oneOf(PURPOSES, v, w)),
    expiresAt: opt(f[4]!, (v) => s.u64(v, `${what}.expiresAt`)),
    maxConsentMs,
  };
}

export interface Patient {
  readonly id: string;
  readonly pubKey: Uint8Array;
  readonly enrolledBy: string;
  readonly enrolledAt: bigint;
  readonly keyRotations: number;
  readonly delegates: readonly Delegate[];
}

export function encodePatient(p: Patient): Uint8Array {
  return encode([
    p.id,
    p.pubKey,
    p.enrolledBy,
    p.enrolledAt,
    p.keyRotations,
    p.delegates.map((d) => [delegateSpecFields(d), d.addedAt]),
  ]);
}

export function decodePatient(bytes: Uint8Array): Patient {
  const f = s.tuple(readBytes(bytes, 'patient'), 6, 'patient');
  return {
    id: idOf('patient', f[0]!, 'patient.id'),
    pubKey: key32(f[1]!, 'patient.pubKey'),
    enrolledBy: memberId(f[2]!, 'patient.enrolledBy'),
    enrolledAt: s.u64(f[3]!, 'patient.enrolledAt'),
    keyRotations: s.int(f[4]!, 'patient.keyRotations', 0, 2 ** 31),
    delegates: s.list(f[5]!, MAX_DELEGATES, 'patient.delegates').map((item, i) => {
      const [spec, addedAt] = s.tuple(item, 2, `patient.delegates[${i}]`);
      return {
        ...delegateSpecFromFields(spec!, `patient.delegates[${i}]`),
        addedAt: s.u64(addedAt!, `patient.delegates[${i}].addedAt`),
      };
    }),
  };
}

// --- record anchors ---

export interface Erasure {
  readonly height: bigint;
  readonly time: bigint;
  readonly reason: ErasureReason;
}

export interface RecordAnchor {
  readonly id: string;
  readonly patient: string;
  /** The member holding the encrypted bytes. */
  readonly custodian: string;
  readonly category: Category;
  /** sha256 of the encrypted bytes: what the off-chain vault serves and the recipient checks. */
  readonly ciphertextHash: Uint8Array;
  /** sha256(salt || plaintext): binds the plaintext without revealing it (salt kept off chain). */
  readonly commitment: Uint8Array;
  /** Size of the encrypted bytes. */
  readonly size: bigint;
  readonly supersedes: string | null;
  readonly supersededBy: string | null;
  readonly anchoredAt: bigint;
  readonly anchoredTime: bigint;
  readonly erasure: Erasure | null;
}

export function encodeRecord(r: RecordAnchor): Uint8Array {
  return encode([
    r.id,
    r.patient,
    r.custodian,
    r.category,
    r.ciphertextHash,
    r.commitment,
    r.size,
    r.supersedes,
    r.supersededBy,
    r.anchoredAt,
    r.anchoredTime,
    r.erasure === null ? null : [r.erasure.height, r.erasure.time, r.erasure.reason],
  ]);
}

export function decodeRecord(bytes: Uint8Array): RecordAnchor {
  const f = s.tuple(readBytes(bytes, 'record'), 12, 'record');
  return {
    id: idOf('record', f[0]!, 'record.id'),
    patient: idOf('patient', f[1]!, 'record.patient'),
    custodian: memberId(f[2]!, 'record.custodian'),
    category: oneOf(CATEGORIES, f[3], 'record.category'),
    ciphertextHash: hash32(f[4]!, 'record.ciphertextHash'),
    commitment: hash32(f[5]!, 'record.commitment'),
    size: s.u64(f[6]!, 'record.size'),
    supersedes: opt(f[7]!, (v) => idOf('record', v, 'record.supersedes')),
    supersededBy: opt(f[8]!, (v) => idOf('record', v, 'record.supersededBy')),
    anchoredAt: s.u64(f[9]!, 'record.anchoredAt'),
    anchoredTime: s.u64(f[10]!, 'record.anchoredTime'),
    erasure: opt(f[11]!, (v) => {
      const [h, t, r] = s.tuple(v, 3, 'record.erasure');
      return {
        height: s.u64(h!, 'record.erasure.height'),
        time: s.u64(t!, 'record.erasure.time'),
        reason: oneOf(ERASURE_REASONS, r, 'record.erasure.reason'),
      };
    }),
  };
}

// --- consents ---

export interface Consent {
  readonly id: string;
  readonly patient: string;
  readonly grantee: string;
  readonly provision: Provision;
  /** The key that signed the grant: the patient's, or a delegate's. */
  readonly grantedBy: Uint8Array;
  readonly createdAt: bigint;
  readonly createdTime: bigint;
  /** The access request this consent approved, if any. */
  readonly request: string | null;
  readonly revokedAt: bigint | null;
  readonly revokedBy: Uint8Array | null;
}

export function encodeConsent(c: Consent): Uint8Array {
  return encode([
    c.id,
    c.patient,
    c.grantee,
    provisionFields(c.provision),
    c.grantedBy,
    c.createdAt,
    c.createdTime,
    c.request,
    c.revokedAt,
    c.revokedBy,
  ]);
}

export function decodeConsent(bytes: Uint8Array): Consent {
  const f = s.tuple(readBytes(bytes, 'consent'), 10, 'consent');
  return {
    id: idOf('consent', f[0]!, 'consent.id'),
    patient: idOf('patient', f[1]!, 'consent.patient'),
    grantee: granteeId(f[2]!, 'consent.grantee'),
    provision: provisionFromFields(f[3]!, 'consent.provision'),
    grantedBy: key32(f[4]!, 'consent.grantedBy'),
    createdAt: s.u64(f[5]!, 'consent.createdAt'),
    createdTime: s.u64(f[6]!, 'consent.createdTime'),
    request: opt(f[7]!, (v) => idOf('request', v, 'consent.request')),
    revokedAt: opt(f[8]!, (v) => s.u64(v, 'consent.revokedAt')),
    revokedBy: opt(f[9]!, (v) => key32(v, 'consent.revokedBy')),
  };
}

// --- access requests ---

export type RequestStatus = 'pending' | 'approved' | 'denied' | 'expired';
const REQUEST_STATUSES: readonly RequestStatus[] = ['approved', 'denied', 'expired', 'pending'];

/** The scope and purpose a member asks for. */
export interface RequestSpec {
  readonly categories: readonly Category[];
  readonly records: readonly string[];
  readonly purposes: readonly Purpose[];
  readonly actions: readonly Action[];
  readonly reason: RequestReason;
  /** The end of the access asked for; null: open-ended (the patient may set one). */
  readonly periodEnd: bigint | null;
  /** The request closes, unanswered, at this time. */
  readonly expiresAt: bigint;
}

export interface AccessRequest extends RequestSpec {
  readonly id: string;
  readonly patient: string;
  readonly requester: string;
  readonly createdAt: bigint;
  readonly createdTime: bigint;
  readonly status: RequestStatus;
  readonly closedAt: bigint | null;
  readonly consent: string | null;
}

export function requestSpecFields(r: RequestSpec): Canonical[] {
  return [
    [...r.categories],
    [...r.records],
    [...r.purposes],
    [...r.actions],
    r.reason,
    r.periodEnd,
    r.expiresAt,
  ];
}

export function requestSpecFromFields(f: readonly Canonical[], what: string): RequestSpec {
  return {
    categories: codeList(f[0]!, 32, `${what}.categories`, (v, w) => oneOf(CATEGORIES, v, w)),
    records: codeList(f[1]!, 32, `${what}.records`, (v, w) => idOf('record', v, w)),
    purposes: codeList(f[2]!, PURPOSES.length, `${what}.purposes`, (v, w) => oneOf(PURPOSES, v, w)),
    actions: codeList(f[3]!, ACTIONS.length, `${what}.actions`, (v, w) => oneOf(ACTIONS, v, w)),
    reason: oneOf(REQUEST_REASONS, f[4], `${what}.reason`),
    periodEnd: opt(f[5]!, (v) => s.u64(v, `${what}.periodEnd`)),
    expiresAt: s.u64(f[6]!, `${what}.expiresAt`),
  };
}

export function encodeRequest(r: AccessRequest): Uint8Array {
  return encode([
    r.id,
    r.patient,
    r.requester,
    ...requestSpecFields(r),
    r.createdAt,
    r.createdTime,
    r.status,
    r.closedAt,
    r.consent,
  ]);
}

export function decodeRequest(bytes: Uint8Array): AccessRequest {
  const f = s.tuple(readBytes(bytes, 'request'), 15, 'request');
  return {
    id: idOf('request', f[0]!, 'request.id'),
    patient: idOf('patient', f[1]!, 'request.patient'),
    requester: memberId(f[2]!, 'request.requester'),
    ...requestSpecFromFields(f.slice(3, 10), 'request'),
    createdAt: s.u64(f[10]!, 'request.createdAt'),
    createdTime: s.u64(f[11]!, 'request.createdTime'),
    status: oneOf(REQUEST_STATUSES, f[12], 'request.status'),
    closedAt: opt(f[13]!, (v) => s.u64(v, 'request.closedAt')),
    consent: opt(f[14]!, (v) => idOf('consent', v, 'request.consent')),
  };
}

// --- access events (disclosures) and break-glass ---

export interface DisclosedRecord {
  readonly record: string;
  /** The consent that permitted it; null under break-glass. */
  readonly consent: string | null;
}

export interface AccessEvent {
  readonly id: string;
  readonly patient: string;
  readonly custodian: string;
  readonly recipient: string;
  readonly purpose: Purpose;
  readonly action: Action;
  readonly items: readonly DisclosedRecord[];
  /** The break-glass declaration it was made under, or null. */
  readonly breakGlass: string | null;
  /**
   * The release this event audits (records.ts: sha256 of the requester's signed fetch request),
   * or null for an access the custodian recorded by hand. Unique on chain.
   */
  readonly release: Uint8Array | null;
  readonly height: bigint;
  readonly time: bigint;
}

export function accessEventFields(e: AccessEvent): Canonical {
  return [
    e.id,
    e.patient,
    e.custodian,
    e.recipient,
    e.purpose,
    e.action,
    e.items.map((i) => [i.record, i.consent]),
    e.breakGlass,
    e.release,
    e.height,
    e.time,
  ];
}

export function accessEventFromFields(value: Canonical): AccessEvent {
  const f = s.tuple(value, 11, 'access');
  return {
    id: idOf('access', f[0]!, 'access.id'),
    patient: idOf('patient', f[1]!, 'access.patient'),
    custodian: memberId(f[2]!, 'access.custodian'),
    recipient: memberId(f[3]!, 'access.recipient'),
    purpose: oneOf(PURPOSES, f[4], 'access.purpose'),
    action: oneOf(ACTIONS, f[5], 'access.action'),
    items: s.list(f[6]!, MAX_ACCESS_RECORDS, 'access.items').map((item, i) => {
      const [r, c] = s.tuple(item, 2, `access.items[${i}]`);
      return {
        record: idOf('record', r!, `access.items[${i}].record`),
        consent: opt(c!, (v) => idOf('consent', v, `access.items[${i}].consent`)),
      };
    }),
    breakGlass: opt(f[7]!, (v) => idOf('breakGlass', v, 'access.breakGlass')),
    release: opt(f[8]!, (v) => hash32(v, 'access.release')),
    height: s.u64(f[9]!, 'access.height'),
    time: s.u64(f[10]!, 'access.time'),
  };
}

export interface BreakGlass {
  readonly id: string;
  readonly patient: string;
  readonly member: string;
  readonly reason: BreakGlassReason;
  readonly from: bigint;
  readonly until: bigint;
  readonly height: bigint;
}

export function breakGlassFields(b: BreakGlass): Canonical {
  return [b.id, b.patient, b.member, b.reason, b.from, b.until, b.height];
}

export function breakGlassFromFields(value: Canonical): BreakGlass {
  const f = s.tuple(value, 7, 'breakGlass');
  return {
    id: idOf('breakGlass', f[0]!, 'breakGlass.id'),
    patient: idOf('patient', f[1]!, 'breakGlass.patient'),
    member: memberId(f[2]!, 'breakGlass.member'),
    reason: oneOf(BREAK_GLASS_REASONS, f[3], 'breakGlass.reason'),
    from: s.u64(f[4]!, 'breakGlass.from'),
    until: s.u64(f[5]!, 'breakGlass.until'),
    height: s.u64(f[6]!, 'breakGlass.height'),
  };
}

export function encodeBreakGlass(b: BreakGlass): Uint8Array {
  return encode(breakGlassFields(b));
}

export function decodeBreakGlass(bytes: Uint8Array): BreakGlass {
  return breakGlassFromFields(readBytes(bytes, 'breakGlass'));
}

// --- claims ---

export interface ClaimLine {
  /** CPT or HCPCS code. */
  readonly code: string;
  /** Date of service: unix ms at 00:00 UTC. */
  readonly date: bigint;
  /** Billed amount, integer cents. */
  readonly amount: bigint;
  /** The anchored records that back the line. */
  readonly records: readonly string[];
}

export function claimLineFields(l: ClaimLine): Canonical {
  return [l.code, l.date, l.amount, [...l.records]];
}

export function claimLineFromFields(value: Canonical, what: string): ClaimLine {
  const f = s.tuple(value, 4, what);
  return {
    code: formatted(SERVICE_CODE, f[0], `${what}.code`),
    date: s.u64(f[1]!, `${what}.date`),
    amount: s.u64(f[2]!, `${what}.amount`),
    records: codeList(f[3]!, MAX_LINE_RECORDS, `${what}.records`, (v, w) => idOf('record', v, w)),
  };
}

/** `superseded`: replaced by an amendment (`Claim.supersededBy`) before it was adjudicated. */
export type ClaimStatus = 'submitted' | 'approved' | 'partial' | 'denied' | 'superseded';
const CLAIM_STATUSES: readonly ClaimStatus[] = ['approved', 'denied', 'partial', 'submitted', 'superseded'];

export interface ClaimStep {
  readonly status: ClaimStatus;
  readonly height: bigint;
  readonly time: bigint;
  /** Allowed amount per line (approved and partial), else empty. */
  readonly amounts: readonly bigint[];
  /** An X12 adjustment reason (partial and denied), else null. */
  readonly reason: string | null;
}

export interface Claim {
  readonly id: string;
  readonly patient: string;
  readonly provider: string;
  readonly payer: string;
  readonly lines: readonly ClaimLine[];
  readonly status: ClaimStatus;
  /** Every status the claim has had, oldest first. */
  readonly history: readonly ClaimStep[];
  /** The earlier claim this one amends, or null. */
  readonly supersedes: string | null;
  /** The amendment that replaced this claim (status `superseded`), or null. */
  readonly supersededBy: string | null;
}

export function encodeClaim(c: Claim): Uint8Array {
  return encode([
    c.id,
    c.patient,
    c.provider,
    c.payer,
    c.lines.map(claimLineFields),
    c.status,
    c.history.map((h) => [h.status, h.height, h.time, [...h.amounts], h.reason]),
    c.supersedes,
    c.supersededBy,
  ]);
}

export function decodeClaim(bytes: Uint8Array): Claim {
  const f = s.tuple(readBytes(bytes, 'claim'), 9, 'claim');
  return {
    id: idOf('claim', f[0]!, 'claim.id'),
    patient: idOf('patient', f[1]!, 'claim.patient'),
    provider: memberId(f[2]!, 'claim.provider'),
    payer: memberId(f[3]!, 'claim.payer'),
    lines: s
      .list(f[4]!, MAX_CLAIM_LINES, 'claim.lines')
      .map((l, i) => claimLineFromFields(l, `claim.lines[${i}]`)),
    status: oneOf(CLAIM_STATUSES, f[5], 'claim.status'),
    history: s.list(f[6]!, 16, 'claim.history').map((h, i) => {
      const [st, height, time, amounts, reason] = s.tuple(h, 5, `claim.history[${i}]`);
      return {
        status: oneOf(CLAIM_STATUSES, st, `claim.history[${i}].status`),
        height: s.u64(height!, `claim.history[${i}].height`),
        time: s.u64(time!, `claim.history[${i}].time`),
        amounts: s
          .list(amounts!, MAX_CLAIM_LINES, `claim.history[${i}].amounts`)
          .map((a) => s.u64(a, 'amount')),
        reason: opt(reason!, (v) => formatted(ADJUSTMENT_REASON, v, `claim.history[${i}].reason`)),
      };
    }),
    supersedes: opt(f[7]!, (v) => idOf('claim', v, 'claim.supersedes')),
    supersededBy: opt(f[8]!, (v) => idOf('claim', v, 'claim.supersededBy')),
  };
}

// --- governance ---

export type GovAction =
  | {
      readonly kind: 'member.add';
      readonly member: string;
      readonly pubKey: Uint8Array;
      readonly roles: readonly Role[];
    }
  | { readonly kind: 'member.remove'; readonly member: string }
  | { readonly kind: 'member.roles'; readonly member: string; readonly roles: readonly Role[] }
  | { readonly kind: 'member.rekey'; readonly member: string; readonly pubKey: Uint8Array }
  /** Replaces the peer ids of the member's nodes (a new node, a new node key, a node retired). */
  | { readonly kind: 'member.nodes'; readonly member: string; readonly nodes: readonly string[] }
  /**
   * Sets (or clears, with null) a member's record-encryption key by consortium vote: for a member
   * whose record secret key leaked while it cannot sign `member.set-record-key` itself (its member
   * key lost too), so that no custodian keeps wrapping data keys to the leaked key.
   */
  | { readonly kind: 'member.record-key'; readonly member: string; readonly recordKey: Uint8Array | null }
  | { readonly kind: 'validator.set'; readonly pubKey: Uint8Array; readonly power: bigint }
  | { readonly kind: 'params.set'; readonly name: ParamName; readonly value: bigint };

export function govActionFields(a: GovAction): Canonical {
  switch (a.kind) {
    case 'member.add':
      return [a.kind, a.member, a.pubKey, [...a.roles]];
    case 'member.remove':
      return [a.kind, a.member];
    case 'member.roles':
      return [a.kind, a.member, [...a.roles]];
    case 'member.rekey':
      return [a.kind, a.member, a.pubKey];
    case 'member.nodes':
      return [a.kind, a.member, [...a.nodes]];
    case 'member.record-key':
      return [a.kind, a.member, a.recordKey];
    case 'validator.set':
      return [a.kind, a.pubKey, a.power];
    case 'params.set':
      return [a.kind, a.name, a.value];
    default:
      return unreachable(a);
  }
}

export function govActionFromFields(value: Canonical, what: string): GovAction {
  if (!Array.isArray(value) || value.length === 0)
    throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: expected a tagged tuple`);
  const kind = value[0];
  switch (kind) {
    case 'member.add': {
      const f = s.tuple(value, 4, what);
      return {
        kind,
        member: memberId(f[1]!, `${what}.member`),
        pubKey: key32(f[2]!, `${what}.pubKey`),
        roles: rolesFrom(f[3]!, `${what}.roles`),
      };
    }
    case 'member.remove': {
      const f = s.tuple(value, 2, what);
      return { kind, member: memberId(f[1]!, `${what}.member`) };
    }
    case 'member.roles': {
      const f = s.tuple(value, 3, what);
      return { kind, member: memberId(f[1]!, `${what}.member`), roles: rolesFrom(f[2]!, `${what}.roles`) };
    }
    case 'member.rekey': {
      const f = s.tuple(value, 3, what);
      return { kind, member: memberId(f[1]!, `${what}.member`), pubKey: key32(f[2]!, `${what}.pubKey`) };
    }
    case 'member.nodes': {
      const f = s.tuple(value, 3, what);
      return { kind, member: memberId(f[1]!, `${what}.member`), nodes: nodeIdsFrom(f[2]!, `${what}.nodes`) };
    }
    case 'member.record-key': {
      const f = s.tuple(value, 3, what);
      return {
        kind,
        member: memberId(f[1]!, `${what}.member`),
        recordKey: opt(f[2]!, (v) => recordKeyFrom(v, `${what}.recordKey`)),
      };
    }
    case 'validator.set': {
      const f = s.tuple(value, 3, what);
      const power = s.u64(f[2]!, `${what}.power`);
      if (power > MAX_VALIDATOR_POWER)
        throw healthError('GOV_ACTION_INVALID', `${what}.power is at most ${MAX_VALIDATOR_POWER}`);
      return { kind, pubKey: key32(f[1]!, `${what}.pubKey`), power };
    }
    case 'params.set': {
      const f = s.tuple(value, 3, what);
      const name = oneOf(Object.keys(PARAM_NAMES) as ParamName[], f[1], `${what}.name`);
      return { kind, name, value: checkParam(PARAM_NAMES[name], s.u64(f[2]!, `${what}.value`)) };
    }
    default:
      throw healthError('HEALTH_PAYLOAD_INVALID', `${what}: unknown governance action`);
  }
}

export type ProposalStatus = 'open' | 'passed' | 'rejected' | 'expired' | 'failed';
const PROPOSAL_STATUSES: readonly ProposalStatus[] = ['expired', 'failed', 'open', 'passed', 'rejected'];

export interface Vote {
  readonly member: string;
  readonly approve: boolean;
}

export interface Proposal {
  readonly id: string;
  readonly proposer: string;
  readonly action: GovAction;
  /** The last height at which votes count. */
  readonly deadline: bigint;
  readonly createdAt: bigint;
  /** In the order cast. */
  readonly votes: readonly Vote[];
  readonly status: ProposalStatus;
  readonly closedAt: bigint | null;
  /** Why a passed proposal could not be carried out (an error code), or null. */
  readonly failure: string | null;
}

export function encodeProposal(p: Proposal): Uint8Array {
  return encode([
    p.id,
    p.proposer,
    govActionFields(p.action),
    p.deadline,
    p.createdAt,
    p.votes.map((v) => [v.member, v.approve]),
    p.status,
    p.closedAt,
    p.failure,
  ]);
}

export function decodeProposal(bytes: Uint8Array): Proposal {
  const f = s.tuple(readBytes(bytes, 'proposal'), 9, 'proposal');
  return {
    id: idOf('proposal', f[0]!, 'proposal.id'),
    proposer: memberId(f[1]!, 'proposal.proposer'),
    action: govActionFromFields(f[2]!, 'proposal.action'),
    deadline: s.u64(f[3]!, 'proposal.deadline'),
    createdAt: s.u64(f[4]!, 'proposal.createdAt'),
    votes: s.list(f[5]!, MAX_MEMBERS, 'proposal.votes').map((v, i) => {
      const [m, a] = s.tuple(v, 2, `proposal.votes[${i}]`);
      return { member: memberId(m!, `proposal.votes[${i}].member`), approve: s.bool(a!, 'approve') };
    }),
    status: oneOf(PROPOSAL_STATUSES, f[6], 'proposal.status'),
    closedAt: opt(f[7]!, (v) => s.u64(v, 'proposal.closedAt')),
    failure: opt(f[8]!, (v) => s.string(v, 'proposal.failure', 64)),
  };
}

// --- list pages (append-only lists of ids or of immutable entries) ---

/** Entries per list page. */
export const LIST_PAGE_SIZE = 128;

export function encodePage(entries: readonly Canonical[]): Uint8Array {
  return encode([...entries]);
}

export function decodePage(bytes: Uint8Array): readonly Canonical[] {
  return s.list(readBytes(bytes, 'page'), LIST_PAGE_SIZE, 'page');
}

export function unreachable(x: never): never {
  throw healthError('HEALTH_INTERNAL', `unexpected value ${String(x)}`);
}
