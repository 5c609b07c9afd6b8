/**
 * node/seen-txs.ts alone: RecentlyCommitted forgets the oldest hash past its bound; CheckedTxs
 * checks a block's txs once (taking the mempool's checked copy when it has one), serves the txs
 * of blocks seen this height to peers, and keeps only the committed block's at a commit, for one
 * more height.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CheckedTxs, RecentlyCommitted } from '../../../node/seen-txs.ts';
import { sha256, toHex } from '../../../packages/crypto/hash.ts';
import { buildBlock } from '../../../packages/types/chain-state.ts';
import { type CheckedTx, signTx } from '../../../packages/types/tx.ts';
import { CHAIN_ID, keyFor, makeChain } from '../consensus/fixtures.ts';
import { throwsCode } from '../packages/fixtures.ts';

const utf8 = new TextEncoder();
const { chain } = makeChain([1n, 1n, 1n, 1n], 'seen-txs');
const signer = keyFor('seen-txs-signer');
const tx = (n: bigint): CheckedTx =>
  signTx(CHAIN_ID, signer.secretKey, signer.publicKey, n, utf8.encode(`tx ${n}`));
const blockOf = (txs: readonly CheckedTx[]) =>
  buildBlock(chain, {
    txs: txs.map((t) => t.bytes),
    evidence: [],
    time: chain.lastBlockTime + 1000n,
    proposer: chain.validators.set.validators[0]!.address,
  });

test('RecentlyCommitted keeps the last `max` hashes, forgetting the oldest first', () => {
  const recent = new RecentlyCommitted(2);
  const [a, b, c] = ['a', 'b', 'c'].map((s) => sha256(utf8.encode(s))) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  recent.add(a);
  recent.add(b);
  assert.ok(recent.has(a) && recent.hasKey(toHex(b)));
  recent.add(c);
  assert.is(recent.size, 2);
  assert.not.ok(recent.has(a), 'the oldest is forgotten');
  assert.ok(recent.has(b) && recent.has(c));
});

test("CheckedTxs takes the mempool's checked copy and checks the others once per block", () => {
  const [pooled, other] = [tx(1n), tx(2n)];
  const mempool = { get: (hash: Uint8Array) => (toHex(hash) === toHex(pooled.hash) ? pooled : undefined) };
  const txs = new CheckedTxs(CHAIN_ID, mempool);
  const block = blockOf([pooled, other]);
  const checked = txs.of(block);
  assert.is(checked[0], pooled, "the mempool's object, not a new check");
  assert.is(toHex(checked[1]!.hash), toHex(other.hash));
  assert.is(txs.of(block), checked, 'the same array for the same block');
  // A second Block object with the same tx reuses the checked tx of this height.
  assert.is(txs.of(blockOf([other]))[0], checked[1]);
});

test('CheckedTxs serves our own proposal as given, and txs of blocks seen until a commit forgets them', () => {
  const [pooled, seen, other] = [tx(3n), tx(4n), tx(6n)];
  const mempool = { get: (hash: Uint8Array) => (toHex(hash) === toHex(pooled.hash) ? pooled : undefined) };
  const txs = new CheckedTxs(CHAIN_ID, mempool);
  const own = blockOf([pooled]);
  txs.remember(own, [pooled]);
  assert.equal(txs.of(own), [pooled]);
  const seenBlock = blockOf([seen]);
  txs.of(seenBlock);
  txs.of(blockOf([other]));
  assert.equal(txs.local(seen.hash), seen.bytes, 'a tx of a block seen this height');
  assert.equal(txs.local(pooled.hash), pooled.bytes, 'a tx in the mempool');
  txs.committed(seenBlock);
  assert.is(txs.local(other.hash), undefined, 'a tx of a block seen but not committed is forgotten');
  assert.equal(txs.local(pooled.hash), pooled.bytes, 'the mempool still has its own');
  assert.equal(txs.local(seen.hash), seen.bytes, 'the committed block is served one more height');
  txs.committed(own);
  assert.is(txs.local(seen.hash), undefined, 'and forgotten at the next commit');
});

test('CheckedTxs serves our own committed proposal once the mempool has let its txs go', () => {
  const mine = tx(7n);
  let pooled: CheckedTx | undefined = mine;
  const txs = new CheckedTxs(CHAIN_ID, { get: () => pooled });
  const own = blockOf([mine]);
  txs.remember(own, [mine]);
  txs.committed(own);
  pooled = undefined; // the mempool drops committed txs
  assert.equal(txs.local(mine.hash), mine.bytes, 'a slower peer can still fetch them');
});

test('CheckedTxs refuses a block whose tx does not verify', () => {
  const bad = tx(5n);
  const bytes = Uint8Array.from(bad.bytes);
  bytes[bytes.length - 1]! ^= 1;
  const block = { ...blockOf([bad]), txs: [bytes] };
  const txs = new CheckedTxs(CHAIN_ID, { get: () => undefined });
  throwsCode(() => txs.of(block), 'TX_BAD_SIGNATURE');
});

test.run();
