/**
 * The CapabilityStatement of `GET /fhir/metadata`, built from the table the router serves
 * (resources.ts), so it lists exactly the resources, interactions and search parameters there
 * are. It is not read from chain state, so it carries no height; `date` is when this statement
 * last changed.
 */
import { FHIR_JSON, FHIR_VERSION, type FhirJson } from './fhir-json.ts';
import { SERVED } from './resources.ts';
import { RESULT_PARAMS } from './search.ts';

/** Change it with what the facade serves. */
export const CAPABILITY_DATE = '2026-12-07';

export function capabilityStatement(base: string): FhirJson {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: CAPABILITY_DATE,
    publisher: 'CareLedger',
    kind: 'instance',
    software: { name: 'CareLedger FHIR facade' },
    implementation: {
      description:
        'Read-only FHIR R4 view of the committed state of a CareLedger node; every resource carries the block height it was read at (meta.tag urn:careledger:block-height)',
      url: base,
    },
    fhirVersion: FHIR_VERSION,
    format: [FHIR_JSON, 'json'],
    rest: [
      {
        mode: 'server',
        documentation: 'read-only: GET only; unknown parameters are refused (400), never ignored',
        resource: SERVED.map((s) => {
          const interaction = [
            ...(s.read === undefined ? [] : [{ code: 'read' }]),
            ...(s.search === undefined ? [] : [{ code: 'search-type' }]),
          ];
          const out: FhirJson = { type: s.type, documentation: s.documentation, interaction };
          if (s.search !== undefined)
            out.searchParam = s.search.params.map((p) => ({
              name: p.name,
              type: p.type,
              documentation: p.documentation,
            }));
          return out;
        }),
        searchParam: RESULT_PARAMS.map((p) => ({
          name: p.name,
          type: p.type,
          documentation: p.documentation,
        })),
      },
    ],
  };
}
