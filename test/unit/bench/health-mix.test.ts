/**
 * The health workload of the consortium bench: bench/health-state.ts grows a small state (real
 * executor, block store, HealthApp, LevelDB, every validator's precommit), every home gets a copy
 * that reopens at the same app hash and proves a record against it, and a new node replays the
 * history as block sync does (each block validated, its commit and txs' signatures verified) to
 * that app hash; and every tx bench/health-mix.ts makes is accepted by the real application over
 * that state: its signature verifies, checkTx passes and it executes with code 0, in the mix's
 * stated proportions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HealthMix, MIX, MIX_KINDS, MIX_SCHEDULE, type MixKind } from '../../../bench/health-mix.ts';
import { commitOf, copyHomes, healthState, validatorKeys } from '../../../bench/health-state.ts';
import { loadWorld, patientCount, recordIdAt, worldPatient } from '../../../bench/health-world.ts';
import { initChain } from '../../../node/app.ts';
import { executeBlock } from '../../../node/executor.ts';
import { loadHome } from '../../../node/home.ts';
import { toHex } from '../../../packages/crypto/hash.ts';
import { idQueryData, verifyAnswer } from '../../../packages/health/query.ts';
import { blockIdOf } from '../../../packages/types/block.ts';
import { buildBlock, type ChainState, validateBlock } from '../../../packages/types/chain-state.ts';
import { verifyCommit } from '../../../packages/types/commit.ts';
import { checkTxBytes } from '../../../packages/types/tx.ts';
import { BlockStore } from '../../../state/block-store.ts';
import { openDb } from '../../../state/db.ts';
import { HealthApp } from '../../../state/health/app.ts';

const SEED = 20_261_207;
const dir = mkdtempSync(join(tmpdir(), 'careledger-health-mix-unit-'));
const lines: string[] = [];
const stateOptions = {
  validators: 4,
  records: 205,
  perPatient: 10,
  basePort: 40_656,
  cacheRoot: join(dir, 'cache'),
  fresh: false,
} as const;
const state = await healthState({ ...stateOptions, progress: (line) => lines.push(line) });
const homes = copyHomes(state, join(dir, 'run'), 41_656);

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('the schedule holds each kind as often as MIX says, in 20 txs', () => {
  assert.is(MIX_SCHEDULE.length, 20);
  for (const kind of MIX_KINDS) assert.is(MIX_SCHEDULE.filter((k) => k === kind).length, MIX[kind], kind);
  assert.is.not(MIX_SCHEDULE[0], MIX_SCHEDULE[1], 'kinds are interleaved, not in runs');
});

test('the pre-grown state: 205 records of 21 patients, progress printed, a second call reads the cache', async () => {
  assert.is(state.cached, false);
  assert.is(state.manifest.patients, 21);
  // Each patient: registration, her records, two consents.
  assert.is(state.manifest.txs, 21 * 3 + 205);
  assert.ok(
    lines.some((l) => l.includes('205 of 205 records') && l.includes('ETA')),
    lines.join('\n'),
  );
  const again = await healthState({ ...stateOptions, progress: () => undefined });
  assert.ok(again.cached);
  assert.is(again.manifest.appHash, state.manifest.appHash);
});

test('every copied home reopens at the height and app hash of the history and proves a record', async () => {
  for (const home of homes) {
    const db = await openDb(loadHome(home).paths.db);
    try {
      const blocks = await BlockStore.open(db);
      const chain = (await blocks.chainState())!;
      assert.is(Number(chain.lastHeight), state.manifest.height);
      assert.is(toHex(chain.appHash), state.manifest.appHash);
      const app = await HealthApp.open(db);
      const root = app.info().appHash;
      assert.is(toHex(root), state.manifest.appHash);
      // It serves proofs: patient 7's fourth record, proven against the app hash.
      const world = loadWorld(homes, 205, 10);
      const record = recordIdAt(world, worldPatient(world, 7), 7, 3);
      const answer = await app.query('/health/record', idQueryData(record), null, true);
      assert.ok(answer.value !== null && verifyAnswer(root, answer.key, answer.value, answer.proof!));
    } finally {
      await db.close();
    }
  }
});

test('a new node replays the history as block sync does: each block valid on its chain, its commit verified', async () => {
  const source = await openDb(loadHome(homes[1]!).paths.db);
  const fresh = await openDb(join(dir, 'replay'));
  try {
    const stored = await BlockStore.open(source);
    const blocks = await BlockStore.open(fresh);
    const app = await HealthApp.open(fresh);
    let chain = await initChain(loadHome(homes[1]!).genesis, fresh, blocks, app);
    for (let h = 1n; h <= BigInt(state.manifest.height); h++) {
      const block = (await stored.block(h))!;
      const commit = (await stored.commit(h))!;
      validateBlock(chain, block, {
        isCommitted: (e) => blocks.isEvidenceCommitted(e),
        validatorsAt: (at) => blocks.validatorsAt(at),
      });
      verifyCommit(chain.chainId, commit, chain.validators.set, blockIdOf(block.header));
      const txs = block.txs.map((tx) => checkTxBytes(chain.chainId, tx));
      chain = (await executeBlock({ db: fresh, blocks, app, chain }, block, commit, txs)).after;
    }
    assert.is(toHex(chain.appHash), state.manifest.appHash);
  } finally {
    await source.close();
    await fresh.close();
  }
});

test('every tx of the mix is accepted and executes with code 0 over the pre-grown state', async () => {
  const world = loadWorld(homes, 205, 10);
  assert.is(patientCount(world), 21);
  const home = loadHome(homes[0]!);
  const db = await openDb(home.paths.db);
  try {
    const blocks = await BlockStore.open(db);
    const app = await HealthApp.open(db);
    let chain: ChainState = (await blocks.chainState())!;
    const keys = validatorKeys(homes);
    const mix = new HealthMix(world, state.manifest.memberNonces, SEED);
    const kinds = new Map<MixKind, number>();
    const total = 400;
    for (let made = 0; made < total; ) {
      const txs = Array.from({ length: 100 }, () => {
        const m = mix.next();
        kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
        assert.ok(m.node >= 0 && m.node < homes.length);
        // As a node takes it: decode and verify the signature, then checkTx.
        const checked = checkTxBytes(chain.chainId, m.tx.bytes);
        assert.is(app.checkTx(checked), null, `seed ${SEED}: checkTx refused a ${m.kind} tx`);
        return checked;
      });
      made += txs.length;
      const block = buildBlock(chain, {
        txs: txs.map((t) => t.bytes),
        evidence: [],
        time: chain.lastBlockTime + 1000n,
        proposer: chain.validators.set.validators[chain.validators.proposer]!.address,
      });
      const commit = commitOf(chain, blockIdOf(block.header), keys);
      const executed = await executeBlock({ db, blocks, app, chain }, block, commit, txs);
      const failed = executed.txResults.flatMap((r, i) =>
        r.code === 0 ? [] : [`tx ${made - txs.length + i}: ${r.codespace} ${r.log}`],
      );
      assert.equal(failed, [], `seed ${SEED}: ${failed.join('; ')}`);
      chain = executed.after;
    }
    for (const kind of MIX_KINDS) assert.is(kinds.get(kind), (total / 20) * MIX[kind], kind);
  } finally {
    await db.close();
  }
});

test.run();
