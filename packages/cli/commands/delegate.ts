/**
 * `careledger delegate`: a patient names, replaces and removes the guardians and proxies who act
 * for them, with powers, purposes, a consent-length limit and an expiry; and lists them.
 */
import { toHex } from '../../crypto/hash.ts';
import { DELEGATE_POWERS, DELEGATE_ROLES, PURPOSES } from '../../health/codes.ts';
import { MAX_DELEGATES } from '../../health/model.ts';
import { codeArg, codesArg, durationArg, idArg, type OptionSpecs, pubKeyArg, timeArg } from '../args.ts';
import { type Group, patientOption } from '../command.ts';
import { found, humanDuration, isoTime, listed, receipt } from '../output.ts';

const delegateKeyOptions: OptionSpecs = {
  'delegate-key': {
    arg: 'FILE',
    help: "the delegate's key file, if this machine holds it (only its public key is read; else --delegate-pubkey)",
  },
  'delegate-pubkey': { arg: 'KEY', help: "or the delegate's public key, in base64 or hex" },
};

export const delegate: Group = {
  set: {
    summary: 'name (or replace) a delegate who acts for a patient (signed by the patient)',
    description: `Lets the holder of --delegate-key (or --delegate-pubkey) act for the patient: a guardian or a\nproxy with the --powers listed (approve, deny: access requests; grant, revoke: consents). A\ndelegate's grants and approvals are limited to --purposes (default: any) and, with --max-consent,\nmust end within that long of when they are made. It can do nothing after --expires. Setting the\nsame key again replaces its powers. A patient has at most ${MAX_DELEGATES} delegates.`,
    needs: 'signer',
    options: {
      ...patientOption,
      ...delegateKeyOptions,
      role: { arg: 'CODE', help: DELEGATE_ROLES.join(', '), required: true },
      powers: { arg: 'LIST', help: DELEGATE_POWERS.join(', '), required: true },
      purposes: { arg: 'LIST', help: 'purposes it may grant or approve for (default: any)' },
      expires: { arg: 'TIME', help: 'it can do nothing from this UTC time (default: until removed)' },
      'max-consent': {
        arg: 'DURATION',
        help: 'its consents end within this long, e.g. 90d, 12h (default: no limit)',
      },
    },
    async run({ v, client }) {
      const patientId = idArg(v, 'patient', 'patient');
      const pubKey = pubKeyArg(v, 'delegate');
      const r = await client.setDelegate(patientId, {
        pubKey,
        role: codeArg(v, 'role', DELEGATE_ROLES),
        powers: codesArg(v, 'powers', DELEGATE_POWERS, true),
        purposes: codesArg(v, 'purposes', PURPOSES),
        expiresAt: timeArg(v, 'expires'),
        maxConsentMs: durationArg(v, 'max-consent'),
      });
      return receipt(r, { delegate: pubKey });
    },
  },
  remove: {
    summary: 'remove a delegate (signed by the patient, or by the delegate stepping down)',
    description:
      'Removes the delegate with --delegate-pubkey (or the key in --delegate-key) from the patient. The\npatient signs, or the delegate itself with its own --key.',
    needs: 'signer',
    options: { ...patientOption, ...delegateKeyOptions },
    async run({ v, client }) {
      const patientId = idArg(v, 'patient', 'patient');
      const pubKey = pubKeyArg(v, 'delegate');
      return receipt(await client.removeDelegate(patientId, pubKey), { delegate: pubKey });
    },
  },
  list: {
    summary: "list a patient's delegates",
    description: "Lists the patient's delegates: key, role, powers and limits (proven).",
    needs: 'chain',
    options: patientOption,
    async run({ v, client }) {
      const id = idArg(v, 'patient', 'patient');
      const p = await client.patient(id);
      const delegates = found(p.value, 'patient', id).delegates;
      const time = (t: bigint | null): string => (t === null ? '' : isoTime(t));
      return listed(
        p.height,
        'delegates',
        delegates,
        (d) =>
          `${toHex(d.pubKey)}  ${d.role}  ${d.powers.join(',')} for ${d.purposes.join(',') || '*'}${d.maxConsentMs === null ? '' : `  consents within ${humanDuration(d.maxConsentMs)}`}${d.expiresAt === null ? '' : `  until ${time(d.expiresAt)}`}`,
      );
    },
  },
};
