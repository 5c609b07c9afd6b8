/**
 * The node's RPC server, with CometBFT's paths and JSON shapes so existing tools can drive it:
 * URI GET (`/status`, `/block?height=5`, `/broadcast_tx_sync?tx=0x…`) and JSON-RPC 2.0 POST with
 * the same method names. Bounded: request bodies and batches have limits, every malformed call
 * gets a JSON-RPC error (never a crash or a hang), and it listens on loopback unless configured.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CareLedgerError } from '../packages/core/errors.ts';

export type RpcParams = Record<string, unknown>;
export type RpcMethod = (params: RpcParams) => Promise<unknown>;

export interface RpcOptions {
  readonly listen: string;
  readonly maxBodyBytes: number;
  readonly maxBatch: number;
}

export const defaultRpcOptions = { maxBodyBytes: 1_000_000, maxBatch: 10 } as const;

/** JSON-RPC error codes, as CometBFT uses them. */
export const RpcCode = {
  parse: -32700,
  invalidRequest: -32600,
  notFound: -32601,
  invalidParams: -32602,
  internal: -32603,
} as const;

export class RpcError extends Error {
  readonly code: number;
  readonly data: string;

  constructor(code: number, message: string, data: string) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

export function invalidParams(data: string): RpcError {
  return new RpcError(RpcCode.invalidParams, 'Invalid params', data);
}

interface Envelope {
  jsonrpc: '2.0';
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data: string };
}

async function call(
  methods: ReadonlyMap<string, RpcMethod>,
  method: unknown,
  params: RpcParams,
  id: unknown,
): Promise<Envelope> {
  const fn = typeof method === 'string' ? methods.get(method) : undefined;
  if (fn === undefined) {
    return {
      jsonrpc: '2.0',
      id,
      error: { code: RpcCode.notFound, message: 'Method not found', data: String(method) },
    };
  }
  try {
    return { jsonrpc: '2.0', id, result: await fn(params) };
  } catch (err) {
    if (err instanceof RpcError)
      return { jsonrpc: '2.0', id, error: { code: err.code, message: err.message, data: err.data } };
    const data = err instanceof CareLedgerError ? `${err.code}: ${err.message}` : 'internal error';
    return { jsonrpc: '2.0', id, error: { code: RpcCode.internal, message: 'Internal error', data } };
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage, max: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** URI parameters arrive as strings; CometBFT accepts quoted strings too (`?hash="0x…"`). */
function uriParams(url: URL): RpcParams {
  const params: RpcParams = {};
  for (const [k, v] of url.searchParams)
    params[k] = v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
  return params;
}

async function handle(
  methods: ReadonlyMap<string, RpcMethod>,
  opts: RpcOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET') {
    const name = url.pathname.slice(1);
    if (name === '') {
      send(res, 200, { jsonrpc: '2.0', id: -1, result: { methods: [...methods.keys()].sort() } });
      return;
    }
    const envelope = await call(methods, name, uriParams(url), -1);
    send(
      res,
      envelope.error === undefined ? 200 : envelope.error.code === RpcCode.notFound ? 404 : 500,
      envelope,
    );
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, {
      jsonrpc: '2.0',
      id: null,
      error: { code: RpcCode.invalidRequest, message: 'Invalid Request', data: 'use GET or POST' },
    });
    return;
  }
  const body = await readBody(req, opts.maxBodyBytes);
  if (body === null) {
    send(res, 413, {
      jsonrpc: '2.0',
      id: null,
      error: {
        code: RpcCode.invalidRequest,
        message: 'Invalid Request',
        data: `body over ${opts.maxBodyBytes} bytes`,
      },
    });
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    send(res, 400, {
      jsonrpc: '2.0',
      id: null,
      error: { code: RpcCode.parse, message: 'Parse error', data: 'body is not JSON' },
    });
    return;
  }
  const one = async (request: unknown): Promise<Envelope> => {
    if (
      typeof request !== 'object' ||
      request === null ||
      (request as { jsonrpc?: unknown }).jsonrpc !== '2.0'
    ) {
      return {
        jsonrpc: '2.0',
        id: null,
        error: {
          code: RpcCode.invalidRequest,
          message: 'Invalid Request',
          data: 'expected a JSON-RPC 2.0 object',
        },
      };
    }
    const r = request as { id?: unknown; method?: unknown; params?: unknown };
    const params = r.params ?? {};
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      return {
        jsonrpc: '2.0',
        id: r.id ?? null,
        error: { code: RpcCode.invalidParams, message: 'Invalid params', data: 'params must be an object' },
      };
    }
    return call(methods, r.method, params as RpcParams, r.id ?? null);
  };
  if (Array.isArray(parsed)) {
    if (parsed.length === 0 || parsed.length > opts.maxBatch) {
      send(res, 400, {
        jsonrpc: '2.0',
        id: null,
        error: {
          code: RpcCode.invalidRequest,
          message: 'Invalid Request',
          data: `a batch holds 1 to ${opts.maxBatch} calls`,
        },
      });
      return;
    }
    send(res, 200, await Promise.all(parsed.map(one)));
    return;
  }
  send(res, 200, await one(parsed));
}

/** Starts the server; resolves once it listens. */
export async function startRpcServer(
  methods: ReadonlyMap<string, RpcMethod>,
  opts: RpcOptions,
): Promise<Server> {
  const server = createServer((req, res) => {
    handle(methods, opts, req, res).catch(() => {
      if (!res.headersSent)
        send(res, 500, {
          jsonrpc: '2.0',
          id: null,
          error: { code: RpcCode.internal, message: 'Internal error', data: 'internal error' },
        });
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  const separator = opts.listen.lastIndexOf(':');
  const host = opts.listen.slice(0, separator).replace(/^\[|\]$/g, '');
  const port = Number(opts.listen.slice(separator + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
