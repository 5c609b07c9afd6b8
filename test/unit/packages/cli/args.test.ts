/**
 * The CLI's shared argument parsing (packages/cli/args.ts) on its own: the strict parse, required
 * flags, the typed readers' refusals (each CLI_ARGS_INVALID naming the flag), and the guard that
 * a command reads only the flags it declares.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkRequired,
  declaredOnly,
  durationArg,
  fileArg,
  idsArg,
  type OptionSpecs,
  parseFlags,
  parsePubKey,
  parseTime,
  uintArg,
} from '../../../../packages/cli/args.ts';
import { defaultCliIo } from '../../../../packages/cli/io.ts';
import { CareLedgerError } from '../../../../packages/core/errors.ts';

function fails(code: string, message: RegExp, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, CareLedgerError);
    assert.is((err as CareLedgerError).code, code);
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

const OPTIONS: OptionSpecs = {
  patient: { arg: 'ID', help: 'the patient', required: true },
  purposes: { arg: 'LIST', help: 'purposes', requiredUnless: 'deny' },
  deny: { help: 'a deny rule' },
  line: { arg: 'LINE', help: 'a line', required: true, multiple: true },
};

test('the parse is strict: unknown flags, missing values and positionals are refused, one line', () => {
  const v = parseFlags(OPTIONS, ['--patient', 'p1', '--line', 'a', '--line', 'b', '--deny', '-h']);
  assert.equal({ ...v }, { patient: 'p1', line: ['a', 'b'], deny: true, help: true });
  fails('CLI_ARGS_INVALID', /^Unknown option '--bogus'$/, () => parseFlags(OPTIONS, ['--bogus']));
  fails('CLI_ARGS_INVALID', /--patient/, () => parseFlags(OPTIONS, ['--patient']));
  fails('CLI_ARGS_INVALID', /extra/, () => parseFlags(OPTIONS, ['extra']));
});

test('required flags, and a flag required unless a boolean flag is given', () => {
  fails('CLI_ARGS_INVALID', /^--patient is required$/, () => checkRequired(OPTIONS, { purposes: 'TREAT' }));
  fails('CLI_ARGS_INVALID', /^--purposes is required$/, () => checkRequired(OPTIONS, { patient: 'p1' }));
  // --deny waives --purposes; a repeatable flag is left to the command, which reads it as a list.
  checkRequired(OPTIONS, { patient: 'p1', deny: true });
});

test('a command that reads a flag it does not declare fails loudly', () => {
  const v = declaredOnly(OPTIONS, { patient: 'p1' });
  assert.is(v.patient, 'p1');
  assert.is(v.deny, undefined);
  assert.is(v.help, undefined);
  fails('CLI_FLAG_UNDECLARED', /--pateint/, () => v.pateint);
});

test('typed readers name the flag and refuse what they cannot read exactly', () => {
  assert.is(parseTime('2026-06-30', 'end'), BigInt(Date.UTC(2026, 5, 30)));
  assert.is(parseTime('2026-06-30T12:00:00Z', 'end'), BigInt(Date.UTC(2026, 5, 30, 12)));
  // An impossible day is refused, not rolled over into March.
  fails('CLI_ARGS_INVALID', /^--end: "2026-02-31" is not a UTC date/, () => parseTime('2026-02-31', 'end'));
  fails('CLI_ARGS_INVALID', /^--end: "2026-06-30T12:00:00" is not a UTC date/, () =>
    parseTime('2026-06-30T12:00:00', 'end'),
  );
  assert.is(durationArg({ ttl: '90d' }, 'ttl'), 90n * 86_400_000n);
  assert.is(durationArg({ ttl: '45s' }, 'ttl'), 45_000n);
  assert.is(durationArg({}, 'ttl'), null);
  fails('CLI_ARGS_INVALID', /^--ttl: "0d" is not a duration/, () => durationArg({ ttl: '0d' }, 'ttl'));
  fails('CLI_ARGS_INVALID', /^--ttl: "1w" is not a duration/, () => durationArg({ ttl: '1w' }, 'ttl'));
  assert.is(uintArg({ power: '10' }, 'power'), 10n);
  fails('CLI_ARGS_INVALID', /^--power: "010" is not a whole number$/, () =>
    uintArg({ power: '010' }, 'power'),
  );
  fails('CLI_ARGS_INVALID', /^--records: "x" is not a record id$/, () =>
    idsArg({ records: `r${'0'.repeat(32)},x` }, 'records', 'record'),
  );
  assert.equal(idsArg({}, 'records', 'record'), []);
  const key = new Uint8Array(32).fill(7);
  const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
  assert.is(hex(parsePubKey(hex(key), 'k')), hex(key));
  assert.is(hex(parsePubKey(Buffer.from(key).toString('base64'), 'k')), hex(key));
  fails('CLI_ARGS_INVALID', /^--k: .* is not a 32-byte public key/, () => parsePubKey('AAAA', 'k'));
});

test('an unreadable input file is CLI_FILE_NOT_FOUND naming the flag', () => {
  fails('CLI_FILE_NOT_FOUND', /^--file: cannot read \/nonexistent\/careledger-x$/, () =>
    fileArg(defaultCliIo, { file: '/nonexistent/careledger-x' }, 'file'),
  );
});

test.run();
