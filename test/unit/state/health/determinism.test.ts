/**
 * Determinism of the health application. A seeded generator drives one app through a long random
 * history (every tx type, valid and invalid, blocks minutes to hours apart so consents end,
 * requests expire, break-glass windows close and proposals reach their deadlines), recording the
 * blocks. The same blocks then run on two fresh stores (one of them closed and reopened half-way,
 * as a restarted node): the app hash, every tx result, event and validator update must be the
 * same at every height, and a third replay must give the same hashes again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { seededRandom } from '../../../../packages/core/seeded-random.ts';
import { toHex } from '../../../../packages/crypto/hash.ts';
import type { Category, Purpose } from '../../../../packages/health/codes.ts';
import { provision } from '../../../../packages/health/provision.ts';
import type { HealthTx } from '../../../../packages/health/tx.ts';
import type { CheckedTx } from '../../../../packages/types/tx.ts';
import type { FinalizeResult } from '../../../../state/application.ts';
import { HealthApp } from '../../../../state/health/app.ts';
import {
  accessTx,
  anchorTx,
  blockAt,
  DAY,
  GENESIS_TIME,
  grantTx,
  Harness,
  HOUR,
  keyOf,
  MEMBERS,
  member,
  patient,
  registerTx,
  type TestPatient,
  validatorKey,
} from './fixtures.ts';

const BLOCKS = 240;
const providers = ['city-hospital', 'north-clinic'];
const custodians = ['city-hospital', 'north-clinic', 'acme-lab'];
const categories: Category[] = ['Observation.laboratory', 'Condition', 'Procedure', 'DiagnosticReport.RAD'];
const purposes: Purpose[] = ['TREAT', 'HPAYMT', 'HRESCH', 'ETREAT'];

interface Recorded {
  readonly txs: CheckedTx[];
  readonly step: bigint;
}

/** Runs the generator against a driver app and returns the blocks with the driver's results. */
async function generate(seed: number): Promise<{ blocks: Recorded[]; results: FinalizeResult[] }> {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const h = await Harness.create();
  const patients: TestPatient[] = Array.from({ length: 30 }, (_, i) => patient(`d${i}`));
  const registered: TestPatient[] = [];
  const records: { id: string; patient: TestPatient; custodian: string }[] = [];
  const consents: { id: string; patient: TestPatient }[] = [];
  const requests: { id: string; patient: TestPatient }[] = [];
  const claims: { id: string; payer: string }[] = [];
  const proposals: string[] = [];
  const blocks: Recorded[] = [];
  const results: FinalizeResult[] = [];
  let serial = 0;
  try {
    for (let b = 0; b < BLOCKS; b++) {
      const step =
        r() < 0.1 ? BigInt(Math.floor(r() * 6)) * HOUR + 1000n : BigInt(1000 + Math.floor(r() * 120_000));
      const time = h.time + step;
      const planned: { tx: CheckedTx; kind: HealthTx['type']; patient?: TestPatient; extra?: string }[] = [];
      const n = Math.floor(r() * 14);
      for (let i = 0; i < n; i++) {
        const choice = r();
        const p = registered.length > 0 ? pick(registered) : null;
        const add = (
          key: Parameters<Harness['tx']>[0],
          payload: HealthTx,
          nonce?: bigint,
          extra?: string,
          who: TestPatient | null = p,
        ) =>
          planned.push({
            tx: h.tx(key, payload, nonce),
            kind: payload.type,
            ...(who ? { patient: who } : {}),
            ...(extra ? { extra } : {}),
          });
        if (choice < 0.1 || p === null) {
          const np = pick(patients);
          const by = pick(MEMBERS).id;
          planned.push({ tx: h.tx(member(by), registerTx(np, by)), kind: 'patient.register', patient: np });
        } else if (choice < 0.3) {
          const custodian = pick(custodians);
          const prev = records.filter((x) => x.patient === p && x.custodian === custodian);
          const supersedes = r() < 0.15 && prev.length > 0 ? pick(prev).id : null;
          add(
            member(custodian),
            anchorTx(p, `rec-${serial++}`, pick(categories), supersedes),
            undefined,
            custodian,
          );
        } else if (choice < 0.42) {
          const deny = r() < 0.2;
          const grantee = deny && r() < 0.5 ? '*' : pick(MEMBERS).id;
          const end = r() < 0.5 ? null : time + BigInt(Math.floor(r() * 4)) * HOUR + 1n;
          const rule = deny
            ? provision({ type: 'deny', categories: [pick(categories)], end })
            : provision({
                type: 'permit',
                actions: ['read'],
                purposes: [pick(purposes), pick(purposes)],
                categories: [pick(categories), 'Observation'],
                end,
                provisions: r() < 0.3 ? [provision({ type: 'deny', purposes: ['HRESCH'] })] : [],
              });
          add(p.key, { type: 'consent.grant', patient: p.id, grantee, provision: rule });
        } else if (choice < 0.47 && consents.length > 0) {
          const c = pick(consents);
          add(r() < 0.9 ? c.patient.key : p.key, { type: 'consent.revoke', consent: c.id });
        } else if (choice < 0.55 && records.length > 0) {
          const rec = pick(records);
          const bg = r() < 0.2;
          add(
            member(rec.custodian),
            accessTx(rec.patient, pick(MEMBERS).id, [rec.id], bg ? 'ETREAT' : pick(purposes), bg),
          );
        } else if (choice < 0.6) {
          add(member(pick(providers)), {
            type: 'breakglass.declare',
            patient: p.id,
            reason: 'LIFE_THREATENING',
          });
        } else if (choice < 0.67) {
          add(member(pick(MEMBERS).id), {
            type: 'request.create',
            patient: p.id,
            categories: [pick(categories)],
            records: [],
            purposes: [pick(purposes)],
            actions: ['read'],
            reason: 'REFERRAL',
            periodEnd: r() < 0.5 ? null : time + DAY,
            expiresAt: time + BigInt(1 + Math.floor(r() * 180)) * 60_000n,
          });
        } else if (choice < 0.73 && requests.length > 0) {
          const q = pick(requests);
          add(
            q.patient.key,
            r() < 0.7
              ? { type: 'request.approve', request: q.id, periodEnd: null, exceptions: [] }
              : { type: 'request.deny', request: q.id },
            undefined,
            undefined,
            q.patient,
          );
        } else if (choice < 0.8 && records.length > 0) {
          const mine = records.filter((x) => x.patient === p);
          if (mine.length === 0) continue;
          const day = GENESIS_TIME / DAY + BigInt(Math.floor(r() * 3));
          // Some claims amend an earlier one (succeeding only when it is the provider's, unadjudicated).
          const supersedes = claims.length > 0 && r() < 0.2 ? pick(claims).id : null;
          add(member(pick(providers)), {
            type: 'claim.submit',
            patient: p.id,
            payer: r() < 0.9 ? 'good-insurance' : 'acme-lab',
            lines: [
              {
                code: pick(['99213', '80053', '71046']),
                date: day * DAY,
                amount: BigInt(1 + Math.floor(r() * 50_000)),
                records: [pick(mine).id],
              },
            ],
            supersedes,
          });
        } else if (choice < 0.85 && claims.length > 0) {
          const k = pick(claims);
          const outcome = pick(['approved', 'denied'] as const);
          add(member(r() < 0.9 ? k.payer : 'city-hospital'), {
            type: 'claim.adjudicate',
            claim: k.id,
            outcome,
            amounts: [],
            reason: outcome === 'denied' ? 'CO-16' : null,
          });
        } else if (choice < 0.89) {
          const value = BigInt(2 + Math.floor(r() * 10)) * HOUR;
          const action =
            r() < 0.5
              ? ({ kind: 'params.set', name: 'break_glass_window_ms', value } as const)
              : ({
                  kind: 'validator.set',
                  pubKey:
                    r() < 0.5
                      ? keyOf(`val-${Math.floor(r() * 3)}`).publicKey
                      : validatorKey(Math.floor(r() * 4)).publicKey,
                  power: BigInt(Math.floor(r() * 4)),
                } as const);
          add(member(pick(MEMBERS).id), {
            type: 'gov.propose',
            action,
            deadline: h.height + 1n + BigInt(Math.floor(r() * 20)),
          });
        } else if (choice < 0.95 && proposals.length > 0) {
          add(member(pick(MEMBERS).id), { type: 'gov.vote', proposal: pick(proposals), approve: r() < 0.8 });
        } else {
          // A replayed nonce, or a tx from a key that is nobody.
          if (r() < 0.5) add(member('acme-lab'), anchorTx(p, `replay-${serial++}`), 1n);
          else
            add(keyOf(`nobody-${serial++}`), {
              type: 'breakglass.declare',
              patient: p.id,
              reason: 'OTHER_EMERGENCY',
            });
        }
      }
      const txs = planned.map((x) => x.tx);
      await h.block(txs, step);
      const result = h.lastResult!;
      results.push(result);
      blocks.push({ txs, step });
      result.txResults.forEach((res, i) => {
        if (res.code !== 0) return;
        const plan = planned[i]!;
        switch (plan.kind) {
          case 'patient.register':
            registered.push(plan.patient!);
            break;
          case 'record.anchor': {
            const anchored = planned[i]!;
            records.push({ id: res.log, patient: anchored.patient!, custodian: anchored.extra! });
            break;
          }
          case 'consent.grant':
          case 'request.approve':
            consents.push({ id: res.log, patient: plan.patient! });
            break;
          case 'request.create':
            requests.push({ id: res.log, patient: plan.patient! });
            break;
          case 'claim.submit':
            claims.push({ id: res.log, payer: 'good-insurance' });
            break;
          case 'gov.propose':
            proposals.push(res.log);
            break;
          default:
        }
      });
    }
  } finally {
    await h.close();
  }
  return { blocks, results };
}

function summary(r: FinalizeResult): string {
  return JSON.stringify(
    {
      appHash: toHex(r.appHash),
      results: r.txResults.map((x) => [x.code, x.codespace, x.log, x.events]),
      events: r.events,
      updates: r.validatorUpdates.map((u) => [toHex(u.pubKey), u.power.toString()]),
    },
    (_k, v) => (typeof v === 'bigint' ? v.toString() : v),
  );
}

test('a long random history gives the same app hash, results and events at every height on fresh stores', async () => {
  const { blocks, results } = await generate(5);
  // The history must exercise the rules, not just fail: most tx types succeed somewhere, and
  // failures with many different codes occur.
  const all = results.flatMap((r) => r.txResults);
  const ok = all.filter((x) => x.code === 0).length;
  const codes = new Set(all.map((x) => x.codespace).filter((c) => c !== ''));
  const types = new Set([
    ...all.flatMap((x) => x.events.map((e) => e.type)),
    ...results.flatMap((r) => r.events.map((e) => e.type)),
  ]);
  assert.ok(all.length > 1000, `a long history (${all.length} txs)`);
  assert.ok(ok > all.length / 4, `many txs succeed (${ok} of ${all.length})`);
  assert.ok(codes.size >= 15, `many failure codes (${[...codes].join(' ')})`);
  assert.ok(types.size >= 15, `many event types (${[...types].join(' ')})`);
  assert.ok(
    results.some((r) => r.validatorUpdates.length > 0),
    'some validator updates',
  );
  assert.ok(
    results.some((r) => r.events.some((e) => e.type === 'health.request.expired')),
    'requests expire',
  );

  const a = await Harness.create();
  const b = await Harness.create();
  try {
    let bApp = b.app;
    for (const [i, block] of blocks.entries()) {
      await a.block(block.txs, block.step);
      assert.is(summary(a.lastResult!), summary(results[i]!), `height ${i + 1}: store A matches the driver`);
      // B restarts half-way: a node that stopped and opened its database again.
      if (i === Math.floor(blocks.length / 2)) bApp = await HealthApp.open(b.db);
      const height = BigInt(i + 1);
      b.time += block.step;
      const rb = await bApp.finalizeBlock(blockAt(height, b.time), block.txs);
      await b.db.batch(rb.ops.slice());
      bApp.commit(height, rb.appHash);
      assert.is(summary(rb), summary(results[i]!), `height ${i + 1}: store B matches the driver`);
    }
  } finally {
    await a.close();
    await b.close();
  }
  // Replaying once more from genesis gives the same hashes.
  const c = await Harness.create();
  try {
    for (const [i, block] of blocks.entries()) {
      await c.block(block.txs, block.step);
      assert.is(toHex(c.lastResult!.appHash), toHex(results[i]!.appHash), `replay: height ${i + 1}`);
    }
  } finally {
    await c.close();
  }
});

test('the same txs in another order give another app hash (the hash covers execution order)', async () => {
  const h1 = await Harness.create();
  const h2 = await Harness.create();
  try {
    const p = patient('order');
    const reg = h1.tx(member('city-hospital'), registerTx(p, 'city-hospital'));
    const grant = h1.tx(p.key, grantTx(p, 'north-clinic'));
    await h1.block([reg, grant]);
    await h2.block([grant, reg]);
    assert.equal(
      h1.lastResult!.txResults.map((r) => r.codespace),
      ['', ''],
    );
    assert.equal(
      h2.lastResult!.txResults.map((r) => r.codespace),
      ['PATIENT_NOT_FOUND', ''],
    );
    assert.is.not(toHex(h1.lastResult!.appHash), toHex(h2.lastResult!.appHash));
  } finally {
    await h1.close();
    await h2.close();
  }
});

test.run();
