/**
 * The period flags of the list commands (`--from`, `--to`): which chain times (unix ms) a list
 * keeps. --from is inclusive; --to is inclusive too, and a day (`2026-06-30`) means through the
 * end of that day, as a person reading "from June 1 to June 30" expects.
 */
import { DAY_MS } from '../health/codes.ts';
import { argsError, DATE, type OptionSpecs, optStr, parseTime, type Values } from './args.ts';
import { isoTime } from './output.ts';

export const periodOptions: OptionSpecs = {
  from: { arg: 'TIME', help: 'only from this UTC date or time (inclusive)' },
  to: { arg: 'TIME', help: 'only up to this UTC date (the whole day) or time (inclusive)' },
};

export interface Period {
  /** True when neither flag is given. */
  readonly all: boolean;
  includes(time: bigint): boolean;
  /** `from … to …`, for "no disclosures from … to …". */
  readonly text: string;
}

export function periodArg(v: Values): Period {
  const fromText = optStr(v, 'from');
  const toText = optStr(v, 'to');
  const from = fromText === undefined ? null : parseTime(fromText, 'from');
  // The first ms after the period.
  const end = toText === undefined ? null : parseTime(toText, 'to') + (DATE.test(toText) ? DAY_MS : 1n);
  if (from !== null && end !== null && end <= from) throw argsError('--to is before --from');
  return {
    all: from === null && end === null,
    includes: (t) => (from === null || t >= from) && (end === null || t < end),
    text: [from === null ? '' : `from ${isoTime(from)}`, end === null ? '' : `before ${isoTime(end)}`]
      .filter((s) => s !== '')
      .join(' '),
  };
}
