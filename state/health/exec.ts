/**
 * Executes one decoded health tx against its context: the stateful checks (each failure throws a
 * CareLedgerError with a code from packages/health/errors.ts) and the writes. The caller runs the
 * tx in its own state layer and drops the layer on failure, so a handler may write before a later
 * check fails. Returns the id of what the tx created or changed, for the result's log.
 *
 * Every rule that depends on consent goes through the one policy engine (packages/health/policy.ts).
 *
 * This file is the dispatcher (one `switch` on the tx type, checked exhaustive) and the table of
 * contents; the handlers live in exec/, one file per kind of tx:
 * - patients.ts: patient.register, patient.rotate-key, delegate.set, delegate.remove
 * - records.ts: record.anchor, record.erase
 * - consent.ts: consent.grant, consent.revoke (and the consent writing request.approve shares)
 * - requests.ts: request.create, request.approve, request.deny, and expiry at a block's start
 * - access.ts: access.record, breakglass.declare
 * - claims.ts: claim.submit (with amendments), claim.adjudicate
 * - members.ts: member.set-record-key
 * - governance.ts: gov.propose, gov.vote, the actions, and expiry at a block's start
 * - common.ts: what several handlers share
 */
import { unreachable } from '../../packages/health/model.ts';
import type { HealthTx } from '../../packages/health/tx.ts';
import type { TxContext } from './context.ts';
import { declareBreakGlass, recordAccess } from './exec/access.ts';
import { adjudicateClaim, submitClaim } from './exec/claims.ts';
import { grantConsent, revokeConsent } from './exec/consent.ts';
import { propose, vote } from './exec/governance.ts';
import { setRecordKey } from './exec/members.ts';
import { registerPatient, removeDelegate, rotateKey, setDelegate } from './exec/patients.ts';
import { anchorRecord, eraseRecord } from './exec/records.ts';
import { approveRequest, createRequest, denyRequest } from './exec/requests.ts';

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

export { MAX_PAIR_CONSENTS } from './exec/consent.ts';
export { expireProposal, MAX_OPEN_PROPOSALS_PER_MEMBER } from './exec/governance.ts';
export {
  expireRequest,
  MAX_EXPIRY_SLOT,
  MAX_PENDING_REQUESTS,
  MAX_PENDING_REQUESTS_PER_MEMBER,
} from './exec/requests.ts';
