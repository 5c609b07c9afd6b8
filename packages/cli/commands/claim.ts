/**
 * `careledger claim`: a provider submits a claim to a payer (one line per service, backed by
 * anchored records), the payer adjudicates it, and claims are shown and listed.
 */

import { CLAIM_OUTCOMES } from '../../health/codes.ts';
import type { ClaimLine } from '../../health/model.ts';
import {
  amountArg,
  argsError,
  codeArg,
  DATE,
  idArg,
  idValue,
  listArg,
  memberArg,
  optStr,
  parseTime,
} from '../args.ts';
import { type Group, idOption, listCommand, patientOption, showCommand } from '../command.ts';
import { receipt } from '../output.ts';

/** `CODE:DATE:CENTS:RECORD[+RECORD…]`, e.g. `80053:2026-01-15:12050:r…`. */
function claimLine(value: string, i: number): ClaimLine {
  const what = `--line #${i + 1}`;
  const parts = value.split(':');
  if (parts.length !== 4) throw argsError(`${what}: expected CODE:DATE:CENTS:RECORD[+RECORD]`);
  const [code, date, cents, records] = parts as [string, string, string, string];
  if (!DATE.test(date)) throw argsError(`${what}: the date of service is a day, like 2026-01-15`);
  return {
    code,
    date: parseTime(date, 'line'),
    amount: amountArg(cents, what),
    records: records.split('+').map((id) => idValue(id, 'line', 'record')),
  };
}

export const claim: Group = {
  submit: {
    summary: 'submit a claim to a payer (signed by the provider)',
    description:
      "Submits a claim: one --line per service, CODE:DATE:CENTS:RECORD[+RECORD] (CPT/HCPCS code, day of\nservice, billed amount in cents, the anchored records that back it). The payer must have the\npatient's consent to read those records for HPAYMT. A service is billed to a payer once per\npatient and day, whoever bills it; to correct a claim not yet adjudicated, submit the corrected\none with --supersedes. Prints the claim id.",
    needs: 'signer',
    options: {
      ...patientOption,
      payer: { arg: 'MEMBER', help: 'the payer member id', required: true },
      line: {
        arg: 'LINE',
        help: 'a service line, CODE:DATE:CENTS:RECORD[+RECORD]',
        required: true,
        multiple: true,
      },
      supersedes: {
        arg: 'ID',
        help: 'the claim this one amends: yours, same patient and payer, not yet adjudicated',
      },
    },
    async run({ v, client }) {
      const lines = v.line;
      if (!Array.isArray(lines) || lines.length === 0) throw argsError('--line is required');
      const supersedes = v.supersedes === undefined ? null : idArg(v, 'supersedes', 'claim');
      return receipt(
        await client.submitClaim(
          idArg(v, 'patient', 'patient'),
          memberArg(v, 'payer'),
          lines.map(claimLine),
          {
            supersedes,
          },
        ),
      );
    },
  },
  adjudicate: {
    summary: 'approve, partially approve or deny a claim (signed by the payer)',
    description:
      'Adjudicates a submitted claim as its payer. partial needs --amounts (allowed cents per line);\npartial and denied need an X12 adjustment --reason such as CO-45.',
    needs: 'signer',
    options: {
      ...idOption('claim'),
      outcome: { arg: 'CODE', help: CLAIM_OUTCOMES.join(', '), required: true },
      amounts: { arg: 'LIST', help: 'allowed cents per line, for partial' },
      reason: { arg: 'CODE', help: 'X12 adjustment reason, for partial and denied' },
    },
    async run({ v, client }) {
      return receipt(
        await client.adjudicateClaim(idArg(v, 'claim', 'claim'), codeArg(v, 'outcome', CLAIM_OUTCOMES), {
          amounts: listArg(v, 'amounts').map((a) => amountArg(a, '--amounts')),
          reason: optStr(v, 'reason') ?? null,
        }),
      );
    },
  },
  show: showCommand(
    'claim',
    'show a claim and its history',
    'Shows a claim: lines, status and every adjudication step (proven).',
    (client, id) => client.claim(id),
  ),
  list: listCommand(
    'claims',
    "list a patient's claim ids",
    "Lists the ids of the patient's claims, oldest first (proven).",
    (client, patient, opts) => client.claims(patient, opts),
  ),
};
