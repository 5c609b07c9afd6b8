/**
 * node/records/vault-sync.ts over a real Vault in a temp folder and a stub chain: a committed
 * anchor with this node's member as custodian confirms its upload; one of another custodian, or
 * a failed tx, changes nothing; a committed erase shreds the record (status erased, read refused);
 * an anchor of a blob this node does not hold is only logged; the sweep timer removes uploads
 * never anchored once a block's time (not the wall clock) is past their TTL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Logger } from '../../../../node/log.ts';
import type { RecordsChain } from '../../../../node/records/chain-view.ts';
import { VaultSync } from '../../../../node/records/vault-sync.ts';
import { Vault } from '../../../../node/vault/vault.ts';
import { sha256 } from '../../../../packages/crypto/hash.ts';
import type { Member, RecordAnchor } from '../../../../packages/health/model.ts';
import type { AppEvent, ExecTxResult } from '../../../../state/application.ts';
import { rejectsCode } from '../../packages/fixtures.ts';
import { blockAt } from '../../state/health/fixtures.ts';

const PEER = 'lab-node';
const lab = { id: 'lab', active: true, nodes: [PEER] } as unknown as Member;
const records = new Map<string, Uint8Array>();
const chain = {
  memberOfNode: async (peer: string) => (peer === PEER ? lab : null),
  record: async (id: string) => {
    const hash = records.get(id);
    return hash === undefined ? null : ({ id, ciphertextHash: hash } as unknown as RecordAnchor);
  },
} as unknown as RecordsChain;
const logged: string[] = [];
const log: Logger = {
  debug: (m) => logged.push(m),
  info: (m) => logged.push(m),
  warn: (m) => logged.push(m),
  error: (m) => logged.push(`ERROR ${m}`),
  child: () => log,
};

function event(type: string, record: string, custodian: string): AppEvent {
  return {
    type: `health.record.${type}`,
    attributes: [
      { key: 'record', value: record, index: true },
      { key: 'custodian', value: custodian, index: true },
    ],
  };
}

function result(events: AppEvent[], code = 0): ExecTxResult {
  return { code, codespace: code === 0 ? '' : 'X', log: '', events };
}

async function withVault(fn: (vault: Vault, sync: VaultSync, clock: { now: number }) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-vault-sync-'));
  const clock = { now: 1_000_000 };
  const vault = await Vault.open(dir, { pendingTtlMs: 1000, now: () => clock.now });
  const blocks = { lastHeight: () => 1n, results: async () => null, time: async () => null };
  const sync = new VaultSync({ vault, chain, blocks, peerId: PEER, log, sweepIntervalMs: 20 });
  try {
    await fn(vault, sync, clock);
  } finally {
    await sync.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function store(vault: Vault, id: string, text: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(Buffer.from(text));
  const { sha256: hash } = await vault.upload(
    (async function* () {
      yield bytes;
    })(),
    { dataKey: sha256(bytes), salt: new Uint8Array(16) },
  );
  records.set(id, hash);
  return hash;
}

const commit = (sync: VaultSync, results: ExecTxResult[]) => {
  sync.onBlock(blockAt(1n, 1n), { txResults: results, events: [] }, undefined as never);
  return sync.settled();
};

test("anchors of this member confirm; another custodian's or a failed tx's change nothing", async () => {
  await withVault(async (vault, sync) => {
    const mine = await store(vault, 'r1', 'mine');
    const theirs = await store(vault, 'r2', 'theirs');
    const failed = await store(vault, 'r3', 'failed');
    await commit(sync, [
      result([event('anchored', 'r1', 'lab')]),
      result([event('anchored', 'r2', 'clinic')]),
      result([event('anchored', 'r3', 'lab')], 5),
    ]);
    assert.equal(
      [await vault.status(mine), await vault.status(theirs), await vault.status(failed)],
      ['anchored', 'pending', 'pending'],
    );
  });
});

test('a committed erase shreds the record: erased, and reads are refused', async () => {
  await withVault(async (vault, sync) => {
    const hash = await store(vault, 'r4', 'to erase');
    await commit(sync, [result([event('anchored', 'r4', 'lab')])]);
    await commit(sync, [result([event('erased', 'r4', 'lab')])]);
    assert.is(await vault.status(hash), 'erased');
    await rejectsCode(vault.read(hash), 'VAULT_ERASED');
  });
});

test('an anchor of a blob this node does not hold is logged, not an error', async () => {
  await withVault(async (vault, sync) => {
    records.set('r5', sha256(Buffer.from('elsewhere')));
    logged.length = 0;
    await commit(sync, [result([event('anchored', 'r5', 'lab')])]);
    assert.ok(logged.includes('anchored record not in this vault'), logged.join('; '));
    assert.not.ok(logged.some((l) => l.startsWith('ERROR')));
    assert.is(await vault.status(sha256(Buffer.from('elsewhere'))), 'unknown');
  });
});

test('the sweep runs on chain time: an upload is removed once a block is past its TTL, not before', async () => {
  await withVault(async (vault, sync, clock) => {
    const hash = await store(vault, 'r6', 'never anchored');
    sync.startSweeping();
    // The wall clock far past the TTL, but no block yet: nothing is swept (a node still syncing).
    clock.now += 60_000;
    const within = clock.now - 60_000 + 500;
    sync.onBlock(blockAt(2n, BigInt(within)), { txResults: [], events: [] }, undefined as never);
    await sync.settled();
    await new Promise((r) => setTimeout(r, 100)); // five sweep periods
    await sync.settled();
    assert.is(await vault.status(hash), 'pending', 'a block within the TTL sweeps nothing');
    sync.onBlock(blockAt(3n, BigInt(within + 2000)), { txResults: [], events: [] }, undefined as never);
    const deadline = Date.now() + 3000;
    while ((await vault.status(hash)) !== 'unknown') {
      if (Date.now() > deadline) assert.unreachable('the sweep did not remove the upload');
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});

test.run();
