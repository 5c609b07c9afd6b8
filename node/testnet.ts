/**
 * `careledger testnet`: N home folders sharing one genesis, each listing the others as persistent
 * peers. Without hostnames every node listens on 127.0.0.1 with P2P on 26656+10*I and RPC on
 * 26657+10*I; with `--hostnames h0,h1,…` every node gets the same ports (26656, 26657, or from
 * --base-port) on its own host, so a real multi-machine deployment is the same command with other
 * addresses (copy nodeI to host I).
 *
 * Each node's institution is a founding member: its ed25519 member key (config/member_key.json)
 * and its X25519 record-encryption key (config/member_record_key.json, the secret; the public key
 * in genesis `record_key`) are generated here.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { peerIdFromNodeKey } from '../p2p/identity.ts';
import { generateRecordKey, recordKeyPathFor, saveRecordKeyFile } from '../packages/client/keys.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import { keyPairFromSeed } from '../packages/crypto/ed25519.ts';
import { ROLES, type Role } from '../packages/health/codes.ts';
import { healthAppStateToJson } from '../packages/health/genesis.ts';
import { isMemberId } from '../packages/health/ids.ts';
import { defaultParams } from '../packages/health/model.ts';
import { defaultBlockLimits } from '../packages/types/block.ts';
import { type Genesis, genesisToJson, validateChainId } from '../packages/types/genesis.ts';
import { type ApplicationName, configToJson, defaultConfig } from './config.ts';
import { assertHomeFree, homePaths, writeHome } from './home.ts';

export const DEFAULT_P2P_PORT = 26656;
export const DEFAULT_RPC_PORT = 26657;
export const PORT_STRIDE = 10;

export interface TestnetOptions {
  readonly validators: number;
  readonly output: string;
  readonly hostnames?: readonly string[];
  readonly names?: readonly string[];
  readonly chainId?: string;
  /** Write the single home directly into `output` rather than output/node0 (for `init`). */
  readonly flat?: boolean;
  /**
   * P2P port (RPC is one above, metrics four above), default 26656: every node's with hostnames;
   * without, node 0's, and node I adds 10*I.
   */
  readonly basePort?: number;
  /** config `proxy_app` of every node (default health). */
  readonly app?: ApplicationName;
  /** The health-data role of each node's institution (default: guessed from its name). */
  readonly roles?: readonly string[];
  readonly progress?: (line: string) => void;
}

/**
 * The health-data member id of a node named `name` (a moniker may hold capitals, dots,
 * underscores), or undefined if no id can be made of it (too short).
 */
export function memberIdOf(name: string): string | undefined {
  let id = name.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (!/^[a-z]/.test(id)) id = `m-${id}`;
  id = id.slice(0, 40);
  return isMemberId(id) ? id : undefined;
}

/** memberIdOf, or TESTNET_INVALID. */
export function memberIdFromName(name: string): string {
  const id = memberIdOf(name);
  if (id === undefined) throw new CareLedgerError('TESTNET_INVALID', `"${name}" cannot name a member`);
  return id;
}

/**
 * A member's role when none is given: `lab…` a lab, `insur…`/`payer…` a payer, `research…` a
 * research body, anything else (hospital, clinic, node0) a provider.
 */
export function roleFromName(name: string): Role {
  // Prefixes, whatever the case: "LabCorp" is a lab, "collaborative" is not.
  const n = name.toLowerCase();
  if (/^lab/.test(n)) return 'lab';
  if (/^(insur|payer)/.test(n)) return 'payer';
  if (/^research/.test(n)) return 'research';
  return 'provider';
}

function multiaddrHost(host: string): string {
  const family = isIP(host);
  if (family === 4) return `/ip4/${host}`;
  if (family === 6) return `/ip6/${host}`;
  if (!/^[A-Za-z0-9.-]{1,253}$/.test(host))
    throw new CareLedgerError('TESTNET_INVALID', `"${host}" is not a hostname or IP address`);
  return `/dns4/${host}`;
}

/** Creates the homes; returns their folders. */
export function createTestnet(opts: TestnetOptions): string[] {
  const n = opts.validators;
  if (!Number.isInteger(n) || n < 1 || n > 100)
    throw new CareLedgerError('TESTNET_INVALID', '--validators must be from 1 to 100');
  const base = opts.basePort ?? DEFAULT_P2P_PORT;
  if (!Number.isInteger(base) || base < 1024 || base + PORT_STRIDE * n > 65535) {
    throw new CareLedgerError('TESTNET_INVALID', '--base-port must leave room for every node below 65536');
  }
  if (opts.hostnames !== undefined && opts.hostnames.length !== n) {
    throw new CareLedgerError(
      'TESTNET_INVALID',
      `--hostnames lists ${opts.hostnames.length} hosts for ${n} validators`,
    );
  }
  const names = opts.names ?? Array.from({ length: n }, (_, i) => `node${i}`);
  if (names.length !== n)
    throw new CareLedgerError('TESTNET_INVALID', `--names lists ${names.length} names for ${n} validators`);
  const memberIds = names.map(memberIdFromName);
  if (new Set(memberIds).size !== n)
    throw new CareLedgerError('TESTNET_INVALID', `--names must give every node its own member id`);
  if (opts.roles !== undefined && opts.roles.length !== n)
    throw new CareLedgerError(
      'TESTNET_INVALID',
      `--roles lists ${opts.roles.length} roles for ${n} validators`,
    );
  const roles = names.map((name, i) => {
    const role = opts.roles?.[i] ?? roleFromName(name);
    if (!(ROLES as readonly string[]).includes(role))
      throw new CareLedgerError('TESTNET_INVALID', `role "${role}" is not one of ${ROLES.join(', ')}`);
    return role as Role;
  });
  const chainId = validateChainId(opts.chainId ?? `careledger-${randomBytes(3).toString('hex')}`);
  const nodes = Array.from({ length: n }, (_, i) => {
    const host = opts.hostnames?.[i] ?? '127.0.0.1';
    const local = opts.hostnames === undefined;
    const basePort = opts.basePort ?? DEFAULT_P2P_PORT;
    const p2pPort = basePort + (local ? PORT_STRIDE * i : 0);
    const rpcPort = p2pPort + 1;
    const nodeKeySeed = new Uint8Array(randomBytes(32));
    const validatorSeed = new Uint8Array(randomBytes(32));
    const memberSeed = new Uint8Array(randomBytes(32));
    // The institution's record-encryption key: custodians wrap records' data keys to it.
    const recordKey = generateRecordKey();
    return {
      i,
      host,
      p2pPort,
      rpcPort,
      nodeKeySeed,
      validatorSeed,
      memberSeed,
      recordKey,
      peerId: peerIdFromNodeKey(nodeKeySeed),
    };
  });
  const genesis: Genesis = {
    chainId,
    genesisTime: BigInt(Date.now()),
    initialHeight: 1n,
    validators: nodes.map((node) => ({
      name: names[node.i]!,
      pubKey: keyPairFromSeed(node.validatorSeed).publicKey,
      power: 10n,
    })),
    blockLimits: defaultBlockLimits,
    // Each node's institution is a founding member of the health-data consortium.
    appState: healthAppStateToJson({
      members: nodes.map((node) => ({
        id: memberIds[node.i]!,
        pubKey: keyPairFromSeed(node.memberSeed).publicKey,
        roles: [roles[node.i]!],
        // The node's peer id: the nodes admit each other because the members are on chain.
        nodes: [node.peerId],
        recordKey: node.recordKey.publicKey,
      })),
      params: defaultParams,
    }),
  };
  const genesisJson = genesisToJson(genesis);
  const dirs = nodes.map((node) => (opts.flat === true ? opts.output : join(opts.output, `node${node.i}`)));
  // Every folder is checked before any is written, so a refusal leaves no half-made testnet.
  for (const dir of dirs) assertHomeFree(dir);
  // And one that cannot be written takes back the homes written before it.
  const written: (() => void)[] = [];
  try {
    for (const node of nodes) written.push(writeNodeHome(node));
  } catch (err) {
    for (const takeBack of written) takeBack();
    throw err;
  }
  return dirs;

  function writeNodeHome(node: (typeof nodes)[number]): () => void {
    const dir = dirs[node.i]!;
    const base = defaultConfig(names[node.i]!);
    // P2P listens on the node's IP; a DNS name cannot be listened on, so it takes every
    // interface. RPC and metrics stay on loopback whatever the host: they are not for the other
    // members, and an operator who wants them reachable opens them on purpose (rpc.listen).
    const listenHost = isIP(node.host) === 0 ? '/ip4/0.0.0.0' : multiaddrHost(node.host);
    const config = {
      ...base,
      proxyApp: opts.app ?? base.proxyApp,
      p2p: {
        ...base.p2p,
        listen: `${listenHost}/tcp/${node.p2pPort}`,
        persistentPeers: nodes
          .filter((p) => p.i !== node.i)
          .map((p) => `${multiaddrHost(p.host)}/tcp/${p.p2pPort}/p2p/${p.peerId}`),
      },
      rpc: { ...base.rpc, listen: `127.0.0.1:${node.rpcPort}` },
      // Metrics on P2P port + 4 (26660 for node 0), as CometBFT's prometheus_listen_addr.
      instrumentation: { ...base.instrumentation, prometheusListen: `127.0.0.1:${node.p2pPort + 4}` },
    };
    const takeBack = writeHome(dir, {
      config: configToJson(config),
      genesis: genesisJson,
      nodeKeySeed: node.nodeKeySeed,
      validatorSeed: node.validatorSeed,
      member: { id: memberIds[node.i]!, roles: [roles[node.i]!], seed: node.memberSeed },
    });
    const recordKeyPath = recordKeyPathFor(homePaths(dir).memberKey);
    try {
      saveRecordKeyFile(recordKeyPath, node.recordKey);
    } catch (err) {
      takeBack();
      throw err;
    }
    opts.progress?.(`created ${dir} (${config.moniker}): p2p ${config.p2p.listen}, rpc ${config.rpc.listen}`);
    return () => {
      rmSync(recordKeyPath, { force: true });
      takeBack();
    };
  }
}
