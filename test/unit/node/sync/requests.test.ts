/**
 * node/sync/protocol.ts and requests.ts: each request's wire form is the canonical tuple the
 * protocol has always used (so nodes before the typed union still understand it), decoding is
 * strict (an unknown tag or a malformed field is refused, action reject), and the handler answers
 * each kind from the node: a blocks answer is cut at our last height, a round request before the
 * WAL is replayed gets nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeSyncRequest, encodeSyncRequest, type SyncRequest } from '../../../../node/sync/protocol.ts';
import { answerSyncRequest, type SyncRequestModules } from '../../../../node/sync/requests.ts';
import { decode, encode } from '../../../../packages/codec/canonical.ts';
import { equalBytes, sha256, toHex } from '../../../../packages/crypto/hash.ts';
import { MAX_ROUND } from '../../../../packages/types/vote.ts';
import { rejectsCode, throwsCode } from '../../packages/fixtures.ts';

const utf8 = new TextEncoder();
const hashA = sha256(utf8.encode('a'));
const hashB = sha256(utf8.encode('b'));
/** Decoded byte strings as hex, so a Buffer and a Uint8Array of the same bytes compare equal. */
const hexes = (value: unknown) => (value as Uint8Array[]).map(toHex);

test('each request encodes to its canonical tuple and decodes back', () => {
  const cases: [SyncRequest, unknown[]][] = [
    [{ kind: 'status' }, ['status']],
    [{ kind: 'blocks', from: 3n, to: 22n }, ['blocks', 3n, 22n]],
    [{ kind: 'txs', hashes: [hashA, hashB] }, ['txs', [hashA, hashB]]],
    [{ kind: 'round', height: 7n, round: 2 }, ['round', 7n, 2]],
  ];
  for (const [request, tuple] of cases) {
    const bytes = encodeSyncRequest(request);
    assert.equal(bytes, encode(tuple as never), request.kind);
    const decoded = decodeSyncRequest(bytes);
    assert.is(decoded.kind, request.kind);
    if (decoded.kind === 'txs' && request.kind === 'txs')
      assert.equal(hexes(decoded.hashes), hexes(request.hashes), 'hashes');
    else assert.equal(decoded, request, request.kind);
  }
});

test('a request that is not a tagged tuple, or has an unknown tag, is SYNC_BAD_REQUEST (reject)', () => {
  for (const value of [7n, 'status', [], ['blocks-please', 1n, 2n], [1n]]) {
    const error = throwsCode(() => decodeSyncRequest(encode(value as never)), 'SYNC_BAD_REQUEST');
    assert.is(error.action, 'reject');
  }
});

test('malformed fields are refused by the schema', () => {
  throwsCode(() => decodeSyncRequest(encode(['blocks', 1n])), 'CODEC_SCHEMA');
  throwsCode(() => decodeSyncRequest(encode(['blocks', 'one', 2n])), 'CODEC_SCHEMA');
  throwsCode(() => decodeSyncRequest(encode(['round', 1n, MAX_ROUND + 1])), 'CODEC_SCHEMA');
  throwsCode(() => decodeSyncRequest(encode(['txs', [utf8.encode('short')]])), 'CODEC_SCHEMA');
});

/** A node at height 5 that stores no block (the blocks answer's own tests are block-sync.test.ts). */
function modules(round: Uint8Array[] | null): SyncRequestModules & { asked: bigint[] } {
  const asked: bigint[] = [];
  return {
    asked,
    lastHeight: () => 5n,
    stored: async (h) => {
      asked.push(h);
      return null;
    },
    localTx: (hash) => (equalBytes(hash, hashA) ? utf8.encode('tx a') : undefined),
    roundMessages: () => round,
  };
}

test('status answers our last height', async () => {
  const answer = await answerSyncRequest(encodeSyncRequest({ kind: 'status' }), modules(null));
  assert.equal(decode(answer), [5n]);
});

test('a blocks request is answered from its first height, never past our last', async () => {
  const m = modules(null);
  const answer = await answerSyncRequest(encodeSyncRequest({ kind: 'blocks', from: 5n, to: 90n }), m);
  assert.equal(decode(answer), []);
  assert.equal(m.asked, [5n], 'read height 5, stopped at the first missing block');
  const none = modules(null);
  await answerSyncRequest(encodeSyncRequest({ kind: 'blocks', from: 6n, to: 90n }), none);
  assert.equal(none.asked, [], 'nothing past our last height is read');
});

test('a txs request is answered with the txs held', async () => {
  const answer = await answerSyncRequest(
    encodeSyncRequest({ kind: 'txs', hashes: [hashB, hashA] }),
    modules(null),
  );
  assert.equal(hexes(decode(answer)), [toHex(utf8.encode('tx a'))]);
});

test('a round request gets the round messages, or nothing before the WAL is replayed', async () => {
  const request = encodeSyncRequest({ kind: 'round', height: 6n, round: 1 });
  assert.equal(decode(await answerSyncRequest(request, modules(null))), []);
  const messages = [utf8.encode('proposal'), utf8.encode('vote')];
  assert.equal(hexes(decode(await answerSyncRequest(request, modules(messages)))), hexes(messages));
});

test('a bad request rejects the answer promise (the host sends the code back)', async () => {
  await rejectsCode(answerSyncRequest(encode(['nope']), modules(null)), 'SYNC_BAD_REQUEST');
});

test.run();
