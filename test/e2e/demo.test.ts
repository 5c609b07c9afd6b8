/**
 * `npm run demo` on a real local consortium (4 processes on the ports of `npm start`, homes in a
 * temp folder): it starts the nodes itself, walks the nine steps of the seed's journey, exits 0
 * saying each behaved as narrated, and stops what it started. Needs the node's records service
 * (local API and exchange protocol) as well as the SDK.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const demo = join(import.meta.dirname, '..', '..', 'node', 'demo.ts');
const RPC_PORTS = [26657, 26667, 26677, 26687];

function run(env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [demo], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGINT'), 240_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function answers(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

test('npm run demo walks the journey on a consortium it starts, and stops it', async () => {
  for (const port of RPC_PORTS) assert.not.ok(await answers(port), `port ${port} is already in use`);
  const homes = mkdtempSync(join(tmpdir(), 'careledger-demo-e2e-'));
  try {
    const r = await run({ ...process.env, CARELEDGER_LOCALNET: homes });
    assert.is(r.code, 0, r.out);
    assert.match(r.out, 'Starting 4 node(s) of the local consortium');
    for (let step = 1; step <= 9; step++)
      assert.match(r.out, new RegExp(`^${step}\\. `, 'm'), `step ${step}`);
    assert.match(r.out, /Record r[0-9a-f]{32} is anchored at height \d+/);
    assert.match(r.out, /recorded access event a[0-9a-f]{32}\n\s+at height \d+/);
    assert.match(r.out, '(CLAIM_DUPLICATE)');
    assert.match(r.out, '(ACCESS_CONSENT_REVOKED)');
    assert.match(r.out, '(RECORD_ERASED)');
    assert.match(r.out, 'Every step behaved as narrated.');
    for (const port of RPC_PORTS) assert.not.ok(await answers(port), `the node on ${port} was stopped`);
  } finally {
    rmSync(homes, { recursive: true, force: true });
  }
});

test.run();
