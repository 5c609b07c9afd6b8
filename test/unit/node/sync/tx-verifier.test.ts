/**
 * node/sync/tx-verifier.ts: the worker thread answers exactly what the main thread's check
 * answers. A block whose txs all decode and verify gets the same checked txs as
 * `checkTxHashed`; any tx that does not (a bad signature, a malformed tx), a small block, or a
 * worker that is gone gives null, so the commit path checks the block itself.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkTxHashed } from '../../../../node/mempool.ts';
import {
  acceptedTxFields,
  checkBlockTxs,
  MIN_OFF_THREAD_TXS,
  OffThreadVerifier,
  packTxs,
} from '../../../../node/sync/tx-verifier.ts';
import { checkPacked } from '../../../../node/sync/tx-verifier-worker.ts';
import { keyPairFromSeed } from '../../../../packages/crypto/ed25519.ts';
import { sha256, toHex } from '../../../../packages/crypto/hash.ts';
import { type Block, blockTxHashes } from '../../../../packages/types/block.ts';
import { buildBlock } from '../../../../packages/types/chain-state.ts';
import { decodeTx, signTx } from '../../../../packages/types/tx.ts';
import { makeChain } from '../../consensus/fixtures.ts';

const { chain } = makeChain([1n, 1n, 1n], 'verify');
const key = keyPairFromSeed(sha256(new TextEncoder().encode('tx-verifier test key')));

function blockOf(txs: Uint8Array[]): Block {
  return buildBlock(chain, {
    txs,
    evidence: [],
    time: chain.lastBlockTime + 1000n,
    proposer: chain.validators.set.validators[0]!.address,
  });
}

const goodTxs = (n: number) =>
  Array.from(
    { length: n },
    (_, i) => signTx(chain.chainId, key.secretKey, key.publicKey, BigInt(i), Uint8Array.of(i)).bytes,
  );

/** A tx signed for another chain: well-formed, but its signature does not verify on this one. */
const badTx = signTx('another-chain', key.secretKey, key.publicKey, 99n, Uint8Array.of(9)).bytes;

test('packed txs are checked as checkTxHashed checks them; a truncated pack checks nothing', () => {
  const txs = [...goodTxs(2), badTx, Uint8Array.of(0xc1), new Uint8Array(0)];
  const packed = packTxs(txs);
  const checked = checkPacked(chain.chainId, packed, 5);
  assert.equal([...checked.ok], [1, 1, 0, 0, 0]);
  assert.equal(
    Array.from({ length: 5 }, (_, i) => toHex(checked.hashes.subarray(i * 32, (i + 1) * 32))),
    txs.map((tx) => toHex(sha256(tx))),
    'each tx hashed, checked or not',
  );
  assert.equal(
    [...checkPacked(chain.chainId, packed.subarray(0, packed.length - 1), 5).ok],
    [0, 0, 0, 0, 0],
    'truncated',
  );
  assert.equal(
    [...checkPacked(chain.chainId, packed, 4).ok],
    [0, 0, 0, 0],
    'bytes left over: nothing is trusted',
  );
});

test('the fields read from an accepted tx are what decodeTx gives, for every payload header and nonce size', () => {
  const cases: [bigint, number][] = [
    [0n, 0],
    [1n, 1],
    [255n, 255],
    [256n, 256],
    [2n ** 32n, 65_000],
    [2n ** 63n - 1n, 65_536 - 120], // the largest a tx may carry (a 32-bit length never fits MAX_TX_BYTES)
  ];
  for (const [nonce, size] of cases) {
    const payload = new Uint8Array(size).fill(size % 251);
    const bytes = signTx(chain.chainId, key.secretKey, key.publicKey, nonce, payload).bytes;
    const fields = acceptedTxFields(bytes);
    const decoded = decodeTx(bytes);
    assert.ok(fields !== null, `nonce ${nonce}, payload ${size}`);
    assert.equal(
      [toHex(fields.signer), fields.nonce, toHex(fields.payload), toHex(fields.signature)],
      [toHex(decoded.signer), decoded.nonce, toHex(decoded.payload), toHex(decoded.signature)],
      `nonce ${nonce}, payload ${size}`,
    );
  }
  // Bytes not laid out as an accepted tx are left to the decoder.
  const good = goodTxs(1)[0]!;
  for (const bad of [good.subarray(1), Uint8Array.of(...good, 0), Uint8Array.of(0x93, ...good.subarray(1))])
    assert.is(acceptedTxFields(bad), null);
});

test('a block whose txs all verify gets, from the worker, the checked txs the main thread would give', async () => {
  const verifier = new OffThreadVerifier();
  try {
    const block = blockOf(goodTxs(MIN_OFF_THREAD_TXS + 4));
    const checked = await checkBlockTxs(chain.chainId, block, verifier);
    assert.ok(checked !== null, 'all verify');
    // Hashed here, not through blockTxHashes (which now holds the worker's hashes for this block).
    const expected = block.txs.map((bytes) => checkTxHashed(chain.chainId, bytes, sha256(bytes)));
    assert.equal(
      checked.map((c) => [toHex(c.bytes), toHex(c.hash), c.tx.nonce, toHex(c.tx.signature)]),
      expected.map((c) => [toHex(c.bytes), toHex(c.hash), c.tx.nonce, toHex(c.tx.signature)]),
    );
    assert.equal(
      blockTxHashes(block).map(toHex),
      expected.map((c) => toHex(c.hash)),
      'the block carries the hashes',
    );
  } finally {
    verifier.close();
  }
});

test('one bad signature, a malformed tx or a small block: null, and the commit path checks the block', async () => {
  const verifier = new OffThreadVerifier();
  try {
    const txs = goodTxs(MIN_OFF_THREAD_TXS + 4);
    const withBad = [...txs.slice(0, 7), badTx, ...txs.slice(7)];
    assert.is(await checkBlockTxs(chain.chainId, blockOf(withBad), verifier), null, 'bad signature');
    const malformed = [...txs, Uint8Array.of(0xc1)];
    assert.is(await checkBlockTxs(chain.chainId, blockOf(malformed), verifier), null, 'malformed tx');
    const small = goodTxs(MIN_OFF_THREAD_TXS - 1);
    assert.is(await checkBlockTxs(chain.chainId, blockOf(small), verifier), null, 'small block');
  } finally {
    verifier.close();
  }
});

test('closing the verifier answers what is still waiting with null, and a later request starts a new worker', async () => {
  const verifier = new OffThreadVerifier();
  const block = blockOf(goodTxs(MIN_OFF_THREAD_TXS * 8));
  const waiting = checkBlockTxs(chain.chainId, block, verifier);
  // The txs are decoded before the request goes to the worker: let that happen, then close.
  await Promise.resolve();
  verifier.close();
  assert.is(await waiting, null);
  const again = await checkBlockTxs(chain.chainId, block, verifier);
  verifier.close();
  assert.ok(again !== null && again.length === block.txs.length, 'a new worker answers');
});

test('an idle worker ends by itself, and the next request starts another', async () => {
  const verifier = new OffThreadVerifier(1);
  const block = blockOf(goodTxs(MIN_OFF_THREAD_TXS));
  assert.ok((await checkBlockTxs(chain.chainId, block, verifier)) !== null);
  // The idle timer (1 ms) fires after the answer: wait for that, not for a guessed time.
  const deadline = Date.now() + 5000;
  while (verifier.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.not.ok(verifier.running, 'the idle worker ended');
  assert.ok((await checkBlockTxs(chain.chainId, blockOf(goodTxs(MIN_OFF_THREAD_TXS)), verifier)) !== null);
  verifier.close();
  assert.not.ok(verifier.running);
});

test.run();
