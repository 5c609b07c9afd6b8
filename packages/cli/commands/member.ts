/**
 * `careledger member`: what a member does about itself on chain. `set-record-key` publishes the
 * member's X25519 record-encryption public key (`member.set-record-key`, signed by the member
 * key): custodians wrap records' data keys to it, so it must be the key of the record key file
 * the member fetches with (`record fetch --record-key`, by default beside the member key file).
 */
import {
  generateRecordKey,
  loadRecordKeyFile,
  recordKeyPathFor,
  saveRecordKeyFile,
} from '../../client/keys.ts';
import { optStr, str } from '../args.ts';
import type { Group } from '../command.ts';
import { receipt } from '../output.ts';

export const member: Group = {
  'set-record-key': {
    summary: "publish this member's record-encryption public key",
    description:
      "Publishes the public key of the record key file (X25519) as this member's record-encryption key\non chain; records released to the member from then on are wrapped to it. With --generate, a new\nkey file is written first (never over an existing one: generate a new file, publish it, then\nretire the old one once no release to it is pending). The private key is never printed.",
    needs: 'signer',
    options: {
      'record-key': {
        arg: 'FILE',
        help: 'the record key file (default: beside --key, X_key.json -> X_record_key.json)',
      },
      generate: { help: 'create a new record key file at that path first' },
    },
    async run({ v, client }) {
      const file = optStr(v, 'record-key') ?? recordKeyPathFor(str(v, 'key'));
      if (v.generate === true) saveRecordKeyFile(file, generateRecordKey());
      const recordKey = loadRecordKeyFile(file);
      return receipt(await client.setRecordKey(recordKey.publicKey), {
        recordKey: recordKey.publicKey,
        file,
      });
    },
  },
};
