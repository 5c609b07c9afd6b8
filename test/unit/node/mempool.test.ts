/**
 * node/mempool.ts with real signed txs: arrival order, dedupe by hash without a second check,
 * every refusal with its code and no change to the pool, MEMPOOL_FULL by count and by bytes,
 * reap limits, update (remove committed, re-check the rest), the bounded recent-hash cache that
 * junk cannot churn, listeners, metrics, options; and a fast-check property against a model.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type AddResult,
  checkTxHashed,
  defaultMempoolOptions,
  Mempool,
  type MempoolOptions,
  type RemovedTx,
} from '../../../node/mempool.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { type KeyPair, keyPairFromSeed } from '../../../packages/crypto/ed25519.ts';
import { sha256, toHex } from '../../../packages/crypto/hash.ts';
import { type CheckedTx, checkTxBytes, encodeTx, MAX_TX_BYTES, signTx } from '../../../packages/types/tx.ts';

const CHAIN_ID = 'careledger-mempool-test';
const enc = new TextEncoder();
const ALICE = keyPairFromSeed(sha256(enc.encode('mempool alice')));
const BOB = keyPairFromSeed(sha256(enc.encode('mempool bob')));

function tx(nonce: number, payloadBytes = 16, key: KeyPair = ALICE, chainId = CHAIN_ID): CheckedTx {
  const payload = new Uint8Array(payloadBytes).fill(nonce & 0xff);
  return signTx(chainId, key.secretKey, key.publicKey, BigInt(nonce), payload);
}

/** A stub application: refuses hashes in `reject`, reports hashes in `committed`, counts calls. */
class StubApp {
  readonly reject = new Map<string, CareLedgerError>();
  readonly committed = new Set<string>();
  checkCalls: { hash: string; recheck: boolean }[] = [];
  committedCalls = 0;

  checkTx(checked: CheckedTx, recheck: boolean): CareLedgerError | null {
    const hash = toHex(checked.hash);
    this.checkCalls.push({ hash, recheck });
    return this.reject.get(hash) ?? null;
  }

  isCommitted(hash: Uint8Array): boolean {
    this.committedCalls++;
    return this.committed.has(toHex(hash));
  }

  refuse(checked: CheckedTx, code = 'APP_NONCE'): void {
    this.reject.set(toHex(checked.hash), new CareLedgerError(code, 'refused by the stub app', 'reject'));
  }
}

function pool(opts?: Partial<MempoolOptions>, app = new StubApp()): { mp: Mempool; app: StubApp } {
  return { mp: new Mempool(CHAIN_ID, app, opts), app };
}

/** Fails the test; typed `never` so TypeScript narrows after it. */
function fail(message: string): never {
  assert.unreachable(message);
  throw new Error(message);
}

function okNew(result: AddResult, expected: CheckedTx): void {
  if (!result.ok) fail(`expected ok, got ${result.error.code}: ${result.error.message}`);
  assert.is(result.duplicate, false);
  assert.is(toHex(result.hash), toHex(expected.hash));
}

function refused(result: AddResult, code: string): CareLedgerError {
  if (result.ok) fail(`expected ${code}, got ok (duplicate: ${result.duplicate})`);
  assert.ok(result.error instanceof CareLedgerError);
  assert.is(result.error.code, code, result.error.message);
  return result.error;
}

const hashes = (txs: readonly CheckedTx[]): string[] => txs.map((t) => toHex(t.hash));

/** Everything observable about the pool, to show that a refusal changed nothing. */
function snapshot(mp: Mempool): { size: number; bytes: number; order: string[] } {
  return { size: mp.size, bytes: mp.bytes, order: hashes(mp.reap(Infinity, Infinity)) };
}

test('add then reap: arrival order, with size, bytes, has and get', () => {
  const { mp, app } = pool();
  const txs = [tx(3), tx(1, 40), tx(2, 8, BOB), tx(0, 100)];
  for (const t of txs) okNew(mp.add(t.bytes), t);
  assert.equal(hashes(mp.reap(Infinity, Infinity)), hashes(txs));
  assert.is(mp.size, 4);
  assert.is(
    mp.bytes,
    txs.reduce((n, t) => n + t.bytes.length, 0),
  );
  assert.ok(mp.has(txs[2]!.hash));
  assert.not.ok(mp.has(tx(9).hash));
  assert.equal(mp.get(txs[1]!.hash)?.tx.nonce, 1n);
  assert.equal(new Uint8Array(mp.get(txs[1]!.hash)!.bytes), new Uint8Array(txs[1]!.bytes));
  assert.is(mp.get(tx(9).hash), undefined);
  assert.equal(
    app.checkCalls.map((c) => c.recheck),
    [false, false, false, false],
  );
});

test('the pool keeps its own copy of the bytes', () => {
  const { mp } = pool();
  const t = tx(1);
  const buffer = new Uint8Array(t.bytes);
  okNew(mp.add(buffer), t);
  buffer.fill(0);
  assert.equal(new Uint8Array(mp.get(t.hash)!.bytes), new Uint8Array(t.bytes));
});

test('a duplicate (same bytes, another buffer) is not checked again and changes nothing', () => {
  const { mp, app } = pool();
  const t = tx(1);
  okNew(mp.add(t.bytes), t);
  assert.is(app.checkCalls.length, 1);
  assert.is(app.committedCalls, 1);
  const before = snapshot(mp);
  const again = mp.add(new Uint8Array(t.bytes));
  assert.equal(again.ok && { duplicate: again.duplicate, hash: toHex(again.hash) }, {
    duplicate: true,
    hash: toHex(t.hash),
  });
  assert.is(app.checkCalls.length, 1, 'app.checkTx must not run for a duplicate');
  assert.is(app.committedCalls, 1, 'isCommitted must not run for a duplicate');
  assert.equal(snapshot(mp), before);
});

test('a full pool still answers duplicate for a tx it holds', () => {
  const { mp, app } = pool({ maxTxs: 1 });
  const t = tx(1);
  okNew(mp.add(t.bytes), t);
  const again = mp.add(t.bytes);
  assert.ok(again.ok && again.duplicate);
  assert.is(app.checkCalls.length, 1);
});

test('bad signature: TX_BAD_SIGNATURE, nothing changes, and it is not cached', () => {
  const { mp, app } = pool();
  okNew(mp.add(tx(0).bytes), tx(0));
  const good = tx(1);
  const signature = new Uint8Array(good.tx.signature);
  signature[0] = signature[0]! ^ 1;
  const forged = encodeTx({ ...good.tx, signature });
  const otherChain = tx(1, 16, ALICE, 'another-chain');
  const before = snapshot(mp);
  for (const bytes of [forged, otherChain.bytes, forged]) {
    const error = refused(mp.add(bytes), 'TX_BAD_SIGNATURE');
    assert.is(error.action, 'reject');
    assert.equal(snapshot(mp), before);
  }
  assert.is(app.checkCalls.length, 1, 'the app never sees a tx with a bad signature');
  assert.is(app.committedCalls, 1, 'nor is a committed-hash lookup spent on it');
});

test('a hash the caller already computed is carried, not recomputed, through the pool', () => {
  const { mp, app } = pool();
  const t = tx(0);
  const hash = sha256(t.bytes);
  const result = mp.add(t.bytes, hash);
  if (!result.ok) fail(result.error.message);
  // The very object: the pool did not hash the bytes again (nor did the check inside it).
  assert.ok(result.hash === hash);
  assert.ok(mp.get(hash)!.hash === hash);
  assert.ok(app.checkCalls.length === 1);
  const again = mp.add(new Uint8Array(t.bytes), hash);
  if (!again.ok) fail(again.error.message);
  assert.ok(again.duplicate && again.hash === hash);
  // Without one, the pool hashes the bytes itself, as before.
  const u = tx(1);
  okNew(mp.add(u.bytes), u);
});

test('checkTxHashed answers as checkTxBytes, with the given hash', () => {
  const good = tx(3);
  const hash = sha256(good.bytes);
  const checked = checkTxHashed(CHAIN_ID, good.bytes, hash);
  const reference = checkTxBytes(CHAIN_ID, good.bytes);
  assert.ok(checked.hash === hash);
  assert.equal(toHex(checked.hash), toHex(reference.hash));
  assert.equal(checked.tx, reference.tx);
  const signature = new Uint8Array(good.tx.signature);
  signature[5] = signature[5]! ^ 1;
  const forged = encodeTx({ ...good.tx, signature });
  for (const bytes of [forged, Uint8Array.of(1, 2, 3)]) {
    let expected = '';
    try {
      checkTxBytes(CHAIN_ID, bytes);
    } catch (err) {
      expected = (err as CareLedgerError).code;
    }
    try {
      checkTxHashed(CHAIN_ID, bytes, sha256(bytes));
      fail('expected a refusal');
    } catch (err) {
      assert.is((err as CareLedgerError).code, expected);
    }
  }
  // Another chain's signature does not verify here, even under the same tx hash.
  const other = tx(4, 16, ALICE, 'another-chain');
  assert.throws(() => checkTxHashed(CHAIN_ID, other.bytes, other.hash));
});

test('garbage bytes: a CODEC_* code, nothing changes', () => {
  const { mp, app } = pool();
  okNew(mp.add(tx(0).bytes), tx(0));
  const before = snapshot(mp);
  const valid = tx(1).bytes;
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(0), 'CODEC_TRUNCATED'],
    [Uint8Array.of(0xc1), 'CODEC_UNSUPPORTED'],
    [Uint8Array.of(0x93, 1, 2, 3), 'CODEC_SCHEMA'],
    [Uint8Array.of(...valid, 0), 'CODEC_TRAILING_BYTES'],
    [valid.subarray(0, valid.length - 1), 'CODEC_TRUNCATED'],
  ];
  for (const [bytes, code] of cases) {
    const error = refused(mp.add(bytes), code);
    assert.match(error.code, /^CODEC_/);
    assert.equal(snapshot(mp), before);
  }
  refused(mp.add('not bytes' as unknown as Uint8Array), 'CODEC_NOT_BYTES');
  assert.equal(snapshot(mp), before);
  assert.is(app.checkCalls.length, 1);
});

test('oversized: TX_TOO_LARGE, over the protocol limit (reject) or over the pool limit (ignore)', () => {
  const { mp, app } = pool({ maxTxBytes: 200 });
  okNew(mp.add(tx(0).bytes), tx(0));
  const before = snapshot(mp);
  const huge = tx(1, MAX_TX_BYTES);
  assert.ok(huge.bytes.length > MAX_TX_BYTES);
  assert.is(refused(mp.add(huge.bytes), 'TX_TOO_LARGE').action, 'reject');
  const big = tx(2, 150);
  assert.ok(big.bytes.length > 200 && big.bytes.length <= MAX_TX_BYTES);
  assert.is(refused(mp.add(big.bytes), 'TX_TOO_LARGE').action, 'ignore');
  assert.is(refused(mp.add(new Uint8Array(201)), 'TX_TOO_LARGE').action, 'ignore');
  assert.equal(snapshot(mp), before);
  assert.is(app.checkCalls.length, 1);
  // Exactly at the pool's limit is fine.
  const { mp: edge } = pool({ maxTxBytes: big.bytes.length });
  okNew(edge.add(big.bytes), big);
});

test('committed: TX_ALREADY_COMMITTED, the app is not asked, nothing changes', () => {
  const { mp, app } = pool();
  const t = tx(1);
  app.committed.add(toHex(t.hash));
  const error = refused(mp.add(t.bytes), 'TX_ALREADY_COMMITTED');
  assert.is(error.action, 'ignore');
  assert.is(mp.size, 0);
  assert.is(mp.bytes, 0);
  assert.is(app.checkCalls.length, 0);
  // Not cached: asked again, same answer.
  refused(mp.add(t.bytes), 'TX_ALREADY_COMMITTED');
  assert.is(app.committedCalls, 2);
});

test("app rejection passes the app's error through; a retry is checked again and may pass", () => {
  const { mp, app } = pool();
  const t = tx(5);
  app.refuse(t, 'APP_NONCE_GAP');
  const before = snapshot(mp);
  const error = refused(mp.add(t.bytes), 'APP_NONCE_GAP');
  assert.is(error, app.reject.get(toHex(t.hash)));
  assert.equal(snapshot(mp), before);
  assert.is(app.checkCalls.length, 1);
  // State changed (the gap filled): the same bytes are checked again, not answered from a cache.
  app.reject.clear();
  okNew(mp.add(t.bytes), t);
  assert.is(app.checkCalls.length, 2);
  assert.is(mp.size, 1);
});

test('MEMPOOL_FULL by count: refused, nothing changes, the older txs stay', () => {
  const { mp, app } = pool({ maxTxs: 3 });
  const txs = [tx(0), tx(1), tx(2)];
  for (const t of txs) okNew(mp.add(t.bytes), t);
  const before = snapshot(mp);
  const error = refused(mp.add(tx(3).bytes), 'MEMPOOL_FULL');
  assert.is(error.action, 'ignore');
  assert.equal(snapshot(mp), before);
  assert.equal(before.order, hashes(txs));
  assert.is(app.checkCalls.length, 3, 'a full pool refuses before checking');
  // Refused, not cached: once there is room the same tx is taken.
  mp.update([txs[0]!.hash]);
  okNew(mp.add(tx(3).bytes), tx(3));
});

test('MEMPOOL_FULL by bytes: refused at one byte over, taken at exactly the limit', () => {
  const a = tx(0, 100);
  const b = tx(1, 100);
  const limit = a.bytes.length + b.bytes.length;
  const { mp } = pool({ maxBytes: limit - 1 });
  okNew(mp.add(a.bytes), a);
  const before = snapshot(mp);
  refused(mp.add(b.bytes), 'MEMPOOL_FULL');
  assert.equal(snapshot(mp), before);
  const small = tx(2, 1);
  assert.ok(a.bytes.length + small.bytes.length <= limit - 1);
  okNew(mp.add(small.bytes), small);

  const { mp: exact } = pool({ maxBytes: limit });
  okNew(exact.add(a.bytes), a);
  okNew(exact.add(b.bytes), b);
  assert.is(exact.bytes, limit);
  refused(exact.add(tx(3, 0).bytes), 'MEMPOOL_FULL');
  assert.is(exact.bytes, limit);
});

test('reap respects maxTxs and maxBytes, stops at the first tx that does not fit, removes nothing', () => {
  const { mp } = pool();
  const txs = [tx(0, 10), tx(1, 200), tx(2, 10), tx(3, 10)];
  for (const t of txs) okNew(mp.add(t.bytes), t);
  const [b0, b1] = txs.map((t) => t.bytes.length);
  assert.equal(hashes(mp.reap(2, Infinity)), hashes(txs.slice(0, 2)));
  assert.equal(hashes(mp.reap(0, Infinity)), []);
  assert.equal(hashes(mp.reap(Infinity, 0)), []);
  assert.equal(hashes(mp.reap(Infinity, b0! + b1!)), hashes(txs.slice(0, 2)));
  // tx 1 does not fit: nothing after it is taken, so a signer's txs keep their order.
  assert.equal(hashes(mp.reap(Infinity, b0! + b1! - 1)), hashes(txs.slice(0, 1)));
  assert.equal(hashes(mp.reap(3, 1_000_000)), hashes(txs.slice(0, 3)));
  assert.is(mp.size, 4);
  assert.equal(hashes(mp.reap(Infinity, Infinity)), hashes(txs));
  for (const bad of [-1, Number.NaN, 1.5]) {
    try {
      mp.reap(bad, 10);
      assert.unreachable('bad reap limit accepted');
    } catch (err) {
      assert.is((err as CareLedgerError).code, 'MEMPOOL_ARGUMENT_INVALID');
    }
  }
});

test('update removes committed txs and re-checks the rest, evicting what the app now refuses', () => {
  const { mp, app } = pool();
  const txs = [tx(0), tx(1, 30), tx(2), tx(3, 50), tx(4)];
  for (const t of txs) okNew(mp.add(t.bytes), t);
  const removedEvents: RemovedTx[] = [];
  mp.onRemoved((r) => removedEvents.push(r));
  app.checkCalls = [];
  app.refuse(txs[3]!, 'APP_CONSENT_REVOKED');
  const stranger = tx(7, 16, BOB); // in the block, never in our pool
  const result = mp.update([txs[0]!.hash, stranger.hash, txs[2]!.hash]);
  assert.equal(result, { removed: 2, evicted: 1 });
  const left = [txs[1]!, txs[4]!];
  assert.equal(hashes(mp.reap(Infinity, Infinity)), hashes(left));
  assert.is(mp.size, 2);
  assert.is(
    mp.bytes,
    left.reduce((n, t) => n + t.bytes.length, 0),
  );
  // Each remaining tx re-checked once, as a recheck, in arrival order; committed ones not at all.
  assert.equal(app.checkCalls, [
    { hash: toHex(txs[1]!.hash), recheck: true },
    { hash: toHex(txs[3]!.hash), recheck: true },
    { hash: toHex(txs[4]!.hash), recheck: true },
  ]);
  assert.equal(
    removedEvents.map((r) => [r.reason, toHex(r.tx.hash), r.reason === 'evicted' ? r.error.code : null]),
    [
      ['committed', toHex(txs[0]!.hash), null],
      ['committed', toHex(txs[2]!.hash), null],
      ['evicted', toHex(txs[3]!.hash), 'APP_CONSENT_REVOKED'],
    ],
  );

  // A committed tx gossiped again is answered from the cache; so is one committed we never held.
  app.checkCalls = [];
  const calls = app.committedCalls;
  for (const t of [txs[0]!, stranger]) {
    const again = mp.add(t.bytes);
    assert.ok(again.ok && again.duplicate);
  }
  assert.is(app.checkCalls.length, 0);
  assert.is(app.committedCalls, calls);
  assert.is(mp.size, 2);

  // The evicted tx left the cache too: once the app takes it again, it is checked and re-added.
  app.reject.clear();
  okNew(mp.add(txs[3]!.bytes), txs[3]!);
  assert.is(app.checkCalls.length, 1);
  assert.equal(hashes(mp.reap(Infinity, Infinity)), hashes([txs[1]!, txs[4]!, txs[3]!]));
});

test('update with nothing to do changes nothing', () => {
  const { mp } = pool();
  assert.equal(mp.update([]), { removed: 0, evicted: 0 });
  okNew(mp.add(tx(1).bytes), tx(1));
  assert.equal(mp.update([tx(2).hash]), { removed: 0, evicted: 0 });
  assert.is(mp.size, 1);
  try {
    mp.update(['x'] as unknown as Uint8Array[]);
    assert.unreachable('non-bytes hash accepted');
  } catch (err) {
    assert.is((err as CareLedgerError).code, 'MEMPOOL_ARGUMENT_INVALID');
  }
});

test('the recent cache is bounded, least recently seen out first', () => {
  const { mp, app } = pool({ cacheSize: 2 });
  const [a, b, c] = [tx(0), tx(1), tx(2)];
  for (const t of [a, b, c]) {
    okNew(mp.add(t.bytes), t);
    app.committed.add(toHex(t.hash));
  }
  mp.update([a.hash, b.hash, c.hash]);
  assert.is(mp.size, 0);
  // The cache holds b and c; a fell out, so it is checked again and refused as committed.
  refused(mp.add(a.bytes), 'TX_ALREADY_COMMITTED');
  // Seeing b again makes it the youngest, so the next new hash pushes out c, not b.
  const seenAgain = mp.add(b.bytes);
  assert.ok(seenAgain.ok && seenAgain.duplicate);
  const d = tx(3);
  okNew(mp.add(d.bytes), d);
  refused(mp.add(c.bytes), 'TX_ALREADY_COMMITTED');
  const stillCached = mp.add(b.bytes);
  assert.ok(stillCached.ok && stillCached.duplicate);
  assert.is(app.checkCalls.length, 4, 'only a, b, c and d were ever checked by the app');
});

test('junk cannot push good entries out of the cache', () => {
  const { mp, app } = pool({ cacheSize: 1 });
  const good = tx(0);
  okNew(mp.add(good.bytes), good);
  app.committed.add(toHex(good.hash));
  mp.update([good.hash]);
  for (let i = 1; i <= 5; i++) {
    const t = tx(i);
    const signature = new Uint8Array(t.tx.signature);
    signature[5] = signature[5]! ^ 0x80;
    refused(mp.add(encodeTx({ ...t.tx, signature })), 'TX_BAD_SIGNATURE');
    refused(mp.add(Uint8Array.of(0xc1, i)), 'CODEC_UNSUPPORTED');
    const rejectedByApp = tx(100 + i);
    app.refuse(rejectedByApp);
    refused(mp.add(rejectedByApp.bytes), 'APP_NONCE');
  }
  const again = mp.add(good.bytes);
  assert.ok(again.ok && again.duplicate, 'the good hash is still cached');
});

test('cacheSize 0: the pool still dedupes what it holds', () => {
  const { mp, app } = pool({ cacheSize: 0 });
  const t = tx(1);
  okNew(mp.add(t.bytes), t);
  assert.ok((mp.add(t.bytes) as { duplicate: boolean }).duplicate);
  assert.is(app.checkCalls.length, 1);
  app.committed.add(toHex(t.hash));
  mp.update([t.hash]);
  refused(mp.add(t.bytes), 'TX_ALREADY_COMMITTED');
});

test('metrics: size after each change, failures by code, evictions', () => {
  const log: string[] = [];
  const app = new StubApp();
  const mp = new Mempool(
    CHAIN_ID,
    app,
    { maxTxs: 2 },
    {
      size: (n) => log.push(`size ${n}`),
      failedTx: (code) => log.push(`failed ${code}`),
      evicted: (n) => log.push(`evicted ${n}`),
    },
  );
  const [a, b] = [tx(0), tx(1)];
  mp.add(a.bytes);
  mp.add(a.bytes);
  mp.add(b.bytes);
  mp.add(tx(2).bytes);
  mp.add(Uint8Array.of(0xc1));
  app.refuse(b);
  mp.update([a.hash]);
  assert.equal(log, [
    'size 1',
    'size 2',
    'failed MEMPOOL_FULL',
    'failed MEMPOOL_FULL', // a full pool refuses before decoding
    'evicted 1',
    'size 0',
  ]);
  log.length = 0;
  mp.add(Uint8Array.of(0xc1));
  assert.equal(log, ['failed CODEC_UNSUPPORTED']);
});

test('removal listeners: unsubscribe, and the number of listeners is bounded', () => {
  const { mp } = pool();
  const seen: string[] = [];
  const off = mp.onRemoved((r) => seen.push(r.reason));
  okNew(mp.add(tx(1).bytes), tx(1));
  okNew(mp.add(tx(2).bytes), tx(2));
  mp.update([tx(1).hash]);
  off();
  mp.update([tx(2).hash]);
  assert.equal(seen, ['committed']);
  for (let i = 0; i < 16; i++) mp.onRemoved(() => {});
  try {
    mp.onRemoved(() => {});
    assert.unreachable('a 17th listener was accepted');
  } catch (err) {
    assert.is((err as CareLedgerError).code, 'MEMPOOL_TOO_MANY_LISTENERS');
  }
});

test('options: defaults, and invalid values refused', () => {
  assert.equal(defaultMempoolOptions, {
    maxTxs: 5000,
    maxBytes: 64 * 1024 * 1024,
    maxTxBytes: MAX_TX_BYTES,
    cacheSize: 10_000,
  });
  const bad: Partial<MempoolOptions>[] = [
    { maxTxs: 0 },
    { maxBytes: 0 },
    { maxTxBytes: 0 },
    { maxTxBytes: MAX_TX_BYTES + 1 },
    { cacheSize: -1 },
    { maxTxs: 1.5 },
    { maxBytes: Number.NaN },
  ];
  for (const opts of bad) {
    try {
      pool(opts);
      assert.unreachable(`accepted ${JSON.stringify(opts)}`);
    } catch (err) {
      assert.is((err as CareLedgerError).code, 'MEMPOOL_OPTIONS_INVALID', JSON.stringify(opts));
    }
  }
  try {
    new Mempool('', new StubApp());
    assert.unreachable('empty chain id accepted');
  } catch (err) {
    assert.is((err as CareLedgerError).code, 'MEMPOOL_OPTIONS_INVALID');
  }
});

// ---- Property: the pool against a model ----

const UNIVERSE = Array.from({ length: 10 }, (_, i) => tx(i, 1 + ((i * 53) % 220), i % 2 === 0 ? ALICE : BOB));
const LIMITS = { maxTxs: 5, maxBytes: 900, maxTxBytes: MAX_TX_BYTES, cacheSize: 3 };

type Op =
  | { kind: 'add'; i: number }
  | { kind: 'forged'; i: number }
  | { kind: 'junk'; bytes: Uint8Array }
  | { kind: 'update'; commit: number[]; refuse: number[] }
  | { kind: 'reap'; maxTxs: number; maxBytes: number };

const index = fc.integer({ min: 0, max: UNIVERSE.length - 1 });
const indexes = fc.uniqueArray(index, { maxLength: 4 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: index.map((i) => ({ kind: 'add' as const, i })) },
  { weight: 1, arbitrary: index.map((i) => ({ kind: 'forged' as const, i })) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 40 }).map((bytes) => ({ kind: 'junk' as const, bytes })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ commit: indexes, refuse: indexes })
      .map((r) => ({ kind: 'update' as const, ...r })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ maxTxs: fc.nat(6), maxBytes: fc.nat(1000) })
      .map((r) => ({ kind: 'reap' as const, ...r })),
  },
);

function forgedBytes(i: number): Uint8Array {
  const t = UNIVERSE[i]!;
  const signature = new Uint8Array(t.tx.signature);
  signature[63] = signature[63]! ^ 0x01;
  return encodeTx({ ...t.tx, signature });
}

test('property: size/bytes match the pool, stay within limits, and reap is arrival order', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const app = new StubApp();
      const mp = new Mempool(CHAIN_ID, app, LIMITS);
      const model: CheckedTx[] = []; // arrival order
      const committed = new Set<number>();
      let refusing = new Set<number>();
      const modelBytes = () => model.reduce((n, t) => n + t.bytes.length, 0);
      const noRoom = (len: number) =>
        model.length + 1 > LIMITS.maxTxs || modelBytes() + len > LIMITS.maxBytes;

      for (const o of ops) {
        const before = snapshot(mp);
        switch (o.kind) {
          case 'add': {
            const t = UNIVERSE[o.i]!;
            const result = mp.add(t.bytes);
            const inPool = model.includes(t);
            if (inPool) {
              assert.ok(result.ok && result.duplicate, 'a pooled tx is a duplicate');
            } else if (result.ok && result.duplicate) {
              assert.ok(committed.has(o.i), 'only a committed tx is cached outside the pool');
            } else if (result.ok) {
              assert.not.ok(noRoom(t.bytes.length) || committed.has(o.i) || refusing.has(o.i));
              model.push(t);
            } else {
              const code = result.error.code;
              if (code === 'MEMPOOL_FULL') assert.ok(noRoom(t.bytes.length));
              else if (code === 'TX_ALREADY_COMMITTED')
                assert.ok(!noRoom(t.bytes.length) && committed.has(o.i));
              else if (code === 'APP_NONCE') {
                assert.ok(!noRoom(t.bytes.length) && !committed.has(o.i) && refusing.has(o.i));
              } else assert.unreachable(`unexpected ${code}`);
            }
            if (!result.ok || result.duplicate) assert.equal(snapshot(mp), before);
            break;
          }
          case 'forged':
          case 'junk': {
            const bytes = o.kind === 'forged' ? forgedBytes(o.i) : o.bytes;
            const result = mp.add(bytes);
            assert.not.ok(result.ok);
            if (!result.ok) assert.match(result.error.code, /^(CODEC_|TX_BAD_SIGNATURE$|MEMPOOL_FULL$)/);
            assert.equal(snapshot(mp), before);
            break;
          }
          case 'update': {
            for (const i of o.commit) committed.add(i);
            for (const i of o.commit) app.committed.add(toHex(UNIVERSE[i]!.hash));
            refusing = new Set(o.refuse);
            app.reject.clear();
            for (const i of refusing) app.refuse(UNIVERSE[i]!);
            const inBlock = new Set(o.commit.map((i) => UNIVERSE[i]!));
            const removed = model.filter((t) => inBlock.has(t)).length;
            const refused = new Set(o.refuse.map((i) => UNIVERSE[i]!));
            const kept = model.filter((t) => !inBlock.has(t) && !refused.has(t));
            const result = mp.update(o.commit.map((i) => UNIVERSE[i]!.hash));
            assert.equal(result, { removed, evicted: model.length - removed - kept.length });
            model.splice(0, model.length, ...kept);
            break;
          }
          case 'reap': {
            let total = 0;
            const expected: CheckedTx[] = [];
            for (const t of model) {
              if (expected.length >= o.maxTxs || total + t.bytes.length > o.maxBytes) break;
              expected.push(t);
              total += t.bytes.length;
            }
            assert.equal(hashes(mp.reap(o.maxTxs, o.maxBytes)), hashes(expected));
            assert.equal(snapshot(mp), before);
            break;
          }
        }
        const all = mp.reap(Infinity, Infinity);
        assert.equal(hashes(all), hashes(model), 'reap is arrival order');
        assert.is(mp.size, all.length);
        assert.is(
          mp.bytes,
          all.reduce((n, t) => n + t.bytes.length, 0),
        );
        assert.ok(mp.size <= LIMITS.maxTxs && mp.bytes <= LIMITS.maxBytes);
        for (const t of model) assert.ok(mp.has(t.hash));
      }
    }),
    { seed: 11, numRuns: 100 },
  );
});

test.run();
