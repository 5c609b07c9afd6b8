/**
 * Provenance: who put a fact on chain, and when. One per record anchor (target its
 * DocumentReference, agent the custodian that anchored it, a `revision` entity for the anchor it
 * supersedes) and one per consent (target the Consent, agent the patient who granted it). The
 * Provenance id is its target's id (ids of different kinds never collide). The committed height is
 * in an extension, so the tx can be found in that block.
 */
import type { Consent, RecordAnchor } from '../../packages/health/model.ts';
import {
  committedHeight,
  concept,
  type FhirJson,
  instant,
  type ReadContext,
  readMeta,
  reference,
  SYSTEM,
} from './fhir-json.ts';

const create = concept(SYSTEM.dataOperation, 'CREATE', 'create');

export function recordProvenance(r: RecordAnchor, ctx: ReadContext): FhirJson {
  const out: FhirJson = {
    resourceType: 'Provenance',
    id: r.id,
    meta: readMeta(ctx),
    extension: [committedHeight(r.anchoredAt)],
    target: [reference('DocumentReference', r.id)],
    recorded: instant(r.anchoredTime),
    activity: create,
    agent: [
      {
        type: concept(SYSTEM.provenanceParticipant, 'custodian', 'Custodian'),
        who: reference('Organization', r.custodian),
      },
    ],
  };
  if (r.supersedes !== null)
    out.entity = [{ role: 'revision', what: reference('DocumentReference', r.supersedes) }];
  return out;
}

export function consentProvenance(c: Consent, ctx: ReadContext): FhirJson {
  return {
    resourceType: 'Provenance',
    id: c.id,
    meta: readMeta(ctx),
    extension: [committedHeight(c.createdAt)],
    target: [reference('Consent', c.id)],
    recorded: instant(c.createdTime),
    activity: create,
    agent: [
      {
        type: concept(SYSTEM.provenanceParticipant, 'author', 'Author'),
        who: reference('Patient', c.patient),
      },
    ],
  };
}
