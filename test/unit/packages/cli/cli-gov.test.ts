import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { peerIdFromNodeKey } from '../../../../p2p/identity.ts';
import { healthCommandUsage } from '../../../../packages/cli/run.ts';
import { loadKeyFile } from '../../../../packages/client/keys.ts';
import { sha256 } from '../../../../packages/crypto/hash.ts';
import { keyOf, MEMBERS } from '../../state/health/fixtures.ts';
import { withTerminal } from './cli-terminal.ts';

const _utf8 = new TextEncoder();
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

const G = ['--genesis', 'g.json'];

test('the test chain has five genesis members, so a proposal needs four yes votes', () => {
  assert.equal(
    MEMBERS.map((m) => m.id),
    ['city-hospital', 'north-clinic', 'acme-lab', 'good-insurance', 'uni-research'],
  );
});

test('a governance round admits a new institution, which can then enrol and anchor', () =>
  withTerminal('cli-gov', async (term, t) => {
    const [hospital, clinic, lab, insurer, research] = MEMBERS.map((m) => term.memberKey(m.id)) as [
      string,
      string,
      string,
      string,
      string,
    ];
    // The new institution makes its key and sends only the public key to the consortium.
    const stMary = await term.newKey('st-mary');
    const alice = await term.newKey('alice');
    const register = ['patient', 'register', '--key', stMary.file, '--patient-key', alice.file, ...G];
    await term.fails('CLIENT_NOT_MEMBER', ...register);

    assert.equal((await term.ok('gov', 'list')).proposals, []);
    const proposed = await term.ok(
      'gov',
      'propose',
      '--key',
      hospital,
      '--action',
      'member.add',
      '--member',
      'st-mary',
      '--member-pubkey',
      stMary.publicKey,
      '--roles',
      'provider',
      '--deadline',
      '+20',
    );
    const id = proposed.id as string;
    assert.match(id, /^g[0-9a-f]{32}$/);
    assert.is(proposed.type, 'gov.propose');
    assert.is(proposed.status, 'open');
    assert.is(proposed.action, `member.add st-mary (provider) key ${stMary.publicKey}`);

    const shown = await term.ok('gov', 'show', '--proposal', id);
    assert.is(shown.proposer, 'city-hospital');
    assert.is(shown.deadline, String(BigInt(proposed.height as string) - 1n + 20n));
    assert.equal(shown.action, {
      kind: 'member.add',
      member: 'st-mary',
      pubKey: stMary.publicKey,
      roles: ['provider'],
    });
    assert.equal(shown.tally, { activeMembers: 5, yes: 1, no: 0, needed: 4 });

    // One member against, two more for: still open (3 of 4 needed).
    assert.is((await term.ok('gov', 'vote', '--key', research, '--proposal', id, '--no')).status, 'open');
    assert.is((await term.ok('gov', 'vote', '--key', clinic, '--proposal', id, '--yes')).status, 'open');
    assert.is((await term.ok('gov', 'vote', '--key', lab, '--proposal', id, '--yes')).status, 'open');
    const listed = await term.run('gov', 'list', ...G);
    assert.is(listed.code, 0, listed.err);
    assert.match(
      listed.out,
      `${id}  member.add st-mary (provider) key ${stMary.publicKey}  yes 3/4 of 5, no 1`,
    );
    await term.fails('GOV_ALREADY_VOTED', 'gov', 'vote', '--key', lab, '--proposal', id, '--yes', ...G);
    await term.fails('CLIENT_NOT_MEMBER', ...register);

    // The fourth yes passes it, in the block of that vote.
    const passing = await term.run('gov', 'vote', '--key', insurer, '--proposal', id, '--yes', ...G);
    assert.is(passing.code, 0, passing.err);
    assert.match(passing.out, /^gov\.vote committed at height \d+\n/);
    assert.match(passing.out, /\nstatus +passed\n/);
    const after = await term.ok('gov', 'show', '--proposal', id);
    assert.is(after.status, 'passed');
    assert.is(after.tally, undefined);
    assert.equal(
      (after.votes as { member: string; approve: boolean }[]).map((v) => `${v.member}:${v.approve}`),
      [
        'city-hospital:true',
        'uni-research:false',
        'north-clinic:true',
        'acme-lab:true',
        'good-insurance:true',
      ],
    );
    assert.equal((await term.ok('gov', 'list')).proposals, []);
    await term.fails(
      'GOV_PROPOSAL_CLOSED',
      'gov',
      'vote',
      '--key',
      research,
      '--proposal',
      id,
      '--yes',
      ...G,
    );

    // The new member's key now signs as st-mary: it enrols a patient and anchors a record.
    const reg = await term.ok(...register.slice(0, -2));
    assert.is(reg.id, alice.patientId);
    assert.is((await term.ok('patient', 'show', '--patient', alice.patientId)).enrolledBy, 'st-mary');
    const anchored = await term.ok(
      'record',
      'anchor',
      '--key',
      stMary.file,
      '--patient',
      alice.patientId,
      '--category',
      'Observation',
      '--file',
      term.file('x.enc', 'encrypted'),
      '--plaintext',
      term.file('x.json', 'plain'),
    );
    assert.is((await term.ok('record', 'show', '--record', anchored.id as string)).custodian, 'st-mary');

    // Six members now: a validator change needs five yes votes; the app then updates the set.
    const validator = keyOf('validator/new').publicKey;
    const v = await term.ok(
      'gov',
      'propose',
      '--key',
      stMary.file,
      '--action',
      'validator.set',
      '--validator-pubkey',
      base64(validator),
      '--power',
      '10',
      '--deadline',
      String(t.h.height + 5n),
    );
    assert.is(v.action, `validator.set ${base64(validator)} power 10`);
    assert.equal(
      ((await term.ok('gov', 'show', '--proposal', v.id as string)).tally as { needed: number }).needed,
      5,
    );
    for (const key of [hospital, clinic, lab])
      await term.ok('gov', 'vote', '--key', key, '--proposal', v.id as string, '--yes');
    assert.equal(t.h.lastResult!.validatorUpdates, []);
    const last = await term.ok('gov', 'vote', '--key', insurer, '--proposal', v.id as string, '--yes');
    assert.is(last.status, 'passed');
    assert.equal(t.h.lastResult!.validatorUpdates, [{ pubKey: validator, power: 10n }]);
  }));

test("member.nodes: --node-ids is required; --node-ids '' proposes no nodes", () =>
  withTerminal('cli-gov', async (term) => {
    const key = term.memberKey('city-hospital');
    const [a, b] = ['a', 'b'].map((l) => peerIdFromNodeKey(sha256(Buffer.from(`node/${l}`)))).sort() as [
      string,
      string,
    ];
    const nodes = (...args: string[]) => [
      'gov',
      'propose',
      '--key',
      key,
      '--action',
      'member.nodes',
      '--member',
      'acme-lab',
      ...args,
      '--deadline',
      '+5',
    ];
    const shownNodes = async (id: unknown) =>
      ((await term.ok('gov', 'show', '--proposal', id as string)).action as { nodes: string[] }).nodes;

    // Omitted, it would propose that the member has no nodes: refused, before any tx.
    assert.match(await term.fails('CLI_ARGS_INVALID', ...nodes(), ...G), '--node-ids is required');
    assert.equal((await term.ok('gov', 'list')).proposals, []);
    const none = await term.ok(...nodes('--node-ids', ''));
    assert.is(none.action, 'member.nodes acme-lab nodes (none)');
    assert.equal(await shownNodes(none.id), []);
    // Sorted and unique, as the chain requires.
    const two = await term.ok(...nodes('--node-ids', `${b}, ${a},${b}`));
    assert.is(two.action, `member.nodes acme-lab nodes ${a},${b}`);
    assert.equal(await shownNodes(two.id), [a, b]);
  }));

test('patient rotate-key: the new key signs, the old one is refused', () =>
  withTerminal('cli-gov', async (term) => {
    const hospital = term.memberKey('city-hospital');
    const alice = await term.newKey('alice');
    const next = await term.newKey('alice-2026');
    await term.ok('patient', 'register', '--key', hospital, '--patient-key', alice.file);

    const grant = (key: string) => [
      'consent',
      'grant',
      '--key',
      key,
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
    ];
    // Only the patient's current key may rotate it.
    await term.fails(
      'HEALTH_UNAUTHORIZED',
      'patient',
      'rotate-key',
      '--key',
      next.file,
      '--patient',
      alice.patientId,
      '--new-key',
      next.file,
      ...G,
    );
    const rotated = await term.run(
      'patient',
      'rotate-key',
      '--key',
      alice.file,
      '--patient',
      alice.patientId,
      '--new-key',
      next.file,
      ...G,
    );
    assert.is(rotated.code, 0, rotated.err);
    assert.match(rotated.out, /^patient\.rotate-key committed at height \d+\n/);
    assert.match(rotated.out, `\npublicKey  ${next.publicKey}\n`);
    const shown = await term.ok('patient', 'show', '--patient', alice.patientId);
    assert.is(shown.pubKey, next.publicKey);
    assert.is(shown.keyRotations, 1);
    assert.is(shown.id, alice.patientId);

    await term.fails('HEALTH_UNAUTHORIZED', ...grant(alice.file), ...G);
    assert.match((await term.ok(...grant(next.file))).id as string, /^c[0-9a-f]{32}$/);
    // The old key can never come back, not even to the same patient.
    await term.fails(
      'HEALTH_KEY_IN_USE',
      'patient',
      'rotate-key',
      '--key',
      next.file,
      '--patient',
      alice.patientId,
      '--new-key',
      alice.file,
      ...G,
    );
  }));

test('delegate set: a delegate grants within its limits; removed, it can do nothing', () =>
  withTerminal('cli-gov', async (term) => {
    const hospital = term.memberKey('city-hospital');
    const alice = await term.newKey('alice');
    const bob = await term.newKey('bob');
    const p = alice.patientId;
    await term.ok('patient', 'register', '--key', hospital, '--patient-key', alice.file);

    const grantAs = (key: string, purposes: string, ...more: string[]) => [
      'consent',
      'grant',
      '--key',
      key,
      '--patient',
      p,
      '--grantee',
      'city-hospital',
      '--purposes',
      purposes,
      '--actions',
      'read',
      '--categories',
      'Observation',
      ...more,
    ];
    await term.fails('HEALTH_UNAUTHORIZED', ...grantAs(bob.file, 'TREAT', '--end', '2026-01-20'), ...G);

    // Only the patient names delegates.
    const set = [
      'delegate',
      'set',
      '--patient',
      p,
      '--delegate-key',
      bob.file,
      '--role',
      'proxy',
      '--powers',
      'grant,revoke',
      '--purposes',
      'TREAT',
      '--max-consent',
      '30d',
      '--expires',
      '2026-12-31',
    ];
    await term.fails('HEALTH_UNAUTHORIZED', ...set, '--key', bob.file, ...G);
    const r = await term.ok(...set, '--key', alice.file);
    assert.is(r.type, 'delegate.set');
    assert.is(r.id, p);
    assert.is(r.delegate, bob.publicKey);
    const listed = await term.ok('delegate', 'list', '--patient', p);
    assert.equal(listed.delegates, [
      {
        pubKey: bob.publicKey,
        role: 'proxy',
        powers: ['grant', 'revoke'],
        purposes: ['TREAT'],
        expiresAt: String(Date.parse('2026-12-31')),
        maxConsentMs: String(30 * 86_400_000),
        addedAt: String(BigInt(r.height as string)),
      },
    ]);
    const text = await term.run('delegate', 'list', '--patient', p, ...G);
    assert.match(
      text.out,
      `${bob.publicKey}  proxy  grant,revoke for TREAT  consents within 30 d  until 2026-12-31T00:00:00.000Z`,
    );

    // Bob grants for TREAT, ending within 30 days: accepted. Beyond his limits: refused.
    const granted = await term.ok(...grantAs(bob.file, 'TREAT', '--end', '2026-01-20'));
    const consents = await term.run('consent', 'list', '--patient', p, ...G);
    assert.match(consents.out, `${granted.id}  permit city-hospital  read for TREAT on Observation`);
    await term.fails('DELEGATE_CONSENT_TOO_LONG', ...grantAs(bob.file, 'TREAT'), ...G);
    await term.fails('DELEGATE_POWER_DENIED', ...grantAs(bob.file, 'HPAYMT', '--end', '2026-01-20'), ...G);
    // A day that does not exist is refused, not rolled over into the next month.
    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...grantAs(bob.file, 'TREAT', '--end', '2026-02-31'), ...G),
      /--end: "2026-02-31" is not a UTC date/,
    );
    await term.ok('consent', 'revoke', '--key', bob.file, '--consent', granted.id as string);

    // Removed (by the public key, in base64 here), Bob can do nothing for Alice.
    const bobKey = base64(loadKeyFile(bob.file).publicKey);
    await term.ok('delegate', 'remove', '--key', alice.file, '--patient', p, '--delegate-pubkey', bobKey);
    assert.equal((await term.ok('delegate', 'list', '--patient', p)).delegates, []);
    await term.fails('HEALTH_UNAUTHORIZED', ...grantAs(bob.file, 'TREAT', '--end', '2026-01-20'), ...G);
    await term.fails(
      'DELEGATE_NOT_FOUND',
      'delegate',
      'remove',
      '--key',
      alice.file,
      '--patient',
      p,
      '--delegate-pubkey',
      bob.publicKey,
      ...G,
    );
  }));

test('bad arguments: one line with a code, exit 2', () =>
  withTerminal('cli-gov', async (term) => {
    const key = term.memberKey('city-hospital');
    const stMary = keyOf('st-mary').publicKey;
    const p = `p${'a'.repeat(32)}`;
    const g = `g${'0'.repeat(32)}`;
    const propose = (...args: string[]) => ['gov', 'propose', '--key', key, ...args, ...G];
    const add = ['--action', 'member.add', '--member', 'st-mary', '--roles', 'provider', '--deadline', '+5'];

    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...propose('--deadline', '+5')),
      '--action is required',
    );
    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...propose('--action', 'member.remove', '--member', 'acme-lab')),
      '--deadline is required',
    );
    await term.fails('HEALTH_CODE_INVALID', ...propose('--action', 'member.fly', '--deadline', '5'));
    for (const bad of ['soon', '+0', '-3', '0', '+1.5'])
      assert.match(
        await term.fails(
          'CLI_ARGS_INVALID',
          ...propose('--action', 'member.remove', '--member', 'acme-lab', '--deadline', bad),
        ),
        '--deadline',
      );
    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...propose(...add)),
      'give one of --member-key FILE and --member-pubkey KEY',
    );
    await term.fails(
      'CLI_ARGS_INVALID',
      ...propose(...add, '--member-pubkey', hex(stMary), '--member-key', join(term.dir, 'k')),
    );
    for (const bad of ['zz', hex(stMary).slice(2), base64(stMary).replace(/=$/, '')])
      assert.match(
        await term.fails('CLI_ARGS_INVALID', ...propose(...add, '--member-pubkey', bad)),
        'is not a 32-byte public key in base64 or hex',
      );
    await term.fails('KEY_FILE_NOT_FOUND', ...propose(...add, '--member-key', join(term.dir, 'nokey')));
    assert.match(
      await term.fails(
        'CLI_ARGS_INVALID',
        ...propose(
          '--action',
          'member.add',
          '--member',
          'St Mary',
          '--member-pubkey',
          hex(stMary),
          '--roles',
          'provider',
          '--deadline',
          '5',
        ),
      ),
      'is not a member id',
    );
    await term.fails(
      'HEALTH_CODE_INVALID',
      ...propose(...add, '--member-pubkey', hex(stMary), '--roles', 'surgeon'),
    );
    assert.match(
      await term.fails(
        'CLI_ARGS_INVALID',
        ...propose('--action', 'member.remove', '--member', 'acme-lab', '--roles', 'lab', '--deadline', '5'),
      ),
      '--roles does not apply to --action member.remove',
    );
    assert.match(
      await term.fails(
        'CLI_ARGS_INVALID',
        ...propose(
          '--action',
          'validator.set',
          '--validator-pubkey',
          base64(stMary),
          '--power',
          '-1',
          '--deadline',
          '5',
        ),
      ),
      '--power',
    );
    await term.fails(
      'CLI_ARGS_INVALID',
      ...propose('--action', 'validator.set', '--power', '1', '--deadline', '5'),
    );
    await term.fails(
      'HEALTH_CODE_INVALID',
      ...propose('--action', 'params.set', '--param', 'block_size', '--value', '5', '--deadline', '5'),
    );
    // Out of the parameter's bounds: refused locally, with the chain's own code.
    await term.fails(
      'GOV_ACTION_INVALID',
      ...propose(
        '--action',
        'params.set',
        '--param',
        'proposal_max_blocks',
        '--value',
        '5',
        '--deadline',
        '+5',
      ),
    );
    // A deadline in the past, or too far: the chain's rule.
    await term.fails(
      'GOV_DEADLINE_INVALID',
      ...propose(
        '--action',
        'params.set',
        '--param',
        'proposal_max_blocks',
        '--value',
        '50',
        '--deadline',
        '1000000000',
      ),
    );
    // Not a member: the chain refuses the proposer.
    const stranger = (await term.newKey('stranger')).file;
    await term.fails(
      'HEALTH_UNAUTHORIZED',
      'gov',
      'propose',
      '--key',
      stranger,
      ...add,
      '--member-pubkey',
      hex(stMary),
      ...G,
    );

    const vote = (...args: string[]) => ['gov', 'vote', '--key', key, ...args, ...G];
    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...vote('--proposal', g)),
      'give one of --yes and --no',
    );
    await term.fails('CLI_ARGS_INVALID', ...vote('--proposal', g, '--yes', '--no'));
    await term.fails('CLI_ARGS_INVALID', ...vote('--proposal', g, '--yes=1'));
    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...vote('--proposal', 'g1', '--yes')),
      'not a proposal id',
    );
    await term.fails('GOV_PROPOSAL_NOT_FOUND', ...vote('--proposal', g, '--yes'));
    await term.fails('CLI_NOT_FOUND', 'gov', 'show', '--proposal', g, ...G);
    await term.fails('CLI_ARGS_INVALID', 'gov', 'show', ...G);
    await term.fails('CLI_ARGS_INVALID', 'gov', 'list', '--proposal', g, ...G);
    await term.fails('CLI_ARGS_INVALID', 'gov', 'nosuch');

    const rotate = ['patient', 'rotate-key', '--key', key, '--patient', p];
    assert.match(await term.fails('CLI_ARGS_INVALID', ...rotate, ...G), '--new-key is required');
    await term.fails('KEY_FILE_NOT_FOUND', ...rotate, '--new-key', join(term.dir, 'nokey'), ...G);
    await term.fails('PATIENT_NOT_FOUND', ...rotate, '--new-key', key, ...G);

    const set = ['delegate', 'set', '--key', key, '--patient', p, '--role', 'proxy', '--powers', 'grant'];
    const pub = ['--delegate-pubkey', hex(stMary)];
    assert.match(
      await term.fails('CLI_ARGS_INVALID', ...set, ...G),
      'give one of --delegate-key FILE and --delegate-pubkey KEY',
    );
    assert.match(
      await term.fails('CLI_ARGS_INVALID', 'delegate', 'set', '--key', key, '--patient', p, ...pub, ...G),
      '--role is required',
    );
    await term.fails(
      'HEALTH_CODE_INVALID',
      'delegate',
      'set',
      '--key',
      key,
      '--patient',
      p,
      ...pub,
      '--role',
      'boss',
      '--powers',
      'grant',
      ...G,
    );
    await term.fails('HEALTH_CODE_INVALID', ...set, ...pub, '--powers', 'fly', ...G);
    await term.fails('HEALTH_CODE_INVALID', ...set, ...pub, '--purposes', 'FUN', ...G);
    for (const bad of ['30', '0d', '1y', '-1d'])
      assert.match(
        await term.fails('CLI_ARGS_INVALID', ...set, ...pub, '--max-consent', bad, ...G),
        '--max-consent',
      );
    await term.fails('CLI_ARGS_INVALID', ...set, ...pub, '--expires', 'next year', ...G);
    await term.fails('CLI_ARGS_INVALID', ...set, ...pub, '--patient', 'alice', ...G);
    await term.fails('PATIENT_NOT_FOUND', ...set, ...pub, ...G);
    await term.fails('CLI_ARGS_INVALID', 'delegate', 'remove', '--key', key, '--patient', p, ...G);
    await term.fails('PATIENT_NOT_FOUND', 'delegate', 'remove', '--key', key, '--patient', p, ...pub, ...G);
    await term.fails('CLI_NOT_FOUND', 'delegate', 'list', '--patient', p, ...G);
  }));

test('--help of every new command, and the groups list them', () =>
  withTerminal('cli-gov', async (term) => {
    const commands = [
      ['gov', 'propose'],
      ['gov', 'vote'],
      ['gov', 'show'],
      ['gov', 'list'],
      ['delegate', 'set'],
      ['delegate', 'remove'],
      ['delegate', 'list'],
      ['patient', 'rotate-key'],
    ] as const;
    for (const [group, name] of commands) {
      for (const flag of ['--help', '-h']) {
        const h = await term.run(group, name, flag);
        assert.is(h.code, 0, `${group} ${name}: ${h.err}`);
        assert.is(h.err, '');
        assert.is(h.out, healthCommandUsage(group, name));
        assert.ok(h.out.startsWith(`Usage: careledger ${group} ${name} `));
        assert.match(h.out, '  --json');
        assert.match(h.out, '  -h, --help');
      }
      // --help wins over missing or bad arguments.
      assert.is((await term.run(group, name, '--json', '--help')).code, 0);
    }
    for (const name of ['propose', 'vote', 'show'])
      assert.match(healthCommandUsage('gov', name), 'more than 2/3 of the active members have voted yes');
    const propose = healthCommandUsage('gov', 'propose');
    assert.match(
      propose,
      'Usage: careledger gov propose --action KIND --deadline HEIGHT|+BLOCKS [--genesis FILE] [--key FILE] [options]',
    );
    for (const kind of [
      'member.add',
      'member.remove',
      'member.roles',
      'member.rekey',
      'member.nodes',
      'validator.set',
      'params.set',
    ])
      assert.match(propose, `\n  ${kind} `);
    assert.match(
      propose,
      "--node-ids LIST            the peer ids of the member's nodes, '' for none (required for",
    );
    assert.match(propose, '  --deadline HEIGHT|+BLOCKS  the last height');
    assert.match(propose, 'proposal_max_blocks    10 to 10000000');
    assert.match(
      healthCommandUsage('patient', 'rotate-key'),
      'Usage: careledger patient rotate-key --patient ID --new-key FILE [--genesis FILE] [--key FILE] [options]',
    );
    // Long flags widen their command's option column; other commands keep theirs.
    assert.match(healthCommandUsage('delegate', 'set'), '\n  --max-consent DURATION  its consents');
    assert.match(healthCommandUsage('record', 'show'), '\n  --record ID         the record id');

    const gov = await term.run('gov', '--help');
    assert.is(gov.code, 0);
    assert.match(gov.out, /^ {2}propose +propose a consortium change/m);
    for (const name of ['vote', 'show', 'list']) assert.match(gov.out, new RegExp(`^ {2}${name} {2,}`, 'm'));
    const delegate = await term.run('delegate', '--help');
    for (const name of ['set', 'remove', 'list'])
      assert.match(delegate.out, new RegExp(`^ {2}${name} {2,}`, 'm'));
    assert.match((await term.run('patient', '--help')).out, /^ {2}rotate-key {2,}/m);
    const bare = await term.run('gov');
    assert.is(bare.code, 2);
    assert.match(bare.err, 'Usage: careledger gov <command>');
  }));

test.run();
