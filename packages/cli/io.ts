/**
 * The CLI's seam to the world: where a command writes, how it reaches a chain, the clock, the
 * random source and the files it reads. `runHealthCommand` takes a partial `CliIo` over
 * `defaultCliIo`, so tests run every command in-process against an in-memory chain with a fixed
 * clock and a seeded random source. This module, the key files of packages/client/keys.ts and
 * the record files the records SDK streams (packages/client/records.ts: `record put|fetch`) are
 * the only places the CLI touches the disk; the network is reached through `connect` and, for
 * records, the node's local API at --node.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type HealthTransport, rpcTransport } from '../client/health.ts';
import type { RecordsOptions } from '../client/records.ts';
import { CareLedgerError } from '../core/errors.ts';
import { type Genesis, parseGenesisJson } from '../types/genesis.ts';

export const DEFAULT_NODE = 'http://127.0.0.1:26657';

/** Where a command writes, and how it reaches a chain: injectable, so tests run commands in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The transport to a chain: by default JSON-RPC to `node`, verified by a light client from `genesis`. */
  readonly connect: (node: string, genesis: Genesis) => Promise<HealthTransport>;
  /** Reads the genesis file (default: from disk). */
  readonly readGenesis: (path: string) => Genesis;
  /** Reads an input file, such as a record to hash (default: from disk); throws CLI_FILE_NOT_FOUND. */
  readonly readFile: (path: string) => Uint8Array;
  readonly clockMicros: () => bigint;
  readonly random: (bytes: number) => Uint8Array;
  /** How `record put|fetch|erase` wait and where their temp files go (default: the SDK's). */
  readonly records: Partial<RecordsOptions>;
}

async function connectRpc(node: string, genesis: Genesis): Promise<HealthTransport> {
  // Loaded on use: `keys` commands work without the network modules.
  const [{ RpcClient }, { LightClient }] = await Promise.all([
    import('../client/rpc.ts'),
    import('../client/light-client.ts'),
  ]);
  const rpc = new RpcClient(node);
  return rpcTransport(rpc, new LightClient(genesis, rpc));
}

function readGenesisFile(path: string): Genesis {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new CareLedgerError('CLI_FILE_NOT_FOUND', `cannot read the genesis file ${path}`);
  }
  return parseGenesisJson(text);
}

function readInputFile(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch {
    throw new CareLedgerError('CLI_FILE_NOT_FOUND', `cannot read ${path}`);
  }
}

export const defaultCliIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  connect: connectRpc,
  readGenesis: readGenesisFile,
  readFile: readInputFile,
  clockMicros: () => BigInt(Date.now()) * 1000n,
  random: (n) => new Uint8Array(randomBytes(n)),
  records: {},
};
