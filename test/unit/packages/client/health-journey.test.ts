/**
 * HealthClient against a real in-process HealthApp (no mocks): the seed journey — a patient is
 * registered, a lab anchors a result, the patient grants a hospital, the lab's disclosure to the
 * hospital is accepted and shows in the audit trail, a disclosure without consent is refused,
 * a request is approved, the insurer adjudicates a consented claim, a duplicate claim is refused —
 * with every answer proven; and a node that tampers with an answer is caught.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HealthClient, HealthTxError, sealRecord } from '../../../../packages/client/health.ts';
import type { KeyPair } from '../../../../packages/crypto/ed25519.ts';
import { equalBytes, sha256 } from '../../../../packages/crypto/hash.ts';
import { derivedId, patientIdOf, recordIdOf } from '../../../../packages/health/ids.ts';
import { provision } from '../../../../packages/health/provision.ts';
import type { DecisionRequest } from '../../../../packages/health/query.ts';
import { CHAIN_ID, DAY, GENESIS_TIME, keyOf, member } from '../../state/health/fixtures.ts';
import { AppTransport } from './health-transport.ts';

const utf8 = new TextEncoder();

/** A deterministic clock: each client starts at its own microsecond and ticks by one per call. */
function clockFrom(start: bigint): () => bigint {
  let now = start;
  return () => now++;
}

function clientFor(t: AppTransport, key: KeyPair, start = 1_000_000n): HealthClient {
  return new HealthClient({ chainId: CHAIN_ID, transport: t, key, clockMicros: clockFrom(start) });
}

async function rejects(p: Promise<unknown>, code: string): Promise<HealthTxError | Error> {
  try {
    await p;
  } catch (err) {
    assert.is((err as { code?: string }).code, code, (err as Error).message);
    return err as Error;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

function sameBytes(a: Uint8Array, b: Uint8Array): void {
  assert.ok(equalBytes(a, b), 'the bytes are equal');
}

async function withChain(fn: (t: AppTransport) => Promise<void>): Promise<void> {
  const t = await AppTransport.create();
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

const aliceKey = keyOf('client/alice');
const alice = patientIdOf(aliceKey.publicKey);
const ciphertext = utf8.encode('…encrypted CBC panel bytes…');
const plaintext = utf8.encode('{"resourceType":"Observation"}');
const salt = sha256(utf8.encode('salt/alice-cbc'));

/** May the hospital read this record of Alice's for treatment? */
function hospitalReads(record: string): DecisionRequest {
  return { patient: alice, grantee: 'city-hospital', record, purpose: 'TREAT', action: 'read', time: null };
}

test('the seed journey through HealthClient, every answer proven', () =>
  withChain(async (t) => {
    const hospital = clientFor(t, member('city-hospital'));
    const lab = clientFor(t, member('acme-lab'));
    const insurer = clientFor(t, member('good-insurance'));
    const clinic = clientFor(t, member('north-clinic'));
    const patient = clientFor(t, aliceKey);
    const reader = new HealthClient({ chainId: CHAIN_ID, transport: t });

    // 1. Identity.
    const reg = await hospital.registerPatient(aliceKey);
    assert.is(reg.id, alice);
    assert.is(reg.type, 'patient.register');
    assert.ok(reg.height > 0n);
    const p = (await reader.patient(alice)).value!;
    assert.is(p.enrolledBy, 'city-hospital');
    sameBytes(p.pubKey, aliceKey.publicKey);
    assert.equal((await reader.binding(aliceKey.publicKey)).value, { kind: 'patient', id: alice });

    // 2. A lab result anchored: the id is known before the tx, and the anchor matches the bytes.
    const seal = sealRecord(ciphertext, plaintext, salt);
    sameBytes(seal.ciphertextHash, sha256(ciphertext));
    sameBytes(seal.commitment, sha256(salt, plaintext));
    const anchor = await lab.anchorRecord({ patient: alice, category: 'Observation.laboratory', ...seal });
    assert.is(anchor.id, recordIdOf('acme-lab', alice, sha256(ciphertext)));
    const record = (await reader.record(anchor.id)).value!;
    assert.is(record.custodian, 'acme-lab');
    sameBytes(record.ciphertextHash, sha256(ciphertext));
    assert.is(record.size, BigInt(ciphertext.length));
    assert.equal((await reader.records(alice)).value, [anchor.id]);

    // 3. The patient grants the hospital.
    const grant = await patient.grantConsent(
      alice,
      'city-hospital',
      provision({ type: 'permit', actions: ['read'], purposes: ['TREAT'], categories: ['Observation'] }),
    );
    assert.is(grant.id, derivedId('consent', grant.hash));
    assert.is((await reader.consent(grant.id)).value!.grantee, 'city-hospital');
    assert.equal((await reader.consents(alice)).value, [grant.id]);
    const decision = await reader.decision(hospitalReads(anchor.id));
    assert.is(decision.value.permit, true);
    assert.is(decision.value.consentId, grant.id);

    // 4. The disclosure to the hospital is accepted and is in the audit trail with its consent.
    const access = await lab.recordAccess({
      patient: alice,
      recipient: 'city-hospital',
      purpose: 'TREAT',
      action: 'read',
      records: [anchor.id],
    });
    const trail = (await reader.disclosures(alice)).value;
    assert.is(trail.length, 1);
    assert.is(trail[0]!.id, access.id);
    assert.is(trail[0]!.recipient, 'city-hospital');
    assert.equal(trail[0]!.items, [{ record: anchor.id, consent: grant.id }]);

    // 5. Without consent: refused with the policy's code, nothing recorded.
    const refused = await rejects(
      lab.recordAccess({
        patient: alice,
        recipient: 'north-clinic',
        purpose: 'TREAT',
        action: 'read',
        records: [anchor.id],
      }),
      'ACCESS_NO_CONSENT',
    );
    assert.instance(refused, HealthTxError);
    assert.is((refused as HealthTxError).txType, 'access.record');
    assert.is((await reader.disclosures(alice)).value.length, 1);

    // 6. The clinic asks, the patient approves: a consent for the clinic.
    const req = await clinic.createRequest(alice, {
      categories: ['Observation'],
      records: [],
      purposes: ['TREAT'],
      actions: ['read'],
      reason: 'SECOND_OPINION',
      periodEnd: null,
      expiresAt: GENESIS_TIME + DAY,
    });
    assert.equal((await reader.pendingRequests(alice)).value, [req.id]);
    const approved = await patient.approveRequest(req.id);
    assert.is((await reader.request(req.id)).value!.status, 'approved');
    assert.is((await reader.request(req.id)).value!.consent, approved.id);
    assert.equal((await reader.pendingRequests(alice)).value, []);
    assert.equal((await reader.requests(alice)).value, [req.id]);

    // 7. A consented claim, adjudicated by the insurer; the same service again is a duplicate.
    await patient.grantConsent(
      alice,
      'good-insurance',
      provision({ type: 'permit', actions: ['read'], purposes: ['HPAYMT'], categories: ['Observation'] }),
    );
    const line = { code: '80053', date: GENESIS_TIME, amount: 12_050n, records: [anchor.id] };
    const claim = await hospital.submitClaim(alice, 'good-insurance', [line]);
    assert.is((await reader.claim(claim.id)).value!.status, 'submitted');
    await insurer.adjudicateClaim(claim.id, 'approved');
    const adjudicated = (await reader.claim(claim.id)).value!;
    assert.is(adjudicated.status, 'approved');
    assert.equal(
      adjudicated.history.map((h) => h.status),
      ['submitted', 'approved'],
    );
    await rejects(hospital.submitClaim(alice, 'good-insurance', [line]), 'CLAIM_DUPLICATE');
    assert.equal((await reader.claims(alice)).value, [claim.id]);
    await rejects(insurer.adjudicateClaim(claim.id, 'approved'), 'CLAIM_ALREADY_ADJUDICATED');

    // 8. Revocation, proven.
    await patient.revokeConsent(grant.id);
    assert.ok((await reader.consent(grant.id)).value!.revokedAt !== null);
  }));

test('nonces: strictly increasing from the clock, above the proven last nonce', () =>
  withChain(async (t) => {
    // A clock that stands still (or goes back) still gives increasing nonces.
    const stuckAt = (micros: bigint) =>
      new HealthClient({
        chainId: CHAIN_ID,
        transport: t,
        key: member('city-hospital'),
        clockMicros: () => micros,
      });
    const hospital = stuckAt(5n);
    const a = await hospital.registerPatient(keyOf('client/n1'));
    const b = await hospital.registerPatient(keyOf('client/n2'));
    assert.is(a.nonce, 5n);
    assert.is(b.nonce, 6n);
    // A new client (a new CLI run) whose clock is behind the chain starts above the last nonce.
    const again = stuckAt(1n);
    const c = await again.registerPatient(keyOf('client/n3'));
    assert.is(c.nonce, 7n);
    assert.is((await again.nonceOf(member('city-hospital').publicKey)).value, 7n);
  }));

test('bad input is refused locally with the chain’s code, before anything is sent', () =>
  withChain(async (t) => {
    const insurer = clientFor(t, member('good-insurance'));
    const before = t.h.height;
    await rejects(insurer.adjudicateClaim(`k${'0'.repeat(32)}`, 'partial'), 'CLAIM_AMOUNTS_INVALID');
    await rejects(insurer.revokeConsent('not-an-id'), 'HEALTH_ID_INVALID');
    await rejects(
      insurer.grantConsent(
        alice,
        'city-hospital',
        provision({ type: 'permit', purposes: ['NOPE' as 'TREAT'] }),
      ),
      'HEALTH_CODE_INVALID',
    );
    assert.is(t.h.height, before, 'no block was made');
    const reader = new HealthClient({ chainId: CHAIN_ID, transport: t });
    await rejects(reader.revokeConsent(`c${'0'.repeat(32)}`), 'CLIENT_NO_KEY');
    // A patient key is not a member: it cannot enrol anyone.
    await clientFor(t, member('city-hospital')).registerPatient(aliceKey);
    await rejects(clientFor(t, aliceKey).registerPatient(keyOf('x')), 'CLIENT_NOT_MEMBER');
  }));

test('a tampered answer is refused: value, proof, key, root and decision', () =>
  withChain(async (t) => {
    await clientFor(t, member('city-hospital')).registerPatient(aliceKey);
    const lab = clientFor(t, member('acme-lab'));
    const anchor = await lab.anchorRecord({
      patient: alice,
      category: 'Observation.laboratory',
      ...sealRecord(ciphertext, plaintext, salt),
    });
    const reader = new HealthClient({ chainId: CHAIN_ID, transport: t });
    const flip = (b: Uint8Array, at = b.length - 1): Uint8Array => {
      const c = new Uint8Array(b);
      c[at] = c[at]! ^ 1;
      return c;
    };
    const cases: [string, (a: import('../../../../packages/client/health.ts').ProvenAnswer) => object][] = [
      ['value', (a) => ({ ...a, value: a.value === null ? new Uint8Array([1]) : flip(a.value) })],
      ['absent value', (a) => ({ ...a, value: null })],
      ['proof', (a) => ({ ...a, proof: flip(a.proof, Math.floor(a.proof.length / 2)) })],
      ['root', (a) => ({ ...a, root: flip(a.root) })],
    ];
    for (const [what, change] of cases) {
      t.tamper = (_path, a) => ({ ...a, ...change(a) });
      await rejects(reader.record(anchor.id), 'CLIENT_PROOF_INVALID').catch((err) => {
        throw new Error(`${what}: ${(err as Error).message}`);
      });
    }
    // A true answer, but about another key (another patient's record list).
    t.tamper = null;
    const other = await t.query('/health/patient', new TextEncoder().encode(alice));
    t.tamper = (path, a) => (path === '/health/record' ? other : a);
    await rejects(reader.record(anchor.id), 'CLIENT_PROOF_INVALID');
    // A decision flipped by the node does not follow from its leaves.
    t.tamper = (path, a) => (path === '/health/decision' ? { ...a, value: flip(a.value!, 1) } : a);
    await rejects(reader.decision(hospitalReads(anchor.id)), 'CLIENT_PROOF_INVALID');
    t.tamper = null;
    assert.is((await reader.record(anchor.id)).value!.id, anchor.id);
  }));

test.run();
