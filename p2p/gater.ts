/**
 * The member-only connection gater. CareLedger is permissioned: only the peer ids of consortium
 * members may hold a connection. A dial is refused before a socket opens when the target's peer
 * id is known (`denyDialPeer`, `denyDialMultiaddr` with `/p2p/`), and every connection, inbound or
 * outbound, is refused right after the noise handshake proves the remote's key
 * (`deny*EncryptedConnection`), before any protocol (identify, gossipsub, sync) runs on it. The
 * upgraded-connection checks repeat the test so a membership change that lands mid-handshake
 * cannot slip through. Relays are refused outright.
 *
 * Membership is replaceable at run time (`setMembers`), because the member set lives on chain.
 */
import type { ConnectionGater, PeerId } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { parsePeerId } from './identity.ts';

export interface MemberGater {
  readonly gater: ConnectionGater;
  isMember(id: string): boolean;
  /** Replaces the member set; returns the ids that stopped being members. */
  setMembers(ids: readonly string[]): string[];
  members(): string[];
}

/** Canonical string forms of `ids`; throws P2P_BAD_PEER_ID on the first that is not a peer id. */
export function normalizeMembers(ids: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const id of ids) out.add(parsePeerId(id).toString());
  return out;
}

export function createMemberGater(initial: readonly string[]): MemberGater {
  let current = normalizeMembers(initial);
  const denyPeer = (peerId: PeerId): boolean => !current.has(peerId.toString());
  const denyAddr = (addr: Multiaddr): boolean => {
    const id = addr.getPeerId();
    // An address without /p2p/ is allowed to be dialled: the encrypted check refuses it if the key
    // it turns out to hold is not a member's.
    return id !== null && !current.has(id);
  };

  const gater: ConnectionGater = {
    denyDialPeer: denyPeer,
    denyDialMultiaddr: denyAddr,
    denyInboundConnection: () => false,
    denyOutboundConnection: (peerId) => denyPeer(peerId),
    denyInboundEncryptedConnection: (peerId) => denyPeer(peerId),
    denyOutboundEncryptedConnection: (peerId) => denyPeer(peerId),
    denyInboundUpgradedConnection: (peerId) => denyPeer(peerId),
    denyOutboundUpgradedConnection: (peerId) => denyPeer(peerId),
    denyInboundRelayReservation: () => true,
    denyOutboundRelayedConnection: () => true,
    denyInboundRelayedConnection: () => true,
    // Only members' addresses are worth keeping in the peer store.
    filterMultiaddrForPeer: (peerId) => !denyPeer(peerId),
  };

  return {
    gater,
    isMember: (id) => current.has(id),
    setMembers(ids) {
      const next = normalizeMembers(ids);
      const removed = [...current].filter((id) => !next.has(id));
      current = next;
      return removed;
    },
    members: () => [...current],
  };
}
