/**
 * What the record commands that talk to a node's vault (put, fetch, erase) share: the signer key
 * that also signs the local API's requests, and the node's address.
 */

import { CareLedgerError } from '../../core/errors.ts';
import type { KeyPair } from '../../crypto/ed25519.ts';
import { optStr } from '../args.ts';
import type { Context } from '../command.ts';
import { DEFAULT_NODE } from '../io.ts';

/** The --key pair of a command that needs a signer. */
export function signerOf(ctx: Context): KeyPair {
  if (ctx.key === null) throw new CareLedgerError('CLI_NO_KEY', 'this command needs --key');
  return ctx.key;
}

/** The node in --node: its RPC and, on the same listener, its local records API. */
export function nodeOf(ctx: Context): string {
  return optStr(ctx.v, 'node') ?? DEFAULT_NODE;
}
