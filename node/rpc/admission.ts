/**
 * Admission control for broadcast_tx_*: while the node is busy, a new tx is refused at once with
 * MEMPOOL_BUSY (code 1, before any check, so a refusal costs a hash, not a verify). Overload then
 * turns into quick, typed refusals the client can retry, instead of a full pool, huge blocks, a
 * request backlog and tens of seconds of latency (bench/THROUGHPUT.md).
 */
import { CareLedgerError } from '../../packages/core/errors.ts';
import type { RpcNode } from './rpc-node.ts';

export interface AdmissionOptions {
  /**
   * Busy while the mempool holds at least this fraction of its `mempool.max_txs`, or while the
   * event loop is late by `maxEventLoopLagMs` or more (the node is CPU-bound: requests are already
   * queueing in front of it). Txs from peers are still taken up to the pool's limit. A fraction of
   * 1 turns the first test off (MEMPOOL_FULL still applies).
   */
  readonly mempoolBusyFraction: number;
  /** See `mempoolBusyFraction`; 0 turns the lag test off. */
  readonly maxEventLoopLagMs: number;
  /** The event loop's current lag in ms; by default sampled here by a 20 ms timer (unref'd). */
  readonly eventLoopLag?: () => number;
}

export const defaultAdmissionOptions: AdmissionOptions = {
  mempoolBusyFraction: 0.5,
  // Off by default: on a loaded 2-core machine a tx arriving just after a long block would be
  // refused although the node recovers within a block, and no throughput gain was measured
  // (bench/THROUGHPUT.md). Operators of busy nodes can turn it on.
  maxEventLoopLagMs: 0,
};

const LAG_SAMPLE_MS = 20;

/** How late a repeating timer fires, in ms: 0 when the event loop keeps up. Never holds the process open. */
export function sampleEventLoopLag(): () => number {
  let lag = 0;
  let expected = performance.now() + LAG_SAMPLE_MS;
  setInterval(() => {
    const now = performance.now();
    lag = Math.max(0, now - expected);
    expected = now + LAG_SAMPLE_MS;
  }, LAG_SAMPLE_MS).unref();
  return () => Math.max(lag, performance.now() - expected);
}

/** Throws RPC_OPTIONS_INVALID for a value admission cannot work with. */
export function checkAdmissionOptions(opts: AdmissionOptions): void {
  if (!(opts.mempoolBusyFraction > 0 && opts.mempoolBusyFraction <= 1))
    throw new CareLedgerError('RPC_OPTIONS_INVALID', 'mempoolBusyFraction must be above 0 and at most 1');
  if (!(opts.maxEventLoopLagMs >= 0 && Number.isFinite(opts.maxEventLoopLagMs)))
    throw new CareLedgerError('RPC_OPTIONS_INVALID', 'maxEventLoopLagMs must be a number of ms, 0 or more');
}

/** Why the node takes no new client tx right now, or null when it does. */
export type Busy = () => string | null;

export function admission(node: Pick<RpcNode, 'home' | 'mempool'>, opts: AdmissionOptions): Busy {
  checkAdmissionOptions(opts);
  const lagOf = opts.eventLoopLag ?? (opts.maxEventLoopLagMs > 0 ? sampleEventLoopLag() : (): number => 0);
  return () => {
    const busyAt = Math.max(1, Math.ceil(node.home.config.mempool.maxTxs * opts.mempoolBusyFraction));
    if (node.mempool.size >= busyAt) return `${node.mempool.size} txs pending, admission stops at ${busyAt}`;
    if (opts.maxEventLoopLagMs === 0) return null;
    const lag = lagOf();
    if (lag >= opts.maxEventLoopLagMs)
      return `the node is ${Math.round(lag)} ms behind, admission stops at ${opts.maxEventLoopLagMs}`;
    return null;
  };
}
