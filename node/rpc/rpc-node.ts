/**
 * What the RPC needs from a node: `CareLedgerNode` has all of it, and each method group takes
 * only the part it reads (a `Pick` of `RpcNode`), so a group is tested with a small stand-in
 * rather than a whole node.
 */
import type { ConsensusState } from '../../consensus/core/state-machine.ts';
import type { ProposedBlock } from '../../consensus/driver.ts';
import type { P2PHost } from '../../p2p/host.ts';
import type { Block } from '../../packages/types/block.ts';
import type { ChainState } from '../../packages/types/chain-state.ts';
import type { Application } from '../../state/application.ts';
import type { BlockStore } from '../../state/block-store.ts';
import type { Db } from '../../state/db.ts';
import type { BlockResults } from '../commit-pipeline.ts';
import type { Home } from '../home.ts';
import type { Mempool, SubmitTx } from '../mempool.ts';

export type { BlockResults };

/** A committed block as the node announces it: the RPC's one source of news about commits. */
export type BlockListener = (block: Block, results: BlockResults, after: ChainState) => void;

export interface RpcNode {
  readonly home: Pick<Home, 'config' | 'genesis' | 'validatorKey'>;
  readonly peerId: string;
  readonly chain: ChainState;
  readonly chainId: string;
  readonly isCatchingUp: boolean;
  readonly db: Db;
  readonly blocks: BlockStore;
  readonly app: Pick<Application, 'info' | 'checkTx' | 'query'>;
  readonly mempool: Pick<Mempool, 'size' | 'bytes' | 'reap' | 'has'>;
  readonly p2p: Pick<P2PHost, 'peers' | 'addresses'>;
  readonly driver: { readonly consensusState: Readonly<ConsensusState<ProposedBlock>> };
  /** 'block' is emitted once a block is committed (written and the app committed), in height order. */
  readonly events: { on(event: 'block', listener: BlockListener): unknown };
  readonly submitTx: SubmitTx;
}
