/**
 * `careledger breakglass`: a provider declares emergency access to a patient for the chain's
 * break-glass window; the declaration is flagged for review.
 */
import { BREAK_GLASS_REASONS } from '../../health/codes.ts';
import { defaultParams } from '../../health/model.ts';
import { codeArg, idArg } from '../args.ts';
import { type Group, patientOption } from '../command.ts';
import { receipt } from '../output.ts';

export const breakglass: Group = {
  declare: {
    summary: 'declare emergency access to a patient (signed by a provider)',
    description: `Declares break-glass access to the patient for the chain's window (default ${defaultParams.breakGlassWindowMs / 3_600_000n} hours); flagged for review.`,
    needs: 'signer',
    options: {
      ...patientOption,
      reason: { arg: 'CODE', help: BREAK_GLASS_REASONS.join(', '), required: true },
    },
    async run({ v, client }) {
      return receipt(
        await client.declareBreakGlass(
          idArg(v, 'patient', 'patient'),
          codeArg(v, 'reason', BREAK_GLASS_REASONS),
        ),
      );
    },
  },
};
