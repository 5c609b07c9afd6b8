/**
 * `careledger consent`: a patient grants (or denies) a member access by purpose, action, scope and
 * period, revokes a consent, and lists their consents.
 */
import { ACTIONS, CATEGORIES, PURPOSES } from '../../health/codes.ts';
import { provision } from '../../health/provision.ts';
import { codesArg, idArg, idsArg, memberArg, timeArg } from '../args.ts';
import { type Group, idOption, patientList, patientOption } from '../command.ts';
import { isoTime, listed, receipt } from '../output.ts';

export const consent: Group = {
  grant: {
    summary: 'grant (or deny) a member access (signed by the patient)',
    description:
      'Grants --grantee the --actions on the records in scope (--categories and/or --records) for the\n--purposes, from --start to --end. With --deny it is a deny rule instead (--grantee may be * for\nevery member). Prints the consent id.',
    needs: 'signer',
    fixes: { DELEGATE_CONSENT_TOO_LONG: '--end', CONSENT_PERIOD_INVALID: '--start or --end' },
    options: {
      ...patientOption,
      grantee: { arg: 'MEMBER', help: 'the member id, or * with --deny', required: true },
      purposes: { arg: 'LIST', help: 'purposes of use, e.g. TREAT,HPAYMT', requiredUnless: 'deny' },
      actions: { arg: 'LIST', help: `actions: ${ACTIONS.join(', ')}`, requiredUnless: 'deny' },
      categories: { arg: 'LIST', help: 'record categories in scope, e.g. Observation' },
      records: { arg: 'LIST', help: 'record ids in scope' },
      start: { arg: 'TIME', help: 'from this UTC time (default: no start: from any time)' },
      end: { arg: 'TIME', help: 'until this UTC time (default: no end)' },
      deny: { help: 'a deny rule instead of a permit' },
    },
    async run({ v, client }) {
      const deny = v.deny === true;
      const grantee = deny && v.grantee === '*' ? '*' : memberArg(v, 'grantee');
      const rule = provision({
        type: deny ? 'deny' : 'permit',
        start: timeArg(v, 'start'),
        end: timeArg(v, 'end'),
        // A permit's purposes and actions are required: checked with the other flags (requiredUnless).
        purposes: codesArg(v, 'purposes', PURPOSES),
        actions: codesArg(v, 'actions', ACTIONS),
        categories: codesArg(v, 'categories', CATEGORIES),
        records: idsArg(v, 'records', 'record'),
      });
      return receipt(await client.grantConsent(idArg(v, 'patient', 'patient'), grantee, rule));
    },
  },
  revoke: {
    summary: 'revoke a consent (signed by the patient)',
    description: 'Revokes a consent; it stops permitting from the next block.',
    needs: 'signer',
    options: idOption('consent'),
    async run({ v, client }) {
      return receipt(await client.revokeConsent(idArg(v, 'consent', 'consent')));
    },
  },
  list: {
    summary: "list a patient's consents",
    description: 'Lists every consent the patient has given, with its grantee and state (proven).',
    needs: 'chain',
    options: patientOption,
    async run({ v, client }) {
      const ids = await patientList(client, idArg(v, 'patient', 'patient'), (c, p, o) => c.consents(p, o));
      const opts = { height: ids.height };
      const consents = await Promise.all(
        ids.value.map(async (id) => (await client.consent(id, opts)).value!),
      );
      const rows = consents.map((c) => ({
        id: c.id,
        grantee: c.grantee,
        type: c.provision.type,
        purposes: c.provision.purposes,
        actions: c.provision.actions,
        scope: [...c.provision.categories, ...c.provision.records],
        end: c.provision.end,
        revokedAt: c.revokedAt,
      }));
      return listed(
        ids.height,
        'consents',
        rows,
        (r) =>
          `${r.id}  ${r.type} ${r.grantee}  ${r.actions.join(',') || '*'} for ${r.purposes.join(',') || '*'} on ${r.scope.join(',') || '*'}${r.end === null ? '' : ` until ${isoTime(r.end)}`}${r.revokedAt === null ? '' : `  revoked at height ${r.revokedAt}`}`,
      );
    },
  },
};
