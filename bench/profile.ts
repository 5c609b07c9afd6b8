/**
 * Summary of a V8 CPU profile (`node --cpu-prof`, a `.cpuprofile`): where one node's time went.
 *
 *   node bench/profile.ts FILE.cpuprofile [--top N] [--from-us T --to-us T] [--callers NAME]
 *   (`--help` describes each option)
 *
 * Self time by function (what the CPU was executing), inclusive time by function of this
 * repository (what each of our functions cost with everything it called), and self time grouped
 * by where the code lives (our folders, each npm package, Node's internals, V8's native work,
 * GC, idle). Samples can be limited to a window of the monotonic clock (µs): bench/run.ts passes
 * its measured window so start-up and drain do not count. bench/run.ts uses `summariseProfile`.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchCommand, integerArg, parseCommandLine, usageError } from './command-line.ts';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface Row {
  readonly name: string;
  readonly ms: number;
  /** Share of the busy time (samples that were not idle). */
  readonly pct: number;
}

export interface ProfileSummary {
  /** Milliseconds covered by the samples taken into account. */
  readonly sampledMs: number;
  /** Of those, not idle. */
  readonly busyMs: number;
  readonly idleMs: number;
  readonly gcMs: number;
  readonly topSelf: readonly Row[];
  /** Functions of this repository, by time including their callees. */
  readonly topInclusive: readonly Row[];
  readonly byLocation: readonly Row[];
  /** Busy time by what the node was doing (see ACTIVITIES). */
  readonly byActivity: readonly Row[];
}

/**
 * What a sample was part of, by the frames on its stack: the first rule any frame matches wins
 * (our entry points first, so gossip validation counts as tx ingest, not as libp2p).
 */
const ACTIVITIES: readonly (readonly [string, RegExp])[] = [
  [
    'tx in by RPC (HTTP, broadcast_tx_sync: decode, verify, mempool, publish)',
    /^(handle|submitTx|broadcastTxSync) node\/rpc/,
  ],
  ['tx in by gossip (validate: decode, verify, mempool)', /^onGossipTx node\/node\.ts/],
  [
    'consensus messages (proposals with their txs, votes, WAL)',
    /^(onConsensusMessage|sendCatchUp) node\/node\.ts|consensus\/driver\.ts/,
  ],
  [
    'block execution and commit (app, Merkle store, LevelDB batch)',
    /^(commitBlock|applySynced) node\/node\.ts|node\/executor\.ts|state\/(merkle\/|kvstore-app|block-store)|packages\/types\/chain-state|node\/tx-index\.ts|classic-level|abstract-level/,
  ],
  ['RPC reads (status, block)', /node\/rpc\//],
  ['garbage collector', /^\(garbage collector\)$/],
  [
    'libp2p transport (gossipsub, yamux, noise, sockets)',
    /@libp2p\/|@chainsafe\/|libp2p\/dist|it-[a-z-]+\/|uint8arraylist|protons-runtime|@multiformats|wasm-function|^(writeBuffer|writev|writeUtf8String)$/,
  ],
  ['HTTP server internals', /node:_http_|^parserOnIncoming|^(on)?HeadersComplete/],
];

const repo = fileURLToPath(new URL('..', import.meta.url));

/** Where a frame's code lives: a folder of ours, an npm package, a module of Node's or V8. */
export function locationOf(url: string): string {
  if (url === '') return '(native/V8)';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const rel = relative(repo, path);
  if (rel.startsWith('..')) return path;
  const dirs = rel.split('/');
  return dirs.length > 2 ? `${dirs[0]}/${dirs[1]}/` : rel;
}

function frameName(f: CallFrame): string {
  const name = f.functionName === '' ? '(anonymous)' : f.functionName;
  if (f.url === '') return name;
  const path = f.url.startsWith('file://') ? fileURLToPath(f.url) : f.url;
  const nm = path.lastIndexOf('/node_modules/');
  const short = nm >= 0 ? path.slice(nm + '/node_modules/'.length) : relative(repo, path);
  return `${name} ${short}:${f.lineNumber + 1}`;
}

function isOurs(url: string): boolean {
  if (!url.startsWith('file://')) return false;
  const path = fileURLToPath(url);
  return !path.includes('/node_modules/') && !relative(repo, path).startsWith('..');
}

/** Summarises `profile`, counting only samples taken in [fromUs, toUs] when given. */
export function summariseProfile(
  profile: CpuProfile,
  top = 25,
  fromUs?: number,
  toUs?: number,
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Each sample stands for the time until the next one.
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  const n = profile.samples.length;
  for (let i = 0; i < n; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const weight = i + 1 < n ? (profile.timeDeltas[i + 1] ?? 0) : 0;
    if (fromUs !== undefined && t < fromUs) continue;
    if (toUs !== undefined && t > toUs) continue;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, weight));
  }

  let sampled = 0;
  let idle = 0;
  let gc = 0;
  const self = new Map<string, number>();
  const byLocation = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    sampled += us;
    const f = node.callFrame;
    if (f.functionName === '(idle)') {
      idle += us;
      continue;
    }
    if (f.functionName === '(garbage collector)') gc += us;
    const name = frameName(f);
    self.set(name, (self.get(name) ?? 0) + us);
    const where = f.functionName.startsWith('(') && f.url === '' ? f.functionName : locationOf(f.url);
    byLocation.set(where, (byLocation.get(where) ?? 0) + us);
  }
  const busy = sampled - idle;

  // Busy time by activity: classify each profile node once by its whole stack.
  const activityOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = activityOf.get(id);
    if (known !== undefined) return known;
    const names: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
      names.push(frameName(byId.get(at)!.callFrame));
    const rule = ACTIVITIES.find(([, re]) => names.some((name) => re.test(name)));
    const activity = rule?.[0] ?? 'other (microtask pump, timers, runtime, start-up)';
    activityOf.set(id, activity);
    return activity;
  };
  const byActivity = new Map<string, number>();
  for (const [id, us] of selfUs) {
    if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
    const activity = classify(id);
    byActivity.set(activity, (byActivity.get(activity) ?? 0) + us);
  }

  // Inclusive time of our functions: subtree sums, counted once per stack (recursion-safe).
  const inclusive = new Map<string, number>();
  const roots = profile.nodes.filter((x) => !parent.has(x.id));
  const onStack = new Map<string, number>();
  const subtree = (id: number): number => {
    const node = byId.get(id)!;
    const ours = isOurs(node.callFrame.url);
    const name = frameName(node.callFrame);
    if (ours) onStack.set(name, (onStack.get(name) ?? 0) + 1);
    let total = node.callFrame.functionName === '(idle)' ? 0 : (selfUs.get(id) ?? 0);
    for (const c of node.children ?? []) total += subtree(c);
    if (ours) {
      const depth = onStack.get(name)!;
      if (depth === 1) inclusive.set(name, (inclusive.get(name) ?? 0) + total);
      onStack.set(name, depth - 1);
    }
    return total;
  };
  for (const r of roots) subtree(r.id);

  const rows = (m: Map<string, number>, limit: number): Row[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({
        name,
        ms: Math.round(us / 100) / 10,
        pct: busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0,
      }));
  return {
    sampledMs: Math.round(sampled / 1000),
    busyMs: Math.round(busy / 1000),
    idleMs: Math.round(idle / 1000),
    gcMs: Math.round(gc / 1000),
    topSelf: rows(self, top),
    topInclusive: rows(inclusive, top),
    byLocation: rows(byLocation, top),
    byActivity: rows(byActivity, ACTIVITIES.length + 1),
  };
}

/**
 * Who calls `match` (a substring of a frame's name, e.g. "pbToPeer" or "verifyOneShot"): the
 * `depth` frames above each matching frame, with the time spent in and below the match.
 */
export function callers(
  profile: CpuProfile,
  match: string,
  depth = 6,
  top = 10,
  fromUs?: number,
  toUs?: number,
): Row[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const chains = new Map<string, number>();
  let busy = 0;
  let t = profile.startTime;
  const n = profile.samples.length;
  for (let i = 0; i < n; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const weight = i + 1 < n ? (profile.timeDeltas[i + 1] ?? 0) : 0;
    if ((fromUs !== undefined && t < fromUs) || (toUs !== undefined && t > toUs)) continue;
    let id: number | undefined = profile.samples[i]!;
    if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
    busy += weight;
    // The outermost matching frame, so recursion counts once.
    let hit: number | undefined;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
      if (frameName(byId.get(at)!.callFrame).includes(match)) hit = at;
    if (hit === undefined) continue;
    const names: string[] = [];
    id = parent.get(hit);
    while (id !== undefined && names.length < depth) {
      names.push(frameName(byId.get(id)!.callFrame));
      id = parent.get(id);
    }
    const key = names.join('  <-  ');
    chains.set(key, (chains.get(key) ?? 0) + weight);
  }
  return [...chains]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({
      name,
      ms: Math.round(us / 100) / 10,
      pct: busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0,
    }));
}

export function formatSummary(s: ProfileSummary): string {
  const table = (title: string, rows: readonly Row[]): string =>
    `${title}\n${rows.map((r) => `  ${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`).join('\n')}`;
  return [
    `sampled ${s.sampledMs} ms: busy ${s.busyMs} ms, idle ${s.idleMs} ms, of which GC ${s.gcMs} ms (percentages are of busy time)`,
    table('busy time by activity', s.byActivity),
    table('self time by location', s.byLocation),
    table('self time by function', s.topSelf),
    table('inclusive time, functions of this repository', s.topInclusive),
  ].join('\n\n');
}

const COMMAND = {
  name: 'bench:profile',
  command: 'npx node bench/profile.ts',
  usage: `Usage: npx node bench/profile.ts FILE.cpuprofile [options]

Where one process's time went, from a V8 CPU profile (node --cpu-prof; npm run bench -- --profile
and npm run bench:sync -- --cpu-prof keep theirs under bench/results/). Prints busy time by
activity, self time by location (our folders, npm packages, Node, V8, GC), self time by function
and inclusive time of this repository's functions; with --callers, who calls a function instead.
Percentages are of busy (not idle) time. Writes nothing.

Options:
  --top N           rows per list of functions, locations or caller chains (default 25)
  --from-us T       only samples at or after T on the monotonic clock, µs (default: the start)
  --to-us T         only samples at or before T, µs (default: the end)
  --callers NAME    instead of the tables: the chains of callers above each frame whose name
                    contains NAME, with the time spent in and below it
  --depth D         with --callers, frames of each chain (default 6)
  -h, --help        show this help
`,
  options: {
    top: { type: 'string', default: '25' },
    'from-us': { type: 'string' },
    'to-us': { type: 'string' },
    callers: { type: 'string' },
    depth: { type: 'string', default: '6' },
  },
  positionals: { min: 1, max: 1, synopsis: 'one FILE.cpuprofile' },
} as const satisfies BenchCommand;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseCommandLine(COMMAND);
  const file = positionals[0]!;
  const top = integerArg(COMMAND, values.top, '--top', 1, 10_000);
  const micros = (text: string | undefined, flag: string): number | undefined =>
    text === undefined ? undefined : integerArg(COMMAND, text, flag, 0, Number.MAX_SAFE_INTEGER);
  const from = micros(values['from-us'], '--from-us');
  const to = micros(values['to-us'], '--to-us');
  let profile: CpuProfile;
  try {
    profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  } catch (err) {
    usageError(COMMAND, `${file}: not a readable .cpuprofile (${(err as Error).message})`);
  }
  if (typeof values.callers === 'string') {
    const depth = integerArg(COMMAND, values.depth, '--depth', 1, 1000);
    const rows = callers(profile, values.callers, depth, top, from, to);
    for (const r of rows)
      process.stdout.write(
        `${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}\n`,
      );
  } else process.stdout.write(`${formatSummary(summariseProfile(profile, top, from, to))}\n`);
}
