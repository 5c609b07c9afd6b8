/**
 * The governance parameters (`h/params`): their names on the wire, bounds, defaults and encoding.
 */
import { encode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import { healthError } from '../errors.ts';
import { readBytes } from './read.ts';

export interface Params {
  /** How long a break-glass declaration lets its provider receive the patient's records. */
  readonly breakGlassWindowMs: bigint;
  /** The longest an access request may stay open. */
  readonly requestMaxTtlMs: bigint;
  /** The furthest a proposal's deadline may be, in blocks after the proposal. */
  readonly proposalMaxBlocks: bigint;
}

export const PARAM_NAMES = {
  break_glass_window_ms: 'breakGlassWindowMs',
  request_max_ttl_ms: 'requestMaxTtlMs',
  proposal_max_blocks: 'proposalMaxBlocks',
} as const satisfies Record<string, keyof Params>;
export type ParamName = keyof typeof PARAM_NAMES;

export const PARAM_BOUNDS: Record<keyof Params, readonly [bigint, bigint]> = {
  breakGlassWindowMs: [60_000n, 72n * 3_600_000n],
  requestMaxTtlMs: [3_600_000n, 365n * 86_400_000n],
  proposalMaxBlocks: [10n, 10_000_000n],
};

export const defaultParams: Params = {
  breakGlassWindowMs: 4n * 3_600_000n,
  requestMaxTtlMs: 30n * 86_400_000n,
  proposalMaxBlocks: 100_000n,
};

export function checkParam(name: keyof Params, value: bigint): bigint {
  const [min, max] = PARAM_BOUNDS[name];
  if (value < min || value > max)
    throw healthError('GOV_ACTION_INVALID', `parameter ${name} must be from ${min} to ${max}`);
  return value;
}

export function encodeParams(p: Params): Uint8Array {
  return encode([p.breakGlassWindowMs, p.requestMaxTtlMs, p.proposalMaxBlocks]);
}

export function decodeParams(bytes: Uint8Array): Params {
  const f = s.tuple(readBytes(bytes, 'params'), 3, 'params');
  return {
    breakGlassWindowMs: s.u64(f[0]!, 'params.breakGlassWindowMs'),
    requestMaxTtlMs: s.u64(f[1]!, 'params.requestMaxTtlMs'),
    proposalMaxBlocks: s.u64(f[2]!, 'params.proposalMaxBlocks'),
  };
}
