/**
 * The requester's side of a fetch: this node takes a signed fetch request from its institution's
 * systems (or a patient, this node being the gateway), finds the record's custodian on chain and
 * gets the answer from one of the custodian member's nodes over /careledger/record/1 — or from
 * its own release service when this node is one of them.
 *
 * Retries: a custodian node that cannot be reached, or answers BUSY, is tried again (each of the
 * member's nodes in turn, then a backoff doubling from `initialBackoffMs` to `maxBackoffMs`) until
 * `unavailableAfterMs` has passed since the fetch began: then CUSTODIAN_UNAVAILABLE. A refusal,
 * a release, or a custodian that took the request but sent no header in time is final (a retry
 * would ask for the same release again, which the chain refuses as replayed).
 */

import {
  type RecordAnswer,
  RecordExchangeCode,
  type RecordExchangeOptions,
  type RecordLibp2p,
  type RecordResponse,
  requestRecord,
} from '../../p2p/record-exchange.ts';
import { CareLedgerError } from '../../packages/core/errors.ts';
import { decodeFetchRequest } from '../../packages/health/records.ts';
import type { RecordsChain } from './chain-view.ts';
import { RecordsCode } from './refusals.ts';

/** What a fetch gives the local API: the custodian's answer as the exchange hands it over. */
export type FetchResult = RecordResponse;

export interface ForwardOptions {
  readonly unavailableAfterMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly exchange: Partial<RecordExchangeOptions>;
}

export interface ForwardDeps {
  readonly peerId: string;
  readonly chain: RecordsChain;
  readonly libp2p: () => RecordLibp2p;
  /** This node's own release service, for records its member holds. */
  readonly releaseLocally: (request: Uint8Array, peer: string) => Promise<RecordAnswer>;
  readonly options: ForwardOptions;
  readonly nowMs?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Worth another try: the request did not reach a custodian that could take it. */
function retryable(code: string): boolean {
  return code === RecordExchangeCode.busy || code === RecordExchangeCode.unreachable;
}

export class RecordForwarder {
  readonly #d: ForwardDeps;

  constructor(deps: ForwardDeps) {
    this.#d = deps;
  }

  async fetch(requestBytes: Uint8Array): Promise<FetchResult> {
    const { chain, peerId } = this.#d;
    let recordId: string;
    try {
      recordId = decodeFetchRequest(requestBytes).request.record;
    } catch (err) {
      return { ok: false, code: 'ACCESS_REQUEST_INVALID', message: (err as Error).message };
    }
    const record = await chain.record(recordId);
    if (record === null)
      return { ok: false, code: 'RECORD_UNKNOWN', message: `record ${recordId} is not anchored on chain` };
    const custodian = await chain.member(record.custodian);
    const nodes = custodian?.active === true ? custodian.nodes : [];
    if (nodes.includes(peerId)) {
      const answer = await this.#d.releaseLocally(requestBytes, peerId);
      return answer.ok ? { ...answer, cancel: answer.discard } : answer;
    }
    return this.#fromPeers(record.custodian, nodes, requestBytes);
  }

  async #fromPeers(custodian: string, nodes: readonly string[], request: Uint8Array): Promise<FetchResult> {
    const { options } = this.#d;
    const now = this.#d.nowMs ?? Date.now;
    const sleep = this.#d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const deadline = now() + options.unavailableAfterMs;
    let backoff = options.initialBackoffMs;
    let last = 'it has no active node';
    for (;;) {
      for (const node of nodes) {
        const left = deadline - now();
        if (left <= 0) break;
        try {
          const dialMs = Math.min(left, options.exchange.requestTimeoutMs ?? left);
          const res = await requestRecord(this.#d.libp2p(), node, request, {
            ...options.exchange,
            requestTimeoutMs: Math.max(1, dialMs),
          });
          if (res.ok || !retryable(res.code)) return res;
          last = `${node} answered ${res.code}`;
        } catch (err) {
          const code = err instanceof CareLedgerError ? err.code : '';
          if (code === RecordExchangeCode.timeout)
            return {
              ok: false,
              code: RecordsCode.custodianUnavailable,
              message: `custodian ${custodian}: ${(err as Error).message}`,
            };
          if (!retryable(code)) throw err;
          last = (err as Error).message;
        }
      }
      const left = deadline - now();
      if (left <= 0 || nodes.length === 0)
        return {
          ok: false,
          code: RecordsCode.custodianUnavailable,
          message: `no node of custodian ${custodian} answered within ${options.unavailableAfterMs} ms (last: ${last})`,
        };
      await sleep(Math.min(backoff, left));
      backoff = Math.min(backoff * 2, options.maxBackoffMs);
    }
  }
}
