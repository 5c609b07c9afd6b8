/**
 * node/records/vault-sync.ts `reconcile`, the crash window between a committed block and its
 * vault effects: over a real HealthApp (temp LevelDB) whose blocks anchor and erase the lab's
 * records, and a real Vault (temp folder) reopened as after a kill. Blocks the sync never saw
 * are replayed from the vault's cursor: an erase committed but not applied shreds the key, an
 * anchor committed but not confirmed confirms the upload; another custodian's records, failed
 * txs and uploads never anchored are left alone; the cursor moves to the last height, and a
 * second start replays nothing.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { healthChainView } from '../../../../node/records/chain-view.ts';
import { VaultSync } from '../../../../node/records/vault-sync.ts';
import { Vault, vaultPaths } from '../../../../node/vault/vault.ts';
import { sha256 } from '../../../../packages/crypto/hash.ts';
import { nodePeerIdOf } from '../../../../packages/health/ids.ts';
import { type HealthTx, recordCommitment } from '../../../../packages/health/tx.ts';
import type { ExecTxResult } from '../../../../state/application.ts';
import { rejectsCode } from '../../packages/fixtures.ts';
import {
  blockAt,
  Harness,
  keyOf,
  MEMBERS,
  member,
  patient,
  registerTx,
  type TestMember,
} from '../../state/health/fixtures.ts';

const utf8 = new TextEncoder();
const LAB_PEER = nodePeerIdOf(keyOf('node/acme-lab/0').publicKey);
const lab = member('acme-lab');
const alice = patient('alice');
const WITH_NODES: readonly TestMember[] = MEMBERS.map((m) =>
  m.id === 'acme-lab' ? { ...m, nodes: [LAB_PEER] } : m,
);
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

/** The chain as the node's block store would hold it: every block's tx results by height. */
class Chain {
  readonly results = new Map<bigint, ExecTxResult[]>();
  readonly times = new Map<bigint, bigint>();
  readonly h: Harness;
  constructor(h: Harness) {
    this.h = h;
  }
  async block(txs: Parameters<Harness['block']>[0]): Promise<ExecTxResult[]> {
    const r = await this.h.block(txs);
    this.results.set(this.h.height, r);
    this.times.set(this.h.height, this.h.time);
    return r;
  }
  view() {
    return {
      lastHeight: () => this.h.height,
      results: async (height: bigint) => {
        const txResults = this.results.get(height);
        return txResults === undefined ? null : { txResults };
      },
      time: async (height: bigint) => this.times.get(height) ?? null,
    };
  }
}

function sync(vault: Vault, chain: Chain): VaultSync {
  return new VaultSync({
    vault,
    chain: healthChainView(chain.h.app),
    blocks: chain.view(),
    peerId: LAB_PEER,
    log: quiet,
    sweepIntervalMs: 60_000,
  });
}

async function upload(vault: Vault, label: string): Promise<{ hash: Uint8Array; anchor: HealthTx }> {
  const envelope = utf8.encode(`ciphertext of ${label}`);
  const salt = sha256(utf8.encode(`salt/${label}`)).subarray(0, 16);
  const { sha256: hash } = await vault.upload(
    (async function* () {
      yield envelope;
    })(),
    { dataKey: sha256(utf8.encode(`key/${label}`)), salt },
  );
  const anchor: HealthTx = {
    type: 'record.anchor',
    patient: alice.id,
    category: 'Observation.laboratory',
    ciphertextHash: hash,
    commitment: recordCommitment(salt, utf8.encode(label)),
    size: BigInt(envelope.length),
    supersedes: null,
  };
  return { hash, anchor };
}

const idOf = (r: ExecTxResult | undefined) => {
  assert.is(r?.code, 0, `${r?.codespace} ${r?.log}`);
  return r!.log;
};

test('a restart replays the blocks the vault missed: committed erases shred, committed anchors confirm', async () => {
  const h = await Harness.create(WITH_NODES);
  const chain = new Chain(h);
  const home = mkdtempSync(join(tmpdir(), 'careledger-reconcile-'));
  try {
    await chain.block([h.tx(member('city-hospital'), registerTx(alice, 'city-hospital'))]);
    let vault = await Vault.open(home);
    const live = sync(vault, chain);
    assert.equal((await live.reconcile()).from, 1n, 'an empty vault without a cursor starts at the head');

    // Seen live: A is anchored and confirmed.
    const a = await upload(vault, 'A');
    const aId = idOf((await chain.block([h.tx(lab, a.anchor)]))[0]);
    live.onBlock(
      blockAt(h.height, h.time),
      { txResults: chain.results.get(h.height)!, events: [] },
      undefined as never,
    );
    await live.settled();
    assert.is(await vault.status(a.hash), 'anchored');
    assert.is(await vault.syncedHeight(), h.height);
    await live.stop();

    // The crash window: these blocks commit, the sync never sees them.
    const b = await upload(vault, 'B');
    const c = await upload(vault, 'C'); // never anchored
    const d = await upload(vault, 'D'); // anchored by another custodian: not this member's record
    const e = await upload(vault, 'E'); // its anchor fails (wrong patient)
    idOf((await chain.block([h.tx(lab, b.anchor)]))[0]);
    idOf(
      (await chain.block([h.tx(lab, { type: 'record.erase', record: aId, reason: 'ENTERED_IN_ERROR' })]))[0],
    );
    idOf((await chain.block([h.tx(member('city-hospital'), d.anchor)]))[0]);
    const failed = await chain.block([h.tx(lab, { ...e.anchor, patient: 'no-such-patient' } as HealthTx)]);
    assert.ok(failed[0]!.code !== 0);
    assert.is(await vault.status(a.hash), 'anchored', 'the key survived the crash window');

    vault = await Vault.open(home); // restart
    const restarted = sync(vault, chain);
    const report = await restarted.reconcile();
    assert.equal(report, { from: 2n, to: h.height, confirmed: 1, erased: 1, missingHeights: 0 });
    assert.is(await vault.status(a.hash), 'erased');
    await rejectsCode(vault.read(a.hash), 'VAULT_ERASED');
    assert.not.ok(readdirSync(vaultPaths(home).keys).includes(Buffer.from(a.hash).toString('hex')));
    assert.is(await vault.status(b.hash), 'anchored');
    assert.is(await vault.status(c.hash), 'pending');
    assert.is(await vault.status(d.hash), 'pending', "another custodian's anchor confirms nothing here");
    assert.is(await vault.status(e.hash), 'pending', 'a failed anchor confirms nothing');
    assert.is(await vault.syncedHeight(), h.height);

    const again = await sync(vault, chain).reconcile();
    assert.equal(again, { from: h.height, to: h.height, confirmed: 0, erased: 0, missingHeights: 0 });
    await restarted.stop();
  } finally {
    rmSync(home, { recursive: true, force: true });
    await h.close();
  }
});

test('a vault holding records but no cursor replays every block; a block it does not hold is counted', async () => {
  const h = await Harness.create(WITH_NODES);
  const chain = new Chain(h);
  const home = mkdtempSync(join(tmpdir(), 'careledger-reconcile-'));
  try {
    await chain.block([h.tx(member('city-hospital'), registerTx(alice, 'city-hospital'))]);
    const vault = await Vault.open(home);
    const a = await upload(vault, 'A');
    const aId = idOf((await chain.block([h.tx(lab, a.anchor)]))[0]);
    idOf((await chain.block([h.tx(lab, { type: 'record.erase', record: aId, reason: 'LEGAL_ORDER' })]))[0]);
    chain.results.delete(1n); // e.g. a block this node never stored
    const report = await sync(vault, chain).reconcile();
    assert.equal(report, { from: 0n, to: 3n, confirmed: 1, erased: 1, missingHeights: 1 });
    assert.is(await vault.status(a.hash), 'erased');
  } finally {
    rmSync(home, { recursive: true, force: true });
    await h.close();
  }
});

test.run();
