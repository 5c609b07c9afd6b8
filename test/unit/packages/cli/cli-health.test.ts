import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HEALTH_COMMAND_GROUPS } from '../../../../packages/cli/groups.ts';
import { isoTime, printable } from '../../../../packages/cli/output.ts';
import { healthCommandUsage } from '../../../../packages/cli/run.ts';
import { loadKeyFile } from '../../../../packages/client/keys.ts';
import { sha256 } from '../../../../packages/crypto/hash.ts';
import { withTerminal } from './cli-terminal.ts';

const SEED = process.env.CARELEDGER_TEST_SEED ?? 'cli-health-1';
const utf8 = new TextEncoder();

function seeded(name: string, fn: () => Promise<void>): void {
  test(name, async () => {
    try {
      await fn();
    } catch (err) {
      (err as Error).message =
        `${(err as Error).message} (seed ${SEED}; rerun with CARELEDGER_TEST_SEED=${SEED})`;
      throw err;
    }
  });
}

seeded('the seed journey at the terminal', () =>
  withTerminal(SEED, async (term) => {
    const hospital = term.memberKey('city-hospital');
    const lab = term.memberKey('acme-lab');
    const clinic = term.memberKey('north-clinic');
    const insurer = term.memberKey('good-insurance');

    // A patient key, and its id.
    const aliceFile = join(term.dir, 'alice.key');
    const gen = await term.run('keys', 'generate', '--out', aliceFile, '--json');
    assert.is(gen.code, 0, gen.err);
    const alice = (JSON.parse(gen.out) as { patientId: string }).patientId;
    assert.match(alice, /^p[0-9a-f]{32}$/);
    const shown = await term.run('keys', 'show', '--key', aliceFile);
    assert.match(shown.out, alice);
    const secrets = [hospital, lab, clinic, insurer, aliceFile].map((f) =>
      Buffer.from(loadKeyFile(f).secretKey).toString('base64'),
    );

    const reg = await term.ok('patient', 'register', '--key', hospital, '--patient-key', aliceFile);
    assert.is(reg.id, alice);
    assert.is((await term.ok('patient', 'show', '--patient', alice)).enrolledBy, 'city-hospital');

    // The lab anchors a result from its files; the plaintext is hashed, never shown.
    const secretText = 'HbA1c 6.1% CONFIDENTIAL';
    const enc = term.file('cbc.enc', utf8.encode('encrypted bytes of the result'));
    const plain = term.file('cbc.json', secretText);
    const anchor = (file: string, ...more: string[]) =>
      term.ok(
        'record',
        'anchor',
        '--key',
        lab,
        '--patient',
        alice,
        '--category',
        'Observation.laboratory',
        '--file',
        file,
        '--plaintext',
        plain,
        ...more,
      );
    const anchored = await anchor(enc);
    const rec = anchored.id as string;
    assert.match(rec, /^r[0-9a-f]{32}$/);
    assert.match(anchored.salt as string, /^[0-9a-f]{64}$/, 'a generated salt is printed, to be kept');
    // A salt the member gives is not echoed (printed, it would let anyone test a guess of the content).
    const given = await anchor(
      term.file('other.enc', utf8.encode('other encrypted bytes')),
      '--salt',
      '11'.repeat(32),
    );
    assert.is(given.salt, undefined);
    assert.not.match(JSON.stringify(given), '1111111111');
    assert.is(
      anchored.ciphertextHash,
      Buffer.from(sha256(utf8.encode('encrypted bytes of the result'))).toString('hex'),
    );
    assert.is(((await term.ok('record', 'list', '--patient', alice)).records as string[])[0], rec);
    assert.is((await term.ok('record', 'show', '--record', rec)).custodian, 'acme-lab');

    // The patient grants the hospital; the consent is listed.
    const grant = await term.ok(
      'consent',
      'grant',
      '--key',
      aliceFile,
      '--patient',
      alice,
      '--grantee',
      'city-hospital',
      '--purposes',
      'TREAT',
      '--actions',
      'read',
      '--categories',
      'Observation',
    );
    const listed = await term.run('consent', 'list', '--patient', alice, '--genesis', 'g.json');
    assert.match(listed.out, `${grant.id}  permit city-hospital  read for TREAT on Observation`);
    const check = await term.ok(
      'access',
      'check',
      '--patient',
      alice,
      '--grantee',
      'city-hospital',
      '--record',
      rec,
      '--purpose',
      'TREAT',
      '--action',
      'read',
    );
    assert.is(check.permit, true);

    // The disclosure to the hospital is accepted and in the audit trail; to the clinic it is refused.
    const access = await term.ok(
      'access',
      'record',
      '--key',
      lab,
      '--patient',
      alice,
      '--recipient',
      'city-hospital',
      '--purpose',
      'TREAT',
      '--action',
      'read',
      '--records',
      rec,
    );
    const trail = await term.run('disclosures', 'list', '--patient', alice, '--genesis', 'g.json');
    assert.match(trail.out, `${access.id}`);
    assert.match(trail.out, `acme-lab -> city-hospital  read for TREAT`);
    assert.match(trail.out, `${rec}  consent ${grant.id}`);
    await term.fails(
      'ACCESS_NO_CONSENT',
      'access',
      'record',
      '--key',
      lab,
      '--patient',
      alice,
      '--recipient',
      'north-clinic',
      '--purpose',
      'TREAT',
      '--action',
      'read',
      '--records',
      rec,
      '--genesis',
      'g.json',
    );

    // The clinic asks; the patient sees it pending and approves.
    const req = await term.ok(
      'request',
      'create',
      '--key',
      clinic,
      '--patient',
      alice,
      '--purposes',
      'TREAT',
      '--actions',
      'read',
      '--categories',
      'Observation',
      '--reason',
      'SECOND_OPINION',
    );
    const pending = await term.run('request', 'list', '--patient', alice, '--genesis', 'g.json');
    assert.match(
      pending.out,
      `${req.id}  pending  north-clinic asks read for TREAT on Observation (SECOND_OPINION)`,
    );
    await term.ok('request', 'approve', '--key', aliceFile, '--request', req.id as string);
    assert.equal((await term.ok('request', 'list', '--patient', alice)).requests, []);

    // A consented claim, adjudicated; the same service again is a duplicate.
    await term.ok(
      'consent',
      'grant',
      '--key',
      aliceFile,
      '--patient',
      alice,
      '--grantee',
      'good-insurance',
      '--purposes',
      'HPAYMT',
      '--actions',
      'read',
      '--categories',
      'Observation',
    );
    const line = `80053:2026-01-01:12050:${rec}`;
    const claim = await term.ok(
      'claim',
      'submit',
      '--key',
      hospital,
      '--patient',
      alice,
      '--payer',
      'good-insurance',
      '--line',
      line,
    );
    await term.ok(
      'claim',
      'adjudicate',
      '--key',
      insurer,
      '--claim',
      claim.id as string,
      '--outcome',
      'approved',
    );
    const shownClaim = await term.ok('claim', 'show', '--claim', claim.id as string);
    assert.is(shownClaim.status, 'approved');
    await term.fails(
      'CLAIM_DUPLICATE',
      'claim',
      'submit',
      '--key',
      hospital,
      '--patient',
      alice,
      '--payer',
      'good-insurance',
      '--line',
      line,
      '--genesis',
      'g.json',
    );
    assert.equal((await term.ok('claim', 'list', '--patient', alice)).claims, [claim.id]);

    // Revocation; then human output of a receipt.
    const revoked = await term.run(
      'consent',
      'revoke',
      '--key',
      aliceFile,
      '--consent',
      grant.id as string,
      '--genesis',
      'g.json',
    );
    assert.is(revoked.code, 0, revoked.err);
    assert.match(revoked.out, /^consent\.revoke committed at height \d+\n/);

    const all = term.transcript.join('');
    for (const secret of secrets) assert.not.ok(all.includes(secret), 'a private key was printed');
    assert.not.ok(all.includes(secretText), 'the plaintext was printed');
  }),
);

seeded('every command has --help, and every flag it documents is accepted', () =>
  withTerminal(SEED, async (term) => {
    for (const group of HEALTH_COMMAND_GROUPS) {
      const g = await term.run(group, '--help');
      assert.is(g.code, 0);
      assert.ok(g.out.startsWith(`Usage: careledger ${group} <command>`));
      const names = [...g.out.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!);
      assert.ok(names.length > 0, group);
      for (const name of names) {
        const h = await term.run(group, name, '--help');
        assert.is(h.code, 0, `${group} ${name}: ${h.err}`);
        assert.is(h.out, healthCommandUsage(group, name));
        assert.ok(h.out.startsWith(`Usage: careledger ${group} ${name} `));
        assert.match(h.out, '  --json');
        assert.match(h.out, '  -h, --help');
        // Every documented flag parses (with a value where the help shows one).
        for (const [, flag, arg] of h.out.matchAll(/^ {2}--([a-z-]+)( [A-Z]+)?/gm)) {
          const args = arg === undefined ? [`--${flag}`] : [`--${flag}`, 'x'];
          const r = await term.run(group, name, ...args, '--help');
          assert.is(r.code, 0, `${group} ${name} --${flag}: ${r.err}`);
        }
      }
    }
    assert.match(
      healthCommandUsage('record', 'anchor'),
      'Usage: careledger record anchor --patient ID --category CODE --file FILE --plaintext FILE [--genesis FILE] [--key FILE] [options]',
    );
    // Without a command, a group prints its help to stderr and exits 2.
    const bare = await term.run('claim');
    assert.is(bare.code, 2);
    assert.match(bare.err, 'Usage: careledger claim <command>');
  }),
);

seeded('bad arguments: one line with a code, exit 2', () =>
  withTerminal(SEED, async (term) => {
    const key = term.memberKey('acme-lab');
    const g = ['--genesis', 'g.json'];
    await term.fails('CLI_ARGS_INVALID', 'nosuch', 'thing');
    await term.fails('CLI_ARGS_INVALID', 'record', 'nosuch');
    await term.fails('CLI_ARGS_INVALID', 'record', 'show', '--bogus', ...g);
    assert.match(await term.fails('CLI_ARGS_INVALID', 'record', 'show', ...g), '--record is required');
    assert.match(
      await term.fails('CLI_ARGS_INVALID', 'record', 'show', '--record', 'r1', ...g),
      'not a record id',
    );
    assert.match(
      await term.fails('CLI_ARGS_INVALID', 'record', 'list', '--patient', alicePlaceholder),
      '--genesis is required',
    );
    await term.fails('CLI_ARGS_INVALID', 'record', 'list', '--patient', 'x', 'positional', ...g);
    await term.fails(
      'HEALTH_CODE_INVALID',
      'record',
      'anchor',
      '--key',
      key,
      '--patient',
      alicePlaceholder,
      '--category',
      'Gossip',
      '--file',
      'f',
      '--plaintext',
      'p',
      ...g,
    );
    await term.fails(
      'CLI_FILE_NOT_FOUND',
      'record',
      'anchor',
      '--key',
      key,
      '--patient',
      alicePlaceholder,
      '--category',
      'Observation',
      '--file',
      join(term.dir, 'missing'),
      '--plaintext',
      'p',
      ...g,
    );
    await term.fails(
      'KEY_FILE_NOT_FOUND',
      'consent',
      'revoke',
      '--key',
      join(term.dir, 'nokey'),
      '--consent',
      `c${'0'.repeat(32)}`,
      ...g,
    );
    await term.fails(
      'CLI_ARGS_INVALID',
      'consent',
      'grant',
      '--key',
      key,
      '--patient',
      alicePlaceholder,
      '--grantee',
      'city-hospital',
      '--purposes',
      'TREAT',
      '--actions',
      'read',
      '--end',
      'tomorrow',
      ...g,
    );
    await term.fails(
      'CLI_ARGS_INVALID',
      'claim',
      'submit',
      '--key',
      key,
      '--patient',
      alicePlaceholder,
      '--payer',
      'good-insurance',
      '--line',
      '80053:2026-01-01:12.50:r1',
      ...g,
    );
    // A permit needs --purposes and --actions, checked with the other flags before the key is read.
    const grant = ['consent', 'grant', '--patient', alicePlaceholder, '--grantee', 'city-hospital', ...g];
    const noKey = ['--key', join(term.dir, 'nokey')];
    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...grant, ...noKey, '--actions', 'read'),
      '--purposes is required',
    );
    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...grant, ...noKey, '--purposes', 'TREAT'),
      '--actions is required',
    );
    // A deny rule does not: it passes the flags and reaches the chain.
    await term.fails('PATIENT_NOT_FOUND', ...grant, '--key', key, '--deny');
    const usage = healthCommandUsage('consent', 'grant');
    assert.match(usage, 'e.g. TREAT,HPAYMT (required unless --deny)\n');
    assert.match(usage, 'read, use (required unless --deny)\n');
    // A directory is no key file, whatever its mode.
    assert.match(await term.fails('KEY_FILE_NOT_FOUND', 'keys', 'show', '--key', term.dir), 'is not a file');
    await term.fails('CLI_NOT_FOUND', 'claim', 'show', '--claim', `k${'0'.repeat(32)}`, ...g);
    await term.fails('KEY_FILE_EXISTS', 'keys', 'generate', '--out', key);
    await term.fails(
      'CLAIM_AMOUNTS_INVALID',
      'claim',
      'adjudicate',
      '--key',
      key,
      '--claim',
      `k${'0'.repeat(32)}`,
      '--outcome',
      'partial',
      '--reason',
      'CO-45',
      ...g,
    );
  }),
);

const alicePlaceholder = `p${'a'.repeat(32)}`;

test("text for a terminal: a node's escape sequences and carriage returns are shown, not obeyed", () => {
  const fromNode = '\r\u001b[2Kconsent.revoke committed at height 99\u009b\u007f';
  assert.is(printable(fromNode), '\\u{d}\\u{1b}[2Kconsent.revoke committed at height 99\\u{9b}\\u{7f}');
  assert.is(printable('two\tcolumns\nand lines, é ✓'), 'two\tcolumns\nand lines, é ✓');
});

test('chain times print as ISO dates, or as ms past what a date can hold', () => {
  assert.is(isoTime(0n), '1970-01-01T00:00:00.000Z');
  assert.is(isoTime(8_640_000_000_000_000n), '+275760-09-13T00:00:00.000Z');
  assert.is(isoTime(10n ** 17n), '100000000000000000 ms');
});

test.run();
