/**
 * The FHIR facade end to end in one process: a real health app (LevelDB and Merkle state) holding
 * a patient's journey, the facade's route on a real HTTP server, and fhir-kit-client driving it as
 * an EHR would (metadata, read, search, paging through next links). Every body the facade sends,
 * success or error, is validated against HL7's R4 JSON schema, and each error's status and code
 * are checked.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'fhir-kit-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fhirRoute } from '../../../../node/fhir/router.ts';
import type { FhirApp } from '../../../../node/fhir/state.ts';
import { sha256 } from '../../../../packages/crypto/hash.ts';
import { idQueryData, verifyAnswer } from '../../../../packages/health/query.ts';
import { alice, assertValidFhir, type Journey, journey } from './fixtures.ts';

// biome-ignore lint/suspicious/noExplicitAny: the assertions walk FHIR JSON by path
type Json = Record<string, any>;

let j: Journey;
let server: Server;
let base: string;
let client: Client;
const internalErrors: unknown[] = [];

async function serve(app: FhirApp): Promise<{ server: Server; base: string }> {
  const route = fhirRoute({
    app,
    chainId: 'careledger-health-test',
    onError: (err) => internalErrors.push(err),
  });
  const s = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === route.prefix || url.pathname.startsWith(`${route.prefix}/`)) {
      void route.handle(req, res, url);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { server: s, base: `http://127.0.0.1:${(s.address() as AddressInfo).port}/fhir` };
}

async function close(s: Server): Promise<void> {
  await new Promise<void>((resolve, reject) => s.close((err) => (err ? reject(err) : resolve())));
}

test.before(async () => {
  j = await journey();
  ({ server, base } = await serve(j.h.app));
  client = new Client({ baseUrl: base });
});

test.after(async () => {
  if (server !== undefined) await close(server);
  await j?.h.close();
});

/** A raw GET (or other method): status, content type and the body, which must be valid FHIR. */
async function call(
  path: string,
  method = 'GET',
  to = base,
): Promise<{ status: number; type: string; body: Json }> {
  const r = await fetch(`${to}${path}`, { method });
  const body = (await r.json()) as Json;
  assertValidFhir(body, `${method} ${path}`);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body };
}

/** What fhir-kit-client returned, without the response it attaches, validated. */
function plain(resource: unknown): Json {
  const body = JSON.parse(JSON.stringify(resource)) as Json;
  delete body.__response;
  delete body.__request;
  assertValidFhir(body);
  return body;
}

const heightTag = (r: Json): string =>
  (r.meta.tag as Json[]).find((t) => t.system === 'urn:careledger:block-height')!.code as string;

const ids = (bundle: Json): string[] =>
  ((bundle.entry ?? []) as Json[])
    .filter((e) => e.search.mode === 'match')
    .map((e) => e.resource.id as string);

/** Every match of a search, following next links with the client. */
async function everyPage(
  resourceType: string,
  searchParams: Record<string, string>,
): Promise<{ ids: string[]; pages: number; totals: number[] }> {
  let bundle = plain(await client.search({ resourceType, searchParams }));
  const out = { ids: ids(bundle), pages: 1, totals: [bundle.total as number] };
  for (;;) {
    const next = client.nextPage({ bundle: bundle as never });
    if (next === undefined) return out;
    bundle = plain(await next);
    out.ids.push(...ids(bundle));
    out.pages++;
    out.totals.push(bundle.total as number);
  }
}

test('metadata: a CapabilityStatement listing exactly the served types, interactions and parameters', async () => {
  const cs = plain(await client.capabilityStatement());
  assert.is(cs.resourceType, 'CapabilityStatement');
  assert.is(cs.fhirVersion, '4.0.1');
  const resources = cs.rest[0].resource as Json[];
  const summary = Object.fromEntries(
    resources.map((r) => [
      r.type,
      [
        (r.interaction as Json[]).map((i) => i.code).join('+'),
        ((r.searchParam ?? []) as Json[]).map((p) => p.name).join(','),
      ],
    ]),
  );
  assert.equal(summary, {
    Patient: ['read', ''],
    Organization: ['read', ''],
    Consent: ['read+search-type', 'patient,status,actor'],
    AuditEvent: ['search-type', 'patient,date'],
    DocumentReference: ['read+search-type', 'patient'],
    Claim: ['read+search-type', 'patient'],
    ClaimResponse: ['read+search-type', 'patient,request'],
    Provenance: ['search-type', 'patient'],
  });
  assert.equal(
    (cs.rest[0].searchParam as Json[]).map((p) => p.name),
    ['_count', '_offset'],
  );
  const raw = await call('/metadata');
  assert.is(raw.status, 200);
  assert.is(raw.type, 'application/fhir+json; charset=utf-8');
});

test('Patient: pseudonymous (the on-chain id only), tagged with the height, provable with the SDK at it', async () => {
  const p = plain(await client.read({ resourceType: 'Patient', id: alice.id }));
  assert.equal(Object.keys(p).sort(), [
    'active',
    'id',
    'identifier',
    'managingOrganization',
    'meta',
    'resourceType',
  ]);
  assert.is(p.id, alice.id);
  assert.equal(p.managingOrganization, { reference: 'Organization/city-hospital' });
  assert.is(p.meta.source, 'urn:careledger:chain:careledger-health-test');
  const height = BigInt(heightTag(p));
  assert.is(height, j.h.height);
  // A client proves the leaf at that height against the app hash of that height.
  const r = await j.h.app.query('/health/patient', idQueryData(alice.id), height, true);
  assert.ok(verifyAnswer(j.h.app.info().appHash, r.key, r.value, r.proof!));
});

test('Organization: a member with its roles (HL7 organization-type where one fits)', async () => {
  const payer = plain(await client.read({ resourceType: 'Organization', id: 'good-insurance' }));
  assert.equal(
    payer.type[0].coding.map((c: Json) => c.code),
    ['payer', 'pay'],
  );
  assert.is(payer.active, true);
  const labOrg = plain(await client.read({ resourceType: 'Organization', id: 'acme-lab' }));
  assert.equal(labOrg.type[0].coding, [{ system: 'urn:careledger:member-role', code: 'lab' }]);
});

test('Consent read: status from revocation, expiry and request outcome; the provision tree', async () => {
  const status = async (id: string) => plain(await client.read({ resourceType: 'Consent', id })).status;
  assert.is(await status(j.cClinic), 'active');
  assert.is(await status(j.cRevoked), 'inactive');
  assert.is(await status(j.cExpired), 'inactive');
  assert.is(await status(j.cApproved), 'active');
  assert.is(await status(j.qDenied), 'rejected');
  assert.is(await status(j.qPending), 'proposed');
  assert.is(await status(j.qApproved), 'inactive');
  const c = plain(await client.read({ resourceType: 'Consent', id: j.cClinic }));
  assert.equal(c.patient, { reference: `Patient/${alice.id}` });
  const top = c.provision as Json;
  assert.is(top.type, 'permit');
  assert.equal(top.actor[0].reference, { reference: 'Organization/north-clinic' });
  assert.is(top.actor[0].role.coding[0].code, 'IRCP');
  assert.equal(top.action, [
    { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' }] },
  ]);
  assert.equal(
    top.purpose.map((p: Json) => `${p.system}|${p.code}`),
    [
      'http://terminology.hl7.org/CodeSystem/v3-ActReason|ETREAT',
      'http://terminology.hl7.org/CodeSystem/v3-ActReason|TREAT',
    ],
  );
  assert.equal(
    top.class.map((k: Json) => k.code),
    ['Observation', 'Procedure'],
  );
  assert.ok(typeof top.period.end === 'string' && top.period.start === undefined);
  assert.equal(top.provision, [
    {
      type: 'deny',
      class: [{ system: 'urn:careledger:record-category', code: 'Observation.social-history' }],
    },
  ]);
  const approved = plain(await client.read({ resourceType: 'Consent', id: j.cApproved }));
  assert.ok(
    (approved.identifier as Json[]).some((i) => i.value === j.qApproved),
    'names the request it approved',
  );
});

test('Consent search: patient, status and actor filters; paging with _count through next links', async () => {
  const every = await everyPage('Consent', { patient: alice.id, _count: '3' });
  const expected = [
    j.cClinic,
    j.cRevoked,
    j.cExpired,
    j.cInsurer,
    j.qDenied,
    j.qPending,
    j.qApproved,
    j.cApproved,
  ];
  assert.equal(every.ids, expected);
  assert.is(every.pages, 3);
  assert.equal(every.totals, [8, 8, 8]);
  const active = plain(
    await client.search({
      resourceType: 'Consent',
      searchParams: { patient: `Patient/${alice.id}`, status: 'active' },
    }),
  );
  assert.equal(ids(active), [j.cClinic, j.cInsurer, j.cApproved]);
  const open = plain(
    await client.search({
      resourceType: 'Consent',
      searchParams: { patient: alice.id, status: 'proposed,rejected' },
    }),
  );
  assert.equal(ids(open), [j.qDenied, j.qPending]);
  const clinic = plain(
    await client.search({
      resourceType: 'Consent',
      searchParams: { patient: alice.id, actor: 'Organization/north-clinic' },
    }),
  );
  assert.equal(ids(clinic), [j.cClinic, j.qApproved, j.cApproved]);
  const both = await call(`/Consent?patient=${alice.id}&actor=north-clinic&status=active`);
  assert.equal(ids(both.body), [j.cClinic, j.cApproved]);
  // The links are absolute, keep the search, and the last page has no next.
  const first = await call(`/Consent?patient=${alice.id}&_count=5`);
  const links = Object.fromEntries((first.body.link as Json[]).map((l) => [l.relation, l.url]));
  assert.is(links.next, `${base}/Consent?patient=${alice.id}&_count=5&_offset=5`);
  const second = await call(`/Consent?patient=${alice.id}&_count=5&_offset=5`);
  assert.equal(
    (second.body.link as Json[]).map((l) => l.relation),
    ['self', 'previous'],
  );
  assert.is(ids(second.body).length, 3);
  const countOnly = await call(`/Consent?patient=${alice.id}&_count=0`);
  assert.is(countOnly.body.total, 8);
  assert.is(countOnly.body.entry, undefined);
});

test('AuditEvent search: disclosures and break-glass, BALP-shaped, with date ranges', async () => {
  const all = plain(
    await client.search({ resourceType: 'AuditEvent', searchParams: { patient: alice.id, _count: '100' } }),
  );
  assert.is(all.total, 6);
  assert.equal(ids(all), [...j.disclosures, j.breakGlass, j.bgDisclosure]);
  const events = (all.entry as Json[]).map((e) => e.resource as Json);
  const first = events[0]!;
  assert.is(first.type.code, '110106');
  assert.is(first.subtype[0].code, 'disclose');
  assert.equal(
    first.agent.map((a: Json) => [a.type.coding[0].code, a.who.reference, a.requestor]),
    [
      ['CST', 'Organization/acme-lab', false],
      ['IRCP', 'Organization/north-clinic', true],
    ],
  );
  assert.equal(first.purposeOfEvent, [
    { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }] },
  ]);
  assert.equal(
    first.entity.map((e: Json) => e.what.reference),
    [`Patient/${alice.id}`, `DocumentReference/${j.aLab}`, `Consent/${j.cClinic}`],
  );
  const declared = events[4]!;
  assert.is(declared.type.code, '110113');
  assert.is(declared.subtype[0].code, '110127');
  assert.equal(
    declared.purposeOfEvent[0].coding.map((c: Json) => c.code),
    ['ETREAT', 'BTG'],
  );
  const underBg = events[5]!;
  assert.equal(
    underBg.purposeOfEvent[0].coding.map((c: Json) => c.code),
    ['ETREAT', 'BTG'],
  );
  assert.ok((underBg.entity as Json[]).some((e) => e.what.identifier?.value === j.breakGlass));
  // Date ranges (each disclosure is one block, one second, after the last).
  const t0 = new Date(Number(j.firstDisclosureTime)).toISOString();
  const t1 = new Date(Number(j.firstDisclosureTime) + 1000).toISOString();
  const range = await call(`/AuditEvent?patient=${alice.id}&date=ge${t0}&date=le${t1}`);
  assert.equal(ids(range.body), j.disclosures.slice(0, 2));
  const after = await call(`/AuditEvent?patient=${alice.id}&date=gt${t1}`);
  assert.equal(ids(after.body), [...j.disclosures.slice(2), j.breakGlass, j.bgDisclosure]);
  const day = new Date(Number(j.firstDisclosureTime)).toISOString().slice(0, 10);
  assert.is((await call(`/AuditEvent?patient=${alice.id}&date=${day}`)).body.total, 6);
  assert.is((await call(`/AuditEvent?patient=${alice.id}&date=lt2026`)).body.total, 0);
});

test('DocumentReference search: each anchor with category, custodian, size, sha256, status, fetch url', async () => {
  const bundle = plain(
    await client.search({ resourceType: 'DocumentReference', searchParams: { patient: alice.id } }),
  );
  assert.equal(ids(bundle), [j.aLab, j.aProc1, j.aProc2, j.aErrored, j.aShredded]);
  const byId = new Map((bundle.entry as Json[]).map((e) => [e.resource.id, e.resource as Json]));
  const labDoc = byId.get(j.aLab)!;
  assert.is(labDoc.status, 'current');
  assert.equal(labDoc.category[0].coding[0].code, 'Observation.laboratory');
  assert.equal(labDoc.custodian, { reference: 'Organization/acme-lab' });
  const att = labDoc.content[0].attachment as Json;
  assert.is(att.size, 1234);
  assert.is(att.url, `${base.replace(/\/fhir$/, '')}/records/fetch`);
  assert.is(att.hash, undefined, 'no SHA-1 claimed');
  const alt = (att.extension as Json[]).find(
    (e) => e.url === 'http://hl7.org/fhir/StructureDefinition/alternate-hash',
  )!;
  const hash = (alt.extension as Json[]).find((e) => e.url === 'hash')!.valueString;
  assert.is(hash, Buffer.from(sha256(new TextEncoder().encode('ciphertext/a-lab'))).toString('base64'));
  assert.is(byId.get(j.aProc1)!.status, 'superseded');
  assert.equal(byId.get(j.aProc2)!.relatesTo, [
    { code: 'replaces', target: { reference: `DocumentReference/${j.aProc1}` } },
  ]);
  assert.is(byId.get(j.aErrored)!.status, 'entered-in-error');
  const shredded = byId.get(j.aShredded)!;
  assert.is(shredded.status, 'superseded');
  assert.is(shredded.content[0].attachment.url, undefined, 'an erased record cannot be fetched');
  assert.ok((shredded.extension as Json[]).some((e) => e.url === 'urn:careledger:fhir:extension:erasure'));
  const read = plain(await client.read({ resourceType: 'DocumentReference', id: j.aLab }));
  assert.equal(read, labDoc);
});

test('Claim and ClaimResponse: lines, amounts and the partial adjudication', async () => {
  const claim = plain(await client.read({ resourceType: 'Claim', id: j.kPartial }));
  assert.equal(
    claim.item.map((i: Json) => [
      i.productOrService.coding[0].system,
      i.productOrService.coding[0].code,
      i.net.value,
    ]),
    [
      ['http://www.ama-assn.org/go/cpt', '99213', 125.5],
      ['urn:oid:2.16.840.1.113883.6.285', 'G0008', 42],
    ],
  );
  assert.equal(claim.total, { value: 167.5, currency: 'USD' });
  assert.equal(claim.supportingInfo[0].valueReference, { reference: `DocumentReference/${j.aProc2}` });
  const claims = plain(await client.search({ resourceType: 'Claim', searchParams: { patient: alice.id } }));
  assert.equal(ids(claims), [j.kPartial, j.kSubmitted]);
  const response = plain(await client.read({ resourceType: 'ClaimResponse', id: j.kPartial }));
  assert.is(response.outcome, 'partial');
  assert.equal(response.request, { reference: `Claim/${j.kPartial}` });
  assert.equal(
    response.item[0].adjudication.map((a: Json) => a.amount.value),
    [125.5, 100],
  );
  assert.is(response.item[0].adjudication[1].reason.coding[0].code, '45');
  assert.equal(response.total[0].amount, { value: 142, currency: 'USD' });
  const byRequest = plain(
    await client.search({ resourceType: 'ClaimResponse', searchParams: { request: `Claim/${j.kPartial}` } }),
  );
  assert.equal(ids(byRequest), [j.kPartial]);
  const byPatient = plain(
    await client.search({ resourceType: 'ClaimResponse', searchParams: { patient: alice.id } }),
  );
  assert.equal(ids(byPatient), [j.kPartial], 'a claim not yet adjudicated has no response');
  assert.is((await call(`/ClaimResponse/${j.kSubmitted}`)).status, 404);
});

test('Provenance search: who anchored each record and who granted each consent', async () => {
  const bundle = plain(
    await client.search({ resourceType: 'Provenance', searchParams: { patient: alice.id, _count: '50' } }),
  );
  assert.is(bundle.total, 10);
  const proc2 = (bundle.entry as Json[]).map((e) => e.resource as Json).find((r) => r.id === j.aProc2)!;
  assert.equal(proc2.agent[0].who, { reference: 'Organization/city-hospital' });
  assert.equal(proc2.entity, [{ role: 'revision', what: { reference: `DocumentReference/${j.aProc1}` } }]);
});

test('a patient unknown on chain: an empty searchset with a warning outcome entry', async () => {
  const ghost = `p${'0'.repeat(32)}`;
  const r = await call(`/Consent?patient=${ghost}`);
  assert.is(r.status, 200);
  assert.is(r.body.total, 0);
  assert.equal(
    r.body.entry.map((e: Json) => [e.search.mode, e.resource.resourceType]),
    [['outcome', 'OperationOutcome']],
  );
});

test('errors: each bad request gets an OperationOutcome with the right status and code', async () => {
  const p = alice.id;
  const cases: [string, string, number, string][] = [
    ['GET', '/Observation/x1', 404, 'FHIR_TYPE_UNKNOWN'],
    ['GET', '', 404, 'FHIR_TYPE_UNKNOWN'],
    ['GET', `/Patient/${p}/_history`, 404, 'FHIR_TYPE_UNKNOWN'],
    ['GET', `/Patient/p${'0'.repeat(32)}`, 404, 'FHIR_NOT_FOUND'],
    ['GET', '/Patient/not-a-patient-id', 404, 'FHIR_NOT_FOUND'],
    ['GET', '/Organization/no-such-member', 404, 'FHIR_NOT_FOUND'],
    ['GET', `/Consent/${j.aLab}`, 404, 'FHIR_NOT_FOUND'],
    ['GET', '/Patient/%E0%A4%A', 404, 'FHIR_NOT_FOUND'],
    ['GET', '/Patient?name=x', 405, 'FHIR_INTERACTION_UNSUPPORTED'],
    ['GET', `/AuditEvent/${j.disclosures[0]}`, 405, 'FHIR_INTERACTION_UNSUPPORTED'],
    ['POST', '/Patient', 405, 'FHIR_METHOD_NOT_ALLOWED'],
    ['DELETE', `/Patient/${p}`, 405, 'FHIR_METHOD_NOT_ALLOWED'],
    ['GET', `/Patient/${p}?_elements=id`, 400, 'FHIR_PARAM_UNKNOWN'],
    ['GET', `/Patient/${p}?_format=xml`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/Consent?patient=${p}&name=x`, 400, 'FHIR_PARAM_UNKNOWN'],
    ['GET', `/Consent?patient=${p}&status:not=active`, 400, 'FHIR_PARAM_UNKNOWN'],
    ['GET', `/Consent?patient=${p}&_sort=date`, 400, 'FHIR_PARAM_UNKNOWN'],
    ['GET', '/Consent', 400, 'FHIR_PARAM_INVALID'],
    ['GET', '/Consent?patient=nobody', 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/Consent?patient=Organization/${p}`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/Consent?patient=${p}&patient=${p}`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/Consent?patient=${p}&status=approved`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/Consent?patient=${p}&actor=Patient/${p}`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/Consent?patient=${p}&status=`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/AuditEvent?patient=${p}&date=2026-13-01`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/AuditEvent?patient=${p}&date=2026-02-30`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/AuditEvent?patient=${p}&date=ne2026`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/AuditEvent?patient=${p}&date=2026-01-01T10:00`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/AuditEvent?patient=${p}&date=ge2026&date=le2027&date=lt2028`, 400, 'FHIR_PARAM_INVALID'],
    // A bad value is refused even when the patient is unknown (nothing to match is no excuse).
    ['GET', `/AuditEvent?patient=p${'0'.repeat(32)}&date=2026-13`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/Consent?patient=p${'0'.repeat(32)}&status=approved`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/Consent?patient=${p}&_count=101`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/Consent?patient=${p}&_count=-1`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', `/Consent?patient=${p}&_offset=x`, 400, 'FHIR_PARAM_INVALID'],
    ['GET', '/ClaimResponse', 400, 'FHIR_PARAM_INVALID'],
    ['GET', '/ClaimResponse?request=Claim/k1', 400, 'FHIR_PARAM_INVALID'],
    ['GET', '/metadata?mode=full', 400, 'FHIR_PARAM_UNKNOWN'],
  ];
  for (const [method, path, status, code] of cases) {
    const r = await call(path, method);
    assert.is(r.status, status, `${method} ${path}: status`);
    assert.is(r.type, 'application/fhir+json; charset=utf-8');
    assert.is(r.body.resourceType, 'OperationOutcome', `${method} ${path}`);
    assert.is(
      r.body.issue[0].details.coding[0].code,
      code,
      `${method} ${path}: ${r.body.issue[0].diagnostics}`,
    );
  }
  // The client library sees the same status.
  try {
    await client.read({ resourceType: 'Patient', id: `p${'1'.repeat(32)}` });
    assert.unreachable('a read of an unknown patient succeeded');
  } catch (err) {
    assert.is((err as { response?: { status?: number } }).response?.status, 404);
  }
  assert.equal(internalErrors, []);
});

test('links take only a host[:port] from the Host header; POST is 405 with Allow', async () => {
  const port = new URL(base).port;
  const get = (host: string, method = 'GET') =>
    new Promise<{ status: number; allow: string | undefined; body: Json }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path: `/fhir/Consent?patient=${alice.id}&_count=1`,
          headers: { host },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              allow: res.headers.allow,
              body: JSON.parse(text) as Json,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
  const next = (r: { body: Json }) =>
    (r.body.link as Json[]).find((l) => l.relation === 'next')!.url as string;
  assert.ok(next(await get('node.example:26657')).startsWith('http://node.example:26657/fhir/Consent?'));
  assert.ok(next(await get('[::1]:26657')).startsWith('http://[::1]:26657/fhir/Consent?'));
  assert.ok(next(await get('evil.example/x?')).startsWith('http://localhost/fhir/Consent?'));
  const post = await get('node.example', 'POST');
  assert.is(post.status, 405);
  assert.is(post.allow, 'GET, HEAD');
});

test('HEAD answers the status and headers without a body', async () => {
  const r = await fetch(`${base}/Patient/${alice.id}`, { method: 'HEAD' });
  assert.is(r.status, 200);
  assert.is(await r.text(), '');
});

test('a node without health state answers 503; a failing app 500 without its message, and is logged', async () => {
  const kvstore: FhirApp = {
    query: async () => ({
      code: 1,
      codespace: 'QUERY_UNKNOWN_PATH',
      log: 'unknown query path',
      key: new Uint8Array(0),
      value: null,
      proof: null,
      height: 3n,
    }),
  };
  const down = await serve(kvstore);
  try {
    const r = await call(`/Patient/${alice.id}`, 'GET', down.base);
    assert.is(r.status, 503);
    assert.is(r.body.issue[0].code, 'transient');
    assert.is((await call('/metadata', 'GET', down.base)).status, 200, 'metadata needs no state');
  } finally {
    await close(down.server);
  }
  const broken: FhirApp = {
    query: async () => {
      throw new Error('disk on fire at /secret/path');
    },
  };
  const failing = await serve(broken);
  try {
    const before = internalErrors.length;
    const r = await call(`/Consent?patient=${alice.id}`, 'GET', failing.base);
    assert.is(r.status, 500);
    assert.not.match(r.body.issue[0].diagnostics, /secret/);
    assert.is(internalErrors.length, before + 1);
  } finally {
    await close(failing.server);
  }
});

test.run();
