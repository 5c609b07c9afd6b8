/**
 * The consent txs (grant and revoke), and the writing of a consent into the policy engine's index,
 * which an approved access request shares.
 */
import { humanDuration } from '../../../packages/health/codes.ts';
import { healthError } from '../../../packages/health/errors.ts';
import { ANY_MEMBER, derivedId } from '../../../packages/health/ids.ts';
import { stateKey } from '../../../packages/health/keys.ts';
import type { Consent, Delegate } from '../../../packages/health/model.ts';
import { checkGrant, type Provision, provisionRecords } from '../../../packages/health/provision.ts';
import type { TxContext } from '../context.ts';
import type { Tx } from './common.ts';

/** Consents kept per (patient, grantee) after dropping those that can never be active again. */
export const MAX_PAIR_CONSENTS = 32;

/** Record ids named in a rule must be the patient's own. */
export async function checkNamedRecords(
  ctx: TxContext,
  patient: string,
  ids: readonly string[],
): Promise<void> {
  for (const id of new Set(ids)) {
    const record = await ctx.needRecord(id);
    if (record.patient !== patient)
      throw healthError('RECORD_PATIENT_MISMATCH', `record ${id} belongs to another patient`);
  }
}

/** The limits a delegate's grant must respect. */
export function checkDelegateGrant(ctx: TxContext, delegate: Delegate | null, p: Provision): void {
  if (delegate === null || p.type !== 'permit') return;
  if (delegate.purposes.length > 0 && !p.purposes.every((x) => delegate.purposes.includes(x)))
    throw healthError('DELEGATE_POWER_DENIED', 'the delegate may not grant for these purposes');
  if (delegate.maxConsentMs !== null && (p.end === null || p.end > ctx.time + delegate.maxConsentMs))
    throw healthError(
      'DELEGATE_CONSENT_TOO_LONG',
      `a consent from this delegate must end within ${humanDuration(delegate.maxConsentMs)} of when it is given`,
    );
}

export async function addConsent(
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

export async function grantConsent(ctx: TxContext, tx: Tx<'consent.grant'>): Promise<string> {
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

export async function revokeConsent(ctx: TxContext, tx: Tx<'consent.revoke'>): Promise<string> {
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
