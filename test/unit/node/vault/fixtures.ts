/**
 * Helpers of the vault tests: a temp home folder, deterministic record bytes, streams of chunks,
 * and a scan of every file under a folder for a byte string (the shredding check).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyMaterial } from '../../../../packages/records/key-material.ts';

/** Runs `fn` with a fresh temp home folder, removed afterwards. */
export async function inTempHome(fn: (home: string) => Promise<void>): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'careledger-vault-'));
  try {
    await fn(home);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** `length` bytes that depend on `seed` (xorshift32), so each record differs and tests repeat. */
export function bytesOf(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = Math.imul(seed + 1, 0x9e3779b1) | 1; // distinct seeds, distinct streams
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Key material derived from `seed`: a 32-byte data key and a 24-byte salt. */
export function materialOf(seed: number): KeyMaterial {
  return { dataKey: bytesOf(seed * 2 + 1, 32), salt: bytesOf(seed * 2 + 2, 24) };
}

/** `bytes` as a stream of `size`-byte chunks. */
export async function* chunksOf(bytes: Uint8Array, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of source) chunks.push(c);
  return new Uint8Array(Buffer.concat(chunks));
}

/** Everything `source` yields, in order. */
export async function listAll<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

/** Every regular file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** The files under `dir` whose bytes contain `needle`. */
export function filesContaining(dir: string, needle: Uint8Array): string[] {
  return filesUnder(dir).filter((path) => readFileSync(path).indexOf(needle) >= 0);
}
