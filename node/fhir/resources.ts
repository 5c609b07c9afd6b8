/**
 * What the facade serves: one entry per resource type with its read and its search (declared
 * parameters and how a query runs against a StateView). The router dispatches through this table
 * and the CapabilityStatement is built from it, so the statement lists exactly what is served.
 *
 * Every search names a patient (the chain's lists are per patient), except ClaimResponse, which
 * may name the claim instead. A patient id that is well formed but unknown gives an empty
 * searchset with a warning OperationOutcome entry (search.mode `outcome`), as FHIR servers do.
 */
import { isIdOf, isMemberId } from '../../packages/health/ids.ts';
import {
  accessEventFromFields,
  breakGlassFromFields,
  type Claim,
  type Consent,
  type RecordAnchor,
} from '../../packages/health/model.ts';
import { breakGlassAuditEvent, disclosureAuditEvent } from './audit-event.ts';
import { adjudicationOf, claimResource, claimResponseResource } from './claim.ts';
import {
  CONSENT_STATUSES,
  consentResource,
  consentStatus,
  requestResource,
  requestStatus,
} from './consent.ts';
import { documentReferenceResource } from './document-reference.ts';
import type { FhirJson, ReadContext } from './fhir-json.ts';
import { organizationResource } from './organization.ts';
import { fhirError, operationOutcome } from './outcome.ts';
import { patientResource } from './patient.ts';
import { consentProvenance, recordProvenance } from './provenance.ts';
import { dateTest, type ParamSpec, referenceId, type SearchQuery, tokenCodes } from './search.ts';
import type { StateView } from './state.ts';

/** The matches of a search, read page by page (a search over a long list reads only its page). */
export interface Matches {
  readonly total: number;
  slice(offset: number, count: number): Promise<FhirJson[]>;
  /** A note for the client (e.g. no such patient), added to the Bundle as an `outcome` entry. */
  readonly outcome?: FhirJson;
}

export interface Served {
  readonly type: string;
  /** One line for the CapabilityStatement. */
  readonly documentation: string;
  read?(view: StateView, id: string, ctx: ReadContext): Promise<FhirJson | null>;
  readonly search?: {
    readonly params: readonly ParamSpec[];
    run(view: StateView, query: SearchQuery, ctx: ReadContext): Promise<Matches>;
  };
}

function all(list: readonly FhirJson[], outcome?: FhirJson): Matches {
  return {
    total: list.length,
    slice: async (offset, count) => list.slice(offset, offset + count),
    ...(outcome === undefined ? {} : { outcome }),
  };
}

/** Matches that are a list of ids, each loaded only when its page is asked for. */
function byId(ids: readonly string[], load: (id: string) => Promise<FhirJson>): Matches {
  return {
    total: ids.length,
    slice: (offset, count) => Promise.all(ids.slice(offset, offset + count).map(load)),
  };
}

async function required<T>(value: Promise<T | null>, what: string): Promise<T> {
  const v = await value;
  if (v === null) throw fhirError('FHIR_INTERNAL', `${what} is listed but missing from the state`);
  return v;
}

const PATIENT: ParamSpec = {
  name: 'patient',
  type: 'reference',
  target: 'Patient',
  required: true,
  documentation: 'the patient (id, Patient/id or its URL): required',
};

function patientParam(query: SearchQuery): string | null {
  const value = query.values.get('patient')?.[0];
  return value === undefined ? null : referenceId('patient', value, 'Patient', (id) => isIdOf('patient', id));
}

/**
 * The searched patient's id, or, when the chain has no such patient, the warning outcome to add
 * to the (empty) searchset.
 */
async function searchedPatient(
  view: StateView,
  query: SearchQuery,
): Promise<{ id: string } | { outcome: FhirJson }> {
  const id = patientParam(query)!;
  if ((await view.patient(id)) !== null) return { id };
  return { outcome: operationOutcome('warning', 'not-found', 'FHIR_NOT_FOUND', `no patient ${id} on chain`) };
}

const byHeight = (a: { at: bigint }, b: { at: bigint }) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0);

export const SERVED: readonly Served[] = [
  {
    type: 'Patient',
    documentation: 'a patient identity: the pseudonymous on-chain id only (no name, no PHI)',
    read: async (view, id, ctx) => {
      const p = isIdOf('patient', id) ? await view.patient(id) : null;
      return p === null ? null : patientResource(p, ctx);
    },
  },
  {
    type: 'Organization',
    documentation: 'a consortium member, with its roles',
    read: async (view, id, ctx) => {
      const m = isMemberId(id) ? await view.member(id) : null;
      return m === null ? null : organizationResource(m, ctx);
    },
  },
  {
    type: 'Consent',
    documentation:
      'consents (active, inactive once revoked or expired) and access requests (proposed, rejected when denied)',
    read: async (view, id, ctx) => {
      if (isIdOf('consent', id)) {
        const c = await view.consent(id);
        return c === null ? null : consentResource(c, ctx);
      }
      const r = isIdOf('request', id) ? await view.request(id) : null;
      return r === null ? null : requestResource(r, ctx);
    },
    search: {
      params: [
        PATIENT,
        {
          name: 'status',
          type: 'token',
          codes: CONSENT_STATUSES,
          documentation: `${CONSENT_STATUSES.join(' | ')} (comma-separated: any of them)`,
        },
        {
          name: 'actor',
          type: 'reference',
          target: 'Organization',
          documentation: 'the member the consent is for (or that asked for it)',
        },
      ],
      run: async (view, query, ctx) => {
        const statusValue = query.values.get('status')?.[0];
        const statuses =
          statusValue === undefined ? null : tokenCodes('status', statusValue, CONSENT_STATUSES);
        const actorValue = query.values.get('actor')?.[0];
        const actor =
          actorValue === undefined ? null : referenceId('actor', actorValue, 'Organization', isMemberId);
        const who = await searchedPatient(view, query);
        if (!('id' in who)) return all([], who.outcome);
        const consents = await Promise.all(
          (await view.idList('consents', who.id)).map((id) => required(view.consent(id), `consent ${id}`)),
        );
        const requests = await Promise.all(
          (await view.idList('requests', who.id)).map((id) => required(view.request(id), `request ${id}`)),
        );
        const rows = [
          ...consents.map((c: Consent) => ({
            at: c.createdAt,
            status: consentStatus(c, ctx.time),
            actor: c.grantee,
            build: () => consentResource(c, ctx),
          })),
          ...requests.map((r) => ({
            at: r.createdAt,
            status: requestStatus(r),
            actor: r.requester,
            build: () => requestResource(r, ctx),
          })),
        ].sort(byHeight);
        return all(
          rows
            .filter(
              (r) =>
                (statuses === null || statuses.includes(r.status)) && (actor === null || r.actor === actor),
            )
            .map((r) => r.build()),
        );
      },
    },
  },
  {
    type: 'AuditEvent',
    documentation: 'the patient’s disclosures and break-glass declarations (IHE BALP)',
    search: {
      params: [
        PATIENT,
        {
          name: 'date',
          type: 'date',
          maxRepeat: 2,
          documentation: 'when it was recorded: [eq|ge|gt|le|lt]date, twice for a range',
        },
      ],
      run: async (view, query, ctx) => {
        const tests = (query.values.get('date') ?? []).map((v) => dateTest('date', v));
        const who = await searchedPatient(view, query);
        if (!('id' in who)) return all([], who.outcome);
        const disclosures = (await view.list('disclosures', who.id)).map((e) => {
          const event = accessEventFromFields(e);
          return { time: event.time, at: event.height, build: () => disclosureAuditEvent(event, ctx) };
        });
        const declarations = (await view.list('breakglass', who.id)).map((e) => {
          const b = breakGlassFromFields(e);
          return { time: b.from, at: b.height, build: () => breakGlassAuditEvent(b, ctx) };
        });
        const rows = [...declarations, ...disclosures]
          .filter((r) => tests.every((t) => t(r.time)))
          .sort(byHeight);
        return all(rows.map((r) => r.build()));
      },
    },
  },
  {
    type: 'DocumentReference',
    documentation:
      'record anchors: category, custodian, size, sha256 of the ciphertext, status after erasure',
    read: async (view, id, ctx) => {
      const r = isIdOf('record', id) ? await view.record(id) : null;
      return r === null ? null : documentReferenceResource(r, ctx);
    },
    search: {
      params: [PATIENT],
      run: async (view, query, ctx) => {
        const who = await searchedPatient(view, query);
        if (!('id' in who)) return all([], who.outcome);
        return byId(await view.idList('records', who.id), async (id) =>
          documentReferenceResource(await required(view.record(id), `record ${id}`), ctx),
        );
      },
    },
  },
  {
    type: 'Claim',
    documentation: 'claims a provider submitted to a payer',
    read: async (view, id, ctx) => {
      const c = isIdOf('claim', id) ? await view.claim(id) : null;
      return c === null ? null : claimResource(c, ctx);
    },
    search: {
      params: [PATIENT],
      run: async (view, query, ctx) => {
        const who = await searchedPatient(view, query);
        if (!('id' in who)) return all([], who.outcome);
        return byId(await view.idList('claims', who.id), async (id) =>
          claimResource(await required(view.claim(id), `claim ${id}`), ctx),
        );
      },
    },
  },
  {
    type: 'ClaimResponse',
    documentation: 'the payer’s adjudication of a claim (same id as the claim)',
    read: async (view, id, ctx) => {
      const c = isIdOf('claim', id) ? await view.claim(id) : null;
      const step = c === null ? null : adjudicationOf(c);
      return c === null || step === null ? null : claimResponseResource(c, step, ctx);
    },
    search: {
      params: [
        { ...PATIENT, required: false, documentation: 'the patient (this or request is required)' },
        { name: 'request', type: 'reference', target: 'Claim', documentation: 'the claim adjudicated' },
      ],
      run: async (view, query, ctx) => {
        const requestValue = query.values.get('request')?.[0];
        const patient = patientParam(query);
        if (requestValue === undefined && patient === null)
          throw fhirError('FHIR_PARAM_INVALID', 'patient or request is required for this search');
        let claims: Claim[];
        if (requestValue !== undefined) {
          const id = referenceId('request', requestValue, 'Claim', (v) => isIdOf('claim', v));
          const c = await view.claim(id);
          claims = c === null || (patient !== null && c.patient !== patient) ? [] : [c];
        } else {
          const who = await searchedPatient(view, query);
          if (!('id' in who)) return all([], who.outcome);
          claims = await Promise.all(
            (await view.idList('claims', who.id)).map((id) => required(view.claim(id), `claim ${id}`)),
          );
        }
        return all(
          claims.flatMap((c) => {
            const step = adjudicationOf(c);
            return step === null ? [] : [claimResponseResource(c, step, ctx)];
          }),
        );
      },
    },
  },
  {
    type: 'Provenance',
    documentation: 'who anchored each record (custodian) and who granted each consent (patient)',
    search: {
      params: [PATIENT],
      run: async (view, query, ctx) => {
        const who = await searchedPatient(view, query);
        if (!('id' in who)) return all([], who.outcome);
        const records: RecordAnchor[] = await Promise.all(
          (await view.idList('records', who.id)).map((id) => required(view.record(id), `record ${id}`)),
        );
        const consents = await Promise.all(
          (await view.idList('consents', who.id)).map((id) => required(view.consent(id), `consent ${id}`)),
        );
        const rows = [
          ...records.map((r) => ({ at: r.anchoredAt, build: () => recordProvenance(r, ctx) })),
          ...consents.map((c) => ({ at: c.createdAt, build: () => consentProvenance(c, ctx) })),
        ].sort(byHeight);
        return all(rows.map((r) => r.build()));
      },
    },
  },
];

export function servedType(type: string): Served | undefined {
  return SERVED.find((s) => s.type === type);
}
