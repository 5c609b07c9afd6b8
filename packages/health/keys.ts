/**
 * The state layout of the health-data application: every key in its Merkle store, as ASCII
 * strings under the prefix `h/`. The chain writes these keys and a client rebuilds them to check
 * a query's proof against an app hash, so they live here, in the shared package.
 *
 *   h/meta                          chain id, initial height, genesis time (written once)
 *   h/block                         height and time of the last executed block, expiry cursor
 *   h/params                        governance parameters
 *   h/validators                    the validator set the app has asked for: [[pubKey, power]]
 *   h/members                       ids of the active members, sorted (the 2/3 quorum counts these)
 *   h/member/<member>               a member
 *   h/key/<pubkey hex>              what the key signs for: a member or a patient
 *   h/nonce/<pubkey hex>            the last nonce the key used (replay protection)
 *   h/patient/<patient>             a patient: current key, enrolment, delegates
 *   h/record/<record>               a record anchor (never deleted)
 *   h/consent/<consent>             a consent (revocation marks it, never deletes it)
 *   h/grants/<patient>/<grantee>    ids of the consents of (patient, grantee), for the policy
 *                                   engine; grantee `*` holds the deny consents for every member
 *   h/request/<request>             an access request
 *   h/pending/<patient>             ids of the patient's pending access requests
 *   h/expiry/<minute 16 hex>        ids of the requests that expire in that minute (unix ms / 60000)
 *   h/claim/<claim>                 a claim with its history
 *   h/dup/<sha256 hex>              the claim holding a line for (patient, payer, code, date): a
 *                                   service is billed to a payer once, whoever bills it
 *   h/bg/<patient>/<member>         the member's latest break-glass declaration for the patient
 *   h/bgcount/<member>              how many break-glass declarations the member has made
 *   h/proposal/<proposal>           a governance proposal with its votes
 *   h/open                          ids of the open proposals
 *   h/deadline/<height 16 hex>      ids of the proposals whose deadline is that height
 *   h/release/<release id hex>      the access event that recorded that release (each release once)
 *   h/list/<kind>/<owner>           the length of an append-only list
 *   h/list/<kind>/<owner>/<page 8 hex>  one page (LIST_PAGE_SIZE entries) of that list
 *
 * Ids have fixed formats without `/`, so no key is another key with a suffix added by mistake.
 */
import { encode } from '../codec/canonical.ts';
import { sha256, toHex } from '../crypto/hash.ts';

export const LIST_KINDS = {
  /** A patient's record ids, in anchoring order. */
  records: 'patient',
  /** A patient's consent ids, in granting order. */
  consents: 'patient',
  /** A patient's access request ids, in order of asking. */
  requests: 'patient',
  /** A patient's disclosures: full access events (immutable), in order. */
  disclosures: 'patient',
  /** A patient's claim ids. */
  claims: 'patient',
  /** A patient's break-glass declarations: full entries (immutable). */
  breakglass: 'patient',
  /** Claim ids a member submitted (provider) or received (payer). */
  'member-claims': 'member',
  /** A member's break-glass declarations: full entries. */
  'member-breakglass': 'member',
} as const;
export type ListKind = keyof typeof LIST_KINDS;

const utf8 = new TextEncoder();

function hex16(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}

export const stateKey = {
  meta: (): string => 'h/meta',
  block: (): string => 'h/block',
  params: (): string => 'h/params',
  validators: (): string => 'h/validators',
  members: (): string => 'h/members',
  member: (id: string): string => `h/member/${id}`,
  key: (pubKey: Uint8Array): string => `h/key/${toHex(pubKey)}`,
  nonce: (pubKey: Uint8Array): string => `h/nonce/${toHex(pubKey)}`,
  patient: (id: string): string => `h/patient/${id}`,
  record: (id: string): string => `h/record/${id}`,
  consent: (id: string): string => `h/consent/${id}`,
  grants: (patient: string, grantee: string): string => `h/grants/${patient}/${grantee}`,
  request: (id: string): string => `h/request/${id}`,
  pending: (patient: string): string => `h/pending/${patient}`,
  expiry: (minute: bigint): string => `h/expiry/${hex16(minute)}`,
  claim: (id: string): string => `h/claim/${id}`,
  duplicate: (patient: string, payer: string, code: string, date: bigint): string =>
    `h/dup/${toHex(sha256(encode(['careledger/claim-line/v2', patient, payer, code, date])))}`,
  breakGlass: (patient: string, member: string): string => `h/bg/${patient}/${member}`,
  breakGlassCount: (member: string): string => `h/bgcount/${member}`,
  proposal: (id: string): string => `h/proposal/${id}`,
  openProposals: (): string => 'h/open',
  deadline: (height: bigint): string => `h/deadline/${hex16(height)}`,
  release: (releaseId: Uint8Array): string => `h/release/${toHex(releaseId)}`,
  listCount: (kind: ListKind, owner: string): string => `h/list/${kind}/${owner}`,
  listPage: (kind: ListKind, owner: string, page: number): string =>
    `h/list/${kind}/${owner}/${page.toString(16).padStart(8, '0')}`,
};

export function keyBytes(key: string): Uint8Array {
  return utf8.encode(key);
}

/** Request expiry is processed in whole minutes. */
export const EXPIRY_SLOT_MS = 60_000n;
