/**
 * The node's RPC server, with CometBFT's paths, parameters, JSON shapes, error codes and HTTP
 * statuses so existing tools can drive it: URI GET (`/status`, `/block?height=5`,
 * `/broadcast_tx_sync?tx=0x…`), JSON-RPC 2.0 POST to `/` (single calls and batches, params by name
 * or by position) and a WebSocket at `/websocket` (node/rpc/ws.ts) on the same port.
 *
 * Bounded and safe: request bodies, batches, open connections and the time a call may take have
 * limits; CORS is off unless origins are listed; `unsafe_*` methods are refused unless enabled;
 * every malformed call gets a JSON-RPC error, never a crash or a hang. As CometBFT: a method's own
 * failure is -32603 "Internal error" with the reason in `data`; a parameter that cannot be read as
 * its type is -32602 "Invalid params"; URI calls answer errors with HTTP 500 (404 for an unknown
 * method), JSON-RPC POSTs with HTTP 200 unless the body itself is unreadable.
 */
import { type IncomingMessage, Server, type ServerResponse } from 'node:http';
import { CareLedgerError } from '../../packages/core/errors.ts';
import { listenOn } from '../listen.ts';
import { limitConnections } from './connections.ts';
import { type Envelope, errorEnvelope, invalidParams, methodError, RpcCode, RpcError } from './jsonrpc.ts';
import { attachWebSocket, defaultWsOptions, type WsOptions, type WsSession } from './ws.ts';

export type RpcParams = Record<string, unknown>;
export type Transport = 'uri' | 'jsonrpc' | 'websocket';

export interface CallContext {
  readonly transport: Transport;
  /** The JSON-RPC id of the call (-1 for URI calls): a subscription's events carry it. */
  readonly id: string | number;
  /** The WebSocket connection the call came over, else null. */
  readonly session: WsSession | null;
}

export interface RpcMethod {
  /** Parameter names, in CometBFT's order: positional params are matched to them. */
  readonly params: readonly string[];
  /** Only over the WebSocket (subscribe and friends), as CometBFT. */
  readonly wsOnly?: boolean;
  run(params: RpcParams, ctx: CallContext): Promise<unknown>;
}

export type RpcMethods = ReadonlyMap<string, RpcMethod>;

/** One group of methods by name (node/rpc/methods.ts composes the groups into `RpcMethods`). */
export type MethodTable = Readonly<Record<string, RpcMethod>>;

/**
 * Whether `unsafe_*` methods may be called. There is no config key for it yet (and no unsafe
 * method exists): until there is, the server refuses every name starting with `unsafe_`.
 */
export const RPC_UNSAFE_ENABLED = false;

/**
 * A handler for every path under `prefix` (e.g. '/records', '/fhir'), served before JSON-RPC
 * dispatch on the same listener: other HTTP APIs of the node (the local records API, the FHIR
 * facade) share the RPC's port, connection limits and timeouts. The route owns the response.
 */
export interface HttpRoute {
  readonly prefix: string;
  /**
   * How long a request's body may take to arrive on this route (e.g. a record upload), in ms;
   * JSON-RPC and routes without it keep the server's (REQUEST_TIMEOUT_MS).
   */
  readonly requestTimeoutMs?: number | undefined;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
}

export interface RpcOptions {
  readonly listen: string;
  readonly maxBodyBytes: number;
  readonly maxBatch: number;
  /** Open HTTP and WebSocket connections at once (CometBFT's max_open_connections). */
  readonly maxOpenConnections?: number;
  /** Open connections from one remote address at once (connections.ts). */
  readonly maxConnectionsPerAddress?: number;
  /** A connection with no request in flight for this long is closed. */
  readonly idleTimeoutMs?: number;
  /** Origins allowed by CORS; empty (the default) sends no CORS headers at all. */
  readonly corsAllowedOrigins?: readonly string[];
  readonly unsafe?: boolean;
  /** Longest a call may run before it gets an error (broadcast_tx_commit has its own, shorter). */
  readonly callTimeoutMs?: number;
  /** How long a request's body may take to arrive after its headers (routes may set their own). */
  readonly requestTimeoutMs?: number;
  readonly ws?: Partial<WsOptions>;
  readonly routes?: readonly HttpRoute[];
}

export const defaultRpcOptions = {
  maxBodyBytes: 1_000_000,
  maxBatch: 10,
  maxOpenConnections: 900,
  maxConnectionsPerAddress: 100,
  idleTimeoutMs: 5000,
  corsAllowedOrigins: [] as readonly string[],
  unsafe: RPC_UNSAFE_ENABLED,
  callTimeoutMs: 15_000,
} as const;

// ---------------------------------------------------------------------------------------------
// Parameters. URI values arrive as raw strings, possibly JSON-quoted (`?query="tm.event='Tx'"`),
// JSON values with their JSON types; each reader accepts both forms of its type, as CometBFT does.

function absent(v: unknown): boolean {
  return v === undefined || v === null || v === '';
}

/** `"…"` (a JSON string, as CometBFT's URI form) -> its content; anything else unchanged. */
function unquote(raw: string): string {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed === 'string') return parsed;
    } catch {
      // fall through: strip the quotes
    }
    return raw.slice(1, -1);
  }
  return raw;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An integer parameter (int64), or null when absent. */
export function intParam(params: RpcParams, name: string): bigint | null {
  const raw = params[name];
  if (absent(raw)) return null;
  let value: bigint | null = null;
  if (typeof raw === 'number' && Number.isSafeInteger(raw)) value = BigInt(raw);
  else if (typeof raw === 'string') {
    const text = unquote(raw);
    if (/^-?[0-9]{1,19}$/.test(text)) value = BigInt(text);
  }
  if (value === null || value < INT64_MIN || value > INT64_MAX)
    throw invalidParams(`${name} must be an integer, got ${preview(raw)}`);
  return value;
}

/** A small positive count (page, per_page, limit): clamps nothing, only reads. */
export function countParam(params: RpcParams, name: string): number | null {
  const v = intParam(params, name);
  if (v === null) return null;
  if (v > 1_000_000_000n) return 1_000_000_000;
  if (v < -1_000_000_000n) return -1_000_000_000;
  return Number(v);
}

export function boolParam(params: RpcParams, name: string): boolean {
  const raw = params[name];
  if (absent(raw)) return false;
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string') {
    const text = unquote(raw);
    if (text === 'true') return true;
    if (text === 'false') return false;
  }
  throw invalidParams(`${name} must be true or false, got ${preview(raw)}`);
}

/** A string parameter; URI values may be JSON-quoted or 0x-hex (decoded as UTF-8), as CometBFT. */
export function stringParam(params: RpcParams, name: string, transport: Transport): string | null {
  const raw = params[name];
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'string') throw invalidParams(`${name} must be a string, got ${preview(raw)}`);
  if (transport !== 'uri') return raw;
  if (/^0[xX]/.test(raw)) {
    if (!/^0[xX](?:[0-9a-fA-F]{2})*$/.test(raw)) throw invalidParams(`${name} is not valid hex`);
    return Buffer.from(raw.slice(2), 'hex').toString('utf8');
  }
  return unquote(raw);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * A bytes parameter. `0x…` is hex everywhere; a URI `"…"` is the string's own bytes; otherwise the
 * JSON form is `json` (CometBFT: base64 for []byte, hex for HexBytes such as abci_query's data).
 */
export function bytesParam(
  params: RpcParams,
  name: string,
  transport: Transport,
  json: 'base64' | 'hex',
): Uint8Array | null {
  const raw = params[name];
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'string') throw invalidParams(`${name} must be a string, got ${preview(raw)}`);
  if (/^0[xX]/.test(raw)) {
    if (!HEX.test(raw.slice(2))) throw invalidParams(`${name} is not valid hex`);
    return Buffer.from(raw.slice(2), 'hex');
  }
  if (transport === 'uri' && raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"'))
    return Buffer.from(unquote(raw), 'utf8');
  if (json === 'hex' && HEX.test(raw)) return Buffer.from(raw, 'hex');
  if (json === 'base64' && BASE64.test(raw)) return Buffer.from(raw, 'base64');
  throw invalidParams(
    `${name} must be ${json === 'hex' ? 'hex' : 'base64'} (or 0x-prefixed hex), got ${preview(raw)}`,
  );
}

/** A 32-byte hash: 0x-hex, bare hex (64 digits) or base64 (CometBFT's JSON form of []byte). */
export function hashParam(params: RpcParams, name: string, transport: Transport): Uint8Array {
  const raw = params[name];
  if (absent(raw)) throw invalidParams(`${name} is required`);
  const text = typeof raw === 'string' && transport === 'uri' ? unquote(raw) : raw;
  if (typeof text === 'string' && /^(?:0[xX])?[0-9a-fA-F]{64}$/.test(text))
    return Buffer.from(text.replace(/^0[xX]/, ''), 'hex');
  if (typeof text === 'string' && text.length === 44 && BASE64.test(text)) return Buffer.from(text, 'base64');
  throw invalidParams(`${name} must be a 32-byte hash in hex or base64, got ${preview(raw)}`);
}

function preview(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    // A value too deep to write out (bodies are bounded by MAX_JSON_DEPTH; this is the backstop).
    text = Array.isArray(v) ? '[…]' : '{…}';
  }
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * Deepest nesting of arrays and objects a request may have. CometBFT's requests are at most a few
 * levels deep; a body nested thousands of levels parses (V8's parser is iterative) but overflows
 * the stack of anything recursive that later touches it, so it is refused before parsing.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether `text` nests arrays and objects deeper than `max` (strings skipped; one pass, no parse).
 * Depth never exceeds the number of opening brackets, so a text with at most `max` of them (every
 * usual request: a batch of ten broadcasts has about thirty, its base64 none) is answered by
 * counting them with indexOf, far cheaper than the character-by-character walk that the rest get.
 */
export function nestedDeeperThan(text: string, max: number): boolean {
  if (openingBrackets(text, max + 1) <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** How many '[' and '{' `text` holds, counted up to `limit` (inside strings too). */
function openingBrackets(text: string, limit: number): number {
  let count = 0;
  for (const bracket of ['[', '{']) {
    for (let at = text.indexOf(bracket); at !== -1; at = text.indexOf(bracket, at + 1)) {
      if (++count >= limit) return count;
    }
  }
  return count;
}

/**
 * A request body or WebSocket message as JSON: -32700 if it is not JSON, -32600 if it nests deeper
 * than MAX_JSON_DEPTH (a bad request, not the server's failure).
 */
export function parseRequest(text: string): { ok: true; value: unknown } | { ok: false; error: Envelope } {
  if (nestedDeeperThan(text, MAX_JSON_DEPTH))
    return {
      ok: false,
      error: errorEnvelope(
        null,
        RpcCode.invalidRequest,
        `request nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
      ),
    };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return {
      ok: false,
      error: errorEnvelope(null, RpcCode.parse, `error unmarshaling request: ${(err as Error).message}`),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch

interface ResolvedOptions {
  readonly maxBodyBytes: number;
  readonly maxBatch: number;
  readonly maxOpenConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly idleTimeoutMs: number;
  readonly corsAllowedOrigins: readonly string[];
  readonly unsafe: boolean;
  readonly callTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly routes: readonly HttpRoute[];
}

/**
 * `work`'s outcome, or a method error once `ms` pass first; the timer is cleared either way. One
 * promise per call (every tx of a JSON-RPC batch is a call), not the three of a race and a finally.
 */
function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(methodError(`request timed out after ${ms} ms`)), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Runs one call; never throws. */
export async function dispatch(
  methods: RpcMethods,
  opts: { readonly unsafe: boolean; readonly callTimeoutMs: number },
  name: unknown,
  rawParams: unknown,
  ctx: CallContext,
): Promise<Envelope> {
  const id = ctx.id;
  if (typeof name !== 'string' || name === '')
    return errorEnvelope(id, RpcCode.invalidRequest, 'method must be a non-empty string');
  if (name.startsWith('unsafe_') && !opts.unsafe)
    return errorEnvelope(id, RpcCode.notFound, `${name}: unsafe methods are disabled on this node`);
  const method = methods.get(name);
  if (method === undefined || (method.wsOnly === true && ctx.transport !== 'websocket'))
    return errorEnvelope(id, RpcCode.notFound, '');
  let params: RpcParams;
  if (rawParams === undefined || rawParams === null) params = {};
  else if (Array.isArray(rawParams)) {
    if (rawParams.length > method.params.length)
      return errorEnvelope(
        id,
        RpcCode.invalidParams,
        `expected at most ${method.params.length} parameters (${method.params.join(', ')}), got ${rawParams.length}`,
      );
    params = Object.fromEntries(rawParams.map((v, i) => [method.params[i]!, v]));
  } else if (typeof rawParams === 'object') params = rawParams as RpcParams;
  else return errorEnvelope(id, RpcCode.invalidParams, 'params must be an object or an array');
  try {
    const result = await withTimeout(method.run(params, ctx), opts.callTimeoutMs);
    return { jsonrpc: '2.0', id, result };
  } catch (err) {
    if (err instanceof RpcError) return errorEnvelope(id, err.code, err.data);
    if (err instanceof CareLedgerError)
      return errorEnvelope(id, RpcCode.internal, `${err.code}: ${err.message}`);
    return errorEnvelope(id, RpcCode.internal, 'internal error');
  }
}

/** A JSON-RPC id must be a string or an integer; null or absent makes the call a notification. */
export function readId(
  request: Record<string, unknown>,
): { ok: true; id: string | number | null } | { ok: false } {
  const id = request.id;
  if (id === undefined || id === null) return { ok: true, id: null };
  if (typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id))) return { ok: true, id };
  return { ok: false };
}

/** Checks the JSON-RPC envelope of one request and dispatches it; null for a notification. */
export async function handleRequest(
  methods: RpcMethods,
  opts: { readonly unsafe: boolean; readonly callTimeoutMs: number },
  request: unknown,
  transport: 'jsonrpc' | 'websocket',
  session: WsSession | null,
): Promise<Envelope | null> {
  if (typeof request !== 'object' || request === null || Array.isArray(request))
    return errorEnvelope(null, RpcCode.invalidRequest, 'expected a JSON-RPC 2.0 request object');
  const r = request as Record<string, unknown>;
  const id = readId(r);
  if (!id.ok) return errorEnvelope(null, RpcCode.invalidRequest, 'id must be a string or an integer');
  if (r.jsonrpc !== '2.0') return errorEnvelope(id.id, RpcCode.invalidRequest, 'jsonrpc must be "2.0"');
  if (id.id === null) return null;
  return dispatch(methods, opts, r.method, r.params, { transport, id: id.id, session });
}

// ---------------------------------------------------------------------------------------------
// HTTP

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Reads the body up to `max` bytes; null if it is larger (the rest is not read). */
function readBody(req: IncomingMessage, max: number): Promise<string | null> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) {
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: string | null): void => {
      if (done) return;
      done = true;
      resolve(value);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        req.pause();
        finish(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => finish(null));
    req.on('close', () => finish(null));
  });
}

function uriParams(url: URL): RpcParams {
  const params: RpcParams = {};
  for (const [k, v] of url.searchParams) if (!(k in params)) params[k] = v;
  return params;
}

function corsHeaders(req: IncomingMessage, allowed: readonly string[]): Record<string, string> {
  const origin = req.headers.origin;
  if (allowed.length === 0 || origin === undefined) return {};
  if (!allowed.includes('*') && !allowed.includes(origin)) return {};
  return {
    'access-control-allow-origin': allowed.includes('*') ? '*' : origin,
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    'access-control-allow-headers': 'Origin, Accept, Content-Type, X-Requested-With, X-Server-Time',
    vary: 'Origin',
  };
}

async function handle(
  methods: RpcMethods,
  opts: ResolvedOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const cors = corsHeaders(req, opts.corsAllowedOrigins);
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    send(res, 400, errorEnvelope(null, RpcCode.invalidRequest, 'malformed URL'), cors);
    return;
  }
  const path = url.pathname.replace(/\/+$/, '');
  const route = opts.routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
  if (route !== undefined) {
    await route.handle(req, res, url);
    return;
  }
  if (req.method === 'OPTIONS' && Object.keys(cors).length > 0) {
    res.writeHead(204, cors);
    res.end();
    return;
  }
  const isRoot = path === '' || path === '/v1';
  if (req.method === 'GET' && isRoot) {
    const names = [...methods.keys()].filter((n) => !n.startsWith('unsafe_') || opts.unsafe).sort();
    send(res, 200, { jsonrpc: '2.0', id: -1, result: { methods: names } }, cors);
    return;
  }
  if (req.method === 'GET' && path === '/websocket') {
    send(
      res,
      400,
      errorEnvelope(null, RpcCode.invalidRequest, 'use a WebSocket upgrade on /websocket'),
      cors,
    );
    return;
  }
  if (req.method === 'GET' || (req.method === 'POST' && !isRoot)) {
    const name = path.slice(1);
    const envelope = await dispatch(methods, opts, name, uriParams(url), {
      transport: 'uri',
      id: -1,
      session: null,
    });
    const status = envelope.error === undefined ? 200 : envelope.error.code === RpcCode.notFound ? 404 : 500;
    send(res, status, envelope, cors);
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, errorEnvelope(null, RpcCode.invalidRequest, 'use GET or POST'), {
      ...cors,
      allow: 'GET, POST',
    });
    return;
  }
  const body = await readBody(req, opts.maxBodyBytes);
  if (body === null) {
    send(
      res,
      400,
      errorEnvelope(
        null,
        RpcCode.invalidRequest,
        `error reading request body: body over ${opts.maxBodyBytes} bytes`,
      ),
      { ...cors, connection: 'close' },
    );
    res.once('finish', () => req.destroy());
    return;
  }
  const request = parseRequest(body);
  if (!request.ok) {
    // As CometBFT: unparsable JSON is HTTP 500; a body too deep to read is a bad request, 400.
    send(res, request.error.error?.code === RpcCode.parse ? 500 : 400, request.error, cors);
    return;
  }
  const parsed = request.value;
  if (Array.isArray(parsed)) {
    if (parsed.length === 0 || parsed.length > opts.maxBatch) {
      const data =
        parsed.length === 0
          ? 'empty batch'
          : `maximum JSON-RPC batch size exceeded, got: ${parsed.length}, max: ${opts.maxBatch}`;
      send(res, 400, errorEnvelope(null, RpcCode.invalidRequest, data), cors);
      return;
    }
    const responses = (
      await Promise.all(parsed.map((r) => handleRequest(methods, opts, r, 'jsonrpc', null)))
    ).filter((e): e is Envelope => e !== null);
    if (responses.length === 0) send(res, 200, undefined, cors);
    else send(res, 200, responses, cors);
    return;
  }
  const response = await handleRequest(methods, opts, parsed, 'jsonrpc', null);
  send(res, 200, response ?? undefined, cors);
}

/** An HTTP server whose close also ends its WebSocket connections (they outlive HTTP tracking). */
class RpcServer extends Server {
  closeWebSockets: () => void = () => undefined;

  override close(callback?: (err?: Error) => void): this {
    this.closeWebSockets();
    return super.close(callback);
  }

  override closeAllConnections(): void {
    this.closeWebSockets();
    super.closeAllConnections();
  }
}

function resolveOptions(opts: RpcOptions): ResolvedOptions {
  return {
    maxBodyBytes: opts.maxBodyBytes,
    maxBatch: opts.maxBatch,
    maxOpenConnections: opts.maxOpenConnections ?? defaultRpcOptions.maxOpenConnections,
    maxConnectionsPerAddress: opts.maxConnectionsPerAddress ?? defaultRpcOptions.maxConnectionsPerAddress,
    idleTimeoutMs: opts.idleTimeoutMs ?? defaultRpcOptions.idleTimeoutMs,
    corsAllowedOrigins: opts.corsAllowedOrigins ?? defaultRpcOptions.corsAllowedOrigins,
    unsafe: opts.unsafe ?? defaultRpcOptions.unsafe,
    callTimeoutMs: opts.callTimeoutMs ?? defaultRpcOptions.callTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    routes: opts.routes ?? [],
  };
}

/** How long a request's body may take to arrive, after its headers (JSON-RPC and plain routes), by default. */
export const REQUEST_TIMEOUT_MS = 10_000;

function routeOf(routes: readonly HttpRoute[], rawUrl: string | undefined): HttpRoute | undefined {
  const path = (rawUrl ?? '/').split('?')[0]!.replace(/\/+$/, '');
  return routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
}

/**
 * Node's own `requestTimeout` is one value for the whole listener (and checked only every 30 s),
 * so the server bounds each request itself: its body must be complete within the route's
 * `requestTimeoutMs` (a record upload) or the server's (REQUEST_TIMEOUT_MS), counted from its headers, else it
 * gets 408 and the connection is closed, as Node does.
 */
function boundRequest(req: IncomingMessage, res: ServerResponse, ms: number): void {
  const timer = setTimeout(() => {
    if (req.complete) return;
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    res.once('finish', () => req.socket.destroy());
    send(
      res,
      408,
      errorEnvelope(null, RpcCode.invalidRequest, `the request did not arrive within ${ms} ms`),
      {
        connection: 'close',
      },
    );
  }, ms);
  timer.unref();
  const clear = () => clearTimeout(timer);
  req.once('end', clear);
  res.once('close', clear);
}

/** Starts the server (HTTP and WebSocket on one port); resolves once it listens. */
export async function startRpcServer(methods: RpcMethods, options: RpcOptions): Promise<Server> {
  const opts = resolveOptions(options);
  const server = new RpcServer((req, res) => {
    boundRequest(req, res, routeOf(opts.routes, req.url)?.requestTimeoutMs ?? opts.requestTimeoutMs);
    handle(methods, opts, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, errorEnvelope(null, RpcCode.internal, 'internal error'));
      else res.destroy();
    });
  });
  // A request's headers must arrive within 5 s and its body within 10 s after them (a route may
  // allow its own, longer, bound: boundRequest); connections are bounded per listener and per
  // address, idle ones closed first (connections.ts). Node's own maxConnections is not set: it
  // refuses new connections while idle ones hold every slot.
  server.requestTimeout = 0;
  server.headersTimeout = 5_000;
  server.maxHeadersCount = 100;
  // The Keep-Alive hint clients read (`timeout=N`) must not promise more idle time than we allow,
  // or a client reuses a connection just as we close it.
  server.keepAliveTimeout = Math.min(opts.idleTimeoutMs, 5000);
  limitConnections(server, {
    maxOpen: opts.maxOpenConnections,
    maxPerAddress: opts.maxConnectionsPerAddress,
    idleTimeoutMs: opts.idleTimeoutMs,
  });
  const ws = attachWebSocket(
    server,
    {
      ...defaultWsOptions,
      maxMessageBytes: opts.maxBodyBytes,
      allowedOrigins: opts.corsAllowedOrigins,
      ...options.ws,
    },
    async (session, text) => {
      const parsed = parseRequest(text);
      if (!parsed.ok) return parsed.error;
      const request = parsed.value;
      if (Array.isArray(request))
        return errorEnvelope(null, RpcCode.invalidRequest, 'batches are not supported over the WebSocket');
      return handleRequest(methods, opts, request, 'websocket', session);
    },
  );
  server.closeWebSockets = () => ws.closeAll();
  await listenOn(server, options.listen, 'rpc.listen');
  return server;
}
