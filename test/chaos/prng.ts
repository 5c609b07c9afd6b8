/** The campaign's seeded randomness (every fault choice comes from it, so a seed reproduces a run). */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }

  /** xorshift32: in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x1_0000_0000;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A duration in [minMs, maxMs]. */
  ms(minMs: number, maxMs: number): number {
    return minMs + this.int(maxMs - minMs + 1);
  }
}
