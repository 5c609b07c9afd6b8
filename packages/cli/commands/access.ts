/**
 * `careledger access`: a custodian records a disclosure (the chain accepts it only if consent, or
 * an active break-glass declaration, permits it), and anyone asks for a proven policy decision.
 */
import { ACTIONS, PURPOSES } from '../../health/codes.ts';
import { MAX_ACCESS_RECORDS } from '../../health/model.ts';
import { codeArg, idArg, idsArg, memberArg, timeArg } from '../args.ts';
import { type Group, patientOption } from '../command.ts';
import { receipt, shown } from '../output.ts';

const accessOptions = {
  ...patientOption,
  purpose: { arg: 'CODE', help: 'the purpose of use, e.g. TREAT', required: true },
  action: { arg: 'CODE', help: `the action: ${ACTIONS.join(', ')}`, required: true },
} as const;

export const access: Group = {
  record: {
    summary: 'record a disclosure to a member (signed by the custodian)',
    description:
      "Records that this custodian discloses --records to --recipient. The chain accepts it only if the\npatient's consents permit it now (or under an active break-glass declaration with --break-glass).",
    needs: 'signer',
    options: {
      ...accessOptions,
      recipient: { arg: 'MEMBER', help: 'the member receiving the records', required: true },
      records: { arg: 'LIST', help: `record ids (1 to ${MAX_ACCESS_RECORDS})`, required: true },
      'break-glass': { help: 'under an emergency break-glass declaration (purpose ETREAT)' },
    },
    async run({ v, client }) {
      return receipt(
        await client.recordAccess({
          patient: idArg(v, 'patient', 'patient'),
          recipient: memberArg(v, 'recipient'),
          purpose: codeArg(v, 'purpose', PURPOSES),
          action: codeArg(v, 'action', ACTIONS),
          records: idsArg(v, 'records', 'record', true),
          breakGlass: v['break-glass'] === true,
        }),
      );
    },
  },
  check: {
    summary: 'would the consents permit an access? (proven decision)',
    description:
      'Asks the policy engine whether --grantee may do --action on --record for --purpose, as the next\nblock would decide; the decision is re-derived here from its proven inputs.',
    needs: 'chain',
    options: {
      ...accessOptions,
      grantee: { arg: 'MEMBER', help: 'the member asking', required: true },
      record: { arg: 'ID', help: 'the record id', required: true },
      at: { arg: 'TIME', help: "decide at this UTC time (default: the latest block's)" },
    },
    async run({ v, client }) {
      const d = await client.decision({
        patient: idArg(v, 'patient', 'patient'),
        grantee: memberArg(v, 'grantee'),
        record: idArg(v, 'record', 'record'),
        purpose: codeArg(v, 'purpose', PURPOSES),
        action: codeArg(v, 'action', ACTIONS),
        time: timeArg(v, 'at'),
      });
      return shown({ ...d.value });
    },
  },
};
