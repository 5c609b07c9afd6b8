/**
 * A node that lies about a record's anchor is caught by the light client before the SDK's
 * fetchRecord asks for anything: a real chain served by the real RPC (light-chain.ts) holds the
 * anchor, and the node's abci_query answer for /health/record is rewritten (another ciphertext
 * hash, another size, or "no such record"). Each lie fails with CLIENT_PROOF_INVALID; no output
 * file and no temp file is written, and the node's local API is never called (the audited
 * release is not wasted). Untampered, the same anchor proves and decodes.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HealthClient, rpcTransport } from '../../../../packages/client/health.ts';
import { generateRecordKey } from '../../../../packages/client/keys.ts';
import { LightClient } from '../../../../packages/client/light-client.ts';
import { fetchRecord } from '../../../../packages/client/records.ts';
import { type ClientError, RpcClient } from '../../../../packages/client/rpc.ts';
import { sha256, toHex } from '../../../../packages/crypto/hash.ts';
import { keyBytes, stateKey } from '../../../../packages/health/keys.ts';
import { decodeRecord, encodeRecord, type RecordAnchor } from '../../../../packages/health/model.ts';
import { member } from '../../state/health/fixtures.ts';
import { type Json, startChain } from './light-chain.ts';

const utf8 = new TextEncoder();
const anchor: RecordAnchor = {
  id: `r${'a1'.repeat(16)}`,
  patient: `p${'b2'.repeat(16)}`,
  custodian: 'acme-lab',
  category: 'Observation.laboratory',
  ciphertextHash: sha256(utf8.encode('the anchored ciphertext')),
  commitment: sha256(utf8.encode('the commitment')),
  size: 1234n,
  supersedes: null,
  supersededBy: null,
  anchoredAt: 1n,
  anchoredTime: 1_000n,
  erasure: null,
};

const chain = await startChain([10n, 10n, 10n, 10n], 'anchor-lie');
await chain.commitBlock({ writes: [[keyBytes(stateKey.record(anchor.id)), encodeRecord(anchor)]] });
await chain.commitBlock();
await chain.commitBlock();
const rpc = new RpcClient(chain.url);
const client = () =>
  new HealthClient({
    chainId: chain.genesis.chainId,
    // The test chain's clock is its genesis time plus a second a block: "now" is its last block.
    transport: rpcTransport(
      rpc,
      new LightClient(chain.genesis, rpc, { now: () => Number(chain.chain().lastBlockTime) }),
    ),
    key: member('city-hospital'),
  });
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-anchor-lie-'));
  dirs.push(dir);
  return dir;
};

test.after(async () => {
  await chain.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
/** A query of the latest state waits for the next header: the chain commits one after each query. */
function resetChain(): void {
  chain.reset();
  chain.after('abci_query', async () => {
    await chain.commitBlock();
  });
}
test.before.each(resetChain);

/** Rewrites the /health/record answer's value (base64 of the encoded anchor, or null). */
function lieAboutTheAnchor(value: (real: RecordAnchor) => Uint8Array | null): void {
  chain.tamper('abci_query', (r: Json, params: Json) => {
    if (params.path !== '/health/record') return r;
    const next = value(decodeRecord(Buffer.from(r.response.value, 'base64')));
    r.response.value = next === null ? null : Buffer.from(next).toString('base64');
    return r;
  });
}

async function fetchRefused(): Promise<ClientError> {
  const out = tempDir();
  const temp = tempDir();
  const path = join(out, 'record.json');
  let caught: ClientError | null = null;
  try {
    await fetchRecord(
      { record: anchor.id, purpose: 'TREAT', out: path },
      {
        client: client(),
        nodeUrl: chain.url,
        key: member('city-hospital'),
        recordKey: generateRecordKey(),
        options: { tempDir: temp },
      },
    );
  } catch (err) {
    caught = err as ClientError;
  }
  assert.ok(caught !== null, 'the fetch is refused');
  assert.not.ok(existsSync(path), 'no output file');
  assert.equal(readdirSync(out), []);
  assert.equal(readdirSync(temp), [], 'no temp file');
  return caught;
}

test('untampered, the anchor proves against the verified app hash', async () => {
  const proven = (await client().record(anchor.id)).value;
  assert.ok(proven !== null);
  assert.is(toHex(proven.ciphertextHash), toHex(anchor.ciphertextHash));
  assert.is(proven.size, anchor.size);
  // The fetch gets past the anchor (and fails later: this chain has no members, no local API).
  assert.is.not((await fetchRefused()).code, 'CLIENT_PROOF_INVALID');
});

test('another ciphertext hash in the anchor answer: CLIENT_PROOF_INVALID, nothing written', async () => {
  lieAboutTheAnchor((a) =>
    encodeRecord({ ...a, ciphertextHash: sha256(utf8.encode('a blob the node prefers')) }),
  );
  const err = await fetchRefused();
  assert.is(err.code, 'CLIENT_PROOF_INVALID', err.message);
  assert.match(err.message, /\/health\/record/);
  assert.ok((chain.calls.get('abci_query') ?? 0) >= 1, 'the anchor was asked for');
});

test('another size, or "no such record": CLIENT_PROOF_INVALID, nothing written', async () => {
  lieAboutTheAnchor((a) => encodeRecord({ ...a, size: a.size + 1n }));
  assert.is((await fetchRefused()).code, 'CLIENT_PROOF_INVALID');
  resetChain();
  lieAboutTheAnchor(() => null);
  const err = await fetchRefused();
  assert.is(err.code, 'CLIENT_PROOF_INVALID', 'a claimed absence is refused, not RECORD_UNKNOWN');
});

test.run();
