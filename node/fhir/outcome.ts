/**
 * Errors of the FHIR facade and their OperationOutcome: each failure is a CareLedgerError with a
 * stable FHIR_* code, and this table gives its HTTP status and the OperationOutcome issue code
 * (http://hl7.org/fhir/issue-type), in one place. The outcome carries the code itself as
 * `details` (system urn:careledger:error-code) and the sentence as `diagnostics`.
 */
import { CareLedgerError } from '../../packages/core/errors.ts';
import { concept, type FhirJson, SYSTEM } from './fhir-json.ts';

export const FHIR_ERRORS = {
  /** No resource of that type with that id (or an id that cannot be one). */
  FHIR_NOT_FOUND: { status: 404, issue: 'not-found' },
  /** A resource type the facade does not serve. */
  FHIR_TYPE_UNKNOWN: { status: 404, issue: 'not-supported' },
  /** A served type, but not with that interaction (e.g. a search where only read is served). */
  FHIR_INTERACTION_UNSUPPORTED: { status: 405, issue: 'not-supported' },
  /** Anything but GET (and HEAD): the facade is read-only. */
  FHIR_METHOD_NOT_ALLOWED: { status: 405, issue: 'not-supported' },
  /** A search or result parameter the interaction does not declare (refused, never ignored). */
  FHIR_PARAM_UNKNOWN: { status: 400, issue: 'not-supported' },
  /** A declared parameter with a value that cannot be read, repeated, or missing when required. */
  FHIR_PARAM_INVALID: { status: 400, issue: 'invalid' },
  /** The node has no health-data state to read (kvstore app, not initialised, version pruned). */
  FHIR_STATE_UNAVAILABLE: { status: 503, issue: 'transient' },
  /** A failure of the facade itself. */
  FHIR_INTERNAL: { status: 500, issue: 'exception' },
} as const;
export type FhirErrorCode = keyof typeof FHIR_ERRORS;

export function fhirError(code: FhirErrorCode, message: string): CareLedgerError {
  return new CareLedgerError(code, message);
}

/** Status and OperationOutcome for any error: an unexpected one is FHIR_INTERNAL (its message kept out). */
export function outcomeOf(err: unknown): { status: number; outcome: FhirJson } {
  const known = err instanceof CareLedgerError && Object.hasOwn(FHIR_ERRORS, err.code);
  const code: FhirErrorCode = known ? (err.code as FhirErrorCode) : 'FHIR_INTERNAL';
  const message = known ? err.message : 'the FHIR facade failed to answer (see the node log)';
  return {
    status: FHIR_ERRORS[code].status,
    outcome: operationOutcome('error', FHIR_ERRORS[code].issue, code, message),
  };
}

export function operationOutcome(
  severity: 'error' | 'warning' | 'information',
  issue: string,
  code: string,
  message: string,
): FhirJson {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code: issue, details: concept(SYSTEM.errorCode, code), diagnostics: message }],
  };
}
