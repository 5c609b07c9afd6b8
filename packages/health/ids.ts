/**
 * Identifiers on the health-data chain. None holds personal data:
 *
 * - a member (institution) id is a public slug chosen at genesis or by governance (`city-hospital`);
 * - a patient id is derived from the patient's first public key: `p` + the first 16 bytes, in hex,
 *   of sha256('careledger/patient/v1' || key). It stays the patient's id after key rotation;
 * - a record id is derived from the custodian, the patient and the hash of the encrypted bytes, so
 *   anyone holding the ciphertext can recompute it and no one can choose it;
 * - every other id (consent, request, claim, break-glass, access event, governance proposal) is
 *   derived from the hash of the tx that created it, so a client knows it before broadcasting.
 *
 * A derived id is a one-letter kind and 32 lower-case hex digits (128 bits).
 */
import { encode } from '../codec/canonical.ts';
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.ts';
import { sha256, toHex } from '../crypto/hash.ts';
import { healthError } from './errors.ts';

export const ID_KINDS = {
  patient: 'p',
  record: 'r',
  consent: 'c',
  request: 'q',
  claim: 'k',
  breakGlass: 'b',
  access: 'a',
  proposal: 'g',
} as const;
export type IdKind = keyof typeof ID_KINDS;

const MEMBER_ID = /^[a-z][a-z0-9-]{1,39}$/;
const DERIVED_ID = /^[a-z][0-9a-f]{32}$/;
/** The grantee of a deny consent that applies to every member. */
export const ANY_MEMBER = '*';

const utf8 = new TextEncoder();

function truncated(kind: string, digest: Uint8Array): string {
  return `${kind}${toHex(digest).slice(0, 32)}`;
}

export function patientIdOf(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_BYTES)
    throw healthError('HEALTH_ID_INVALID', 'a patient key is 32 bytes');
  return truncated(ID_KINDS.patient, sha256(utf8.encode('careledger/patient/v1'), publicKey));
}

export function recordIdOf(custodian: string, patient: string, ciphertextHash: Uint8Array): string {
  return truncated(
    ID_KINDS.record,
    sha256(encode(['careledger/record/v1', custodian, patient, ciphertextHash])),
  );
}

/** The id of the `kind` object created by the tx with hash `txHash`. */
export function derivedId(kind: Exclude<IdKind, 'patient' | 'record'>, txHash: Uint8Array): string {
  return truncated(ID_KINDS[kind], sha256(encode(['careledger/id/v1', ID_KINDS[kind], txHash])));
}

export function isMemberId(value: unknown): value is string {
  return typeof value === 'string' && MEMBER_ID.test(value);
}

export function isIdOf(kind: IdKind, value: unknown): value is string {
  return typeof value === 'string' && DERIVED_ID.test(value) && value.charAt(0) === ID_KINDS[kind];
}

export function memberId(value: unknown, what: string): string {
  if (!isMemberId(value))
    throw healthError('HEALTH_ID_INVALID', `${what}: a member id is 2 to 40 of a-z, 0-9 and -`);
  return value;
}

export function idOf(kind: IdKind, value: unknown, what: string): string {
  if (!isIdOf(kind, value))
    throw healthError(
      'HEALTH_ID_INVALID',
      `${what}: expected a ${kind} id (${ID_KINDS[kind]} + 32 hex digits)`,
    );
  return value;
}

/** A member id, or ANY_MEMBER. */
export function granteeId(value: unknown, what: string): string {
  return value === ANY_MEMBER ? ANY_MEMBER : memberId(value, what);
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function base58btc(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  while (n > 0n) {
    out = BASE58[Number(n % 58n)]! + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

/**
 * The libp2p peer id (`12D3KooW…`) of the node whose ed25519 public key is `publicKey`: the
 * base58btc identity multihash of the key's protobuf form (libp2p's peer-id spec). The chain uses
 * it to see that a tx signer is one of a member's nodes (`Member.nodes` lists peer ids), without
 * importing libp2p into the shared package.
 */
export function nodePeerIdOf(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw healthError('HEALTH_ID_INVALID', 'a node key is 32 bytes');
  // identity multihash (0x00, length 36) of the protobuf PublicKey {Type: Ed25519 (1), Data: key}.
  return base58btc(Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...publicKey));
}
