/**
 * The payloads of health-data txs: one discriminated union, each encoded as a canonical tuple with
 * its tag first, decoded strictly (exact arity, bounded strings and lists, known codes, sorted and
 * unique sets). The payload travels inside the signed tx envelope (packages/types/tx.ts); the
 * envelope's signer is who acts, and its nonce is the per-signer replay counter.
 *
 * Registration is signed by the enrolling member, with the patient's proof of possession inside:
 * the patient signs ['careledger/patient-register/v1', chain id, member id, patient key]. So the
 * accountable, rate-limited party (a known member) submits, no unknown key ever reaches the
 * mempool, and no member can register a key it does not hold for a patient who did not agree.
 * Rotation is signed by the old key, with the new key's proof of possession inside.
 */
import { type Canonical, decode, encode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { type KeyPair, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, signMessage } from '../crypto/ed25519.ts';
import { HASH_BYTES, sha256 } from '../crypto/hash.ts';
import { type CheckedTx, signTx } from '../types/tx.ts';
import {
  ACTIONS,
  type Action,
  ADJUSTMENT_REASON,
  BREAK_GLASS_REASONS,
  type BreakGlassReason,
  CATEGORIES,
  type Category,
  CLAIM_OUTCOMES,
  type ClaimOutcome,
  ERASURE_REASONS,
  type ErasureReason,
  formatted,
  oneOf,
  PURPOSES,
  type Purpose,
} from './codes.ts';
import { healthError } from './errors.ts';
import { granteeId, idOf, memberId } from './ids.ts';
import {
  type ClaimLine,
  claimLineFields,
  claimLineFromFields,
  type DelegateSpec,
  delegateSpecFields,
  delegateSpecFromFields,
  type GovAction,
  govActionFields,
  govActionFromFields,
  MAX_ACCESS_RECORDS,
  MAX_CLAIM_LINES,
  MAX_LINE_AMOUNT,
  MAX_RECORD_BYTES,
  type RequestSpec,
  recordKeyFrom,
  requestSpecFields,
  requestSpecFromFields,
} from './model.ts';
import {
  codeList,
  compareStrings,
  type Provision,
  provisionFields,
  provisionFromFields,
} from './provision.ts';

export type HealthTx =
  | { readonly type: 'patient.register'; readonly patientKey: Uint8Array; readonly proof: Uint8Array }
  | {
      readonly type: 'patient.rotate-key';
      readonly patient: string;
      readonly newKey: Uint8Array;
      readonly proof: Uint8Array;
    }
  | { readonly type: 'delegate.set'; readonly patient: string; readonly delegate: DelegateSpec }
  | { readonly type: 'delegate.remove'; readonly patient: string; readonly delegateKey: Uint8Array }
  | {
      readonly type: 'record.anchor';
      readonly patient: string;
      readonly category: Category;
      readonly ciphertextHash: Uint8Array;
      readonly commitment: Uint8Array;
      readonly size: bigint;
      readonly supersedes: string | null;
    }
  | { readonly type: 'record.erase'; readonly record: string; readonly reason: ErasureReason }
  | {
      readonly type: 'consent.grant';
      readonly patient: string;
      readonly grantee: string;
      readonly provision: Provision;
    }
  | { readonly type: 'consent.revoke'; readonly consent: string }
  | ({ readonly type: 'request.create'; readonly patient: string } & RequestSpec)
  | {
      readonly type: 'request.approve';
      readonly request: string;
      /** Replaces the requested end of access; null keeps it. */
      readonly periodEnd: bigint | null;
      /** Exceptions the patient adds (nested deny provisions). */
      readonly exceptions: readonly Provision[];
    }
  | { readonly type: 'request.deny'; readonly request: string }
  | {
      readonly type: 'access.record';
      readonly patient: string;
      readonly recipient: string;
      readonly purpose: Purpose;
      readonly action: Action;
      readonly records: readonly string[];
      readonly breakGlass: boolean;
      /** The release id (records.ts) this event audits; null for an access recorded by hand. */
      readonly release: Uint8Array | null;
    }
  | { readonly type: 'breakglass.declare'; readonly patient: string; readonly reason: BreakGlassReason }
  | {
      readonly type: 'claim.submit';
      readonly patient: string;
      readonly payer: string;
      readonly lines: readonly ClaimLine[];
      /** The earlier claim this one amends (same provider, patient and payer, not adjudicated), or null. */
      readonly supersedes: string | null;
    }
  | {
      readonly type: 'claim.adjudicate';
      readonly claim: string;
      readonly outcome: ClaimOutcome;
      /** Allowed amount per line for `partial`; empty otherwise. */
      readonly amounts: readonly bigint[];
      /** An X12 adjustment reason for `partial` and `denied`; null for `approved`. */
      readonly reason: string | null;
    }
  | { readonly type: 'gov.propose'; readonly action: GovAction; readonly deadline: bigint }
  | { readonly type: 'gov.vote'; readonly proposal: string; readonly approve: boolean }
  /** The signing member's new record-encryption public key (X25519), or null to have none. */
  | { readonly type: 'member.set-record-key'; readonly recordKey: Uint8Array | null };

export type HealthTxType = HealthTx['type'];

export const TX_TYPES: readonly HealthTxType[] = [
  'patient.register',
  'patient.rotate-key',
  'delegate.set',
  'delegate.remove',
  'record.anchor',
  'record.erase',
  'consent.grant',
  'consent.revoke',
  'request.create',
  'request.approve',
  'request.deny',
  'access.record',
  'breakglass.declare',
  'claim.submit',
  'claim.adjudicate',
  'gov.propose',
  'gov.vote',
  'member.set-record-key',
];

const MAX_EXCEPTIONS = 8;

function fields(tx: HealthTx): Canonical[] {
  switch (tx.type) {
    case 'patient.register':
      return [tx.patientKey, tx.proof];
    case 'patient.rotate-key':
      return [tx.patient, tx.newKey, tx.proof];
    case 'delegate.set':
      return [tx.patient, delegateSpecFields(tx.delegate)];
    case 'delegate.remove':
      return [tx.patient, tx.delegateKey];
    case 'record.anchor':
      return [tx.patient, tx.category, tx.ciphertextHash, tx.commitment, tx.size, tx.supersedes];
    case 'record.erase':
      return [tx.record, tx.reason];
    case 'consent.grant':
      return [tx.patient, tx.grantee, provisionFields(tx.provision)];
    case 'consent.revoke':
      return [tx.consent];
    case 'request.create':
      return [tx.patient, ...requestSpecFields(tx)];
    case 'request.approve':
      return [tx.request, tx.periodEnd, tx.exceptions.map(provisionFields)];
    case 'request.deny':
      return [tx.request];
    case 'access.record':
      return [tx.patient, tx.recipient, tx.purpose, tx.action, [...tx.records], tx.breakGlass, tx.release];
    case 'breakglass.declare':
      return [tx.patient, tx.reason];
    case 'claim.submit':
      return [tx.patient, tx.payer, tx.lines.map(claimLineFields), tx.supersedes];
    case 'claim.adjudicate':
      return [tx.claim, tx.outcome, [...tx.amounts], tx.reason];
    case 'gov.propose':
      return [govActionFields(tx.action), tx.deadline];
    case 'gov.vote':
      return [tx.proposal, tx.approve];
    case 'member.set-record-key':
      return [tx.recordKey];
  }
}

/** The canonical payload bytes of a health tx (the `payload` of the signed envelope). */
export function encodeHealthTx(tx: HealthTx): Uint8Array {
  return encode([tx.type, ...fields(tx)]);
}

function opt<T>(value: Canonical, read: (v: Canonical) => T): T | null {
  return value === null ? null : read(value);
}

/**
 * Strict decode of a payload: every failure is a CareLedgerError whose code is in the health
 * error table (HEALTH_PAYLOAD_INVALID, HEALTH_CODE_INVALID, HEALTH_ID_INVALID, HEALTH_LIMIT, …).
 */
export function decodeHealthTx(payload: Uint8Array): HealthTx {
  let value: Canonical;
  try {
    value = decode(payload);
  } catch (err) {
    throw healthError('HEALTH_PAYLOAD_INVALID', `payload: ${(err as Error).message}`);
  }
  try {
    return readTx(value);
  } catch (err) {
    // Schema errors from the shared readers become the health payload code; ours pass through.
    if ((err as { code?: string }).code === 'CODEC_SCHEMA')
      throw healthError('HEALTH_PAYLOAD_INVALID', (err as Error).message);
    throw err;
  }
}

function readTx(value: Canonical): HealthTx {
  if (!Array.isArray(value) || value.length === 0 || typeof value[0] !== 'string')
    throw healthError('HEALTH_PAYLOAD_INVALID', 'payload must be a tuple with its type first');
  const type = value[0] as HealthTxType;
  const arity = (n: number) => s.tuple(value, n + 1, type).slice(1);
  switch (type) {
    case 'patient.register': {
      const [key, proof] = arity(2);
      return {
        type,
        patientKey: s.bytes(key!, 'patientKey', PUBLIC_KEY_BYTES),
        proof: s.bytes(proof!, 'proof', SIGNATURE_BYTES),
      };
    }
    case 'patient.rotate-key': {
      const [patient, key, proof] = arity(3);
      return {
        type,
        patient: idOf('patient', patient, 'patient'),
        newKey: s.bytes(key!, 'newKey', PUBLIC_KEY_BYTES),
        proof: s.bytes(proof!, 'proof', SIGNATURE_BYTES),
      };
    }
    case 'delegate.set': {
      const [patient, spec] = arity(2);
      return {
        type,
        patient: idOf('patient', patient, 'patient'),
        delegate: delegateSpecFromFields(spec!, 'delegate'),
      };
    }
    case 'delegate.remove': {
      const [patient, key] = arity(2);
      return {
        type,
        patient: idOf('patient', patient, 'patient'),
        delegateKey: s.bytes(key!, 'delegateKey', PUBLIC_KEY_BYTES),
      };
    }
    case 'record.anchor': {
      const [patient, category, ciphertextHash, commitment, size, supersedes] = arity(6);
      const bytes = s.u64(size!, 'size');
      if (bytes === 0n || bytes > MAX_RECORD_BYTES)
        throw healthError('HEALTH_LIMIT', `size: a record is 1 byte to ${MAX_RECORD_BYTES} bytes`);
      return {
        type,
        patient: idOf('patient', patient, 'patient'),
        category: oneOf(CATEGORIES, category, 'category'),
        ciphertextHash: s.bytes(ciphertextHash!, 'ciphertextHash', HASH_BYTES),
        commitment: s.bytes(commitment!, 'commitment', HASH_BYTES),
        size: bytes,
        supersedes: opt(supersedes!, (v) => idOf('record', v, 'supersedes')),
      };
    }
    case 'record.erase': {
      const [record, reason] = arity(2);
      return {
        type,
        record: idOf('record', record, 'record'),
        reason: oneOf(ERASURE_REASONS, reason, 'reason'),
      };
    }
    case 'consent.grant': {
      const [patient, grantee, provision] = arity(3);
      return {
        type,
        patient: idOf('patient', patient, 'patient'),
        grantee: granteeId(grantee, 'grantee'),
        provision: provisionFromFields(provision!, 'provision'),
      };
    }
    case 'consent.revoke': {
      const [consent] = arity(1);
      return { type, consent: idOf('consent', consent, 'consent') };
    }
    case 'request.create': {
      const f = arity(8);
      return {
        type,
        patient: idOf('patient', f[0], 'patient'),
        ...requestSpecFromFields(f.slice(1), 'request'),
      };
    }
    case 'request.approve': {
      const [request, periodEnd, exceptions] = arity(3);
      return {
        type,
        request: idOf('request', request, 'request'),
        periodEnd: opt(periodEnd!, (v) => s.u64(v, 'periodEnd')),
        exceptions: s
          .list(exceptions!, MAX_EXCEPTIONS, 'exceptions')
          .map((p, i) => provisionFromFields(p, `exceptions[${i}]`)),
      };
    }
    case 'request.deny': {
      const [request] = arity(1);
      return { type, request: idOf('request', request, 'request') };
    }
    case 'access.record': {
      const [patient, recipient, purpose, action, records, breakGlass, release] = arity(7);
      const ids = codeList(records!, MAX_ACCESS_RECORDS, 'records', (v, w) => idOf('record', v, w));
      if (ids.length === 0) throw healthError('HEALTH_PAYLOAD_INVALID', 'records: at least one record');
      return {
        type,
        patient: idOf('patient', patient, 'patient'),
        recipient: memberId(recipient, 'recipient'),
        purpose: oneOf(PURPOSES, purpose, 'purpose'),
        action: oneOf(ACTIONS, action, 'action'),
        records: ids,
        breakGlass: s.bool(breakGlass!, 'breakGlass'),
        release: opt(release!, (v) => s.bytes(v, 'release', HASH_BYTES)),
      };
    }
    case 'breakglass.declare': {
      const [patient, reason] = arity(2);
      return {
        type,
        patient: idOf('patient', patient, 'patient'),
        reason: oneOf(BREAK_GLASS_REASONS, reason, 'reason'),
      };
    }
    case 'claim.submit': {
      const [patient, payer, lines, supersedes] = arity(4);
      const list = s
        .list(lines!, MAX_CLAIM_LINES, 'lines')
        .map((l, i) => claimLineFromFields(l, `lines[${i}]`));
      if (list.length === 0)
        throw healthError('HEALTH_PAYLOAD_INVALID', 'lines: a claim has at least one line');
      for (const [i, line] of list.entries()) {
        if (line.amount === 0n || line.amount > MAX_LINE_AMOUNT)
          throw healthError('CLAIM_AMOUNTS_INVALID', `lines[${i}].amount: 1 to ${MAX_LINE_AMOUNT} cents`);
        if (line.records.length === 0)
          throw healthError('HEALTH_PAYLOAD_INVALID', `lines[${i}].records: a line is backed by a record`);
      }
      return {
        type,
        patient: idOf('patient', patient, 'patient'),
        payer: memberId(payer, 'payer'),
        lines: list,
        supersedes: opt(supersedes!, (v) => idOf('claim', v, 'supersedes')),
      };
    }
    case 'claim.adjudicate': {
      const [claim, outcome, amounts, reason] = arity(4);
      const tx = {
        type,
        claim: idOf('claim', claim, 'claim'),
        outcome: oneOf(CLAIM_OUTCOMES, outcome, 'outcome'),
        amounts: s.list(amounts!, MAX_CLAIM_LINES, 'amounts').map((a, i) => s.u64(a, `amounts[${i}]`)),
        reason: opt(reason!, (v) => formatted(ADJUSTMENT_REASON, v, 'reason')),
      };
      // Approved pays every line as billed; partial names the allowed amounts; both partial and
      // denied say why with an adjustment reason.
      if ((tx.outcome === 'partial') !== tx.amounts.length > 0)
        throw healthError('CLAIM_AMOUNTS_INVALID', 'amounts are given for a partial approval, and only then');
      if ((tx.outcome === 'approved') !== (tx.reason === null))
        throw healthError(
          'HEALTH_PAYLOAD_INVALID',
          'reason is given for partial and denied outcomes, and only then',
        );
      return tx;
    }
    case 'gov.propose': {
      const [action, deadline] = arity(2);
      return { type, action: govActionFromFields(action!, 'action'), deadline: s.u64(deadline!, 'deadline') };
    }
    case 'gov.vote': {
      const [proposal, approve] = arity(2);
      return { type, proposal: idOf('proposal', proposal, 'proposal'), approve: s.bool(approve!, 'approve') };
    }
    case 'member.set-record-key': {
      const [recordKey] = arity(1);
      return { type, recordKey: opt(recordKey!, (v) => recordKeyFrom(v, 'recordKey')) };
    }
    default:
      throw healthError(
        'HEALTH_PAYLOAD_INVALID',
        `unknown tx type ${JSON.stringify(String(type).slice(0, 32))}`,
      );
  }
}

const REGISTER_DOMAIN = 'careledger/patient-register/v1';
const ROTATE_DOMAIN = 'careledger/patient-rotate/v1';

/** What a patient signs to be enrolled by `member` (proof that the patient holds the key). */
export function registerProofBytes(chainId: string, member: string, patientKey: Uint8Array): Uint8Array {
  return encode([REGISTER_DOMAIN, chainId, member, patientKey]);
}

/** What the new key signs when a patient rotates to it. */
export function rotateProofBytes(chainId: string, patient: string, newKey: Uint8Array): Uint8Array {
  return encode([ROTATE_DOMAIN, chainId, patient, newKey]);
}

/** A signed tx envelope carrying `tx`, ready to broadcast (`bytes`) or to execute (in tests). */
export function signHealthTx(chainId: string, key: KeyPair, nonce: bigint, tx: HealthTx): CheckedTx {
  return signTx(chainId, key.secretKey, key.publicKey, nonce, encodeHealthTx(tx));
}

/** The registration payload for `patient`, enrolled by `member`: signs the proof with the patient's key. */
export function registerPatientTx(chainId: string, member: string, patient: KeyPair): HealthTx {
  const proof = signMessage(patient.secretKey, registerProofBytes(chainId, member, patient.publicKey));
  return { type: 'patient.register', patientKey: patient.publicKey, proof };
}

/** The rotation payload moving `patient` to `next`: signs the proof with the new key (send it signed by the old). */
export function rotatePatientKeyTx(chainId: string, patient: string, next: KeyPair): HealthTx {
  const proof = signMessage(next.secretKey, rotateProofBytes(chainId, patient, next.publicKey));
  return { type: 'patient.rotate-key', patient, newKey: next.publicKey, proof };
}

// --- payload builders for clients: pure, and they put every set in the one order decoding accepts ---

function sortedSet<T extends string>(list: readonly T[]): T[] {
  return [...new Set(list)].sort(compareStrings);
}

/**
 * The salted commitment a record anchor carries: sha256(salt ‖ plaintext). The salt stays off
 * chain with the record, so no one can confirm a guess of the content from the chain.
 */
export function recordCommitment(salt: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return sha256(salt, plaintext);
}

/** A record's on-chain fingerprint: what an anchor says about the bytes it stands for. */
export interface RecordSeal {
  /** sha256 of the encrypted bytes. */
  readonly ciphertextHash: Uint8Array;
  /** recordCommitment(salt, plaintext). */
  readonly commitment: Uint8Array;
  /** Length of the encrypted bytes. */
  readonly size: bigint;
}

export function recordSeal(ciphertext: Uint8Array, plaintext: Uint8Array, salt: Uint8Array): RecordSeal {
  return {
    ciphertextHash: sha256(ciphertext),
    commitment: recordCommitment(salt, plaintext),
    size: BigInt(ciphertext.length),
  };
}

export function anchorRecordTx(
  patient: string,
  category: Category,
  seal: RecordSeal,
  supersedes: string | null = null,
): HealthTxOf<'record.anchor'> {
  return {
    type: 'record.anchor',
    patient,
    category,
    ciphertextHash: seal.ciphertextHash,
    commitment: seal.commitment,
    size: seal.size,
    supersedes,
  };
}

export type HealthTxOf<T extends HealthTxType> = Extract<HealthTx, { readonly type: T }>;

/** An access request payload; its sets (categories, records, purposes, actions) are sorted and deduplicated. */
export function requestCreateTx(patient: string, spec: RequestSpec): HealthTxOf<'request.create'> {
  return {
    type: 'request.create',
    patient,
    categories: sortedSet(spec.categories),
    records: sortedSet(spec.records),
    purposes: sortedSet(spec.purposes),
    actions: sortedSet(spec.actions),
    reason: spec.reason,
    periodEnd: spec.periodEnd,
    expiresAt: spec.expiresAt,
  };
}

/** An access event payload; the records are sorted and deduplicated. */
export function accessRecordTx(
  a: Omit<HealthTxOf<'access.record'>, 'type' | 'breakGlass' | 'release'> & {
    readonly breakGlass?: boolean;
    readonly release?: Uint8Array | null;
  },
): HealthTxOf<'access.record'> {
  return {
    type: 'access.record',
    patient: a.patient,
    recipient: a.recipient,
    purpose: a.purpose,
    action: a.action,
    records: sortedSet(a.records),
    breakGlass: a.breakGlass ?? false,
    release: a.release ?? null,
  };
}

/** A claim payload; each line's records are sorted and deduplicated. `supersedes`: the claim it amends. */
export function claimSubmitTx(
  patient: string,
  payer: string,
  lines: readonly ClaimLine[],
  supersedes: string | null = null,
): HealthTxOf<'claim.submit'> {
  return {
    type: 'claim.submit',
    patient,
    payer,
    lines: lines.map((l) => ({ ...l, records: sortedSet(l.records) })),
    supersedes,
  };
}
