/**
 * The sync protocol's requests (node/README.md, "Between nodes") as one discriminated union, and
 * their wire form: one canonical tuple per request, tagged by its first field. This file is the
 * only place the tags are spelled (the txs request's lives with its codec in ../proposal-txs.ts).
 *
 *  - ['status']: our last committed height, as [height];
 *  - ['blocks', from, to]: up to SYNC_BATCH blocks with their commits (block-sync.ts);
 *  - ['txs', [hash…]]: the txs held among those, to fill in a proposal (../proposal-txs.ts);
 *  - ['round', height, round]: a round's proposal (by hashes) and votes, for a node behind it.
 */
import { type Canonical, decode, encode } from '../../packages/codec/canonical.ts';
import * as s from '../../packages/codec/schema.ts';
import { CareLedgerError } from '../../packages/core/errors.ts';
import { MAX_ROUND } from '../../packages/types/vote.ts';
import { encodeTxsRequest, TXS_REQUEST, txsRequestHashes } from '../proposal-txs.ts';

export type SyncRequest =
  | { readonly kind: 'status' }
  | { readonly kind: 'blocks'; readonly from: bigint; readonly to: bigint }
  | { readonly kind: 'txs'; readonly hashes: readonly Uint8Array[] }
  | { readonly kind: 'round'; readonly height: bigint; readonly round: number };

export function encodeSyncRequest(request: SyncRequest): Uint8Array {
  switch (request.kind) {
    case 'status':
      return encode(['status']);
    case 'blocks':
      return encode(['blocks', request.from, request.to]);
    case 'txs':
      return encodeTxsRequest(request.hashes);
    case 'round':
      return encode(['round', request.height, request.round]);
    default:
      return unreachable(request);
  }
}

/** A peer's request, strictly decoded; SYNC_BAD_REQUEST (reject) for a malformed or unknown one. */
export function decodeSyncRequest(bytes: Uint8Array): SyncRequest {
  const request: Canonical = decode(bytes);
  if (!Array.isArray(request) || request.length === 0)
    throw new CareLedgerError('SYNC_BAD_REQUEST', 'request must be a tuple', 'reject');
  switch (request[0]) {
    case 'status':
      return { kind: 'status' };
    case 'blocks': {
      const [, from, to] = s.tuple(request, 3, 'blocks request');
      return { kind: 'blocks', from: s.u64(from!, 'from'), to: s.u64(to!, 'to') };
    }
    case TXS_REQUEST:
      return { kind: 'txs', hashes: txsRequestHashes(request) };
    case 'round': {
      const [, height, round] = s.tuple(request, 3, 'round request');
      return { kind: 'round', height: s.u64(height!, 'height'), round: s.int(round!, 'round', 0, MAX_ROUND) };
    }
    default:
      throw new CareLedgerError('SYNC_BAD_REQUEST', 'unknown request', 'reject');
  }
}

export function unreachable(value: never): never {
  throw new Error(`unhandled sync request ${JSON.stringify(value)}`);
}
