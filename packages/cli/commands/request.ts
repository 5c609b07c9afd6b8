/**
 * `careledger request`: a member asks a patient for access; the patient approves (a consent with
 * the requested scope) or denies; and a patient's pending (or all) requests are listed.
 */
import { ACTIONS, CATEGORIES, DAY_MS, PURPOSES, REQUEST_REASONS } from '../../health/codes.ts';
import { codeArg, codesArg, idArg, idsArg, timeArg } from '../args.ts';
import { type Group, idOption, patientList, patientOption } from '../command.ts';
import { listed, receipt } from '../output.ts';

export const request: Group = {
  create: {
    summary: 'ask a patient for access (signed by the member)',
    description:
      'Asks the patient for --actions on the records in scope for the --purposes. The request closes\nunanswered at --expires (default in 7 days). Prints the request id.',
    needs: 'signer',
    fixes: { REQUEST_EXPIRY_INVALID: '--expires', CONSENT_PERIOD_INVALID: '--period-end' },
    options: {
      ...patientOption,
      purposes: { arg: 'LIST', help: 'purposes of use, e.g. TREAT', required: true },
      actions: { arg: 'LIST', help: `actions: ${ACTIONS.join(', ')}`, required: true },
      categories: { arg: 'LIST', help: 'record categories asked for' },
      records: { arg: 'LIST', help: 'record ids asked for' },
      reason: { arg: 'CODE', help: REQUEST_REASONS.join(', '), required: true },
      'period-end': { arg: 'TIME', help: 'access until this UTC time (default: open-ended)' },
      expires: { arg: 'TIME', help: 'the request closes at this UTC time (default: in 7 days)' },
    },
    async run({ v, client, io }) {
      const nowMs = io.clockMicros() / 1000n;
      const r = await client.createRequest(idArg(v, 'patient', 'patient'), {
        purposes: codesArg(v, 'purposes', PURPOSES, true),
        actions: codesArg(v, 'actions', ACTIONS, true),
        categories: codesArg(v, 'categories', CATEGORIES),
        records: idsArg(v, 'records', 'record'),
        reason: codeArg(v, 'reason', REQUEST_REASONS),
        periodEnd: timeArg(v, 'period-end'),
        expiresAt: timeArg(v, 'expires') ?? nowMs + 7n * DAY_MS,
      });
      return receipt(r);
    },
  },
  approve: {
    summary: 'approve a request: a consent for the requester (signed by the patient)',
    description:
      'Approves a pending request, creating a consent with the requested scope. Prints the consent id.',
    needs: 'signer',
    fixes: { DELEGATE_CONSENT_TOO_LONG: '--period-end', CONSENT_PERIOD_INVALID: '--period-end' },
    options: {
      ...idOption('request'),
      'period-end': { arg: 'TIME', help: 'end the access at this UTC time instead of the requested one' },
    },
    async run({ v, client }) {
      return receipt(
        await client.approveRequest(idArg(v, 'request', 'request'), { periodEnd: timeArg(v, 'period-end') }),
      );
    },
  },
  deny: {
    summary: 'deny a request (signed by the patient)',
    description: 'Denies a pending request.',
    needs: 'signer',
    options: idOption('request'),
    async run({ v, client }) {
      return receipt(await client.denyRequest(idArg(v, 'request', 'request')));
    },
  },
  list: {
    summary: "list a patient's pending requests",
    description:
      "Lists the patient's pending requests with who asks and for what; --all lists every request (proven).",
    needs: 'chain',
    options: { ...patientOption, all: { help: 'every request, not only the pending ones' } },
    async run({ v, client }) {
      const id = idArg(v, 'patient', 'patient');
      const ids = await patientList(client, id, (c, p, o) =>
        v.all === true ? c.requests(p, o) : c.pendingRequests(p, o),
      );
      const opts = { height: ids.height };
      const rows = await Promise.all(ids.value.map(async (q) => (await client.request(q, opts)).value!));
      return listed(
        ids.height,
        'requests',
        rows,
        (r) =>
          `${r.id}  ${r.status}  ${r.requester} asks ${r.actions.join(',')} for ${r.purposes.join(',')} on ${[...r.categories, ...r.records].join(',') || '*'} (${r.reason})`,
        v.all === true ? 'requests' : 'pending requests',
      );
    },
  },
};
