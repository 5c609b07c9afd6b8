/**
 * HealthClient's record calls (packages/client/health.ts): publishing a record key and reading any
 * member's proven; a signed fetch request (as a member, or as a patient with its own key) that
 * the custodian's decision accepts; the proven release lookup once the node-signed access event
 * is committed. Over a real in-process HealthApp (AppTransport).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HealthClient } from '../../../../packages/client/health.ts';
import { generateRecordKey } from '../../../../packages/client/keys.ts';
import { equalBytes, sha256 } from '../../../../packages/crypto/hash.ts';
import { patientIdOf } from '../../../../packages/health/ids.ts';
import { decodeFetchRequest, releaseIdOf } from '../../../../packages/health/records.ts';
import { anchorTx, CHAIN_ID, grantTx, member, patient, registerTx } from '../../state/health/fixtures.ts';
import { AppTransport } from './health-transport.ts';

test('record keys, a signed fetch request, and the proven release, through HealthClient', async () => {
  const t = await AppTransport.create();
  try {
    let tick = 1_000_000n;
    const clientFor = (key = member('city-hospital')) =>
      new HealthClient({ chainId: CHAIN_ID, transport: t, key, clockMicros: () => tick++ });
    const hospital = clientFor();
    const lab = clientFor(member('acme-lab'));
    const alice = patient('alice');
    await hospital.send(registerTx(alice, 'city-hospital'));
    const record = (await lab.send(anchorTx(alice, 'a-lab'))).id;
    await clientFor(alice.key).send(grantTx(alice, 'city-hospital'));

    // No key at genesis here; the member publishes one, and anyone reads it proven.
    assert.is((await hospital.recordKeyOf('city-hospital')).value, null);
    const recordKey = generateRecordKey();
    const set = await hospital.setRecordKey(recordKey.publicKey);
    assert.is(set.id, 'city-hospital');
    const proven = await lab.recordKeyOf('city-hospital');
    assert.ok(proven.value !== null && equalBytes(proven.value, recordKey.publicKey));
    assert.is((await lab.recordKeyOf('no-such-member')).value, null);

    // The hospital asks; the custodian decides on its committed state and records the release.
    const ask = await hospital.fetchRequest({ record, purpose: 'TREAT' });
    const received = decodeFetchRequest(ask.bytes);
    assert.equal(received.request.requester, { kind: 'member', id: 'city-hospital' });
    assert.ok(equalBytes(releaseIdOf(received.request), ask.releaseId));
    assert.is((await hospital.release(ask.releaseId)).value, null, 'not yet recorded');
    const now = received.request.time;
    const d = await t.h.app.decideRelease(received, 'acme-lab', now);
    if (!d.release) throw new Error(`refused: ${d.code} ${d.message}`);
    assert.ok(equalBytes(d.recipientKey, recordKey.publicKey));
    const event = await lab.send(d.tx);
    assert.is((await hospital.release(ask.releaseId)).value, event.id);

    // A patient asks for their own record with a key only they hold.
    const device = generateRecordKey();
    const mine = await clientFor(alice.key).fetchRequest({
      record,
      purpose: 'PATRQT',
      requester: { kind: 'patient', id: patientIdOf(alice.key.publicKey) },
      recipientKey: device.publicKey,
    });
    const own = await t.h.app.decideRelease(decodeFetchRequest(mine.bytes), 'acme-lab', now);
    assert.ok(own.release && equalBytes(own.recipientKey, device.publicKey));
    // Two requests are two releases: a fresh nonce each time.
    const again = await hospital.fetchRequest({ record, purpose: 'TREAT' });
    assert.not.ok(equalBytes(again.releaseId, ask.releaseId));
    assert.not.ok(equalBytes(sha256(again.bytes), sha256(ask.bytes)));
  } finally {
    await t.close();
  }
});

test.run();
