/**
 * `careledger breakglass`: a provider declares emergency access to a patient for the chain's
 * break-glass window; the declaration is flagged for review. `list` is that review: a patient's
 * declarations, or a member's, with whether each is still active and the disclosures made under
 * it, proven.
 */
import type { Proven } from '../../client/health.ts';
import { CareLedgerError } from '../../core/errors.ts';
import { BREAK_GLASS_REASONS, humanDuration } from '../../health/codes.ts';
import { type BreakGlass, breakGlassFromFields, defaultParams } from '../../health/model.ts';
import { argsError, codeArg, idArg, memberArg, optStr } from '../args.ts';
import { type Group, patientList, patientOption } from '../command.ts';
import { isoTime, listed, receipt } from '../output.ts';
import { periodArg, periodOptions } from '../period.ts';

export const breakglass: Group = {
  declare: {
    summary: 'declare emergency access to a patient (signed by a provider)',
    description: `Declares break-glass access to the patient for the chain's window (default ${humanDuration(defaultParams.breakGlassWindowMs)}); flagged for review.`,
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
  list: {
    summary: "review break-glass declarations: a patient's (--patient) or a member's (--member)",
    description:
      'Lists the break-glass declarations made for --patient, or by --member, oldest first: who declared\nit, why, its window, whether it is still active, and the disclosures recorded under it (proven).\n--from and --to keep the declarations made in a period.',
    needs: 'chain',
    options: {
      patient: { arg: 'ID', help: 'the patient whose declarations to review' },
      member: { arg: 'MEMBER', help: 'or the member (provider) whose declarations to review' },
      ...periodOptions,
    },
    async run({ v, client, io }) {
      const patientId = optStr(v, 'patient');
      const memberId = optStr(v, 'member');
      if ((patientId === undefined) === (memberId === undefined))
        throw argsError('give one of --patient ID and --member MEMBER');
      const period = periodArg(v);
      let r: Proven<BreakGlass[]>;
      if (patientId !== undefined) {
        r = await patientList(client, idArg(v, 'patient', 'patient'), (c, p, o) => c.breakGlass(p, o));
      } else {
        const id = memberArg(v, 'member');
        const m = await client.member(id);
        if (m.value === null)
          throw new CareLedgerError(
            'MEMBER_NOT_FOUND',
            `no member ${id} on chain (proven absent at height ${m.height})`,
          );
        r = await client.list('member-breakglass', id, breakGlassFromFields, { height: m.height });
      }
      const nowMs = io.clockMicros() / 1000n;
      const declarations = r.value.filter((b) => period.includes(b.from));
      // The disclosures recorded under each declaration, from the patients' trails at the same height.
      const uses = new Map<string, number>();
      for (const patient of new Set(declarations.map((b) => b.patient))) {
        const trail = await client.disclosures(patient, { height: r.height });
        for (const e of trail.value)
          if (e.breakGlass !== null) uses.set(e.breakGlass, (uses.get(e.breakGlass) ?? 0) + 1);
      }
      const rows = declarations.map((b) => ({
        ...b,
        active: nowMs < b.until,
        disclosures: uses.get(b.id) ?? 0,
      }));
      return listed(
        r.height,
        'declarations',
        rows,
        (b) =>
          `${b.id}  ${isoTime(b.from)}  ${b.member} for ${b.patient}  ${b.reason}  until ${isoTime(b.until)}${b.active ? '  ACTIVE' : ''}  ${b.disclosures} disclosure${b.disclosures === 1 ? '' : 's'}`,
        period.all ? 'break-glass declarations' : `break-glass declarations ${period.text}`,
      );
    },
  },
};
