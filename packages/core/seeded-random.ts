/**
 * A small seeded pseudo-random generator (mulberry32): the same seed gives the same sequence on
 * every run and machine, so a randomized test or a benchmark's load can be replayed from the seed
 * it prints. Not for keys, nonces or anything an attacker may predict: use node:crypto for those.
 */

/** Floats in [0, 1) from `seed` (any integer; taken mod 2^32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
