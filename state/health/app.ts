/**
 * The health-data application behind the ABCI-shaped Application interface: patient identities,
 * record anchors, consent and its policy engine, access requests, the disclosure audit trail,
 * break-glass access, claims, and the consortium's governance, over the Merkle store so every
 * answer can be proven against the app hash. The state layout is in packages/health/keys.ts, the
 * tx payloads in packages/health/tx.ts, the rules in exec.ts and the README beside this file.
 *
 * Versions of the Merkle store: version 1 is the genesis state that `initChain` builds from the
 * genesis app state; the block at height H is version H - initialHeight + 2. So `info()` and
 * query heights speak in block heights, and the genesis state answers at height initialHeight - 1.
 *
 * Execution is deterministic: it reads only the committed state, the block's height and time, and
 * the txs; each tx runs in its own state layer, merged only on success, so a failed tx changes
 * nothing (not even its signer's nonce). Replay protection: each signer key's nonce must be
 * greater than the last nonce that key used in a successful tx (gaps are allowed); the node
 * separately refuses a tx hash that was already committed.
 */
import { decode, encode } from '../../packages/codec/canonical.ts';
import * as s from '../../packages/codec/schema.ts';
import { CareLedgerError } from '../../packages/core/errors.ts';
import { toHex } from '../../packages/crypto/hash.ts';
import { policyConsents } from '../../packages/health/access.ts';
import { errorNumber, HEALTH_ERRORS, healthError } from '../../packages/health/errors.ts';
import { type HealthAppState, parseHealthAppState } from '../../packages/health/genesis.ts';
import { EXPIRY_SLOT_MS, keyBytes, stateKey } from '../../packages/health/keys.ts';
import {
  type ChainMeta,
  decodeBlockInfo,
  decodeChainMeta,
  decodeIdList,
  decodeMember,
  encodeBinding,
  encodeBlockInfo,
  encodeChainMeta,
  encodeIdList,
  encodeMember,
  encodeParams,
  encodeValidators,
} from '../../packages/health/model.ts';
import { compareStrings } from '../../packages/health/provision.ts';
import {
  decideRequest,
  decodeDecisionRequest,
  encodeBundle,
  encodeDecisionAnswer,
  type ProvenLeaf,
  queryKey,
} from '../../packages/health/query.ts';
import {
  decideRelease,
  type ReleaseDecision,
  type SignedFetchRequest,
} from '../../packages/health/records.ts';
import { decodeHealthTx } from '../../packages/health/tx.ts';
import { encodeProof } from '../../packages/merkle/proof.ts';
import type { Block } from '../../packages/types/block.ts';
import type { ValidatorUpdate } from '../../packages/types/chain-state.ts';
import type { Genesis } from '../../packages/types/genesis.ts';
import type { CheckedTx } from '../../packages/types/tx.ts';
import {
  type AppEvent,
  type Application,
  decodedOnce,
  type ExecTxResult,
  type FinalizeResult,
  type InitChainResult,
  type QueryResult,
  storeQuery,
} from '../application.ts';
import { Bucket } from '../db.ts';
import { type MerkleBuckets, MerkleStore, type MerkleStoreOptions, type StateDb } from '../merkle/store.ts';
import { TxContext } from './context.ts';
import { executeTx, expireProposal, expireRequest } from './exec.ts';
import { Overlay } from './overlay.ts';

export interface HealthAppOptions {
  /** The Merkle store's bucket bytes (the node's by default). */
  readonly buckets: MerkleBuckets;
  readonly store: Partial<MerkleStoreOptions>;
  /** Signers whose last nonce checkTx remembers, to refuse replays before they reach a block. */
  readonly nonceCacheSize: number;
  /** Expiry minutes processed at most per block (a chain that halted for days catches up gradually). */
  readonly maxExpirySlotsPerBlock: number;
}

export const defaultHealthAppOptions: HealthAppOptions = {
  buckets: {
    nodes: Bucket.merkleNodes,
    roots: Bucket.merkleRoots,
    stale: Bucket.merkleStale,
    latest: Bucket.merkleValues,
  },
  store: {},
  nonceCacheSize: 100_000,
  maxExpirySlotsPerBlock: 1440,
};

const NO_BYTES = new Uint8Array(0);
const MEMBER_KEY_PREFIX = stateKey.member('');

export class HealthApp implements Application {
  private readonly store: MerkleStore;
  private readonly opts: HealthAppOptions;
  private meta: ChainMeta | null;
  /** The metadata initChain prepared, until its version is committed. */
  private genesisMeta: ChainMeta | null = null;
  /** Nonces used by each prepared version (by app hash), applied to the cache on commit. */
  private readonly preparedNonces = new Map<string, Map<string, bigint>>();
  private readonly nonceCache = new Map<string, bigint>();
  private readonly payloadOf = decodedOnce(decodeHealthTx);
  /** The active members' nodes as of the last commit; null until read again after a change. */
  private peers: readonly string[] | null = null;
  /** Roots of prepared versions whose block changed a member record. */
  private readonly preparedMemberChanges = new Set<string>();

  private constructor(store: MerkleStore, meta: ChainMeta | null, opts: HealthAppOptions) {
    this.store = store;
    this.meta = meta;
    this.opts = opts;
  }

  /** Opens the application over the node's database (which the caller opened and will close). */
  static async open(db: StateDb, options: Partial<HealthAppOptions> = {}): Promise<HealthApp> {
    const opts = { ...defaultHealthAppOptions, ...options };
    const store = await MerkleStore.open(db, opts.buckets, opts.store);
    let meta: ChainMeta | null = null;
    if (store.latestVersion >= 1n) {
      const bytes = await store.get(keyBytes(stateKey.meta()));
      if (bytes === null)
        throw new CareLedgerError('STATE_CORRUPT', 'the health state has no chain metadata');
      meta = decodeChainMeta(bytes);
    }
    return new HealthApp(store, meta, opts);
  }

  // --- heights and versions ---

  private versionOf(height: bigint, meta: ChainMeta): bigint {
    return height - meta.initialHeight + 2n;
  }

  private heightOf(version: bigint, meta: ChainMeta): bigint {
    return version + meta.initialHeight - 2n;
  }

  private requireMeta(): ChainMeta {
    if (this.meta === null) throw healthError('HEALTH_NOT_INITIALIZED', 'initChain has not run');
    return this.meta;
  }

  // --- genesis ---

  /**
   * Builds the genesis state (version 1): chain metadata, parameters, the founding members and
   * the genesis validators. Writes nothing: the caller writes `ops` in its genesis batch and then
   * calls `commit(genesis.initialHeight - 1n, appHash)`.
   */
  async initChain(
    genesis: Genesis,
    appState: HealthAppState = parseHealthAppState(genesis.appState),
  ): Promise<InitChainResult> {
    if (this.store.latestVersion !== 0n)
      throw new CareLedgerError('HEALTH_ALREADY_INITIALIZED', 'the health state already has a genesis');
    const meta: ChainMeta = {
      chainId: genesis.chainId,
      initialHeight: genesis.initialHeight,
      genesisTime: genesis.genesisTime,
    };
    const changes = new Map<string, Uint8Array>();
    changes.set(stateKey.meta(), encodeChainMeta(meta));
    changes.set(
      stateKey.block(),
      encodeBlockInfo({
        height: genesis.initialHeight - 1n,
        time: genesis.genesisTime,
        expirySlot: genesis.genesisTime / EXPIRY_SLOT_MS - 1n,
      }),
    );
    changes.set(stateKey.params(), encodeParams(appState.params));
    const validators = genesis.validators
      .map((v) => ({ pubKey: v.pubKey, power: v.power }))
      .sort((a, b) => Buffer.compare(a.pubKey, b.pubKey));
    changes.set(stateKey.validators(), encodeValidators(validators));
    for (const m of appState.members) {
      changes.set(
        stateKey.member(m.id),
        encodeMember({
          id: m.id,
          pubKey: m.pubKey,
          roles: m.roles,
          active: true,
          joinedAt: 0n,
          leftAt: null,
          nodes: m.nodes ?? [],
          recordKey: m.recordKey ?? null,
        }),
      );
      changes.set(stateKey.key(m.pubKey), encodeBinding({ kind: 'member', id: m.id }));
    }
    changes.set(stateKey.members(), encodeIdList(appState.members.map((m) => m.id).sort(compareStrings)));
    const { root, ops } = await this.store.prepare(
      1n,
      [...changes].map(([k, v]) => [keyBytes(k), v] as const),
    );
    this.genesisMeta = meta;
    return { appHash: root, ops };
  }

  // --- the Application interface ---

  info(): { lastHeight: bigint; appHash: Uint8Array } {
    const version = this.store.latestVersion;
    const lastHeight = this.meta === null || version <= 1n ? 0n : this.heightOf(version, this.meta);
    return { lastHeight, appHash: this.store.latestRoot };
  }

  checkTx(tx: CheckedTx, _recheck = false): CareLedgerError | null {
    try {
      this.payloadOf(tx);
    } catch (err) {
      return err as CareLedgerError;
    }
    const last = this.nonceCache.get(toHex(tx.tx.signer));
    // Stale rather than invalid: a peer may relay a tx that a block has just made a replay.
    if (last !== undefined && tx.tx.nonce <= last)
      return new CareLedgerError(
        'HEALTH_NONCE_REPLAYED',
        `nonce ${tx.tx.nonce} is not above ${last}, the last this key used`,
        'ignore',
      );
    return null;
  }

  /**
   * Drops txs that fail checkTx, and puts each signer's txs in nonce order (in the slots its txs
   * already hold), so a client's burst of txs executes in the order it numbered them.
   */
  prepareProposal(txs: readonly CheckedTx[]): readonly CheckedTx[] {
    const valid = txs.filter((tx) => this.checkTx(tx) === null);
    const bySigner = new Map<string, number[]>();
    valid.forEach((tx, i) => {
      const key = toHex(tx.tx.signer);
      const slots = bySigner.get(key);
      if (slots === undefined) bySigner.set(key, [i]);
      else slots.push(i);
    });
    const out = valid.slice();
    for (const slots of bySigner.values()) {
      if (slots.length < 2) continue;
      const sorted = slots
        .map((i) => valid[i]!)
        .sort((a, b) => (a.tx.nonce < b.tx.nonce ? -1 : a.tx.nonce > b.tx.nonce ? 1 : 0));
      slots.forEach((slot, j) => {
        out[slot] = sorted[j]!;
      });
    }
    return out;
  }

  /** A proposal is valid if every payload decodes; state checks happen (deterministically) at execution. */
  processProposal(_block: Block, txs: readonly CheckedTx[]): boolean {
    for (const tx of txs) {
      try {
        this.payloadOf(tx);
      } catch {
        return false;
      }
    }
    return true;
  }

  async finalizeBlock(block: Block, txs: readonly CheckedTx[]): Promise<FinalizeResult> {
    const meta = this.requireMeta();
    const height = block.header.height;
    const time = block.header.time;
    const version = this.versionOf(height, meta);
    const blockState = Overlay.caching((key) => this.store.get(keyBytes(key)));
    const events: AppEvent[] = [];
    const validatorUpdates = new Map<string, ValidatorUpdate>();

    const begin = new TxContext(blockState.child(), {
      meta,
      height,
      time,
      txHash: NO_BYTES,
      signer: NO_BYTES,
    });
    await this.beginBlock(begin);
    blockState.absorb(begin.state);
    events.push(...begin.events);

    const nonces = new Map<string, bigint>();
    const txResults: ExecTxResult[] = [];
    for (const tx of txs) {
      const ctx = new TxContext(blockState.child(), {
        meta,
        height,
        time,
        txHash: tx.hash,
        signer: tx.tx.signer,
      });
      try {
        const decoded = this.payloadOf(tx);
        const nonceKey = stateKey.nonce(tx.tx.signer);
        const lastBytes = await ctx.get(nonceKey);
        const last = lastBytes === null ? 0n : s.u64(decode(lastBytes), 'nonce');
        if (tx.tx.nonce <= last)
          throw healthError(
            'HEALTH_NONCE_REPLAYED',
            `nonce ${tx.tx.nonce} is not above ${last}, the last this key used`,
          );
        const log = await executeTx(ctx, decoded);
        ctx.put(nonceKey, encode(tx.tx.nonce));
        blockState.absorb(ctx.state);
        nonces.set(toHex(tx.tx.signer), tx.tx.nonce);
        for (const u of ctx.validatorUpdates) validatorUpdates.set(toHex(u.pubKey), u);
        txResults.push({ code: 0, codespace: '', log, events: ctx.events });
      } catch (err) {
        // I/O and store failures are not the tx's fault and may differ between nodes: halt.
        if (!(err instanceof CareLedgerError) || err.code.startsWith('STATE_')) throw err;
        txResults.push({ code: errorNumber(err.code), codespace: err.code, log: err.message, events: [] });
      }
    }

    const changes = [...blockState.entries()];
    const { root, ops } = await this.store.prepare(
      version,
      changes.map(([k, v]) => [keyBytes(k), v] as const),
    );
    if (changes.some(([key]) => key.startsWith(MEMBER_KEY_PREFIX)))
      this.preparedMemberChanges.add(toHex(root));
    this.preparedNonces.set(toHex(root), nonces);
    if (this.preparedNonces.size > 8) this.preparedNonces.delete(this.preparedNonces.keys().next().value!);
    return { txResults, events, validatorUpdates: [...validatorUpdates.values()], appHash: root, ops };
  }

  /** Work at the start of each block: deadlines and expiries that time and height have reached. */
  private async beginBlock(ctx: TxContext): Promise<void> {
    const infoBytes = await ctx.get(stateKey.block());
    if (infoBytes === null) throw healthError('HEALTH_NOT_INITIALIZED', 'the health state has no block info');
    const info = decodeBlockInfo(infoBytes);
    // Proposals whose last voting height was the previous block.
    const deadlineKey = stateKey.deadline(ctx.height - 1n);
    const due = await ctx.idList(deadlineKey);
    for (const id of due) await expireProposal(ctx, id);
    if (due.length > 0) ctx.del(deadlineKey);
    // Requests in every whole minute that has passed, a bounded number of minutes per block.
    const lastWhole = ctx.time / EXPIRY_SLOT_MS - 1n;
    let slot = info.expirySlot;
    const stop = info.expirySlot + BigInt(this.opts.maxExpirySlotsPerBlock);
    while (slot < lastWhole && slot < stop) {
      slot++;
      const key = stateKey.expiry(slot);
      const ids = await ctx.idList(key);
      if (ids.length === 0) continue;
      for (const id of ids) await expireRequest(ctx, id);
      ctx.del(key);
    }
    ctx.put(stateKey.block(), encodeBlockInfo({ height: ctx.height, time: ctx.time, expirySlot: slot }));
  }

  commit(height: bigint, appHash: Uint8Array): void {
    const meta = this.meta ?? this.genesisMeta;
    if (meta === null) throw healthError('HEALTH_NOT_INITIALIZED', 'initChain has not run');
    this.store.committed(this.versionOf(height, meta), appHash);
    this.meta = meta;
    const nonces = this.preparedNonces.get(toHex(appHash));
    this.preparedNonces.clear();
    if (this.preparedMemberChanges.has(toHex(appHash))) this.peers = null;
    this.preparedMemberChanges.clear();
    for (const [signer, nonce] of nonces ?? []) {
      this.nonceCache.delete(signer);
      this.nonceCache.set(signer, nonce);
      if (this.nonceCache.size > this.opts.nonceCacheSize)
        this.nonceCache.delete(this.nonceCache.keys().next().value!);
    }
  }

  async query(path: string, data: Uint8Array, height: bigint | null, prove: boolean): Promise<QueryResult> {
    const latest = this.store.latestVersion;
    const fail = (err: CareLedgerError, at: bigint): QueryResult => ({
      code: errorNumber(err.code),
      codespace: err.code,
      log: err.message,
      key: data,
      value: null,
      proof: null,
      height: at,
    });
    if (this.meta === null || latest < 1n)
      return fail(healthError('HEALTH_NOT_INITIALIZED', 'initChain has not run'), 0n);
    const meta = this.meta;
    const version = height === null ? latest : this.versionOf(height, meta);
    const at = this.heightOf(version, meta);
    if (version < 1n || version > latest)
      return fail(
        healthError(
          'QUERY_HEIGHT_INVALID',
          `no state at height ${height} (latest is ${this.heightOf(latest, meta)})`,
        ),
        at,
      );
    try {
      const key = queryKey(path, data);
      if (key === null) return await this.decisionQuery(data, version, at, prove);
      const k = keyBytes(key);
      return await storeQuery(this.store, k, version, at, prove, k);
    } catch (err) {
      if (err instanceof CareLedgerError && Object.hasOwn(HEALTH_ERRORS, err.code)) return fail(err, at);
      if (err instanceof CareLedgerError && err.code === 'STATE_VERSION_PRUNED') return fail(err, at);
      throw err;
    }
  }

  /**
   * The policy decision for (patient, grantee, record, purpose, action) as the next block would
   * see it: at height `at + 1`, at the given time or the queried block's time. The proof is a
   * bundle of every leaf the decision read (see packages/health/query.ts, verifyDecision).
   */
  private async decisionQuery(
    data: Uint8Array,
    version: bigint,
    at: bigint,
    prove: boolean,
  ): Promise<QueryResult> {
    const request = decodeDecisionRequest(data);
    const read = new Map<string, Uint8Array | null>();
    const reader = async (key: string): Promise<Uint8Array | null> => {
      if (!read.has(key)) read.set(key, await this.store.get(keyBytes(key), version));
      return read.get(key)!;
    };
    const blockBytes = await reader(stateKey.block());
    if (blockBytes === null) throw healthError('HEALTH_NOT_INITIALIZED', 'no block info');
    const block = decodeBlockInfo(blockBytes);
    const time = request.time ?? block.time;
    const ctx = new TxContext(new Overlay(reader), {
      meta: this.meta!,
      height: block.height + 1n,
      time,
      txHash: NO_BYTES,
      signer: NO_BYTES,
    });
    const record = await ctx.record(request.record);
    const consents = await policyConsents(ctx, request.patient, request.grantee);
    const decision = decideRequest(consents, record, request, time, block.height + 1n);
    const value = encodeDecisionAnswer({ ...decision, height: block.height + 1n, time });
    let proof: Uint8Array | null = null;
    if (prove) {
      const leaves: ProvenLeaf[] = [];
      for (const [key, leafValue] of read) {
        const k = keyBytes(key);
        const p = await this.store.prove(k, version);
        leaves.push({ key: k, value: leafValue, proof: encodeProof(p.proof) });
      }
      proof = encodeBundle(leaves);
    }
    return {
      code: 0,
      codespace: '',
      log: `${decision.permit ? 'permit' : 'deny'}: ${decision.reason}`,
      key: keyBytes(stateKey.record(request.record)),
      value,
      proof,
      height: at,
    };
  }

  /**
   * A custodian node's decision on a signed fetch request (packages/health/records.ts) on the
   * latest committed state, judged as the next block will judge its access event: at the next
   * height, at the node's clock `now`. `custodian` is the member the node belongs to.
   */
  async decideRelease(signed: SignedFetchRequest, custodian: string, now: bigint): Promise<ReleaseDecision> {
    const meta = this.requireMeta();
    const version = this.store.latestVersion;
    // Caching: the decision and the access checks read the same record, patient and member.
    const ctx = new TxContext(
      Overlay.caching((key) => this.store.get(keyBytes(key), version)),
      {
        meta,
        height: this.heightOf(version, meta) + 1n,
        time: now,
        txHash: NO_BYTES,
        signer: NO_BYTES,
      },
    );
    return decideRelease(ctx, signed, { chainId: meta.chainId, custodian, now, height: ctx.height });
  }

  /** The ids in an id-list leaf at the latest version (for tools and tests). */
  /**
   * The libp2p peer ids the network admits: the nodes of the active members in the committed
   * state, sorted. The node's connection gater follows this after every commit.
   */
  async allowedPeers(): Promise<readonly string[]> {
    if (this.peers === null) {
      const nodes: string[] = [];
      for (const id of await this.idList(stateKey.members())) {
        const bytes = await this.store.get(keyBytes(stateKey.member(id)));
        const member = bytes === null ? null : decodeMember(bytes);
        if (member?.active === true) nodes.push(...member.nodes);
      }
      this.peers = nodes.sort(compareStrings);
    }
    return this.peers;
  }

  async idList(key: string): Promise<string[]> {
    const bytes = await this.store.get(keyBytes(key));
    return bytes === null ? [] : decodeIdList(bytes);
  }
}
