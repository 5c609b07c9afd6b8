/**
 * A validator that double-signs is caught on chain: its two conflicting prevotes become
 * DuplicateVoteEvidence in a committed block, and the chain stays safe and live.
 *
 * Real node processes on loopback; validators 0-2 run (3 of 4 equal powers keep committing).
 * Validator 3 is byzantine: its operator runs, instead of the node, a libp2p host (rogue-peer.ts,
 * built by the project's own `createP2PHost`) holding node 3's node key (a member, so node 0
 * admits it) and validator 3's consensus key, which signs two prevotes for the same height and
 * round with different block ids. This needs no test-only switch in the node: the byzantine side
 * is outside it, as a real one would be. The ports are this file's own (22656 on).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadHome } from '../../node/home.ts';
import { peerIdFromNodeKey } from '../../p2p/identity.ts';
import { genesisValidatorSet } from '../../packages/types/genesis.ts';
import { Consortium, waitUntil } from './harness.ts';
import { PeerProcess } from './peer-process.ts';

const net = Consortium.create({ validators: 4, basePort: 22656 });
const homes = net.homes.map((home) => loadHome(home));
const ids = homes.map((h) => peerIdFromNodeKey(h.nodeKeySeed));
// Testnet ports are base + 10·i + {0, 1, 4}; 22691..22700 are free.
const ROGUE_PORT = 22697;
const HONEST = [0, 1, 2];

interface EvidenceJson {
  type: string;
  value: {
    vote_a: {
      type: number;
      height: string;
      round: number;
      validator_address: string;
      block_id: { hash: string };
    };
    vote_b: {
      type: number;
      height: string;
      round: number;
      validator_address: string;
      block_id: { hash: string };
    };
    validator_power: string;
  };
}
type BlockJson = { block_id: { hash: string }; block: { evidence: { evidence: EvidenceJson[] } } };

let rogue: PeerProcess | null = null;
test.after(async () => {
  rogue?.kill();
  await net.destroy();
});

test("an equivocating validator's two prevotes land in a block as evidence; the chain stays one and live", async () => {
  for (const i of HONEST) net.start(i);
  await Promise.all(HONEST.map((i) => net.waitForHeight(i, 2n, 30_000)));

  const set = genesisValidatorSet(homes[0]!.genesis);
  const byzantine = homes[3]!.validatorKey;
  const index = set.validators.findIndex((v) => Buffer.from(v.pubKey).equals(byzantine.publicKey));
  assert.ok(index >= 0, 'validator 3 is in the genesis set');
  const address = Buffer.from(set.validators[index]!.address).toString('hex').toUpperCase();

  rogue = new PeerProcess({
    chainId: net.chainId,
    seedHex: Buffer.from(homes[3]!.nodeKeySeed).toString('hex'),
    members: [ids[0]!],
    port: ROGUE_PORT,
    maxMessageBytes: homes[0]!.config.p2p.maxMessageBytes,
  });
  assert.is((await rogue.ready).peerId, ids[3]);
  const p2p0 = `${homes[0]!.config.p2p.listen}/p2p/${ids[0]}`;
  assert.is((await rogue.call('dial', { addr: p2p0 })).outcome, 'open', 'a member connects');
  const peer = rogue;
  await waitUntil(
    'node 0 subscribed to the consensus topic at the byzantine peer',
    async () =>
      ((await peer.call('stats', { peer: ids[0] })).topicPeers as { consensus: string[] }).consensus.includes(
        ids[0]!,
      ),
    10_000,
    () => net.logTail(0),
  );

  const sent = await rogue.call('equivocate', {
    peer: ids[0],
    validatorSeedHex: Buffer.from(byzantine.secretKey).toString('hex'),
    validatorIndex: index,
    validatorAddressHex: address,
  });
  assert.equal(
    sent.outcomes,
    [
      { status: 'published', recipients: 1 },
      { status: 'published', recipients: 1 },
    ],
    'both prevotes went to node 0',
  );
  const height = BigInt(sent.height as string);
  const signedIds = (sent.blockIds as string[]).slice().sort();

  // Node 0 sees the conflict when it reaches that height and gossips the evidence on the evidence
  // topic, so nodes 1 and 2 hold it too: whichever honest validator proposes first includes it.
  // Scan committed blocks.
  let found: { at: bigint; evidence: EvidenceJson } | null = null;
  let scanned = height;
  await waitUntil(
    `evidence against validator 3 in a block from height ${height}`,
    async () => {
      const top = await net.height(0);
      for (; found === null && scanned <= top; scanned++) {
        const b = await net.rpc<BlockJson>(0, `/block?height=${scanned}`);
        const e = b.block.evidence.evidence[0];
        if (e !== undefined) found = { at: scanned, evidence: e };
      }
      return found !== null;
    },
    60_000,
    () => net.logTails(),
  );
  const { at, evidence } = found!;
  assert.is(evidence.type, 'tendermint/DuplicateVoteEvidence');
  const { vote_a: a, vote_b: b } = evidence.value;
  for (const vote of [a, b]) {
    assert.is(vote.validator_address, address, 'the evidence names the byzantine validator');
    assert.is(vote.height, height.toString());
    assert.is(vote.round, 0);
    assert.is(vote.type, 1, 'prevotes');
  }
  assert.equal([a.block_id.hash, b.block_id.hash].sort(), signedIds, 'the two block ids it signed');
  assert.is(evidence.value.validator_power, '10');

  // Safety and liveness: the honest nodes commit on, every one holds the same chain, the
  // evidence block included, and the evidence is committed once only: three nodes held it and
  // re-gossip it every few seconds until committed, so look on for more than one re-gossip period
  // (a block is about a second) for a second copy proposed by a node that had not yet dropped it.
  const until = at + 8n;
  await Promise.all(HONEST.map((i) => net.waitForHeight(i, until, 30_000)));
  for (let h = 1n; h <= until; h++) {
    const blocks = await Promise.all(HONEST.map((i) => net.rpc<BlockJson>(i, `/block?height=${h}`)));
    for (const [j, block] of blocks.entries())
      assert.is(block.block_id.hash, blocks[0]!.block_id.hash, `node ${HONEST[j]} differs at height ${h}`);
    const count = blocks[0]!.block.evidence.evidence.length;
    assert.is(count, h === at ? 1 : 0, `evidence in the block of height ${h}`);
  }
  await rogue.stop();
});

test.run();
