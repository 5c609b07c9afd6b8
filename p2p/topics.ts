/**
 * The names CareLedger uses on the wire, built and parsed in this one place: the gossip topics
 * (`/careledger/<chainId>/tx/1`, `/careledger/<chainId>/consensus/1`,
 * `/careledger/<chainId>/evidence/1`) and the request/response
 * protocols (`/careledger/<chainId>/sync/1`, and any other registered through `protocolId`). The chain id is part of every name, so nodes of two
 * chains never exchange a message even if they reach each other; the trailing number is the
 * version of the encoding carried, bumped instead of changing a topic's meaning in place.
 */
import { CareLedgerError } from '../packages/core/errors.ts';

/**
 * What a gossip topic carries: client txs, consensus messages, or evidence lists (node/README.md).
 * Evidence has its own topic, as CometBFT's evidence reactor has its own channel: each topic has
 * its own bounded validation queue, so checking peers' evidence never crowds out votes.
 */
export type TopicKind = 'tx' | 'consensus' | 'evidence';

export const TOPIC_KINDS: readonly TopicKind[] = ['tx', 'consensus', 'evidence'];

const TOPIC_VERSION = 1;
const SYNC_VERSION = 1;

// A chain id becomes a path segment: no '/', no whitespace, bounded.
const CHAIN_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Throws unless `chainId` can be used inside a topic or protocol name. */
export function checkChainId(chainId: string): void {
  if (!CHAIN_ID.test(chainId)) {
    throw new CareLedgerError(
      'P2P_INVALID_OPTIONS',
      `chain id ${JSON.stringify(chainId)} must be 1 to 64 characters of A-Z a-z 0-9 . _ -`,
    );
  }
}

export function isTopicKind(value: string): value is TopicKind {
  return (TOPIC_KINDS as readonly string[]).includes(value);
}

export function topicName(chainId: string, kind: TopicKind): string {
  checkChainId(chainId);
  return `/careledger/${chainId}/${kind}/${TOPIC_VERSION}`;
}

/** The kind of a topic of this chain and version, or null for any other string. */
export function parseTopic(chainId: string, topic: string): TopicKind | null {
  const parts = topic.split('/');
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== 'careledger') return null;
  if (parts[2] !== chainId || parts[4] !== String(TOPIC_VERSION)) return null;
  const kind = parts[3]!;
  return isTopicKind(kind) ? kind : null;
}

// A protocol name is one lower-case path segment.
const PROTOCOL_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** The id of request/response protocol `name`, version `version`: `/careledger/<chainId>/<name>/<version>`. */
export function protocolId(chainId: string, name: string, version: number): string {
  checkChainId(chainId);
  if (!PROTOCOL_NAME.test(name) || isTopicKind(name)) {
    throw new CareLedgerError(
      'P2P_INVALID_OPTIONS',
      `protocol name ${JSON.stringify(name)} must be 1 to 32 of a-z 0-9 - and not a topic kind`,
    );
  }
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new CareLedgerError('P2P_INVALID_OPTIONS', `protocol version must be a positive integer`);
  }
  return `/careledger/${chainId}/${name}/${version}`;
}

/** The sync protocol id (block sync, direct sends). */
export function syncProtocol(chainId: string): string {
  return protocolId(chainId, 'sync', SYNC_VERSION);
}
