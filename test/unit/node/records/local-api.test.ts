/**
 * node/records/local-api.ts served through the RPC server's route hook, over a real Vault in a
 * temp folder and a stub chain (this node's member and its key): an upload by the member's key is
 * stored pending; the auth refusals (none, another key, replayed, another path) with their
 * statuses and nothing stored; an upload that does not hash to its path keeps nothing; the status
 * route; a fetch answers the release's headers and bytes, or a refusal's status and JSON only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordsChain } from '../../../../node/records/chain-view.ts';
import type { FetchResult } from '../../../../node/records/forward.ts';
import { LocalRecordsApi } from '../../../../node/records/local-api.ts';
import { startRpcServer } from '../../../../node/rpc/server.ts';
import { Vault } from '../../../../node/vault/vault.ts';
import { keyPairFromSeed } from '../../../../packages/crypto/ed25519.ts';
import { sha256, toHex } from '../../../../packages/crypto/hash.ts';
import type { Member } from '../../../../packages/health/model.ts';
import { encodeKeyMaterial } from '../../../../packages/records/key-material.ts';
import {
  LOCAL_AUTH_HEADER,
  LocalAuthReplayCache,
  signLocalAuth,
} from '../../../../packages/records/local-auth.ts';

const CHAIN = 'local-api-test';
const PEER = 'node-peer';
const labKey = keyPairFromSeed(new Uint8Array(32).fill(1));
const otherKey = keyPairFromSeed(new Uint8Array(32).fill(2));
const lab = { id: 'lab', active: true, pubKey: labKey.publicKey, nodes: [PEER] } as unknown as Member;
const chain = {
  memberOfNode: async (peer: string) => (peer === PEER ? lab : null),
} as unknown as RecordsChain;
const material = encodeKeyMaterial({ dataKey: new Uint8Array(32).fill(7), salt: new Uint8Array(16).fill(8) });
const envelope = new Uint8Array(Buffer.from('CLR\u0001 a ciphertext of some bytes'));
const hash = sha256(envelope);
const blobPath = `/records/blobs/${toHex(hash)}`;

const dir = mkdtempSync(join(tmpdir(), 'careledger-local-api-'));
const vault = await Vault.open(dir);
let nextFetch: FetchResult = { ok: false, code: 'ACCESS_NO_CONSENT', message: 'no consent' };
const fetched: string[] = [];
const api = new LocalRecordsApi({
  chainId: CHAIN,
  peerId: PEER,
  chain,
  vault: () => vault,
  fetch: async (request) => {
    fetched.push(toHex(request));
    return nextFetch;
  },
  replay: new LocalAuthReplayCache({ capacity: 100 }),
});
const server = await startRpcServer(new Map(), {
  listen: '127.0.0.1:0',
  maxBodyBytes: 1000,
  maxBatch: 1,
  routes: [api],
});
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

test.after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(5000),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const text = Buffer.from(bytes).toString();
  return { status: res.status, headers: res.headers, bytes, json: () => JSON.parse(text) };
}

const auth = (key = labKey, method = 'PUT', path = blobPath, bodyHash = hash) =>
  signLocalAuth({ chainId: CHAIN, method, path, bodyHash, key });
const put = (header: string | null, path = blobPath, body = envelope) =>
  call(
    'PUT',
    path,
    {
      ...(header === null ? {} : { [LOCAL_AUTH_HEADER]: header }),
      'x-careledger-key-material': Buffer.from(material).toString('base64'),
    },
    body,
  );
const status = async (h = hash) => {
  const path = `/records/blobs/${toHex(h)}/status`;
  const res = await call('GET', path, {
    [LOCAL_AUTH_HEADER]: auth(labKey, 'GET', path, sha256(new Uint8Array(0))),
  });
  assert.is(res.status, 200);
  return res.json().status;
};

test('upload refusals: no auth, another key, a header for another path: nothing stored', async () => {
  const none = await put(null);
  assert.equal([none.status, none.json().code], [401, 'LOCAL_AUTH_REQUIRED']);
  const other = await put(auth(otherKey));
  assert.equal([other.status, other.json().code], [403, 'LOCAL_AUTH_FORBIDDEN']);
  const elsewhere = await put(auth(labKey, 'PUT', '/records/blobs/00'));
  assert.equal([elsewhere.status, elsewhere.json().code], [401, 'LOCAL_AUTH_INVALID']);
  assert.is(await status(), 'unknown');
});

test('bytes that do not hash to the path are refused and nothing is kept', async () => {
  const fake = sha256(Buffer.from('another'));
  const path = `/records/blobs/${toHex(fake)}`;
  const res = await put(auth(labKey, 'PUT', path, fake), path);
  assert.equal([res.status, res.json().code], [400, 'VAULT_HASH_MISMATCH']);
  assert.is(await status(fake), 'unknown');
  assert.is(await status(hash), 'unknown');
});

test("the member's upload is stored pending; the same header again is LOCAL_AUTH_REPLAYED", async () => {
  const header = auth();
  const res = await put(header);
  assert.is(res.status, 201);
  assert.equal(res.json(), { sha256: toHex(hash), size: envelope.length, pending: true });
  assert.is(await status(), 'pending');
  const again = await put(header);
  assert.equal([again.status, again.json().code], [401, 'LOCAL_AUTH_REPLAYED']);
  const read = await vault.read(hash);
  read.stream.destroy();
  assert.is(read.size, envelope.length);
});

test('a refused fetch answers its status and JSON only; a release answers its headers and bytes', async () => {
  nextFetch = { ok: false, code: 'RECORD_ERASED', message: 'erased' };
  const refused = await call('POST', '/records/fetch', {}, Uint8Array.of(1, 2));
  assert.equal([refused.status, refused.json()], [410, { code: 'RECORD_ERASED', message: 'erased' }]);
  assert.is(refused.headers.get('x-careledger-wrapped-key'), null);
  nextFetch = {
    ok: true,
    releaseId: new Uint8Array(32).fill(9),
    accessHeight: 77n,
    wrappedKey: Uint8Array.of(5, 6, 7),
    size: envelope.length,
    body: (async function* () {
      yield envelope.subarray(0, 5);
      yield envelope.subarray(5);
    })(),
    cancel: () => undefined,
  };
  const ok = await call('POST', '/records/fetch', {}, Uint8Array.of(3));
  assert.is(ok.status, 200);
  assert.is(ok.headers.get('x-careledger-release'), toHex(new Uint8Array(32).fill(9)));
  assert.is(ok.headers.get('x-careledger-access-height'), '77');
  assert.is(ok.headers.get('x-careledger-wrapped-key'), Buffer.from([5, 6, 7]).toString('base64'));
  assert.is(toHex(ok.bytes), toHex(envelope));
  assert.equal(fetched, ['0102', '03']);
});

test('a fetch body over 4 KiB is 400 RECORDS_REQUEST_INVALID; an unknown route 404 RECORDS_ROUTE_UNKNOWN', async () => {
  const big = await call('POST', '/records/fetch', {}, new Uint8Array(5000));
  assert.equal([big.status, big.json().code], [400, 'RECORDS_REQUEST_INVALID']);
  const unknown = await call('DELETE', blobPath);
  assert.equal([unknown.status, unknown.json().code], [404, 'RECORDS_ROUTE_UNKNOWN']);
});

test.run();
