/**
 * Peer scoring for a small, permissioned mesh: gossipsub's score parameters and thresholds, and
 * `Penalties`, the application-specific score that counts invalid messages gossipsub never sees
 * (rejected direct messages, invalid sync answers) the way gossipsub's P4 counts invalid gossip.
 * One score per peer therefore covers every way a peer can send us something, and the graylist
 * threshold here is the one the request/response server checks too.
 */
import type {
  PeerScoreParams,
  PeerScoreThresholds,
  TopicScoreParams,
} from '@chainsafe/libp2p-gossipsub/score';

/** Below this gossip score a peer is ignored: its gossip, its direct messages and its requests. */
export const GRAYLIST_THRESHOLD = -2_500;

/**
 * Invalid messages gossipsub never sees: direct messages the validator rejected, and sync answers
 * the node found invalid (`reportInvalid`). They count as gossipsub's P4 does, through the
 * application-specific score: -100 x count^2, the count decaying by 1 % a second, so a peer cannot
 * go around its score over the sync protocol.
 */
export class Penalties {
  private readonly counts = new Map<string, { count: number; at: number }>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  add(peer: string): void {
    this.counts.set(peer, { count: this.count(peer) + 1, at: this.now() });
  }

  /** The decayed count; a peer whose count has decayed to nothing is forgotten. */
  count(peer: string): number {
    const entry = this.counts.get(peer);
    if (entry === undefined) return 0;
    const count = entry.count * 0.99 ** ((this.now() - entry.at) / 1_000);
    if (count < 0.01) this.counts.delete(peer);
    return count < 0.01 ? 0 : count;
  }

  /** For gossipsub's appSpecificScore (weight PENALTY_WEIGHT). */
  score(peer: string): number {
    const count = this.count(peer);
    return count === 0 ? 0 : -(count * count);
  }
}
const PENALTY_WEIGHT = 100;

/** Gossip scoring for a small, permissioned mesh. */
export function scoreParams(topics: readonly string[], penalties: Penalties): Partial<PeerScoreParams> {
  // P3/P3b (mesh delivery rate) are off: a quiet consortium delivers few messages, and gossipsub's
  // default threshold (20 per window) would push honest peers below zero. P4 (invalid messages)
  // carries the weight: the penalty is -100 x (invalid messages on the topic)^2, so six get a peer
  // graylisted (five give exactly the threshold, which is not below it).
  const topic: TopicScoreParams = {
    topicWeight: 1,
    timeInMeshWeight: 0.1,
    timeInMeshQuantum: 1_000,
    timeInMeshCap: 100,
    firstMessageDeliveriesWeight: 1,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 50,
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.9,
    meshMessageDeliveriesCap: 100,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5_000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.9,
    invalidMessageDeliveriesWeight: -100,
    invalidMessageDeliveriesDecay: 0.99,
  };
  return {
    topics: Object.fromEntries(topics.map((t) => [t, topic])),
    topicScoreCap: 100,
    appSpecificScore: (peer) => penalties.score(peer),
    appSpecificWeight: PENALTY_WEIGHT,
    // Members are authenticated by key, and a local consortium shares one IP.
    IPColocationFactorWeight: 0,
    IPColocationFactorThreshold: 1,
    IPColocationFactorWhitelist: new Set(),
    behaviourPenaltyWeight: -10,
    behaviourPenaltyThreshold: 6,
    behaviourPenaltyDecay: 0.9,
    decayInterval: 1_000,
    decayToZero: 0.01,
    retainScore: 10 * 60_000,
  };
}

/** Gossipsub's thresholds; the graylist one also closes the request/response protocols. */
export const SCORE_THRESHOLDS: PeerScoreThresholds = {
  gossipThreshold: -500,
  publishThreshold: -1_000,
  graylistThreshold: GRAYLIST_THRESHOLD,
  acceptPXThreshold: 1_000,
  opportunisticGraftThreshold: 5,
};
