/**
 * The CLI as a person uses it (issue 15, part 3): the client config (flag > env > file, paths
 * stored absolute), relative key paths, sets given in any order, readable times and durations,
 * errors that name the flag to change, --break-glass implying ETREAT, unknown patients, a
 * plaintext passed as the encrypted file, the custodian-only message, the break-glass review and
 * the accounting-of-disclosures export.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configPath } from '../../../../packages/cli/config.ts';
import { runHealthCommand } from '../../../../packages/cli/run.ts';
import { genesisFor } from '../../state/health/fixtures.ts';
import { type Terminal, withTerminal } from './cli-terminal.ts';

const G = ['--genesis', 'genesis.json'];

/** Alice registered by the hospital, a lab result anchored by the lab. */
async function aliceWithRecord(term: Terminal) {
  const hospital = term.memberKey('city-hospital');
  const lab = term.memberKey('acme-lab');
  const clinic = term.memberKey('north-clinic');
  const alice = await term.newKey('alice');
  await term.ok('patient', 'register', '--key', hospital, '--patient-key', alice.file);
  const anchored = await term.ok(
    'record',
    'anchor',
    '--key',
    lab,
    '--patient',
    alice.patientId,
    '--category',
    'Observation.laboratory',
    '--file',
    term.file('cbc.enc', 'encrypted'),
    '--plaintext',
    term.file('cbc.json', 'plain'),
  );
  return { hospital, lab, clinic, alice, p: alice.patientId, rec: anchored.id as string };
}

test('config: set, get, list and unset; paths stored absolute; flag > env > file', () =>
  withTerminal('cli-config', async (term) => {
    const hospital = term.memberKey('city-hospital');
    term.memberKey('north-clinic');
    const lab = term.memberKey('acme-lab');
    // Relative to the caller's folder (the terminal's cwd), stored absolute.
    const set = await term.run('config', 'set', 'key', 'city-hospital.key', '--json');
    assert.is(set.code, 0, set.err);
    assert.is(JSON.parse(set.out).value, hospital);
    const file = configPath(term.env);
    assert.is(file, join(term.dir, 'xdg', 'careledger', 'config.json'));
    assert.equal(JSON.parse(readFileSync(file, 'utf8')), { key: hospital });
    assert.match(
      await term.fails('CLI_FILE_NOT_FOUND', 'config', 'set', 'genesis', 'genesis.json'),
      `${join(term.dir, 'genesis.json')} does not exist (genesis not set)`,
    );
    term.file('genesis.json', '{}');
    assert.is((await term.run('config', 'set', 'genesis', 'genesis.json')).code, 0);
    assert.is((await term.run('config', 'set', 'node', 'http://10.0.0.1:26657/')).code, 0);
    assert.is((await term.run('config', 'get', 'node')).out, 'http://10.0.0.1:26657\n');
    assert.is((await term.run('config', 'get', 'genesis')).out, `${join(term.dir, 'genesis.json')}\n`);
    const list = await term.run('config', 'list');
    assert.match(list.out, `key      ${hospital}  (from ${file})`);

    // The node, genesis and key come from the config when no flag gives them.
    const seen: { node: string; genesis: string }[] = [];
    const run = (...args: string[]) => {
      let out = '';
      let err = '';
      return runHealthCommand(
        args,
        {
          ...term.io,
          connect: async (node, genesis) => {
            seen.push({ node, genesis: genesis.chainId });
            return term.io.connect!(node, genesis);
          },
          readGenesis: (path) => {
            seen.push({ node: '', genesis: path });
            return genesisFor().genesis;
          },
          stdout: (s) => {
            out += s;
          },
          stderr: (s) => {
            err += s;
          },
        },
        term.env,
      ).then((code) => ({ code, out, err }));
    };
    const enrolledBy = async (...flags: string[]) => {
      const who = await term.newKey(`p${seen.length}`);
      const r = await run('patient', 'register', '--patient-key', who.file, '--json', ...flags);
      assert.is(r.code, 0, r.err);
      const shown = await term.ok('patient', 'show', '--patient', who.patientId);
      return shown.enrolledBy;
    };
    assert.is(await enrolledBy(), 'city-hospital');
    assert.equal(seen.slice(0, 2), [
      { node: '', genesis: join(term.dir, 'genesis.json') },
      { node: 'http://10.0.0.1:26657', genesis: genesisFor().genesis.chainId },
    ]);
    // The environment overrides the file; a flag (relative to the caller's folder) overrides both.
    term.env = { ...term.env, vars: { ...term.env.vars, CARELEDGER_KEY: 'north-clinic.key' } };
    assert.is(await enrolledBy(), 'north-clinic');
    assert.match((await term.run('config', 'list')).out, `(from CARELEDGER_KEY)`);
    assert.is(await enrolledBy('--key', 'acme-lab.key'), 'acme-lab');
    assert.is(await enrolledBy('--key', lab), 'acme-lab');
    term.env = { ...term.env, vars: { ...term.env.vars, CARELEDGER_NODE: 'http://10.0.0.2:1' } };
    await enrolledBy();
    assert.is(seen.at(-1)!.node, 'http://10.0.0.2:1');
    await enrolledBy('--node', 'http://10.0.0.3:2');
    assert.is(seen.at(-1)!.node, 'http://10.0.0.3:2');

    // Unset: the setting is gone from the file; a chain command then says how to give it.
    term.env = { ...term.env, vars: { XDG_CONFIG_HOME: term.env.vars.XDG_CONFIG_HOME } };
    assert.is((await term.run('config', 'unset', 'genesis')).code, 0);
    assert.match(
      await term.fails('CLI_NOT_FOUND', 'config', 'get', 'genesis'),
      'genesis is not set (careledger config set genesis FILE, or CARELEDGER_GENESIS)',
    );
    assert.match(
      await term.fails('CLI_ARGS_INVALID', 'record', 'list', '--patient', `p${'0'.repeat(32)}`),
      '--genesis is required (or set CARELEDGER_GENESIS, or run careledger config set genesis FILE)',
    );
    assert.match((await term.run('config', 'list')).out, /^genesis\s+\(not set\)$/m);
    assert.match((await term.run('config', 'list')).out, /^node\s+http:\/\/10\.0\.0\.1:26657/m);
  }));

test('config: bad settings, values and files are refused with a code', () =>
  withTerminal('cli-config-bad', async (term) => {
    assert.match(
      await term.fails('CLI_ARGS_INVALID', 'config', 'set', 'colour', 'red'),
      'unknown setting "colour"',
    );
    assert.match(
      await term.fails('CLI_ARGS_INVALID', 'config', 'set', 'node', 'localhost:26657'),
      '"localhost:26657" is not a URL',
    );
    assert.match(await term.fails('CLI_ARGS_INVALID', 'config', 'set', 'node'), 'takes KEY VALUE');
    assert.match(await term.fails('CLI_ARGS_INVALID', 'config', 'get'), 'takes KEY');
    const help = await term.run('config', 'set', '--help');
    assert.match(help.out, /^Usage: careledger config set KEY VALUE \[options\]/);
    // The default node when nothing sets it.
    assert.is((await term.run('config', 'get', 'node')).out, 'http://127.0.0.1:26657\n');
    const file = configPath(term.env);
    assert.is((await term.run('config', 'set', 'node', 'https://rpc.example.org/careledger/')).code, 0);
    assert.is((await term.run('config', 'get', 'node')).out, 'https://rpc.example.org/careledger\n');
    writeFileSync(file, '{"node": ');
    assert.match(await term.fails('CLI_CONFIG_INVALID', 'config', 'list'), 'is not JSON');
    writeFileSync(file, '{"colour": "red"}');
    assert.match(await term.fails('CLI_CONFIG_INVALID', 'config', 'list'), 'unknown setting "colour"');
    assert.match(
      await term.fails('CLI_CONFIG_INVALID', 'record', 'list', '--patient', `p${'0'.repeat(32)}`),
      'unknown setting',
    );
  }));

test('sets in any order, with repeats, are signed sorted; durations and times read as such', () =>
  withTerminal('cli-sets', async (term) => {
    const { p, alice, clinic } = await aliceWithRecord(term);
    const bob = await term.newKey('bob');
    await term.ok(
      'delegate',
      'set',
      '--key',
      alice.file,
      '--patient',
      p,
      '--delegate-key',
      bob.file,
      '--role',
      'proxy',
      '--powers',
      'grant,revoke,approve,deny,grant',
      '--purposes',
      'TREAT,HPAYMT',
      '--max-consent',
      '90d',
    );
    const listed = await term.ok('delegate', 'list', '--patient', p);
    const [d] = listed.delegates as { powers: string[]; purposes: string[] }[];
    assert.equal(d!.powers, ['approve', 'deny', 'grant', 'revoke']);
    assert.equal(d!.purposes, ['HPAYMT', 'TREAT']);
    const text = await term.run('delegate', 'list', '--patient', p, ...G);
    assert.match(text.out, 'approve,deny,grant,revoke for HPAYMT,TREAT  consents within 90 d');
    // The chain's refusal about the delegate's limit names the flag that fixes it.
    const tooLong = await term.fails(
      'DELEGATE_CONSENT_TOO_LONG',
      'consent',
      'grant',
      '--key',
      bob.file,
      '--patient',
      p,
      '--grantee',
      'city-hospital',
      '--purposes',
      'TREAT',
      '--actions',
      'read,read',
      '--categories',
      'Observation',
      '--end',
      '2026-12-31',
      ...G,
    );
    assert.match(tooLong, 'must end within 90 d of when it is given (change --end)');
    assert.match(
      await term.fails(
        'REQUEST_EXPIRY_INVALID',
        'request',
        'create',
        '--key',
        clinic,
        '--patient',
        p,
        '--purposes',
        'TREAT',
        '--actions',
        'read',
        '--categories',
        'Observation',
        '--reason',
        'SECOND_OPINION',
        '--expires',
        '2027-01-01',
        ...G,
      ),
      /within 30 d from now \(change --expires\)$/m,
    );
  }));

test('times print as ISO dates in text, and stay numbers in --json', () =>
  withTerminal('cli-times', async (term) => {
    const { rec } = await aliceWithRecord(term);
    const text = await term.run('record', 'show', '--record', rec, ...G);
    assert.match(text.out, /^anchoredTime\s+2026-01-01T00:00:\d\d\.000Z$/m);
    assert.match(text.out, /^anchoredAt\s+\d+$/m, 'a height stays a number');
    const json = await term.ok('record', 'show', '--record', rec);
    assert.match(json.anchoredTime as string, /^\d+$/);
  }));

test('--break-glass implies ETREAT; another purpose with it is refused', () =>
  withTerminal('cli-bg', async (term) => {
    const { lab, clinic, p, rec } = await aliceWithRecord(term);
    await term.ok(
      'breakglass',
      'declare',
      '--key',
      clinic,
      '--patient',
      p,
      '--reason',
      'PATIENT_UNCONSCIOUS',
    );
    const access = ['access', 'record', '--key', lab, '--patient', p, '--recipient', 'north-clinic'];
    const more = ['--action', 'read', '--records', rec, '--break-glass'];
    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...access, ...more, '--purpose', 'TREAT', ...G),
      '--break-glass is emergency treatment, purpose ETREAT: leave out --purpose (not "TREAT")',
    );
    await term.ok(...access, ...more, '--purpose', 'ETREAT');
    const a = await term.ok(...access, ...more);
    const trail = await term.ok('disclosures', 'list', '--patient', p);
    const events = trail.disclosures as { id: string; purpose: string; breakGlass: string | null }[];
    assert.is(events.at(-1)!.id, a.id);
    assert.is(events.at(-1)!.purpose, 'ETREAT');
    // Without --break-glass, --purpose is still required.
    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...access, '--action', 'read', '--records', rec, ...G),
      '--purpose is required',
    );
  }));

test('an unknown patient is PATIENT_NOT_FOUND, not an empty list', () =>
  withTerminal('cli-unknown', async (term) => {
    const { p } = await aliceWithRecord(term);
    const ghost = `p${'0'.repeat(32)}`;
    for (const group of ['consent', 'record', 'claim', 'request', 'disclosures'])
      assert.match(
        await term.fails('PATIENT_NOT_FOUND', group, 'list', '--patient', ghost, ...G),
        `no patient ${ghost} on chain (proven absent at height`,
      );
    assert.match(
      (await term.run('consent', 'list', '--patient', p, ...G)).out,
      /^no consents \(at height \d+\)$/m,
    );
  }));

test('record anchor refuses a plaintext given as the encrypted file, and points to record put', () =>
  withTerminal('cli-plain', async (term) => {
    const { lab, p } = await aliceWithRecord(term);
    const a = term.file('a.json', 'HbA1c 6.1%');
    const b = term.file('b.json', 'HbA1c 6.1%');
    for (const enc of [a, b])
      assert.match(
        await term.fails(
          'CLI_ARGS_INVALID',
          'record',
          'anchor',
          '--key',
          lab,
          '--patient',
          p,
          '--category',
          'Observation',
          '--file',
          enc,
          '--plaintext',
          a,
          ...G,
        ),
        '--file and --plaintext hold the same bytes: --file is the encrypted record (to encrypt, store and anchor a record in one step, use careledger record put)',
      );
  }));

test("access record by a non-custodian: only the record's custodian records its disclosures", () =>
  withTerminal('cli-custodian', async (term) => {
    const { hospital, p, rec } = await aliceWithRecord(term);
    const err = await term.fails(
      'RECORD_NOT_CUSTODIAN',
      'access',
      'record',
      '--key',
      hospital,
      '--patient',
      p,
      '--recipient',
      'city-hospital',
      '--purpose',
      'TREAT',
      '--action',
      'read',
      '--records',
      rec,
      ...G,
    );
    assert.match(
      err,
      `record ${rec} is held by acme-lab: only the record's custodian records its disclosures`,
    );
  }));

/** Alice's record disclosed three times: to the hospital (consent), and to the clinic under break-glass. */
async function auditScenario(term: Terminal) {
  const s = await aliceWithRecord(term);
  const consent = await term.ok(
    'consent',
    'grant',
    '--key',
    s.alice.file,
    '--patient',
    s.p,
    '--grantee',
    'city-hospital',
    '--purposes',
    'TREAT',
    '--actions',
    'read',
    '--categories',
    'Observation',
  );
  const base = ['access', 'record', '--key', s.lab, '--patient', s.p, '--action', 'read', '--records', s.rec];
  const first = await term.ok(...base, '--recipient', 'city-hospital', '--purpose', 'TREAT');
  const bg = await term.ok(
    'breakglass',
    'declare',
    '--key',
    s.clinic,
    '--patient',
    s.p,
    '--reason',
    'LIFE_THREATENING',
  );
  const second = await term.ok(...base, '--recipient', 'north-clinic', '--break-glass');
  const third = await term.ok(...base, '--recipient', 'north-clinic', '--break-glass');
  const trail = (await term.ok('disclosures', 'list', '--patient', s.p)).disclosures as {
    id: string;
    time: string;
  }[];
  return {
    ...s,
    consent: consent.id as string,
    bg: bg.id as string,
    ids: [first.id, second.id, third.id],
    trail,
  };
}

const iso = (ms: string) => new Date(Number(ms)).toISOString();

test('disclosures list: --from and --to keep a period; --csv exports one row per disclosed record', () =>
  withTerminal('cli-disclosures', async (term) => {
    const { p, rec, consent, bg, ids, trail } = await auditScenario(term);
    assert.equal(
      trail.map((e) => e.id),
      ids,
    );
    const during = (...flags: string[]) =>
      term
        .ok('disclosures', 'list', '--patient', p, ...flags)
        .then((r) => (r.disclosures as { id: string }[]).map((e) => e.id));
    assert.equal(await during('--from', iso(trail[1]!.time)), ids.slice(1));
    assert.equal(await during('--to', iso(trail[1]!.time)), ids.slice(0, 2));
    assert.equal(await during('--from', iso(trail[1]!.time), '--to', iso(trail[1]!.time)), [ids[1]]);
    // A day as --to is the whole day; the next day has none.
    assert.equal(await during('--from', '2026-01-01', '--to', '2026-01-01'), ids);
    const none = await term.run('disclosures', 'list', '--patient', p, '--from', '2026-01-02', ...G);
    assert.match(none.out, /^no disclosures from 2026-01-02T00:00:00\.000Z \(at height \d+\)$/m);
    assert.match(
      await term.fails(
        'CLI_ARGS_INVALID',
        'disclosures',
        'list',
        '--patient',
        p,
        '--from',
        '2026-02-01',
        '--to',
        '2026-01-01',
        ...G,
      ),
      '--to is before --from',
    );

    const csv = await term.run('disclosures', 'list', '--patient', p, '--csv', ...G);
    assert.is(csv.code, 0, csv.err);
    const lines = csv.out.split('\n');
    assert.is(
      lines[0],
      'time,access_id,custodian,recipient,purpose,action,record,consent,break_glass,release,height',
    );
    assert.is(lines.length, 5, 'a header, three rows and the final line end');
    assert.match(
      lines[1]!,
      new RegExp(
        `^${iso(trail[0]!.time)},${ids[0]},acme-lab,city-hospital,TREAT,read,${rec},${consent},,,\\d+$`,
      ),
    );
    assert.match(
      lines[2]!,
      new RegExp(`^${iso(trail[1]!.time)},${ids[1]},acme-lab,north-clinic,ETREAT,read,${rec},,${bg},,\\d+$`),
    );
    const period = await term.run(
      'disclosures',
      'list',
      '--patient',
      p,
      '--csv',
      '--from',
      iso(trail[2]!.time),
      ...G,
    );
    assert.is(period.out.split('\n').length, 3);
    assert.match(
      await term.fails('CLI_ARGS_INVALID', 'disclosures', 'list', '--patient', p, '--csv', '--json', ...G),
      'give one of --csv and --json',
    );
  }));

test('breakglass list: the review of declarations by patient or by member, with their disclosures', () =>
  withTerminal('cli-bg-review', async (term) => {
    const { p, bg, clinic } = await auditScenario(term);
    const byPatient = await term.ok('breakglass', 'list', '--patient', p);
    const rows = byPatient.declarations as {
      id: string;
      member: string;
      reason: string;
      active: boolean;
      disclosures: number;
    }[];
    assert.equal(
      rows.map((r) => [r.id, r.member, r.reason, r.active, r.disclosures]),
      [[bg, 'north-clinic', 'LIFE_THREATENING', true, 2]],
    );
    const byMember = await term.ok('breakglass', 'list', '--member', 'north-clinic');
    assert.equal(byMember.declarations, byPatient.declarations);
    const text = await term.run('breakglass', 'list', '--member', 'north-clinic', ...G);
    assert.match(
      text.out,
      new RegExp(
        `^${bg}  2026-01-01T\\S+  north-clinic for ${p}  LIFE_THREATENING  until 2026-01-01T04:\\S+  ACTIVE  2 disclosures$`,
        'm',
      ),
    );
    // Another member has none; a period without declarations lists none.
    assert.match(
      (await term.run('breakglass', 'list', '--member', 'city-hospital', ...G)).out,
      /^no break-glass declarations \(at height/m,
    );
    assert.equal(
      (await term.ok('breakglass', 'list', '--patient', p, '--from', '2026-01-02')).declarations,
      [],
    );
    await term.fails('MEMBER_NOT_FOUND', 'breakglass', 'list', '--member', 'st-nowhere', ...G);
    await term.fails('PATIENT_NOT_FOUND', 'breakglass', 'list', '--patient', `p${'0'.repeat(32)}`, ...G);
    assert.match(
      await term.fails('CLI_ARGS_INVALID', 'breakglass', 'list', ...G),
      'give one of --patient ID and --member MEMBER',
    );
    assert.match(
      await term.fails(
        'CLI_ARGS_INVALID',
        'breakglass',
        'list',
        '--patient',
        p,
        '--member',
        'north-clinic',
        ...G,
      ),
      'give one of',
    );
    assert.ok(clinic.endsWith('north-clinic.key'));
  }));

test('claim submit --supersedes amends a claim; a second bill for the service names the first', () =>
  withTerminal('cli-claims', async (term) => {
    const { p, alice, hospital, clinic, rec } = await aliceWithRecord(term);
    await term.ok(
      'consent',
      'grant',
      '--key',
      alice.file,
      '--patient',
      p,
      '--grantee',
      'good-insurance',
      '--purposes',
      'HPAYMT',
      '--actions',
      'read',
      '--categories',
      'Observation',
    );
    const submit = (key: string, cents: string, ...more: string[]) => [
      'claim',
      'submit',
      '--key',
      key,
      '--patient',
      p,
      '--payer',
      'good-insurance',
      '--line',
      `80053:2025-12-31:${cents}:${rec}`,
      ...more,
    ];
    const first = await term.ok(...submit(hospital, '4200'));
    // Another institution billing the same test on the same day to the same payer.
    assert.match(
      await term.fails('CLAIM_DUPLICATE', ...submit(clinic, '4200'), ...G),
      `already claimed from good-insurance for this patient, in claim ${first.id}`,
    );
    await term.fails(
      'CLAIM_SUPERSEDE_INVALID',
      ...submit(clinic, '4000', '--supersedes', first.id as string),
      ...G,
    );
    const amended = await term.ok(...submit(hospital, '4000', '--supersedes', first.id as string));
    const old = await term.ok('claim', 'show', '--claim', first.id as string);
    assert.is(old.status, 'superseded');
    assert.is(old.supersededBy, amended.id);
    assert.is((await term.ok('claim', 'show', '--claim', amended.id as string)).supersedes, first.id);
    const text = await term.run('claim', 'show', '--claim', first.id as string, ...G);
    assert.match(text.out, '"date":"2025-12-31"');
    assert.match(text.out, /"status":"superseded","height":"\d+","time":"2026-01-01T/);
    await term.fails('CLI_ARGS_INVALID', ...submit(hospital, '4000', '--supersedes', rec), ...G);
  }));

test.run();
