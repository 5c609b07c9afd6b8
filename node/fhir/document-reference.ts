/**
 * DocumentReference: a record anchor. The record itself is an encrypted file with its custodian;
 * the chain (and so this resource) holds what identifies and verifies it: category, custodian,
 * size and sha256 of the ciphertext, when it was anchored, what it supersedes, and whether it was
 * erased (crypto-shredded).
 *
 * - Attachment.hash is SHA-1 in R4; the ciphertext's sha256 goes in the Extensions Pack's
 *   `alternate-hash` extension (algorithm + hash, base64) on the attachment.
 * - Attachment.url is where the record is fetched: the node's records API (`POST /records/fetch`
 *   with a fetch request signed by the requester, naming this record id; see RECORDS API in
 *   node/fhir/README.md). An erased record has no url: its key is destroyed.
 * - Status: `current`; `superseded` once a newer anchor replaced it (relatesTo `replaces` on the
 *   newer one); an erased record is `entered-in-error` if erased for that reason, else
 *   `superseded` (the anchor stays as evidence, the content is gone); the erasure's reason, time
 *   and height are in an extension.
 */
import type { RecordAnchor } from '../../packages/health/model.ts';
import {
  ALTERNATE_HASH_URL,
  coding,
  committedHeight,
  concept,
  ERASURE_EXTENSION_URL,
  type FhirJson,
  identifier,
  instant,
  type ReadContext,
  readMeta,
  reference,
  SYSTEM,
} from './fhir-json.ts';

export type DocumentStatus = 'current' | 'superseded' | 'entered-in-error';

/** Attachment.size is an unsignedInt (32-bit): larger records carry their size in the extension only. */
const MAX_UNSIGNED_INT = 2_147_483_647n;

export function documentStatus(r: RecordAnchor): DocumentStatus {
  if (r.erasure !== null) return r.erasure.reason === 'ENTERED_IN_ERROR' ? 'entered-in-error' : 'superseded';
  return r.supersededBy === null ? 'current' : 'superseded';
}

function attachment(r: RecordAnchor, ctx: ReadContext): FhirJson {
  const out: FhirJson = {
    extension: [
      {
        url: ALTERNATE_HASH_URL,
        extension: [
          {
            url: 'algorithm',
            valueCoding: coding(SYSTEM.ietfUri, 'http://www.w3.org/2001/04/xmlenc#sha256', 'SHA-256'),
          },
          { url: 'hash', valueString: Buffer.from(r.ciphertextHash).toString('base64') },
        ],
      },
    ],
    contentType: 'application/octet-stream',
  };
  if (r.erasure === null) out.url = ctx.recordsFetchUrl;
  if (r.size <= MAX_UNSIGNED_INT) out.size = Number(r.size);
  out.creation = instant(r.anchoredTime);
  return out;
}

function erasureExtension(r: RecordAnchor): FhirJson[] {
  if (r.erasure === null) return [];
  return [
    {
      url: ERASURE_EXTENSION_URL,
      extension: [
        { url: 'reason', valueCoding: coding(SYSTEM.erasureReason, r.erasure.reason) },
        { url: 'time', valueDateTime: instant(r.erasure.time) },
        { url: 'height', valueString: r.erasure.height.toString() },
      ],
    },
  ];
}

export function documentReferenceResource(r: RecordAnchor, ctx: ReadContext): FhirJson {
  const baseType = r.category.split('.')[0]!;
  const out: FhirJson = {
    resourceType: 'DocumentReference',
    id: r.id,
    meta: readMeta(ctx),
    extension: [committedHeight(r.anchoredAt), ...erasureExtension(r)],
    masterIdentifier: identifier(SYSTEM.recordId, r.id),
    identifier: [identifier(SYSTEM.ietfUri, `urn:sha256:${Buffer.from(r.ciphertextHash).toString('hex')}`)],
    status: documentStatus(r),
    type: concept(SYSTEM.resourceTypes, baseType),
    category: [concept(SYSTEM.recordCategory, r.category)],
    subject: reference('Patient', r.patient),
    date: instant(r.anchoredTime),
    custodian: reference('Organization', r.custodian),
    content: [{ attachment: attachment(r, ctx) }],
  };
  if (r.supersedes !== null)
    out.relatesTo = [{ code: 'replaces', target: reference('DocumentReference', r.supersedes) }];
  return out;
}
