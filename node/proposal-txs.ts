/**
 * Filling in a proposal that carried tx hashes (consensus/messages.ts `ProposalByHashes`): each
 * tx comes from this node's own txs (mempool, blocks seen this height) or, for the few it lacks
 * (a tx batch still on its way, a mempool that was full), from peers: the one that sent the
 * proposal first, since it had to fill it in itself to accept it. Fetched bytes are trusted only
 * if they hash to the hash asked for.
 *
 * The request travels on the sync protocol as the canonical tuple ['txs', [hash…]]; the answer
 * is the list of the txs the peer holds, in any order, each at most once per hash asked.
 */
import { type Canonical, decode, encode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { HASH_BYTES, toHex } from '../packages/crypto/hash.ts';
import { txHash } from '../packages/types/block.ts';
import { MAX_TX_BYTES } from '../packages/types/tx.ts';

/** Hashes per request: 1,000 × 33 bytes stays well inside the sync protocol's 64 KiB request bound. */
export const MAX_HASHES_PER_REQUEST = 1000;

/** The request's tag in the sync protocol's tuple. */
export const TXS_REQUEST = 'txs';

export function encodeTxsRequest(hashes: readonly Uint8Array[]): Uint8Array {
  return encode([TXS_REQUEST, hashes]);
}

/** The hashes of a request already decoded to its tuple (the sync handler dispatches on the tag). */
export function txsRequestHashes(request: Canonical): Uint8Array[] {
  const [, list] = s.tuple(request, 2, 'txs request');
  return s
    .list(list!, MAX_HASHES_PER_REQUEST, 'txs request')
    .map((h, i) => s.bytes(h, `hash[${i}]`, HASH_BYTES));
}

/**
 * Bytes of txs in one answer: well under the sync protocol's 16 MiB response bound, however large
 * the txs a request names (1,000 of 64 KiB would be 64 MiB). The asker asks again for the rest.
 */
export const MAX_TXS_ANSWER_BYTES = 8 * 1024 * 1024;

/** The answer: the txs this node holds among those asked for, up to `maxBytes` of them. */
export function answerTxsRequest(
  hashes: readonly Uint8Array[],
  local: (hash: Uint8Array) => Uint8Array | undefined,
  maxBytes = MAX_TXS_ANSWER_BYTES,
): Uint8Array {
  const txs: Uint8Array[] = [];
  let bytes = 0;
  for (const hash of hashes) {
    const tx = local(hash);
    if (tx === undefined) continue;
    if (bytes + tx.length > maxBytes) break;
    txs.push(tx);
    bytes += tx.length;
  }
  return encode(txs);
}

/** A peer to fetch txs from: its encoded answer to a request for `missing`. */
export type TxSource = (missing: readonly Uint8Array[]) => Promise<Uint8Array>;

/** Passes per source: an honest answer holds a whole block's txs, so a second pass is rare. */
export const MAX_PASSES_PER_SOURCE = 2;

/**
 * The txs of `hashes`, in order, and how many distinct txs were fetched: from `local` where it
 * has them, the rest from `sources()` in turn (the sender of the proposal first; called only if
 * a tx is missing, and it may throw to refuse the fetch). Each source is asked in requests of at
 * most MAX_HASHES_PER_REQUEST, again (up to MAX_PASSES_PER_SOURCE passes) while its answers bring
 * more: they are cut at a byte budget. A source that fails or answers malformed bytes is left for
 * the next, keeping what its good answers brought. `wantedStill()` false (the height moved on)
 * stops the fetching. A fetched tx that hashes to nothing asked for is dropped. Throws
 * PROPOSAL_TXS_MISSING (action ignore: peers may simply not hold them) if any stays missing.
 */
export async function fillTxs(
  hashes: readonly Uint8Array[],
  local: (hash: Uint8Array) => Uint8Array | undefined,
  sources: () => readonly TxSource[],
  wantedStill: () => boolean = () => true,
): Promise<{ txs: Uint8Array[]; fetched: number }> {
  const txs = hashes.map(local);
  const wanted = new Map<string, number[]>();
  txs.forEach((tx, i) => {
    if (tx !== undefined) return;
    const key = toHex(hashes[i]!);
    const at = wanted.get(key);
    if (at === undefined) wanted.set(key, [i]);
    else at.push(i);
  });
  const missing = wanted.size;
  for (const source of missing === 0 ? [] : sources()) {
    for (let pass = 0; pass < MAX_PASSES_PER_SOURCE && wanted.size > 0 && wantedStill(); pass++) {
      const before = wanted.size;
      try {
        await fetchFrom(source, hashes, wanted, txs);
      } catch {
        break;
      }
      if (wanted.size === before) break;
    }
  }
  if (wanted.size > 0) {
    throw new CareLedgerError(
      'PROPOSAL_TXS_MISSING',
      `${wanted.size} of the proposal's ${hashes.length} txs are neither here nor with the peers asked`,
      'ignore',
    );
  }
  return { txs: txs as Uint8Array[], fetched: missing };
}

/**
 * One pass over `source`: asks for every wanted hash and puts what comes back in place. Throws
 * (after keeping what the good answers brought) if a request failed or an answer was malformed.
 */
async function fetchFrom(
  source: TxSource,
  hashes: readonly Uint8Array[],
  wanted: Map<string, number[]>,
  txs: (Uint8Array | undefined)[],
): Promise<void> {
  const missing = [...wanted.values()].map((at) => hashes[at[0]!]!);
  const chunks: Uint8Array[][] = [];
  for (let i = 0; i < missing.length; i += MAX_HASHES_PER_REQUEST)
    chunks.push(missing.slice(i, i + MAX_HASHES_PER_REQUEST));
  const answers = await Promise.allSettled(chunks.map((chunk) => source(chunk)));
  let failure: unknown = null;
  for (const [c, answer] of answers.entries()) {
    try {
      if (answer.status === 'rejected') throw answer.reason;
      const list = s.list(decode(answer.value), chunks[c]!.length, 'txs answer');
      for (const [i, value] of list.entries()) {
        const tx = s.boundedBytes(value, `txs answer[${i}]`, MAX_TX_BYTES);
        const key = toHex(txHash(tx));
        for (const index of wanted.get(key) ?? []) txs[index] = tx;
        wanted.delete(key);
      }
    } catch (err) {
      failure = err;
    }
  }
  if (failure !== null) throw failure;
}
