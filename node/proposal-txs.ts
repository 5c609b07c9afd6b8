/**
 * Filling in a proposal that carried tx hashes (consensus/messages.ts `ProposalByHashes`): each
 * tx comes from this node's own txs (mempool, blocks seen this height) or, for the few it lacks
 * (a tx batch still on its way, a mempool that was full), from the peer that sent the proposal,
 * which had to fill it in itself to accept it. Fetched bytes are trusted only if they hash to
 * the hash asked for.
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

/** The answer: the txs this node holds among those asked for. */
export function answerTxsRequest(
  hashes: readonly Uint8Array[],
  local: (hash: Uint8Array) => Uint8Array | undefined,
): Uint8Array {
  return encode(hashes.flatMap((hash) => local(hash) ?? []));
}

/**
 * The txs of `hashes`, in order, and how many distinct txs were fetched: from `local` where it
 * has them, the rest with `fetch`
 * (one call per MAX_HASHES_PER_REQUEST missing). Throws PROPOSAL_TXS_MISSING (action ignore: the
 * peer may simply not hold them) if any stays missing; a fetched tx that hashes to nothing asked
 * for is dropped (and counted in the error's message if it leaves a gap).
 */
export async function fillTxs(
  hashes: readonly Uint8Array[],
  local: (hash: Uint8Array) => Uint8Array | undefined,
  fetch: (missing: readonly Uint8Array[]) => Promise<Uint8Array>,
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
  if (wanted.size === 0) return { txs: txs as Uint8Array[], fetched: 0 };
  const missing = [...wanted.values()].map((at) => hashes[at[0]!]!);
  const chunks: Uint8Array[][] = [];
  for (let i = 0; i < missing.length; i += MAX_HASHES_PER_REQUEST)
    chunks.push(missing.slice(i, i + MAX_HASHES_PER_REQUEST));
  const answers = await Promise.all(chunks.map((chunk) => fetch(chunk)));
  for (const [c, answer] of answers.entries()) {
    const list = s.list(decode(answer), chunks[c]!.length, 'txs answer');
    for (const [i, value] of list.entries()) {
      const tx = s.boundedBytes(value, `txs answer[${i}]`, MAX_TX_BYTES);
      const key = toHex(txHash(tx));
      for (const index of wanted.get(key) ?? []) txs[index] = tx;
      wanted.delete(key);
    }
  }
  if (wanted.size > 0) {
    throw new CareLedgerError(
      'PROPOSAL_TXS_MISSING',
      `${wanted.size} of the proposal's ${hashes.length} txs are neither here nor with the peer`,
      'ignore',
    );
  }
  return { txs: txs as Uint8Array[], fetched: missing.length };
}
