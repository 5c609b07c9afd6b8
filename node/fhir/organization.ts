/**
 * Organization: a consortium member (an institution). Its id is the member's public slug, its
 * roles on chain become Organization.type (the member-role code, with HL7's organization-type
 * where one matches), and `active` follows membership (a member removed by governance is kept,
 * inactive). Member keys and node ids are not shown.
 */
import type { Role } from '../../packages/health/codes.ts';
import type { Member } from '../../packages/health/model.ts';
import { coding, type FhirJson, identifier, type ReadContext, readMeta, SYSTEM } from './fhir-json.ts';

/** HL7 organization-type for each role, where HL7 has one (a lab has none: it stays ours only). */
const HL7_TYPE: Readonly<Record<Role, readonly [string, string] | null>> = {
  provider: ['prov', 'Healthcare Provider'],
  payer: ['pay', 'Payer'],
  research: ['crs', 'Clinical Research Sponsor'],
  lab: null,
};

export function organizationResource(m: Member, ctx: ReadContext): FhirJson {
  return {
    resourceType: 'Organization',
    id: m.id,
    meta: readMeta(ctx),
    identifier: [identifier(SYSTEM.memberId, m.id)],
    active: m.active,
    type: m.roles.map((role) => {
      const hl7 = HL7_TYPE[role];
      const ours = coding(SYSTEM.memberRole, role);
      return { coding: hl7 === null ? [ours] : [ours, coding(SYSTEM.organizationType, hl7[0], hl7[1])] };
    }),
    name: m.id,
  };
}
