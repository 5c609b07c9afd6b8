/**
 * Records off chain, for an institution's systems and a patient's app (DESIGN "Records off
 * chain"; RECORDS-CONTRACT): store-encrypt-anchor (`putRecord`), fetch-verify-decrypt
 * (`fetchRecord`) and erase-and-wait-for-shredding (`eraseRecord`), over the member's own node
 * (its local API, local-api.ts) and the chain (HealthClient, every answer proven).
 *
 * Why the order of `fetchRecord` is what it is (packages/records/README.md "Verify order"):
 *  1. the anchor (ciphertext hash, size, commitment, custodian) is read through the light client,
 *     so no node's word decides what the bytes must be;
 *  2. the ciphertext goes to a private temp file while it is hashed and counted, and must equal
 *     the anchor's hash and size before anything is decrypted;
 *  3. the release must be on chain: the access event naming this request's release id is proven
 *     present at the height the node names and absent the height before (no disclosure without a
 *     committed audit entry, and the height reported is proven, not taken);
 *  4. only then is the data key unwrapped (bound to chain, record and release) and the record
 *     decrypted into a temp file beside the output, which is renamed onto the output only after
 *     the GCM tag verifies and the plaintext matches the salted commitment on chain.
 * Any failure is a ClientError with a code (RECORD_HASH_MISMATCH, RECORD_SIZE_MISMATCH,
 * RECORD_COMMITMENT_MISMATCH, RECORD_KEY_UNWRAP_FAILED, RECORD_RELEASE_UNRECORDED, …, or the
 * node's refusal such as ACCESS_NO_CONSENT) and leaves no output file and no temp file.
 *
 * A record is never held whole in memory: the plaintext is read as a stream, the envelope goes
 * through a temp file (mode 0600, in a private folder, removed on every path) on both sides
 * (record-files.ts).
 * No terminal I/O here; the CLI (packages/cli/commands/record-*.ts) prints what these return.
 */
import { randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { KeyPair } from '../crypto/ed25519.ts';
import { equalBytes } from '../crypto/hash.ts';
import {
  CATEGORIES,
  type Category,
  type ErasureReason,
  oneOf,
  PURPOSES,
  type Purpose,
} from '../health/codes.ts';
import { isIdOf } from '../health/ids.ts';
import type { RecordAnchor } from '../health/model.ts';
import type { Requester } from '../health/records.ts';
import { decryptRecordStream } from '../records/envelope.ts';
import { generateDataKey, type KeyMaterial } from '../records/key-material.ts';
import { unwrapRecordKey } from '../records/key-wrap.ts';
import type { HealthClient } from './health.ts';
import { type BlobStatus, LocalApi, type ReleaseResponse } from './local-api.ts';
import {
  committedFileSink,
  downloadVerified,
  encryptToFile,
  type SealedFile,
  withTempDir,
} from './record-files.ts';
import { ClientError } from './rpc.ts';

// --- options ---

export interface RecordsOptions {
  /** Where the envelope's temp files go (default: the system's temp folder). */
  readonly tempDir: string;
  /**
   * Fetch attempts after a CUSTODIAN_UNAVAILABLE or busy refusal (default 2 more). Few, because
   * the requester's node has already retried the custodian's nodes with backoff for its
   * `records.unavailable_after_ms` (10 s by default) before it answers CUSTODIAN_UNAVAILABLE.
   */
  readonly retries: number;
  /** The first retry's delay; each next one doubles (default 500 ms). */
  readonly backoffMs: number;
  /** How long to wait for this node to show the committed access event (default 20 s). */
  readonly releaseWaitMs: number;
  /** How long `eraseRecord` waits for the custodian's node to shred (default 30 s). */
  readonly shredWaitMs: number;
  /** Between two polls of the chain or the node (default 250 ms). */
  readonly pollMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  /** ms since the epoch, for the bounded waits. */
  readonly now: () => number;
}

export const defaultRecordsOptions: RecordsOptions = {
  tempDir: tmpdir(),
  retries: 2,
  backoffMs: 500,
  releaseWaitMs: 20_000,
  shredWaitMs: 30_000,
  pollMs: 250,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => Date.now(),
};

/** How a call reaches the chain and the member's node. */
export interface RecordsContext {
  /** Signs txs and fetch requests: the member's (or, to fetch, the patient's) key. */
  readonly client: HealthClient;
  /** The node's RPC address; its local API is on the same listener. */
  readonly nodeUrl: string;
  /** The same key as the client's: it signs the local API's x-careledger-auth. */
  readonly key: KeyPair;
  readonly options?: Partial<RecordsOptions>;
}

/** The codes of a node's refusal that a later attempt may not get (the custodian was busy or away). */
// The node's codes (node/records/refusals.ts RecordsCode, p2p/record-exchange.ts, local-auth.ts), which
// packages/ cannot import: RELEASE_BUSY was written RECORD_BUSY here, a code no node sends.
const RETRIABLE = new Set(['CUSTODIAN_UNAVAILABLE', 'BUSY', 'RELEASE_BUSY', 'LOCAL_AUTH_BUSY']);

function recordError(code: string, message: string): ClientError {
  return new ClientError(code, message);
}

function setup(ctx: RecordsContext): { api: LocalApi; o: RecordsOptions } {
  const o = { ...defaultRecordsOptions, ...ctx.options };
  return { api: new LocalApi({ nodeUrl: ctx.nodeUrl, chainId: ctx.client.chainId, key: ctx.key }), o };
}

function checkRecordId(record: string): void {
  if (!isIdOf('record', record))
    throw recordError('CLIENT_INPUT_INVALID', 'a record id is r and 32 hex digits');
}

/** The proven anchor of `record`; RECORD_UNKNOWN if the chain proves there is none. */
async function provenAnchor(
  client: HealthClient,
  record: string,
): Promise<{ anchor: RecordAnchor; height: bigint }> {
  const r = await client.record(record);
  if (r.value === null)
    throw recordError('RECORD_UNKNOWN', `record ${record} is not anchored on chain (proven absent)`);
  return { anchor: r.value, height: r.height };
}

// --- put ---

export interface PutRecordInput {
  /** The record's plaintext: a file path, or a stream of bytes (exactly one of the two). */
  readonly file?: string;
  readonly stream?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  readonly patient: string;
  readonly category: Category;
  /** The record this one amends. */
  readonly supersedes?: string | null;
}

export interface PutRecordResult {
  readonly record: string;
  /** The height the record.anchor tx committed at (proven). */
  readonly height: bigint;
  readonly tx: Uint8Array;
  /** sha256 of the envelope: the anchor's hash and the vault's name for it. */
  readonly sha256: Uint8Array;
  /** Bytes of the envelope. */
  readonly size: bigint;
}

function plaintextSource(input: PutRecordInput): AsyncIterable<Uint8Array> | Iterable<Uint8Array> {
  if ((input.file === undefined) === (input.stream === undefined))
    throw recordError('CLIENT_INPUT_INVALID', 'give the record as a file or as a stream, not both');
  if (input.stream !== undefined) return input.stream;
  return createReadStream(input.file!).on('error', () => {
    // Reported by the iteration below (ENOENT and the like), as CLIENT_FILE_NOT_FOUND.
  });
}

/**
 * Encrypts a record under a fresh data key and salt, stores the envelope and the key material in
 * this member's node's vault (pending), and anchors it on chain, signed by this member as the
 * custodian; resolves once the anchor is committed (the node then confirms the upload).
 */
export async function putRecord(input: PutRecordInput, ctx: RecordsContext): Promise<PutRecordResult> {
  const { api, o } = setup(ctx);
  // What the chain would refuse is refused before anything is encrypted or uploaded.
  if (!isIdOf('patient', input.patient))
    throw recordError('CLIENT_INPUT_INVALID', 'a patient id is p and 32 hex digits');
  oneOf(CATEGORIES, input.category, 'category');
  if (input.supersedes != null) checkRecordId(input.supersedes);
  const source = plaintextSource(input);
  const material: KeyMaterial = { dataKey: generateDataKey(), salt: new Uint8Array(randomBytes(32)) };
  try {
    return await withTempDir(o.tempDir, async (dir) => {
      const path = join(dir, 'envelope');
      let sealed: SealedFile;
      try {
        sealed = await encryptToFile(source, material, path);
      } catch (err) {
        if (
          (err as NodeJS.ErrnoException).code === 'ENOENT' ||
          (err as NodeJS.ErrnoException).code === 'EISDIR'
        )
          throw recordError('CLIENT_FILE_NOT_FOUND', `cannot read the record ${input.file}`);
        throw err;
      }
      await api.putBlob(sealed.sha256, sealed.size, createReadStream(path), material);
      const receipt = await ctx.client.anchorRecord({
        patient: input.patient,
        category: input.category,
        supersedes: input.supersedes ?? null,
        ciphertextHash: sealed.sha256,
        commitment: sealed.commitment,
        size: sealed.size,
      });
      return {
        record: receipt.id,
        height: receipt.height,
        tx: receipt.hash,
        sha256: sealed.sha256,
        size: sealed.size,
      };
    });
  } finally {
    material.dataKey.fill(0);
  }
}

// --- fetch ---

export interface FetchRecordInput {
  readonly record: string;
  readonly purpose: Purpose;
  /** Asks under an active break-glass declaration (purpose ETREAT). */
  readonly breakGlass?: boolean;
  /** Where the plaintext goes; it appears only once everything has verified. */
  readonly out: string;
  /** A patient fetching their own record (the client signs with the patient's key); a member by default. */
  readonly requester?: Requester;
}

export interface FetchContext extends RecordsContext {
  /** The requester's X25519 record key: a member's must be the one on chain. */
  readonly recordKey: KeyPair;
}

export interface FetchRecordResult {
  readonly record: string;
  readonly out: string;
  readonly patient: string;
  readonly custodian: string;
  readonly category: Category;
  /** The ciphertext's sha256, equal to the anchor's as proven at `anchorProvenAt`. */
  readonly sha256: Uint8Array;
  readonly size: bigint;
  /** The salted commitment the plaintext matched. */
  readonly commitment: Uint8Array;
  readonly anchorProvenAt: bigint;
  readonly releaseId: Uint8Array;
  /** The access event auditing this release, proven committed at `accessHeight` (and absent before). */
  readonly accessEvent: string;
  readonly accessHeight: bigint;
  /** Fetch attempts made (more than 1 after a busy or unavailable custodian). */
  readonly attempts: number;
}

/**
 * Asks this node for `record` (it fetches from the custodian, or is the custodian), verifies the
 * bytes and the audit as the header explains, and writes the plaintext to `input.out`.
 */
export async function fetchRecord(input: FetchRecordInput, ctx: FetchContext): Promise<FetchRecordResult> {
  const { api, o } = setup(ctx);
  checkRecordId(input.record);
  const purpose = oneOf(PURPOSES, input.purpose, 'purpose');
  if (typeof input.out !== 'string' || input.out === '')
    throw recordError('CLIENT_INPUT_INVALID', 'an output path is required');
  // Checked before asking: a release is audited on chain, so it must not be wasted on a bad path.
  await access(dirname(input.out), constants.W_OK).catch(() => {
    throw recordError('CLIENT_OUTPUT_INVALID', `cannot write into the folder of ${input.out}`);
  });
  const { client } = ctx;
  // The proofs before the request go together: each waits for a header the light client
  // verifies, and one after the other they cost a block interval more (bench/records.ts). The
  // anchor's failure is reported first, whichever settles first: a lying node is named as such.
  const [anchorProof, requesterProof] = await Promise.allSettled([
    provenAnchor(client, input.record),
    (async () => {
      const requester = input.requester ?? { kind: 'member' as const, id: await client.memberId() };
      const onChain = requester.kind === 'member' ? (await client.recordKeyOf(requester.id)).value : null;
      return { requester, onChain };
    })(),
  ]);
  if (anchorProof.status === 'rejected') throw anchorProof.reason;
  if (requesterProof.status === 'rejected') throw requesterProof.reason;
  const { anchor, height: anchorProvenAt } = anchorProof.value;
  const { requester, onChain } = requesterProof.value;
  if (requester.kind === 'member') {
    // The custodian wraps to the key on chain: with another one nothing could be opened, and a
    // release would be audited for nothing. Checked before anything is asked.
    if (onChain === null || !equalBytes(onChain, ctx.recordKey.publicKey))
      throw recordError(
        'RECORD_KEY_MISMATCH',
        `the record key given is not ${requester.id}'s record-encryption key on chain`,
      );
  }
  const ask = () =>
    client.fetchRequest({
      record: input.record,
      purpose,
      breakGlass: input.breakGlass === true,
      requester,
      ...(requester.kind === 'patient' ? { recipientKey: ctx.recordKey.publicKey } : {}),
    });
  return withTempDir(o.tempDir, async (dir) => {
    const { release, releaseId, attempts } = await releaseWithRetry(api, ask, o);
    const sha256 = await downloadVerified(release, anchor, join(dir, 'envelope'));
    const audit = await provenRelease(client, releaseId, release.accessHeight, o);
    const material = await unwrapRecordKey(ctx.recordKey.secretKey, release.wrappedKey, {
      chainId: client.chainId,
      recordId: anchor.id,
      releaseId,
    });
    try {
      await decryptRecordStream(
        createReadStream(join(dir, 'envelope')),
        material.dataKey,
        await committedFileSink(input.out, material.salt, anchor.commitment),
      );
    } finally {
      material.dataKey.fill(0);
    }
    return {
      record: anchor.id,
      out: input.out,
      patient: anchor.patient,
      custodian: anchor.custodian,
      category: anchor.category,
      sha256,
      size: anchor.size,
      commitment: anchor.commitment,
      anchorProvenAt,
      releaseId,
      accessEvent: audit,
      accessHeight: release.accessHeight,
      attempts,
    };
  });
}

/**
 * Sends fresh fetch requests until the node answers with a release or a final refusal; a busy or
 * unavailable custodian is retried with doubling delays, `o.retries` times at most. Each attempt
 * is a new request (a new release id): a release that reached the chain but not the requester
 * stays in the audit as what it was, and the next attempt is not refused as its replay.
 */
async function releaseWithRetry(
  api: LocalApi,
  ask: () => Promise<{ bytes: Uint8Array; releaseId: Uint8Array }>,
  o: RecordsOptions,
): Promise<{ release: ReleaseResponse; releaseId: Uint8Array; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    const { bytes, releaseId } = await ask();
    try {
      const release = await api.fetch(bytes);
      if (!equalBytes(release.releaseId, releaseId)) {
        release.body.destroy();
        throw recordError('RECORD_RELEASE_MISMATCH', 'the node answered with the release of another request');
      }
      return { release, releaseId, attempts: attempt };
    } catch (err) {
      if (!(err instanceof ClientError) || !RETRIABLE.has(err.code) || attempt > o.retries) throw err;
      await o.sleep(o.backoffMs * 2 ** (attempt - 1));
    }
  }
}

/**
 * The access event of `releaseId`, proven: recorded at `accessHeight` and not at the height
 * before, so both "audited" and the height shown are the chain's word, not the node's. Waits
 * (bounded) for the node the client reads from to reach that height.
 */
async function provenRelease(
  client: HealthClient,
  releaseId: Uint8Array,
  accessHeight: bigint,
  o: RecordsOptions,
): Promise<string> {
  const unrecorded = (why: string) =>
    recordError(
      'RECORD_RELEASE_UNRECORDED',
      `no committed access event for this release ${why}; nothing is decrypted`,
    );
  const deadline = o.now() + o.releaseWaitMs;
  for (;;) {
    const latest = await client.release(releaseId);
    if (latest.height >= accessHeight) break;
    if (o.now() >= deadline) throw unrecorded(`by height ${latest.height} (the node named ${accessHeight})`);
    await o.sleep(o.pollMs);
  }
  if (accessHeight < 1n) throw unrecorded('at height 0');
  const [at, before] = await Promise.all([
    client.release(releaseId, { height: accessHeight }),
    client.release(releaseId, { height: accessHeight - 1n }),
  ]);
  if (at.value === null) throw unrecorded(`at height ${accessHeight}, the height the node named`);
  if (before.value !== null)
    throw recordError(
      'RECORD_RELEASE_UNRECORDED',
      `the access event was committed before height ${accessHeight}, not at it as the node said`,
    );
  return at.value;
}

// --- erase ---

export interface EraseRecordResult {
  readonly record: string;
  /** The height the record.erase tx committed at (proven). */
  readonly height: bigint;
  readonly tx: Uint8Array;
  /** What this node's vault says about the ciphertext after the wait: `erased`. */
  readonly status: BlobStatus;
}

/**
 * Marks a record erased on chain (signed by its custodian), then waits, bounded, until this
 * member's node has shredded its data key (the node does so by itself on seeing the committed
 * erase). RECORD_SHRED_TIMEOUT if it has not within `shredWaitMs`: the chain says erased, and the
 * node must be looked at.
 */
export async function eraseRecord(
  input: { readonly record: string; readonly reason: ErasureReason },
  ctx: RecordsContext,
): Promise<EraseRecordResult> {
  const { api, o } = setup(ctx);
  checkRecordId(input.record);
  const { anchor } = await provenAnchor(ctx.client, input.record);
  const receipt = await ctx.client.eraseRecord(input.record, input.reason);
  const status = await waitForStatus(api, anchor.ciphertextHash, 'erased', o);
  return { record: input.record, height: receipt.height, tx: receipt.hash, status };
}

async function waitForStatus(
  api: LocalApi,
  hash: Uint8Array,
  want: BlobStatus,
  o: RecordsOptions,
): Promise<BlobStatus> {
  const deadline = o.now() + o.shredWaitMs;
  for (;;) {
    let status: BlobStatus | null = null;
    try {
      status = await api.status(hash);
    } catch (err) {
      if (!(err instanceof ClientError) || !RETRIABLE.has(err.code)) throw err;
    }
    if (status === want) return status;
    if (o.now() >= deadline)
      throw recordError(
        'RECORD_SHRED_TIMEOUT',
        `the record is erased on chain, but the node's vault still says ${status ?? 'busy'} after ${o.shredWaitMs} ms`,
      );
    await o.sleep(o.pollMs);
  }
}

/** This node's vault status of a record's ciphertext (for tools and the CLI). */
export async function recordStatus(
  record: string,
  ctx: RecordsContext,
): Promise<{ status: BlobStatus; anchor: RecordAnchor }> {
  const { api } = setup(ctx);
  checkRecordId(record);
  const { anchor } = await provenAnchor(ctx.client, record);
  return { status: await api.status(anchor.ciphertextHash), anchor };
}
