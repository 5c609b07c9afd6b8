/**
 * `careledger record put`: encrypts a record file under a fresh data key, stores it in this
 * member's node's vault (the local API at --node) and anchors it on chain as its custodian
 * (packages/client/records.ts `putRecord`). Prints the record id, the anchor's height and the
 * ciphertext's sha256; the plaintext and the key are never printed.
 */
import { putRecord } from '../../client/records.ts';
import { CATEGORIES } from '../../health/codes.ts';
import { codeArg, idArg, str } from '../args.ts';
import { type Command, patientOption } from '../command.ts';
import { shown } from '../output.ts';
import { nodeOf, signerOf } from './record-node.ts';

export const put: Command = {
  summary: 'encrypt a record, store it in this node and anchor it',
  description:
    "Encrypts FILE (AES-256-GCM under a fresh data key), stores the encrypted record and its key in\nthis member's node (--node, whose member signs with --key), and anchors its hash, size and salted\ncommitment on chain with this member as custodian. Prints the record id, the anchor's height and\nthe sha256 of the encrypted record. The file is streamed; its content is never printed.",
  needs: 'signer',
  genesisBesideKey: true,
  options: {
    file: { arg: 'FILE', help: 'the record to store (any format: FHIR JSON, PDF, image)', required: true },
    ...patientOption,
    category: { arg: 'CODE', help: 'the record category (e.g. Observation.laboratory)', required: true },
    supersedes: { arg: 'ID', help: 'the record this one amends' },
  },
  async run(ctx) {
    const { v, client, io } = ctx;
    const r = await putRecord(
      {
        file: str(v, 'file'),
        patient: idArg(v, 'patient', 'patient'),
        category: codeArg(v, 'category', CATEGORIES),
        supersedes: v.supersedes === undefined ? null : idArg(v, 'supersedes', 'record'),
      },
      { client, nodeUrl: nodeOf(ctx), key: signerOf(ctx), options: io.records },
    );
    const out = shown({ record: r.record, height: r.height, sha256: r.sha256, size: r.size, tx: r.tx });
    return {
      json: out.json,
      text: `record ${r.record} stored and anchored at height ${r.height}\n${out.text}`,
    };
  },
};
