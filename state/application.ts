/**
 * The one narrow interface between consensus and the application, shaped like CometBFT's ABCI 2.0:
 * check a tx, prepare and process a proposal, finalize a block (deterministic), commit, query.
 * Consensus knows nothing about what txs mean; the application knows nothing about rounds.
 *
 * Finalizing does not write: it returns the database operations of the block's state changes,
 * which the node writes in the same batch as the block and its indexes, so a crash can never leave
 * one without the other. `commit` is called after that batch is durable.
 */

import type { AbciQueryResult } from '../packages/client/rpc.ts';
import type { CareLedgerError } from '../packages/core/errors.ts';
import { encodeProof } from '../packages/merkle/proof.ts';
import type { Block } from '../packages/types/block.ts';
import type { ValidatorUpdate } from '../packages/types/chain-state.ts';
import type { Genesis } from '../packages/types/genesis.ts';
import type { CheckedTx } from '../packages/types/tx.ts';
import type { BatchOp } from './db.ts';
import type { MerkleStore } from './merkle/store.ts';

export interface EventAttribute {
  readonly key: string;
  readonly value: string;
  /** Indexed for search and subscriptions. */
  readonly index: boolean;
}

export interface AppEvent {
  readonly type: string;
  readonly attributes: readonly EventAttribute[];
}

/** The outcome of one tx in a block: code 0 is success; any other code is the app's error. */
export interface ExecTxResult {
  readonly code: number;
  /** A stable error code string, empty on success. */
  readonly codespace: string;
  readonly log: string;
  readonly events: readonly AppEvent[];
}

export interface FinalizeResult {
  readonly txResults: readonly ExecTxResult[];
  readonly events: readonly AppEvent[];
  readonly validatorUpdates: readonly ValidatorUpdate[];
  /** The state root after this block: goes into the next block's header. */
  readonly appHash: Uint8Array;
  /** The state changes, for the node's batch. */
  readonly ops: readonly BatchOp[];
}

/** An application's answer to a query: what `/abci_query` carries to the client, as it reads it. */
export type QueryResult = AbciQueryResult;

export interface InitChainResult {
  /** The app hash of the genesis state: the first block's header carries it. */
  readonly appHash: Uint8Array;
  /** Written in the node's genesis batch; then the node calls `commit(initialHeight - 1n, appHash)`. */
  readonly ops: readonly BatchOp[];
}

export interface Application {
  /**
   * Builds the genesis state from the genesis document (its `appState` is the app's to check),
   * without writing, as ABCI's InitChain. Called once, on an empty database.
   */
  initChain(genesis: Genesis): Promise<InitChainResult>;
  /** The last height the application committed and its app hash (for the handshake at start). */
  info(): { readonly lastHeight: bigint; readonly appHash: Uint8Array };
  /** Stateless and cheap stateful checks of a tx whose signature was already verified. */
  checkTx(tx: CheckedTx, recheck: boolean): CareLedgerError | null;
  /** The proposer's chance to reorder or drop txs (it must not add invalid ones). */
  prepareProposal(txs: readonly CheckedTx[]): readonly CheckedTx[];
  /** False rejects the proposal (the node prevotes nil). */
  processProposal(block: Block, txs: readonly CheckedTx[]): boolean;
  /** Executes a decided block deterministically, without writing. */
  finalizeBlock(block: Block, txs: readonly CheckedTx[]): Promise<FinalizeResult>;
  /** The batch holding the block's ops was written. */
  commit(height: bigint, appHash: Uint8Array): void;
  query(path: string, data: Uint8Array, height: bigint | null, prove: boolean): Promise<QueryResult>;
  /**
   * The libp2p peer ids the application admits to the network (membership kept on chain), read
   * after each commit; absent for an application without membership (the node then admits its
   * configured persistent peers).
   */
  allowedPeers?(): Promise<readonly string[]>;
}

/**
 * One key of a Merkle store at `version` as a query answer, with its proof when asked: the
 * single-key query of every application. `shownKey` is the key the answer names (the app's own
 * spelling of what was asked), `height` the block height the version stands for.
 */
/**
 * An application's payload decoder that decodes each checked tx once: the mempool's CheckedTx is
 * the object that reaches checkTx, the proposal and the block, so the strict decode (with its
 * re-encode) runs once per tx instead of at every step. A failure is remembered and thrown again.
 */
export function decodedOnce<T>(decodePayload: (payload: Uint8Array) => T): (tx: CheckedTx) => T {
  const results = new WeakMap<CheckedTx, { readonly value: T } | { readonly error: unknown }>();
  return (tx) => {
    let result = results.get(tx);
    if (result === undefined) {
      try {
        result = { value: decodePayload(tx.tx.payload) };
      } catch (error) {
        result = { error };
      }
      results.set(tx, result);
    }
    if ('error' in result) throw result.error;
    return result.value;
  };
}

export async function storeQuery(
  store: MerkleStore,
  key: Uint8Array,
  version: bigint,
  height: bigint,
  prove: boolean,
  shownKey: Uint8Array,
): Promise<QueryResult> {
  const { value, proof } = prove
    ? await store.prove(key, version)
    : { value: await store.get(key, version), proof: null };
  return {
    code: 0,
    codespace: '',
    log: value === null ? 'does not exist' : 'exists',
    key: shownKey,
    value,
    proof: proof === null ? null : encodeProof(proof),
    height,
  };
}
