/**
 * p2p/identity.ts: the peer id of a node key equals the one libp2p derives on its own (async,
 * noble) path, is stable across calls, differs between keys, and bad seeds or ids are refused.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePeerId, peerIdFromNodeKey, privateKeyFromNodeKey } from '../../../p2p/identity.ts';
import { hasCode } from '../../../packages/core/errors.ts';

test('the node key peer id matches libp2p own derivation', async () => {
  for (const fill of [0, 1, 7, 255]) {
    const seed = new Uint8Array(32).fill(fill);
    const expected = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString();
    assert.is(peerIdFromNodeKey(seed), expected);
    assert.is(peerIdFromNodeKey(seed), expected, 'stable');
    assert.ok(expected.startsWith('12D3KooW'), 'an ed25519 peer id');
    // The private key signs like libp2p's own.
    const ours = privateKeyFromNodeKey(seed);
    const theirs = await generateKeyPairFromSeed('Ed25519', seed);
    const message = Uint8Array.of(1, 2, 3);
    assert.equal(await ours.sign(message), await theirs.sign(message));
  }
  assert.is.not(peerIdFromNodeKey(new Uint8Array(32).fill(1)), peerIdFromNodeKey(new Uint8Array(32).fill(2)));
});

test('seeds that are not 32 bytes are refused', () => {
  for (const bad of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(64)]) {
    try {
      peerIdFromNodeKey(bad);
      assert.unreachable('accepted a bad seed');
    } catch (err) {
      assert.ok(hasCode(err, 'P2P_INVALID_NODE_KEY'), String(err));
    }
  }
});

test('parsePeerId refuses strings that are not peer ids', () => {
  const id = peerIdFromNodeKey(new Uint8Array(32).fill(3));
  assert.is(parsePeerId(id).toString(), id);
  for (const bad of ['', 'hello', `${id}x`, id.slice(0, -1)]) {
    try {
      parsePeerId(bad);
      assert.unreachable(`accepted ${bad}`);
    } catch (err) {
      assert.ok(hasCode(err, 'P2P_BAD_PEER_ID'), String(err));
    }
  }
});

test.run();
