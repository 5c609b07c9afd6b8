/**
 * Bounded sets of string keys (tx hashes) that forget their oldest entries in O(1). A JS Set
 * keeps insertion order, but taking its oldest entry (`values().next()`) after deletions at the
 * front walks over the holes those deletions left until the table is rebuilt: with 10,000 to
 * 100,000 keys that cost 5–8 µs per eviction on this machine, against ~0.2 µs here. The order
 * lives in a queue beside the set instead, so membership and eviction are exactly a Set's.
 */

/**
 * A set of at most `max` keys in insertion order: `add` of a new key when full forgets the oldest
 * first. Adding a key already present does not move it; when full it still forgets the oldest,
 * as a Set-based version that evicts before it adds (RecentlyCommitted's rule).
 */
export class FifoKeys {
  private readonly max: number;
  private readonly keys = new Set<string>();
  /** `keys` in insertion order, a ring of `max` slots from `head`. */
  private readonly order: string[];
  private head = 0;

  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError('a FifoKeys holds at least one key');
    this.max = max;
    this.order = new Array<string>(max);
  }

  get size(): number {
    return this.keys.size;
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string): void {
    if (this.keys.size >= this.max) {
      this.keys.delete(this.order[this.head]!);
      this.head = (this.head + 1) % this.max;
    }
    if (this.keys.has(key)) return;
    this.order[(this.head + this.keys.size) % this.max] = key;
    this.keys.add(key);
  }
}

/**
 * A set of at most `max` keys, least recently touched out first: `touch` adds a key or makes it the
 * youngest, and forgets the oldest when that puts the set over `max`; `delete` removes one. The
 * queue holds (key, stamp) pairs in touch order; a pair whose stamp is no longer its key's is
 * stale and skipped. The queue is rebuilt from its live pairs when it grows past twice `max`
 * (and 64), so it stays within that and each touch costs O(1) amortized.
 */
export class LruKeys {
  private readonly max: number;
  /** Each key's latest stamp. */
  private readonly stamps = new Map<string, number>();
  private queueKeys: string[] = [];
  private queueStamps: number[] = [];
  private head = 0;
  private clock = 0;

  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 0)
      throw new RangeError('an LruKeys bound is a non-negative integer');
    this.max = max;
  }

  get size(): number {
    return this.stamps.size;
  }

  has(key: string): boolean {
    return this.stamps.has(key);
  }

  touch(key: string): void {
    if (this.max === 0) return;
    const stamp = ++this.clock;
    this.stamps.set(key, stamp);
    this.queueKeys.push(key);
    this.queueStamps.push(stamp);
    if (this.stamps.size > this.max) this.evictOldest();
    if (this.queueKeys.length > 2 * this.max + 64) this.compact();
  }

  delete(key: string): void {
    this.stamps.delete(key);
  }

  private evictOldest(): void {
    for (;;) {
      const key = this.queueKeys[this.head]!;
      const stamp = this.queueStamps[this.head]!;
      this.head++;
      if (this.stamps.get(key) === stamp) {
        this.stamps.delete(key);
        return;
      }
    }
  }

  /** Drops the queue's stale pairs and its consumed front. */
  private compact(): void {
    const keys: string[] = [];
    const stamps: number[] = [];
    for (let i = this.head; i < this.queueKeys.length; i++) {
      const key = this.queueKeys[i]!;
      const stamp = this.queueStamps[i]!;
      if (this.stamps.get(key) === stamp) {
        keys.push(key);
        stamps.push(stamp);
      }
    }
    this.queueKeys = keys;
    this.queueStamps = stamps;
    this.head = 0;
  }
}
