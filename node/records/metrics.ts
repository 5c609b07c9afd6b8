/**
 * What the records service counts, as a narrow interface the node's metrics implement
 * (node/metrics.ts `forRecords`, subsystem `records`), so the service is tested with or without
 * them (metrics may be null, as everywhere in the node):
 *
 *   records_releases_total                    releases this custodian made (access event committed)
 *   records_release_refusals_total{code}      the custodian's refusals, by code
 *   records_api_refusals_total{code}          the local API's error answers, by code (relayed
 *                                             fetch refusals included)
 *   records_busy_refusals_total{code}         refusals for load: BUSY (record exchange, requests
 *                                             in flight per peer), RELEASE_BUSY (access events
 *                                             waiting), LOCAL_AUTH_BUSY (replay cache full)
 *   records_replay_refusals_total{reason}     the local API's replay cache: `replayed` (a nonce
 *                                             used again) or `full` (no room for a live nonce)
 *   records_vault_bytes                       ciphertext bytes held in the vault
 */
import type { RecordAnswer, RecordServer } from '../../p2p/record-exchange.ts';
import { LocalAuthErrorCode } from '../../packages/records/local-auth.ts';
import { RecordsCode } from './refusals.ts';

export interface RecordsMetrics {
  released(): void;
  releaseRefused(code: string): void;
  apiRefused(code: string): void;
  busy(code: string): void;
  replayRefused(reason: 'replayed' | 'full'): void;
  /** Reads the vault's stored bytes at each scrape. */
  watchVault(bytes: () => number): void;
}

const BUSY_CODES: ReadonlySet<string> = new Set(['BUSY', RecordsCode.releaseBusy, LocalAuthErrorCode.busy]);

/** Counts one of the custodian's answers. */
export function countRelease(m: RecordsMetrics | null, answer: RecordAnswer): void {
  if (m === null) return;
  if (answer.ok) {
    m.released();
    return;
  }
  m.releaseRefused(answer.code);
  if (BUSY_CODES.has(answer.code)) m.busy(answer.code);
}

/** The custodian's release, counted. */
export function countedRelease(m: RecordsMetrics | null, release: RecordServer): RecordServer {
  return async (request, peer) => {
    const answer = await release(request, peer);
    countRelease(m, answer);
    return answer;
  };
}

/** Counts one error answer of the local API (and, for the replay cache, its kind). */
export function countApiRefusal(m: RecordsMetrics | null, code: string): void {
  if (m === null) return;
  m.apiRefused(code);
  if (code === LocalAuthErrorCode.replayed) m.replayRefused('replayed');
  // The API's own load refusal; a custodian's BUSY or RELEASE_BUSY is counted where it is made.
  if (code === LocalAuthErrorCode.busy) {
    m.replayRefused('full');
    m.busy(code);
  }
}
