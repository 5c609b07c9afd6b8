/**
 * Chain bookkeeping in the health state: chain meta, the last executed block, the validator set the
 * app asked for, key bindings, id lists, counters, and the pages of the append-only lists.
 */
import { type Canonical, encode } from '../../codec/canonical.ts';
import * as s from '../../codec/schema.ts';
import { healthError } from '../errors.ts';
import { idOf, memberId } from '../ids.ts';
import { key32, readBytes } from './read.ts';

export interface ChainMeta {
  readonly chainId: string;
  readonly initialHeight: bigint;
  readonly genesisTime: bigint;
}

export function encodeChainMeta(m: ChainMeta): Uint8Array {
  return encode([1, m.chainId, m.initialHeight, m.genesisTime]);
}

export function decodeChainMeta(bytes: Uint8Array): ChainMeta {
  const f = s.tuple(readBytes(bytes, 'meta'), 4, 'meta');
  s.int(f[0]!, 'meta.format', 1, 1);
  return {
    chainId: s.string(f[1]!, 'meta.chainId', 50),
    initialHeight: s.u64(f[2]!, 'meta.initialHeight'),
    genesisTime: s.u64(f[3]!, 'meta.genesisTime'),
  };
}

/** The last executed block, and how far request expiry has been processed (in minute slots). */
export interface BlockInfo {
  readonly height: bigint;
  readonly time: bigint;
  readonly expirySlot: bigint;
}

export function encodeBlockInfo(b: BlockInfo): Uint8Array {
  return encode([b.height, b.time, b.expirySlot]);
}

export function decodeBlockInfo(bytes: Uint8Array): BlockInfo {
  const f = s.tuple(readBytes(bytes, 'block info'), 3, 'block info');
  return {
    height: s.u64(f[0]!, 'block.height'),
    time: s.u64(f[1]!, 'block.time'),
    expirySlot: s.u64(f[2]!, 'block.expirySlot'),
  };
}

export interface ValidatorPower {
  readonly pubKey: Uint8Array;
  readonly power: bigint;
}

export function encodeValidators(list: readonly ValidatorPower[]): Uint8Array {
  return encode(list.map((v) => [v.pubKey, v.power]));
}

export function decodeValidators(bytes: Uint8Array): ValidatorPower[] {
  return s.list(readBytes(bytes, 'validators'), 1000, 'validators').map((item, i) => {
    const [k, p] = s.tuple(item, 2, `validators[${i}]`);
    return { pubKey: key32(k!, `validators[${i}].pubKey`), power: s.u64(p!, `validators[${i}].power`) };
  });
}

/** What a public key signs for. */
export type KeyBinding =
  | { readonly kind: 'member'; readonly id: string }
  | { readonly kind: 'patient'; readonly id: string };

export function encodeBinding(b: KeyBinding): Uint8Array {
  return encode([b.kind, b.id]);
}

export function decodeBinding(bytes: Uint8Array): KeyBinding {
  const [kind, id] = s.tuple(readBytes(bytes, 'binding'), 2, 'binding');
  if (kind === 'member') return { kind, id: memberId(id, 'binding.id') };
  if (kind === 'patient') return { kind, id: idOf('patient', id, 'binding.id') };
  throw healthError('HEALTH_PAYLOAD_INVALID', 'binding: unknown kind');
}

export function encodeIdList(ids: readonly string[]): Uint8Array {
  return encode([...ids]);
}

export function decodeIdList(bytes: Uint8Array, max = 100_000): string[] {
  return s.list(readBytes(bytes, 'id list'), max, 'id list').map((v, i) => s.string(v, `ids[${i}]`, 64));
}

export function encodeCount(n: number): Uint8Array {
  return encode(n);
}

export function decodeCount(bytes: Uint8Array): number {
  return s.int(readBytes(bytes, 'count'), 'count', 0, 2 ** 32 - 1);
}

/** Entries per list page. */
export const LIST_PAGE_SIZE = 128;

export function encodePage(entries: readonly Canonical[]): Uint8Array {
  return encode([...entries]);
}

export function decodePage(bytes: Uint8Array): readonly Canonical[] {
  return s.list(readBytes(bytes, 'page'), LIST_PAGE_SIZE, 'page');
}
