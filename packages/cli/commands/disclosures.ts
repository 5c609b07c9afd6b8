/**
 * `careledger disclosures`: a patient's audit trail, every access event (who disclosed which
 * records to whom, why, under which consent), proven; within a period (--from, --to) and as CSV
 * (--csv), which is what a HIPAA accounting of disclosures (45 CFR 164.528) asks for: the date of
 * each disclosure, who received it, what was disclosed and why.
 */
import type { AccessEvent } from '../../health/model.ts';
import { argsError, idArg } from '../args.ts';
import { type Group, patientList, patientOption } from '../command.ts';
import { csvTable } from '../csv.ts';
import { isoTime, listed } from '../output.ts';
import { periodArg, periodOptions } from '../period.ts';

const CSV_COLUMNS = [
  'time',
  'access_id',
  'custodian',
  'recipient',
  'purpose',
  'action',
  'record',
  'consent',
  'break_glass',
  'release',
  'height',
] as const;

/** One CSV row per disclosed record: an accounting lists what was disclosed, record by record. */
function csvRows(events: readonly AccessEvent[]): string[][] {
  return events.flatMap((e) =>
    e.items.map((i) => [
      isoTime(e.time),
      e.id,
      e.custodian,
      e.recipient,
      e.purpose,
      e.action,
      i.record,
      i.consent ?? '',
      e.breakGlass ?? '',
      e.release === null ? '' : Buffer.from(e.release).toString('hex'),
      e.height.toString(),
    ]),
  );
}

export const disclosures: Group = {
  list: {
    summary: "list a patient's disclosures (the audit trail), or export them as CSV",
    description:
      'Lists every access event of the patient: who disclosed which records to whom, why, under which\nconsent (proven). --from and --to keep the events of a period; --csv prints one row per disclosed\nrecord, for an accounting of disclosures.',
    needs: 'chain',
    options: {
      ...patientOption,
      ...periodOptions,
      csv: { help: 'print CSV (a header, then one row per disclosed record)' },
    },
    async run({ v, client }) {
      if (v.csv === true && v.json === true) throw argsError('give one of --csv and --json');
      const period = periodArg(v);
      const r = await patientList(client, idArg(v, 'patient', 'patient'), (c, p, o) => c.disclosures(p, o));
      const events = r.value.filter((e) => period.includes(e.time));
      if (v.csv === true) return { json: null, text: csvTable(CSV_COLUMNS, csvRows(events)) };
      return listed(
        r.height,
        'disclosures',
        events,
        (e) =>
          `${e.id}  ${isoTime(e.time)}  ${e.custodian} -> ${e.recipient}  ${e.action} for ${e.purpose}${e.breakGlass === null ? '' : ' BREAK-GLASS'}\n${e.items.map((i) => `    ${i.record}  consent ${i.consent ?? '-'}`).join('\n')}`,
        period.all ? 'disclosures' : `disclosures ${period.text}`,
      );
    },
  },
};
