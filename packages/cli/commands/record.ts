/**
 * `careledger record`: anchor a record's hash and salted plaintext commitment (the files are read
 * only to hash them), store-encrypt-anchor (`put`, record-put.ts) and fetch-verify-decrypt
 * (`fetch`, record-fetch.ts) through the member's node, show an anchor, list a patient's records,
 * and erase a record (on chain, then waiting for the node to shred its key).
 */
import { sealRecord } from '../../client/health.ts';
import { eraseRecord } from '../../client/records.ts';
import { fromHex } from '../../crypto/hash.ts';
import { CATEGORIES, ERASURE_REASONS } from '../../health/codes.ts';
import { argsError, codeArg, fileArg, idArg, optStr } from '../args.ts';
import { type Group, listCommand, patientOption, showCommand } from '../command.ts';
import { receipt, shown } from '../output.ts';
import { fetchCommand } from './record-fetch.ts';
import { nodeOf, signerOf } from './record-node.ts';
import { put } from './record-put.ts';

export const record: Group = {
  put,
  fetch: fetchCommand,
  anchor: {
    summary: "anchor a record's hash (signed by the custodian)",
    description:
      'Anchors a record held off chain by this member: the sha256 of the encrypted file (--file), its\nsize, and a salted commitment to the plaintext (--plaintext), which is read to hash it and never\nshown. Keep the salt with the record, off chain. Prints the record id.',
    needs: 'signer',
    options: {
      ...patientOption,
      category: { arg: 'CODE', help: 'the record category (e.g. Observation.laboratory)', required: true },
      file: { arg: 'FILE', help: 'the encrypted record', required: true },
      plaintext: { arg: 'FILE', help: 'the record before encryption (for the commitment)', required: true },
      salt: { arg: 'HEX', help: 'the commitment salt, 16 to 64 bytes (default: 32 random bytes, printed)' },
      supersedes: { arg: 'ID', help: 'the record this one amends' },
    },
    async run({ v, client, io }) {
      const patientId = idArg(v, 'patient', 'patient');
      const category = codeArg(v, 'category', CATEGORIES);
      const saltHex = optStr(v, 'salt');
      if (saltHex !== undefined && !/^(?:[0-9a-fA-F]{2}){16,64}$/.test(saltHex))
        throw argsError('--salt: 16 to 64 bytes in hex');
      const salt = saltHex === undefined ? io.random(32) : fromHex(saltHex);
      const supersedes = v.supersedes === undefined ? null : idArg(v, 'supersedes', 'record');
      const encrypted = fileArg(io, v, 'file');
      const plaintext = fileArg(io, v, 'plaintext');
      // The same bytes twice is a plaintext about to be anchored as if encrypted.
      if (Buffer.from(encrypted).equals(plaintext))
        throw argsError(
          '--file and --plaintext hold the same bytes: --file is the encrypted record (to encrypt, store and anchor a record in one step, use careledger record put)',
        );
      const seal = sealRecord(encrypted, plaintext, salt);
      const r = await client.anchorRecord({ patient: patientId, category, supersedes, ...seal });
      // A generated salt is printed (it must be kept with the record); one given is not echoed.
      const shownSalt = saltHex === undefined ? { salt } : {};
      return receipt(r, { ciphertextHash: seal.ciphertextHash, size: seal.size, ...shownSalt });
    },
  },
  show: showCommand(
    'record',
    'show a record anchor',
    'Shows a record anchor: custodian, category, hashes, amendment and erasure (proven).',
    (client, id) => client.record(id),
  ),
  list: listCommand(
    'records',
    "list a patient's record ids",
    'Lists the ids of every record anchored for the patient, oldest first (proven).',
    (client, patient, opts) => client.records(patient, opts),
  ),
  erase: {
    summary: 'erase a record: marked on chain, its key shredded in this node (signed by the custodian)',
    description:
      "Marks a record erased on chain (the anchor and the audit trail stay as evidence), then waits\nuntil this member's node (--node), its custodian, has crypto-shredded it: the data key destroyed,\nthe encrypted record removed. Every later fetch is refused with RECORD_ERASED.",
    needs: 'signer',
    genesisBesideKey: true,
    options: {
      record: { arg: 'ID', help: 'the record id', required: true },
      reason: { arg: 'CODE', help: ERASURE_REASONS.join(', '), required: true },
    },
    async run(ctx) {
      const { v, client, io } = ctx;
      const r = await eraseRecord(
        { record: idArg(v, 'record', 'record'), reason: codeArg(v, 'reason', ERASURE_REASONS) },
        { client, nodeUrl: nodeOf(ctx), key: signerOf(ctx), options: io.records },
      );
      const out = shown({ record: r.record, height: r.height, tx: r.tx, vault: r.status });
      return {
        json: out.json,
        text: `record ${r.record} erased at height ${r.height}; its key is shredded in this node\n${out.text}`,
      };
    },
  },
};
