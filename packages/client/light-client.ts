/**
 * A light client: it trusts only a genesis and believes a node's header, app hash or query answer
 * only once it has checked it, so a client can talk to any one node of the consortium.
 *
 * A header of height H is verified when it hashes to its commit's block id, its validators_hash is
 * the hash of the set the node gives for H, that set's commit holds more than 2/3 of its power with
 * valid signatures (packages/types `verifyCommit`: the very check block sync and consensus use),
 * and the set is linked to genesis. Linking follows validator-set changes (which take effect two
 * heights after the block that makes them, packages/types/chain-state.ts), in one of two ways:
 *  - adjacent: header H-1 is trusted, H's validators_hash is H-1's next_validators_hash and H's
 *    last block id is H-1's hash;
 *  - skipping (Tendermint's light client): the commit of H is also signed by more than 1/3 of the
 *    power of a trusted set, so at least one honest trusted validator vouches for it. If not, the
 *    client bisects: it verifies a height halfway and tries again from there.
 * Skipping assumes what the consortium's BFT safety already assumes, that less than 1/3 of any
 * trusted set's power is ever faulty (permissioned members do not unbond and sell old keys); set
 * `skipping: false` to walk every height instead.
 *
 * Verified heights are cached (bounded, oldest dropped); genesis is always the root of trust.
 * Query answers are checked with packages/health/query.ts `verifyAnswer` against the app hash in
 * header `height + 1` (the state after block `height`), and against the state key that the
 * query's path and data name, so a node cannot answer with a proof of another key.
 * A query for the latest state is answered at the node's latest height L and waits for header
 * L+1, up to a block interval away. A caller that can use state one block older may ask for the
 * newest state provable now (`provable`): the state after L-1, which header L (existing) proves;
 * the freshness checks (maxLatestAgeMs, never below a height already proven) are the same. The
 * client's send path reads the signer's nonce floor and member binding so: a tx is then one
 * block interval sooner, and a stale answer can only make the chain refuse the tx.
 * A tx is proven committed (`verifiedTx`) as CometBFT's light client does: its RFC 6962 inclusion
 * proof must lead from the hash of exactly the returned bytes to the data hash of the verified
 * header at its height, and those bytes must hash to the hash asked for. Its outcome (code and
 * codespace: a failed tx is committed too) is proven by the next header: the results of the whole
 * block must hash to that verified header's last results hash. Logs and events are not hashed
 * into any header, so they stay the node's word, as in CometBFT.
 * Failures: CLIENT_HEIGHT_INVALID, CLIENT_HEADER_MISMATCH, CLIENT_VALIDATORS_MISMATCH,
 * CLIENT_COMMIT_INVALID (details.reason is verifyCommit's code), CLIENT_WAIT_TIMEOUT,
 * CLIENT_QUERY_UNSUPPORTED, CLIENT_QUERY_FAILED, CLIENT_PROOF_INVALID, and RpcClient's codes.
 */
import { CareLedgerError } from '../core/errors.ts';
import { equalBytes, leafHash, merkleRootFromAunts, toHex } from '../crypto/hash.ts';
import { keyBytes } from '../health/keys.ts';
import { queryKey as healthStateKey, verifyAnswer } from '../health/query.ts';
import { blockIdOf, type Header, resultsHash, txHash } from '../types/block.ts';
import { type Commit, CommitFlag, verifyCommit } from '../types/commit.ts';
import { type Genesis, genesisValidatorSet } from '../types/genesis.ts';
import { isOneThirdPlus, type ValidatorSet, validatorSetHash } from '../types/validator.ts';
import { ClientError, type RpcClient, type TxOutcome } from './rpc.ts';

export interface LightClientOptions {
  /** Verified heights kept in memory (each holds a header and a validator set). */
  readonly maxCachedHeights: number;
  /** Skipping verification (see the file comment); false verifies every height in turn. */
  readonly skipping: boolean;
  /** How long to wait for a header that does not exist yet (e.g. `height + 1` for a query). */
  readonly waitTimeoutMs: number;
  /** How often to ask the node's status while waiting. */
  readonly pollIntervalMs: number;
  /**
   * The state key a (path, data) query reads, as the application maps it; throws
   * CLIENT_QUERY_UNSUPPORTED for paths that have no single key. Defaults to the health app's.
   */
  readonly queryKey: (path: string, data: Uint8Array) => Uint8Array;
  /**
   * A query for the latest state is refused (CLIENT_STALE) when the header proving it is older
   * than this by the client's clock, or when it is for a height below one this client already
   * proved: a node must not pass off old state (a consent since revoked) as current.
   */
  readonly maxLatestAgeMs: number;
  /** The client's clock (unix ms). */
  readonly now: () => number;
}

/** The health application's mapping (state/health/app.ts answers with exactly this key). */
export function healthQueryKey(path: string, data: Uint8Array): Uint8Array {
  let key: string | null;
  try {
    key = healthStateKey(path, data);
  } catch (err) {
    throw new ClientError('CLIENT_QUERY_UNSUPPORTED', `query ${path}: ${(err as Error).message}`);
  }
  if (key === null)
    throw new ClientError(
      'CLIENT_QUERY_UNSUPPORTED',
      `query ${path} answers with a bundle of proofs: verify it with verifyDecision and verifiedAppHash`,
    );
  return keyBytes(key);
}

export const defaultLightClientOptions: LightClientOptions = {
  maxCachedHeights: 512,
  skipping: true,
  waitTimeoutMs: 15_000,
  // A committed tx waits for the next header; a status call costs the node little, and each poll
  // saved is time the caller waits after the header exists (half the interval on average).
  pollIntervalMs: 100,
  queryKey: healthQueryKey,
  maxLatestAgeMs: 5 * 60_000,
  now: Date.now,
};

export interface VerifiedTx {
  readonly height: bigint;
  /** The tx's position in its block, bound by the inclusion proof. */
  readonly index: number;
  /** Exactly the bytes committed: they hash to the hash asked for. */
  readonly tx: Uint8Array;
  /**
   * The execution result. Its code and codespace are proven by header `height + 1`'s last results
   * hash; its log and events are the node's word (no header commits to them).
   */
  readonly result: TxOutcome;
}

export interface VerifiedQuery {
  readonly key: Uint8Array;
  /** null: the key holds nothing, and the proof shows it. */
  readonly value: Uint8Array | null;
  readonly height: bigint;
  /** The app hash of header `height + 1` that the proof was checked against. */
  readonly appHash: Uint8Array;
  readonly proof: Uint8Array;
}

/** A verified height: its header and its own validator set. Genesis is height initialHeight - 1. */
interface Trusted {
  readonly height: bigint;
  /** null for the genesis root. */
  readonly header: Header | null;
  readonly time: bigint;
  readonly set: ValidatorSet;
  readonly nextValidatorsHash: Uint8Array;
}

/** A signed header and set that agree with each other, not yet linked to the trusted chain. */
interface Candidate {
  readonly header: Header;
  readonly commit: Commit;
  readonly set: ValidatorSet;
}

function fail(code: string, message: string, details: Record<string, string | number> = {}): never {
  throw new ClientError(code, message, details);
}

function checkOption(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw new ClientError('CLIENT_CONFIG_INVALID', `${name} must be an integer of at least ${min}`);
  return value;
}

export class LightClient {
  readonly genesis: Genesis;
  readonly options: LightClientOptions;
  private readonly rpc: RpcClient;
  private readonly root: Trusted;
  private readonly cache = new Map<bigint, Trusted>();
  private readonly inFlight = new Map<bigint, Promise<Trusted>>();
  /** The highest height a latest-state answer was proven at. */
  private latestProven = -1n;
  /** The highest latest height the node reported (an untrusted hint: headers are verified after). */
  private seenHeight = -1n;

  constructor(genesis: Genesis, rpc: RpcClient, options: Partial<LightClientOptions> = {}) {
    const opts = { ...defaultLightClientOptions, ...options };
    if (typeof opts.skipping !== 'boolean' || typeof opts.queryKey !== 'function')
      throw new ClientError('CLIENT_CONFIG_INVALID', 'skipping must be a boolean and queryKey a function');
    this.options = {
      ...opts,
      maxCachedHeights: checkOption(opts.maxCachedHeights, 'maxCachedHeights', 1),
      waitTimeoutMs: checkOption(opts.waitTimeoutMs, 'waitTimeoutMs', 0),
      pollIntervalMs: checkOption(opts.pollIntervalMs, 'pollIntervalMs', 0),
      maxLatestAgeMs: checkOption(opts.maxLatestAgeMs, 'maxLatestAgeMs', 1),
    };
    this.genesis = genesis;
    this.rpc = rpc;
    const set = genesisValidatorSet(genesis);
    // The genesis set signs the first height: genesis acts as the header "before" it.
    this.root = {
      height: genesis.initialHeight - 1n,
      header: null,
      time: genesis.genesisTime,
      set,
      nextValidatorsHash: validatorSetHash(set),
    };
  }

  /** The header of `height`, once linked to genesis and signed by +2/3 of its validator set. */
  async verifiedHeader(height: bigint): Promise<Header> {
    if (typeof height !== 'bigint' || height < this.genesis.initialHeight)
      fail('CLIENT_HEIGHT_INVALID', `height must be a bigint of at least ${this.genesis.initialHeight}`);
    return (await this.trusted(height)).header!;
  }

  /** The app hash after executing block `height`: header `height + 1`'s (waits for it, bounded). */
  async verifiedAppHash(height: bigint): Promise<Uint8Array> {
    if (typeof height !== 'bigint' || height < this.genesis.initialHeight - 1n)
      fail('CLIENT_HEIGHT_INVALID', `height must be a bigint of at least ${this.genesis.initialHeight - 1n}`);
    return (await this.nextHeader(height)).appHash;
  }

  /** Header `height + 1`, which commits to what block `height` did: waited for (bounded), verified. */
  private async nextHeader(height: bigint): Promise<Header> {
    await this.waitForHeight(height + 1n);
    return this.verifiedHeader(height + 1n);
  }

  /**
   * verifiedAppHash for an answer the node gave as its latest state: also checks that it is
   * current (see maxLatestAgeMs), else CLIENT_STALE.
   */
  async verifiedLatestAppHash(height: bigint): Promise<Uint8Array> {
    const header = await this.nextHeader(height);
    if (height < this.latestProven)
      fail(
        'CLIENT_STALE',
        `the node answered for height ${height}, older than ${this.latestProven} already proven`,
      );
    const age = BigInt(this.options.now()) - header.time;
    if (age > BigInt(this.options.maxLatestAgeMs))
      fail(
        'CLIENT_STALE',
        `the node's latest state (height ${height}) is ${age / 1000n} s old; the chain may be halted or the node behind`,
      );
    this.latestProven = height;
    return header.appHash;
  }

  /**
   * The newest height whose state is provable without waiting: L-1 for the node's latest height L
   * (header L holds its app hash). Null while there is no such height a query can name (height 0
   * means "latest" to abci_query): then a latest query asks for the node's latest and waits.
   */
  async latestProvableHeight(): Promise<bigint | null> {
    const latest = await this.nodeHeight();
    const at = latest - 1n;
    return at >= 1n && at >= this.genesis.initialHeight - 1n ? at : null;
  }

  /** The node's latest height, by its status (a hint; remembered so a wait need not ask again). */
  private async nodeHeight(): Promise<bigint> {
    const h = (await this.rpc.status()).latestBlockHeight;
    if (h > this.seenHeight) this.seenHeight = h;
    return h;
  }

  /**
   * An application query whose answer (or absence) is proven against a verified app hash. Without
   * a height: the latest state, checked for freshness; with `provable`, the newest state provable
   * without waiting (see the file comment).
   */
  async verifiedQuery(
    path: string,
    data: Uint8Array,
    opts: { height?: bigint; provable?: boolean } = {},
  ): Promise<VerifiedQuery> {
    const key = this.options.queryKey(path, data);
    const asked = opts.height ?? (opts.provable === true ? await this.latestProvableHeight() : null);
    const query = asked === null ? { prove: true } : { height: asked, prove: true };
    const r = await this.rpc.abciQuery(path, data, query);
    if (r.code !== 0)
      fail(
        'CLIENT_QUERY_FAILED',
        `query ${path} failed: ${r.codespace || `code ${r.code}`} ${r.log}`.trim(),
        {
          code: r.code,
          codespace: r.codespace,
          log: r.log,
        },
      );
    const invalidProof = (why: string): never => fail('CLIENT_PROOF_INVALID', `query ${path}: ${why}`);
    if (asked !== null && r.height !== asked) invalidProof(`answered for height ${r.height}`);
    if (!equalBytes(r.key, key)) invalidProof('answered for another key');
    if (r.proof === null) invalidProof('the node sent no proof');
    const appHash =
      opts.height === undefined
        ? await this.verifiedLatestAppHash(r.height)
        : await this.verifiedAppHash(r.height);
    if (!verifyAnswer(appHash, key, r.value, r.proof!))
      invalidProof(`the proof does not match the app hash of height ${r.height + 1n}`);
    return { key, value: r.value, height: r.height, appHash, proof: r.proof! };
  }

  /**
   * The committed tx of `hash`, proven included in the block of the verified header at its height,
   * with its outcome proven by the next header (waited for, as a query waits: CLIENT_WAIT_TIMEOUT).
   * A tx the node does not have is its error (CLIENT_RPC_ERROR); a proof that does not hold is
   * CLIENT_PROOF_INVALID; a malformed answer is CLIENT_RESPONSE_INVALID.
   */
  async verifiedTx(hash: Uint8Array): Promise<VerifiedTx> {
    const r = await this.rpc.tx(hash, { prove: true });
    const name = toHex(hash).toUpperCase();
    const invalid = (why: string): never => fail('CLIENT_PROOF_INVALID', `tx ${name}: ${why}`);
    if (!equalBytes(txHash(r.tx), hash) || !equalBytes(r.hash, hash))
      invalid('the node answered with another tx');
    const proof = r.proof;
    if (proof === null) return invalid('the node sent no proof');
    if (!equalBytes(proof.data, r.tx)) invalid('the proof is for other bytes than the tx');
    if (proof.index !== r.index) invalid(`the proof is for index ${proof.index}, not ${r.index}`);
    if (!equalBytes(proof.leafHash, leafHash(txHash(r.tx))))
      invalid('the proof leaf is not the hash of the tx');
    const header = await this.verifiedHeader(r.height);
    const root = merkleRootFromAunts(proof.index, proof.total, proof.leafHash, proof.aunts);
    if (root === null || !equalBytes(root, header.dataHash))
      invalid(`the proof does not lead to the data hash of header ${r.height}`);
    // The outcome: the block's results, against the next header (it may not exist yet: wait).
    const next = await this.nextHeader(r.height);
    const { txsResults } = await this.rpc.blockResults(r.height);
    if (txsResults.length !== proof.total)
      invalid(`block ${r.height} has ${proof.total} txs but the node sent ${txsResults.length} results`);
    if (!equalBytes(resultsHash(txsResults), next.lastResultsHash))
      invalid(`the results of block ${r.height} do not hash to header ${next.height}'s last results hash`);
    const proven = txsResults[r.index]!;
    if (proven.code !== r.txResult.code || proven.codespace !== r.txResult.codespace)
      invalid(`the node claimed code ${r.txResult.code}, the committed result is ${proven.code}`);
    return { height: r.height, index: r.index, tx: r.tx, result: r.txResult };
  }

  /** Polls the node's status until it reports `height` (an untrusted hint: the header is verified after). */
  private async waitForHeight(height: bigint): Promise<void> {
    if (this.cache.has(height) || this.seenHeight >= height) return;
    const deadline = Date.now() + this.options.waitTimeoutMs;
    for (;;) {
      if ((await this.nodeHeight()) >= height) return;
      const left = deadline - Date.now();
      if (left <= 0)
        fail(
          'CLIENT_WAIT_TIMEOUT',
          `height ${height} was not committed within ${this.options.waitTimeoutMs} ms`,
          {
            height: height.toString(),
          },
        );
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.options.pollIntervalMs, left)));
    }
  }

  /** Calls for one height share one verification. */
  private trusted(height: bigint): Promise<Trusted> {
    const cached = this.cache.get(height);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.inFlight.get(height);
    if (pending === undefined) {
      pending = this.verifyFrom(this.anchorBelow(height), height).finally(() => this.inFlight.delete(height));
      this.inFlight.set(height, pending);
    }
    return pending;
  }

  /** The highest verified height below `height`, or genesis. */
  private anchorBelow(height: bigint): Trusted {
    let best = this.root;
    for (const t of this.cache.values()) if (t.height < height && t.height > best.height) best = t;
    return best;
  }

  /** Links `target` to `from`: adjacent steps, or skipping with bisection (CometBFT's light client). */
  private async verifyFrom(from: Trusted, target: bigint): Promise<Trusted> {
    let trusted = from;
    if (!this.options.skipping) {
      for (let h = from.height + 1n; h <= target; h++)
        trusted = this.store(this.linkAdjacent(trusted, await this.fetchCandidate(h)));
      return trusted;
    }
    const fetched = new Map<bigint, Candidate>();
    const pivots = [target];
    while (pivots.length > 0) {
      const h = pivots[pivots.length - 1]!;
      let candidate = fetched.get(h);
      if (candidate === undefined) {
        candidate = await this.fetchCandidate(h);
        fetched.set(h, candidate);
      }
      if (h === trusted.height + 1n) trusted = this.store(this.linkAdjacent(trusted, candidate));
      else if (this.vouchedFor(trusted, candidate)) trusted = this.store(this.entry(trusted, candidate));
      else {
        // Not enough trusted power signed: verify halfway first (h - trusted.height >= 2).
        pivots.push(trusted.height + (h - trusted.height) / 2n);
        continue;
      }
      pivots.pop();
    }
    return trusted;
  }

  /** Fetches height `h` and checks it against itself: header hash, set hash and +2/3 commit. */
  private async fetchCandidate(h: bigint): Promise<Candidate> {
    const [signed, set] = await Promise.all([this.rpc.commit(h), this.rpc.validators(h)]);
    const { header, commit } = signed;
    const chainId = this.genesis.chainId;
    if (header.chainId !== chainId)
      fail('CLIENT_HEADER_MISMATCH', `header ${h} is for chain ${header.chainId}`);
    if (header.height !== h || commit.height !== h)
      fail(
        'CLIENT_HEADER_MISMATCH',
        `asked for height ${h}, got header ${header.height}, commit ${commit.height}`,
      );
    const blockId = blockIdOf(header);
    if (!equalBytes(blockId, commit.blockId))
      fail('CLIENT_HEADER_MISMATCH', `header ${h} does not hash to the block id its commit signs`, {
        height: h.toString(),
      });
    if (!equalBytes(validatorSetHash(set), header.validatorsHash))
      fail(
        'CLIENT_VALIDATORS_MISMATCH',
        `the validator set given for ${h} is not header ${h}'s validators_hash`,
        {
          height: h.toString(),
        },
      );
    try {
      verifyCommit(chainId, commit, set, blockId);
    } catch (err) {
      if (!(err instanceof CareLedgerError)) throw err;
      fail('CLIENT_COMMIT_INVALID', `commit of height ${h}: ${err.message}`, {
        height: h.toString(),
        reason: err.code,
      });
    }
    return { header, commit, set };
  }

  private linkAdjacent(trusted: Trusted, c: Candidate): Trusted {
    const h = c.header.height;
    const lastId = trusted.header === null ? new Uint8Array(0) : blockIdOf(trusted.header);
    if (!equalBytes(c.header.lastBlockId, lastId))
      fail('CLIENT_HEADER_MISMATCH', `header ${h} does not extend the verified header ${trusted.height}`, {
        height: h.toString(),
      });
    if (!equalBytes(c.header.validatorsHash, trusted.nextValidatorsHash))
      fail(
        'CLIENT_VALIDATORS_MISMATCH',
        `header ${h}'s validators are not those verified header ${trusted.height} named next`,
        { height: h.toString() },
      );
    return this.entry(trusted, c);
  }

  /** True if validators of the trusted set holding more than 1/3 of its power signed the candidate. */
  private vouchedFor(trusted: Trusted, c: Candidate): boolean {
    const trustedPower = new Map(trusted.set.validators.map((v) => [toHex(v.pubKey), v.votingPower]));
    let power = 0n;
    // verifyCommit already checked every signature in the commit against c.set's keys.
    c.commit.signatures.forEach((sig, i) => {
      if (sig.flag === CommitFlag.commit) power += trustedPower.get(toHex(c.set.validators[i]!.pubKey)) ?? 0n;
    });
    return isOneThirdPlus(power, trusted.set.totalVotingPower);
  }

  private entry(trusted: Trusted, c: Candidate): Trusted {
    if (c.header.time <= trusted.time)
      fail(
        'CLIENT_HEADER_MISMATCH',
        `header ${c.header.height}'s time does not follow header ${trusted.height}'s`,
      );
    return {
      height: c.header.height,
      header: c.header,
      time: c.header.time,
      set: c.set,
      nextValidatorsHash: c.header.nextValidatorsHash,
    };
  }

  private store(t: Trusted): Trusted {
    this.cache.delete(t.height);
    this.cache.set(t.height, t);
    while (this.cache.size > this.options.maxCachedHeights) {
      const oldest = this.cache.keys().next().value!;
      this.cache.delete(oldest);
    }
    return t;
  }
}
