/**
 * The node key is the node's libp2p identity: the 32-byte ed25519 seed persisted in the home
 * folder becomes the private key that noise authenticates with, so a peer id in the member list
 * names exactly one key. Derivation is synchronous (the public key comes from the node's one
 * ed25519 module) so config tools can print peer ids without starting anything.
 */

import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { CareLedgerError } from '../packages/core/errors.ts';
import { keyPairFromSeed, SECRET_KEY_BYTES } from '../packages/crypto/ed25519.ts';
import { toHex } from '../packages/crypto/hash.ts';
import { addressOf } from '../packages/types/validator.ts';

/** The libp2p private key for a node key seed (libp2p's raw ed25519 form is seed || public key). */
export function privateKeyFromNodeKey(seed: Uint8Array): PrivateKey {
  if (!(seed instanceof Uint8Array) || seed.length !== SECRET_KEY_BYTES) {
    throw new CareLedgerError('P2P_INVALID_NODE_KEY', `node key seed must be ${SECRET_KEY_BYTES} bytes`);
  }
  const { publicKey } = keyPairFromSeed(seed);
  const raw = new Uint8Array(SECRET_KEY_BYTES + publicKey.length);
  raw.set(seed, 0);
  raw.set(publicKey, SECRET_KEY_BYTES);
  return privateKeyFromRaw(raw);
}

/** The peer id string (base58btc, `12D3KooW…`) of the node whose node key seed is `seed`. */
export function peerIdFromNodeKey(seed: Uint8Array): string {
  return peerIdFromPrivateKey(privateKeyFromNodeKey(seed)).toString();
}

/** Parses a peer id string, refusing anything that is not one (the typed error names the input). */
export function parsePeerId(id: string): PeerId {
  try {
    return peerIdFromString(id);
  } catch {
    throw new CareLedgerError('P2P_BAD_PEER_ID', `${JSON.stringify(id)} is not a peer id`);
  }
}

/**
 * CometBFT's node id for a peer: the 20-byte address of its ed25519 node key (the first 20 bytes
 * of sha256 of the public key, as a validator address), as 40 lower-case hex digits. What CometBFT
 * clients expect in `node_info.id`; the libp2p peer id names the same key in another encoding.
 */
export function cometNodeIdOf(peerId: string): string {
  const key = parsePeerId(peerId).publicKey;
  if (key?.type !== 'Ed25519')
    throw new CareLedgerError('P2P_BAD_PEER_ID', `${JSON.stringify(peerId)} is not an ed25519 peer id`);
  return toHex(addressOf(key.raw));
}
