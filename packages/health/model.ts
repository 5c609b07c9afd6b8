/**
 * The objects the health-data application keeps in its state, with their canonical encodings.
 * A query answer's value is exactly one of these encodings (the Merkle leaf's value), so a client
 * decodes it with the same functions the chain used to write it. Every field is an id, a code, a
 * hash, a key, a number or a time: there is no free text to hold personal data.
 *
 * Times are unix ms (bigint), heights are bigints, amounts are integer cents (bigint).
 *
 * This file is the table of contents; each object lives in model/ with its type, fields and
 * encode/decode together:
 * - limits.ts: limits that are part of the rules (not governance parameters)
 * - params.ts: governance parameters
 * - chain.ts: chain meta, block info, validators, key bindings, id lists, counts, list pages
 * - members.ts, patients.ts (and delegates), records.ts (anchors), consents.ts, requests.ts
 * - access.ts: access events (disclosures) and break-glass
 * - claims.ts, governance.ts (actions and proposals)
 * - read.ts: the decoders' small readers (not exported from here) and `unreachable`
 */
export * from './model/access.ts';
export * from './model/chain.ts';
export * from './model/claims.ts';
export * from './model/consents.ts';
export * from './model/governance.ts';
export * from './model/limits.ts';
export * from './model/members.ts';
export * from './model/params.ts';
export * from './model/patients.ts';
export { unreachable } from './model/read.ts';
export * from './model/records.ts';
export * from './model/requests.ts';
