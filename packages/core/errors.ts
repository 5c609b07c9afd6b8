/**
 * One error type for the whole node. Every failure has a stable string `code` that operators,
 * clients and tests match on, and one clear sentence. Errors caused by bytes a peer sent also
 * carry the gossip action: `ignore` (stale or duplicate, harmless) or `reject` (invalid: the
 * sender is scored down and the message is not relayed).
 */

export type PeerAction = 'ignore' | 'reject';

export class CareLedgerError extends Error {
  readonly code: string;
  readonly action: PeerAction | undefined;

  constructor(code: string, message: string, action?: PeerAction) {
    super(message);
    this.name = 'CareLedgerError';
    this.code = code;
    this.action = action;
  }
}

/** Shorthand for an input rejected as invalid (the default action for bad bytes from a peer). */
export function invalid(code: string, message: string): CareLedgerError {
  return new CareLedgerError(code, message, 'reject');
}

/** True if `err` is a CareLedgerError with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof CareLedgerError && err.code === code;
}

/**
 * `JSON.parse(text)`, or error `code` saying "`what`: not valid JSON (the parser's reason)" on
 * one line (the parser quotes the text, newlines and all).
 */
export function parseJsonOr(code: string, what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CareLedgerError(
      code,
      `${what}: not valid JSON (${(err as Error).message.replace(/\s+/g, ' ')})`,
    );
  }
}

/**
 * Why a socket could not be bound, from the errno a listener reports: its `code`, a `cause`'s, or
 * inside the message (libp2p folds its transports' errors into its own message).
 */
const LISTEN_ERRNOS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is already in use (another node or program listens there)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'no network interface of this machine has that address',
};

/**
 * The error for a listener that failed to bind `listen` (config field `field`): code
 * `NODE_LISTEN_FAILED` and a sentence an operator can act on, instead of a stack trace.
 */
export function listenFailed(field: string, listen: string, err: unknown): CareLedgerError {
  let reason = err instanceof Error ? err.message : String(err);
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const { code } = e as { code?: unknown };
    const errno = typeof code === 'string' ? code : /\b(E[A-Z]+)\b/.exec(e.message)?.[1];
    const known = errno === undefined ? undefined : LISTEN_ERRNOS[errno];
    if (known !== undefined) {
      reason = known;
      break;
    }
  }
  return new CareLedgerError('NODE_LISTEN_FAILED', `cannot listen on ${field} ${listen}: ${reason}`);
}
