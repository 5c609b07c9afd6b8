/**
 * `npm run chaos -- [--scenario NAME[,NAME…]] [--seed S] [--duration S]`: fault injection on a
 * real consortium of node processes. Per scenario: a fresh 4-validator kvstore consortium, a
 * steady load that records every acknowledgement, the scenario's faults for --duration seconds
 * (choices from --seed), healing, then the checks of checks.ts. One line per scenario, a failure
 * with the command that reproduces it, and a last line `N passed, N failed` (exit 1 on a failure).
 *
 * Needs root for the network namespaces of `partition`, and Debian's `faketime` for `clock-skew`
 * (installed with apt-get when missing and root).
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Consortium } from '../e2e/harness.ts';
import { chainFacts, noAckLost } from './checks.ts';
import { AckLoad } from './load.ts';
import { NetworkLab } from './netns.ts';
import { Prng } from './prng.ts';
import { SCENARIOS, type Scenario, scenarioNamed, validatorSlot } from './scenarios.ts';

const usage = `Usage: npm run chaos -- [--scenario NAME[,NAME…]] [--seed S] [--duration S] [--verbose]

Runs fault scenarios against a real 4-validator consortium of node processes and checks, after
the faults heal, that every node recovers to the same height and commits again, that all nodes
hold the same block at every height, and that every tx acknowledged as committed is in the chain
exactly once. Scenarios (default: all):
${SCENARIOS.map((s) => `  ${s.name.padEnd(16)}${s.summary}`).join('\n')}

Options:
  --scenario NAMES  comma-separated scenario names
  --seed S          seed of every fault choice (default 1); a failure prints the one to reuse
  --duration S      seconds of faults per scenario (default 20)
  --verbose         print each fault as it is injected
  -h, --help        show this help
`;

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    seed: { type: 'string', default: '1' },
    duration: { type: 'string', default: '20' },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help === true) {
  process.stdout.write(usage);
  process.exit(0);
}
const seed = Number(values.seed);
const duration = Number(values.duration);
if (!Number.isSafeInteger(seed) || seed < 0 || !(duration > 0 && duration <= 3600)) {
  process.stderr.write(`chaos: --seed is a whole number and --duration 1 to 3600 seconds\n\n${usage}`);
  process.exit(2);
}
const chosen: Scenario[] = [];
for (const name of values.scenario?.split(',') ?? SCENARIOS.map((s) => s.name)) {
  const scenario = scenarioNamed(name.trim());
  if (scenario === undefined) {
    process.stderr.write(`chaos: no scenario "${name}"\n\n${usage}`);
    process.exit(2);
  }
  chosen.push(scenario);
}

function ensureFaketime(): void {
  if (spawnSync('sh', ['-c', 'command -v faketime']).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error('faketime is missing: install Debian\'s "faketime" package');
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'faketime'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      encoding: 'utf8',
    });
  if (install().status !== 0) {
    spawnSync('apt-get', ['update'], { encoding: 'utf8' });
    if (install().status !== 0) throw new Error('apt-get install faketime failed');
  }
}

async function runScenario(scenario: Scenario, k: number): Promise<string> {
  const basePort = 25656 + 100 * k;
  const lab = scenario.netns === true ? new NetworkLab(scenario.validators) : null;
  if (scenario.faketime === true) ensureFaketime();
  if (lab !== null) {
    if (process.getuid?.() !== 0) throw new Error('network namespaces need root');
    lab.setUp();
  }
  const net = Consortium.create({
    validators: scenario.validators,
    basePort,
    ...(lab === null ? {} : { hostnames: Array.from({ length: lab.size }, (_, i) => lab.address(i)) }),
  });
  const nodes = scenario.honest ?? net.homes.map((_, i) => i);
  const prng = new Prng(seed * 1000 + k);
  const load = new AckLoad(net, prng, seed);
  try {
    if (lab !== null) for (const i of nodes) net.wrap(i, lab.wrapper(i));
    for (const i of nodes) net.start(i);
    await Promise.all(nodes.map((i) => net.waitForHeight(i, 2n, 60_000)));
    load.start();
    await scenario.inject({
      net,
      prng,
      durationMs: duration * 1000,
      lab,
      sparePort: basePort + 41,
      say: (what) => {
        if (values.verbose === true) process.stdout.write(`  [${scenario.name}] ${what}\n`);
      },
    });
    lab?.heal();
    await load.stop();
    // Recovery: every node restarted if down, then all at one height two past the highest seen.
    const height = await net.ensureLive(nodes, 90_000, 2n);
    const facts = await chainFacts(net, nodes, height);
    noAckLost(load.acks, facts);
    const expected = new Set<string>();
    if (scenario.equivocator !== undefined) expected.add(validatorSlot(net, scenario.equivocator).address);
    const caught = [...facts.equivocators].sort();
    if (caught.join() !== [...expected].sort().join())
      throw new Error(`evidence: committed against [${caught}], expected [${[...expected]}]`);
    return `${load.acks.length} of ${load.sent} txs acknowledged and found once each; ${nodes.length} nodes agree on ${height} blocks${expected.size > 0 ? '; the equivocation is in a block' : ''}`;
  } finally {
    await load.stop();
    await net.destroy();
    lab?.tearDown();
  }
}

let passed = 0;
let failed = 0;
for (const [k, scenario] of SCENARIOS.entries()) {
  if (!chosen.includes(scenario)) continue;
  const started = Date.now();
  const took = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  try {
    const summary = await runScenario(scenario, k);
    passed++;
    process.stdout.write(`PASS ${scenario.name} (seed ${seed}, ${took()}): ${summary}\n`);
  } catch (err) {
    failed++;
    process.stdout.write(
      `FAIL ${scenario.name} (seed ${seed}, ${took()}): ${(err as Error).message}\n` +
        `  reproduce: npm run chaos -- --scenario ${scenario.name} --seed ${seed} --duration ${duration}\n`,
    );
  }
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
