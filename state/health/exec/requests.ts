/**
 * The access-request txs: a member asks, the patient (or a delegate) approves, which writes a
 * consent, or denies; an unanswered request expires at the first block after its time.
 */
import { humanDuration } from '../../../packages/health/codes.ts';
import { healthError } from '../../../packages/health/errors.ts';
import { derivedId } from '../../../packages/health/ids.ts';
import { EXPIRY_SLOT_MS, stateKey } from '../../../packages/health/keys.ts';
import {
  type Provision,
  provisionFields,
  provisionFromFields,
  provisionRecords,
} from '../../../packages/health/provision.ts';
import type { TxContext } from '../context.ts';
import { countMatching, type Tx } from './common.ts';
import { addConsent, checkDelegateGrant, checkNamedRecords } from './consent.ts';

export const MAX_PENDING_REQUESTS = 32;
/** Pending requests of one member to one patient. */
export const MAX_PENDING_REQUESTS_PER_MEMBER = 4;

/** Request ids per expiry minute; a full minute spills into the next. */
export const MAX_EXPIRY_SLOT = 1024;

export async function createRequest(ctx: TxContext, tx: Tx<'request.create'>): Promise<string> {
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

export async function approveRequest(ctx: TxContext, tx: Tx<'request.approve'>): Promise<string> {
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

export async function denyRequest(ctx: TxContext, tx: Tx<'request.deny'>): Promise<string> {
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
