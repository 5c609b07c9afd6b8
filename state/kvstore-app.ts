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

export function decodeKvOp(payload: Uint8Array): KvOp {
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
