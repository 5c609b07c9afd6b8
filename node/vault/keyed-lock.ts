/**
 * Serialises async work per key (here: per ciphertext hash), so an upload, a confirm, a sweep and
 * an erase of one record never interleave their file steps. Entries are dropped when idle.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Keys with work running or queued (for tests: empty when idle). */
  get size(): number {
    return this.#tails.size;
  }
}
