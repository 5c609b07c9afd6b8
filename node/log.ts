/**
 * Structured logs through pino: JSON lines on stderr with a `module` field, levels set per module
 * in config (`log.levels`), or a pretty mode for a person at a terminal (`log.format: "pretty"`).
 * Only operational facts are logged (heights, peers, codes): never keys, never tx payloads.
 */
import pino from 'pino';
import type { LogLevel } from './config.ts';

export type { LogLevel };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(module: string): Logger;
}

export interface LogOptions {
  readonly level: LogLevel;
  readonly format: 'json' | 'pretty';
  readonly levels: Readonly<Record<string, LogLevel>>;
}

/**
 * A module's logger. Children are made from the root, not from this logger: pino appends a child's
 * bindings to its parent's, so a `p2p` child of `node` would print `"module"` twice.
 */
function moduleLogger(root: pino.Logger, module: string, opts: LogOptions): Logger {
  const logger = root.child({ module }, { level: opts.levels[module] ?? opts.level });
  return {
    debug: (msg, fields) => logger.debug(fields ?? {}, msg),
    info: (msg, fields) => logger.info(fields ?? {}, msg),
    warn: (msg, fields) => logger.warn(fields ?? {}, msg),
    error: (msg, fields) => logger.error(fields ?? {}, msg),
    child: (child) => moduleLogger(root, child, opts),
  };
}

export function createLogger(opts: LogOptions, base: Record<string, unknown> = {}): Logger {
  // Per-module levels can be lower than the default, so the root passes everything they may need.
  const levels = [opts.level, ...Object.values(opts.levels)];
  const lowest = (['debug', 'info', 'warn', 'error'] as const).find((l) => levels.includes(l)) ?? 'info';
  const root = pino(
    {
      level: lowest,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.format === 'pretty'
      ? pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: process.stderr.isTTY } })
      : pino.destination({ dest: 2, sync: true }),
  );
  return moduleLogger(root, 'node', opts);
}
