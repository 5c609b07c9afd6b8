/**
 * Key files: save and load round trip, mode 0600, no overwrite unless asked, corrupt and insecure
 * files (and directories) refused with their codes, and a loaded key's secret never shows when
 * logged or serialised. The same for a member's X25519 record-encryption key file, which lies
 * beside its member key file and is never taken for an ed25519 key file (or the other way round).
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { x25519 } from '@noble/curves/ed25519.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeKeyFile,
  decodeRecordKeyFile,
  encodeKeyFile,
  encodeRecordKeyFile,
  generateKey,
  generateRecordKey,
  loadKeyFile,
  loadRecordKeyFile,
  patientIdOfKey,
  RECORD_KEY_FILE_TYPE,
  recordKeyPairFromSecret,
  recordKeyPathFor,
  saveKeyFile,
  saveRecordKeyFile,
} from '../../../../packages/client/keys.ts';
import { keyPairFromSeed } from '../../../../packages/crypto/ed25519.ts';
import { equalBytes, sha256 } from '../../../../packages/crypto/hash.ts';
import { patientIdOf } from '../../../../packages/health/ids.ts';
import { inTempDir } from '../fixtures.ts';

const fixed = keyPairFromSeed(sha256(new TextEncoder().encode('keys-test/1')));
const secretB64 = Buffer.from(fixed.secretKey).toString('base64');

const inDir = (fn: (dir: string) => void) => inTempDir('keys', fn);

function throwsCode(fn: () => unknown, code: string): string {
  try {
    fn();
  } catch (err) {
    assert.is((err as { code?: string }).code, code, (err as Error).message);
    return (err as Error).message;
  }
  assert.unreachable(`expected ${code}`);
  return '';
}

test('save and load round trip, mode 0600, no temporary file left', () =>
  inDir((dir) => {
    const path = join(dir, 'alice.key');
    saveKeyFile(path, fixed);
    assert.is(statSync(path).mode & 0o777, 0o600);
    assert.equal(readdirSync(dir), ['alice.key']);
    const loaded = loadKeyFile(path);
    assert.ok(equalBytes(loaded.publicKey, fixed.publicKey));
    assert.ok(equalBytes(loaded.secretKey, fixed.secretKey));
    assert.is(patientIdOfKey(loaded), patientIdOf(fixed.publicKey));
    assert.is(patientIdOfKey(loaded.publicKey), patientIdOf(fixed.publicKey));
  }));

test('refuses to overwrite unless asked', () =>
  inDir((dir) => {
    const path = join(dir, 'k.key');
    saveKeyFile(path, fixed);
    const other = generateKey();
    throwsCode(() => saveKeyFile(path, other), 'KEY_FILE_EXISTS');
    assert.ok(equalBytes(loadKeyFile(path).publicKey, fixed.publicKey), 'the old key is intact');
    saveKeyFile(path, other, { overwrite: true });
    assert.ok(equalBytes(loadKeyFile(path).publicKey, other.publicKey));
    assert.is(statSync(path).mode & 0o777, 0o600);
    assert.equal(readdirSync(dir), ['k.key']);
    throwsCode(() => saveKeyFile(join(dir, 'no', 'such', 'dir.key'), fixed), 'KEY_FILE_WRITE');
  }));

test('corrupt, missing and insecure files are refused, without quoting the secret', () =>
  inDir((dir) => {
    const write = (name: string, text: string): string => {
      const path = join(dir, name);
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    };
    throwsCode(() => loadKeyFile(join(dir, 'missing.key')), 'KEY_FILE_NOT_FOUND');
    const good = JSON.parse(encodeKeyFile(fixed)) as Record<string, string>;
    const cases: [string, string][] = [
      ['not json', `{"secret_key": "${secretB64}"`],
      ['array', '[]'],
      ['wrong type', JSON.stringify({ ...good, type: 'other' })],
      ['short secret', JSON.stringify({ ...good, secret_key: 'AAAA' })],
      ['non-canonical base64', JSON.stringify({ ...good, secret_key: `${good.secret_key!.slice(0, -1)}` })],
      [
        'key mismatch',
        JSON.stringify({ ...good, public_key: Buffer.from(generateKey().publicKey).toString('base64') }),
      ],
      ['too large', `${' '.repeat(5000)}{}`],
    ];
    for (const [what, text] of cases) {
      const message = throwsCode(() => loadKeyFile(write('bad.key', text)), 'KEY_FILE_INVALID');
      assert.not.ok(message.includes(secretB64), `${what}: the error quotes the secret`);
    }
    const open = write('open.key', encodeKeyFile(fixed));
    chmodSync(open, 0o644);
    throwsCode(() => loadKeyFile(open), 'KEY_FILE_INSECURE');
    throwsCode(() => decodeKeyFile('null'), 'KEY_FILE_INVALID');
  }));

test('a directory is not a key file, whatever its mode', () =>
  inDir((dir) => {
    const sub = join(dir, 'keys');
    mkdirSync(sub);
    // 0700 was read (EISDIR); 0755 was blamed on its mode (KEY_FILE_INSECURE).
    for (const mode of [0o700, 0o755]) {
      chmodSync(sub, mode);
      assert.is(
        throwsCode(() => loadKeyFile(sub), 'KEY_FILE_NOT_FOUND'),
        `${sub} is not a file`,
      );
    }
  }));

test('the secret key does not show when a key is logged or serialised', () =>
  inDir((dir) => {
    const path = join(dir, 'k.key');
    saveKeyFile(path, fixed);
    for (const key of [loadKeyFile(path), generateKey()]) {
      const secret = Buffer.from(key.secretKey).toString('base64');
      const hex = Buffer.from(key.secretKey).toString('hex');
      for (const shown of [JSON.stringify(key), inspect(key, { depth: 5 }), String(Object.values(key))]) {
        assert.not.ok(shown.includes(secret) || shown.includes(hex), shown);
        assert.not.ok(shown.includes(String([...key.secretKey])), shown);
      }
      assert.is(key.secretKey.length, 32);
    }
    // The file itself holds it, readable only by the owner.
    assert.ok(readFileSync(path, 'utf8').includes(secretB64));
  }));

const recordFixed = recordKeyPairFromSecret(sha256(new TextEncoder().encode('keys-test/x25519')));

test('record key files: round trip, mode 0600, the public key is X25519 of the secret', () =>
  inDir((dir) => {
    const path = join(dir, 'member_record_key.json');
    saveRecordKeyFile(path, recordFixed);
    assert.is(statSync(path).mode & 0o777, 0o600);
    assert.equal(readdirSync(dir), ['member_record_key.json']);
    assert.is(JSON.parse(readFileSync(path, 'utf8')).type, RECORD_KEY_FILE_TYPE);
    const loaded = loadRecordKeyFile(path);
    assert.ok(equalBytes(loaded.publicKey, x25519.getPublicKey(recordFixed.secretKey)));
    assert.ok(equalBytes(loaded.secretKey, recordFixed.secretKey));
    throwsCode(() => saveRecordKeyFile(path, generateRecordKey()), 'KEY_FILE_EXISTS');
    // Two fresh keys differ; each decodes from its own file text.
    const [a, b] = [generateRecordKey(), generateRecordKey()];
    assert.not.ok(equalBytes(a.publicKey, b.publicKey));
    assert.ok(equalBytes(decodeRecordKeyFile(encodeRecordKeyFile(a)).publicKey, a.publicKey));
  }));

test('a record key file is not a signing key file, nor the other way round; a wrong public key is refused', () =>
  inDir((dir) => {
    throwsCode(() => decodeKeyFile(encodeRecordKeyFile(recordFixed)), 'KEY_FILE_INVALID');
    throwsCode(() => decodeRecordKeyFile(encodeKeyFile(fixed)), 'KEY_FILE_INVALID');
    const wrong = JSON.parse(encodeRecordKeyFile(recordFixed));
    wrong.public_key = Buffer.from(generateRecordKey().publicKey).toString('base64');
    const message = throwsCode(() => decodeRecordKeyFile(JSON.stringify(wrong)), 'KEY_FILE_INVALID');
    assert.not.ok(message.includes(wrong.secret_key), 'the secret is not quoted');
    const path = join(dir, 'open.json');
    writeFileSync(path, encodeRecordKeyFile(recordFixed), { mode: 0o644 });
    chmodSync(path, 0o644);
    throwsCode(() => loadRecordKeyFile(path), 'KEY_FILE_INSECURE');
    throwsCode(() => loadRecordKeyFile(join(dir, 'none.json')), 'KEY_FILE_NOT_FOUND');
  }));

test('the record key secret does not show when logged; its file lies beside the member key', () => {
  for (const key of [generateRecordKey(), decodeRecordKeyFile(encodeRecordKeyFile(recordFixed))]) {
    const secret = Buffer.from(key.secretKey).toString('base64');
    for (const shown of [JSON.stringify(key), inspect(key, { depth: 5 })])
      assert.not.ok(shown.includes(secret), shown);
  }
  assert.is(recordKeyPathFor('/h/config/member_key.json'), '/h/config/member_record_key.json');
  assert.is(recordKeyPathFor('keys/alice.json'), 'keys/alice.record_key.json');
  assert.is(recordKeyPathFor('lab.key'), 'lab.key.record_key.json');
});

test.run();
