/**
 * `careledger record fetch`: asks this member's node for a record (it fetches it from the
 * custodian's node, or is the custodian), and verifies before it decrypts — the ciphertext's
 * sha256 and size against the anchor proven by the light client, the access event of this
 * release proven committed — then unwraps the key with the record key, decrypts to --out and
 * checks the plaintext against the salted commitment (packages/client/records.ts `fetchRecord`).
 * --out appears only if all of that holds. A patient's key fetches the patient's own records
 * (through any member's node as gateway) with a record key only the patient holds.
 */
import { loadRecordKeyFile, recordKeyPathFor } from '../../client/keys.ts';
import { fetchRecord } from '../../client/records.ts';
import { PURPOSES, type Purpose } from '../../health/codes.ts';
import { argsError, codeArg, idArg, optStr, str } from '../args.ts';
import type { Command } from '../command.ts';
import { shown } from '../output.ts';
import { nodeOf, signerOf } from './record-node.ts';

/** The purpose of a break-glass fetch: emergency treatment. */
const BREAK_GLASS_PURPOSE: Purpose = 'ETREAT';

export const fetchCommand: Command = {
  summary: 'fetch a record through this node, verify it and decrypt it',
  description:
    "Asks this member's node (--node) for the record; the custodian releases it only if the chain's\npolicy permits --key's member (or patient) to read it for --purpose, and only after an access\nevent auditing the release is committed. Before decrypting, the encrypted bytes are checked\nagainst the anchor's sha256 and size (proven by the light client) and the access event is proven\non chain; after, the plaintext is checked against the anchor's salted commitment. --out is\nwritten only if everything verifies. --break-glass asks under an active break-glass declaration\n(purpose ETREAT). Prints what was verified and the access event's height.",
  needs: 'signer',
  genesisBesideKey: true,
  options: {
    record: { arg: 'ID', help: 'the record id', required: true },
    purpose: { arg: 'CODE', help: `why it is read: ${PURPOSES.join(', ')}`, requiredUnless: 'break-glass' },
    out: { arg: 'FILE', help: 'where to write the decrypted record (only once verified)', required: true },
    'break-glass': { help: 'emergency access under an active break-glass declaration (purpose ETREAT)' },
    'record-key': {
      arg: 'FILE',
      help: 'the X25519 record key file (default: beside --key, X_key.json -> X_record_key.json)',
    },
  },
  async run(ctx) {
    const { v, client, io } = ctx;
    const key = signerOf(ctx);
    const breakGlass = v['break-glass'] === true;
    const purpose =
      breakGlass && v.purpose === undefined ? BREAK_GLASS_PURPOSE : codeArg(v, 'purpose', PURPOSES);
    if (breakGlass && purpose !== BREAK_GLASS_PURPOSE)
      throw argsError(`--break-glass reads for ${BREAK_GLASS_PURPOSE}, not ${purpose}`);
    const record = idArg(v, 'record', 'record');
    const out = str(v, 'out');
    const recordKey = loadRecordKeyFile(optStr(v, 'record-key') ?? recordKeyPathFor(str(v, 'key')));
    // A patient's key asks as the patient (their own records); a member's as the member.
    const binding = (await client.binding(key.publicKey)).value;
    const requester = binding?.kind === 'patient' ? binding : undefined;
    const r = await fetchRecord(
      { record, purpose, breakGlass, out, ...(requester === undefined ? {} : { requester }) },
      { client, nodeUrl: nodeOf(ctx), key, recordKey, options: io.records },
    );
    const verified = [
      `the encrypted record's sha256 ${Buffer.from(r.sha256).toString('hex')} and size ${r.size} bytes match the anchor proven at height ${r.anchorProvenAt}`,
      `access event ${r.accessEvent} auditing this release is committed at height ${r.accessHeight} (proven)`,
      'the data key was wrapped for this record key, this record and this release',
      'the record decrypted and authenticated (AES-256-GCM)',
      "the plaintext matches the anchor's salted commitment",
    ];
    const fields = shown({
      record: r.record,
      out: r.out,
      patient: r.patient,
      custodian: r.custodian,
      category: r.category,
      sha256: r.sha256,
      size: r.size,
      anchorProvenAt: r.anchorProvenAt,
      accessEvent: r.accessEvent,
      accessHeight: r.accessHeight,
      releaseId: r.releaseId,
      verified,
    });
    return {
      json: fields.json,
      text: `record ${r.record} from ${r.custodian} written to ${r.out}\nverified:\n${verified.map((l) => `  - ${l}\n`).join('')}access event ${r.accessEvent} at height ${r.accessHeight}\n`,
    };
  },
};
