/**
 * The operators' monitoring shipped in node/monitoring/, run for real: promtool checks the
 * scrape config and runs the alert rules' unit tests (alerts.test.yml: each alert fires on the
 * series it should and stays silent on one it should not); then a real Prometheus, with the
 * shipped prometheus.yml (only its addresses and intervals changed) and alerts.yml, scrapes a
 * running 4-node consortium: every target is up and the nodes' series arrive, and after one node
 * is killed the CareLedgerNodeDown alert fires for that node and no other.
 *
 * Prometheus is Debian's `prometheus` package (with promtool); when it is missing, this test
 * installs it with apt-get (as root, as CI runs) and fails with what to install otherwise.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Consortium } from './harness.ts';

const root = join(import.meta.dirname, '..', '..');
const shipped = join(root, 'node', 'monitoring');
const BASE_PORT = 23656;
// Above the consortium's ports (node 3 uses 23686..23690).
const PROMETHEUS_PORT = 23699;
const net = Consortium.create({ validators: 4, basePort: BASE_PORT });
const metricsAddress = (i: number) => `127.0.0.1:${BASE_PORT + 10 * i + 4}`;
const work = mkdtempSync(join(tmpdir(), 'careledger-prometheus-'));
let prometheus: ChildProcess | null = null;

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

function ensurePrometheus(): void {
  if (has('prometheus') && has('promtool')) return;
  if (process.getuid?.() !== 0)
    throw new Error('prometheus and promtool are missing: install Debian\'s "prometheus" package');
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      encoding: 'utf8',
    });
  let result = install();
  if (result.status !== 0) {
    spawnSync('apt-get', ['update'], { encoding: 'utf8' });
    result = install();
  }
  assert.is(result.status, 0, `apt-get install prometheus failed:\n${result.stderr}`);
}

/** GET a Prometheus API path; its `data`. */
async function api<T>(path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${PROMETHEUS_PORT}${path}`, {
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as { status: string; data: T };
  assert.is(body.status, 'success', path);
  return body.data;
}

/** Polls `check` every 250 ms until it returns a value, or fails naming `what` at the deadline. */
async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== null) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last === null ? '' : ` (last error: ${last})`}`);
}

test.before(async () => {
  ensurePrometheus();
  net.startAll();
  for (let i = 0; i < 4; i++) await net.waitForHeight(i, 2n, 60_000);
});

test.after(async () => {
  prometheus?.kill('SIGKILL');
  await net.destroy();
  rmSync(work, { recursive: true, force: true });
});

test('promtool accepts the shipped config and rules, and the alert rules pass their unit tests', () => {
  const config = execFileSync('promtool', ['check', 'config', join(shipped, 'prometheus.yml')], {
    encoding: 'utf8',
  });
  assert.match(config, /5 rules found/);
  const rules = spawnSync('promtool', ['test', 'rules', join(shipped, 'alerts.test.yml')], {
    encoding: 'utf8',
  });
  assert.is(rules.status, 0, rules.stdout + rules.stderr);
  assert.match(rules.stdout, /SUCCESS/);
});

test('a real Prometheus scrapes every node, and killing one fires CareLedgerNodeDown for it alone', async () => {
  // The shipped file with this consortium's addresses, scraping and evaluating every second.
  let config = readFileSync(join(shipped, 'prometheus.yml'), 'utf8')
    .replace('scrape_interval: 5s', 'scrape_interval: 1s')
    .replace('evaluation_interval: 5s', 'evaluation_interval: 1s');
  for (let i = 0; i < 4; i++) config = config.replace(`127.0.0.1:${26660 + 10 * i}`, metricsAddress(i));
  for (let i = 0; i < 4; i++)
    assert.ok(config.includes(metricsAddress(i)), 'the shipped targets were replaced');
  writeFileSync(join(work, 'prometheus.yml'), config);
  writeFileSync(join(work, 'alerts.yml'), readFileSync(join(shipped, 'alerts.yml')));
  let log = '';
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${join(work, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(work, 'data')}`,
      `--web.listen-address=127.0.0.1:${PROMETHEUS_PORT}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prometheus.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });

  type Target = { labels: Record<string, string>; health: string };
  const targets = await eventually('all four targets up', 30_000, async () => {
    const data = await api<{ activeTargets: Target[] }>('/api/v1/targets');
    const up = data.activeTargets.filter((t) => t.health === 'up');
    return up.length === 4 ? data.activeTargets : null;
  }).catch((err: Error) => {
    throw new Error(`${err.message}\nprometheus log:\n${log}`);
  });
  assert.equal(targets.map((t) => t.labels.instance).sort(), [0, 1, 2, 3].map(metricsAddress).sort());
  assert.equal(targets.map((t) => t.labels.member).sort(), ['clinic', 'hospital', 'insurer', 'lab']);

  type Sample = { metric: Record<string, string>; value: [number, string] };
  const heights = await eventually('each node reports its height', 15_000, async () => {
    const result = await api<{ result: Sample[] }>('/api/v1/query?query=cometbft_consensus_height');
    return result.result.length === 4 ? result.result : null;
  });
  for (const sample of heights) {
    assert.is(sample.metric.chain_id, net.chainId);
    assert.ok(Number(sample.value[1]) >= 2, `height ${sample.value[1]}`);
  }

  await net.stop(3, 'SIGKILL');
  type Alert = { labels: Record<string, string>; state: string };
  const firing = await eventually('CareLedgerNodeDown firing', 60_000, async () => {
    const data = await api<{ alerts: Alert[] }>('/api/v1/alerts');
    const down = data.alerts.filter(
      (a) => a.labels.alertname === 'CareLedgerNodeDown' && a.state === 'firing',
    );
    return down.length > 0 ? down : null;
  });
  assert.equal(
    firing.map((a) => a.labels.instance),
    [metricsAddress(3)],
  );
  assert.is(firing[0]!.labels.member, 'insurer');
  assert.is(firing[0]!.labels.severity, 'critical');
});

test.run();
