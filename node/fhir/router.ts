/**
 * The FHIR facade's HTTP route: `fhirRoute(deps)` gives `{ prefix: '/fhir', handle }`, which the
 * RPC server mounts (its `routes` option) and calls for every request under the prefix.
 *
 *   GET /fhir/metadata                 the CapabilityStatement
 *   GET /fhir/<Type>/<id>              read
 *   GET /fhir/<Type>?<params>          search-type: a searchset Bundle, paged
 *
 * Each answer is read from one StateView (the latest committed height, opened per request) and
 * sent as `application/fhir+json`; every failure is an OperationOutcome with its HTTP status
 * (outcome.ts). Read-only: any method but GET and HEAD is 405.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { capabilityStatement } from './capability.ts';
import { FHIR_JSON, type FhirJson, type ReadContext, readMeta } from './fhir-json.ts';
import { fhirError, outcomeOf } from './outcome.ts';
import { servedType } from './resources.ts';
import { checkReadParams, parseSearch, searchsetBundle } from './search.ts';
import { type FhirApp, StateView } from './state.ts';

export const FHIR_PREFIX = '/fhir';

export interface FhirDeps {
  readonly app: FhirApp;
  /** The chain id, shown as each resource's meta.source; null or absent: not shown. */
  readonly chainId?: string | null;
  /**
   * The facade's absolute base URL as clients reach it (e.g. `https://node.example.org/fhir`),
   * for fullUrl and paging links; absent: `http://<Host header>/fhir`.
   */
  readonly baseUrl?: string;
  /** Told of every failure that is the facade's own (a 500), for the node's log. */
  readonly onError?: (err: unknown) => void;
}

export interface FhirRoute {
  readonly prefix: string;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
}

function send(res: ServerResponse, status: number, body: FhirJson, head: boolean): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': `${FHIR_JSON}; charset=utf-8`,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    // Read-only: a 405 says what is allowed (RFC 9110 requires it); harmless on other answers.
    allow: 'GET, HEAD',
  });
  res.end(head ? undefined : text);
}

/** `<Type>` or `<Type>/<id>` after the prefix; anything deeper (vread, history, operations) is unknown. */
function parsePath(rest: string): { type: string; id: string | null } | 'metadata' | null {
  const parts = rest.split('/').filter((p) => p !== '');
  if (parts.length === 1 && parts[0] === 'metadata') return 'metadata';
  if (parts.length < 1 || parts.length > 2) return null;
  if (parts[1] === undefined) return { type: parts[0]!, id: null };
  try {
    return { type: parts[0]!, id: decodeURIComponent(parts[1]) };
  } catch {
    return { type: parts[0]!, id: '' }; // a malformed escape: no id can match it
  }
}

/** A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port. */
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

export function fhirRoute(deps: FhirDeps): FhirRoute {
  // The Host header goes into links the client follows: only a host[:port] is taken from it.
  const baseOf = (req: IncomingMessage): string => {
    const host = req.headers.host;
    const safeHost = host !== undefined && HOST.test(host) ? host : 'localhost';
    return (deps.baseUrl ?? `http://${safeHost}${FHIR_PREFIX}`).replace(/\/+$/, '');
  };

  async function answer(req: IncomingMessage, url: URL): Promise<{ status: number; body: FhirJson }> {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw fhirError(
        'FHIR_METHOD_NOT_ALLOWED',
        `${req.method} is not allowed: the FHIR facade is read-only`,
      );
    if (url.pathname !== FHIR_PREFIX && !url.pathname.startsWith(`${FHIR_PREFIX}/`))
      throw fhirError('FHIR_TYPE_UNKNOWN', `${url.pathname.slice(0, 80)} is not under ${FHIR_PREFIX}`);
    const base = baseOf(req);
    const path = parsePath(url.pathname.slice(FHIR_PREFIX.length));
    if (path === 'metadata') {
      checkReadParams(url.searchParams);
      return { status: 200, body: capabilityStatement(base) };
    }
    const served = path === null ? undefined : servedType(path.type);
    if (path === null || served === undefined)
      throw fhirError(
        'FHIR_TYPE_UNKNOWN',
        `${url.pathname.slice(0, 80)}: no such resource type is served (see ${FHIR_PREFIX}/metadata)`,
      );
    if (path.id !== null) {
      if (served.read === undefined)
        throw fhirError('FHIR_INTERACTION_UNSUPPORTED', `${served.type} is searched, not read by id`);
      checkReadParams(url.searchParams);
      const view = await StateView.latest(deps.app);
      const resource = await served.read(view, path.id, contextOf(view, base));
      if (resource === null)
        throw fhirError(
          'FHIR_NOT_FOUND',
          `no ${served.type} ${path.id.slice(0, 64)} at height ${view.height}`,
        );
      return { status: 200, body: resource };
    }
    if (served.search === undefined)
      throw fhirError('FHIR_INTERACTION_UNSUPPORTED', `${served.type} is read by id, not searched`);
    const query = parseSearch(url.searchParams, served.search.params);
    const view = await StateView.latest(deps.app);
    const ctx = contextOf(view, base);
    const matches = await served.search.run(view, query, ctx);
    const page = await matches.slice(query.offset, query.count);
    const requestUrl = new URL(`${base}/${served.type}${url.search}`);
    return {
      status: 200,
      body: searchsetBundle({
        base,
        requestUrl,
        query,
        total: matches.total,
        page: [
          ...page.map((resource) => ({ resource })),
          ...(matches.outcome === undefined ? [] : [{ resource: matches.outcome, mode: 'outcome' as const }]),
        ],
        meta: readMeta(ctx),
      }),
    };
  }

  function contextOf(view: StateView, base: string): ReadContext {
    return {
      height: view.height,
      time: view.block.time,
      chainId: deps.chainId ?? null,
      // The records API sits at the root of the same listener as the facade.
      recordsFetchUrl: new URL('/records/fetch', base).toString(),
    };
  }

  return {
    prefix: FHIR_PREFIX,
    async handle(req, res, url) {
      let status: number;
      let body: FhirJson;
      try {
        ({ status, body } = await answer(req, url));
      } catch (err) {
        ({ status, outcome: body } = outcomeOf(err));
        if (status === 500) deps.onError?.(err);
      }
      send(res, status, body, req.method === 'HEAD');
    },
  };
}
