/**
 * `careledger keys`: make a key file (a signing key, or a record-encryption key) and show a key
 * file's public key and patient id. Needs no chain; the private key is never printed.
 */
import {
  generateKey,
  generateRecordKey,
  loadKeyFile,
  patientIdOfKey,
  saveKeyFile,
  saveRecordKeyFile,
} from '../../client/keys.ts';
import { str } from '../args.ts';
import type { Group } from '../command.ts';
import { shown } from '../output.ts';

export const keys: Group = {
  generate: {
    summary: 'create a new key file (a patient or member key)',
    description:
      'Creates an ed25519 key pair and writes it to FILE with mode 0600. Prints the public key and the\npatient id the key would have; never the private key.',
    needs: 'none',
    options: {
      out: { arg: 'FILE', help: 'where to write the key', required: true },
      force: { help: 'replace an existing file' },
    },
    async run({ v }) {
      const key = generateKey();
      saveKeyFile(str(v, 'out'), key, { overwrite: v.force === true });
      return shown({ file: str(v, 'out'), publicKey: key.publicKey, patientId: patientIdOfKey(key) });
    },
  },
  'generate-record-key': {
    summary: 'create a record-encryption key file (X25519) to receive records with',
    description:
      "Creates an X25519 key pair and writes it to FILE with mode 0600: the key records' data keys are\nwrapped to. A member publishes its public key (member set-record-key); a patient names it in each\nfetch of their own records. `record fetch` looks for it beside --key by default\n(X_key.json -> X_record_key.json, other names NAME -> NAME.record_key.json). Prints the public key.",
    needs: 'none',
    options: {
      out: { arg: 'FILE', help: 'where to write the key', required: true },
      force: { help: 'replace an existing file' },
    },
    async run({ v }) {
      const key = generateRecordKey();
      saveRecordKeyFile(str(v, 'out'), key, { overwrite: v.force === true });
      return shown({ file: str(v, 'out'), recordPublicKey: key.publicKey });
    },
  },
  show: {
    summary: "print a key file's public key and patient id",
    description: "Prints a key file's public key and the patient id it gives; never the private key.",
    needs: 'none',
    options: { key: { arg: 'FILE', help: 'the key file', required: true } },
    async run({ v }) {
      const key = loadKeyFile(str(v, 'key'));
      return shown({ publicKey: key.publicKey, patientId: patientIdOfKey(key) });
    },
  },
};
