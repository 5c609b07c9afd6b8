/**
 * `npm run bench:consensus -- [--duration S] [--warmup S]`
 *
 * Consensus micro-benchmark: how many votes one core can check and count, against the ceiling,
 * the chain's ed25519 rule alone (`verifyUncached`: libsodium, packages/crypto/ed25519.ts). Rows,
 * from the ceiling to the full path of a gossiped vote:
 *
 * - raw `verifyUncached` over vote sign bytes (the ceiling);
 * - `verifySignature` (packages/crypto) on a new signature: adds the verified-signature cache
 *   (a sha256 key, lookup, insert); and on a seen signature, answered from that cache;
 * - `verifyVote` on a new vote: adds the index/address check and the sign bytes (canonical encode);
 * - `decodeVote` + `verifyVote` on a new vote: what a node does per gossiped vote;
 * - breakdown rows, to show where the time goes: sign bytes alone, decode alone;
 * - `HeightVoteSet` additions of pre-verified votes for 4, 20 and 100 validators, with the
 *   threshold queries the state machine makes after each vote;
 * - OpenSSL's `crypto.verify` with a prebuilt KeyObject and noble-curves' pure-JS verify, for
 *   comparison only: neither is used on consensus paths.
 *
 * Inputs are pre-generated from deterministic keys. Each row is warmed up (which also sizes a
 * timing batch of about 1 ms), then timed with `process.hrtime.bigint` for the duration, in
 * slices of about 0.1 s interleaved with the other rows; each row's ratio to the raw rate is the
 * median of its per-pass ratios, so a shared machine's drifting speed cancels out of the ratios.
 * Every result is checked (a verify that fails or a threshold that is not reached aborts the run),
 * so a fast wrong path cannot pass for a fast one. Prints a table and writes the results as JSON
 * to bench/results/consensus-<timestamp>.json.
 *
 * Why one file of this size: each row is a short measured loop over shared fixtures; a row per
 * file would scatter one table.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ed25519 } from '@noble/curves/ed25519.js';
import { HeightVoteSet } from '../consensus/core/vote-set.ts';
import {
  type KeyPair,
  keyPairFromSeed,
  signerFor,
  verifySignature,
  verifyUncached,
} from '../packages/crypto/ed25519.ts';
import { sha256 } from '../packages/crypto/hash.ts';
import { makeValidatorSet, newValidator, type ValidatorSet } from '../packages/types/validator.ts';
import {
  decodeVote,
  encodeVote,
  NIL_BLOCK_ID,
  type Vote,
  VoteType,
  verifyVote,
  voteSignBytes,
} from '../packages/types/vote.ts';
import { type BenchCommand, numberArg, parseCommandLine, usageError } from './command-line.ts';
import { gitState } from './consortium.ts';

const CHAIN_ID = 'careledger-bench';
/**
 * Distinct signed votes the "new vote" rows cycle through. verifySignature remembers verified
 * signatures (packages/crypto/ed25519.ts, VERIFIED_CACHE_LIMIT = 50,000, oldest dropped first);
 * cycling through more distinct votes than it holds makes every lookup a miss, so these rows
 * time a real verify, as for a vote seen for the first time. A guard after the run refuses
 * results if that stops being true (e.g. the cache grows past this pool).
 */
const NEW_VOTE_POOL_SIZE = 60_000;
/** Votes the "seen signature" row repeats: all of them stay in the verified-signature cache. */
const SEEN_VOTE_POOL_SIZE = 1000;
/** A cold verifySignature this much faster than the raw verify was answered from the cache. */
const CACHE_HIT_GUARD_RATIO = 1.25;
/** Rounds per height in the vote-set rows: all but the last fail, the last decides. */
const VOTE_SET_ROUNDS = 3;
const VOTE_SET_SIZES = [4, 20, 100] as const;
/** Target length of one timed batch: the clock is read once per batch, not once per op. */
const BATCH_TARGET_NS = 1_000_000;
const MAX_SECONDS = 3600;
/** Each measurement's duration is timed in slices of about this length, interleaved with the others. */
const SLICE_SECONDS = 0.1;

const usage = `Usage: npm run bench:consensus -- [options]
       node bench/consensus.ts [options]

Consensus micro-benchmark on one core: the chain's raw ed25519 verify (libsodium), our verifier
(new and already-verified signatures), vote verification, decode + verify per gossiped vote,
vote-set additions with threshold queries (4, 20, 100 validators), and OpenSSL's crypto.verify
and noble-curves' pure-JS verify for comparison. Rows are timed in interleaved slices of about
0.1 s. Prints a table with each rate's ratio to the raw verify rate and writes the results as JSON to
bench/results/consensus-<timestamp>.json. Signing the inputs takes a few seconds first.

Options:
  --duration S   seconds timed per measurement (default 2)
  --warmup S     seconds of warm-up before each measurement (default 0.5)
  -h, --help     show this help
`;

const COMMAND = {
  name: 'bench:consensus',
  command: 'npm run bench:consensus --',
  usage,
  options: {
    duration: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '0.5' },
  },
} as const satisfies BenchCommand;

function parseOptions(): { durationSeconds: number; warmupSeconds: number } {
  const { values } = parseCommandLine(COMMAND);
  const durationSeconds = numberArg(COMMAND, values.duration, '--duration', 0, MAX_SECONDS);
  // A measurement of no time has no rate.
  if (durationSeconds === 0) usageError(COMMAND, `--duration must be above 0, got "${values.duration}"`);
  return { durationSeconds, warmupSeconds: numberArg(COMMAND, values.warmup, '--warmup', 0, MAX_SECONDS) };
}

// ---------------------------------------------------------------------------------------------
// Deterministic inputs

function keyPairs(n: number): KeyPair[] {
  return Array.from({ length: n }, (_, i) =>
    keyPairFromSeed(sha256(new TextEncoder().encode(`careledger/bench/validator/${i}`))),
  );
}

function blockIdFor(height: bigint, round: number): Uint8Array {
  return sha256(new TextEncoder().encode(`careledger/bench/block/${height}/${round}`));
}

interface Fixture {
  readonly set: ValidatorSet;
  /** A signer by validator index (the set is sorted, so not in key-generation order). */
  readonly signers: readonly ((message: Uint8Array) => Uint8Array)[];
}

function fixture(n: number): Fixture {
  const pairs = keyPairs(n);
  const set = makeValidatorSet(pairs.map((p) => newValidator(p.publicKey, 10n)));
  const byKey = new Map(pairs.map((p) => [Buffer.from(p.publicKey).toString('hex'), p.secretKey]));
  const signers = set.validators.map((v) => signerFor(byKey.get(Buffer.from(v.pubKey).toString('hex'))!));
  return { set, signers };
}

function signedVote(
  f: Fixture,
  type: VoteType,
  height: bigint,
  round: number,
  blockId: Uint8Array,
  index: number,
): Vote {
  const validator = f.set.validators[index]!;
  const unsigned = { type, height, round, blockId };
  return {
    ...unsigned,
    validatorIndex: index,
    validatorAddress: validator.address,
    signature: f.signers[index]!(voteSignBytes(CHAIN_ID, unsigned)),
  };
}

/**
 * `count` distinct signed votes from every validator of `f`, heights from `firstHeight` up: each
 * (height, round, type, validator) once, both types, rounds 0 to 2, one vote in eight nil.
 */
function votePool(f: Fixture, count: number, firstHeight: bigint): Vote[] {
  const n = f.set.validators.length;
  return Array.from({ length: count }, (_, i) => {
    const type = Math.floor(i / n) % 2 === 0 ? VoteType.prevote : VoteType.precommit;
    const round = Math.floor(i / (2 * n)) % 3;
    const height = firstHeight + BigInt(Math.floor(i / (6 * n)));
    const blockId = i % 8 === 7 ? NIL_BLOCK_ID : blockIdFor(height, round);
    return signedVote(f, type, height, round, blockId, i % n);
  });
}

/** A vote pool with everything the rows need precomputed, so only the measured work is timed. */
interface Pool {
  readonly votes: readonly Vote[];
  readonly signBytes: readonly Uint8Array[];
  readonly encoded: readonly Uint8Array[];
  readonly pubKeys: readonly Uint8Array[];
}

function pool(f: Fixture, count: number, firstHeight: bigint): Pool {
  const votes = votePool(f, count, firstHeight);
  return {
    votes,
    signBytes: votes.map((v) => voteSignBytes(CHAIN_ID, v)),
    encoded: votes.map(encodeVote),
    pubKeys: votes.map((v) => f.set.validators[v.validatorIndex]!.pubKey),
  };
}

/** A cursor cycling through 0..n-1. */
function cycle(n: number): () => number {
  let i = -1;
  return () => {
    i = i + 1 === n ? 0 : i + 1;
    return i;
  };
}

/**
 * The votes of one height, in arrival order: prevotes then precommits, round by round. In every
 * round but the last, one validator in three votes nil, so neither nil nor the block gets +2/3
 * (the round fails); in the last round all vote for the block, which decides.
 */
function heightVotes(f: Fixture, height: bigint): { votes: Vote[]; blockIds: Uint8Array[] } {
  const n = f.set.validators.length;
  const votes: Vote[] = [];
  const blockIds: Uint8Array[] = [];
  for (let round = 0; round < VOTE_SET_ROUNDS; round++) {
    const block = blockIdFor(height, round);
    blockIds.push(block);
    const last = round === VOTE_SET_ROUNDS - 1;
    for (const type of [VoteType.prevote, VoteType.precommit]) {
      for (let i = 0; i < n; i++) {
        votes.push(signedVote(f, type, height, round, !last && i % 3 === 0 ? NIL_BLOCK_ID : block, i));
      }
    }
  }
  return { votes, blockIds };
}

/**
 * How many threshold queries return true over one height of {@link heightVotes}, counted with
 * plain arithmetic (equal powers), to check the vote set against. After the k-th vote of a set
 * (k from 1), +2/3 of any votes holds when 3k > 2n; in the last round +2/3 for the block holds
 * from the same vote; in the failing rounds neither nil nor the block ever gets +2/3.
 */
function expectedThresholds(n: number): number {
  const reachedFrom = Math.floor((2 * n) / 3) + 1;
  const perSetAny = n - reachedFrom + 1;
  const failingRounds = VOTE_SET_ROUNDS - 1;
  return 2 * (failingRounds * perSetAny + 2 * perSetAny);
}

// ---------------------------------------------------------------------------------------------
// Timing

interface Measurement {
  readonly id: string;
  readonly label: string;
  readonly unit: string;
  readonly note: string;
  /** Performs `opsPerCall` operations of the kind being measured. */
  readonly run: () => void;
  /** Untimed, before the warm-up and before each slice: puts state back where `run` expects it. */
  readonly prepare?: () => void;
  readonly opsPerCall: number;
}

interface Result {
  readonly id: string;
  readonly label: string;
  readonly unit: string;
  readonly note: string;
  readonly ops: number;
  readonly seconds: number;
  /** Operations over the whole timed duration (all passes). */
  readonly ratePerSecond: number;
  readonly nsPerOp: number;
  /** Median over passes of this row's rate / the raw verify rate (verifyUncached) in the same pass. */
  readonly ratioToRawVerify: number;
  /** First and third quartiles of those per-pass ratios: how far the ratio can be trusted. */
  readonly ratioQuartiles: readonly [number, number];
  /** The rate in each pass, in pass order. */
  readonly passRates: readonly number[];
}

/** Runs `run` for at least `ns`, one batch at a time; returns calls made and nanoseconds taken. */
function timed(run: () => void, batch: number, ns: bigint): { calls: number; elapsed: bigint } {
  const start = process.hrtime.bigint();
  const deadline = start + ns;
  let calls = 0;
  let now = start;
  do {
    for (let k = 0; k < batch; k++) run();
    calls += batch;
    now = process.hrtime.bigint();
  } while (now < deadline);
  return { calls, elapsed: now - start };
}

/** Lets V8 optimise the path (and noble build its tables); returns a batch of about 1 ms. */
function warmUp(m: Measurement, warmupSeconds: number): { batch: number; rate: number } {
  m.prepare?.();
  const warm = timed(m.run, 1, BigInt(Math.round(warmupSeconds * 1e9)));
  const nsPerCall = Number(warm.elapsed) / warm.calls;
  return {
    batch: Math.max(1, Math.min(1_000_000, Math.round(BATCH_TARGET_NS / nsPerCall))),
    rate: (m.opsPerCall * 1e9) / nsPerCall,
  };
}

interface Tally {
  calls: number;
  elapsed: bigint;
  readonly passRates: number[];
}

function runSlice(m: Measurement, batch: number, ns: bigint, tally: Tally): void {
  m.prepare?.();
  const { calls, elapsed } = timed(m.run, batch, ns);
  tally.calls += calls;
  tally.elapsed += elapsed;
  tally.passRates.push((calls * m.opsPerCall * 1e9) / Number(elapsed));
}

/** The q-quantile (0..1) of `values`, interpolated between the two nearest ranks. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

function result(m: Measurement, tally: Tally, raw: Tally): Result {
  const ops = tally.calls * m.opsPerCall;
  const seconds = Number(tally.elapsed) / 1e9;
  const ratios = tally.passRates.map((rate, pass) => rate / raw.passRates[pass]!);
  return {
    id: m.id,
    label: m.label,
    unit: m.unit,
    note: m.note,
    ops,
    seconds,
    ratePerSecond: ops / seconds,
    nsPerOp: Number(tally.elapsed) / ops,
    ratioToRawVerify: quantile(ratios, 0.5),
    ratioQuartiles: [quantile(ratios, 0.25), quantile(ratios, 0.75)],
    passRates: tally.passRates,
  };
}

// ---------------------------------------------------------------------------------------------
// Measurements

function measurements(): Measurement[] {
  const big = fixture(100);
  const fresh = pool(big, NEW_VOTE_POOL_SIZE, 1000n);
  const seen = pool(big, SEEN_VOTE_POOL_SIZE, 1n);
  // OpenSSL's row: KeyObjects built once, as a verifier that kept them forever would.
  const keyObjects: KeyObject[] = big.set.validators.map((v) =>
    createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(v.pubKey).toString('base64url') },
      format: 'jwk',
    }),
  );
  const mustVerify = (ok: boolean, k: number): void => {
    if (!ok) throw new Error(`vote ${k} of the pool did not verify: the benchmark inputs are wrong`);
  };
  // Every row that goes through verifySignature's cache shares one cursor over the fresh pool,
  // so no vote comes back before the cache has dropped it.
  const nextFresh = cycle(NEW_VOTE_POOL_SIZE);
  const nextRaw = cycle(NEW_VOTE_POOL_SIZE);
  const nextSeen = cycle(SEEN_VOTE_POOL_SIZE);
  const nextOther = cycle(NEW_VOTE_POOL_SIZE);

  const list: Measurement[] = [
    {
      id: 'raw_verify',
      label: 'verifyUncached ed25519 (libsodium, the chain rule)',
      unit: 'verifies',
      note: 'packages/crypto verifyUncached over vote sign bytes, no cache; the ceiling',
      opsPerCall: 1,
      run: () => {
        const k = nextRaw();
        mustVerify(verifyUncached(fresh.pubKeys[k]!, fresh.signBytes[k]!, fresh.votes[k]!.signature), k);
      },
    },
    {
      id: 'openssl_verify',
      label: 'crypto.verify ed25519 (OpenSSL, prebuilt KeyObject)',
      unit: 'verifies',
      note: 'comparison only: node:crypto, the verifier before libsodium; NOT used on consensus paths',
      opsPerCall: 1,
      run: () => {
        const k = nextOther();
        const v = fresh.votes[k]!;
        mustVerify(verify(null, fresh.signBytes[k]!, keyObjects[v.validatorIndex]!, v.signature), k);
      },
    },
    {
      id: 'verify_signature',
      label: 'verifySignature, new signature',
      unit: 'verifies',
      note: 'verified-signature cache miss: sha256 key, lookup, libsodium verify, insert',
      opsPerCall: 1,
      run: () => {
        const k = nextFresh();
        mustVerify(verifySignature(fresh.pubKeys[k]!, fresh.signBytes[k]!, fresh.votes[k]!.signature), k);
      },
    },
    {
      id: 'verify_signature_seen',
      label: 'verifySignature, seen signature',
      unit: 'verifies',
      note: 'verified-signature cache hit (a vote seen again in a commit or catch-up): sha256 + lookup',
      opsPerCall: 1,
      // The fresh rows push these out of the cache (oldest first) over a long run: put them back.
      prepare: () => {
        for (let k = 0; k < SEEN_VOTE_POOL_SIZE; k++)
          mustVerify(verifySignature(seen.pubKeys[k]!, seen.signBytes[k]!, seen.votes[k]!.signature), k);
      },
      run: () => {
        const k = nextSeen();
        mustVerify(verifySignature(seen.pubKeys[k]!, seen.signBytes[k]!, seen.votes[k]!.signature), k);
      },
    },
    {
      id: 'verify_vote',
      label: 'verifyVote, new vote (100 validators)',
      unit: 'votes',
      note: 'adds the index/address check and building the sign bytes with the canonical encoder',
      opsPerCall: 1,
      run: () => {
        verifyVote(CHAIN_ID, fresh.votes[nextFresh()]!, big.set);
      },
    },
    {
      id: 'decode_verify_vote',
      label: 'decodeVote + verifyVote, new vote',
      unit: 'votes',
      note: 'per gossiped vote: strict canonical decode (pre-scan, unpack, re-encode, schema), verifyVote',
      opsPerCall: 1,
      run: () => {
        verifyVote(CHAIN_ID, decodeVote(fresh.encoded[nextFresh()]!), big.set);
      },
    },
    {
      id: 'vote_sign_bytes',
      label: 'breakdown: voteSignBytes only',
      unit: 'encodes',
      note: 'the canonical encode inside verifyVote',
      opsPerCall: 1,
      run: () => {
        if (voteSignBytes(CHAIN_ID, fresh.votes[nextOther()]!).length === 0)
          throw new Error('empty sign bytes');
      },
    },
    {
      id: 'decode_vote',
      label: 'breakdown: decodeVote only',
      unit: 'decodes',
      note: 'the strict canonical decode of a vote message',
      opsPerCall: 1,
      run: () => {
        const k = nextOther();
        if (decodeVote(fresh.encoded[k]!).validatorIndex !== fresh.votes[k]!.validatorIndex)
          throw new Error(`vote ${k} of the pool did not decode to itself`);
      },
    },
  ];

  for (const n of VOTE_SET_SIZES) {
    const f = fixture(n);
    const height = 7n;
    const { votes, blockIds } = heightVotes(f, height);
    const expectedReached = expectedThresholds(n);
    list.push({
      id: `vote_set_add_${n}`,
      label: `HeightVoteSet.add + thresholds, ${n} validators`,
      unit: 'adds',
      note:
        `new HeightVoteSet per height, ${VOTE_SET_ROUNDS} rounds of prevotes and precommits; after each ` +
        'add: hasTwoThirdsFor(round block), hasTwoThirdsFor(nil), hasTwoThirdsAny()',
      opsPerCall: votes.length,
      run: () => {
        const hvs = new HeightVoteSet(height, f.set);
        let reached = 0;
        for (const vote of votes) {
          if (hvs.add(vote).kind !== 'added') throw new Error('vote-set benchmark: a vote was not added');
          const set = hvs.get(vote.round, vote.type);
          if (set.hasTwoThirdsFor(blockIds[vote.round]!)) reached++;
          if (set.hasTwoThirdsFor(NIL_BLOCK_ID)) reached++;
          if (set.hasTwoThirdsAny()) reached++;
        }
        if (reached !== expectedReached)
          throw new Error(`vote-set benchmark: ${reached} thresholds reached, expected ${expectedReached}`);
      },
    });
  }

  list.push({
    id: 'noble_verify',
    label: 'noble-curves ed25519.verify (pure JS)',
    unit: 'verifies',
    note: 'comparison only, NOT used on consensus paths (ZIP-215 rules differ from libsodium)',
    opsPerCall: 1,
    run: () => {
      const k = nextOther();
      const ok = ed25519.verify(fresh.votes[k]!.signature, fresh.signBytes[k]!, fresh.pubKeys[k]!, {
        zip215: true,
      });
      mustVerify(ok, k);
    },
  });
  return list;
}

// ---------------------------------------------------------------------------------------------
// Output

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const fixed = (x: number, digits: number): string => x.toFixed(digits);

function formatTime(ns: number): string {
  if (ns >= 1e6) return `${fixed(ns / 1e6, 2)} ms`;
  return ns >= 1000 ? `${fixed(ns / 1000, 2)} µs` : `${fixed(ns, 0)} ns`;
}

function ratio(x: number): string {
  return `${fixed(x, x >= 10 ? 1 : 3)}x`;
}

function table(results: readonly Result[]): string {
  const header = ['measurement', 'rate /s', 'time/op', 'vs raw', 'vs raw, IQR'];
  const rows = results.map((r) => [
    r.label,
    `${integer.format(r.ratePerSecond)} ${r.unit}`,
    formatTime(r.nsPerOp),
    ratio(r.ratioToRawVerify),
    `${ratio(r.ratioQuartiles[0])}-${ratio(r.ratioQuartiles[1])}`,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function main(): void {
  const { durationSeconds, warmupSeconds } = parseOptions();
  const startedAt = new Date();
  const machine = {
    node: process.version,
    openssl: process.versions.openssl ?? null,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))),
  };
  // Taken before the run: the tree may change under a long one.
  const git = gitState();
  process.stderr.write(
    `consensus micro-benchmark: node ${machine.node}, OpenSSL ${machine.openssl}, ${machine.cpu} ` +
      `(${machine.cores} cores, load ${machine.loadAverageAtStart.join(' ')}), ` +
      `${durationSeconds} s per measurement after ${warmupSeconds} s warm-up\n`,
  );
  process.stderr.write(
    `signing ${integer.format(NEW_VOTE_POOL_SIZE + SEEN_VOTE_POOL_SIZE)} votes with deterministic keys...\n`,
  );
  const preparing = process.hrtime.bigint();
  const list = measurements();
  process.stderr.write(`inputs ready in ${fixed(Number(process.hrtime.bigint() - preparing) / 1e9, 1)} s\n`);

  // Every measurement is warmed up once, then timed in interleaved passes, each giving every
  // measurement an equal short slice of its duration. On a shared machine the speed drifts over
  // seconds; interleaving lets every row see the same drift, and each row's ratio to the raw rate
  // is taken pass by pass (median), so the drift cancels out of the ratios.
  const batches: number[] = [];
  for (const [k, m] of list.entries()) {
    const warm = warmUp(m, warmupSeconds);
    batches.push(warm.batch);
    process.stderr.write(
      `[${k + 1}/${list.length}] warmed up ${m.label}: about ${integer.format(warm.rate)} ${m.unit}/s\n`,
    );
  }
  const passes = Math.max(1, Math.round(durationSeconds / SLICE_SECONDS));
  const sliceNs = BigInt(Math.round((durationSeconds * 1e9) / passes));
  const tallies: Tally[] = list.map(() => ({ calls: 0, elapsed: 0n, passRates: [] }));
  const reportEvery = Math.ceil(passes / 4);
  for (let pass = 1; pass <= passes; pass++) {
    for (const [k, m] of list.entries()) runSlice(m, batches[k]!, sliceNs, tallies[k]!);
    if (pass % reportEvery === 0 || pass === passes) {
      const raw = tallies[0]!;
      process.stderr.write(
        `pass ${pass}/${passes}: raw verify so far ` +
          `${integer.format((raw.calls * 1e9) / Number(raw.elapsed))} verifies/s\n`,
      );
    }
  }
  const results = list.map((m, k) => result(m, tallies[k]!, tallies[0]!));
  const rawRate = results[0]!.ratePerSecond;
  const byId = new Map(results.map((r) => [r.id, r]));
  for (const id of ['verify_signature', 'verify_vote', 'decode_verify_vote']) {
    const r = byId.get(id)!;
    if (r.ratioToRawVerify > CACHE_HIT_GUARD_RATIO) {
      process.stderr.write(
        `bench:consensus: "${r.label}" ran ${fixed(r.ratioToRawVerify, 2)}x as fast as the raw verify: ` +
          'the verified-signature cache answered it, so it did not time a real verify. Raise ' +
          `NEW_VOTE_POOL_SIZE (${NEW_VOTE_POOL_SIZE}) in bench/consensus.ts above VERIFIED_CACHE_LIMIT ` +
          'in packages/crypto/ed25519.ts. No results written.\n',
      );
      process.exit(1);
    }
  }

  const overhead = (id: string): string => {
    const percent = (1 / byId.get(id)!.ratioToRawVerify - 1) * 100;
    return `${percent >= 0 ? '+' : ''}${fixed(percent, 1)}%`;
  };
  const share = (id: string): string => {
    const r = byId.get(id)!;
    return `${formatTime(r.nsPerOp)} = ${fixed((r.nsPerOp * rawRate) / 1e7, 1)}% of a raw verify`;
  };
  process.stdout.write(`\n${table(results)}\n\n`);
  process.stdout.write(
    `new vote, time per op over the raw verify (median of paired passes): verifySignature ` +
      `${overhead('verify_signature')}, verifyVote ${overhead('verify_vote')}, decodeVote + verifyVote ` +
      `${overhead('decode_verify_vote')}\n` +
      `where the extra time goes: verified-signature cache check ${share('verify_signature_seen')}; ` +
      `sign bytes ${share('vote_sign_bytes')}; decode ${share('decode_vote')}\n`,
  );

  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  // ISO 8601 with ':' replaced by '-', so the name is valid on every file system.
  const file = join(dir, `consensus-${startedAt.toISOString().replaceAll(':', '-')}.json`);
  const report = {
    benchmark: 'consensus',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    loadAverageAtEnd: loadavg().map((x) => Number(x.toFixed(2))),
    durationSeconds,
    warmupSeconds,
    passes,
    machine,
    git,
    results,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`results written to ${relative(process.cwd(), file)}\n`);
}

main();
