/**
 * The health application in the node's genesis: `app_state` carried through genesis.json, the
 * `proxy_app` config key, `testnet` making each node's institution a founding member with its
 * own key file, and the genesis handshake (node/app.ts) over a real LevelDB for both apps:
 * the chain state and the application agree on the genesis app hash, and reopening keeps it.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initChain, openApplication } from '../../../node/app.ts';
import { configToJson, defaultConfig, parseConfig } from '../../../node/config.ts';
import { loadHome } from '../../../node/home.ts';
import { createTestnet, memberIdFromName, roleFromName } from '../../../node/testnet.ts';
import { loadKeyFile } from '../../../packages/client/keys.ts';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { equalBytes } from '../../../packages/crypto/hash.ts';
import { parseHealthAppState } from '../../../packages/health/genesis.ts';
import { genesisToJson, parseGenesisJson } from '../../../packages/types/genesis.ts';
import { BlockStore } from '../../../state/block-store.ts';
import { openDb } from '../../../state/db.ts';
import { rejectsCode } from '../packages/fixtures.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-genesis-app-'));
  dirs.push(dir);
  return dir;
}
test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof CareLedgerError ? err.code : `not a CareLedgerError: ${(err as Error).message}`;
  }
  return 'no error';
}

test('proxy_app defaults to health, accepts kvstore, refuses anything else', () => {
  assert.is(parseConfig('{}').proxyApp, 'health');
  assert.is(parseConfig('{"proxy_app":"kvstore"}').proxyApp, 'kvstore');
  assert.is(
    codeOf(() => parseConfig('{"proxy_app":"bank"}')),
    'CONFIG_INVALID',
  );
  assert.is(
    codeOf(() => parseConfig('{"proxy_app":7}')),
    'CONFIG_INVALID',
  );
  const written = parseConfig(configToJson({ ...defaultConfig('n'), proxyApp: 'kvstore' }));
  assert.is(written.proxyApp, 'kvstore');
});

test('member ids and roles from node names', () => {
  assert.is(memberIdFromName('hospital'), 'hospital');
  assert.is(memberIdFromName('City_Hospital.1'), 'city-hospital-1');
  assert.is(memberIdFromName('9lab'), 'm-9lab');
  assert.is(memberIdFromName('x'.repeat(60)).length, 40);
  assert.is(roleFromName('lab'), 'lab');
  assert.is(roleFromName('insurer'), 'payer');
  assert.is(roleFromName('research-1'), 'research');
  assert.is(roleFromName('clinic'), 'provider');
});

test('testnet: every institution is a genesis member whose key file matches app_state', () => {
  const dir = tempDir();
  const homes = createTestnet({
    validators: 4,
    output: dir,
    names: ['hospital', 'clinic', 'lab', 'insurer'],
    basePort: 40100,
  });
  const genesisText = readFileSync(join(homes[0]!, 'config', 'genesis.json'), 'utf8');
  const appState = parseHealthAppState(parseGenesisJson(genesisText).appState);
  assert.equal(
    appState.members.map((m) => [m.id, m.roles]),
    [
      ['hospital', ['provider']],
      ['clinic', ['provider']],
      ['lab', ['lab']],
      ['insurer', ['payer']],
    ],
  );
  for (const [i, home] of homes.entries()) {
    assert.is(readFileSync(join(home, 'config', 'genesis.json'), 'utf8'), genesisText, 'one genesis');
    const path = loadHome(home).paths.memberKey;
    assert.is(statSync(path).mode & 0o777, 0o600, 'member key is private');
    const key = loadKeyFile(path);
    assert.is(JSON.parse(readFileSync(path, 'utf8')).member_id, appState.members[i]!.id);
    assert.ok(equalBytes(key.publicKey, appState.members[i]!.pubKey), `node${i}'s key is its member's`);
    assert.is(loadHome(home).config.proxyApp, 'health');
  }
});

test('testnet refuses roles that do not fit', () => {
  const run = (opts: { roles?: string[]; names?: string[] }) =>
    codeOf(() => createTestnet({ validators: 2, output: tempDir(), basePort: 40200, ...opts }));
  assert.is(run({ roles: ['provider'] }), 'TESTNET_INVALID');
  assert.is(run({ roles: ['provider', 'pharmacist'] }), 'TESTNET_INVALID');
  assert.is(run({ names: ['Lab', 'lab'] }), 'TESTNET_INVALID');
  assert.is(run({ roles: ['payer', 'lab'] }), 'no error');
});

test('genesis app_state survives genesis.json and is absent when not given', () => {
  const dir = tempDir();
  const [home] = createTestnet({ validators: 1, output: dir, basePort: 40300, flat: true });
  const genesis = loadHome(home!).genesis;
  assert.equal(parseGenesisJson(genesisToJson(genesis)).appState, genesis.appState);
  const { appState: _, ...bare } = genesis;
  assert.is(parseGenesisJson(genesisToJson(bare)).appState, undefined);
  const huge = { ...JSON.parse(genesisToJson(bare)), app_state: { pad: 'x'.repeat(5 * 1024 * 1024) } };
  assert.is(
    codeOf(() => parseGenesisJson(JSON.stringify(huge))),
    'GENESIS_INVALID',
  );
});

for (const app of ['health', 'kvstore'] as const) {
  test(`genesis handshake (${app}): chain state and app agree, and reopening keeps them`, async () => {
    const dir = tempDir();
    const [homeDir] = createTestnet({ validators: 1, output: dir, basePort: 40400, flat: true, app });
    const home = loadHome(homeDir!);
    const db = await openDb(home.paths.db);
    const blocks = await BlockStore.open(db);
    const application = await openApplication(app, db);
    const chain = await initChain(home.genesis, db, blocks, application);
    assert.ok(equalBytes(chain.appHash, application.info().appHash));
    assert.is(application.info().lastHeight, 0n);
    await db.close();

    const again = await openDb(home.paths.db);
    const reopened = await openApplication(app, again);
    const stored = await (await BlockStore.open(again)).chainState();
    assert.ok(stored !== null && equalBytes(stored.appHash, chain.appHash));
    assert.ok(equalBytes(reopened.info().appHash, chain.appHash));
    await again.close();
  });
}

test('a health node refuses a genesis without app_state, with the app code', async () => {
  const dir = tempDir();
  const [homeDir] = createTestnet({ validators: 1, output: dir, basePort: 40500, flat: true });
  const home = loadHome(homeDir!);
  const { appState: _, ...bare } = home.genesis;
  const db = await openDb(home.paths.db);
  try {
    const app = await openApplication('health', db);
    await rejectsCode(initChain(bare, db, await BlockStore.open(db), app), 'HEALTH_GENESIS_INVALID');
    assert.is(await (await BlockStore.open(db)).chainState(), null, 'nothing written');
  } finally {
    await db.close();
  }
});

test('a kvstore node refuses a chain that starts above height 1, before writing anything', async () => {
  const dir = tempDir();
  const [homeDir] = createTestnet({
    validators: 1,
    output: dir,
    basePort: 40550,
    flat: true,
    app: 'kvstore',
  });
  const home = loadHome(homeDir!);
  const db = await openDb(home.paths.db);
  try {
    const app = await openApplication('kvstore', db);
    const later = { ...home.genesis, initialHeight: 5n };
    await rejectsCode(initChain(later, db, await BlockStore.open(db), app), 'KVSTORE_INITIAL_HEIGHT');
    assert.is(await (await BlockStore.open(db)).chainState(), null, 'nothing written');
  } finally {
    await db.close();
  }
});

test.run();
