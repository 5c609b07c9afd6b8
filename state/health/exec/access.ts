/**
 * The audit-trail txs: an access event records a disclosure (signed by the custodian's member key
 * or one of its nodes), and a provider declares break-glass.
 */
import { toHex } from '../../../packages/crypto/hash.ts';
import { checkAccess } from '../../../packages/health/access.ts';
import { healthError } from '../../../packages/health/errors.ts';
import { derivedId, nodePeerIdOf } from '../../../packages/health/ids.ts';
import { stateKey } from '../../../packages/health/keys.ts';
import {
  type AccessEvent,
  accessEventFields,
  type BreakGlass,
  breakGlassFields,
  decodeCount,
  encodeBreakGlass,
  encodeCount,
  type Member,
} from '../../../packages/health/model.ts';
import type { TxContext } from '../context.ts';
import { type Tx, utf8 } from './common.ts';

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

export async function recordAccess(ctx: TxContext, tx: Tx<'access.record'>): Promise<string> {
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

export async function declareBreakGlass(ctx: TxContext, tx: Tx<'breakglass.declare'>): Promise<string> {
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
