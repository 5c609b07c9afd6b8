/**
 * The records metrics (node/records/metrics.ts, node/metrics.ts `forRecords`), read back from the
 * node's Prometheus registry under the CometBFT-style namespace: releases and refusals by code
 * from the custodian's answers, BUSY refusals, the replay cache's refusals with the codes a real
 * LocalAuthReplayCache throws, and the vault's stored bytes following uploads, an erase, a sweep
 * and a reopen of a real Vault.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeMetrics } from '../../../../node/metrics.ts';
import { countApiRefusal, countedRelease } from '../../../../node/records/metrics.ts';
import { Vault } from '../../../../node/vault/vault.ts';
import type { RecordAnswer } from '../../../../p2p/record-exchange.ts';
import type { CareLedgerError } from '../../../../packages/core/errors.ts';
import { sha256 } from '../../../../packages/crypto/hash.ts';
import { LocalAuthReplayCache } from '../../../../packages/records/local-auth.ts';

const CHAIN = 'metrics-chain';

/** The value of one series in the registry's text, 0 if absent. */
async function read(
  metrics: NodeMetrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await metrics.registry.metrics();
  const want = { chain_id: CHAIN, ...labels };
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== `cometbft_${name}`) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (
      Object.keys(have).length === Object.keys(want).length &&
      Object.entries(want).every(([k, v]) => have[k] === v)
    )
      return Number(m[3]);
  }
  return 0;
}

const refusal = (code: string): RecordAnswer => ({ ok: false, code, message: code });
const release: RecordAnswer = {
  ok: true,
  releaseId: new Uint8Array(32),
  accessHeight: 5n,
  wrappedKey: new Uint8Array(8),
  size: 3,
  body: [new Uint8Array(3)],
  discard: () => undefined,
} as unknown as RecordAnswer;

test('releases, refusals by code and BUSY refusals of the custodian', async () => {
  const metrics = new NodeMetrics('cometbft', CHAIN);
  const answers = [
    release,
    refusal('ACCESS_NO_CONSENT'),
    refusal('ACCESS_NO_CONSENT'),
    refusal('RELEASE_BUSY'),
    release,
  ];
  const served = countedRelease(metrics.forRecords(), async () => answers.shift()!);
  for (let i = 0; i < 5; i++) await served(new Uint8Array(0), 'peer');
  assert.is(await read(metrics, 'records_releases_total'), 2);
  assert.is(await read(metrics, 'records_release_refusals_total', { code: 'ACCESS_NO_CONSENT' }), 2);
  assert.is(await read(metrics, 'records_release_refusals_total', { code: 'RELEASE_BUSY' }), 1);
  assert.is(await read(metrics, 'records_busy_refusals_total', { code: 'RELEASE_BUSY' }), 1);
  metrics.forRecords().busy('BUSY'); // what the exchange reports for a request over its in-flight bound
  assert.is(await read(metrics, 'records_busy_refusals_total', { code: 'BUSY' }), 1);
  // Without metrics, nothing breaks.
  assert.is((await countedRelease(null, async () => release)(new Uint8Array(0), 'peer')).ok, true);
});

test("the replay cache's refusals, with the codes a real cache throws", async () => {
  const metrics = new NodeMetrics('cometbft', CHAIN);
  const m = metrics.forRecords();
  const cache = new LocalAuthReplayCache({ capacity: 1 });
  const auth = (n: number) => ({
    signerPubKey: new Uint8Array(32),
    timeMs: 1000,
    nonce: new Uint8Array(16).fill(n),
  });
  const codeOf = (fn: () => void): string => {
    try {
      fn();
    } catch (err) {
      return (err as CareLedgerError).code;
    }
    return 'accepted';
  };
  assert.is(
    codeOf(() => cache.check(auth(1), 1000)),
    'accepted',
  );
  for (const code of [codeOf(() => cache.check(auth(1), 1000)), codeOf(() => cache.check(auth(2), 1000))])
    countApiRefusal(m, code);
  countApiRefusal(m, 'ACCESS_NO_CONSENT');
  assert.is(await read(metrics, 'records_replay_refusals_total', { reason: 'replayed' }), 1);
  assert.is(await read(metrics, 'records_replay_refusals_total', { reason: 'full' }), 1);
  assert.is(await read(metrics, 'records_busy_refusals_total', { code: 'LOCAL_AUTH_BUSY' }), 1);
  assert.is(await read(metrics, 'records_api_refusals_total', { code: 'LOCAL_AUTH_REPLAYED' }), 1);
  assert.is(await read(metrics, 'records_api_refusals_total', { code: 'ACCESS_NO_CONSENT' }), 1);
});

test('vault bytes follow uploads, an erase, a sweep and a reopen', async () => {
  const home = mkdtempSync(join(tmpdir(), 'careledger-records-metrics-'));
  const clock = { now: 1_000_000 };
  try {
    const metrics = new NodeMetrics('cometbft', CHAIN);
    let vault = await Vault.open(home, { pendingTtlMs: 1000, now: () => clock.now });
    metrics.forRecords().watchVault(() => vault.storedBytes);
    const put = async (bytes: number, fill: number) => {
      const body = new Uint8Array(bytes).fill(fill);
      await vault.upload(
        (async function* () {
          yield body;
        })(),
        { dataKey: sha256(body), salt: new Uint8Array(16) },
      );
      return sha256(body);
    };
    assert.is(await read(metrics, 'records_vault_bytes'), 0);
    const a = await put(1000, 1);
    const b = await put(2500, 2);
    await put(2500, 2); // the same bytes again: stored once
    assert.is(await read(metrics, 'records_vault_bytes'), 3500);
    await vault.confirm(b);
    await vault.erase(a);
    assert.is(await read(metrics, 'records_vault_bytes'), 2500);
    const c = await put(400, 3);
    clock.now += 5000;
    assert.equal((await vault.sweep()).length, 1, 'the unanchored upload is swept');
    assert.is(await vault.status(c), 'unknown');
    assert.is(await read(metrics, 'records_vault_bytes'), 2500);
    vault = await Vault.open(home);
    assert.is(vault.storedBytes, 2500, 'summed again at open');
    assert.is(await read(metrics, 'records_vault_bytes'), 2500);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
