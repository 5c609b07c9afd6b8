/**
 * packages/health encodings: every tx payload round-trips through its canonical tuple; the decoder
 * refuses wrong arity, unsorted or duplicate sets, unknown codes, free text where an id or code
 * belongs, oversized lists and deep nesting, each with its code; golden vectors pin the bytes of a
 * payload and the id derivations; the genesis app state is checked field by field.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encode } from '../../../../packages/codec/canonical.ts';
import { hasCode } from '../../../../packages/core/errors.ts';
import { toHex } from '../../../../packages/crypto/hash.ts';
import { healthAppStateToJson, parseHealthAppState } from '../../../../packages/health/genesis.ts';
import { derivedId, patientIdOf, recordIdOf } from '../../../../packages/health/ids.ts';
import { stateKey } from '../../../../packages/health/keys.ts';
import { defaultParams } from '../../../../packages/health/model.ts';
import { provision } from '../../../../packages/health/provision.ts';
import { decodeHealthTx, encodeHealthTx, type HealthTx, TX_TYPES } from '../../../../packages/health/tx.ts';

const KEY = new Uint8Array(32).fill(7);
const SIG = new Uint8Array(64).fill(9);
const HASH = new Uint8Array(32).fill(1);
const P = `p${'1'.repeat(32)}`;
const R = `r${'a'.repeat(32)}`;

const samples: HealthTx[] = [
  { type: 'patient.register', patientKey: KEY, proof: SIG },
  { type: 'patient.rotate-key', patient: P, newKey: KEY, proof: SIG },
  {
    type: 'delegate.set',
    patient: P,
    delegate: {
      pubKey: KEY,
      role: 'guardian',
      powers: ['approve', 'grant'],
      purposes: ['TREAT'],
      expiresAt: 5n,
      maxConsentMs: null,
    },
  },
  { type: 'delegate.remove', patient: P, delegateKey: KEY },
  {
    type: 'record.anchor',
    patient: P,
    category: 'Observation.laboratory',
    ciphertextHash: HASH,
    commitment: HASH,
    size: 10n,
    supersedes: null,
  },
  {
    type: 'record.anchor',
    patient: P,
    category: 'Condition',
    ciphertextHash: HASH,
    commitment: HASH,
    size: 10n,
    supersedes: R,
  },
  { type: 'record.erase', record: R, reason: 'PATIENT_REQUEST' },
  {
    type: 'consent.grant',
    patient: P,
    grantee: 'city-hospital',
    provision: provision({
      type: 'permit',
      actions: ['read'],
      purposes: ['TREAT', 'HPAYMT'],
      categories: ['Observation'],
      records: [R],
      end: 100n,
      provisions: [
        provision({
          type: 'deny',
          categories: ['Observation.laboratory'],
          provisions: [provision({ type: 'permit', records: [R] })],
        }),
      ],
    }),
  },
  {
    type: 'consent.grant',
    patient: P,
    grantee: '*',
    provision: provision({ type: 'deny', purposes: ['HMARKT'] }),
  },
  { type: 'consent.revoke', consent: `c${'0'.repeat(32)}` },
  {
    type: 'request.create',
    patient: P,
    categories: ['Condition'],
    records: [R],
    purposes: ['TREAT'],
    actions: ['read'],
    reason: 'REFERRAL',
    periodEnd: null,
    expiresAt: 99n,
  },
  {
    type: 'request.approve',
    request: `q${'0'.repeat(32)}`,
    periodEnd: 5n,
    exceptions: [provision({ type: 'deny', purposes: ['HRESCH'] })],
  },
  { type: 'request.deny', request: `q${'0'.repeat(32)}` },
  {
    type: 'access.record',
    patient: P,
    recipient: 'north-clinic',
    purpose: 'ETREAT',
    action: 'read',
    records: [R],
    breakGlass: true,
    release: new Uint8Array(32).fill(7),
  },
  { type: 'breakglass.declare', patient: P, reason: 'PATIENT_UNCONSCIOUS' },
  {
    type: 'claim.submit',
    patient: P,
    payer: 'good-insurance',
    lines: [
      { code: '99213', date: 86_400_000n, amount: 12_500n, records: [R] },
      { code: 'A0425', date: 0n, amount: 1n, records: [R] },
    ],
    supersedes: null,
  },
  {
    type: 'claim.submit',
    patient: P,
    payer: 'good-insurance',
    lines: [{ code: '99213', date: 86_400_000n, amount: 12_000n, records: [R] }],
    supersedes: `k${'0'.repeat(32)}`,
  },
  {
    type: 'claim.adjudicate',
    claim: `k${'0'.repeat(32)}`,
    outcome: 'partial',
    amounts: [1n, 0n],
    reason: 'CO-45',
  },
  { type: 'claim.adjudicate', claim: `k${'0'.repeat(32)}`, outcome: 'approved', amounts: [], reason: null },
  {
    type: 'gov.propose',
    action: { kind: 'member.add', member: 'metro-lab', pubKey: KEY, roles: ['lab', 'research'] },
    deadline: 10n,
  },
  { type: 'gov.propose', action: { kind: 'member.remove', member: 'metro-lab' }, deadline: 10n },
  {
    type: 'gov.propose',
    action: { kind: 'member.roles', member: 'metro-lab', roles: ['payer'] },
    deadline: 10n,
  },
  { type: 'gov.propose', action: { kind: 'member.rekey', member: 'metro-lab', pubKey: KEY }, deadline: 10n },
  { type: 'gov.propose', action: { kind: 'validator.set', pubKey: KEY, power: 0n }, deadline: 10n },
  {
    type: 'gov.propose',
    action: { kind: 'params.set', name: 'break_glass_window_ms', value: 3_600_000n },
    deadline: 10n,
  },
  { type: 'gov.vote', proposal: `g${'0'.repeat(32)}`, approve: false },
  {
    type: 'access.record',
    patient: P,
    recipient: 'north-clinic',
    purpose: 'TREAT',
    action: 'read',
    records: [R],
    breakGlass: false,
    release: null,
  },
  { type: 'member.set-record-key', recordKey: HASH },
  { type: 'member.set-record-key', recordKey: null },
  {
    type: 'gov.propose',
    action: { kind: 'member.record-key', member: 'metro-lab', recordKey: HASH },
    deadline: 10n,
  },
  {
    type: 'gov.propose',
    action: { kind: 'member.record-key', member: 'metro-lab', recordKey: null },
    deadline: 10n,
  },
];

/** The small-order X25519 points (libsodium's list): no member may publish one as its record key. */
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  // The same with the top bit set (RFC 7748 ignores it, so they are the same points).
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));

function refused(payload: Uint8Array, code: string): void {
  try {
    decodeHealthTx(payload);
  } catch (err) {
    assert.ok(
      hasCode(err, code),
      `expected ${code}, got ${(err as { code?: string }).code}: ${(err as Error).message}`,
    );
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('every tx type round-trips through its canonical encoding', () => {
  assert.equal(new Set(samples.map((s) => s.type)), new Set(TX_TYPES));
  for (const tx of samples) {
    const bytes = encodeHealthTx(tx);
    assert.equal(decodeHealthTx(bytes), tx, tx.type);
    assert.equal(encodeHealthTx(decodeHealthTx(bytes)), bytes);
  }
});

test('golden: the bytes of a payload and the derived ids do not change by accident', () => {
  assert.is(
    toHex(encodeHealthTx({ type: 'breakglass.declare', patient: P, reason: 'PATIENT_UNCONSCIOUS' })),
    '93b2627265616b676c6173732e6465636c617265d921703131313131313131313131313131313131313131313131313131313131313131b350415449454e545f554e434f4e5343494f5553',
  );
  assert.is(patientIdOf(KEY), 'p6de7f9446642279d7455a7eca634e249');
  assert.is(recordIdOf('acme-lab', P, HASH), 'r83c51c2845a926cf6e089c8709ad81b8');
  assert.is(derivedId('consent', HASH), 'cae356d495c3815879fdedb11b8d0c6af');
  // New in the records work: the record-key tx and access.record's release field.
  assert.is(
    toHex(encodeHealthTx({ type: 'member.set-record-key', recordKey: HASH })),
    `92b56d656d6265722e7365742d7265636f72642d6b6579c420${'01'.repeat(32)}`,
  );
  assert.is(
    toHex(
      encodeHealthTx({
        type: 'access.record',
        patient: P,
        recipient: 'north-clinic',
        purpose: 'TREAT',
        action: 'read',
        records: [R],
        breakGlass: false,
        release: HASH,
      }),
    ),
    // fixarray(8) | "access.record" | patient | "north-clinic" | "TREAT" | "read" | [record] | false | bin8(32)
    `98ad6163636573732e7265636f7264d92170${'31'.repeat(32)}ac6e6f7274682d636c696e6963a55452454154a472656164` +
      `91d92172${'61'.repeat(32)}c2c420${'01'.repeat(32)}`,
  );
  // New with claim amendments: claim.submit's fourth field, the claim it supersedes (nil if none).
  const claimLine = { code: '99213', date: 86_400_000n, amount: 12_500n, records: [R] };
  // fixarray(5) | "claim.submit" | patient | "good-insurance" | [[code, date, amount, [record]]] | supersedes
  const claimPrefix =
    `95ac636c61696d2e7375626d6974d92170${'31'.repeat(32)}ae676f6f642d696e737572616e6365` +
    `9194a53939323133d30000000005265c00d300000000000030d491d92172${'61'.repeat(32)}`;
  assert.is(
    toHex(
      encodeHealthTx({
        type: 'claim.submit',
        patient: P,
        payer: 'good-insurance',
        lines: [claimLine],
        supersedes: null,
      }),
    ),
    `${claimPrefix}c0`,
  );
  assert.is(
    toHex(
      encodeHealthTx({
        type: 'claim.submit',
        patient: P,
        payer: 'good-insurance',
        lines: [claimLine],
        supersedes: `k${'0'.repeat(32)}`,
      }),
    ),
    `${claimPrefix}d9216b${'30'.repeat(32)}`,
  );
  // The duplicate mark is keyed by payer, not provider (domain tag v2).
  assert.is(
    stateKey.duplicate(P, 'good-insurance', '99213', 86_400_000n),
    'h/dup/c577a8a506d8ca4f7901a198aa91b6bf1371bc447b652f23803f14762cf0fd88',
  );
});

test('the decoder refuses bad shapes, codes, ids and sets, with their codes', () => {
  refused(encode(['consent.revoke']), 'HEALTH_PAYLOAD_INVALID');
  refused(encode(['consent.revoke', `c${'0'.repeat(32)}`, 'extra']), 'HEALTH_PAYLOAD_INVALID');
  refused(encode(['no.such.type', 1]), 'HEALTH_PAYLOAD_INVALID');
  refused(encode('consent.revoke'), 'HEALTH_PAYLOAD_INVALID');
  refused(Uint8Array.of(0x91, 0xc1), 'HEALTH_PAYLOAD_INVALID');
  refused(new Uint8Array([...encodeHealthTx(samples[9]!), 0]), 'HEALTH_PAYLOAD_INVALID');
  // Free text where an id or a code belongs.
  refused(encode(['consent.revoke', 'revoke everything for Jane Doe']), 'HEALTH_ID_INVALID');
  refused(
    encode(['breakglass.declare', P, 'car accident on I-95, patient John Smith']),
    'HEALTH_CODE_INVALID',
  );
  refused(encode(['record.erase', R, 'because']), 'HEALTH_CODE_INVALID');
  refused(
    encode(['claim.adjudicate', `k${'0'.repeat(32)}`, 'denied', [], 'patient lied']),
    'HEALTH_CODE_INVALID',
  );
  const claim = (code: string) => encode(['claim.submit', P, 'good-insurance', [[code, 0n, 1n, [R]]], null]);
  refused(claim('diabetes'), 'HEALTH_CODE_INVALID');
  refused(claim('9921'), 'HEALTH_CODE_INVALID');
  refused(encode(['access.record', P, 'Dr. Jones', 'TREAT', 'read', [R], false, null]), 'HEALTH_ID_INVALID');
  // The release is a 32-byte id or null; the pre-release 7-field form is refused.
  refused(
    encode(['access.record', P, 'north-clinic', 'TREAT', 'read', [R], false]),
    'HEALTH_PAYLOAD_INVALID',
  );
  refused(
    encode(['access.record', P, 'north-clinic', 'TREAT', 'read', [R], false, new Uint8Array(31)]),
    'HEALTH_PAYLOAD_INVALID',
  );
  refused(
    encode(['access.record', P, 'north-clinic', 'TREAT', 'read', [R], false, 'release-1']),
    'HEALTH_PAYLOAD_INVALID',
  );
  // A record key is 32 bytes and never a small-order point, in the member's tx and in governance.
  for (const weak of SMALL_ORDER) {
    refused(encode(['member.set-record-key', weak]), 'HEALTH_PAYLOAD_INVALID');
    refused(encode(['gov.propose', ['member.record-key', 'metro-lab', weak], 10n]), 'HEALTH_PAYLOAD_INVALID');
  }
  refused(encode(['member.set-record-key', new Uint8Array(33)]), 'HEALTH_PAYLOAD_INVALID');
  refused(encode(['member.set-record-key']), 'HEALTH_PAYLOAD_INVALID');
  // Sets are sorted and unique: one rule, one encoding.
  const grant = (purposes: string[]) =>
    encode([
      'consent.grant',
      P,
      'city-hospital',
      ['permit', null, null, ['read'], purposes, ['Condition'], [], []],
    ]);
  refused(grant(['TREAT', 'HPAYMT']), 'HEALTH_PAYLOAD_INVALID');
  refused(grant(['TREAT', 'TREAT']), 'HEALTH_PAYLOAD_INVALID');
  refused(grant(['TREATMENT']), 'HEALTH_CODE_INVALID');
  // Periods, nesting, limits, amounts and sizes.
  refused(
    encode([
      'consent.grant',
      P,
      'city-hospital',
      ['permit', 5n, 5n, ['read'], ['TREAT'], ['Condition'], [], []],
    ]),
    'CONSENT_PERIOD_INVALID',
  );
  const deep = (n: number): unknown[] => ['deny', null, null, [], [], [], [], n === 0 ? [] : [deep(n - 1)]];
  refused(encode(['consent.grant', P, 'city-hospital', deep(3) as never]), 'HEALTH_LIMIT');
  refused(encode(['record.anchor', P, 'Condition', HASH, HASH, 0n, null]), 'HEALTH_LIMIT');
  refused(
    encode(['record.anchor', P, 'Condition', HASH, new Uint8Array(31), 1n, null]),
    'HEALTH_PAYLOAD_INVALID',
  );
  refused(
    encode(['claim.submit', P, 'good-insurance', [['99213', 0n, 0n, [R]]], null]),
    'CLAIM_AMOUNTS_INVALID',
  );
  refused(
    encode(['claim.submit', P, 'good-insurance', [['99213', 0n, 1n, []]], null]),
    'HEALTH_PAYLOAD_INVALID',
  );
  refused(encode(['claim.submit', P, 'good-insurance', [], null]), 'HEALTH_PAYLOAD_INVALID');
  // The pre-amendment arity (no supersedes field) and a supersedes that is not a claim id.
  refused(encode(['claim.submit', P, 'good-insurance', [['99213', 0n, 1n, [R]]]]), 'HEALTH_PAYLOAD_INVALID');
  refused(encode(['claim.submit', P, 'good-insurance', [['99213', 0n, 1n, [R]]], R]), 'HEALTH_ID_INVALID');
  refused(
    encode(['claim.adjudicate', `k${'0'.repeat(32)}`, 'approved', [1n], null]),
    'CLAIM_AMOUNTS_INVALID',
  );
  refused(encode(['claim.adjudicate', `k${'0'.repeat(32)}`, 'denied', [], null]), 'HEALTH_PAYLOAD_INVALID');
  refused(
    encode(['access.record', P, 'north-clinic', 'TREAT', 'read', [], false, null]),
    'HEALTH_PAYLOAD_INVALID',
  );
  refused(encode(['gov.propose', ['params.set', 'break_glass_window_ms', 1n], 10n]), 'GOV_ACTION_INVALID');
  refused(encode(['gov.propose', ['params.set', 'max_everything', 1n], 10n]), 'HEALTH_CODE_INVALID');
  refused(encode(['gov.propose', ['validator.set', KEY, 10n ** 13n], 10n]), 'GOV_ACTION_INVALID');
  refused(encode(['gov.propose', ['member.add', 'Metro Lab', KEY, ['lab']], 10n]), 'HEALTH_ID_INVALID');
  refused(encode(['gov.propose', ['member.add', 'metro-lab', KEY, []], 10n]), 'HEALTH_CODE_INVALID');
  refused(encode(['delegate.set', P, [KEY, 'guardian', [], [], null, null]]), 'DELEGATE_INVALID');
  refused(encode(['delegate.set', P, [KEY, 'uncle', ['grant'], [], null, null]]), 'HEALTH_CODE_INVALID');
});

test('genesis app state: parsed strictly, written back the same', () => {
  const key = Buffer.from(KEY).toString('base64');
  const other = Buffer.from(HASH).toString('base64');
  const state = parseHealthAppState({
    members: [
      { id: 'city-hospital', pub_key: key, roles: ['provider'] },
      { id: 'good-insurance', pub_key: other, roles: ['payer', 'payer'] },
    ],
  });
  assert.equal(state.params, defaultParams);
  assert.equal(state.members[1]!.roles, ['payer']);
  assert.equal(parseHealthAppState(healthAppStateToJson(state)), state);
  assert.is(state.members[0]!.recordKey, null);
  const withRecordKey = parseHealthAppState({
    members: [{ id: 'city-hospital', pub_key: key, roles: ['provider'], record_key: other }],
  });
  assert.equal(withRecordKey.members[0]!.recordKey, HASH);
  assert.equal(parseHealthAppState(healthAppStateToJson(withRecordKey)), withRecordKey);
  const bad = (raw: unknown, why: RegExp) => {
    try {
      parseHealthAppState(raw);
    } catch (err) {
      assert.ok(hasCode(err, 'HEALTH_GENESIS_INVALID'));
      assert.match((err as Error).message, why);
      return;
    }
    assert.unreachable('expected HEALTH_GENESIS_INVALID');
  };
  bad(null, /object/);
  bad({ members: [] }, /members/);
  bad({ members: [{ id: 'City Hospital', pub_key: key, roles: ['provider'] }] }, /members\[0\]\.id/);
  bad({ members: [{ id: 'a-b', pub_key: 'xyz', roles: ['provider'] }] }, /pub_key/);
  bad({ members: [{ id: 'a-b', pub_key: key, roles: ['surgeon'] }] }, /roles/);
  bad({ members: [{ id: 'a-b', pub_key: key, roles: ['lab'], record_key: 'xyz' }] }, /record_key.*X25519/);
  bad(
    {
      members: [
        {
          id: 'a-b',
          pub_key: key,
          roles: ['lab'],
          record_key: Buffer.from(SMALL_ORDER[2]!).toString('base64'),
        },
      ],
    },
    /record_key: a small-order/,
  );
  bad(
    {
      members: [
        { id: 'a-b', pub_key: key, roles: ['lab'] },
        { id: 'a-b', pub_key: other, roles: ['lab'] },
      ],
    },
    /twice/,
  );
  bad(
    {
      members: [
        { id: 'a-b', pub_key: key, roles: ['lab'] },
        { id: 'c-d', pub_key: key, roles: ['lab'] },
      ],
    },
    /another member/,
  );
  bad(
    { members: [{ id: 'a-b', pub_key: key, roles: ['lab'] }], params: { break_glass_window_ms: '1' } },
    /break/,
  );
  bad({ members: [{ id: 'a-b', pub_key: key, roles: ['lab'] }], params: { nope: '1' } }, /not a parameter/);
});

test.run();
