/**
 * Shared by the node module tests: a Logger that records what it is told, so a test can assert
 * what a module logged (and the logs stay out of the test output).
 * Not a test file itself (no `.test.ts`), so the runner does not pick it up.
 */
import type { Logger } from '../../../node/log.ts';

export interface Recorded {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: Record<string, unknown> | undefined;
}

export function recordingLogger(into: Recorded[] = []): Logger & { readonly lines: Recorded[] } {
  const at =
    (level: Recorded['level']) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      into.push({ level, msg, fields });
    };
  const log = {
    lines: into,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => log,
  };
  return log;
}
