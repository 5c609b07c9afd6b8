/**
 * The claim txs: submission (once per patient, payer, service and day, whoever bills it), amendment
 * of a claim not yet adjudicated, and adjudication by the named payer.
 */
import { policyConsents } from '../../../packages/health/access.ts';
import { DAY_MS, isoTime, type Purpose } from '../../../packages/health/codes.ts';
import { healthError } from '../../../packages/health/errors.ts';
import { derivedId } from '../../../packages/health/ids.ts';
import { stateKey } from '../../../packages/health/keys.ts';
import { type Claim, unreachable } from '../../../packages/health/model.ts';
import { decideForRecord } from '../../../packages/health/policy.ts';
import type { TxContext } from '../context.ts';
import { type Tx, utf8, utf8Decoder } from './common.ts';

export async function submitClaim(ctx: TxContext, tx: Tx<'claim.submit'>): Promise<string> {
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

export async function adjudicateClaim(ctx: TxContext, tx: Tx<'claim.adjudicate'>): Promise<string> {
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
