/**
 * The node's configuration file (`config/config.json` in the home folder): every key has a
 * default, every value is checked when the node starts, and a bad value is named in one clear
 * error (CONFIG_INVALID). Keys follow CometBFT's config.toml where one exists.
 */
import { CareLedgerError, parseJsonOr } from '../packages/core/errors.ts';

/** The applications a node can run (CometBFT's `proxy_app`, built in rather than over a socket). */
export const APPLICATIONS = ['health', 'kvstore'] as const;
export type ApplicationName = (typeof APPLICATIONS)[number];

export interface NodeConfig {
  readonly moniker: string;
  /**
   * `health`: the health-data application (the product). `kvstore`: a key-value test application
   * for consensus tests and throughput benchmarks, whose txs need no members or patients.
   */
  readonly proxyApp: ApplicationName;
  readonly p2p: {
    /** libp2p multiaddr to listen on. */
    readonly listen: string;
    /** Multiaddrs with /p2p/<peer id> of the peers to keep connected to. */
    readonly persistentPeers: readonly string[];
    readonly maxMessageBytes: number;
    /**
     * The longest wait between redials of a persistent peer (CometBFT's
     * persistent_peers_max_dial_period): also how soon a node that was just admitted by governance
     * connects, since it keeps dialling peers that refused it.
     */
    readonly maxDialPeriodMs: number;
  };
  readonly rpc: {
    /** host:port; loopback unless an operator opens it. */
    readonly listen: string;
    readonly maxBodyBytes: number;
    /** Open connections (HTTP and WebSocket) at once, as CometBFT's max_open_connections. */
    readonly maxOpenConnections: number;
    /** Open connections from one remote address at once. */
    readonly maxConnectionsPerAddress: number;
    /** A connection with no request in flight for this long is closed. */
    readonly idleTimeoutMs: number;
  };
  readonly consensus: {
    readonly timeoutProposeMs: number;
    readonly timeoutProposeDeltaMs: number;
    readonly timeoutPrevoteMs: number;
    readonly timeoutPrevoteDeltaMs: number;
    readonly timeoutPrecommitMs: number;
    readonly timeoutPrecommitDeltaMs: number;
    /** Pause after a commit before the next height, as CometBFT's timeout_commit. */
    readonly timeoutCommitMs: number;
    /**
     * Start the next height as soon as every validator's precommit for the decided block is in,
     * without the timeout_commit pause, as CometBFT's skip_timeout_commit.
     */
    readonly skipTimeoutCommit: boolean;
    /** Re-gossip interval while a height is stuck. */
    readonly gossipIntervalMs: number;
  };
  readonly mempool: {
    readonly maxTxs: number;
    readonly maxBytes: number;
  };
  readonly storage: {
    /**
     * How many of the newest heights' application states stay readable (queries and proofs at a
     * height): older ones are pruned as blocks commit. 0 keeps every state (an archive node).
     */
    readonly keepStateVersions: number;
  };
  readonly instrumentation: {
    /** Serve Prometheus metrics at http://<prometheusListen>/metrics. */
    readonly prometheus: boolean;
    readonly prometheusListen: string;
    /** Metric name prefix; CometBFT's default keeps existing dashboards working. */
    readonly namespace: string;
  };
  /** The record vault, the local records API and the record exchange (node/records/). */
  readonly records: RecordsConfig;
  readonly log: {
    readonly level: LogLevel;
    /** `json` (one object per line) or `pretty` (for a person at a terminal). */
    readonly format: 'json' | 'pretty';
    /** Per-module levels, e.g. { "p2p": "warn", "consensus": "debug" }. */
    readonly levels: Readonly<Record<string, LogLevel>>;
  };
}

export interface RecordsConfig {
  /** The largest record ciphertext the vault takes or a peer may announce, in bytes. */
  readonly maxRecordBytes: number;
  /** How long an upload may stay unanchored before the sweep removes it. */
  readonly pendingTtlMs: number;
  /** How often the sweep runs. */
  readonly sweepIntervalMs: number;
  /** How long a custodian waits for a release's access event to commit (then RELEASE_TIMEOUT). */
  readonly releaseTimeoutMs: number;
  /** How long a requester keeps trying the custodian's nodes (then CUSTODIAN_UNAVAILABLE). */
  readonly unavailableAfterMs: number;
  /** How long a /records request's body may take to arrive (an upload); JSON-RPC keeps its 10 s. */
  readonly uploadTimeoutMs: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LOG_LEVELS: readonly string[] = ['debug', 'info', 'warn', 'error'];

export function defaultConfig(moniker: string): NodeConfig {
  return {
    moniker,
    proxyApp: 'health',
    p2p: {
      listen: '/ip4/127.0.0.1/tcp/26656',
      persistentPeers: [],
      maxMessageBytes: 4 * 1024 * 1024,
      maxDialPeriodMs: 60_000,
    },
    rpc: {
      listen: '127.0.0.1:26657',
      maxBodyBytes: 1_000_000,
      maxOpenConnections: 900,
      maxConnectionsPerAddress: 100,
      idleTimeoutMs: 5000,
    },
    consensus: {
      timeoutProposeMs: 3000,
      timeoutProposeDeltaMs: 500,
      timeoutPrevoteMs: 1000,
      timeoutPrevoteDeltaMs: 500,
      timeoutPrecommitMs: 1000,
      timeoutPrecommitDeltaMs: 500,
      timeoutCommitMs: 1000,
      skipTimeoutCommit: true,
      gossipIntervalMs: 1000,
    },
    mempool: { maxTxs: 10_000, maxBytes: 64 * 1024 * 1024 },
    storage: { keepStateVersions: 100_000 },
    instrumentation: { prometheus: true, prometheusListen: '127.0.0.1:26660', namespace: 'cometbft' },
    records: {
      maxRecordBytes: 64 * 1024 * 1024,
      pendingTtlMs: 10 * 60_000,
      sweepIntervalMs: 60_000,
      releaseTimeoutMs: 15_000,
      unavailableAfterMs: 10_000,
      uploadTimeoutMs: 5 * 60_000,
    },
    log: { level: 'info', format: 'json', levels: {} },
  };
}

function bad(field: string, expected: string): never {
  throw new CareLedgerError('CONFIG_INVALID', `config: ${field} must be ${expected}`);
}

function section(raw: Record<string, unknown>, name: string): Record<string, unknown> {
  // An absent section takes the defaults; `null` is a typo for one, not a request for them.
  const value = raw[name] === undefined ? {} : raw[name];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(name, 'an object');
  return value as Record<string, unknown>;
}

/** Sections whose keys are the operator's own names (log.levels: module -> level). */
const FREE_FORM = new Set(['log.levels']);

/** Every key path a config may hold: those the full default config writes. */
const KNOWN_KEYS: ReadonlySet<string> = new Set(
  keyPaths(JSON.parse(configToJson(defaultConfig('node'))) as Record<string, unknown>),
);

function keyPaths(object: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(object).flatMap(([k, v]) => {
    const path = prefix + k;
    const nested = typeof v === 'object' && v !== null && !Array.isArray(v) && !FREE_FORM.has(path);
    return nested ? [path, ...keyPaths(v as Record<string, unknown>, `${path}.`)] : [path];
  });
}

/**
 * Refuses a key the node does not know (CONFIG_UNKNOWN_KEY), naming the nearest known one: a
 * misspelled `mempool.max_tx` would otherwise start the node with the default it meant to change.
 */
function refuseUnknownKeys(raw: Record<string, unknown>): void {
  for (const path of keyPaths(raw)) {
    if (KNOWN_KEYS.has(path)) continue;
    const nearest = [...KNOWN_KEYS].reduce((best, k) =>
      editDistance(path, k) < editDistance(path, best) ? k : best,
    );
    throw new CareLedgerError(
      'CONFIG_UNKNOWN_KEY',
      `config: unknown key "${path}" (did you mean "${nearest}"?); remove it or correct its name`,
    );
  }
}

/** Levenshtein distance, for the "did you mean" of an unknown key. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

function int(
  raw: Record<string, unknown>,
  key: string,
  field: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    bad(field, `an integer from ${min} to ${max}`);
  }
  return value;
}

function bool(raw: Record<string, unknown>, key: string, field: string, fallback: boolean): boolean {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'boolean') bad(field, 'true or false');
  return value;
}

function str(
  raw: Record<string, unknown>,
  key: string,
  field: string,
  fallback: string,
  pattern: RegExp,
  expected: string,
): string {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'string' || !pattern.test(value)) bad(field, expected);
  return value;
}

const HOST_PORT = /^[A-Za-z0-9.:[\]-]+:\d{1,5}$/;
const MULTIADDR = /^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+\/tcp\/\d{1,5}(\/p2p\/[1-9A-HJ-NP-Za-km-z]+)?$/;

/** Splits a listen address `host:port`, `[v6]:port` or `tcp://host:port` (`field` names it in errors). */
export function parseListen(listen: string, field: string): { host: string; port: number } {
  const text = listen.replace(/^tcp:\/\//, '');
  const separator = text.lastIndexOf(':');
  const host = text.slice(0, separator).replace(/^\[|\]$/g, '');
  const port = Number(text.slice(separator + 1));
  if (separator < 0 || host === '' || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new CareLedgerError('CONFIG_INVALID', `${field} must be host:port, got ${listen}`);
  return { host, port };
}

/** storage.keep_state_versions: 0 (keep all), or at least 2 (a block is prepared on the one before it). */
function keepStateVersions(storage: Record<string, unknown>, fallback: number): number {
  const n = int(
    storage,
    'keep_state_versions',
    'storage.keep_state_versions',
    fallback,
    0,
    Number.MAX_SAFE_INTEGER,
  );
  if (n === 1) bad('storage.keep_state_versions', '0 (keep every state) or at least 2');
  return n;
}

/** Parses and checks config JSON, filling defaults for missing keys. */
export function parseConfig(text: string): NodeConfig {
  const raw = parseJsonOr('CONFIG_INVALID', 'config', text) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('the file', 'a JSON object');
  refuseUnknownKeys(raw);
  const d = defaultConfig('node');
  const p2p = section(raw, 'p2p');
  const rpc = section(raw, 'rpc');
  const consensus = section(raw, 'consensus');
  const mempool = section(raw, 'mempool');
  const storage = section(raw, 'storage');
  const log = section(raw, 'log');
  const instrumentation = section(raw, 'instrumentation');
  const records = section(raw, 'records');
  const r = (key: string, fallback: number, min: number, max: number) =>
    int(records, key, `records.${key}`, fallback, min, max);
  const levelsRaw = log.levels ?? {};
  if (typeof levelsRaw !== 'object' || levelsRaw === null || Array.isArray(levelsRaw))
    bad('log.levels', 'an object of module: level');
  for (const [module, value] of Object.entries(levelsRaw)) {
    if (!/^[a-z0-9-]{1,32}$/.test(module) || typeof value !== 'string' || !LOG_LEVELS.includes(value)) {
      bad(`log.levels.${module}`, 'debug, info, warn or error');
    }
  }
  const format = log.format ?? d.log.format;
  if (format !== 'json' && format !== 'pretty') bad('log.format', 'json or pretty');
  const prometheus = bool(
    instrumentation,
    'prometheus',
    'instrumentation.prometheus',
    d.instrumentation.prometheus,
  );
  const peers = p2p.persistent_peers ?? [];
  if (
    !Array.isArray(peers) ||
    !peers.every((p) => typeof p === 'string' && MULTIADDR.test(p) && p.includes('/p2p/'))
  ) {
    bad('p2p.persistent_peers', 'a list of multiaddrs ending in /p2p/<peer id>');
  }
  const proxyApp = raw.proxy_app ?? d.proxyApp;
  if (!APPLICATIONS.includes(proxyApp as ApplicationName)) bad('proxy_app', APPLICATIONS.join(' or '));
  const c = (key: string, fallback: number) => int(consensus, key, `consensus.${key}`, fallback, 1, 600_000);
  const level = log.level ?? d.log.level;
  if (level !== 'debug' && level !== 'info' && level !== 'warn' && level !== 'error')
    bad('log.level', 'debug, info, warn or error');
  const port = (listen: string, field: string): void => {
    const n = Number(listen.slice(listen.lastIndexOf(':') + 1).split('/')[0]);
    if (!(n > 0 && n < 65536)) bad(field, 'a port from 1 to 65535');
  };
  const config: NodeConfig = {
    moniker: str(
      raw,
      'moniker',
      'moniker',
      d.moniker,
      /^[\w.-]{1,64}$/,
      '1 to 64 letters, digits, dots, dashes or underscores',
    ),
    proxyApp: proxyApp as ApplicationName,
    p2p: {
      listen: str(
        p2p,
        'listen',
        'p2p.listen',
        d.p2p.listen,
        MULTIADDR,
        'a multiaddr such as /ip4/0.0.0.0/tcp/26656',
      ),
      persistentPeers: peers as string[],
      maxMessageBytes: int(
        p2p,
        'max_message_bytes',
        'p2p.max_message_bytes',
        d.p2p.maxMessageBytes,
        1024,
        64 * 1024 * 1024,
      ),
      maxDialPeriodMs: int(
        p2p,
        'max_dial_period_ms',
        'p2p.max_dial_period_ms',
        d.p2p.maxDialPeriodMs,
        1000,
        3_600_000,
      ),
    },
    rpc: {
      listen: str(rpc, 'listen', 'rpc.listen', d.rpc.listen, HOST_PORT, 'host:port, such as 127.0.0.1:26657'),
      maxBodyBytes: int(
        rpc,
        'max_body_bytes',
        'rpc.max_body_bytes',
        d.rpc.maxBodyBytes,
        1024,
        64 * 1024 * 1024,
      ),
      maxOpenConnections: int(
        rpc,
        'max_open_connections',
        'rpc.max_open_connections',
        d.rpc.maxOpenConnections,
        1,
        100_000,
      ),
      maxConnectionsPerAddress: int(
        rpc,
        'max_connections_per_address',
        'rpc.max_connections_per_address',
        d.rpc.maxConnectionsPerAddress,
        1,
        100_000,
      ),
      idleTimeoutMs: int(rpc, 'idle_timeout_ms', 'rpc.idle_timeout_ms', d.rpc.idleTimeoutMs, 100, 600_000),
    },
    consensus: {
      timeoutProposeMs: c('timeout_propose_ms', d.consensus.timeoutProposeMs),
      timeoutProposeDeltaMs: c('timeout_propose_delta_ms', d.consensus.timeoutProposeDeltaMs),
      timeoutPrevoteMs: c('timeout_prevote_ms', d.consensus.timeoutPrevoteMs),
      timeoutPrevoteDeltaMs: c('timeout_prevote_delta_ms', d.consensus.timeoutPrevoteDeltaMs),
      timeoutPrecommitMs: c('timeout_precommit_ms', d.consensus.timeoutPrecommitMs),
      timeoutPrecommitDeltaMs: c('timeout_precommit_delta_ms', d.consensus.timeoutPrecommitDeltaMs),
      timeoutCommitMs: int(
        consensus,
        'timeout_commit_ms',
        'consensus.timeout_commit_ms',
        d.consensus.timeoutCommitMs,
        0,
        600_000,
      ),
      skipTimeoutCommit: bool(
        consensus,
        'skip_timeout_commit',
        'consensus.skip_timeout_commit',
        d.consensus.skipTimeoutCommit,
      ),
      gossipIntervalMs: c('gossip_interval_ms', d.consensus.gossipIntervalMs),
    },
    mempool: {
      maxTxs: int(mempool, 'max_txs', 'mempool.max_txs', d.mempool.maxTxs, 1, 10_000_000),
      maxBytes: int(mempool, 'max_bytes', 'mempool.max_bytes', d.mempool.maxBytes, 1024, 2 ** 40),
    },
    storage: { keepStateVersions: keepStateVersions(storage, d.storage.keepStateVersions) },
    instrumentation: {
      prometheus,
      prometheusListen: str(
        instrumentation,
        'prometheus_listen',
        'instrumentation.prometheus_listen',
        d.instrumentation.prometheusListen,
        HOST_PORT,
        'host:port',
      ),
      namespace: str(
        instrumentation,
        'namespace',
        'instrumentation.namespace',
        d.instrumentation.namespace,
        /^[a-z][a-z0-9_]{0,31}$/,
        'a metric prefix such as cometbft',
      ),
    },
    records: {
      maxRecordBytes: r('max_record_bytes', d.records.maxRecordBytes, 1024, 2 ** 40),
      pendingTtlMs: r('pending_ttl_ms', d.records.pendingTtlMs, 1000, 30 * 86_400_000),
      sweepIntervalMs: r('sweep_interval_ms', d.records.sweepIntervalMs, 100, 86_400_000),
      releaseTimeoutMs: r('release_timeout_ms', d.records.releaseTimeoutMs, 100, 600_000),
      unavailableAfterMs: r('unavailable_after_ms', d.records.unavailableAfterMs, 100, 600_000),
      uploadTimeoutMs: r('upload_timeout_ms', d.records.uploadTimeoutMs, 1000, 3_600_000),
    },
    log: { level, format, levels: levelsRaw as Record<string, LogLevel> },
  };
  port(config.rpc.listen, 'rpc.listen');
  port(config.instrumentation.prometheusListen, 'instrumentation.prometheus_listen');
  port(config.p2p.listen.replace(/\/tcp\//, ':'), 'p2p.listen');
  return config;
}

export function configToJson(c: NodeConfig): string {
  return `${JSON.stringify(
    {
      moniker: c.moniker,
      proxy_app: c.proxyApp,
      p2p: {
        listen: c.p2p.listen,
        persistent_peers: c.p2p.persistentPeers,
        max_message_bytes: c.p2p.maxMessageBytes,
        max_dial_period_ms: c.p2p.maxDialPeriodMs,
      },
      rpc: {
        listen: c.rpc.listen,
        max_body_bytes: c.rpc.maxBodyBytes,
        max_open_connections: c.rpc.maxOpenConnections,
        max_connections_per_address: c.rpc.maxConnectionsPerAddress,
        idle_timeout_ms: c.rpc.idleTimeoutMs,
      },
      consensus: {
        timeout_propose_ms: c.consensus.timeoutProposeMs,
        timeout_propose_delta_ms: c.consensus.timeoutProposeDeltaMs,
        timeout_prevote_ms: c.consensus.timeoutPrevoteMs,
        timeout_prevote_delta_ms: c.consensus.timeoutPrevoteDeltaMs,
        timeout_precommit_ms: c.consensus.timeoutPrecommitMs,
        timeout_precommit_delta_ms: c.consensus.timeoutPrecommitDeltaMs,
        timeout_commit_ms: c.consensus.timeoutCommitMs,
        skip_timeout_commit: c.consensus.skipTimeoutCommit,
        gossip_interval_ms: c.consensus.gossipIntervalMs,
      },
      mempool: { max_txs: c.mempool.maxTxs, max_bytes: c.mempool.maxBytes },
      storage: { keep_state_versions: c.storage.keepStateVersions },
      instrumentation: {
        prometheus: c.instrumentation.prometheus,
        prometheus_listen: c.instrumentation.prometheusListen,
        namespace: c.instrumentation.namespace,
      },
      records: {
        max_record_bytes: c.records.maxRecordBytes,
        pending_ttl_ms: c.records.pendingTtlMs,
        sweep_interval_ms: c.records.sweepIntervalMs,
        release_timeout_ms: c.records.releaseTimeoutMs,
        unavailable_after_ms: c.records.unavailableAfterMs,
        upload_timeout_ms: c.records.uploadTimeoutMs,
      },
      log: { level: c.log.level, format: c.log.format, levels: c.log.levels },
    },
    null,
    2,
  )}\n`;
}
