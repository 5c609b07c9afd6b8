/** Double-sign guard: refuses regressions and conflicting re-signs, persists before returning. */
import { sign as edSign, verify as edVerify, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DoubleSignGuard,
  FileSignStateStore,
  MemorySignStateStore,
  type SignState,
  SignStep,
} from '../../../consensus/privval.ts';
import { hasCode } from '../../../packages/core/errors.ts';

let dir = '';
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'careledger-privval-'));
});
test.after.each(() => {
  rmSync(dir, { recursive: true, force: true });
});

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signEd = (bytes: Uint8Array): Uint8Array => edSign(null, bytes, privateKey);
const msg = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const isCode = (code: string) => (err: unknown) => hasCode(err, code);
const refused = isCode('DOUBLE_SIGN_REFUSED');
const { proposal, prevote, precommit } = SignStep;

function fileGuard(name = 'sign_state.json') {
  const path = join(dir, name);
  return { path, guard: new DoubleSignGuard(new FileSignStateStore(path), signEd) };
}

test('signs moving forward in height, round and step; signatures verify', () => {
  const { guard } = fileGuard();
  assert.is(guard.lastSigned(), null);
  const steps: [bigint, number, number][] = [
    [1n, 0, proposal],
    [1n, 0, prevote],
    [1n, 0, precommit],
    [1n, 1, prevote],
    [2n, 0, proposal],
    [2n ** 63n, 0, precommit],
  ];
  for (const [h, r, s] of steps) {
    const bytes = msg(`${h}/${r}/${s}`);
    const sig = guard.sign(h, r, s, bytes);
    assert.ok(edVerify(null, bytes, publicKey, sig), `signature at ${h}/${r}/${s} verifies`);
    const last = guard.lastSigned();
    assert.equal([last?.height, last?.round, last?.step], [h, r, s]);
  }
});

test('refuses a lower height, a lower round at the same height, a lower step in the same round', () => {
  const { guard } = fileGuard();
  guard.sign(5n, 2, prevote, msg('a'));
  assert.throws(() => guard.sign(4n, 9, precommit, msg('b')), refused, 'lower height');
  assert.throws(() => guard.sign(5n, 1, precommit, msg('c')), refused, 'lower round');
  assert.throws(() => guard.sign(5n, 2, proposal, msg('d')), refused, 'lower step');
  const last = guard.lastSigned();
  assert.equal([last?.height, last?.round, last?.step], [5n, 2, prevote], 'refusals change nothing');
});

test('same height/round/step: identical bytes return the stored signature, different bytes are refused', () => {
  // A signer that never repeats itself, so "same signature" can only mean "the stored one".
  let n = 0;
  const guard = new DoubleSignGuard(new MemorySignStateStore(), (b) => Uint8Array.from([...b, n++]));
  const first = guard.sign(3n, 0, precommit, msg('vote'));
  const again = guard.sign(3n, 0, precommit, msg('vote'));
  assert.is(hex(again), hex(first));
  assert.is(n, 1, 'the key was not used a second time');
  assert.throws(() => guard.sign(3n, 0, precommit, msg('other vote')), refused);
});

test('the state is durable before sign returns: a new guard over the same file refuses what was signed', () => {
  const { path, guard } = fileGuard();
  const sig = guard.sign(7n, 1, prevote, msg('prevote A'));
  const restarted = new DoubleSignGuard(new FileSignStateStore(path), signEd);
  assert.throws(() => restarted.sign(7n, 1, prevote, msg('prevote B')), refused);
  assert.throws(() => restarted.sign(7n, 0, precommit, msg('older')), refused);
  assert.is(
    hex(restarted.sign(7n, 1, prevote, msg('prevote A'))),
    hex(sig),
    'idempotent re-sign after restart',
  );
  assert.not.ok(existsSync(`${path}.tmp`), 'temp file renamed away');
});

test('the store is written before the signature is returned, and not at all if saving fails', () => {
  const saved: SignState[] = [];
  const store = {
    load: () => null,
    save: (state: SignState) => {
      if (state.height === 9n) throw new Error('disk full');
      saved.push(state);
    },
  };
  const guard = new DoubleSignGuard(store, signEd);
  guard.sign(8n, 0, proposal, msg('x'));
  assert.is(saved.length, 1);
  assert.throws(() => guard.sign(9n, 0, proposal, msg('y')), /disk full/);
  assert.is(guard.lastSigned()?.height, 8n, 'a failed save leaves the guard where it was');
});

test('file format: height as decimal string, bytes as hex; round trips through load', () => {
  const { path, guard } = fileGuard();
  const bytes = msg('proposal');
  const sig = guard.sign(2n ** 60n + 1n, 3, proposal, bytes);
  const json = JSON.parse(readFileSync(path, 'utf8'));
  assert.equal(json, {
    height: (2n ** 60n + 1n).toString(),
    round: 3,
    step: proposal,
    signBytes: hex(bytes),
    signature: hex(sig),
  });
  const loaded = new FileSignStateStore(path).load();
  assert.is(loaded?.height, 2n ** 60n + 1n);
  assert.is(hex(loaded?.signature ?? new Uint8Array()), hex(sig));
});

test('a missing file loads as no state; the parent folder is created on save', () => {
  const path = join(dir, 'nested', 'state.json');
  const store = new FileSignStateStore(path);
  assert.is(store.load(), null);
  store.save({ height: 1n, round: 0, step: prevote, signBytes: null, signature: null });
  assert.is(store.load()?.height, 1n);
});

test('a corrupt sign-state file raises SIGN_STATE_CORRUPT, never a silent reset', () => {
  const good = { height: '5', round: 0, step: 2, signBytes: 'ab', signature: 'cd' };
  const cases: [string, string][] = [
    ['empty', ''],
    ['truncated JSON', JSON.stringify(good).slice(0, 20)],
    ['not an object', '[1,2]'],
    ['height as number', JSON.stringify({ ...good, height: 5 })],
    ['negative height', JSON.stringify({ ...good, height: '-5' })],
    ['fractional round', JSON.stringify({ ...good, round: 1.5 })],
    ['unknown step', JSON.stringify({ ...good, step: 4 })],
    ['odd-length hex', JSON.stringify({ ...good, signBytes: 'abc' })],
    ['non-hex', JSON.stringify({ ...good, signature: 'zz' })],
    ['bytes without signature', JSON.stringify({ ...good, signature: null })],
  ];
  for (const [name, text] of cases) {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, text);
    assert.throws(() => new FileSignStateStore(path).load(), isCode('SIGN_STATE_CORRUPT'), name);
    assert.throws(
      () => new DoubleSignGuard(new FileSignStateStore(path), signEd),
      isCode('SIGN_STATE_CORRUPT'),
      name,
    );
  }
  // The same fields, well formed, do load: the cases above fail for their one defect.
  const path = join(dir, 'good.json');
  writeFileSync(path, JSON.stringify(good));
  assert.is(new FileSignStateStore(path).load()?.height, 5n);
});

test('refuses invalid requests at the boundary', () => {
  const guard = new DoubleSignGuard(new MemorySignStateStore(), signEd);
  const invalid = isCode('SIGN_REQUEST_INVALID');
  assert.throws(() => guard.sign(-1n, 0, prevote, msg('a')), invalid, 'negative height');
  assert.throws(() => guard.sign(1 as unknown as bigint, 0, prevote, msg('a')), invalid, 'number height');
  assert.throws(() => guard.sign(1n, -1, prevote, msg('a')), invalid, 'negative round');
  assert.throws(() => guard.sign(1n, 0.5, prevote, msg('a')), invalid, 'fractional round');
  assert.throws(() => guard.sign(1n, 2 ** 53, prevote, msg('a')), invalid, 'unsafe round');
  assert.throws(() => guard.sign(1n, 0, 0, msg('a')), invalid, 'step 0');
  assert.throws(() => guard.sign(1n, 0, 4, msg('a')), invalid, 'step 4');
  assert.is(guard.lastSigned(), null);
  assert.ok(guard.sign(0n, 0, proposal, msg('a')).length === 64, 'height 0 round 0 is valid');
});

test('MemorySignStateStore survives a simulated restart and keeps its own copies', () => {
  const store = new MemorySignStateStore();
  const bytes = msg('vote');
  new DoubleSignGuard(store, signEd).sign(4n, 0, prevote, bytes);
  bytes[0] = 0;
  const restarted = new DoubleSignGuard(store, signEd);
  assert.throws(() => restarted.sign(4n, 0, prevote, msg('other')), refused);
  assert.ok(
    restarted.sign(4n, 0, prevote, msg('vote')).length === 64,
    'stored bytes were not changed by the caller',
  );
});

test('the guard keeps its own copies of the bytes it signed and of the signature it returns', () => {
  const guard = new DoubleSignGuard(new MemorySignStateStore(), signEd);
  const bytes = msg('vote');
  const sig = guard.sign(6n, 0, prevote, bytes);
  const sigHex = hex(sig);
  bytes[0] = 0;
  sig[0] = (sig[0] ?? 0) ^ 0xff;
  assert.is(hex(guard.sign(6n, 0, prevote, msg('vote'))), sigHex);
  assert.is(hex(guard.lastSigned()?.signature ?? new Uint8Array()), sigHex);
});

test.run();
