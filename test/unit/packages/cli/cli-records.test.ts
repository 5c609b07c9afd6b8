/**
 * `careledger record put|fetch|erase` in-process (runHealthCommand through CliIo) against a
 * stand-in node (test/unit/packages/client/records-node.ts: the local API over a real vault and
 * the real HealthApp): store-encrypt-anchor, fetch-verify-decrypt with what was verified printed,
 * a tampered release refused with its code and no file, --break-glass, erase with the shredding
 * wait and the refusal after it; and that neither the record's content nor a key is ever printed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  generateRecordKey,
  loadKeyFile,
  loadRecordKeyFile,
  recordKeyPathFor,
  saveRecordKeyFile,
} from '../../../../packages/client/keys.ts';
import { member } from '../../state/health/fixtures.ts';
import { AppTransport } from '../client/health-transport.ts';
import { StandInNode } from '../client/records-node.ts';
import { Terminal } from './cli-terminal.ts';

const SEED = process.env.CARELEDGER_TEST_SEED ?? 'cli-records-1';

test('record put, fetch and erase at the terminal', async () => {
  const t = await AppTransport.create();
  const node = await StandInNode.start(t, 'acme-lab', member('acme-lab'));
  const term = new Terminal(node.transport, SEED);
  try {
    const lab = term.memberKey('acme-lab');
    const hospital = term.memberKey('city-hospital');
    const url = ['--node', node.url];
    // The hospital makes a record key beside its member key (the default --record-key) and publishes it.
    const set = await term.ok('member', 'set-record-key', '--key', hospital, '--generate');
    assert.is(set.type, 'member.set-record-key');
    assert.is(set.file, recordKeyPathFor(hospital));
    const recordKey = loadRecordKeyFile(recordKeyPathFor(hospital));
    assert.is(set.recordKey, Buffer.from(recordKey.publicKey).toString('hex'));
    // Never over an existing key file (the key releases are wrapped to would be lost).
    await term.fails(
      'KEY_FILE_EXISTS',
      'member',
      'set-record-key',
      '--key',
      hospital,
      '--generate',
      '--genesis',
      'g.json',
    );
    assert.equal(loadRecordKeyFile(recordKeyPathFor(hospital)).publicKey, recordKey.publicKey);

    const alice = await term.newKey('alice');
    await term.ok('patient', 'register', '--key', hospital, '--patient-key', alice.file);
    await term.ok(
      'consent',
      'grant',
      '--key',
      alice.file,
      '--patient',
      alice.patientId,
      '--grantee',
      'city-hospital',
      '--purposes',
      'TREAT',
      '--actions',
      'read',
      '--categories',
      'Observation',
    );

    const content = `{"resourceType":"Observation","code":"HbA1c","value":"6.1%","seed":"${SEED}"}`;
    const file = term.file('hba1c.json', content);
    const put = await term.ok(
      'record',
      'put',
      '--key',
      lab,
      '--file',
      file,
      '--patient',
      alice.patientId,
      '--category',
      'Observation.laboratory',
      ...url,
    );
    const record = put.record as string;
    assert.match(record, /^r[0-9a-f]{32}$/);
    assert.match(put.sha256 as string, /^[0-9a-f]{64}$/);
    assert.is(put.size, String(content.length + 32));
    const shown = await term.ok('record', 'show', '--record', record);
    assert.is(shown.ciphertextHash, put.sha256);
    assert.is(shown.anchoredAt, put.height);

    // Fetched without --genesis (taken from beside --key) and printed as text.
    const out = join(term.dir, 'received.json');
    const text = await term.run(
      'record',
      'fetch',
      '--key',
      hospital,
      '--record',
      record,
      '--purpose',
      'TREAT',
      '--out',
      out,
      ...url,
    );
    assert.is(text.code, 0, text.err);
    assert.is(readFileSync(out, 'utf8'), content);
    assert.match(text.out, `record ${record} from acme-lab written to ${out}`);
    assert.match(text.out, `match the anchor proven at height`);
    assert.match(text.out, "the plaintext matches the anchor's salted commitment");
    const disclosures = await term.ok('disclosures', 'list', '--patient', alice.patientId);
    const events = disclosures.disclosures as { id: string; height: string }[];
    assert.is(events.length, 1);
    assert.match(text.out, `access event ${events[0]!.id} at height ${events[0]!.height}`);

    // As JSON, a second fetch: a second release, a second disclosure.
    const out2 = join(term.dir, 'again.json');
    const json = await term.ok(
      'record',
      'fetch',
      '--key',
      hospital,
      '--record',
      record,
      '--purpose',
      'TREAT',
      '--out',
      out2,
      ...url,
    );
    assert.is(json.custodian, 'acme-lab');
    assert.is(json.sha256, put.sha256);
    assert.is((json.verified as string[]).length, 5);
    assert.not.equal(json.accessEvent, events[0]!.id);

    // A flipped byte on the way: refused with its code, nothing written.
    node.faults = { flipByte: 40 };
    const bad = join(term.dir, 'bad.json');
    await term.fails(
      'RECORD_HASH_MISMATCH',
      'record',
      'fetch',
      '--key',
      hospital,
      '--record',
      record,
      '--purpose',
      'TREAT',
      '--out',
      bad,
      ...url,
    );
    assert.not.ok(existsSync(bad));
    node.faults = {};

    // --break-glass reads for ETREAT only, and needs a declared break-glass.
    await term.fails(
      'CLI_ARGS_INVALID',
      'record',
      'fetch',
      '--key',
      hospital,
      '--record',
      record,
      '--purpose',
      'TREAT',
      '--break-glass',
      '--out',
      bad,
      ...url,
    );
    await term.fails(
      'BREAK_GLASS_INACTIVE',
      'record',
      'fetch',
      '--key',
      hospital,
      '--record',
      record,
      '--break-glass',
      '--out',
      bad,
      ...url,
    );
    // A record key that is not the member's on chain is refused before anything is asked.
    const other = join(term.dir, 'other.record_key.json');
    saveRecordKeyFile(other, generateRecordKey());
    await term.fails(
      'RECORD_KEY_MISMATCH',
      'record',
      'fetch',
      '--key',
      hospital,
      '--record',
      record,
      '--purpose',
      'TREAT',
      '--record-key',
      other,
      '--out',
      bad,
      ...url,
    );

    // Alice fetches her own record (PATRQT) with a record key of her own, beside her key file.
    const device = await term.run(
      'keys',
      'generate-record-key',
      '--out',
      recordKeyPathFor(alice.file),
      '--json',
    );
    assert.is(device.code, 0, device.err);
    const own = join(term.dir, 'own.json');
    const mine = await term.ok(
      'record',
      'fetch',
      '--key',
      alice.file,
      '--record',
      record,
      '--purpose',
      'PATRQT',
      '--out',
      own,
      ...url,
    );
    assert.is(readFileSync(own, 'utf8'), content);
    const trail = (await term.ok('disclosures', 'list', '--patient', alice.patientId)).disclosures as {
      id: string;
      recipient: string;
    }[];
    assert.equal(trail.at(-1), {
      ...trail.at(-1)!,
      id: mine.accessEvent as string,
      recipient: alice.patientId,
    });

    // Erase: on chain, then the node shreds; the next fetch is refused.
    const erased = await term.ok(
      'record',
      'erase',
      '--key',
      lab,
      '--record',
      record,
      '--reason',
      'PATIENT_REQUEST',
      ...url,
    );
    assert.is(erased.vault, 'erased');
    assert.is(await node.vault.status(Buffer.from(put.sha256 as string, 'hex')), 'erased');
    await term.fails(
      'RECORD_ERASED',
      'record',
      'fetch',
      '--key',
      hospital,
      '--record',
      record,
      '--purpose',
      'TREAT',
      '--out',
      bad,
      ...url,
      '--genesis',
      'g.json',
    );
    assert.not.ok(existsSync(bad));

    // Nothing secret was printed: not the record, not a key.
    const printed = term.transcript.join('');
    assert.not.match(printed, 'HbA1c');
    for (const f of [lab, hospital, alice.file])
      assert.not.match(printed, Buffer.from(loadKeyFile(f).secretKey).toString('base64'));
    assert.not.match(printed, Buffer.from(recordKey.secretKey).toString('base64'));
  } catch (err) {
    (err as Error).message = `${(err as Error).message} (seed ${SEED})`;
    throw err;
  } finally {
    await node.close();
    await t.close();
  }
});

test.run();
