/**
 * Sign bytes. Every signed payload is the canonical encoding of [domain tag, chain id, ...fields],
 * so a signature made for a vote cannot pass as a proposal or a tx, nor on another chain.
 */
import { type Canonical, encode } from '../codec/canonical.ts';

export const SignDomain = {
  tx: 'careledger/tx/v1',
  proposal: 'careledger/proposal/v1',
  vote: 'careledger/vote/v1',
  /** A requester's signed request for a record (packages/health/records.ts). */
  recordFetch: 'careledger/record-fetch/v1',
  /** A request of an institution's system to its own node's local API (packages/records/local-auth.ts). */
  localApi: 'careledger/local-api/v1',
} as const;
export type SignDomain = (typeof SignDomain)[keyof typeof SignDomain];

export function signBytes(domain: SignDomain, chainId: string, fields: readonly Canonical[]): Uint8Array {
  return encode([domain, chainId, ...fields]);
}
