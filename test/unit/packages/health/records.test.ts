/**
 * packages/health/records.ts: the signed fetch request's wire form (canonical, strict, every
 * malformed input refused with ACCESS_REQUEST_INVALID), its release id (sha256 of the sign bytes,
 * golden), and `verifyFetchRequest` (chain, signer, tampering, the ±5 minute window).
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Canonical, decode, encode } from '../../../../packages/codec/canonical.ts';
import { hasCode } from '../../../../packages/core/errors.ts';
import { keyPairFromSeed } from '../../../../packages/crypto/ed25519.ts';
import { sha256, toHex } from '../../../../packages/crypto/hash.ts';
import {
  decodeFetchRequest,
  encodeFetchRequest,
  FETCH_REQUEST_MAX_SKEW_MS,
  type FetchRequest,
  fetchRequest,
  fetchRequestSignBytes,
  releaseIdOf,
  signFetchRequest,
  verifyFetchRequest,
} from '../../../../packages/health/records.ts';

const key = keyPairFromSeed(new Uint8Array(32).fill(3));
const other = keyPairFromSeed(new Uint8Array(32).fill(4));
const R = `r${'a'.repeat(32)}`;
const P = `p${'1'.repeat(32)}`;
const NONCE = new Uint8Array(16).fill(5);
const T = 1_767_225_600_000n;
const PATIENT_KEY = x25519.getPublicKey(new Uint8Array(32).fill(6));

const memberRequest: FetchRequest = fetchRequest(
  { chainId: 'c', record: R, requester: { kind: 'member', id: 'city-hospital' }, purpose: 'TREAT' },
  NONCE,
  T,
);
const patientRequest: FetchRequest = fetchRequest(
  {
    chainId: 'c',
    record: R,
    requester: { kind: 'patient', id: P },
    purpose: 'PATRQT',
    recipientKey: PATIENT_KEY,
  },
  NONCE,
  T,
);

function refused(bytes: Uint8Array, why?: RegExp): void {
  try {
    decodeFetchRequest(bytes);
  } catch (err) {
    assert.ok(hasCode(err, 'ACCESS_REQUEST_INVALID'), `got ${(err as { code?: string }).code}`);
    if (why !== undefined) assert.match((err as Error).message, why);
    return;
  }
  assert.unreachable('expected ACCESS_REQUEST_INVALID');
}

/** The wire form of the member request with element `i` replaced (or the list replaced). */
function wireWith(edit: (fields: Canonical[]) => Canonical[]): Uint8Array {
  const fields = [
    ...(decode(encodeFetchRequest(signFetchRequest(memberRequest, key.secretKey))) as Canonical[]),
  ];
  return encode(edit(fields));
}

test('a signed request round-trips through its wire form, byte for byte', () => {
  for (const r of [
    memberRequest,
    patientRequest,
    { ...memberRequest, breakGlass: true, purpose: 'ETREAT' as const },
  ]) {
    const signed = signFetchRequest(r, key.secretKey);
    const bytes = encodeFetchRequest(signed);
    const back = decodeFetchRequest(bytes);
    assert.equal(toHex(encodeFetchRequest(back)), toHex(bytes));
    assert.equal(back.request.requester, r.requester);
    assert.is(back.request.time, r.time);
    assert.is(toHex(back.signature), toHex(signed.signature));
    assert.is(toHex(releaseIdOf(back.request)), toHex(sha256(fetchRequestSignBytes(r))));
  }
});

test('golden: the sign bytes and the release id of a fixed request do not change by accident', () => {
  const ascii = (s: string) => Buffer.from(s).toString('hex');
  // fixarray(10) | domain | chain "c" | record | "member" | "city-hospital" | "TREAT" | false | nil | bin8(16) | int64
  assert.is(
    toHex(fetchRequestSignBytes(memberRequest)),
    `9aba${ascii('careledger/record-fetch/v1')}a163d921${ascii(R)}a6${ascii('member')}ad${ascii('city-hospital')}` +
      `a5${ascii('TREAT')}c2c0c410${'05'.repeat(16)}d3${T.toString(16).padStart(16, '0')}`,
  );
  assert.is(toHex(releaseIdOf(memberRequest)), toHex(sha256(fetchRequestSignBytes(memberRequest))));
  assert.is(toHex(releaseIdOf(memberRequest)).length, 64);
  // Any field changes the release: a new nonce is a new release.
  assert.not.equal(
    toHex(releaseIdOf({ ...memberRequest, nonce: new Uint8Array(16).fill(6) })),
    toHex(releaseIdOf(memberRequest)),
  );
});

test('decoding is strict: every malformed request is ACCESS_REQUEST_INVALID', () => {
  const good = encodeFetchRequest(signFetchRequest(memberRequest, key.secretKey));
  refused(new Uint8Array([...good, 0]));
  refused(good.subarray(0, good.length - 1));
  refused(new Uint8Array(2000), /more than/);
  refused(encode('careledger/record-fetch/v1'));
  refused(
    wireWith((f) => ['careledger/tx/v1', ...f.slice(1)]),
    /not a record fetch/,
  );
  refused(wireWith((f) => f.slice(0, 10)));
  refused(wireWith((f) => [...f, null]));
  refused(wireWith((f) => f.map((x, i) => (i === 2 ? 'Jane Doe, chart 12' : x))));
  refused(
    wireWith((f) => f.map((x, i) => (i === 3 ? 'institution' : x))),
    /member or patient/,
  );
  refused(wireWith((f) => f.map((x, i) => (i === 4 ? 'City Hospital' : x))));
  refused(wireWith((f) => f.map((x, i) => (i === 5 ? 'TREATMENT' : x))));
  refused(wireWith((f) => f.map((x, i) => (i === 6 ? 1 : x))));
  // A member's request names no key (its key is on chain); a patient's must.
  refused(
    wireWith((f) => f.map((x, i) => (i === 7 ? PATIENT_KEY : x))),
    /recipient key/,
  );
  refused(
    wireWith((f) => f.map((x, i) => (i === 3 ? 'patient' : i === 4 ? P : x))),
    /recipient key/,
  );
  refused(
    wireWith((f) => f.map((x, i) => (i === 3 ? 'patient' : i === 4 ? P : i === 7 ? new Uint8Array(32) : x))),
    /small-order/,
  );
  refused(wireWith((f) => f.map((x, i) => (i === 8 ? new Uint8Array(15) : x))));
  refused(wireWith((f) => f.map((x, i) => (i === 9 ? -1n : x))));
  refused(wireWith((f) => f.map((x, i) => (i === 10 ? new Uint8Array(63) : x))));
  // And signing refuses what decoding would.
  assert.throws(() => signFetchRequest({ ...memberRequest, recipientKey: PATIENT_KEY }, key.secretKey));
});

test('verifyFetchRequest: this chain, the requester’s key, untampered, within ±5 minutes', () => {
  const signed = signFetchRequest(memberRequest, key.secretKey);
  const expect = { chainId: 'c', now: T, signerKey: key.publicKey };
  assert.is(verifyFetchRequest(signed, expect), null);
  assert.is(verifyFetchRequest(signed, { ...expect, chainId: 'd' })?.code, 'ACCESS_REQUEST_INVALID');
  assert.is(
    verifyFetchRequest(signed, { ...expect, signerKey: other.publicKey })?.code,
    'ACCESS_REQUEST_INVALID',
  );
  for (const tampered of [
    { ...memberRequest, purpose: 'HPAYMT' as const },
    { ...memberRequest, record: `r${'b'.repeat(32)}` },
    { ...memberRequest, breakGlass: true },
    { ...memberRequest, time: T + 1n },
  ])
    assert.is(verifyFetchRequest({ ...signed, request: tampered }, expect)?.code, 'ACCESS_REQUEST_INVALID');
  const skew = FETCH_REQUEST_MAX_SKEW_MS;
  assert.is(verifyFetchRequest(signed, { ...expect, now: T + skew }), null);
  assert.is(verifyFetchRequest(signed, { ...expect, now: T - skew }), null);
  assert.is(verifyFetchRequest(signed, { ...expect, now: T + skew + 1n })?.code, 'ACCESS_REQUEST_STALE');
  assert.is(verifyFetchRequest(signed, { ...expect, now: T - skew - 1n })?.code, 'ACCESS_REQUEST_STALE');
});

test.run();
