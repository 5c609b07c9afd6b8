/**
 * The simulator's tiny deterministic application. A tx is
 *   [0x00, ...bytes]           an ordinary tx,
 *   [0x01, index, power]       sets the voting power of validator `index` (10 to 12),
 *   anything else              invalid: a block holding one fails the application's check.
 * The app hash chains the hashes of every executed tx, so nodes that executed different txs
 * disagree on it at once.
 */
import { sha256 } from '../../packages/crypto/hash.ts';
import type { Block } from '../../packages/types/block.ts';
import type { ValidatorUpdate } from '../../packages/types/chain-state.ts';

export const TxKind = { plain: 0x00, power: 0x01 } as const;
export const MIN_SIM_POWER = 10;
export const MAX_SIM_POWER = 12;

export function isValidTx(tx: Uint8Array, validatorCount: number): boolean {
  if (tx.length === 0) return false;
  if (tx[0] === TxKind.plain) return true;
  if (tx[0] === TxKind.power) {
    return tx.length === 3 && tx[1]! < validatorCount && tx[2]! >= MIN_SIM_POWER && tx[2]! <= MAX_SIM_POWER;
  }
  return false;
}

export function isValidBlockForApp(block: Block, validatorCount: number): boolean {
  return block.txs.every((tx) => isValidTx(tx, validatorCount));
}

export interface Execution {
  readonly appHash: Uint8Array;
  readonly resultsHash: Uint8Array;
  readonly validatorUpdates: readonly ValidatorUpdate[];
}

/** Executes a block on top of `appHash`. `pubKeys` are the genesis validators' keys by index. */
export function executeBlock(appHash: Uint8Array, block: Block, pubKeys: readonly Uint8Array[]): Execution {
  let hash = appHash;
  const powers = new Map<number, bigint>();
  for (const tx of block.txs) {
    hash = sha256(hash, sha256(tx));
    if (tx[0] === TxKind.power) powers.set(tx[1]!, BigInt(tx[2]!));
  }
  const validatorUpdates = [...powers].map(([index, power]) => ({ pubKey: pubKeys[index]!, power }));
  return { appHash: hash, resultsHash: sha256(), validatorUpdates };
}
