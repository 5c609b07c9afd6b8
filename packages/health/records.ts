/**
 * The signed fetch request, and the custodian's release decision: the chain half of moving a
 * record between institutions (DESIGN "Records off chain"; state/health/README.md "Records: who signs what").
 *
 * A requester (a member, or a patient fetching their own record through any member's node acting
 * as gateway) signs a fetch request with its on-chain key:
 *
 *   sign bytes = canonical [ 'careledger/record-fetch/v1', chainId, record, requesterKind,
 *                            requesterId, purpose, breakGlass, recipientKey, nonce, time ]
 *   wire form  = canonical [ ...the sign bytes' elements, signature ]
 *
 * Its **release id** is sha256(sign bytes). It names the one disclosure this request may cause:
 * the access event that audits the release carries it, and the chain records each release id at
 * most once (ACCESS_RELEASE_REPLAYED). It hashes the signed content, not the signature, so a second
 * signature over the same request (ed25519 signers can make several) is still the same release.
 * The 16-byte random nonce makes two requests for the same record different releases; the time
 * bounds how long a request can be replayed at all (±5 min of the custodian's clock).
 *
 * `recipientKey` is the X25519 key the data key is wrapped to. A member's is on chain
 * (`Member.recordKey`), so a member's request carries null; a patient has no key on chain for
 * that, so a patient's request names one, and the patient's signature over it is what stops a
 * gateway from putting its own key there.
 *
 * `decideRelease` is what the custodian's node runs on its latest committed state: it verifies
 * the request, runs the very checks `access.record` will (access.ts), and returns the
 * `access.record` tx to submit (signed by the node's key) or a typed refusal. The node releases
 * only once that tx is committed.
 */
import { type Canonical, decode, encode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { CareLedgerError } from '../core/errors.ts';
import { SignDomain, signBytes } from '../crypto/domain.ts';
import { SIGNATURE_BYTES, signMessage, verifySignature } from '../crypto/ed25519.ts';
import { sha256 } from '../crypto/hash.ts';
import { MAX_CHAIN_ID_LENGTH } from '../types/block.ts';
import { type AccessReader, checkAccess, isHealthRefusal } from './access.ts';
import { oneOf, PURPOSES, type Purpose } from './codes.ts';
import { type HealthErrorCode, healthError } from './errors.ts';
import { idOf, memberId } from './ids.ts';
import { type RecordAnchor, recordKeyFrom } from './model.ts';
import { accessRecordTx, type HealthTxOf } from './tx.ts';

export const FETCH_NONCE_BYTES = 16;
/** How far a request's time may be from the custodian's clock, either way. */
export const FETCH_REQUEST_MAX_SKEW_MS = 5n * 60_000n;
/** The most bytes a wire-form request can have (a valid one is under 300). */
export const MAX_FETCH_REQUEST_BYTES = 1024;

export type Requester =
  | { readonly kind: 'member'; readonly id: string }
  | { readonly kind: 'patient'; readonly id: string };

export interface FetchRequest {
  readonly chainId: string;
  readonly record: string;
  readonly requester: Requester;
  readonly purpose: Purpose;
  readonly breakGlass: boolean;
  /** The X25519 key to wrap the data key to: a patient's own; null for a member (its key is on chain). */
  readonly recipientKey: Uint8Array | null;
  readonly nonce: Uint8Array;
  /** When the requester made it, unix ms. */
  readonly time: bigint;
}

export interface SignedFetchRequest {
  readonly request: FetchRequest;
  /** ed25519, by the requester's current key (the member's or the patient's), over the sign bytes. */
  readonly signature: Uint8Array;
}

function requestFields(r: FetchRequest): Canonical[] {
  return [
    r.record,
    r.requester.kind,
    r.requester.id,
    r.purpose,
    r.breakGlass,
    r.recipientKey,
    r.nonce,
    r.time,
  ];
}

/** What the requester signs. */
export function fetchRequestSignBytes(r: FetchRequest): Uint8Array {
  return signBytes(SignDomain.recordFetch, r.chainId, requestFields(r));
}

/** The release id of a request: sha256 of its sign bytes. */
export function releaseIdOf(r: FetchRequest): Uint8Array {
  return sha256(fetchRequestSignBytes(r));
}

/** The wire form of a signed request. */
export function encodeFetchRequest(signed: SignedFetchRequest): Uint8Array {
  return encode([
    SignDomain.recordFetch,
    signed.request.chainId,
    ...requestFields(signed.request),
    signed.signature,
  ]);
}

function invalidRequest(message: string): CareLedgerError {
  return healthError('ACCESS_REQUEST_INVALID', `fetch request: ${message}`);
}

function requesterFrom(kind: Canonical | undefined, id: Canonical | undefined): Requester {
  if (kind === 'member') return { kind, id: memberId(id, 'requester') };
  if (kind === 'patient') return { kind, id: idOf('patient', id, 'requester') };
  throw invalidRequest('requester kind is member or patient');
}

/** Checks the request's fields (the rules `decodeFetchRequest` applies); throws ACCESS_REQUEST_INVALID. */
function readRequest(f: readonly Canonical[]): FetchRequest {
  const [chainId, record, kind, id, purpose, breakGlass, recipientKey, nonce, time] = f;
  const requester = requesterFrom(kind, id);
  const key = recipientKey === null ? null : recordKeyFrom(recipientKey!, 'recipientKey');
  // A member's data key goes to its key on chain only; a patient must name the key it holds.
  if ((requester.kind === 'patient') !== (key !== null))
    throw invalidRequest("a patient's request names its recipient key, and only a patient's does");
  return {
    chainId: s.string(chainId!, 'chainId', MAX_CHAIN_ID_LENGTH),
    record: idOf('record', record, 'record'),
    requester,
    purpose: oneOf(PURPOSES, purpose, 'purpose'),
    breakGlass: s.bool(breakGlass!, 'breakGlass'),
    recipientKey: key,
    nonce: s.bytes(nonce!, 'nonce', FETCH_NONCE_BYTES),
    time: s.u64(time!, 'time'),
  };
}

/**
 * Strict decode of a wire-form request: canonical bytes only (no trailing bytes, minimal forms),
 * the domain tag, every field checked. Any failure is ACCESS_REQUEST_INVALID. The signature is
 * not verified here (that needs the requester's key from the state: `verifyFetchRequest`).
 */
export function decodeFetchRequest(bytes: Uint8Array): SignedFetchRequest {
  if (bytes.length > MAX_FETCH_REQUEST_BYTES)
    throw invalidRequest(`more than ${MAX_FETCH_REQUEST_BYTES} bytes`);
  try {
    const f = s.tuple(decode(bytes), 11, 'fetch request');
    if (f[0] !== SignDomain.recordFetch) throw invalidRequest('not a record fetch request');
    return { request: readRequest(f.slice(1, 10)), signature: s.bytes(f[10]!, 'signature', SIGNATURE_BYTES) };
  } catch (err) {
    if (err instanceof CareLedgerError && err.code === 'ACCESS_REQUEST_INVALID') throw err;
    throw invalidRequest((err as Error).message);
  }
}

/** Checks a request before signing it (the same rules as decoding), then signs it. */
export function signFetchRequest(request: FetchRequest, secretKey: Uint8Array): SignedFetchRequest {
  const checked = readRequest([request.chainId, ...requestFields(request)]);
  return { request: checked, signature: signMessage(secretKey, fetchRequestSignBytes(checked)) };
}

/** The fields a requester chooses; `fetchRequest` adds the nonce and the time. */
export type FetchRequestSpec = Omit<FetchRequest, 'nonce' | 'time' | 'recipientKey' | 'breakGlass'> & {
  readonly breakGlass?: boolean;
  readonly recipientKey?: Uint8Array | null;
};

/** A new request: `nonce` 16 random bytes (pass them; tests pass fixed ones), `time` unix ms now. */
export function fetchRequest(spec: FetchRequestSpec, nonce: Uint8Array, time: bigint): FetchRequest {
  return {
    ...spec,
    breakGlass: spec.breakGlass ?? false,
    recipientKey: spec.recipientKey ?? null,
    nonce,
    time,
  };
}

/** Why a request is refused before the state is consulted. */
export interface FetchRequestError {
  readonly code: 'ACCESS_REQUEST_INVALID' | 'ACCESS_REQUEST_STALE';
  readonly message: string;
}

/**
 * Checks that `signed` is for this chain, signed by `signerKey` (the requester's current key on
 * chain) and made within ±5 minutes of `now`. Returns the error, or null if it holds.
 */
export function verifyFetchRequest(
  signed: SignedFetchRequest,
  expect: { readonly chainId: string; readonly now: bigint; readonly signerKey: Uint8Array },
): FetchRequestError | null {
  const r = signed.request;
  if (r.chainId !== expect.chainId)
    return { code: 'ACCESS_REQUEST_INVALID', message: `the request is for chain ${r.chainId}` };
  if (!verifySignature(expect.signerKey, fetchRequestSignBytes(r), signed.signature))
    return { code: 'ACCESS_REQUEST_INVALID', message: "the requester's key did not sign this request" };
  const skew = r.time > expect.now ? r.time - expect.now : expect.now - r.time;
  if (skew > FETCH_REQUEST_MAX_SKEW_MS)
    return {
      code: 'ACCESS_REQUEST_STALE',
      message: `the request's time is ${skew} ms from the custodian's clock (at most ${FETCH_REQUEST_MAX_SKEW_MS})`,
    };
  return null;
}

/** Where and when the custodian's node decides. */
export interface ReleaseContext {
  readonly chainId: string;
  /** The member id of the custodian whose node decides (the record must be its). */
  readonly custodian: string;
  /** The node's clock, unix ms: the request's freshness and the policy's time. */
  readonly now: bigint;
  /** The height the access event will be judged at: the latest committed height + 1. */
  readonly height: bigint;
}

export type ReleaseDecision =
  | {
      readonly release: true;
      readonly releaseId: Uint8Array;
      readonly record: RecordAnchor;
      /** The X25519 key to wrap the data key to (the member's on chain, or the patient's signed one). */
      readonly recipientKey: Uint8Array;
      /** The audit entry to submit, signed by the node's key; release after it is committed. */
      readonly tx: HealthTxOf<'access.record'>;
    }
  | { readonly release: false; readonly code: HealthErrorCode; readonly message: string };

function refuse(code: HealthErrorCode, message: string): ReleaseDecision {
  return { release: false, code, message };
}

/**
 * The custodian's decision on a signed fetch request, on its latest committed state. Refusals
 * (each with its code): RECORD_UNKNOWN (no anchor), RECORD_NOT_CUSTODIAN (not this custodian's),
 * ACCESS_REQUEST_INVALID (wrong chain, unknown or inactive requester, bad signature),
 * ACCESS_REQUEST_STALE, MEMBER_RECORD_KEY_MISSING (the member has no record key on chain), and
 * every refusal of `access.record` (access.ts): RECORD_ERASED, ACCESS_NO_CONSENT,
 * ACCESS_CONSENT_REVOKED, ACCESS_DENY_PROVISION, ACCESS_PURPOSE_INVALID, BREAK_GLASS_INACTIVE,
 * ACCESS_RECIPIENT_INVALID, ACCESS_RELEASE_REPLAYED, …
 */
export async function decideRelease(
  reader: AccessReader,
  signed: SignedFetchRequest,
  at: ReleaseContext,
): Promise<ReleaseDecision> {
  const r = signed.request;
  const record = await reader.record(r.record);
  if (record === null) return refuse('RECORD_UNKNOWN', `record ${r.record} is not anchored on chain`);
  if (record.custodian !== at.custodian)
    return refuse('RECORD_NOT_CUSTODIAN', `record ${record.id} is held by ${record.custodian}`);
  let signerKey: Uint8Array;
  let recipientKey: Uint8Array | null;
  if (r.requester.kind === 'member') {
    const member = await reader.member(r.requester.id);
    if (member === null || !member.active)
      return refuse('ACCESS_REQUEST_INVALID', `requester ${r.requester.id} is not an active member`);
    signerKey = member.pubKey;
    recipientKey = member.recordKey;
  } else {
    const patient = await reader.patient(r.requester.id);
    if (patient === null)
      return refuse('ACCESS_REQUEST_INVALID', `requester ${r.requester.id} is not a patient`);
    signerKey = patient.pubKey;
    recipientKey = r.recipientKey;
  }
  const invalid = verifyFetchRequest(signed, { chainId: at.chainId, now: at.now, signerKey });
  if (invalid !== null) return refuse(invalid.code, invalid.message);
  if (recipientKey === null)
    return refuse('MEMBER_RECORD_KEY_MISSING', `${r.requester.id} has no record-encryption key on chain`);
  const releaseId = releaseIdOf(r);
  const tx = accessRecordTx({
    patient: record.patient,
    recipient: r.requester.id,
    purpose: r.purpose,
    action: 'read',
    records: [record.id],
    breakGlass: r.breakGlass,
    release: releaseId,
  });
  try {
    await checkAccess(reader, { ...tx, custodian: at.custodian }, { height: at.height, time: at.now });
  } catch (err) {
    if (isHealthRefusal(err)) return refuse(err.code, err.message);
    throw err;
  }
  return { release: true, releaseId, record, recipientKey, tx };
}
