/**
 * The genesis document: chain id, start time and height, the first validator set and the block
 * limits. Stored as JSON in each node's home; every field is checked when it is read, and a bad
 * field is named in one clear error.
 */
import { CareLedgerError, parseJsonOr } from '../core/errors.ts';
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.ts';
import { type BlockLimits, defaultBlockLimits, MAX_CHAIN_ID_LENGTH } from './block.ts';
import { makeValidatorSet, newValidator, type ValidatorSet } from './validator.ts';

export interface GenesisValidator {
  readonly name: string;
  readonly pubKey: Uint8Array;
  readonly power: bigint;
}

export interface Genesis {
  readonly chainId: string;
  /** Unix milliseconds. */
  readonly genesisTime: bigint;
  readonly initialHeight: bigint;
  readonly validators: readonly GenesisValidator[];
  readonly blockLimits: BlockLimits;
  /**
   * The application's part (`app_state`), as parsed JSON: opaque here, as in CometBFT, and checked
   * by the application when it builds its genesis state. Absent for apps that need none.
   */
  readonly appState?: unknown;
}

/** app_state is read into memory whole at every start: keep it to what a genesis needs. */
export const MAX_APP_STATE_JSON_BYTES = 4 * 1024 * 1024;

function bad(message: string): never {
  throw new CareLedgerError('GENESIS_INVALID', `genesis: ${message}`);
}

export function validateChainId(chainId: unknown): string {
  if (
    typeof chainId !== 'string' ||
    !/^[a-zA-Z0-9._-]{1,50}$/.test(chainId) ||
    chainId.length > MAX_CHAIN_ID_LENGTH
  ) {
    bad('chain_id must be 1 to 50 letters, digits, dots, dashes or underscores');
  }
  return chainId;
}

const INT64_MAX = 2n ** 63n - 1n;

function decimal(value: unknown, field: string): bigint {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,18})$/.test(value) || BigInt(value) > INT64_MAX) {
    bad(`${field} must be a decimal string of a 64-bit integer`);
  }
  return BigInt(value);
}

function base64Key(value: unknown, field: string): Uint8Array {
  // Strict: exactly the canonical base64 of 32 bytes, so one key has one spelling.
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(value))
    bad(`${field} must be a base64 ed25519 public key`);
  const key = Buffer.from(value, 'base64');
  if (key.length !== PUBLIC_KEY_BYTES || key.toString('base64') !== value)
    bad(`${field} must be a base64 ed25519 public key`);
  return new Uint8Array(key);
}

function positiveInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0)
    bad(`${field} must be a positive integer`);
  return value;
}

export function genesisToJson(g: Genesis): string {
  return `${JSON.stringify(
    {
      chain_id: g.chainId,
      genesis_time: g.genesisTime.toString(),
      initial_height: g.initialHeight.toString(),
      validators: g.validators.map((v) => ({
        name: v.name,
        pub_key: Buffer.from(v.pubKey).toString('base64'),
        power: v.power.toString(),
      })),
      block_limits: {
        max_txs: g.blockLimits.maxTxs,
        max_tx_bytes: g.blockLimits.maxTxBytes,
        max_evidence: g.blockLimits.maxEvidence,
      },
      ...(g.appState === undefined ? {} : { app_state: g.appState }),
    },
    null,
    2,
  )}\n`;
}

export function parseGenesisJson(text: string): Genesis {
  const raw = parseJsonOr('GENESIS_INVALID', 'genesis', text) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null) bad('must be a JSON object');
  const validators = raw.validators;
  if (!Array.isArray(validators) || validators.length === 0) bad('validators must be a non-empty list');
  const limitsRaw = raw.block_limits ?? {};
  if (typeof limitsRaw !== 'object' || limitsRaw === null || Array.isArray(limitsRaw))
    bad('block_limits must be an object');
  const limits = limitsRaw as Record<string, unknown>;
  if (raw.app_state !== undefined && JSON.stringify(raw.app_state).length > MAX_APP_STATE_JSON_BYTES)
    bad(`app_state must be at most ${MAX_APP_STATE_JSON_BYTES} bytes of JSON`);
  const genesis: Genesis = {
    chainId: validateChainId(raw.chain_id),
    genesisTime: decimal(raw.genesis_time, 'genesis_time'),
    initialHeight: decimal(raw.initial_height ?? '1', 'initial_height'),
    validators: validators.map((v: Record<string, unknown>, i: number) => {
      if (typeof v !== 'object' || v === null) bad(`validators[${i}] must be an object`);
      const key = base64Key(v.pub_key, `validators[${i}].pub_key`);
      if (typeof v.name !== 'string' || v.name.length === 0 || v.name.length > 64)
        bad(`validators[${i}].name must be 1 to 64 characters`);
      const power = decimal(v.power, `validators[${i}].power`);
      if (power === 0n) bad(`validators[${i}].power must be positive`);
      return { name: v.name, pubKey: key, power };
    }),
    blockLimits: {
      maxTxs: positiveInt(limits.max_txs ?? defaultBlockLimits.maxTxs, 'block_limits.max_txs'),
      maxTxBytes: positiveInt(
        limits.max_tx_bytes ?? defaultBlockLimits.maxTxBytes,
        'block_limits.max_tx_bytes',
      ),
      maxEvidence: positiveInt(
        limits.max_evidence ?? defaultBlockLimits.maxEvidence,
        'block_limits.max_evidence',
      ),
    },
    ...(raw.app_state === undefined ? {} : { appState: raw.app_state }),
  };
  if (genesis.initialHeight < 1n) bad('initial_height must be at least 1');
  genesisValidatorSet(genesis);
  return genesis;
}

export function genesisValidatorSet(g: Genesis): ValidatorSet {
  try {
    return makeValidatorSet(g.validators.map((v) => newValidator(v.pubKey, v.power)));
  } catch (err) {
    bad((err as Error).message);
  }
}
