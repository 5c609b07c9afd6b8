/**
 * rpcTransport, the adapter from RpcClient and LightClient to HealthTransport, over stand-ins that
 * answer from a real in-process HealthApp exactly as the node's RPC would (the real RpcClient and
 * LightClient have their own tests against a node): a check refusal is reported as such, a failed
 * execution carries the app's code, single-key queries go through the light client, and the
 * decision query's bundle is checked against the light client's verified app hash; a retry the node
 * answers TX_IN_MEMPOOL or TX_ALREADY_COMMITTED ends with the one committed tx's outcome.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type BroadcastOutcome,
  HealthClient,
  type LightPart,
  type RpcPart,
  rpcTransport,
  sealRecord,
} from '../../../../packages/client/health.ts';
import { CareLedgerError } from '../../../../packages/core/errors.ts';
import { sha256, toHex } from '../../../../packages/crypto/hash.ts';
import { patientIdOf } from '../../../../packages/health/ids.ts';
import { provision } from '../../../../packages/health/provision.ts';
import { CHAIN_ID, keyOf, member } from '../../state/health/fixtures.ts';
import { rejectsCode } from '../fixtures.ts';
import { AppTransport } from './health-transport.ts';

const EMPTY = { code: 0, codespace: '', log: '', events: [] };

/** `lie`: the node's answer to broadcast_tx_commit claims success at height 1234, whatever happened. */
function standIns(t: AppTransport, lie = false) {
  const calls: string[] = [];
  const committed = new Map<string, { height: bigint; result: BroadcastOutcome }>();
  const rpc: RpcPart = {
    async broadcastTxCommit(tx) {
      calls.push('broadcastTxCommit');
      const o = await t.broadcast(tx);
      const hash = sha256(tx);
      if (o.height !== 0n) committed.set(toHex(hash), { height: o.height, result: o });
      if (lie) return { hash, height: 1234n, checkTx: EMPTY, txResult: EMPTY };
      // The test transport reports a check refusal as height 0.
      return o.height === 0n
        ? { hash, height: 0n, checkTx: { ...o, events: [] }, txResult: EMPTY }
        : { hash, height: o.height, checkTx: EMPTY, txResult: o };
    },
    async waitForTx() {
      throw new Error('no tx is sent twice here');
    },
    async abciQuery(path, data, opts = {}) {
      calls.push(`abciQuery ${path}`);
      return t.h.app.query(path, data, opts.height ?? null, opts.prove ?? false);
    },
  };
  const light: LightPart = {
    async verifiedQuery(path, data, opts = {}) {
      calls.push(`verifiedQuery ${path}${opts.provable === true ? ' provable' : ''}`);
      const a = await t.query(path, data, opts);
      return { key: a.key, value: a.value, height: a.height, proof: a.proof, appHash: a.root };
    },
    async verifiedAppHash(height) {
      calls.push(`verifiedAppHash ${height}`);
      return t.rootAt(height);
    },
    async verifiedLatestAppHash(height) {
      calls.push(`verifiedLatestAppHash ${height}`);
      return t.rootAt(height);
    },
    // What the chain holds (the real light client proves it from headers).
    async verifiedTx(hash) {
      calls.push('verifiedTx');
      const c = committed.get(toHex(hash));
      if (c === undefined) throw new CareLedgerError('CLIENT_RPC_ERROR', 'tx not found');
      return { height: c.height, index: 0, tx: new Uint8Array(), result: c.result };
    },
  };
  return { rpc, light, calls };
}

test('rpcTransport: txs, single-key queries and the decision query', async () => {
  const t = await AppTransport.create();
  try {
    const { rpc, light, calls } = standIns(t);
    const transport = rpcTransport(rpc, light);
    const patientKey = keyOf('rpc/alice');
    const alice = patientIdOf(patientKey.publicKey);
    const hospital = new HealthClient({ chainId: CHAIN_ID, transport, key: member('city-hospital') });
    const lab = new HealthClient({ chainId: CHAIN_ID, transport, key: member('acme-lab') });
    const patient = new HealthClient({ chainId: CHAIN_ID, transport, key: patientKey });

    const reg = await hospital.registerPatient(patientKey);
    assert.is(reg.id, alice);
    // The send path reads the member id and the nonce floor at the newest provable height (no wait).
    assert.equal(
      calls.filter((c) => c.startsWith('verifiedQuery')),
      ['verifiedQuery /health/key provable', 'verifiedQuery /health/nonce provable'],
      'the member id and the nonce were read through the light client',
    );
    const rec = await lab.anchorRecord({
      patient: alice,
      category: 'Observation.laboratory',
      ...sealRecord(new Uint8Array([1, 2, 3]), new Uint8Array([4]), new Uint8Array(16)),
    });
    await patient.grantConsent(
      alice,
      'city-hospital',
      provision({ type: 'permit', actions: ['read'], purposes: ['TREAT'], categories: ['Observation'] }),
    );
    calls.length = 0;
    const d = await patient.decision({
      patient: alice,
      grantee: 'city-hospital',
      record: rec.id,
      purpose: 'TREAT',
      action: 'read',
      time: null,
    });
    assert.is(d.value.permit, true);
    assert.equal(calls, ['abciQuery /health/decision', `verifiedLatestAppHash ${d.height}`]);

    // A failed execution: the app's code and its block height.
    try {
      await hospital.registerPatient(patientKey);
      assert.unreachable('a second registration must fail');
    } catch (err) {
      assert.is((err as { code?: string }).code, 'PATIENT_EXISTS');
      assert.ok((err as { height: bigint }).height > 0n);
    }
    assert.ok(calls.includes('verifiedTx'), "a committed tx's outcome comes from the light client");
    // A check refusal (a bad signature never reaches a block): height 0 and the check's code.
    const refused = await transport.broadcast(new Uint8Array([0x94, 1, 2, 3, 4]));
    assert.is(refused.height, 0n);
    assert.ok(refused.code !== 0);
    assert.ok(refused.codespace !== '');
  } finally {
    await t.close();
  }
});

test('a node that claims success for a tx that failed is not believed: the proven outcome counts', async () => {
  const t = await AppTransport.create();
  try {
    const { rpc, light } = standIns(t, true);
    const transport = rpcTransport(rpc, light);
    const patientKey = keyOf('rpc/bob');
    const hospital = new HealthClient({ chainId: CHAIN_ID, transport, key: member('city-hospital') });
    const first = await hospital.registerPatient(patientKey);
    assert.ok(first.height > 0n && first.height !== 1234n, 'the proven height, not the claimed one');
    await rejectsCode(hospital.registerPatient(patientKey), 'PATIENT_EXISTS');
  } finally {
    await t.close();
  }
});

test('a retry of a tx the node already knows: TX_IN_MEMPOOL waits for the commit, TX_ALREADY_COMMITTED is it', async () => {
  const tx = new Uint8Array([1, 2, 3]);
  const hash = sha256(tx);
  const committed = { code: 0, codespace: '', log: 'done', events: [] };
  for (const [codespace, expected] of [
    ['TX_IN_MEMPOOL', ['broadcastTxCommit', 'waitForTx', 'verifiedTx']],
    ['TX_ALREADY_COMMITTED', ['broadcastTxCommit', 'verifiedTx']],
    ['MEMPOOL_BUSY', ['broadcastTxCommit']],
  ] as const) {
    const calls: string[] = [];
    const checkTx = { code: 1, codespace, log: 'known', events: [] };
    const rpc: RpcPart = {
      async broadcastTxCommit() {
        calls.push('broadcastTxCommit');
        return { hash, height: 0n, checkTx, txResult: EMPTY };
      },
      async waitForTx(h) {
        calls.push('waitForTx');
        assert.equal(h, hash);
        return { hash, height: 9n, index: 0, tx, txResult: committed, proof: null };
      },
      async abciQuery() {
        throw new Error('not used');
      },
    };
    const light = {
      async verifiedTx(h: Uint8Array) {
        calls.push('verifiedTx');
        assert.equal(h, hash);
        return { height: 9n, index: 0, tx, result: committed };
      },
    } as unknown as LightPart;
    const outcome = await rpcTransport(rpc, light).broadcast(tx);
    assert.equal(calls, expected, codespace);
    if (codespace === 'MEMPOOL_BUSY') assert.equal([outcome.height, outcome.codespace], [0n, 'MEMPOOL_BUSY']);
    else assert.equal([outcome.height, outcome.code, outcome.log], [9n, 0, 'done'], codespace);
  }
});

test.run();
