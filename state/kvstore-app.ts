/**
 * A small key-value application (CometBFT's `kvstore`, with signed txs), used to exercise the node
 * until the health-data application plugs into the same interface. A tx payload is the canonical
 * encoding of `['set', key, value]` or `['del', key]`; state lives in the Merkle store, so every
 * query can be proven against the app hash.
 */
import { decode, encode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { CareLedgerError, invalid } from '../packages/core/errors.ts';
import type { Block } from '../packages/types/block.ts';
import type { Genesis } from '../packages/types/genesis.ts';
import type { CheckedTx } from '../packages/types/tx.ts';
import {
  type AppEvent,
  type Application,
  decodedOnce,
  type ExecTxResult,
  type FinalizeResult,
  type InitChainResult,
  type QueryResult,
  storeQuery,
} from './application.ts';
import { Bucket, type Db } from './db.ts';
import { MerkleStore, type MerkleStoreOptions } from './merkle/store.ts';

export const MAX_KEY_LENGTH = 256;
export const MAX_VALUE_BYTES = 16 * 1024;

export type KvOp =
  | { readonly op: 'set'; readonly key: string; readonly value: Uint8Array }
  | { readonly op: 'del'; readonly key: string };

export function encodeKvOp(op: KvOp): Uint8Array {
  return encode(op.op === 'set' ? ['set', op.key, op.value] : ['del', op.key]);
}

/**
 * Strict decode of a kvstore payload. An op laid out exactly as `encodeKvOp` writes it with an
 * ASCII key is read in place (canonicalKvOp: its value is then a view into `payload`, which the
 * caller keeps unchanged, as a CheckedTx's payload is); anything else goes through the generic
 * decoder, which accepts or refuses it with its own error.
 */
export function decodeKvOp(payload: Uint8Array): KvOp {
  return canonicalKvOp(payload) ?? decodeKvOpGeneric(payload);
}

// 'set' and 'del' as fixstr: 0xa3 and three ASCII bytes.
const SET_TAG = [0xa3, 0x73, 0x65, 0x74] as const;
const DEL_TAG = [0xa3, 0x64, 0x65, 0x6c] as const;

function hasTag(payload: Uint8Array, tag: readonly number[]): boolean {
  return payload[1] === tag[0] && payload[2] === tag[1] && payload[3] === tag[2] && payload[4] === tag[3];
}

/**
 * The op of a payload read at its places, if the payload is exactly the canonical encoding
 * (codec/canonical.ts, msgpackr) of an op `decodeKvOpGeneric` accepts, with a key of 1 to 255
 * ASCII bytes; else null. That encoding: 0x93 (set) or 0x92 (del); the tag as fixstr (0xa3 and 3
 * bytes); the key as fixstr (0xa0 | n) below 32 bytes, else str 8 (0xd9, 1-byte length); for a
 * set, the value as bin 8 (0xc4) below 256 bytes, else bin 16 (0xc5, 2-byte length) up to
 * MAX_VALUE_BYTES: the shortest forms, as msgpackr writes them; nothing after. An ASCII key reads
 * the same in any UTF-8 decoder and re-encodes to its bytes, so the generic decoder accepts the
 * same bytes with the same op (test/unit/state/kvstore-decode.test.ts checks both on seeded
 * random inputs).
 */
export function canonicalKvOp(payload: Uint8Array): KvOp | null {
  const end = payload.length;
  if (end < 7) return null;
  const isSet = payload[0] === 0x93 && hasTag(payload, SET_TAG);
  if (!isSet && !(payload[0] === 0x92 && hasTag(payload, DEL_TAG))) return null;
  const header = payload[5]!;
  let keyAt: number;
  let keyLength: number;
  if (header >= 0xa1 && header <= 0xbf) {
    keyAt = 6;
    keyLength = header & 0x1f;
  } else if (header === 0xd9) {
    keyAt = 7;
    keyLength = payload[6]!;
    if (keyLength < 0x20) return null;
  } else return null;
  const keyEnd = keyAt + keyLength;
  if (keyEnd > end) return null;
  for (let i = keyAt; i < keyEnd; i++) if (payload[i]! >= 0x80) return null;
  const key = Buffer.from(payload.buffer, payload.byteOffset, end).toString('latin1', keyAt, keyEnd);
  if (!isSet) return keyEnd === end ? { op: 'del', key } : null;
  let valueAt: number;
  let valueLength: number;
  if (payload[keyEnd] === 0xc4 && keyEnd + 2 <= end) {
    valueAt = keyEnd + 2;
    valueLength = payload[keyEnd + 1]!;
  } else if (payload[keyEnd] === 0xc5 && keyEnd + 3 <= end) {
    valueAt = keyEnd + 3;
    valueLength = (payload[keyEnd + 1]! << 8) | payload[keyEnd + 2]!;
    if (valueLength < 0x100 || valueLength > MAX_VALUE_BYTES) return null;
  } else return null;
  if (valueAt + valueLength !== end) return null;
  return { op: 'set', key, value: new Uint8Array(payload.buffer, payload.byteOffset + valueAt, valueLength) };
}

/** The strict decode through the generic decoder and the schema readers (values are copies). */
export function decodeKvOpGeneric(payload: Uint8Array): KvOp {
  const value = decode(payload);
  if (!Array.isArray(value) || value.length === 0)
    throw invalid('KV_BAD_PAYLOAD', 'payload must be a tagged tuple');
  if (value[0] === 'set') {
    const [, key, v] = s.tuple(value, 3, 'set');
    return {
      op: 'set',
      key: stateKey(s.string(key!, 'key', MAX_KEY_LENGTH)),
      value: s.boundedBytes(v!, 'value', MAX_VALUE_BYTES),
    };
  }
  if (value[0] === 'del') {
    const [, key] = s.tuple(value, 2, 'del');
    return { op: 'del', key: stateKey(s.string(key!, 'key', MAX_KEY_LENGTH)) };
  }
  throw invalid('KV_BAD_PAYLOAD', `unknown operation ${String(value[0])}`);
}

function stateKey(key: string): string {
  if (key.length === 0) throw invalid('KV_BAD_PAYLOAD', 'key must not be empty');
  return key;
}

function keyBytes(key: string): Uint8Array {
  return Buffer.from(`kv/${key}`, 'utf8');
}

export class KvStoreApp implements Application {
  private readonly store: MerkleStore;
  private readonly opOf = decodedOnce(decodeKvOp);

  private constructor(store: MerkleStore) {
    this.store = store;
  }

  static async open(db: Db, storeOptions: Partial<MerkleStoreOptions> = {}): Promise<KvStoreApp> {
    const store = await MerkleStore.open(
      db,
      {
        nodes: Bucket.merkleNodes,
        roots: Bucket.merkleRoots,
        stale: Bucket.merkleStale,
        latest: Bucket.merkleValues,
      },
      storeOptions,
    );
    return new KvStoreApp(store);
  }

  /**
   * The kvstore starts empty: its genesis state is the empty tree, with nothing to write. Its
   * store's versions are the heights, so it runs only chains that start at height 1.
   */
  async initChain(genesis: Genesis): Promise<InitChainResult> {
    if (genesis.initialHeight !== 1n)
      throw new CareLedgerError(
        'KVSTORE_INITIAL_HEIGHT',
        `the kvstore application runs chains from height 1, not ${genesis.initialHeight} (use proxy_app health)`,
      );
    return { appHash: this.store.latestRoot, ops: [] };
  }

  info(): { lastHeight: bigint; appHash: Uint8Array } {
    return { lastHeight: this.store.latestVersion, appHash: this.store.latestRoot };
  }

  checkTx(tx: CheckedTx, _recheck = false): CareLedgerError | null {
    try {
      this.opOf(tx);
      return null;
    } catch (err) {
      return err as CareLedgerError;
    }
  }

  prepareProposal(txs: readonly CheckedTx[]): readonly CheckedTx[] {
    return txs;
  }

  processProposal(_block: Block, txs: readonly CheckedTx[]): boolean {
    return txs.every((tx) => this.checkTx(tx) === null);
  }

  async finalizeBlock(block: Block, txs: readonly CheckedTx[]): Promise<FinalizeResult> {
    const changes = new Map<string, { key: Uint8Array; value: Uint8Array | null }>();
    const txResults: ExecTxResult[] = txs.map((tx) => {
      let op: KvOp;
      try {
        op = this.opOf(tx);
      } catch (err) {
        return { code: 1, codespace: (err as CareLedgerError).code, log: (err as Error).message, events: [] };
      }
      const key = keyBytes(op.key);
      changes.set(Buffer.from(key).toString('hex'), { key, value: op.op === 'set' ? op.value : null });
      const events: AppEvent[] = [
        {
          type: 'kv',
          attributes: [
            { key: 'key', value: op.key, index: true },
            { key: 'op', value: op.op, index: true },
          ],
        },
      ];
      return { code: 0, codespace: '', log: '', events };
    });
    const { root, ops } = await this.store.prepare(
      block.header.height,
      [...changes.values()].map((c) => [c.key, c.value] as const),
    );
    return { txResults, events: [], validatorUpdates: [], appHash: root, ops };
  }

  commit(height: bigint, appHash: Uint8Array): void {
    // Height 0 is the empty genesis state: version 0 of the store, committed by definition.
    if (height === 0n) return;
    this.store.committed(height, appHash);
  }

  async query(path: string, data: Uint8Array, height: bigint | null, prove: boolean): Promise<QueryResult> {
    const version = height ?? this.store.latestVersion;
    if (path !== '/kv' && path !== 'kv') {
      return {
        code: 1,
        codespace: 'QUERY_UNKNOWN_PATH',
        log: `unknown query path ${path}`,
        key: data,
        value: null,
        proof: null,
        height: version,
      };
    }
    return storeQuery(
      this.store,
      keyBytes(Buffer.from(data).toString('utf8')),
      version,
      version,
      prove,
      data,
    );
  }
}
