/**
 * Event subscriptions (CometBFT's rpc/core/events.go): subscribe, unsubscribe and unsubscribe_all,
 * WebSocket only; and the events of each committed block (NewBlock, NewBlockHeader, one Tx per tx,
 * ValidatorSetUpdates when the set changes) published to the matching subscriptions.
 */
import { type Block, blockIdOf, blockTxHashes } from '../../packages/types/block.ts';
import type { ChainState } from '../../packages/types/chain-state.ts';
import type { BlockStore } from '../../state/block-store.ts';
import { validatorDiff } from './blocks.ts';
import { flattenEvents, queryText } from './events-query.ts';
import {
  base64,
  blockIdJson,
  blockJson,
  eventJson,
  execTxResultJson,
  headerJson,
  hexUpper,
  validatorJson,
  validatorUpdateJson,
} from './format.ts';
import { methodError } from './jsonrpc.ts';
import { queryParam } from './params.ts';
import type { BlockListener, BlockResults } from './rpc-node.ts';
import type { CallContext, MethodTable } from './server.ts';
import { type EventBus, SubscriptionError, type WsSession } from './ws.ts';

function sessionOf(ctx: CallContext): WsSession {
  if (ctx.session === null) throw methodError('subscriptions need a WebSocket connection');
  return ctx.session;
}

export function eventMethods(bus: EventBus): MethodTable {
  return {
    subscribe: {
      params: ['query'],
      wsOnly: true,
      run: async (params, ctx) => {
        const session = sessionOf(ctx);
        const { text, query } = queryParam(params, ctx.transport, 'failed to parse query: ');
        try {
          bus.subscribe(session, ctx.id, text, queryText(query), query);
        } catch (err) {
          if (err instanceof SubscriptionError) throw methodError(err.message);
          throw err;
        }
        return {};
      },
    },

    unsubscribe: {
      params: ['query'],
      wsOnly: true,
      run: async (params, ctx) => {
        const session = sessionOf(ctx);
        const { query } = queryParam(params, ctx.transport, 'failed to parse query: ');
        if (!bus.unsubscribe(session, queryText(query))) throw methodError('subscription not found');
        return {};
      },
    },

    unsubscribe_all: {
      params: [],
      wsOnly: true,
      run: async (_params, ctx) => {
        const session = sessionOf(ctx);
        if (bus.unsubscribeAll(session) === 0) throw methodError('subscription not found');
        return {};
      },
    },
  };
}

/**
 * The node's 'block' listener that publishes each block's events. Events go out after the commit,
 * not in it, block by block in order, and a block of many txs yields to the event loop as it goes:
 * subscriptions must never hold up consensus.
 */
export function blockPublisher(bus: EventBus, blocks: Pick<BlockStore, 'validatorsAt'>): BlockListener {
  let publishing = Promise.resolve();
  return (block, results, after) => {
    if (bus.size === 0) return;
    publishing = publishing
      .then(() => publishBlock(bus, blocks, block, results, after))
      .catch(() => {
        // an event that cannot be rendered is dropped; the block is committed regardless
      });
  };
}

/** Txs published between two turns of the event loop. */
const TX_EVENTS_PER_TURN = 256;

/** CometBFT's events for one committed block, published to the matching subscriptions. */
export async function publishBlock(
  bus: EventBus,
  blocks: Pick<BlockStore, 'validatorsAt'>,
  block: Block,
  results: BlockResults,
  after: ChainState,
): Promise<void> {
  const height = block.header.height;
  const id = blockIdOf(block.header);
  const updates = validatorDiff(blocks.validatorsAt(height + 1n), blocks.validatorsAt(height + 2n));
  const blockEvents = flattenEvents(results.events);
  bus.publish(new Map([...blockEvents, ['tm.event', ['NewBlock']]]), () => ({
    type: 'tendermint/event/NewBlock',
    value: {
      block: blockJson(block, blocks.validatorsAt(height - 1n), blocks.validatorsAt(height)),
      block_id: blockIdJson(id),
      result_finalize_block: {
        events: results.events.map(eventJson),
        tx_results: results.txResults.map(execTxResultJson),
        validator_updates: updates.map((u) => validatorUpdateJson(u.validator.pubKey, u.power)),
        consensus_param_updates: null,
        app_hash: base64(after.appHash),
      },
    },
  }));
  bus.publish(new Map([['tm.event', ['NewBlockHeader']]]), () => ({
    type: 'tendermint/event/NewBlockHeader',
    value: { header: headerJson(block.header) },
  }));
  // The block's tx hashes, cached on it (the commit waiters have just asked for them too).
  const hashes = blockTxHashes(block);
  for (const [index, tx] of block.txs.entries()) {
    if (index > 0 && index % TX_EVENTS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    const result = results.txResults[index] ?? null;
    const events = flattenEvents(result?.events ?? []);
    events.set('tx.hash', [hexUpper(hashes[index]!)]);
    events.set('tx.height', [height.toString()]);
    events.set('tm.event', ['Tx']);
    bus.publish(events, () => ({
      type: 'tendermint/event/Tx',
      value: {
        TxResult: { height: height.toString(), index, tx: base64(tx), result: execTxResultJson(result) },
      },
    }));
  }
  if (updates.length > 0) {
    bus.publish(new Map([['tm.event', ['ValidatorSetUpdates']]]), () => ({
      type: 'tendermint/event/ValidatorSetUpdates',
      value: {
        validator_updates: updates.map((u) => validatorJson({ ...u.validator, votingPower: u.power })),
      },
    }));
  }
}
