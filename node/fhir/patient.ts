/**
 * Patient: pseudonymous by construction. The chain holds no name, birth date, address or any
 * other demographic, so the resource holds only the on-chain id (as id and identifier), that the
 * identity is active, and the member that enrolled the patient (managingOrganization). Keys and
 * delegates are not shown: they are signing material, not clinical identity.
 */
import type { Patient } from '../../packages/health/model.ts';
import { type FhirJson, identifier, type ReadContext, readMeta, reference, SYSTEM } from './fhir-json.ts';

export function patientResource(p: Patient, ctx: ReadContext): FhirJson {
  return {
    resourceType: 'Patient',
    id: p.id,
    meta: readMeta(ctx),
    identifier: [identifier(SYSTEM.patientId, p.id)],
    active: true,
    managingOrganization: reference('Organization', p.enrolledBy),
  };
}
