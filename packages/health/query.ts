/**
 * Query paths of the health-data application, the encodings of their `data`, and how a client
 * checks an answer against an app hash.
 *
 * Single-key paths answer with `key` (the state key's bytes), `value` (the leaf's value: an
 * encoding from model.ts, or null if absent) and `proof` (packages/merkle/proof.ts, encoded): one
 * membership or non-membership proof, checked with `verifyAnswer`.
 *
 * Lists (a patient's records, consents, requests, disclosures, claims, break-glass; a member's
 * claims) are append-only and stored in pages of LIST_PAGE_SIZE entries, each page one leaf. A
 * page answer is proven like any leaf. A client has the whole list once it holds a proven page
 * with fewer than LIST_PAGE_SIZE entries, or a proof that the next page does not exist; the count
 * leaf (`/health/list/count`) gives the length in one more proof.
 *
 * The decision path answers with the policy engine's decision and, as its proof, a bundle of
 * every leaf the decision read (block, record, the grant lists, each consent in them), each with
 * its own proof. `verifyDecision` checks each leaf, then runs the same engine on the proven leaves
 * and compares: the client trusts no node for the decision, only the app hash.
 */
import { type Canonical, decode, encode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.ts';
import { HASH_BYTES } from '../crypto/hash.ts';
import { decodeProof, verifyProof } from '../merkle/proof.ts';
import { ACTIONS, type Action, oneOf, PURPOSES, type Purpose } from './codes.ts';
import { healthError } from './errors.ts';
import { ANY_MEMBER, idOf, isIdOf, isMemberId, memberId } from './ids.ts';
import { LIST_KINDS, type ListKind, stateKey } from './keys.ts';
import { decodeBlockInfo, decodeConsent, decodeIdList, decodeRecord } from './model.ts';
import {
  type Decision,
  type DecisionReason,
  decideForRecord,
  type PolicyConsent,
  type PolicyRecord,
} from './policy.ts';

export const QUERY_PATHS = [
  '/health/block',
  '/health/params',
  '/health/validators',
  '/health/members',
  '/health/member',
  '/health/key',
  '/health/nonce',
  '/health/release',
  '/health/patient',
  '/health/record',
  '/health/consent',
  '/health/request',
  '/health/claim',
  '/health/proposal',
  '/health/open-proposals',
  '/health/pending',
  '/health/grants',
  '/health/breakglass/active',
  '/health/breakglass/count',
  '/health/list',
  '/health/list/count',
  '/health/records',
  '/health/consents',
  '/health/requests',
  '/health/disclosures',
  '/health/claims',
  '/health/breakglass',
  '/health/decision',
] as const;
export type QueryPath = (typeof QUERY_PATHS)[number];

/** Paths that read one page of a patient's list: data is canonical [patient, page]. */
export const PATIENT_LIST_PATHS: Partial<Record<QueryPath, ListKind>> = {
  '/health/records': 'records',
  '/health/consents': 'consents',
  '/health/requests': 'requests',
  '/health/disclosures': 'disclosures',
  '/health/claims': 'claims',
  '/health/breakglass': 'breakglass',
};

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

function bad(message: string): never {
  throw healthError('QUERY_DATA_INVALID', message);
}

function readCanonical(data: Uint8Array): Canonical {
  try {
    return decode(data);
  } catch (err) {
    bad(`query data: ${(err as Error).message}`);
  }
}

function text(data: Uint8Array): string {
  try {
    return fromUtf8.decode(data);
  } catch {
    bad('query data must be UTF-8');
  }
}

function page(value: Canonical | undefined): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff)
    bad('page must be an integer from 0');
  return value;
}

/** Data of a single-id path (`/health/record` etc.): the id in UTF-8. */
export function idQueryData(id: string): Uint8Array {
  return utf8.encode(id);
}

export function listQueryData(kind: ListKind, owner: string, pageIndex: number): Uint8Array {
  return encode([kind, owner, pageIndex]);
}

export function listCountQueryData(kind: ListKind, owner: string): Uint8Array {
  return encode([kind, owner]);
}

export function patientListQueryData(patient: string, pageIndex: number): Uint8Array {
  return encode([patient, pageIndex]);
}

export function pairQueryData(patient: string, member: string): Uint8Array {
  return encode([patient, member]);
}

export interface DecisionRequest {
  readonly patient: string;
  readonly grantee: string;
  readonly record: string;
  readonly purpose: Purpose;
  readonly action: Action;
  /** Evaluate at this time; null: the time of the queried block. */
  readonly time: bigint | null;
}

/**
 * The policy decision for a decision query: the one mapping of a request onto the engine, used
 * by the application to answer and by a client to re-check a proven answer.
 */
export function decideRequest(
  consents: readonly PolicyConsent[],
  record: (Omit<PolicyRecord, 'erased'> & { readonly erasure: unknown }) | null,
  request: DecisionRequest,
  time: bigint,
  height: bigint,
): Decision {
  return decideForRecord(consents, record === null ? null : { ...record, erased: record.erasure !== null }, {
    patient: request.patient,
    grantee: request.grantee,
    recordId: request.record,
    purpose: request.purpose,
    action: request.action,
    time,
    height,
  });
}

export function decisionQueryData(r: DecisionRequest): Uint8Array {
  return encode([r.patient, r.grantee, r.record, r.purpose, r.action, r.time]);
}

export function decodeDecisionRequest(data: Uint8Array): DecisionRequest {
  const value = readCanonical(data);
  if (!Array.isArray(value) || value.length !== 6)
    bad('decision data is [patient, grantee, record, purpose, action, time]');
  const [patient, grantee, record, purpose, action, time] = value as readonly Canonical[];
  try {
    return {
      patient: idOf('patient', patient, 'patient'),
      grantee: memberId(grantee, 'grantee'),
      record: idOf('record', record, 'record'),
      purpose: oneOf(PURPOSES, purpose, 'purpose'),
      action: oneOf(ACTIONS, action, 'action'),
      time: time === null ? null : s.u64(time!, 'time'),
    };
  } catch (err) {
    bad((err as Error).message);
  }
}

/**
 * The state key a single-key path reads, or null for the decision path (a bundle). Throws
 * QUERY_UNKNOWN_PATH or QUERY_DATA_INVALID.
 */
export function queryKey(path: string, data: Uint8Array): string | null {
  const listKind = PATIENT_LIST_PATHS[path as QueryPath];
  if (listKind !== undefined) {
    const value = readCanonical(data);
    if (!Array.isArray(value) || value.length !== 2) bad('data is [patient, page]');
    const [owner, p] = value as readonly Canonical[];
    if (!isIdOf('patient', owner)) bad('owner must be a patient id');
    return stateKey.listPage(listKind, owner, page(p));
  }
  switch (path as QueryPath) {
    case '/health/block':
      return stateKey.block();
    case '/health/params':
      return stateKey.params();
    case '/health/validators':
      return stateKey.validators();
    case '/health/members':
      return stateKey.members();
    case '/health/open-proposals':
      return stateKey.openProposals();
    case '/health/member':
    case '/health/breakglass/count': {
      const id = text(data);
      if (!isMemberId(id)) bad('data must be a member id');
      return path === '/health/member' ? stateKey.member(id) : stateKey.breakGlassCount(id);
    }
    case '/health/key':
    case '/health/nonce':
      if (data.length !== PUBLIC_KEY_BYTES) bad('data must be a 32-byte public key');
      return path === '/health/key' ? stateKey.key(data) : stateKey.nonce(data);
    case '/health/release':
      if (data.length !== HASH_BYTES) bad('data must be a 32-byte release id');
      return stateKey.release(data);
    case '/health/patient':
    case '/health/pending': {
      const id = text(data);
      if (!isIdOf('patient', id)) bad('data must be a patient id');
      return path === '/health/patient' ? stateKey.patient(id) : stateKey.pending(id);
    }
    case '/health/record':
      return stateKey.record(checked('record', text(data)));
    case '/health/consent':
      return stateKey.consent(checked('consent', text(data)));
    case '/health/request':
      return stateKey.request(checked('request', text(data)));
    case '/health/claim':
      return stateKey.claim(checked('claim', text(data)));
    case '/health/proposal':
      return stateKey.proposal(checked('proposal', text(data)));
    case '/health/grants':
    case '/health/breakglass/active': {
      const value = readCanonical(data);
      if (!Array.isArray(value) || value.length !== 2) bad('data is [patient, member]');
      const [patient, member] = value as readonly Canonical[];
      if (!isIdOf('patient', patient)) bad('patient must be a patient id');
      if (path === '/health/grants') {
        if (member !== ANY_MEMBER && !isMemberId(member)) bad('grantee must be a member id or *');
        return stateKey.grants(patient, member as string);
      }
      if (!isMemberId(member)) bad('member must be a member id');
      return stateKey.breakGlass(patient, member);
    }
    case '/health/list':
    case '/health/list/count': {
      const value = readCanonical(data);
      const n = path === '/health/list' ? 3 : 2;
      if (!Array.isArray(value) || value.length !== n) bad(`data is [kind, owner${n === 3 ? ', page' : ''}]`);
      const [kind, owner, p] = value as readonly Canonical[];
      if (typeof kind !== 'string' || !Object.hasOwn(LIST_KINDS, kind)) bad('unknown list kind');
      const ownerKind = LIST_KINDS[kind as ListKind];
      if (ownerKind === 'patient' ? !isIdOf('patient', owner) : !isMemberId(owner))
        bad(`owner must be a ${ownerKind} id`);
      return n === 3
        ? stateKey.listPage(kind as ListKind, owner as string, page(p))
        : stateKey.listCount(kind as ListKind, owner as string);
    }
    case '/health/decision':
      return null;
    default:
      throw healthError('QUERY_UNKNOWN_PATH', `unknown query path ${JSON.stringify(path.slice(0, 64))}`);
  }
}

function checked(kind: 'record' | 'consent' | 'request' | 'claim' | 'proposal', id: string): string {
  if (!isIdOf(kind, id)) bad(`data must be a ${kind} id`);
  return id;
}

/** True if `proof` (encoded) shows that `key` holds `value` (or, for null, nothing) under `root`. */
export function verifyAnswer(
  root: Uint8Array,
  key: Uint8Array,
  value: Uint8Array | null,
  proof: Uint8Array,
): boolean {
  try {
    return verifyProof(root, key, value, decodeProof(proof));
  } catch {
    return false;
  }
}

// --- decision answers ---

export interface ProvenLeaf {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
  /** Encoded Merkle proof. */
  readonly proof: Uint8Array;
}

export interface DecisionAnswer extends Decision {
  /** The height and time the engine evaluated at (the next block's height, the given time). */
  readonly height: bigint;
  readonly time: bigint;
}

const BUNDLE_FORMAT = 1;
const MAX_BUNDLE_LEAVES = 3 + 2 * 64;

export function encodeDecisionAnswer(d: DecisionAnswer): Uint8Array {
  return encode([d.permit, d.consentId, d.reason, d.height, d.time]);
}

export function decodeDecisionAnswer(bytes: Uint8Array): DecisionAnswer {
  const [permit, consentId, reason, height, time] = s.tuple(readCanonical(bytes), 5, 'decision');
  return {
    permit: s.bool(permit!, 'permit'),
    consentId: consentId === null ? null : idOf('consent', consentId, 'consentId'),
    reason: s.string(reason!, 'reason', 32) as DecisionReason,
    height: s.u64(height!, 'height'),
    time: s.u64(time!, 'time'),
  };
}

export function encodeBundle(leaves: readonly ProvenLeaf[]): Uint8Array {
  return encode([BUNDLE_FORMAT, leaves.map((l) => [l.key, l.value, l.proof])]);
}

export function decodeBundle(bytes: Uint8Array): ProvenLeaf[] {
  const [format, leaves] = s.tuple(readCanonical(bytes), 2, 'bundle');
  if (format !== BUNDLE_FORMAT) bad('unknown bundle format');
  return s.list(leaves!, MAX_BUNDLE_LEAVES, 'bundle.leaves').map((l, i) => {
    const [key, value, proof] = s.tuple(l, 3, `bundle[${i}]`);
    return {
      key: s.boundedBytes(key!, 'key', 1024),
      value: value === null ? null : s.boundedBytes(value!, 'value', 1024 * 1024),
      proof: s.boundedBytes(proof!, 'proof', 16 * 1024),
    };
  });
}

/**
 * Checks a decision answer against `root` (the app hash of the header after the queried block):
 * every leaf of the bundle is proven, the bundle holds every leaf the decision depends on, and the
 * policy engine, run here on those leaves, gives the answer. Returns the decision, or null.
 */
export function verifyDecision(
  root: Uint8Array,
  request: DecisionRequest,
  value: Uint8Array,
  bundle: Uint8Array,
): DecisionAnswer | null {
  try {
    const leaves = decodeBundle(bundle);
    const proven = new Map<string, Uint8Array | null>();
    for (const leaf of leaves) {
      if (!verifyAnswer(root, leaf.key, leaf.value, leaf.proof)) return null;
      proven.set(fromUtf8.decode(leaf.key), leaf.value);
    }
    const read = (key: string): Uint8Array | null => {
      if (!proven.has(key)) throw healthError('QUERY_DATA_INVALID', `bundle lacks ${key}`);
      return proven.get(key)!;
    };
    const blockBytes = read(stateKey.block());
    if (blockBytes === null) return null;
    const block = decodeBlockInfo(blockBytes);
    const recordBytes = read(stateKey.record(request.record));
    const record = recordBytes === null ? null : decodeRecord(recordBytes);
    const consents = [request.grantee, ANY_MEMBER].flatMap((grantee) => {
      const ids = read(stateKey.grants(request.patient, grantee));
      return ids === null
        ? []
        : decodeIdList(ids).map((id) => {
            const bytes = read(stateKey.consent(id));
            if (bytes === null) throw healthError('QUERY_DATA_INVALID', `consent ${id} is missing`);
            return decodeConsent(bytes);
          });
    });
    const answer = decodeDecisionAnswer(value);
    const time = request.time ?? block.time;
    if (answer.height !== block.height + 1n || answer.time !== time) return null;
    const decision = decideRequest(consents, record, request, time, answer.height);
    const same =
      decision.permit === answer.permit &&
      decision.consentId === answer.consentId &&
      decision.reason === answer.reason;
    return same ? answer : null;
  } catch {
    return null;
  }
}
