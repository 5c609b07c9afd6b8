/**
 * `careledger disclosures`: a patient's audit trail, every access event (who disclosed which
 * records to whom, why, under which consent), proven.
 */
import { idArg } from '../args.ts';
import { type Group, patientOption } from '../command.ts';
import { isoTime, listed } from '../output.ts';

export const disclosures: Group = {
  list: {
    summary: "list a patient's disclosures (the audit trail)",
    description:
      'Lists every access event of the patient: who disclosed which records to whom, why, under which consent (proven).',
    needs: 'chain',
    options: patientOption,
    async run({ v, client }) {
      const r = await client.disclosures(idArg(v, 'patient', 'patient'));
      return listed(
        r.height,
        'disclosures',
        r.value,
        (e) =>
          `${e.id}  ${isoTime(e.time)}  ${e.custodian} -> ${e.recipient}  ${e.action} for ${e.purpose}${e.breakGlass === null ? '' : ' BREAK-GLASS'}\n${e.items.map((i) => `    ${i.record}  consent ${i.consent ?? '-'}`).join('\n')}`,
      );
    },
  },
};
