/**
 * Filling in a proposal's txs (node/proposal-txs.ts): local first, the rest fetched in bounded
 * requests from one peer after another, fetched bytes trusted only under the hash they were asked
 * for, answers cut at a byte budget.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  answerTxsRequest,
  encodeTxsRequest,
  fillTxs,
  MAX_HASHES_PER_REQUEST,
  MAX_PASSES_PER_SOURCE,
  txsRequestHashes,
} from '../../../node/proposal-txs.ts';
import { decode, encode } from '../../../packages/codec/canonical.ts';
import { sha256, toHex } from '../../../packages/crypto/hash.ts';
import { holding, rejectsCode, throwsCode } from '../packages/fixtures.ts';

const tx = (i: number) => new TextEncoder().encode(`tx-${i}`);
const txs = Array.from({ length: 2600 }, (_, i) => tx(i));
const hashes = txs.map((t) => sha256(t));

/** A store of txs by hash, as a node's mempool answers. */
/** A peer holding `held`: answers requests the way a node's sync handler does (`maxBytes` per answer). */
function peer(held: readonly Uint8Array[], maxBytes?: number) {
  const requests: Uint8Array[][] = [];
  const fetch = async (missing: readonly Uint8Array[]) => {
    const asked = txsRequestHashes(decode(encodeTxsRequest(missing)));
    requests.push(asked);
    return answerTxsRequest(asked, holding(held), maxBytes);
  };
  return { fetch, requests };
}

const sameTxs = (got: readonly Uint8Array[], want: readonly Uint8Array[]) =>
  assert.equal(got.map(toHex), want.map(toHex));

test('every tx held here: nothing is fetched', async () => {
  const remote = peer([]);
  const filled = await fillTxs(hashes.slice(0, 50), holding(txs), () => {
    throw new Error('no source is needed');
  });
  sameTxs(filled.txs, txs.slice(0, 50));
  assert.is(filled.fetched, 0);
  assert.equal(remote.requests, []);
});

test('the missing txs are fetched once each, in requests of at most MAX_HASHES_PER_REQUEST, and put in place', async () => {
  const remote = peer(txs);
  // Held here: every third tx; one missing hash is asked for twice in the proposal.
  const wanted = [...hashes, hashes[1]!];
  const filled = await fillTxs(wanted, holding(txs.filter((_, i) => i % 3 === 0)), () => [remote.fetch]);
  sameTxs(filled.txs, [...txs, txs[1]!]);
  const missing = txs.length - Math.ceil(txs.length / 3);
  assert.is(filled.fetched, missing);
  assert.equal(
    remote.requests.map((r) => r.length),
    [MAX_HASHES_PER_REQUEST, missing - MAX_HASHES_PER_REQUEST],
  );
  assert.is(new Set(remote.requests.flat().map(toHex)).size, missing, 'no hash asked twice');
});

test('what the sender lacks is asked of the next peer; a failing or malformed source is passed over', async () => {
  const sender = peer(txs.slice(0, 2));
  const failing = async () => {
    throw new Error('peer went away');
  };
  const malformed = async () => encode([1n]);
  const other = peer(txs);
  const filled = await fillTxs(hashes.slice(0, 4), holding([]), () => [
    sender.fetch,
    failing,
    malformed,
    other.fetch,
  ]);
  sameTxs(filled.txs, txs.slice(0, 4));
  assert.is(filled.fetched, 4);
  assert.equal(
    sender.requests.map((r) => r.length),
    [4, 2],
    'the sender: all four, then the two it did not bring (nothing more: next peer)',
  );
  assert.equal(
    other.requests.map((r) => r.map(toHex)),
    [hashes.slice(2, 4).map(toHex)],
    'the next peer only for the rest',
  );
});

test('answers are cut at a byte budget; the asker asks again while they bring more, twice per source', async () => {
  const big = Array.from({ length: 5 }, (_, i) => new Uint8Array(1000).fill(i + 1));
  const bigHashes = big.map((t) => sha256(t));
  const answers = answerTxsRequest(bigHashes, holding(big), 2500);
  assert.is((decode(answers) as Uint8Array[]).length, 2, 'two of 1,000 bytes fit 2,500');
  const stingy = peer(big, 2500);
  const next = peer(big);
  const filled = await fillTxs(bigHashes, holding([]), () => [stingy.fetch, next.fetch]);
  sameTxs(filled.txs, big);
  assert.equal(
    stingy.requests.map((r) => r.length),
    [5, 3],
    `${MAX_PASSES_PER_SOURCE} passes, then the next source`,
  );
  assert.equal(
    next.requests.map((r) => r.length),
    [1],
  );
});

test('a failed chunk does not lose the good ones; fetching stops once the txs are no longer wanted', async () => {
  const many = hashes.slice(0, MAX_HASHES_PER_REQUEST + 5);
  let calls = 0;
  const halfBroken = async (missing: readonly Uint8Array[]) => {
    if (calls++ === 1) throw new Error('second chunk lost');
    return answerTxsRequest(missing, holding(txs));
  };
  const rest = peer(txs);
  const filled = await fillTxs(many, holding([]), () => [halfBroken, rest.fetch]);
  sameTxs(filled.txs, txs.slice(0, many.length));
  assert.equal(
    rest.requests.map((r) => r.length),
    [5],
    'the next source only for the lost chunk',
  );

  let wanted = true;
  const first = async (missing: readonly Uint8Array[]) => {
    wanted = false; // the height moved on while this answer was on its way
    return answerTxsRequest(missing.slice(0, 1), holding(txs));
  };
  const unused = peer(txs);
  await rejectsCode(
    fillTxs(
      hashes.slice(0, 3),
      holding([]),
      () => [first, unused.fetch],
      () => wanted,
    ),
    'PROPOSAL_TXS_MISSING',
  );
  assert.equal(unused.requests, [], 'no one else is asked');
});

test('txs no peer holds, or answers with other bytes, leave them missing: PROPOSAL_TXS_MISSING (ignore)', async () => {
  const forged = async () => encode([tx(99_999), tx(99_998)]);
  const tooLong = async (missing: readonly Uint8Array[]) => encode([...txs.slice(0, missing.length), tx(0)]);
  const err = await rejectsCode(
    fillTxs(hashes.slice(0, 3), holding([txs[0]!]), () => [forged, tooLong]),
    'PROPOSAL_TXS_MISSING',
    /2 of the proposal's 3 txs/,
  );
  assert.is(err.action, 'ignore');
  await rejectsCode(
    fillTxs(hashes.slice(0, 3), holding([]), () => [peer(txs.slice(0, 2)).fetch]),
    'PROPOSAL_TXS_MISSING',
  );
  await rejectsCode(
    fillTxs(hashes.slice(0, 1), holding([]), () => []),
    'PROPOSAL_TXS_MISSING',
  );
});

test('a request is bounded: at most MAX_HASHES_PER_REQUEST hashes of 32 bytes each', () => {
  const ask = (list: readonly Uint8Array[]) => txsRequestHashes(decode(encodeTxsRequest(list)));
  assert.is(ask(hashes.slice(0, MAX_HASHES_PER_REQUEST)).length, MAX_HASHES_PER_REQUEST);
  throwsCode(() => ask(hashes.slice(0, MAX_HASHES_PER_REQUEST + 1)), 'CODEC_SCHEMA', /txs request/);
  throwsCode(() => ask([hashes[0]!.subarray(1)]), 'CODEC_SCHEMA', /hash\[0\]/);
  assert.ok(encodeTxsRequest(hashes.slice(0, MAX_HASHES_PER_REQUEST)).length < 64 * 1024);
});

test.run();
