/**
 * JSON-RPC 2.0 as CometBFT speaks it: the error codes and messages, the error a method throws,
 * and the response envelope. Shared by the HTTP server and the WebSocket (which import nothing
 * of each other's but this).
 */
/** JSON-RPC error codes, as CometBFT uses them. */
export const RpcCode = {
  parse: -32700,
  invalidRequest: -32600,
  notFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  server: -32000,
} as const;

const MESSAGES: Record<number, string> = {
  [RpcCode.parse]: 'Parse error. Invalid JSON',
  [RpcCode.invalidRequest]: 'Invalid Request',
  [RpcCode.notFound]: 'Method not found',
  [RpcCode.invalidParams]: 'Invalid params',
  [RpcCode.internal]: 'Internal error',
  [RpcCode.server]: 'Server error',
};

export class RpcError extends Error {
  readonly code: number;
  readonly data: string;

  constructor(code: number, data: string) {
    super(MESSAGES[code] ?? 'Internal error');
    this.code = code;
    this.data = data;
  }
}

/** A parameter that cannot be read as its type. */
export function invalidParams(data: string): RpcError {
  return new RpcError(RpcCode.invalidParams, data);
}

/** The method's own failure (height out of range, tx not found, …), as CometBFT reports it. */
export function methodError(data: string): RpcError {
  return new RpcError(RpcCode.internal, data);
}

export interface ErrorObject {
  code: number;
  message: string;
  data?: string;
}

export interface Envelope {
  jsonrpc: '2.0';
  id: string | number | null;
  result?: unknown;
  error?: ErrorObject;
}

export function errorEnvelope(id: string | number | null, code: number, data: string): Envelope {
  const error: ErrorObject = { code, message: MESSAGES[code] ?? 'Internal error' };
  if (data !== '') error.data = data;
  return { jsonrpc: '2.0', id, error };
}
