/**
 * What several tx handlers share: the type of one tx of the union, a counter over stored objects,
 * and the UTF-8 coders for ids stored as values.
 */
import type { HealthTx } from '../../../packages/health/tx.ts';

export const utf8 = new TextEncoder();
export const utf8Decoder = new TextDecoder();

/** How many of the stored objects `ids` satisfy `test` (ids whose object is gone do not count). */
export async function countMatching<T>(
  ids: readonly string[],
  read: (id: string) => Promise<T | null>,
  test: (value: T) => boolean,
): Promise<number> {
  let n = 0;
  for (const id of ids) {
    const value = await read(id);
    if (value !== null && test(value)) n++;
  }
  return n;
}

/** One tx of the union, by its type: what each handler takes. */
export type Tx<T extends HealthTx['type']> = Extract<HealthTx, { type: T }>;
