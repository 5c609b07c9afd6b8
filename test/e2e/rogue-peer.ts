/**
 * Child process of p2p.test.ts: one libp2p host built by the project's own `createP2PHost` (same
 * transports, noise prologue, gater, gossipsub options), driven over stdin/stdout with one JSON
 * object per line. The parent decides the key: a fresh random one (an outsider) or a member's real
 * node key (a rogue member). The host has no persistent peers; it dials only when told to.
 *
 * Argument: JSON { chainId, seedHex | null (random), members, listen, maxMessageBytes }.
 * Commands: { id, cmd, ... } → reply { id, ok: true, ... } or { id, ok: false, error }.
 *   dial { addr }            dial, then report whether the connection survives (see below)
 *   publish { kind, count }  publish `count` fresh garbage messages (0xc1 + random bytes)
 *   oversized { kind, size } publish `size` random bytes in one message
 *   badproposal { peer, full? }  wait for a vote of a new height gossiped by `peer`, then publish
 *                            a proposal by hashes of that height signed by a stranger, naming txs
 *                            nobody holds; with `full`, the next height's, whole block inside
 *   round { peer, height, round }  the sync request for a round's proposal and votes
 *   equivocate { peer, validatorSeedHex, validatorIndex, validatorAddressHex }  wait for a vote
 *                            of a new height H gossiped by `peer`, then publish two prevotes of
 *                            height H+1, round 0, signed by that validator key, for two different
 *                            block ids: a double sign (the node keeps next-height messages until
 *                            it gets there, so the pair cannot arrive too late)
 *   direct { peer, kind }    sendDirect one fresh garbage message; replies the peer's verdict
 *   request { peer }         a sync status request; replies the error code if it fails
 *   stats { peer }           gossip messages received from `peer`, by topic; connections; sync
 *                            requests this host was sent (it answers none)
 *   stop                     stop the host; the process then exits on its own
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { multiaddr } from '@multiformats/multiaddr';
import { decodeMessage, encodeMessage, encodeProposalByHashes } from '../../consensus/messages.ts';
import { createP2PHost, type TopicKind } from '../../p2p/host.ts';
import { parseTopic, TOPIC_KINDS } from '../../p2p/topics.ts';
import { decode, encode } from '../../packages/codec/canonical.ts';
import { CareLedgerError } from '../../packages/core/errors.ts';
import { keyPairFromSeed, signMessage } from '../../packages/crypto/ed25519.ts';
import { blockIdOf, type Header } from '../../packages/types/block.ts';
import { proposalSignBytes, type Vote, VoteType, voteSignBytes } from '../../packages/types/vote.ts';

interface Args {
  readonly chainId: string;
  readonly seedHex: string | null;
  readonly members: readonly string[];
  readonly listen: string;
  readonly maxMessageBytes: number;
}

const args = JSON.parse(process.argv[2]!) as Args;
let requestsReceived = 0;
const seed = args.seedHex === null ? new Uint8Array(randomBytes(32)) : Buffer.from(args.seedHex, 'hex');

const host = await createP2PHost(
  {
    chainId: args.chainId,
    nodeKeySeed: new Uint8Array(seed),
    listen: args.listen,
    members: args.members,
    persistentPeers: [],
    maxMessageBytes: args.maxMessageBytes,
  },
  {
    // Never relay, never score the node: this peer only listens and sends.
    validate: () => 'ignore',
    onRequest: async () => {
      requestsReceived++;
      throw new CareLedgerError('ROGUE_NO_SERVICE', 'no service');
    },
  },
);

/** Gossip (not direct) messages received, by the peer that sent them and topic. */
const gossipFrom = new Map<string, Record<TopicKind, number>>();
const noGossip = (): Record<TopicKind, number> => ({ tx: 0, consensus: 0, evidence: 0 });
let maxVoteHeight = -1n;
let voteWaiter: ((vote: Vote) => void) | null = null;
let voteWaiterPeer = '';

host.libp2p.services.pubsub.addEventListener('gossipsub:message', (evt) => {
  const from = evt.detail.propagationSource.toString();
  const kind = parseTopic(args.chainId, evt.detail.msg.topic);
  if (kind === null) return;
  const counts = gossipFrom.get(from) ?? noGossip();
  counts[kind]++;
  gossipFrom.set(from, counts);
  if (kind !== 'consensus') return;
  let vote: Vote;
  try {
    const message = decodeMessage(evt.detail.msg.data);
    if (message.kind !== 'vote') return;
    vote = message.vote;
  } catch {
    return;
  }
  // The first vote of a new height: that height stays current at the sender for at least the
  // commit pause, so a copy sent back now is judged on its signature, not dropped as stale.
  const fresh = vote.height > maxVoteHeight;
  if (fresh) maxVoteHeight = vote.height;
  if (fresh && voteWaiter !== null && from === voteWaiterPeer) {
    const resolve = voteWaiter;
    voteWaiter = null;
    resolve(vote);
  }
});

const garbage = (size: number): Uint8Array => {
  const bytes = new Uint8Array(randomBytes(size));
  // 0xc1 is "never used" in MessagePack, and the rest is random: invalid under any framing.
  bytes[0] = 0xc1;
  return bytes;
};

/** The first vote of a new height gossiped by `peer` (within 10 s). */
function freshVote(peer: string): Promise<Vote> {
  return new Promise<Vote>((resolve, reject) => {
    const timer = setTimeout(() => {
      voteWaiter = null;
      reject(new Error('no fresh vote from the peer within 10 s'));
    }, 10_000);
    voteWaiterPeer = peer;
    voteWaiter = (v) => {
      clearTimeout(timer);
      resolve(v);
    };
  });
}

const codeOf = (err: unknown): string =>
  err instanceof CareLedgerError ? err.code : err instanceof Error ? err.message : String(err);

type Command =
  | { id: number; cmd: 'dial'; addr: string }
  | { id: number; cmd: 'publish'; kind: TopicKind; count: number }
  | { id: number; cmd: 'oversized'; kind: TopicKind; size: number }
  | { id: number; cmd: 'badproposal'; peer: string; full?: boolean }
  | { id: number; cmd: 'direct'; peer: string; kind: TopicKind }
  | { id: number; cmd: 'request'; peer: string }
  | { id: number; cmd: 'round'; peer: string; height: string; round: number }
  | { id: number; cmd: 'stats'; peer: string }
  | {
      id: number;
      cmd: 'equivocate';
      peer: string;
      validatorSeedHex: string;
      validatorIndex: number;
      validatorAddressHex: string;
    }
  | { id: number; cmd: 'stop' };

async function run(c: Command): Promise<Record<string, unknown>> {
  switch (c.cmd) {
    case 'dial': {
      // The remote's gater refuses an outsider right after noise proves its key; our own side may
      // have finished its handshake optimistically. Either the dial fails, or the connection it
      // returns closes within 5 s; report which ('open' if it is still up: a member's).
      try {
        const conn = await host.libp2p.dial(multiaddr(c.addr), { signal: AbortSignal.timeout(5_000) });
        const deadline = Date.now() + 5_000;
        while (conn.status !== 'closed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        return { outcome: conn.status === 'closed' ? 'closed' : 'open' };
      } catch (err) {
        return { outcome: 'failed', error: codeOf(err) };
      }
    }
    case 'publish': {
      const outcomes = [];
      for (let i = 0; i < c.count; i++) outcomes.push(await host.publish(c.kind, garbage(256)));
      return { outcomes };
    }
    case 'oversized':
      return { outcome: await host.publish(c.kind, new Uint8Array(randomBytes(c.size))) };
    case 'badproposal': {
      const height = (await freshVote(c.peer)).height + (c.full === true ? 1n : 0n);
      const hash = () => new Uint8Array(randomBytes(32));
      const header: Header = {
        chainId: args.chainId,
        height,
        time: BigInt(Date.now()),
        lastBlockId: hash(),
        lastCommitHash: hash(),
        dataHash: hash(),
        validatorsHash: hash(),
        nextValidatorsHash: hash(),
        appHash: hash(),
        lastResultsHash: hash(),
        evidenceHash: hash(),
        proposerAddress: hash().subarray(0, 20),
      };
      const unsigned = { height, round: 0, polRound: -1, blockId: blockIdOf(header) };
      const stranger = keyPairFromSeed(hash());
      const proposal = {
        ...unsigned,
        signature: signMessage(stranger.secretKey, proposalSignBytes(args.chainId, unsigned)),
      };
      const block = { header, txs: [hash(), hash(), hash()], evidence: [], lastCommit: null };
      const bytes =
        c.full === true
          ? encodeMessage({ kind: 'proposal', proposal, block })
          : encodeProposalByHashes(proposal, block);
      return { height: height.toString(), outcome: await host.publish('consensus', bytes) };
    }
    case 'equivocate': {
      const height = (await freshVote(c.peer)).height + 1n;
      const key = keyPairFromSeed(Buffer.from(c.validatorSeedHex, 'hex'));
      const blockIds = [new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(32))];
      const outcomes = [];
      for (const blockId of blockIds) {
        const unsigned = { type: VoteType.prevote, height, round: 0, blockId };
        const vote: Vote = {
          ...unsigned,
          validatorIndex: c.validatorIndex,
          validatorAddress: Buffer.from(c.validatorAddressHex, 'hex'),
          signature: signMessage(key.secretKey, voteSignBytes(args.chainId, unsigned)),
        };
        outcomes.push(await host.publish('consensus', encodeMessage({ kind: 'vote', vote })));
      }
      return {
        height: height.toString(),
        blockIds: blockIds.map((id) => Buffer.from(id).toString('hex').toUpperCase()),
        outcomes,
      };
    }
    case 'direct':
      try {
        return { verdict: await host.sendDirect(c.peer, c.kind, garbage(256)) };
      } catch (err) {
        return { code: codeOf(err), message: (err as Error).message };
      }
    case 'request':
      try {
        await host.request(c.peer, 'blocks', encode(['status']));
        return { code: null };
      } catch (err) {
        return { code: codeOf(err) };
      }
    case 'round': {
      // A member behind a round asks for its proposal and votes (node/node.ts catchUpRound).
      const body = encode(['round', BigInt(c.height), c.round]);
      const items = decode(await host.request(c.peer, 'blocks', body)) as Uint8Array[];
      return { items: items.map((item) => Buffer.from(item).toString('hex')) };
    }
    case 'stats':
      return {
        peerId: host.peerId,
        gossip: gossipFrom.get(c.peer) ?? noGossip(),
        connections: host.libp2p.getConnections().map((conn) => conn.remotePeer.toString()),
        topicPeers: Object.fromEntries(TOPIC_KINDS.map((kind) => [kind, host.topicPeers(kind)])),
        requestsReceived,
      };
    case 'stop':
      await host.stop();
      return {};
  }
}

const reply = (value: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};

reply({ ready: true, peerId: host.peerId, addresses: host.addresses() });
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const c = JSON.parse(line) as Command;
  run(c).then(
    (result) => {
      reply({ id: c.id, ok: true, ...result });
      if (c.cmd === 'stop') lines.close();
    },
    (err: unknown) => reply({ id: c.id, ok: false, error: codeOf(err) }),
  );
});
