/**
 * Consent: a patient's consents (grants, with their provision trees) and the access requests
 * members made of the patient, both as FHIR R4 Consent.
 *
 * Status (R4 ConsentState), judged at the block the state was read at:
 * - a consent is `active` until it is revoked or its period has ended, then `inactive`
 *   ("terminated");
 * - a pending access request is `proposed` ("not yet agreed to by all parties"), a denied one is
 *   `rejected`, an expired one (never answered) is `inactive`, and an approved one is `inactive`
 *   too ("replaced": the consent it produced is the active one, named in its identifier).
 *
 * Provision: our provisions are FHIR's (packages/health/provision.ts): type, period (our end is
 * exclusive: FHIR's Period.end is the first instant no longer covered), actions (consentaction;
 * our `read` is FHIR's `access`), purposes as v3-ActReason codings, categories as `class` (a bare
 * resource type in http://hl7.org/fhir/resource-types, a sub-class in our category system),
 * records as `data` (DocumentReference instances), and nested provisions as deny/permit
 * exceptions. The grantee is the top provision's actor (role IRCP, information recipient); a deny
 * consent for every member (grantee `*`) has no actor: it applies to everyone.
 */
import type { Action, Category, Purpose } from '../../packages/health/codes.ts';
import { ANY_MEMBER } from '../../packages/health/ids.ts';
import type { AccessRequest, Consent } from '../../packages/health/model.ts';
import type { Provision } from '../../packages/health/provision.ts';
import {
  coding,
  committedHeight,
  concept,
  type FhirJson,
  identifier,
  instant,
  type ReadContext,
  readMeta,
  reference,
  SYSTEM,
} from './fhir-json.ts';

export const CONSENT_STATUSES = ['proposed', 'active', 'rejected', 'inactive'] as const;
export type ConsentStatus = (typeof CONSENT_STATUSES)[number];

export function consentStatus(c: Consent, time: bigint): ConsentStatus {
  if (c.revokedAt !== null) return 'inactive';
  if (c.provision.end !== null && c.provision.end <= time) return 'inactive';
  return 'active';
}

export function requestStatus(r: AccessRequest): ConsentStatus {
  switch (r.status) {
    case 'pending':
      return 'proposed';
    case 'denied':
      return 'rejected';
    case 'approved':
    case 'expired':
      return 'inactive';
  }
}

function fhirAction(a: Action): FhirJson {
  return concept(SYSTEM.consentAction, a === 'read' ? 'access' : a);
}

function categoryClass(c: Category): FhirJson {
  return c.includes('.') ? coding(SYSTEM.recordCategory, c) : coding(SYSTEM.resourceTypes, c);
}

function purposes(list: readonly Purpose[]): FhirJson[] {
  return list.map((p) => coding(SYSTEM.actReason, p));
}

function recordData(records: readonly string[]): FhirJson[] {
  return records.map((r) => ({ meaning: 'instance', reference: reference('DocumentReference', r) }));
}

function period(start: bigint | null, end: bigint | null): FhirJson | undefined {
  if (start === null && end === null) return undefined;
  return {
    ...(start === null ? {} : { start: instant(start) }),
    ...(end === null ? {} : { end: instant(end) }),
  };
}

const recipient = (member: string): FhirJson => ({
  role: concept(SYSTEM.participationType, 'IRCP', 'information recipient'),
  reference: reference('Organization', member),
});

/** The provision tree; the actor goes on the top provision only (exceptions inherit it). */
export function provisionJson(p: Provision, actor: string | null): FhirJson {
  const out: FhirJson = { type: p.type };
  const when = period(p.start, p.end);
  if (when !== undefined) out.period = when;
  if (actor !== null) out.actor = [recipient(actor)];
  if (p.actions.length > 0) out.action = p.actions.map(fhirAction);
  if (p.purposes.length > 0) out.purpose = purposes(p.purposes);
  if (p.categories.length > 0) out.class = p.categories.map(categoryClass);
  if (p.records.length > 0) out.data = recordData(p.records);
  if (p.provisions.length > 0) out.provision = p.provisions.map((n) => provisionJson(n, null));
  return out;
}

function consentShell(id: string, patient: string, status: ConsentStatus, ctx: ReadContext): FhirJson {
  return {
    resourceType: 'Consent',
    id,
    meta: readMeta(ctx),
    status,
    scope: concept(SYSTEM.consentScope, 'patient-privacy', 'Privacy Consent'),
    category: [concept(SYSTEM.loinc, '59284-0', 'Patient Consent')],
    patient: reference('Patient', patient),
  };
}

export function consentResource(c: Consent, ctx: ReadContext): FhirJson {
  return {
    ...consentShell(c.id, c.patient, consentStatus(c, ctx.time), ctx),
    extension: [committedHeight(c.createdAt)],
    identifier: [
      identifier(SYSTEM.consentId, c.id),
      ...(c.request === null ? [] : [identifier(SYSTEM.requestId, c.request)]),
    ],
    dateTime: instant(c.createdTime),
    performer: [reference('Patient', c.patient)],
    policyRule: concept(SYSTEM.actCode, c.provision.type === 'permit' ? 'OPTIN' : 'OPTOUT'),
    provision: provisionJson(c.provision, c.grantee === ANY_MEMBER ? null : c.grantee),
  };
}

/** An access request as the Consent it asks for (see the header for its status). */
export function requestResource(r: AccessRequest, ctx: ReadContext): FhirJson {
  const asked: Provision = {
    type: 'permit',
    start: null,
    end: r.periodEnd,
    actions: r.actions,
    purposes: r.purposes,
    categories: r.categories,
    records: r.records,
    provisions: [],
  };
  return {
    ...consentShell(r.id, r.patient, requestStatus(r), ctx),
    extension: [committedHeight(r.createdAt)],
    identifier: [
      identifier(SYSTEM.requestId, r.id),
      ...(r.consent === null ? [] : [identifier(SYSTEM.consentId, r.consent)]),
    ],
    dateTime: instant(r.createdTime),
    performer: [reference('Patient', r.patient)],
    policyRule: concept(SYSTEM.actCode, 'OPTIN'),
    provision: provisionJson(asked, r.requester),
  };
}
