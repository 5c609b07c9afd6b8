/**
 * Layers of pending writes over the committed state, so a block is executed without writing and
 * a failed tx (or a governance action that cannot be carried out) leaves no trace: each tx runs
 * in a child layer that is merged into the block's layer only if it succeeds. The block's layer
 * also remembers what it read from the store, so a key read by many txs costs one lookup.
 */

export type Reader = (key: string) => Promise<Uint8Array | null>;

export class Overlay {
  private readonly base: Reader;
  private readonly writes = new Map<string, Uint8Array | null>();

  constructor(base: Reader) {
    this.base = base;
  }

  /** An overlay over a reader that caches what it reads (for the block's layer). */
  static caching(read: Reader): Overlay {
    const cache = new Map<string, Uint8Array | null>();
    return new Overlay(async (key) => {
      const hit = cache.get(key);
      if (hit !== undefined || cache.has(key)) return hit ?? null;
      const value = await read(key);
      cache.set(key, value);
      return value;
    });
  }

  async get(key: string): Promise<Uint8Array | null> {
    const w = this.writes.get(key);
    if (w !== undefined || this.writes.has(key)) return w ?? null;
    return this.base(key);
  }

  put(key: string, value: Uint8Array): void {
    this.writes.set(key, value);
  }

  del(key: string): void {
    this.writes.set(key, null);
  }

  /** A layer on top of this one. */
  child(): Overlay {
    return new Overlay((key) => this.get(key));
  }

  /** Moves a child's writes into this layer. */
  absorb(child: Overlay): void {
    for (const [key, value] of child.writes) this.writes.set(key, value);
  }

  /** The pending writes, in the order first written. */
  entries(): IterableIterator<[string, Uint8Array | null]> {
    return this.writes.entries();
  }

  get size(): number {
    return this.writes.size;
  }
}
