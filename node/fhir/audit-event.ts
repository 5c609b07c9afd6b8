/**
 * AuditEvent: a patient's audit trail, shaped after IHE Basic Audit Log Patterns (BALP).
 *
 * - Each access event (a disclosure, recorded by the custodian) is a PrivacyDisclosure as its
 *   source records it: type DICOM 110106 Export, subtype ISO 21089 `disclose`, action R; agents
 *   the custodian (v3 CST, the source) and the recipient (IRCP, the requestor: a member, or the
 *   patient for their own copy); purposeOfEvent the purpose (v3-ActReason); entities the patient,
 *   each record disclosed (its DocumentReference), the consent that permitted each, the release
 *   id when the records protocol released it, and the break-glass declaration it was made under.
 * - Each break-glass declaration is a security alert: type DICOM 110113, subtype 110127
 *   Emergency Override Started, its window as `period`, purposeOfEvent ETREAT and BTG.
 * A disclosure made under break-glass is flagged the same way: BTG beside its purpose.
 */
import { toHex } from '../../packages/crypto/hash.ts';
import type { AccessEvent, BreakGlass } from '../../packages/health/model.ts';
import {
  coding,
  committedHeight,
  concept,
  type FhirJson,
  instant,
  type ReadContext,
  readMeta,
  reference,
  SYSTEM,
} from './fhir-json.ts';

const BTG = coding(SYSTEM.actReason, 'BTG', 'break the glass');

const entityType = (code: '1' | '2', display: string) => coding(SYSTEM.auditEntityType, code, display);
const objectRole = (code: string, display: string) => coding(SYSTEM.objectRole, code, display);

function patientEntity(patient: string): FhirJson {
  return {
    what: reference('Patient', patient),
    type: entityType('1', 'Person'),
    role: objectRole('1', 'Patient'),
  };
}

function logical(system: string, value: string): FhirJson {
  return { identifier: { system, value } };
}

export function disclosureAuditEvent(e: AccessEvent, ctx: ReadContext): FhirJson {
  // A patient's own copy names the patient as recipient (a patient id also has a member id's shape).
  const recipient =
    e.recipient === e.patient ? reference('Patient', e.recipient) : reference('Organization', e.recipient);
  const consents = [...new Set(e.items.flatMap((i) => (i.consent === null ? [] : [i.consent])))];
  const entities: FhirJson[] = [
    patientEntity(e.patient),
    ...e.items.map((i) => ({
      what: reference('DocumentReference', i.record),
      type: entityType('2', 'System Object'),
      role: objectRole('4', 'Domain Resource'),
    })),
    ...consents.map((c) => ({
      what: reference('Consent', c),
      type: entityType('2', 'System Object'),
      role: objectRole('13', 'Security Resource'),
    })),
  ];
  if (e.release !== null)
    entities.push({
      what: logical(SYSTEM.releaseId, toHex(e.release)),
      type: entityType('2', 'System Object'),
      description: 'the release (signed fetch request) this event audits',
    });
  if (e.breakGlass !== null)
    entities.push({
      what: logical(SYSTEM.breakGlassId, e.breakGlass),
      type: entityType('2', 'System Object'),
      role: objectRole('13', 'Security Resource'),
      description: 'the break-glass declaration this disclosure was made under',
    });
  const purpose = coding(SYSTEM.actReason, e.purpose);
  return {
    resourceType: 'AuditEvent',
    id: e.id,
    meta: readMeta(ctx),
    extension: [committedHeight(e.height)],
    type: coding(SYSTEM.dicom, '110106', 'Export'),
    subtype: [coding(SYSTEM.iso21089, 'disclose', 'Disclose Record Lifecycle Event')],
    action: 'R',
    recorded: instant(e.time),
    outcome: '0',
    purposeOfEvent: [{ coding: e.breakGlass === null ? [purpose] : [purpose, BTG] }],
    agent: [
      {
        type: concept(SYSTEM.participationType, 'CST', 'custodian'),
        who: reference('Organization', e.custodian),
        requestor: false,
      },
      {
        type: concept(SYSTEM.participationType, 'IRCP', 'information recipient'),
        who: recipient,
        requestor: true,
      },
    ],
    source: {
      observer: reference('Organization', e.custodian),
      type: [coding(SYSTEM.securitySourceType, '4', 'Application Server')],
    },
    entity: entities,
  };
}

export function breakGlassAuditEvent(b: BreakGlass, ctx: ReadContext): FhirJson {
  return {
    resourceType: 'AuditEvent',
    id: b.id,
    meta: readMeta(ctx),
    extension: [committedHeight(b.height)],
    type: coding(SYSTEM.dicom, '110113', 'Security Alert'),
    subtype: [coding(SYSTEM.dicom, '110127', 'Emergency Override Started')],
    action: 'E',
    period: { start: instant(b.from), end: instant(b.until) },
    recorded: instant(b.from),
    outcome: '0',
    purposeOfEvent: [{ coding: [coding(SYSTEM.actReason, 'ETREAT', 'Emergency Treatment'), BTG] }],
    agent: [
      {
        who: reference('Organization', b.member),
        requestor: true,
        purposeOfUse: [concept(SYSTEM.actReason, 'ETREAT', 'Emergency Treatment')],
      },
    ],
    source: {
      observer: reference('Organization', b.member),
      type: [coding(SYSTEM.securitySourceType, '4', 'Application Server')],
    },
    entity: [
      {
        ...patientEntity(b.patient),
        detail: [{ type: 'break-glass-reason', valueString: b.reason }],
      },
      {
        what: logical(SYSTEM.breakGlassId, b.id),
        type: entityType('2', 'System Object'),
        role: objectRole('13', 'Security Resource'),
      },
    ],
  };
}
