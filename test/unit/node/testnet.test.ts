/**
 * node/testnet.ts: the listen addresses of multi-host homes. P2P on the host's IP (every
 * interface for a DNS name), RPC and metrics on loopback whatever the host, and each node
 * dialling the others at their hostnames. Roles guessed from name prefixes; a refused testnet
 * writes nothing, and one that fails part way takes back what it wrote.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadHome } from '../../../node/home.ts';
import { createTestnet, roleFromName } from '../../../node/testnet.ts';
import { loadRecordKeyFile, recordKeyPathFor } from '../../../packages/client/keys.ts';
import { parseHealthAppState } from '../../../packages/health/genesis.ts';
import { throwsCode } from '../packages/fixtures.ts';

test('multi-host homes: P2P on the host, RPC and metrics on loopback, peers at their hostnames', () => {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-testnet-unit-'));
  try {
    const homes = createTestnet({
      validators: 3,
      output: dir,
      hostnames: ['10.1.2.3', 'lab.example.org', '2001:db8::7'],
      chainId: 'testnet-unit',
      app: 'kvstore',
    });
    const configs = homes.map((h) => loadHome(h).config);
    assert.equal(
      configs.map((c) => c.p2p.listen),
      ['/ip4/10.1.2.3/tcp/26656', '/ip4/0.0.0.0/tcp/26656', '/ip6/2001:db8::7/tcp/26656'],
    );
    for (const c of configs) {
      assert.is(c.rpc.listen, '127.0.0.1:26657');
      assert.is(c.instrumentation.prometheusListen, '127.0.0.1:26660');
    }
    assert.equal(
      configs[0]!.p2p.persistentPeers.map((p) => p.replace(/\/p2p\/.*$/, '')),
      ['/dns4/lab.example.org/tcp/26656', '/ip6/2001:db8::7/tcp/26656'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the default role is from the start of the name, whatever its case', () => {
  const names = [
    'Hospital',
    'LabCorp',
    'Insurer',
    'collaborative',
    'research-1',
    'payer-x',
    'PAYER',
    'node0',
  ];
  assert.equal(names.map(roleFromName), [
    'provider',
    'lab',
    'payer',
    'provider',
    'research',
    'payer',
    'payer',
    'provider',
  ]);
});

test('a home that already holds keys refuses the testnet before any other home is written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-testnet-unit-'));
  try {
    createTestnet({ validators: 1, output: join(dir, 'node1'), flat: true });
    throwsCode(() => createTestnet({ validators: 3, output: dir }), 'HOME_EXISTS');
    assert.not.ok(existsSync(join(dir, 'node0')), 'node0 was not written');
    assert.not.ok(existsSync(join(dir, 'node2')), 'node2 was not written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a home that cannot be written takes back the homes written before it, so a second try works', () => {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-testnet-unit-'));
  try {
    mkdirSync(join(dir, 'node0', 'config'), { recursive: true });
    writeFileSync(join(dir, 'node0', 'notes.txt'), "the operator's\n");
    writeFileSync(join(dir, 'node0', 'config', 'genesis.json'), '{}');
    writeFileSync(join(dir, 'node2'), 'a file where node2 goes');
    throwsCode(() => createTestnet({ validators: 3, output: dir }), 'HOME_WRITE_FAILED');
    assert.equal(
      readdirSync(join(dir, 'node0')).sort(),
      ['config', 'notes.txt'],
      'node0: what was there before',
    );
    assert.equal(
      readdirSync(join(dir, 'node0', 'config')),
      ['genesis.json'],
      'a file it found is not removed',
    );
    assert.not.ok(existsSync(join(dir, 'node1')), 'node1 was taken back');
    rmSync(join(dir, 'node2'));
    rmSync(join(dir, 'node0', 'config'), { recursive: true });
    assert.is(createTestnet({ validators: 3, output: dir }).length, 3);
    assert.ok(existsSync(join(dir, 'node2', 'config', 'priv_validator_key.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every member gets an X25519 record key: the secret in a 0600 file beside its member key, the public key in genesis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-testnet-unit-'));
  try {
    const homes = createTestnet({ validators: 3, output: dir, chainId: 'testnet-records' });
    const genesis = JSON.parse(readFileSync(join(homes[0]!, 'config', 'genesis.json'), 'utf8'));
    const members = genesis.app_state.members as { id: string; record_key?: string }[];
    const seen = new Set<string>();
    homes.forEach((home, i) => {
      const path = recordKeyPathFor(join(home, 'config', 'member_key.json'));
      assert.is(path, join(home, 'config', 'member_record_key.json'));
      assert.is(statSync(path).mode & 0o777, 0o600);
      const pair = loadRecordKeyFile(path);
      assert.is(members[i]!.record_key, Buffer.from(pair.publicKey).toString('base64'), `node${i}`);
      assert.not.ok(
        JSON.stringify(genesis).includes(Buffer.from(pair.secretKey).toString('base64')),
        'no secret in genesis',
      );
      seen.add(members[i]!.record_key!);
    });
    assert.is(seen.size, 3, 'one key per member');
    // And the genesis the nodes start from holds them as member record keys.
    const state = parseHealthAppState(genesis.app_state);
    assert.equal(
      state.members.map((m) => Buffer.from(m.recordKey!).toString('base64')),
      members.map((m) => m.record_key),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
