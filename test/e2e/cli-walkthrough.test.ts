/**
 * The CLI README's walkthrough (packages/cli/README.md, between the walkthrough markers), run as
 * written by bash against a consortium of four health nodes named as `npm start` names them
 * (hospital, clinic, lab, insurer), with `careledger` on the PATH as the top-level README says
 * (node/bin.ts). The consortium runs on its own ports (29656…) and the walkthrough reaches it
 * through CARELEDGER_NODE, so it never touches a real `npm start`; `localnet` in its folder links
 * to the consortium's homes, so the block's key paths are the ones `npm start` writes.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Consortium } from './harness.ts';

const root = join(import.meta.dirname, '..', '..');
const net = Consortium.create({
  validators: 4,
  basePort: 29656,
  app: 'health',
  names: ['hospital', 'clinic', 'lab', 'insurer'],
});

/** The shell lines of the README's walkthrough block. */
function walkthrough(): string {
  const readme = readFileSync(join(root, 'packages', 'cli', 'README.md'), 'utf8');
  const m = /<!-- walkthrough:start -->\n```sh\n([\s\S]*?)```\n<!-- walkthrough:end -->/.exec(readme);
  if (m === null) throw new Error('packages/cli/README.md has no walkthrough block');
  return m[1]!;
}

test.after(async () => {
  await net.destroy();
});

test('the CLI README walkthrough runs as written against a consortium', async () => {
  const work = mkdtempSync(join(tmpdir(), 'careledger-walkthrough-'));
  try {
    net.startAll();
    await net.waitForHeight(0, 2n, 60_000);
    symlinkSync(net.dir, join(work, 'localnet'));
    // `careledger` on the PATH, as an operator's link to node/bin.ts.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'careledger'),
      `#!/bin/sh\nexec "${process.execPath}" "${join(root, 'node', 'bin.ts')}" "$@"\n`,
    );
    chmodSync(join(bin, 'careledger'), 0o755);
    const script = walkthrough();
    const r = spawnSync('bash', ['-euo', 'pipefail', '-x', '-c', script], {
      cwd: work,
      encoding: 'utf8',
      timeout: 240_000,
      env: {
        ...process.env,
        PATH: `${bin}:${join(root, 'node_modules', '.bin')}:${process.env.PATH}`,
        XDG_CONFIG_HOME: join(work, 'config'),
        XDG_CACHE_HOME: join(work, 'cache'),
        CARELEDGER_NODE: net.rpcs[0]!,
        CARELEDGER_GENESIS: undefined,
        CARELEDGER_KEY: undefined,
      },
    });
    assert.is(r.status, 0, `the walkthrough failed:\n${r.stderr.split('\n').slice(-15).join('\n')}`);
    // What the walkthrough did is on chain and in its files.
    assert.match(r.stdout, /^c[0-9a-f]{32} {2}permit hospital {2}read for TREAT on Observation$/m);
    assert.match(
      r.stdout,
      / clinic for p[0-9a-f]{32} {2}PATIENT_UNCONSCIOUS {2}until \S+ {2}ACTIVE {2}1 disclosure$/m,
    );
    const csv = readFileSync(join(work, 'accounting.csv'), 'utf8').trim().split('\n');
    assert.is(csv.length, 3, csv.join('\n'));
    assert.match(csv[1]!, /,lab,hospital,TREAT,read,r[0-9a-f]{32},c[0-9a-f]{32},,,\d+$/);
    assert.match(csv[2]!, /,lab,clinic,ETREAT,read,r[0-9a-f]{32},,b[0-9a-f]{32},,\d+$/);
    assert.match(r.stdout, /^status\s+superseded$/m);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();
