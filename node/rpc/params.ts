/**
 * Parameter readers shared by several method groups, on top of the typed readers in server.ts:
 * CometBFT's pagination (`page`, `per_page`), tx bytes, event queries and `order_by`. A value that
 * is not its type is "Invalid params"; a well-typed value out of range is the method's error with
 * CometBFT's sentence.
 */
import { MAX_QUERY_LENGTH, parseQuery, type Query, QueryError } from './events-query.ts';
import { invalidParams, methodError } from './jsonrpc.ts';
import { bytesParam, countParam, type RpcParams, stringParam, type Transport } from './server.ts';

/** CometBFT's pagination: 30 per page by default, at most 100. */
export const DEFAULT_PER_PAGE = 30;
export const MAX_PER_PAGE = 100;

export function perPageOf(params: RpcParams, name = 'per_page'): number {
  const n = countParam(params, name);
  if (n === null || n < 1) return DEFAULT_PER_PAGE;
  return n > MAX_PER_PAGE ? MAX_PER_PAGE : n;
}

/** CometBFT's `validatePage`: absent is 1; otherwise within [1, pages]. */
export function pageOf(params: RpcParams, perPage: number, total: number): number {
  const page = countParam(params, 'page');
  if (page === null) return 1;
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (page < 1 || page > pages) throw methodError(`page should be within [1, ${pages}] range, given ${page}`);
  return page;
}

/** Tx bytes: base64 in JSON-RPC (CometBFT), `0x…` hex or a quoted string in a URI. */
export function txParam(params: RpcParams, transport: Transport): Uint8Array {
  const tx = bytesParam(params, 'tx', transport, 'base64');
  if (tx === null || tx.length === 0) throw invalidParams('tx is required');
  return tx;
}

/** The `query` parameter, parsed; a parse failure is the method's error, after `failurePrefix`. */
export function queryParam(
  params: RpcParams,
  transport: Transport,
  failurePrefix = '',
): { text: string; query: Query } {
  const text = stringParam(params, 'query', transport);
  if (text === null || text.trim() === '') throw invalidParams('query is required');
  if (text.length > MAX_QUERY_LENGTH) throw methodError('maximum query length exceeded');
  try {
    return { text, query: parseQuery(text) };
  } catch (err) {
    if (err instanceof QueryError) throw methodError(`${failurePrefix}${err.message}`);
    throw err;
  }
}

/** `order_by`: empty is `fallback`; anything but asc or desc is `what` (its `%s` is the value). */
export function orderParam(
  params: RpcParams,
  transport: Transport,
  fallback: 'asc' | 'desc',
  what: string,
): 'asc' | 'desc' {
  const order = stringParam(params, 'order_by', transport) ?? '';
  if (order === '') return fallback;
  if (order === 'asc' || order === 'desc') return order;
  throw methodError(what.replace('%s', order));
}
