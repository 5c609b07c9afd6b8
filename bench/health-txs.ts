/**
 * The health txs the benchmarks build, in one place: deterministic keys, the record a patient's
 * k-th anchor stands for, and the payloads of a registration, an anchor, the two consents a
 * patient gives (treatment to a provider, payment to a payer), an access event and a claim.
 *
 * Used by bench/health-app.ts (the application alone), bench/health-state.ts (the pre-grown
 * state of `npm run bench -- --workload health`) and bench/health-mix.ts (that mode's load), so
 * the state the load runs over and the txs it sends are built the same way.
 */
import sodium from 'sodium-native';
import { type KeyPair, keyPairFromSeed } from '../packages/crypto/ed25519.ts';
import { sha256 } from '../packages/crypto/hash.ts';
import type { Category } from '../packages/health/codes.ts';
import { patientIdOf } from '../packages/health/ids.ts';
import { provision } from '../packages/health/provision.ts';
import {
  accessRecordTx,
  anchorRecordTx,
  claimSubmitTx,
  encodeHealthTx,
  type HealthTx,
  type HealthTxOf,
  type RecordSeal,
  registerProofBytes,
} from '../packages/health/tx.ts';
import { type CheckedTx, encodeTx, type SignedTx, txSignBytes } from '../packages/types/tx.ts';

const utf8 = new TextEncoder();

/** A key from a label (sha256 of it is the seed), so every process derives the same keys. */
export function seededKey(label: string): KeyPair {
  return keyPairFromSeed(sha256(utf8.encode(label)));
}

/**
 * A key that signs many txs quickly: libsodium with the key expanded once, where
 * packages/crypto builds an OpenSSL key object per `signMessage` (a fifth of the pre-growth's
 * time). Ed25519 signatures are deterministic: the bytes are the same as packages/crypto's.
 */
export class BenchKey {
  readonly publicKey: Uint8Array;
  private readonly expanded = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);

  constructor(seed: Uint8Array) {
    const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
    sodium.crypto_sign_seed_keypair(publicKey, this.expanded, Buffer.from(seed));
    this.publicKey = new Uint8Array(publicKey);
  }

  static of(label: string): BenchKey {
    return new BenchKey(sha256(utf8.encode(label)));
  }

  sign(message: Uint8Array): Uint8Array {
    const signature = Buffer.alloc(sodium.crypto_sign_BYTES);
    sodium.crypto_sign_detached(
      signature,
      Buffer.from(message.buffer, message.byteOffset, message.length),
      this.expanded,
    );
    return new Uint8Array(signature);
  }

  /** The signed envelope of `payload` with `nonce`, as a node checks it. */
  tx(chainId: string, nonce: bigint, payload: HealthTx): CheckedTx {
    const unsigned = { signer: this.publicKey, nonce, payload: encodeHealthTx(payload) };
    const tx: SignedTx = { ...unsigned, signature: this.sign(txSignBytes(chainId, unsigned)) };
    const bytes = encodeTx(tx);
    return { tx, bytes, hash: sha256(bytes) };
  }
}

/** A patient's key and id. */
export interface BenchPatient {
  readonly key: BenchKey;
  readonly id: string;
}

export function benchPatient(label: string): BenchPatient {
  const key = BenchKey.of(label);
  return { key, id: patientIdOf(key.publicKey) };
}

/** The registration of `patient` by `member`, her proof of possession signed by her key. */
export function registerTx(
  chainId: string,
  member: string,
  patient: BenchKey,
): HealthTxOf<'patient.register'> {
  return {
    type: 'patient.register',
    patientKey: patient.publicKey,
    proof: patient.sign(registerProofBytes(chainId, member, patient.publicKey)),
  };
}

/** The categories of a patient's records in turn: lab results, lab reports, vital signs. */
const RECORD_CATEGORIES: readonly Category[] = [
  'Observation.laboratory',
  'DiagnosticReport.LAB',
  'Observation.vital-signs',
];

/** What the benches' consents cover: every category above. */
const CONSENT_CATEGORIES: readonly Category[] = ['DiagnosticReport', 'Observation'];

/** Service codes (CPT) the benches bill. */
export const SERVICE_CODES = ['80053', '85025', '99213', '36415', '71046'] as const;

export const DAY_MS = 86_400_000n;

export function recordCategory(k: number): Category {
  return RECORD_CATEGORIES[k % RECORD_CATEGORIES.length]!;
}

/** The seal of the record labelled `label` (no bytes exist: the hashes stand for them). */
export function benchSeal(label: string): RecordSeal {
  return {
    ciphertextHash: sha256(utf8.encode(`ciphertext/${label}`)),
    commitment: sha256(utf8.encode(`commitment/${label}`)),
    size: 4096n,
  };
}

/** The k-th record of patient p: its seal's label. */
export function patientRecordLabel(p: number, k: number): string {
  return `rec/${p}/${k}`;
}

export function anchorTx(patient: string, k: number, label: string): HealthTxOf<'record.anchor'> {
  return anchorRecordTx(patient, recordCategory(k), benchSeal(label));
}

/** The patient lets `grantee` read her records (`categories`: by default every category above) for `purpose`. */
function readConsentTx(
  patient: string,
  grantee: string,
  purpose: 'TREAT' | 'HPAYMT',
  categories: readonly Category[],
): HealthTxOf<'consent.grant'> {
  return {
    type: 'consent.grant',
    patient,
    grantee,
    provision: provision({ type: 'permit', actions: ['read'], purposes: [purpose], categories }),
  };
}

/** The patient lets `grantee` read her records for treatment. */
export function treatmentConsentTx(
  patient: string,
  grantee: string,
  categories: readonly Category[] = CONSENT_CATEGORIES,
): HealthTxOf<'consent.grant'> {
  return readConsentTx(patient, grantee, 'TREAT', categories);
}

/** The patient lets the payer read her records for payment, which a claim on them needs. */
export function paymentConsentTx(
  patient: string,
  payer: string,
  categories: readonly Category[] = CONSENT_CATEGORIES,
): HealthTxOf<'consent.grant'> {
  return readConsentTx(patient, payer, 'HPAYMT', categories);
}

/** The custodian records that it disclosed `records` to `recipient` for treatment. */
export function disclosureTx(
  patient: string,
  recipient: string,
  records: readonly string[],
): HealthTxOf<'access.record'> {
  return accessRecordTx({ patient, recipient, purpose: 'TREAT', action: 'read', records });
}

/** One claim line: service `code` on day `date` (00:00 UTC), for `record`. */
export function claimTx(
  patient: string,
  payer: string,
  record: string,
  code: string,
  date: bigint,
): HealthTxOf<'claim.submit'> {
  return claimSubmitTx(patient, payer, [{ code, date, amount: 4200n, records: [record] }]);
}
