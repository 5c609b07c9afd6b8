/**
 * Answering a peer's sync request (protocol.ts): decoded once into the union, then one branch per
 * kind. A round request is answered only once the consensus WAL is replayed (empty before).
 */
import { encode } from '../../packages/codec/canonical.ts';
import { answerTxsRequest } from '../proposal-txs.ts';
import { answerBlocksRequest, type StoredBlock } from './block-sync.ts';
import { decodeSyncRequest, unreachable } from './protocol.ts';

/** What answering requests needs of the node. */
export interface SyncRequestModules {
  /** Our last committed height. */
  lastHeight(): bigint;
  /** A committed block with its commit as stored (their encodings), or null if it is not stored. */
  stored(height: bigint): Promise<StoredBlock | null>;
  /** A tx this node holds (mempool, blocks seen this height). */
  localTx(hash: Uint8Array): Uint8Array | undefined;
  /** A round's messages in wire form, or null while the consensus WAL is not yet replayed. */
  roundMessages(height: bigint, round: number): Uint8Array[] | null;
}

/** Answers a peer's sync request (throws SYNC_BAD_REQUEST or a schema error for a malformed one). */
export async function answerSyncRequest(bytes: Uint8Array, m: SyncRequestModules): Promise<Uint8Array> {
  const request = decodeSyncRequest(bytes);
  switch (request.kind) {
    case 'status':
      return encode([m.lastHeight()]);
    case 'blocks': {
      const last = m.lastHeight();
      return answerBlocksRequest(request.from, request.to < last ? request.to : last, (h) => m.stored(h));
    }
    case 'txs':
      return answerTxsRequest(request.hashes, (hash) => m.localTx(hash));
    case 'round':
      // Before the WAL is replayed the driver is fresh: what it holds is not what we signed.
      return encode(m.roundMessages(request.height, request.round) ?? []);
    default:
      return unreachable(request);
  }
}
