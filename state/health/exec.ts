/**
 * Executes one decoded health tx against its context: the stateful checks (each failure throws a
 * CareLedgerError with a code from packages/health/errors.ts) and the writes. The caller runs the
 * tx in its own state layer and drops the layer on failure, so a handler may write before a later
 * check fails. Returns the id of what the tx created or changed, for the result's log.
 *
 * Every rule that depends on consent goes through the one policy engine (packages/health/policy.ts).
 */
import { CareLedgerError } from '../../packages/core/errors.ts';
import { verifySignature } from '../../packages/crypto/ed25519.ts';
import { equalBytes, toHex } from '../../packages/crypto/hash.ts';
import { checkAccess, policyConsents } from '../../packages/health/access.ts';
import { DAY_MS, humanDuration, isoTime, type Purpose } from '../../packages/health/codes.ts';
import { healthError } from '../../packages/health/errors.ts';
import { ANY_MEMBER, derivedId, nodePeerIdOf, patientIdOf, recordIdOf } from '../../packages/health/ids.ts';
import { EXPIRY_SLOT_MS, stateKey } from '../../packages/health/keys.ts';
import {
  type AccessEvent,
  accessEventFields,
  type BreakGlass,
  breakGlassFields,
  type Claim,
  type Consent,
  type Delegate,
  decodeCount,
  decodeValidators,
  encodeBinding,
  encodeBreakGlass,
  encodeCount,
  encodeParams,
  encodeValidators,
  type GovAction,
  MAX_DELEGATES,
  MAX_MEMBERS,
  MAX_OPEN_PROPOSALS,
  type Member,
  PARAM_NAMES,
  type Proposal,
  unreachable,
} from '../../packages/health/model.ts';
import { decideForRecord } from '../../packages/health/policy.ts';
import {
  checkGrant,
  compareStrings,
  type Provision,
  provisionFields,
  provisionFromFields,
  provisionRecords,
} from '../../packages/health/provision.ts';
import { type HealthTx, registerProofBytes, rotateProofBytes } from '../../packages/health/tx.ts';
import { MAX_TOTAL_VOTING_POWER, MAX_VALIDATORS } from '../../packages/types/validator.ts';
import type { TxContext } from './context.ts';

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** Consents kept per (patient, grantee) after dropping those that can never be active again. */
export const MAX_PAIR_CONSENTS = 32;
export const MAX_PENDING_REQUESTS = 32;
/** Pending requests of one member to one patient. */
export const MAX_PENDING_REQUESTS_PER_MEMBER = 4;
/** Open governance proposals of one member. */
export const MAX_OPEN_PROPOSALS_PER_MEMBER = 4;

/** How many of the stored objects `ids` satisfy `test` (ids whose object is gone do not count). */
async function countMatching<T>(
  ids: readonly string[],
  read: (id: string) => Promise<T | null>,
  test: (value: T) => boolean,
): Promise<number> {
  let n = 0;
  for (const id of ids) {
    const value = await read(id);
    if (value !== null && test(value)) n++;
  }
  return n;
}
/** Request ids per expiry minute; a full minute spills into the next. */
export const MAX_EXPIRY_SLOT = 1024;

type Tx<T extends HealthTx['type']> = Extract<HealthTx, { type: T }>;

export async function executeTx(ctx: TxContext, tx: HealthTx): Promise<string> {
  switch (tx.type) {
    case 'patient.register':
      return registerPatient(ctx, tx);
    case 'patient.rotate-key':
      return rotateKey(ctx, tx);
    case 'delegate.set':
      return setDelegate(ctx, tx);
    case 'delegate.remove':
      return removeDelegate(ctx, tx);
    case 'record.anchor':
      return anchorRecord(ctx, tx);
    case 'record.erase':
      return eraseRecord(ctx, tx);
    case 'consent.grant':
      return grantConsent(ctx, tx);
    case 'consent.revoke':
      return revokeConsent(ctx, tx);
    case 'request.create':
      return createRequest(ctx, tx);
    case 'request.approve':
      return approveRequest(ctx, tx);
    case 'request.deny':
      return denyRequest(ctx, tx);
    case 'access.record':
      return recordAccess(ctx, tx);
    case 'breakglass.declare':
      return declareBreakGlass(ctx, tx);
    case 'claim.submit':
      return submitClaim(ctx, tx);
    case 'claim.adjudicate':
      return adjudicateClaim(ctx, tx);
    case 'gov.propose':
      return propose(ctx, tx);
    case 'gov.vote':
      return vote(ctx, tx);
    case 'member.set-record-key':
      return setRecordKey(ctx, tx);
    default:
      return unreachable(tx);
  }
}

// --- patients ---

async function registerPatient(ctx: TxContext, tx: Tx<'patient.register'>): Promise<string> {
  const member = await ctx.signerMember();
  if (
    !verifySignature(tx.patientKey, registerProofBytes(ctx.meta.chainId, member.id, tx.patientKey), tx.proof)
  )
    throw healthError('PATIENT_PROOF_INVALID', 'the patient did not sign this enrolment with the key');
  const id = patientIdOf(tx.patientKey);
  if ((await ctx.patient(id)) !== null) throw healthError('PATIENT_EXISTS', `patient ${id} is registered`);
  if ((await ctx.get(stateKey.key(tx.patientKey))) !== null)
    throw healthError('HEALTH_KEY_IN_USE', 'the key is already bound to a member or a patient');
  ctx.putPatient({
    id,
    pubKey: tx.patientKey,
    enrolledBy: member.id,
    enrolledAt: ctx.height,
    keyRotations: 0,
    delegates: [],
  });
  ctx.put(stateKey.key(tx.patientKey), encodeBinding({ kind: 'patient', id }));
  ctx.emit('patient.registered', { patient: id, member: member.id });
  return id;
}

async function rotateKey(ctx: TxContext, tx: Tx<'patient.rotate-key'>): Promise<string> {
  const patient = await ctx.needPatient(tx.patient);
  if (!equalBytes(patient.pubKey, ctx.signer))
    throw healthError('HEALTH_UNAUTHORIZED', 'only the current key rotates a patient key');
  // Old keys stay bound, so a retired key can never be registered again.
  if ((await ctx.get(stateKey.key(tx.newKey))) !== null)
    throw healthError('HEALTH_KEY_IN_USE', 'the new key is already bound to a member or a patient');
  if (!verifySignature(tx.newKey, rotateProofBytes(ctx.meta.chainId, patient.id, tx.newKey), tx.proof))
    throw healthError('PATIENT_PROOF_INVALID', 'the new key did not sign the rotation');
  if (patient.delegates.some((d) => equalBytes(d.pubKey, tx.newKey)))
    throw healthError('DELEGATE_INVALID', "the new key is one of the patient's delegates");
  ctx.putPatient({ ...patient, pubKey: tx.newKey, keyRotations: patient.keyRotations + 1 });
  ctx.put(stateKey.key(tx.newKey), encodeBinding({ kind: 'patient', id: patient.id }));
  ctx.emit('patient.key-rotated', { patient: patient.id });
  return patient.id;
}

async function setDelegate(ctx: TxContext, tx: Tx<'delegate.set'>): Promise<string> {
  const { patient, delegate: actor } = await ctx.patientActor(tx.patient, null);
  if (actor !== null) throw healthError('HEALTH_UNAUTHORIZED', 'only the patient names delegates');
  const spec = tx.delegate;
  if (equalBytes(spec.pubKey, patient.pubKey))
    throw healthError('DELEGATE_INVALID', 'the patient cannot be its own delegate');
  if (spec.expiresAt !== null && spec.expiresAt <= ctx.time)
    throw healthError('DELEGATE_INVALID', 'the delegation would already have expired');
  const delegate: Delegate = { ...spec, addedAt: ctx.height };
  const index = patient.delegates.findIndex((d) => equalBytes(d.pubKey, spec.pubKey));
  const delegates = [...patient.delegates];
  if (index >= 0) delegates[index] = delegate;
  else if (delegates.length >= MAX_DELEGATES)
    throw healthError('DELEGATE_LIMIT', `a patient has at most ${MAX_DELEGATES} delegates`);
  else delegates.push(delegate);
  ctx.putPatient({ ...patient, delegates });
  ctx.emit('delegate.set', { patient: patient.id, delegate: toHex(spec.pubKey), role: spec.role });
  return patient.id;
}

async function removeDelegate(ctx: TxContext, tx: Tx<'delegate.remove'>): Promise<string> {
  const patient = await ctx.needPatient(tx.patient);
  // The patient removes a delegate; a delegate may also step down.
  if (!equalBytes(patient.pubKey, ctx.signer) && !equalBytes(tx.delegateKey, ctx.signer))
    throw healthError('HEALTH_UNAUTHORIZED', 'only the patient or the delegate removes a delegation');
  const delegates = patient.delegates.filter((d) => !equalBytes(d.pubKey, tx.delegateKey));
  if (delegates.length === patient.delegates.length)
    throw healthError('DELEGATE_NOT_FOUND', 'the key is not a delegate of the patient');
  ctx.putPatient({ ...patient, delegates });
  ctx.emit('delegate.removed', { patient: patient.id, delegate: toHex(tx.delegateKey) });
  return patient.id;
}

// --- record anchors ---

async function anchorRecord(ctx: TxContext, tx: Tx<'record.anchor'>): Promise<string> {
  const member = await ctx.signerMember(['provider', 'lab']);
  await ctx.needPatient(tx.patient);
  const id = recordIdOf(member.id, tx.patient, tx.ciphertextHash);
  if ((await ctx.record(id)) !== null) throw healthError('RECORD_EXISTS', `record ${id} is already anchored`);
  if (tx.supersedes !== null) {
    const old = await ctx.needRecord(tx.supersedes);
    if (old.patient !== tx.patient)
      throw healthError('RECORD_PATIENT_MISMATCH', 'an amendment belongs to the same patient');
    if (old.custodian !== member.id)
      throw healthError('RECORD_NOT_CUSTODIAN', 'only the custodian amends its record');
    if (old.erasure !== null) throw healthError('RECORD_ERASED', 'an erased record cannot be amended');
    if (old.supersededBy !== null)
      throw healthError('RECORD_ALREADY_SUPERSEDED', `record ${old.id} was amended by ${old.supersededBy}`);
    ctx.putRecord({ ...old, supersededBy: id });
  }
  ctx.putRecord({
    id,
    patient: tx.patient,
    custodian: member.id,
    category: tx.category,
    ciphertextHash: tx.ciphertextHash,
    commitment: tx.commitment,
    size: tx.size,
    supersedes: tx.supersedes,
    supersededBy: null,
    anchoredAt: ctx.height,
    anchoredTime: ctx.time,
    erasure: null,
  });
  await ctx.append('records', tx.patient, id);
  ctx.emit('record.anchored', {
    patient: tx.patient,
    record: id,
    custodian: member.id,
    category: tx.category,
    ...(tx.supersedes === null ? {} : { supersedes: tx.supersedes }),
  });
  return id;
}

async function eraseRecord(ctx: TxContext, tx: Tx<'record.erase'>): Promise<string> {
  const member = await ctx.signerMember();
  const record = await ctx.needRecord(tx.record);
  if (record.custodian !== member.id)
    throw healthError('RECORD_NOT_CUSTODIAN', 'only the custodian, which destroys the key, marks erasure');
  if (record.erasure !== null) throw healthError('RECORD_ERASED', `record ${record.id} is already erased`);
  ctx.putRecord({ ...record, erasure: { height: ctx.height, time: ctx.time, reason: tx.reason } });
  ctx.emit('record.erased', {
    patient: record.patient,
    record: record.id,
    custodian: member.id,
    reason: tx.reason,
  });
  return record.id;
}

// --- consents ---

/** Record ids named in a rule must be the patient's own. */
async function checkNamedRecords(ctx: TxContext, patient: string, ids: readonly string[]): Promise<void> {
  for (const id of new Set(ids)) {
    const record = await ctx.needRecord(id);
    if (record.patient !== patient)
      throw healthError('RECORD_PATIENT_MISMATCH', `record ${id} belongs to another patient`);
  }
}

/** The limits a delegate's grant must respect. */
function checkDelegateGrant(ctx: TxContext, delegate: Delegate | null, p: Provision): void {
  if (delegate === null || p.type !== 'permit') return;
  if (delegate.purposes.length > 0 && !p.purposes.every((x) => delegate.purposes.includes(x)))
    throw healthError('DELEGATE_POWER_DENIED', 'the delegate may not grant for these purposes');
  if (delegate.maxConsentMs !== null && (p.end === null || p.end > ctx.time + delegate.maxConsentMs))
    throw healthError(
      'DELEGATE_CONSENT_TOO_LONG',
      `a consent from this delegate must end within ${humanDuration(delegate.maxConsentMs)} of when it is given`,
    );
}

async function addConsent(
  ctx: TxContext,
  patient: string,
  grantee: string,
  provision: Provision,
  request: string | null,
): Promise<Consent> {
  if (provision.end !== null && provision.end <= ctx.time)
    throw healthError('CONSENT_PERIOD_INVALID', 'the consent would already have ended');
  const id = derivedId('consent', ctx.txHash);
  const listKey = stateKey.grants(patient, grantee);
  // Drop consents that can never be active again, so the list stays small and decisions fast.
  const kept: string[] = [];
  for (const c of await ctx.consentsFor(patient, grantee)) {
    const revokedBefore = c.revokedAt !== null && c.revokedAt < ctx.height;
    const ended = c.provision.end !== null && c.provision.end <= ctx.time;
    if (!revokedBefore && !ended) kept.push(c.id);
  }
  if (kept.length >= MAX_PAIR_CONSENTS)
    throw healthError('CONSENT_LIMIT', `at most ${MAX_PAIR_CONSENTS} live consents per patient and grantee`);
  kept.push(id);
  ctx.putIdList(listKey, kept);
  const consent: Consent = {
    id,
    patient,
    grantee,
    provision,
    grantedBy: ctx.signer,
    createdAt: ctx.height,
    createdTime: ctx.time,
    request,
    revokedAt: null,
    revokedBy: null,
  };
  ctx.putConsent(consent);
  await ctx.append('consents', patient, id);
  return consent;
}

async function grantConsent(ctx: TxContext, tx: Tx<'consent.grant'>): Promise<string> {
  const { delegate } = await ctx.patientActor(tx.patient, 'grant');
  const p = tx.provision;
  if (tx.grantee === ANY_MEMBER) {
    if (p.type !== 'deny')
      throw healthError('CONSENT_GRANTEE_INVALID', 'only a deny consent applies to every member');
  } else {
    const grantee = await ctx.member(tx.grantee);
    if (grantee === null || !grantee.active)
      throw healthError('CONSENT_GRANTEE_INVALID', `grantee ${tx.grantee} is not an active member`);
  }
  checkGrant(p);
  await checkNamedRecords(ctx, tx.patient, provisionRecords(p));
  checkDelegateGrant(ctx, delegate, p);
  const consent = await addConsent(ctx, tx.patient, tx.grantee, p, null);
  ctx.emit('consent.granted', {
    patient: tx.patient,
    grantee: tx.grantee,
    consent: consent.id,
    type: p.type,
    purpose: p.purposes,
  });
  return consent.id;
}

async function revokeConsent(ctx: TxContext, tx: Tx<'consent.revoke'>): Promise<string> {
  const consent = await ctx.needConsent(tx.consent);
  await ctx.patientActor(consent.patient, 'revoke');
  if (consent.revokedAt !== null)
    throw healthError(
      'CONSENT_ALREADY_REVOKED',
      `consent ${consent.id} was revoked at height ${consent.revokedAt}`,
    );
  // Takes effect from the next block: the engine treats it as active up to this height.
  ctx.putConsent({ ...consent, revokedAt: ctx.height, revokedBy: ctx.signer });
  ctx.emit('consent.revoked', { patient: consent.patient, grantee: consent.grantee, consent: consent.id });
  return consent.id;
}

// --- access requests ---

async function createRequest(ctx: TxContext, tx: Tx<'request.create'>): Promise<string> {
  const member = await ctx.signerMember();
  await ctx.needPatient(tx.patient);
  if (
    tx.purposes.length === 0 ||
    tx.actions.length === 0 ||
    (tx.categories.length === 0 && tx.records.length === 0)
  )
    throw healthError('CONSENT_SCOPE_INVALID', 'a request names purposes, actions and a scope');
  await checkNamedRecords(ctx, tx.patient, tx.records);
  const { requestMaxTtlMs } = await ctx.params();
  if (tx.expiresAt <= ctx.time || tx.expiresAt > ctx.time + requestMaxTtlMs)
    throw healthError(
      'REQUEST_EXPIRY_INVALID',
      `a request expires after now and within ${humanDuration(requestMaxTtlMs)} from now`,
    );
  if (tx.periodEnd !== null && tx.periodEnd <= ctx.time)
    throw healthError('CONSENT_PERIOD_INVALID', 'the access asked for would already have ended');
  const pending = await ctx.idList(stateKey.pending(tx.patient));
  if (pending.length >= MAX_PENDING_REQUESTS)
    throw healthError('REQUEST_LIMIT', `a patient has at most ${MAX_PENDING_REQUESTS} pending requests`);
  // So that one member cannot fill a patient's queue and shut the others out.
  // (A request past its expiry that the per-minute sweep has not reached yet does not count.)
  const own = await countMatching(
    pending,
    (id) => ctx.request(id),
    (r) => r.requester === member.id && r.expiresAt > ctx.time,
  );
  if (own >= MAX_PENDING_REQUESTS_PER_MEMBER)
    throw healthError(
      'REQUEST_LIMIT',
      `a member has at most ${MAX_PENDING_REQUESTS_PER_MEMBER} pending requests to one patient`,
    );
  const id = derivedId('request', ctx.txHash);
  ctx.putRequest({
    id,
    patient: tx.patient,
    requester: member.id,
    categories: tx.categories,
    records: tx.records,
    purposes: tx.purposes,
    actions: tx.actions,
    reason: tx.reason,
    periodEnd: tx.periodEnd,
    expiresAt: tx.expiresAt,
    createdAt: ctx.height,
    createdTime: ctx.time,
    status: 'pending',
    closedAt: null,
    consent: null,
  });
  ctx.putIdList(stateKey.pending(tx.patient), [...pending, id]);
  await scheduleExpiry(ctx, id, tx.expiresAt);
  await ctx.append('requests', tx.patient, id);
  ctx.emit('request.created', {
    patient: tx.patient,
    request: id,
    requester: member.id,
    purpose: tx.purposes,
  });
  return id;
}

async function scheduleExpiry(ctx: TxContext, id: string, expiresAt: bigint): Promise<void> {
  for (let minute = expiresAt / EXPIRY_SLOT_MS, tries = 0; tries < 64; minute++, tries++) {
    const ids = await ctx.idList(stateKey.expiry(minute));
    if (ids.length < MAX_EXPIRY_SLOT) {
      ctx.putIdList(stateKey.expiry(minute), [...ids, id]);
      return;
    }
  }
  throw healthError('REQUEST_LIMIT', 'too many requests expire around that time');
}

async function openRequest(ctx: TxContext, id: string, power: 'approve' | 'deny') {
  const request = await ctx.needRequest(id);
  const actor = await ctx.patientActor(request.patient, power);
  if (request.status !== 'pending') throw healthError('REQUEST_CLOSED', `request ${id} is ${request.status}`);
  if (ctx.time >= request.expiresAt) throw healthError('REQUEST_EXPIRED', `request ${id} has expired`);
  return { request, ...actor };
}

async function closeRequest(ctx: TxContext, patient: string, id: string): Promise<void> {
  const key = stateKey.pending(patient);
  ctx.putIdList(
    key,
    (await ctx.idList(key)).filter((x) => x !== id),
  );
}

async function approveRequest(ctx: TxContext, tx: Tx<'request.approve'>): Promise<string> {
  const { request, delegate } = await openRequest(ctx, tx.request, 'approve');
  const requester = await ctx.member(request.requester);
  if (requester === null || !requester.active)
    throw healthError(
      'CONSENT_GRANTEE_INVALID',
      `requester ${request.requester} is no longer an active member`,
    );
  if (tx.exceptions.some((p) => p.type !== 'deny'))
    throw healthError('CONSENT_SCOPE_INVALID', 'an approval adds only deny exceptions');
  const provision: Provision = {
    type: 'permit',
    start: null,
    end: tx.periodEnd ?? request.periodEnd,
    actions: request.actions,
    purposes: request.purposes,
    categories: request.categories,
    records: request.records,
    provisions: tx.exceptions,
  };
  // Each exception was checked alone; under the new top permit they must fit one consent's limits
  // (depth and count), or the stored consent could never be read back.
  provisionFromFields(provisionFields(provision), 'the approved consent');
  await checkNamedRecords(ctx, request.patient, tx.exceptions.flatMap(provisionRecords));
  checkDelegateGrant(ctx, delegate, provision);
  const consent = await addConsent(ctx, request.patient, request.requester, provision, request.id);
  ctx.putRequest({ ...request, status: 'approved', closedAt: ctx.height, consent: consent.id });
  await closeRequest(ctx, request.patient, request.id);
  ctx.emit('request.approved', {
    patient: request.patient,
    request: request.id,
    grantee: request.requester,
    consent: consent.id,
  });
  return consent.id;
}

async function denyRequest(ctx: TxContext, tx: Tx<'request.deny'>): Promise<string> {
  const { request } = await openRequest(ctx, tx.request, 'deny');
  ctx.putRequest({ ...request, status: 'denied', closedAt: ctx.height });
  await closeRequest(ctx, request.patient, request.id);
  ctx.emit('request.denied', { patient: request.patient, request: request.id, requester: request.requester });
  return request.id;
}

/** Closes pending requests whose expiry has passed (called at the start of a block). */
export async function expireRequest(ctx: TxContext, id: string): Promise<boolean> {
  const request = await ctx.request(id);
  if (request === null || request.status !== 'pending' || ctx.time < request.expiresAt) return false;
  ctx.putRequest({ ...request, status: 'expired', closedAt: ctx.height });
  await closeRequest(ctx, request.patient, request.id);
  ctx.emit('request.expired', {
    patient: request.patient,
    request: request.id,
    requester: request.requester,
  });
  return true;
}

// --- access events and break-glass ---

/**
 * The custodian recording an access, and the node that signed it (null when the member key did):
 * `access.record` is the one tx a member's node may sign with its own node key (its peer id listed
 * in `Member.nodes`), so the node that releases a record audits the release itself. Every other
 * tx needs the member key.
 */
async function accessCustodian(
  ctx: TxContext,
  tx: Tx<'access.record'>,
): Promise<{ custodian: Member; node: string | null }> {
  if ((await ctx.signerBinding())?.kind === 'member')
    return { custodian: await ctx.signerMember(), node: null };
  const record = await ctx.needRecord(tx.records[0]!);
  const custodian = await ctx.member(record.custodian);
  const node = nodePeerIdOf(ctx.signer);
  if (custodian === null || !custodian.active || !custodian.nodes.includes(node))
    throw healthError(
      'HEALTH_UNAUTHORIZED',
      "the signer is neither an active member nor a node of the record's custodian",
    );
  return { custodian, node };
}

async function recordAccess(ctx: TxContext, tx: Tx<'access.record'>): Promise<string> {
  const { custodian, node } = await accessCustodian(ctx, tx);
  const { items, breakGlass } = await checkAccess(ctx, { ...tx, custodian: custodian.id }, ctx);
  const event: AccessEvent = {
    id: derivedId('access', ctx.txHash),
    patient: tx.patient,
    custodian: custodian.id,
    recipient: tx.recipient,
    purpose: tx.purpose,
    action: tx.action,
    items,
    breakGlass,
    release: tx.release,
    height: ctx.height,
    time: ctx.time,
  };
  await ctx.append('disclosures', tx.patient, accessEventFields(event));
  if (tx.release !== null) ctx.put(stateKey.release(tx.release), utf8.encode(event.id));
  ctx.emit('access.recorded', {
    patient: tx.patient,
    custodian: custodian.id,
    recipient: tx.recipient,
    purpose: tx.purpose,
    access: event.id,
    record: tx.records,
    consent: [...new Set(items.flatMap((i) => (i.consent === null ? [] : [i.consent])))],
    break_glass: breakGlass === null ? 'false' : 'true',
    ...(tx.release === null ? {} : { release: toHex(tx.release) }),
    ...(node === null ? {} : { node }),
  });
  return event.id;
}

async function declareBreakGlass(ctx: TxContext, tx: Tx<'breakglass.declare'>): Promise<string> {
  const member = await ctx.signerMember(['provider']);
  await ctx.needPatient(tx.patient);
  const { breakGlassWindowMs } = await ctx.params();
  const entry: BreakGlass = {
    id: derivedId('breakGlass', ctx.txHash),
    patient: tx.patient,
    member: member.id,
    reason: tx.reason,
    from: ctx.time,
    until: ctx.time + breakGlassWindowMs,
    height: ctx.height,
  };
  ctx.put(stateKey.breakGlass(tx.patient, member.id), encodeBreakGlass(entry));
  await ctx.append('breakglass', tx.patient, breakGlassFields(entry));
  await ctx.append('member-breakglass', member.id, breakGlassFields(entry));
  const countKey = stateKey.breakGlassCount(member.id);
  const count = await ctx.get(countKey);
  ctx.put(countKey, encodeCount((count === null ? 0 : decodeCount(count)) + 1));
  ctx.emit('breakglass.declared', {
    patient: tx.patient,
    member: member.id,
    break_glass: entry.id,
    reason: tx.reason,
    flagged: 'true',
  });
  return entry.id;
}

// --- claims ---

async function submitClaim(ctx: TxContext, tx: Tx<'claim.submit'>): Promise<string> {
  const provider = await ctx.signerMember(['provider']);
  const payer = await ctx.member(tx.payer);
  if (payer === null || !payer.active || !payer.roles.includes('payer') || payer.id === provider.id)
    throw healthError('CLAIM_PAYER_INVALID', `${tx.payer} is not an active payer other than the provider`);
  await ctx.needPatient(tx.patient);
  const seen = new Set<string>();
  for (const line of tx.lines) {
    if (line.date % DAY_MS !== 0n || line.date > ctx.time)
      throw healthError('CLAIM_DATE_INVALID', 'a date of service is a past day (unix ms at 00:00 UTC)');
    const key = `${line.code}/${line.date}`;
    if (seen.has(key))
      throw healthError('CLAIM_DUPLICATE', `service ${line.code} on one day is billed twice`);
    seen.add(key);
  }
  const consents = await policyConsents(ctx, tx.patient, payer.id);
  for (const id of new Set(tx.lines.flatMap((l) => l.records))) {
    const record = await ctx.needRecord(id);
    if (record.patient !== tx.patient)
      throw healthError('RECORD_PATIENT_MISMATCH', `record ${id} belongs to another patient`);
    if (record.erasure !== null) throw healthError('RECORD_ERASED', `record ${id} is erased`);
    const d = decideForRecord(
      consents,
      { ...record, erased: false },
      {
        patient: tx.patient,
        grantee: payer.id,
        action: 'read',
        recordId: id,
        purpose: 'HPAYMT' satisfies Purpose,
        time: ctx.time,
        height: ctx.height,
      },
    );
    if (!d.permit)
      throw healthError(
        'CLAIM_CONSENT_MISSING',
        `the patient's consent does not let ${payer.id} read ${id} for HPAYMT (${d.reason})`,
      );
  }
  const id = derivedId('claim', ctx.txHash);
  // An amendment first takes the earlier claim's lines off the books, so it may bill them again.
  if (tx.supersedes !== null) await supersedeClaim(ctx, tx, provider.id, id);
  for (const line of tx.lines) {
    // One mark per (patient, payer, service, day), whoever bills it: the same service billed to
    // the same payer by a second institution is the cross-institution fraud this rule stops.
    const key = stateKey.duplicate(tx.patient, payer.id, line.code, line.date);
    const holder = await ctx.get(key);
    if (holder !== null)
      throw healthError(
        'CLAIM_DUPLICATE',
        `service ${line.code} on ${dayOf(line.date)} is already claimed from ${payer.id} for this patient, in claim ${utf8Decoder.decode(holder)}`,
      );
    ctx.put(key, utf8.encode(id));
  }
  ctx.putClaim({
    id,
    patient: tx.patient,
    provider: provider.id,
    payer: payer.id,
    lines: tx.lines,
    status: 'submitted',
    history: [{ status: 'submitted', height: ctx.height, time: ctx.time, amounts: [], reason: null }],
    supersedes: tx.supersedes,
    supersededBy: null,
  });
  await ctx.append('claims', tx.patient, id);
  await ctx.append('member-claims', provider.id, id);
  await ctx.append('member-claims', payer.id, id);
  ctx.emit('claim.submitted', {
    patient: tx.patient,
    claim: id,
    provider: provider.id,
    payer: payer.id,
    record: [...new Set(tx.lines.flatMap((l) => l.records))],
    ...(tx.supersedes === null ? {} : { supersedes: tx.supersedes }),
  });
  return id;
}

/** `2026-01-15` for a date of service (unix ms at 00:00 UTC), for messages. */
function dayOf(date: bigint): string {
  return isoTime(date).replace(/T00:00:00\.000Z$/, '');
}

/**
 * Marks `tx.supersedes` superseded by the amendment `id` and releases its duplicate marks. Only the
 * provider that submitted it amends it, for the same patient and payer, and only while the payer
 * has not adjudicated it: once adjudicated, a correction goes through the payer (a denial frees
 * the lines for a new claim), so an amendment can never undo a payer's decision.
 */
async function supersedeClaim(
  ctx: TxContext,
  tx: Tx<'claim.submit'>,
  providerId: string,
  id: string,
): Promise<void> {
  const earlier = await ctx.needClaim(tx.supersedes!);
  if (earlier.provider !== providerId || earlier.patient !== tx.patient || earlier.payer !== tx.payer)
    throw healthError(
      'CLAIM_SUPERSEDE_INVALID',
      `claim ${earlier.id} can be amended only by its provider ${earlier.provider}, for the same patient and payer`,
    );
  if (earlier.status === 'superseded')
    throw healthError(
      'CLAIM_SUPERSEDED',
      `claim ${earlier.id} is already superseded by ${earlier.supersededBy}`,
    );
  if (earlier.status !== 'submitted')
    throw healthError(
      'CLAIM_ALREADY_ADJUDICATED',
      `claim ${earlier.id} is already ${earlier.status}; an adjudicated claim cannot be amended`,
    );
  await releaseDuplicateMarks(ctx, earlier);
  ctx.putClaim({
    ...earlier,
    status: 'superseded',
    supersededBy: id,
    history: [
      ...earlier.history,
      { status: 'superseded', height: ctx.height, time: ctx.time, amounts: [], reason: null },
    ],
  });
}

/** Deletes the duplicate marks `claim` holds, so its lines may be billed again. */
async function releaseDuplicateMarks(ctx: TxContext, claim: Claim): Promise<void> {
  for (const line of claim.lines) {
    const key = stateKey.duplicate(claim.patient, claim.payer, line.code, line.date);
    const holder = await ctx.get(key);
    if (holder !== null && utf8Decoder.decode(holder) === claim.id) ctx.del(key);
  }
}

async function adjudicateClaim(ctx: TxContext, tx: Tx<'claim.adjudicate'>): Promise<string> {
  const member = await ctx.signerMember();
  const claim = await ctx.needClaim(tx.claim);
  if (member.id !== claim.payer)
    throw healthError('CLAIM_WRONG_PAYER', `only ${claim.payer} adjudicates this claim`);
  if (!member.roles.includes('payer'))
    throw healthError('HEALTH_ROLE_REQUIRED', `${member.id} is no longer a payer`);
  if (claim.status === 'superseded')
    throw healthError(
      'CLAIM_SUPERSEDED',
      `claim ${claim.id} is superseded by ${claim.supersededBy}: adjudicate that one`,
    );
  if (claim.status !== 'submitted')
    throw healthError('CLAIM_ALREADY_ADJUDICATED', `claim ${claim.id} is already ${claim.status}`);
  let amounts: bigint[];
  switch (tx.outcome) {
    case 'approved':
      amounts = claim.lines.map((l) => l.amount);
      break;
    case 'partial':
      if (
        tx.amounts.length !== claim.lines.length ||
        tx.amounts.some((a, i) => a > claim.lines[i]!.amount) ||
        tx.amounts.every((a, i) => a === claim.lines[i]!.amount) ||
        tx.amounts.every((a) => a === 0n)
      )
        throw healthError(
          'CLAIM_AMOUNTS_INVALID',
          'a partial approval gives one amount per line, none above the billed amount, some below, not all zero',
        );
      amounts = [...tx.amounts];
      break;
    case 'denied':
      amounts = [];
      // A denied line may be billed again (corrected).
      await releaseDuplicateMarks(ctx, claim);
      break;
    default:
      return unreachable(tx.outcome);
  }
  const next: Claim = {
    ...claim,
    status: tx.outcome,
    history: [
      ...claim.history,
      { status: tx.outcome, height: ctx.height, time: ctx.time, amounts, reason: tx.reason },
    ],
  };
  ctx.putClaim(next);
  ctx.emit('claim.adjudicated', {
    patient: claim.patient,
    claim: claim.id,
    provider: claim.provider,
    payer: claim.payer,
    status: tx.outcome,
  });
  return claim.id;
}

// --- members ---

/** A member replaces (or clears) its own record-encryption key: a routine rotation. */
async function setRecordKey(ctx: TxContext, tx: Tx<'member.set-record-key'>): Promise<string> {
  const member = await ctx.signerMember();
  ctx.putMember({ ...member, recordKey: tx.recordKey });
  ctx.emit('member.record-key-set', {
    member: member.id,
    record_key: tx.recordKey === null ? 'none' : 'set',
  });
  return member.id;
}

// --- governance ---

/** Carries out a governance action. Throws (with a code) if it cannot be done in this state. */
async function applyAction(ctx: TxContext, action: GovAction): Promise<void> {
  switch (action.kind) {
    case 'member.add': {
      if ((await ctx.member(action.member)) !== null)
        throw healthError('MEMBER_EXISTS', `member id ${action.member} is taken`);
      if ((await ctx.get(stateKey.key(action.pubKey))) !== null)
        throw healthError('HEALTH_KEY_IN_USE', 'the key is already bound to a member or a patient');
      const ids = await ctx.memberIds();
      if (ids.length >= MAX_MEMBERS) throw healthError('HEALTH_LIMIT', `at most ${MAX_MEMBERS} members`);
      ctx.putMember({
        id: action.member,
        pubKey: action.pubKey,
        roles: action.roles,
        active: true,
        joinedAt: ctx.height,
        leftAt: null,
        nodes: [],
        recordKey: null,
      });
      ctx.put(stateKey.key(action.pubKey), encodeBinding({ kind: 'member', id: action.member }));
      ctx.putIdList(stateKey.members(), [...ids, action.member].sort(compareStrings));
      return;
    }
    case 'member.remove': {
      const member = await activeMember(ctx, action.member);
      const ids = await ctx.memberIds();
      if (ids.length <= 1) throw healthError('MEMBER_LAST', 'the last member cannot be removed');
      ctx.putMember({ ...member, active: false, leftAt: ctx.height });
      ctx.putIdList(
        stateKey.members(),
        ids.filter((id) => id !== member.id),
      );
      return;
    }
    case 'member.roles': {
      const member = await activeMember(ctx, action.member);
      ctx.putMember({ ...member, roles: action.roles });
      return;
    }
    case 'member.rekey': {
      const member = await activeMember(ctx, action.member);
      if ((await ctx.get(stateKey.key(action.pubKey))) !== null)
        throw healthError('HEALTH_KEY_IN_USE', 'the key is already bound to a member or a patient');
      ctx.putMember({ ...member, pubKey: action.pubKey });
      ctx.put(stateKey.key(action.pubKey), encodeBinding({ kind: 'member', id: member.id }));
      return;
    }
    case 'member.nodes': {
      const member = await activeMember(ctx, action.member);
      // One node, one institution: the gater and the audit of who connected stay unambiguous.
      for (const id of await ctx.memberIds()) {
        if (id === member.id) continue;
        const other = await ctx.member(id);
        const shared = other?.nodes.find((node) => action.nodes.includes(node));
        if (shared !== undefined)
          throw healthError('MEMBER_NODE_IN_USE', `node ${shared} is already a node of member ${id}`);
      }
      ctx.putMember({ ...member, nodes: action.nodes });
      return;
    }
    case 'member.record-key': {
      const member = await activeMember(ctx, action.member);
      ctx.putMember({ ...member, recordKey: action.recordKey });
      return;
    }
    case 'validator.set': {
      const bytes = await ctx.get(stateKey.validators());
      const current = bytes === null ? [] : decodeValidators(bytes);
      const others = current.filter((v) => !equalBytes(v.pubKey, action.pubKey));
      if (action.power === 0n && others.length === current.length)
        throw healthError('GOV_ACTION_INVALID', 'cannot remove a key that is not a validator');
      const next = action.power === 0n ? others : [...others, { pubKey: action.pubKey, power: action.power }];
      if (next.length === 0) throw healthError('GOV_ACTION_INVALID', 'the last validator cannot be removed');
      if (next.length > MAX_VALIDATORS)
        throw healthError('HEALTH_LIMIT', `at most ${MAX_VALIDATORS} validators`);
      if (next.reduce((sum, v) => sum + v.power, 0n) > MAX_TOTAL_VOTING_POWER)
        throw healthError('GOV_ACTION_INVALID', 'total voting power too large');
      next.sort((a, b) => Buffer.compare(a.pubKey, b.pubKey));
      ctx.put(stateKey.validators(), encodeValidators(next));
      ctx.validatorUpdates.push({ pubKey: action.pubKey, power: action.power });
      return;
    }
    case 'params.set': {
      const params = await ctx.params();
      ctx.putParams(encodeParams({ ...params, [PARAM_NAMES[action.name]]: action.value }));
      return;
    }
    default:
      unreachable(action);
  }
}

async function activeMember(ctx: TxContext, id: string) {
  const member = await ctx.member(id);
  if (member === null || !member.active)
    throw healthError('MEMBER_NOT_FOUND', `${id} is not an active member`);
  return member;
}

/** Runs `fn` in a layer of its own: kept if it succeeds, dropped (with its validator updates) if it throws. */
async function isolated(ctx: TxContext, fn: () => Promise<void>, keep: boolean): Promise<void> {
  const saved = ctx.state;
  const updates = ctx.validatorUpdates;
  ctx.state = saved.child();
  ctx.validatorUpdates = [...updates];
  try {
    await fn();
    if (keep) {
      saved.absorb(ctx.state);
      return;
    }
    ctx.validatorUpdates = updates;
  } catch (err) {
    ctx.validatorUpdates = updates;
    throw err;
  } finally {
    ctx.state = saved;
  }
}

async function propose(ctx: TxContext, tx: Tx<'gov.propose'>): Promise<string> {
  const member = await ctx.signerMember();
  const { proposalMaxBlocks } = await ctx.params();
  if (tx.deadline < ctx.height || tx.deadline > ctx.height + proposalMaxBlocks)
    throw healthError(
      'GOV_DEADLINE_INVALID',
      `the deadline is a height from now to ${proposalMaxBlocks} blocks ahead`,
    );
  const open = await ctx.idList(stateKey.openProposals());
  if (open.length >= MAX_OPEN_PROPOSALS)
    throw healthError('GOV_LIMIT', `at most ${MAX_OPEN_PROPOSALS} open proposals`);
  // So that one member cannot fill the open slots and block every vote, its own removal included.
  if (
    (await countMatching(
      open,
      (id) => ctx.proposal(id),
      (p) => p.proposer === member.id,
    )) >= MAX_OPEN_PROPOSALS_PER_MEMBER
  )
    throw healthError('GOV_LIMIT', `a member has at most ${MAX_OPEN_PROPOSALS_PER_MEMBER} open proposals`);
  // Refuse now what could not be carried out now (the check runs again when it passes).
  await isolated(ctx, () => applyAction(ctx, tx.action), false);
  const proposal: Proposal = {
    id: derivedId('proposal', ctx.txHash),
    proposer: member.id,
    action: tx.action,
    deadline: tx.deadline,
    createdAt: ctx.height,
    votes: [{ member: member.id, approve: true }],
    status: 'open',
    closedAt: null,
    failure: null,
  };
  ctx.putIdList(stateKey.openProposals(), [...open, proposal.id]);
  const deadlineIds = await ctx.idList(stateKey.deadline(tx.deadline));
  ctx.putIdList(stateKey.deadline(tx.deadline), [...deadlineIds, proposal.id]);
  ctx.emit('gov.proposed', { proposal: proposal.id, member: member.id, action: tx.action.kind });
  await tally(ctx, proposal);
  return proposal.id;
}

async function vote(ctx: TxContext, tx: Tx<'gov.vote'>): Promise<string> {
  const member = await ctx.signerMember();
  const proposal = await ctx.needProposal(tx.proposal);
  if (proposal.status !== 'open' || ctx.height > proposal.deadline)
    throw healthError('GOV_PROPOSAL_CLOSED', `proposal ${proposal.id} is ${proposal.status}`);
  if (proposal.votes.some((v) => v.member === member.id))
    throw healthError('GOV_ALREADY_VOTED', `${member.id} has voted on ${proposal.id}`);
  ctx.emit('gov.voted', { proposal: proposal.id, member: member.id, approve: String(tx.approve) });
  await tally(ctx, { ...proposal, votes: [...proposal.votes, { member: member.id, approve: tx.approve }] });
  return proposal.id;
}

/**
 * Counts the votes of current members: more than 2/3 of them in favour passes (and carries out
 * the action); when that can no longer happen, the proposal is rejected. Writes the proposal.
 */
async function tally(ctx: TxContext, proposal: Proposal): Promise<void> {
  const members = new Set(await ctx.memberIds());
  const n = BigInt(members.size);
  const counted = proposal.votes.filter((v) => members.has(v.member));
  const yes = BigInt(counted.filter((v) => v.approve).length);
  const no = BigInt(counted.length) - yes;
  let next = proposal;
  if (3n * yes > 2n * n) {
    let failure: string | null = null;
    try {
      await isolated(ctx, () => applyAction(ctx, proposal.action), true);
    } catch (err) {
      if (!(err instanceof CareLedgerError)) throw err;
      failure = err.code;
    }
    next = { ...proposal, status: failure === null ? 'passed' : 'failed', closedAt: ctx.height, failure };
  } else if (3n * (n - no) <= 2n * n) {
    next = { ...proposal, status: 'rejected', closedAt: ctx.height };
  }
  ctx.putProposal(next);
  if (next.status !== 'open') {
    await closeProposal(ctx, next.id);
    ctx.emit(`gov.${next.status}`, {
      proposal: next.id,
      action: next.action.kind,
      ...(next.failure === null ? {} : { failure: next.failure }),
    });
  }
}

async function closeProposal(ctx: TxContext, id: string): Promise<void> {
  const open = await ctx.idList(stateKey.openProposals());
  ctx.putIdList(
    stateKey.openProposals(),
    open.filter((x) => x !== id),
  );
}

/** Closes an open proposal whose deadline has passed (called at the start of a block). */
export async function expireProposal(ctx: TxContext, id: string): Promise<boolean> {
  const proposal = await ctx.proposal(id);
  if (proposal === null || proposal.status !== 'open' || ctx.height <= proposal.deadline) return false;
  ctx.putProposal({ ...proposal, status: 'expired', closedAt: ctx.height });
  await closeProposal(ctx, id);
  ctx.emit('gov.expired', { proposal: id, action: proposal.action.kind });
  return true;
}
