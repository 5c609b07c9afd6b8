/**
 * The record-anchor txs: a custodian anchors an encrypted record (or an amendment of one) and marks
 * its erasure (the key is destroyed off chain; the anchor stays as evidence).
 */
import { healthError } from '../../../packages/health/errors.ts';
import { recordIdOf } from '../../../packages/health/ids.ts';
import type { TxContext } from '../context.ts';
import type { Tx } from './common.ts';

export async function anchorRecord(ctx: TxContext, tx: Tx<'record.anchor'>): Promise<string> {
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

export async function eraseRecord(ctx: TxContext, tx: Tx<'record.erase'>): Promise<string> {
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
