/**
 * A real chain served by the real RPC, for the client SDK's tests: blocks built and applied with
 * packages/types/chain-state.ts, signed by in-process validator keys, stored in a real LevelDB block store,
 * app state in a real Merkle store (so query proofs are real), and served by node/rpc/ (server.ts
 * with methods.ts). The only stand-in is the rest of the node (mempool, p2p, consensus state).
 *
 * Tests lie through `tamper` (rewrite a method's JSON result, as a malicious node would) and react
 * through `after` (run once a method answered, e.g. commit the next block while a client waits).
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTimeouts, initialState } from '../../../../consensus/core/state-machine.ts';
import type { ProposedBlock } from '../../../../consensus/driver.ts';
import { defaultConfig } from '../../../../node/config.ts';
import { rpcMethods } from '../../../../node/rpc/methods.ts';
import type { BlockResults, RpcNode } from '../../../../node/rpc/rpc-node.ts';
import { type RpcMethod, startRpcServer } from '../../../../node/rpc/server.ts';
import { txIndexOps } from '../../../../node/tx-index.ts';
import { peerIdFromNodeKey } from '../../../../p2p/identity.ts';
import { healthQueryKey } from '../../../../packages/client/light-client.ts';
import { CareLedgerError } from '../../../../packages/core/errors.ts';
import type { KeyPair } from '../../../../packages/crypto/ed25519.ts';
import { toHex } from '../../../../packages/crypto/hash.ts';
import { encodeProof } from '../../../../packages/merkle/proof.ts';
import { type Block, blockIdOf, resultsHash, txHash } from '../../../../packages/types/block.ts';
import {
  applyBlock,
  buildBlock,
  type ChainState,
  type ValidatorUpdate,
} from '../../../../packages/types/chain-state.ts';
import type { Commit } from '../../../../packages/types/commit.ts';
import type { Genesis } from '../../../../packages/types/genesis.ts';
import type { AppEvent, ExecTxResult } from '../../../../state/application.ts';
import { BlockStore } from '../../../../state/block-store.ts';
import { Bucket, openDb } from '../../../../state/db.ts';
import { MerkleStore } from '../../../../state/merkle/store.ts';
import { keyFor, makeChain, signedCommit } from '../../consensus/fixtures.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON under test, rewritten field by field
export type Json = Record<string, any>;

export interface BlockSpec {
  /** State writes of this block (key -> value, null deletes). */
  readonly writes?: readonly (readonly [Uint8Array, Uint8Array | null])[];
  readonly txs?: readonly Uint8Array[];
  /** Effective two heights later. */
  readonly updates?: readonly ValidatorUpdate[];
  /** Indexes (in the signing set) of the validators that sign the commit; default all. */
  readonly signers?: readonly number[];
}

export interface TestChain {
  readonly genesis: Genesis;
  readonly url: string;
  readonly blocks: BlockStore;
  readonly committed: Block[];
  readonly commits: Commit[];
  chain(): ChainState;
  commitBlock(spec?: BlockSpec): Promise<Block>;
  /** Rewrites the JSON result of `method` (a deep copy) until `reset`. */
  tamper(method: string, rewrite: (result: Json, params: Json) => Json | undefined): void;
  /** Runs once `method` has answered, until `reset`. */
  after(method: string, hook: () => Promise<void> | void): void;
  /** How often each method was called since the last reset. */
  readonly calls: Map<string, number>;
  reset(): void;
  close(): Promise<void>;
}

/** The state key of `/health/key` for `pubKey`, as the health app stores it. */
export function keyQuery(data: Uint8Array): Uint8Array {
  return healthQueryKey('/health/key', data);
}

export async function startChain(powers: readonly bigint[], label = 'client'): Promise<TestChain> {
  const dir = mkdtempSync(join(tmpdir(), 'careledger-client-unit-'));
  const db = await openDb(join(dir, 'db'));
  const blocks = await BlockStore.open(db);
  const state = await MerkleStore.open(db, {
    nodes: Bucket.merkleNodes,
    roots: Bucket.merkleRoots,
    stale: Bucket.merkleStale,
    latest: Bucket.merkleValues,
  });
  const made = makeChain(powers, label);
  let chain: ChainState = made.chain;
  await db.batch(blocks.genesisOps(chain), { sync: true });
  blocks.genesisCommitted(chain);
  const keyring = new Map<string, KeyPair>(made.fx.keys.map((k) => [toHex(k.publicKey), k]));
  const committed: Block[] = [];
  const commits: Commit[] = [];

  const commitBlock = async (spec: BlockSpec = {}): Promise<Block> => {
    const set = chain.validators.set;
    const txs = spec.txs ?? [];
    const block = buildBlock(chain, {
      txs,
      evidence: [],
      time: chain.lastBlockTime + 1000n,
      proposer: set.validators[chain.validators.proposer]!.address,
    });
    const height = block.header.height;
    const keys = set.validators.map((v) => {
      const k = keyring.get(toHex(v.pubKey)) ?? addedKeys.get(toHex(v.pubKey));
      if (k === undefined) throw new Error('a validator of the chain has no key in the keyring');
      return k;
    });
    const signers = spec.signers ?? set.validators.map((_, i) => i);
    const commit = signedCommit({ set, keys }, signers, height, 0, blockIdOf(block.header));
    const prepared = await state.prepare(height, spec.writes ?? []);
    // A tx whose text starts with "fail" fails, as the application would refuse it.
    const txResults: ExecTxResult[] = txs.map((tx) =>
      Buffer.from(tx).toString().startsWith('fail')
        ? { code: 7, codespace: 'KV_BAD_PAYLOAD', log: 'payload refused', events: [] }
        : { code: 0, codespace: '', log: '', events: [] },
    );
    const events: AppEvent[] = [];
    const after = applyBlock(chain, block, commit, {
      appHash: prepared.root,
      resultsHash: resultsHash(txResults),
      validatorUpdates: spec.updates ?? [],
    });
    await db.batch(
      [
        ...blocks.commitOps(block, commit, after, txResults, events),
        ...txIndexOps(block, txResults, events),
        ...prepared.ops,
      ],
      { sync: true },
    );
    blocks.committed(block, after);
    state.committed(height, prepared.root);
    chain = after;
    committed.push(block);
    commits.push(commit);
    return block;
  };

  const events = new EventEmitter<{ block: [Block, BlockResults, ChainState] }>();
  const node: RpcNode = {
    home: { config: defaultConfig('client-unit'), genesis: made.genesis, validatorKey: made.fx.keys[0]! },
    peerId: peerIdFromNodeKey(new Uint8Array(32).fill(7)),
    get chain() {
      return chain;
    },
    chainId: made.genesis.chainId,
    isCatchingUp: false,
    db,
    blocks,
    app: {
      info: () => ({ lastHeight: chain.lastHeight, appHash: chain.appHash }),
      checkTx: () => null,
      // As state/health/app.ts: the answer names the state key, the proof is against version = height.
      query: async (path, data, height, prove) => {
        const version = height ?? state.latestVersion;
        const key = healthQueryKey(path, data);
        const { value, proof } = await state.prove(key, version);
        return {
          code: 0,
          codespace: '',
          log: value === null ? 'does not exist' : 'exists',
          key,
          value,
          proof: prove ? encodeProof(proof) : null,
          height: version,
        };
      },
    },
    mempool: { size: 0, bytes: 0, reap: () => [], has: () => false },
    p2p: { peers: () => [], addresses: () => [] },
    driver: {
      consensusState: initialState<ProposedBlock>(
        { height: 1n, validators: chain.validators.set, proposer: 0 },
        0,
        { timeouts: defaultTimeouts },
      ),
    },
    events,
    submitTx(bytes) {
      const hash = txHash(bytes);
      if (Buffer.from(bytes).toString().startsWith('bad'))
        return {
          ok: false,
          hash,
          error: new CareLedgerError('TX_BAD_SIGNATURE', 'tx signature does not verify'),
        };
      // Announce a block holding the tx, as the node does once it commits one: that is how the RPC
      // answers broadcast_tx_commit. The block is built on the chain but not stored, so the chain
      // the other tests read is unchanged.
      const failing = Buffer.from(bytes).toString().startsWith('fail');
      const block = buildBlock(chain, {
        txs: [bytes],
        evidence: [],
        time: chain.lastBlockTime + 1000n,
        proposer: chain.validators.set.validators[chain.validators.proposer]!.address,
      });
      const result: ExecTxResult = failing
        ? { code: 7, codespace: 'KV_BAD_PAYLOAD', log: 'payload refused', events: [] }
        : {
            code: 0,
            codespace: '',
            log: '',
            events: [{ type: 'kv', attributes: [{ key: 'op', value: 'set', index: true }] }],
          };
      queueMicrotask(() => events.emit('block', block, { txResults: [result], events: [] }, chain));
      return { ok: true, hash };
    },
  };

  const tampers = new Map<string, (result: Json, params: Json) => Json | undefined>();
  const hooks = new Map<string, () => Promise<void> | void>();
  const calls = new Map<string, number>();
  const methods = new Map<string, RpcMethod>();
  for (const [name, method] of rpcMethods(node, { broadcastTxCommitTimeoutMs: 2000 })) {
    methods.set(name, {
      ...method,
      run: async (params, ctx) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        const result = await method.run(params, ctx);
        const rewrite = tampers.get(name);
        const answer =
          rewrite === undefined ? result : (rewrite(structuredClone(result) as Json, params) ?? result);
        await hooks.get(name)?.();
        return answer;
      },
    });
  }
  const server: Server = await startRpcServer(methods, {
    listen: '127.0.0.1:0',
    maxBodyBytes: 1_000_000,
    maxBatch: 10,
  });

  return {
    genesis: made.genesis,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    blocks,
    committed,
    commits,
    chain: () => chain,
    commitBlock,
    tamper: (method, rewrite) => tampers.set(method, rewrite),
    after: (method, hook) => hooks.set(method, hook),
    calls,
    reset: () => {
      tampers.clear();
      hooks.clear();
      calls.clear();
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const addedKeys = new Map<string, KeyPair>();

/** A validator update for the key of `label` (0 removes it); the harness can then sign with it. */
export function addValidator(label: string, power: bigint): ValidatorUpdate {
  const key = keyFor(label);
  addedKeys.set(toHex(key.publicKey), key);
  return { pubKey: key.publicKey, power };
}
