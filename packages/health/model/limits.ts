/**
 * Limits that are part of the rules, not governance parameters: changing one changes which states
 * and txs are valid, so each is fixed here for every object that uses it.
 */

export const MAX_MEMBERS = 200;
export const MAX_DELEGATES = 8;
export const MAX_CLAIM_LINES = 50;
export const MAX_LINE_RECORDS = 16;
export const MAX_ACCESS_RECORDS = 32;
export const MAX_RECORD_BYTES = 2n ** 40n;
/** $10 million in cents: no single service line is larger. */
export const MAX_LINE_AMOUNT = 1_000_000_000n;
export const MAX_VALIDATOR_POWER = 1_000_000_000_000n;
export const MAX_OPEN_PROPOSALS = 64;
