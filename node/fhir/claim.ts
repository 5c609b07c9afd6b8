/**
 * Claim and ClaimResponse: a provider's claim to a payer, and the payer's latest adjudication.
 *
 * Claim: professional, use `claim`, priority normal; provider and insurer are members; each line
 * is an item (CPT, or HCPCS level II for a letter-first code; service date; billed amount in USD)
 * whose backing records are supportingInfo attachments (DocumentReference) linked by
 * informationSequence. The insurance is the payer, named by identifier (the chain has no Coverage).
 *
 * ClaimResponse: served once a claim is adjudicated (approved, partial or denied), with the
 * claim's id. Outcome `complete` (approved, denied) or `partial`; each item carries the
 * `submitted` amount and the `benefit` allowed (approved: as billed; partial: the payer's amount;
 * denied: 0), and the X12 adjustment reason (group code and CARC, e.g. CO-45) when there is one.
 */
import type { Claim, ClaimStep } from '../../packages/health/model.ts';
import {
  coding,
  committedHeight,
  concept,
  date,
  type FhirJson,
  identifier,
  instant,
  money,
  type ReadContext,
  readMeta,
  reference,
  SYSTEM,
} from './fhir-json.ts';

const professional = concept(SYSTEM.claimType, 'professional', 'Professional');

function serviceCode(code: string): FhirJson {
  return concept(/^[0-9]/.test(code) ? SYSTEM.cpt : SYSTEM.hcpcs, code);
}

export function claimResource(c: Claim, ctx: ReadContext): FhirJson {
  const submitted = c.history[0]!;
  const supportingInfo: FhirJson[] = [];
  const items = c.lines.map((line, i) => {
    const informationSequence = line.records.map((record) => {
      supportingInfo.push({
        sequence: supportingInfo.length + 1,
        category: concept(SYSTEM.claimInfoCategory, 'attachment', 'Attachment'),
        valueReference: reference('DocumentReference', record),
      });
      return supportingInfo.length;
    });
    return {
      sequence: i + 1,
      ...(informationSequence.length > 0 ? { informationSequence } : {}),
      productOrService: serviceCode(line.code),
      servicedDate: date(line.date),
      net: money(line.amount),
    };
  });
  return {
    resourceType: 'Claim',
    id: c.id,
    meta: readMeta(ctx),
    extension: [committedHeight(submitted.height)],
    identifier: [identifier(SYSTEM.claimId, c.id)],
    // A claim an amendment replaced is withdrawn: FHIR's financial status for that is cancelled.
    status: c.status === 'superseded' ? 'cancelled' : 'active',
    type: professional,
    use: 'claim',
    patient: reference('Patient', c.patient),
    created: instant(submitted.time),
    ...(c.supersedes === null
      ? {}
      : {
          related: [
            {
              claim: reference('Claim', c.supersedes),
              relationship: concept(RELATED_CLAIM, 'prior', 'Prior Claim'),
            },
          ],
        }),
    insurer: reference('Organization', c.payer),
    provider: reference('Organization', c.provider),
    priority: concept(SYSTEM.processPriority, 'normal', 'Normal'),
    ...(supportingInfo.length > 0 ? { supportingInfo } : {}),
    insurance: [{ sequence: 1, focal: true, coverage: { identifier: identifier(SYSTEM.memberId, c.payer) } }],
    item: items,
    total: money(c.lines.reduce((sum, l) => sum + l.amount, 0n)),
  };
}

/** The latest adjudication of a claim, or null while it is only submitted (or was superseded unpaid). */
export function adjudicationOf(c: Claim): ClaimStep | null {
  const last = c.history[c.history.length - 1]!;
  return last.status === 'submitted' || last.status === 'superseded' ? null : last;
}

/** HL7's related-claim relationship codes (an amendment names the claim it replaces as prior). */
const RELATED_CLAIM = 'http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship';

function allowed(c: Claim, step: ClaimStep, line: number): bigint {
  if (step.status === 'denied') return 0n;
  if (step.status === 'partial') return step.amounts[line] ?? 0n;
  return c.lines[line]!.amount;
}

export function claimResponseResource(c: Claim, step: ClaimStep, ctx: ReadContext): FhirJson {
  const reason =
    step.reason === null
      ? undefined
      : { coding: [coding(SYSTEM.carc, step.reason.split('-')[1]!, step.reason)] };
  const items = c.lines.map((line, i) => ({
    itemSequence: i + 1,
    adjudication: [
      { category: concept(SYSTEM.adjudication, 'submitted', 'Submitted Amount'), amount: money(line.amount) },
      {
        category: concept(SYSTEM.adjudication, 'benefit', 'Benefit Amount'),
        ...(reason === undefined ? {} : { reason }),
        amount: money(allowed(c, step, i)),
      },
    ],
  }));
  return {
    resourceType: 'ClaimResponse',
    id: c.id,
    meta: readMeta(ctx),
    extension: [committedHeight(step.height)],
    identifier: [identifier(SYSTEM.claimId, c.id)],
    status: 'active',
    type: professional,
    use: 'claim',
    patient: reference('Patient', c.patient),
    created: instant(step.time),
    insurer: reference('Organization', c.payer),
    requestor: reference('Organization', c.provider),
    request: reference('Claim', c.id),
    outcome: step.status === 'partial' ? 'partial' : 'complete',
    disposition: step.status,
    item: items,
    total: [
      {
        category: concept(SYSTEM.adjudication, 'benefit', 'Benefit Amount'),
        amount: money(c.lines.reduce((sum, _l, i) => sum + allowed(c, step, i), 0n)),
      },
    ],
  };
}
