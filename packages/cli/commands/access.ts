/**
 * `careledger access`: a custodian records a disclosure (the chain accepts it only if consent, or
 * an active break-glass declaration, permits it), and anyone asks for a proven policy decision.
 */
import { ACTIONS, PURPOSES, type Purpose } from '../../health/codes.ts';
import { MAX_ACCESS_RECORDS } from '../../health/model.ts';
import {
  argsError,
  codeArg,
  idArg,
  idsArg,
  memberArg,
  optStr,
  quoted,
  timeArg,
  type Values,
} from '../args.ts';
import { type Group, patientOption } from '../command.ts';
import { receipt, shown } from '../output.ts';

/** The purpose of every break-glass access (HL7 ETREAT: emergency treatment); the chain refuses any other. */
const BREAK_GLASS_PURPOSE: Purpose = 'ETREAT';

const actionOption = {
  action: { arg: 'CODE', help: `the action: ${ACTIONS.join(', ')}`, required: true },
} as const;

const accessOptions = {
  ...patientOption,
  purpose: { arg: 'CODE', help: 'the purpose of use, e.g. TREAT', required: true },
  ...actionOption,
} as const;

/** Break-glass is emergency treatment: --break-glass implies ETREAT, and refuses any other purpose. */
function accessPurpose(v: Values): Purpose {
  if (v['break-glass'] !== true) return codeArg(v, 'purpose', PURPOSES);
  const given = optStr(v, 'purpose');
  if (given !== undefined && given !== BREAK_GLASS_PURPOSE)
    throw argsError(
      `--break-glass is emergency treatment, purpose ${BREAK_GLASS_PURPOSE}: leave out --purpose (not ${quoted(given)})`,
    );
  return BREAK_GLASS_PURPOSE;
}

export const access: Group = {
  record: {
    summary: 'record a disclosure to a member (signed by the custodian)',
    description:
      "Records that this custodian discloses --records to --recipient. The chain accepts it only if the\npatient's consents permit it now (or under an active break-glass declaration with --break-glass).",
    needs: 'signer',
    options: {
      ...patientOption,
      purpose: {
        arg: 'CODE',
        help: `the purpose of use, e.g. TREAT (${BREAK_GLASS_PURPOSE} with --break-glass)`,
        requiredUnless: 'break-glass',
      },
      ...actionOption,
      recipient: { arg: 'MEMBER', help: 'the member receiving the records', required: true },
      records: { arg: 'LIST', help: `record ids (1 to ${MAX_ACCESS_RECORDS})`, required: true },
      'break-glass': {
        help: `under the recipient's emergency break-glass declaration (implies --purpose ${BREAK_GLASS_PURPOSE})`,
      },
    },
    async run({ v, client }) {
      return receipt(
        await client.recordAccess({
          patient: idArg(v, 'patient', 'patient'),
          recipient: memberArg(v, 'recipient'),
          purpose: accessPurpose(v),
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
