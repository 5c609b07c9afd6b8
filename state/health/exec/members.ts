/**
 * The tx a member signs about itself: setting its record-encryption key.
 */
import type { TxContext } from '../context.ts';
import type { Tx } from './common.ts';

/** A member replaces (or clears) its own record-encryption key: a routine rotation. */
export async function setRecordKey(ctx: TxContext, tx: Tx<'member.set-record-key'>): Promise<string> {
  const member = await ctx.signerMember();
  ctx.putMember({ ...member, recordKey: tx.recordKey });
  ctx.emit('member.record-key-set', {
    member: member.id,
    record_key: tx.recordKey === null ? 'none' : 'set',
  });
  return member.id;
}
