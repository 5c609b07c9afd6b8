/**
 * The block store: blocks, the commits that decided them, block ids by height and by hash, the
 * tx index (hash -> height and position), tx results, validator sets by height and the chain
 * state, all in the node's one LevelDB. Writing is always through `commitOps`, whose operations
 * the node puts in the same batch as the application's state changes.
 */

import { u64be } from '../packages/codec/bytes.ts';
import { type Canonical, decode, encode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { equalBytes, toHex } from '../packages/crypto/hash.ts';
import { type Block, blockIdOf, blockTxHashes, decodeBlock, encodeBlock } from '../packages/types/block.ts';
import { type ChainState, decodeChainState, encodeChainState } from '../packages/types/chain-state.ts';
import { type Commit, commitFields, commitFromFields, evidenceHash } from '../packages/types/commit.ts';
import {
  decodeValidatorSetFields,
  encodeValidatorSetFields,
  type ValidatorSet,
  validatorSetHash,
} from '../packages/types/validator.ts';
import type { AppEvent, ExecTxResult } from './application.ts';
import { type BatchOp, Bucket, type Db, getOrNull, heightKey, key, META_CHAIN_STATE } from './db.ts';

export interface TxLocation {
  readonly height: bigint;
  readonly index: number;
}

function eventFields(e: AppEvent): Canonical {
  return [e.type, e.attributes.map((a) => [a.key, a.value, a.index])];
}

function eventFromFields(value: Canonical): AppEvent {
  const [type, attributes] = s.tuple(value, 2, 'event');
  return {
    type: s.string(type!, 'event.type', 256),
    attributes: s.list(attributes!, 1024, 'event.attributes').map((a) => {
      const [k, v, index] = s.tuple(a, 3, 'event attribute');
      return {
        key: s.string(k!, 'key', 256),
        value: s.string(v!, 'value', 65536),
        index: s.bool(index!, 'index'),
      };
    }),
  };
}

export function encodeResults(results: readonly ExecTxResult[], events: readonly AppEvent[]): Uint8Array {
  return encode([
    results.map((r) => [r.code, r.codespace, r.log, r.events.map(eventFields)]),
    events.map(eventFields),
  ]);
}

export function decodeResults(bytes: Uint8Array): { txResults: ExecTxResult[]; events: AppEvent[] } {
  const [results, events] = s.tuple(decode(bytes), 2, 'results');
  return {
    txResults: s.list(results!, 100_000, 'results').map((r) => {
      const [code, codespace, log, txEvents] = s.tuple(r, 4, 'tx result');
      return {
        code: s.int(code!, 'code', 0, 2 ** 31),
        codespace: s.string(codespace!, 'codespace', 128),
        log: s.string(log!, 'log', 65536),
        events: s.list(txEvents!, 1024, 'events').map(eventFromFields),
      };
    }),
    events: s.list(events!, 1024, 'events').map(eventFromFields),
  };
}

export class BlockStore {
  private readonly db: Db;
  /** Validator-set change points (height from which a set applies), ascending. */
  private sets: { from: bigint; set: ValidatorSet }[] = [];
  private readonly committedEvidence = new Set<string>();
  /** setChange answers per chain state (weakly held: a state is dropped once the next exists). */
  private readonly setChanges = new WeakMap<ChainState, { from: bigint; set: ValidatorSet } | null>();

  private constructor(db: Db) {
    this.db = db;
  }

  static async open(db: Db): Promise<BlockStore> {
    const store = new BlockStore(db);
    for await (const [k, v] of db.iterator({
      gte: heightKey(Bucket.validatorSets, 0n),
      lt: Uint8Array.of(Bucket.validatorSets + 1),
    })) {
      store.sets.push({ from: Buffer.from(k).readBigUInt64BE(1), set: decodeValidatorSetFields(decode(v)) });
    }
    for await (const k of db.keys({
      gt: Uint8Array.of(Bucket.evidenceCommitted),
      lt: Uint8Array.of(Bucket.evidenceCommitted + 1),
    })) {
      store.committedEvidence.add(toHex(k.subarray(1)));
    }
    return store;
  }

  async chainState(): Promise<ChainState | null> {
    const bytes = await getOrNull(this.db, META_CHAIN_STATE);
    return bytes === null ? null : decodeChainState(bytes);
  }

  async block(height: bigint): Promise<Block | null> {
    const bytes = await getOrNull(this.db, heightKey(Bucket.blockByHeight, height));
    return bytes === null ? null : decodeBlock(bytes);
  }

  async blockBytes(height: bigint): Promise<Uint8Array | null> {
    return getOrNull(this.db, heightKey(Bucket.blockByHeight, height));
  }

  /**
   * The block at `height` and the commit that decided it as stored (their canonical encodings),
   * in one read: what block sync sends a peer, without decoding them.
   */
  async storedBytes(height: bigint): Promise<{ block: Uint8Array; commit: Uint8Array } | null> {
    const [block, commit] = await this.db.getMany([
      heightKey(Bucket.blockByHeight, height),
      heightKey(Bucket.commitByHeight, height),
    ]);
    return block === undefined || commit === undefined ? null : { block, commit };
  }

  /** The commit that decided the block at `height`. */
  async commit(height: bigint): Promise<Commit | null> {
    const bytes = await getOrNull(this.db, heightKey(Bucket.commitByHeight, height));
    return bytes === null ? null : commitFromFields(decode(bytes));
  }

  async heightOf(blockId: Uint8Array): Promise<bigint | null> {
    const bytes = await getOrNull(this.db, key(Bucket.heightByBlockId, blockId));
    return bytes === null ? null : Buffer.from(bytes).readBigUInt64BE(0);
  }

  async txLocation(hash: Uint8Array): Promise<TxLocation | null> {
    const bytes = await getOrNull(this.db, key(Bucket.txByHash, hash));
    if (bytes === null) return null;
    const b = Buffer.from(bytes);
    return { height: b.readBigUInt64BE(0), index: b.readUInt32BE(8) };
  }

  /**
   * Whether the tx index holds `hash`, read synchronously: the RPC asks this of every tx it is
   * sent, nearly always about a tx that is not there, and LevelDB's bloom filters answer that
   * from memory. An async get would hand each such miss to the thread pool and back (about 3x
   * the CPU here, and a thread wake-up per tx on a 2-core machine).
   */
  hasTxSync(hash: Uint8Array): boolean {
    return this.db.getSync(key(Bucket.txByHash, hash)) !== undefined;
  }

  /**
   * Which of `hashes` the tx index already holds, in one LevelDB read for the whole list: the
   * replay check of a block costs one trip through the event loop, not one per tx.
   */
  async committedTxs(hashes: readonly Uint8Array[]): Promise<boolean[]> {
    if (hashes.length === 0) return [];
    const found = await this.db.getMany(hashes.map((h) => key(Bucket.txByHash, h)));
    return found.map((v) => v !== undefined);
  }

  async results(height: bigint): Promise<{ txResults: ExecTxResult[]; events: AppEvent[] } | null> {
    const bytes = await getOrNull(this.db, heightKey(Bucket.resultsByHeight, height));
    return bytes === null ? null : decodeResults(bytes);
  }

  /** The validator set that signed at `height`, if the store knows it. */
  validatorsAt(height: bigint): ValidatorSet | undefined {
    let found: ValidatorSet | undefined;
    for (const point of this.sets) {
      if (point.from > height) break;
      found = point.set;
    }
    return found;
  }

  isEvidenceCommitted(hash: Uint8Array): boolean {
    return this.committedEvidence.has(toHex(hash));
  }

  /** Records the validator set of the first height (once, at genesis). */
  genesisOps(chain: ChainState): BatchOp[] {
    return [
      this.setOp(chain.lastHeight + 1n, chain.validators.set),
      this.setOp(chain.lastHeight + 2n, chain.nextValidators.set),
      // Stored, so a restart before the first block finds the genesis done and never repeats it.
      { type: 'put', key: META_CHAIN_STATE, value: encodeChainState(chain) },
    ];
  }

  private setOp(from: bigint, set: ValidatorSet): BatchOp {
    return {
      type: 'put',
      key: heightKey(Bucket.validatorSets, from),
      value: encode(encodeValidatorSetFields(set)),
    };
  }

  /**
   * Every write for a committed block: block, commit, id index, tx index, results, a new
   * validator set if it changes two heights on, committed evidence, and the chain state after.
   */
  commitOps(
    block: Block,
    commit: Commit,
    after: ChainState,
    results: readonly ExecTxResult[],
    events: readonly AppEvent[],
    /** Positions of txs refused as replays: their hash already points at their first commit. */
    replayed: ReadonlySet<number> = new Set(),
    /** `encodeBlock(block)`, when the caller already has it (it also measures the block). */
    encodedBlock: Uint8Array = encodeBlock(block),
  ): BatchOp[] {
    const txHashes = blockTxHashes(block);
    const height = block.header.height;
    const heightBytes = u64be(height);
    const ops: BatchOp[] = [
      { type: 'put', key: heightKey(Bucket.blockByHeight, height), value: encodedBlock },
      { type: 'put', key: heightKey(Bucket.commitByHeight, height), value: encode(commitFields(commit)) },
      { type: 'put', key: key(Bucket.heightByBlockId, blockIdOf(block.header)), value: heightBytes },
      { type: 'put', key: heightKey(Bucket.resultsByHeight, height), value: encodeResults(results, events) },
      { type: 'put', key: META_CHAIN_STATE, value: encodeChainState(after) },
    ];
    txHashes.forEach((hash, index) => {
      if (replayed.has(index)) return;
      const location = Buffer.alloc(12);
      location.set(heightBytes);
      location.writeUInt32BE(index, 8);
      ops.push({ type: 'put', key: key(Bucket.txByHash, hash), value: location });
    });
    for (const e of block.evidence) {
      ops.push({ type: 'put', key: key(Bucket.evidenceCommitted, evidenceHash(e)), value: heightBytes });
    }
    const change = this.setChange(after);
    if (change !== null) ops.push(this.setOp(change.from, change.set));
    return ops;
  }

  /**
   * The validator set that starts two heights after `after`'s block, if it differs from the one
   * stored for that height; null if not. Remembered per chain state, so `commitOps` and
   * `committed` hash the sets once.
   */
  private setChange(after: ChainState): { from: bigint; set: ValidatorSet } | null {
    const known = this.setChanges.get(after);
    if (known !== undefined) return known;
    const from = after.lastHeight + 2n;
    const previous = this.validatorsAt(from);
    const change =
      previous === undefined ||
      !equalBytes(validatorSetHash(previous), validatorSetHash(after.nextValidators.set))
        ? { from, set: after.nextValidators.set }
        : null;
    this.setChanges.set(after, change);
    return change;
  }

  /** Updates in-memory indexes once the batch holding `commitOps` is durable. */
  committed(block: Block, after: ChainState): void {
    for (const e of block.evidence) this.committedEvidence.add(toHex(evidenceHash(e)));
    const change = this.setChange(after);
    if (change !== null) this.sets.push(change);
  }

  /** Records the sets written by `genesisOps`. */
  genesisCommitted(chain: ChainState): void {
    this.sets = [
      { from: chain.lastHeight + 1n, set: chain.validators.set },
      { from: chain.lastHeight + 2n, set: chain.nextValidators.set },
    ];
  }
}
