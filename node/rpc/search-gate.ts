/**
 * The bound on searches running at once (tx_search and block_search together, over every
 * connection). Each search may scan MAX_SCAN index entries, and a timed-out call runs on: past
 * this many at once, a search is refused at once rather than queued.
 */

import { methodError } from './jsonrpc.ts';
import { SearchError } from './tx-search.ts';

/** tx_search and block_search running at once on a node, over every connection. */
export const MAX_SEARCHES_AT_ONCE = 4;

export class SearchGate {
  private running = 0;

  /** Runs `search` if fewer than MAX_SEARCHES_AT_ONCE are running; its SearchError is the method's error. */
  async run<T>(search: () => Promise<T>): Promise<T> {
    if (this.running >= MAX_SEARCHES_AT_ONCE)
      throw methodError(`too many searches in progress (at most ${MAX_SEARCHES_AT_ONCE}); try again shortly`);
    this.running++;
    try {
      return await search();
    } catch (err) {
      if (err instanceof SearchError) throw methodError(err.message);
      throw err;
    } finally {
      this.running--;
    }
  }
}
