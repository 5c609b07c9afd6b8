/**
 * The home folder of a node, laid out like CometBFT's:
 *
 *   config/config.json               settings (node/config.ts)
 *   config/genesis.json              the chain's genesis, identical on every node
 *   config/node_key.json             the node's libp2p identity (ed25519 seed)
 *   config/priv_validator_key.json   the validator's signing key
 *   config/member_key.json           the institution's key for signing health-data txs (member id,
 *                                    roles); used by the client CLI, never by the node itself
 *   data/priv_validator_state.json   the double-sign guard's last signed height/round/step
 *   data/cs.wal                      the consensus write-ahead log
 *   data/state.db/                   LevelDB: blocks, state, indexes
 *
 * Key files are written with mode 0600 and never logged. Every file is checked when read, and
 * a missing or corrupt one is reported with its path.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeKeyFile } from '../packages/client/keys.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { type KeyPair, keyPairFromSeed, SECRET_KEY_BYTES } from '../packages/crypto/ed25519.ts';
import { type Genesis, parseGenesisJson } from '../packages/types/genesis.ts';
import { addressOf } from '../packages/types/validator.ts';
import { type NodeConfig, parseConfig } from './config.ts';

export interface HomePaths {
  readonly root: string;
  readonly config: string;
  readonly genesis: string;
  readonly nodeKey: string;
  readonly validatorKey: string;
  readonly memberKey: string;
  readonly signState: string;
  readonly wal: string;
  readonly db: string;
}

export function homePaths(root: string): HomePaths {
  return {
    root,
    config: join(root, 'config', 'config.json'),
    genesis: join(root, 'config', 'genesis.json'),
    nodeKey: join(root, 'config', 'node_key.json'),
    validatorKey: join(root, 'config', 'priv_validator_key.json'),
    memberKey: join(root, 'config', 'member_key.json'),
    signState: join(root, 'data', 'priv_validator_state.json'),
    wal: join(root, 'data', 'cs.wal'),
    db: join(root, 'data', 'state.db'),
  };
}

function readText(path: string, what: string): string {
  if (!existsSync(path))
    throw new CareLedgerError(
      'HOME_MISSING_FILE',
      `${what} not found at ${path} (run \`careledger init\` or \`careledger testnet\`)`,
    );
  return readFileSync(path, 'utf8');
}

function keyFileJson(seed: Uint8Array, extra: Record<string, unknown>): string {
  return `${JSON.stringify({ ...extra, priv_key: { type: 'ed25519', value: Buffer.from(seed).toString('base64') } }, null, 2)}\n`;
}

function readSeed(path: string, what: string): Uint8Array {
  let parsed: { priv_key?: { type?: unknown; value?: unknown } };
  try {
    parsed = JSON.parse(readText(path, what)) as typeof parsed;
  } catch (err) {
    if (err instanceof CareLedgerError) throw err;
    throw new CareLedgerError('HOME_CORRUPT_FILE', `${what} at ${path} is not valid JSON`);
  }
  const value = parsed?.priv_key?.value;
  const seed = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if (parsed?.priv_key?.type !== 'ed25519' || seed.length !== SECRET_KEY_BYTES) {
    throw new CareLedgerError('HOME_CORRUPT_FILE', `${what} at ${path} does not hold an ed25519 key`);
  }
  return new Uint8Array(seed);
}

export interface Home {
  readonly paths: HomePaths;
  readonly config: NodeConfig;
  readonly genesis: Genesis;
  readonly nodeKeySeed: Uint8Array;
  readonly validatorKey: KeyPair;
}

/** Reads and checks everything a node needs to start. */
export function loadHome(root: string): Home {
  const paths = homePaths(root);
  if (!existsSync(root)) throw new CareLedgerError('HOME_MISSING', `home folder ${root} does not exist`);
  return {
    paths,
    config: parseConfig(readText(paths.config, 'config')),
    genesis: parseGenesisJson(readText(paths.genesis, 'genesis')),
    nodeKeySeed: readSeed(paths.nodeKey, 'node key'),
    validatorKey: keyPairFromSeed(readSeed(paths.validatorKey, 'validator key')),
  };
}

/** Throws HOME_EXISTS if `root` already holds keys (checked before anything is written). */
export function assertHomeFree(root: string): void {
  const paths = homePaths(root);
  if (existsSync(paths.validatorKey) || existsSync(paths.nodeKey)) {
    throw new CareLedgerError('HOME_EXISTS', `${root} already holds keys; refusing to overwrite them`);
  }
}

export interface HomeFiles {
  readonly config: string;
  readonly genesis: string;
  readonly nodeKeySeed: Uint8Array;
  readonly validatorSeed: Uint8Array;
  readonly member?: { readonly id: string; readonly roles: readonly string[]; readonly seed: Uint8Array };
}

/**
 * Writes a complete home folder, refusing to overwrite existing keys, and returns how to take it
 * back while no node has run in it. A write that fails takes back what it wrote.
 */
export function writeHome(root: string, files: HomeFiles): () => void {
  assertHomeFree(root);
  const paths = homePaths(root);
  const newFolders = [root, join(root, 'config'), join(root, 'data')].filter((dir) => !existsSync(dir));
  // Only files and folders that were not there before are taken back: anything else stays.
  const newFiles = [paths.config, paths.genesis, paths.nodeKey, paths.validatorKey, paths.memberKey].filter(
    (file) => !existsSync(file),
  );
  const takeBack = () => {
    const undo = [
      ...newFiles.map((file) => () => rmSync(file)),
      ...newFolders.reverse().map((dir) => () => rmdirSync(dir)),
    ];
    for (const step of undo) {
      try {
        step();
      } catch {
        // Never written, or a folder not empty: leave it.
      }
    }
  };
  try {
    writeFiles(paths, files);
    return takeBack;
  } catch (err) {
    takeBack();
    const e = err as NodeJS.ErrnoException;
    if (typeof e.syscall !== 'string') throw err;
    // A file where a folder should be, no permission, a full disk: name the path, not a stack.
    const reason = e.message.replace(/, \w+ '.*'$/, '');
    throw new CareLedgerError('HOME_WRITE_FAILED', `cannot write ${e.path ?? root}: ${reason}`);
  }
}

function writeFiles(paths: HomePaths, files: HomeFiles): void {
  const root = paths.root;
  mkdirSync(join(root, 'config'), { recursive: true });
  mkdirSync(join(root, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(paths.config, files.config);
  writeFileSync(paths.genesis, files.genesis);
  writeFileSync(paths.nodeKey, keyFileJson(files.nodeKeySeed, {}), { mode: 0o600 });
  const validator = keyPairFromSeed(files.validatorSeed);
  writeFileSync(
    paths.validatorKey,
    keyFileJson(files.validatorSeed, {
      address: Buffer.from(addressOf(validator.publicKey)).toString('hex').toUpperCase(),
      pub_key: { type: 'ed25519', value: Buffer.from(validator.publicKey).toString('base64') },
    }),
    { mode: 0o600 },
  );
  if (files.member !== undefined) {
    const member = keyPairFromSeed(files.member.seed);
    // The client SDK's key file format (packages/client/keys.ts), so `--key` takes it as it is.
    const keyFile = JSON.parse(encodeKeyFile(member));
    const text = JSON.stringify(
      { ...keyFile, member_id: files.member.id, roles: files.member.roles },
      null,
      2,
    );
    writeFileSync(paths.memberKey, `${text}\n`, { mode: 0o600 });
  }
}
