/**
 * `careledger patient`: enrol a patient (the member signs, the patient's key proves possession),
 * show a patient, and move a patient to a new key.
 */
import { loadKeyFile } from '../../client/keys.ts';
import { idArg, str } from '../args.ts';
import { type Group, patientOption, showCommand } from '../command.ts';
import { receipt } from '../output.ts';

export const patient: Group = {
  register: {
    summary: 'enrol a patient (signed by the enrolling member)',
    description:
      "Registers the patient holding --patient-key: the patient's key signs the proof of possession,\nthe member's --key signs the tx. Prints the patient id.",
    needs: 'signer',
    options: { 'patient-key': { arg: 'FILE', help: "the patient's key file", required: true } },
    async run({ v, client }) {
      return receipt(await client.registerPatient(loadKeyFile(str(v, 'patient-key'))));
    },
  },
  show: showCommand(
    'patient',
    "show a patient's on-chain identity",
    'Shows the patient: key, enrolling member, delegates (proven).',
    (client, id) => client.patient(id),
  ),
  'rotate-key': {
    summary: "move a patient to a new key (signed by the patient's current key)",
    description:
      "Moves the patient to the key in --new-key (which signs a proof that it is held); --key is the\npatient's current key and signs the tx. The patient id, records, consents and delegates stay.\nFrom then on the old key signs nothing for the patient, and it can never be bound again. Prints\nthe new public key.",
    needs: 'signer',
    options: {
      ...patientOption,
      'new-key': { arg: 'FILE', help: 'the new key file (make one with keys generate)', required: true },
    },
    async run({ v, client }) {
      const patientId = idArg(v, 'patient', 'patient');
      const next = loadKeyFile(str(v, 'new-key'));
      return receipt(await client.rotatePatientKey(patientId, next), { publicKey: next.publicKey });
    },
  },
};
