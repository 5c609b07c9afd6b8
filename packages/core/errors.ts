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
