/**
 * HealthClient: the typed client of the health-data application. One client signs as one key (a
 * member's or a patient's; none for read-only use). For each tx type it builds the payload
 * (packages/health/tx.ts), checks it locally with the chain's own decoder (so a bad input fails
 * here, with the code the chain would give, before anything is sent), signs the envelope, picks
 * the nonce, broadcasts and returns the committed result with the id the tx created — derived
 * locally from the tx hash (ids.ts), not read from the node's log. A rejected tx throws
 * HealthTxError whose code is the app's codespace (CLAIM_DUPLICATE, ACCESS_NO_CONSENT, …).
 *
 * Every query answer is checked here against the app hash the transport reports as verified
 * (`root`): the key must be the state key of the question, the Merkle proof must hold
 * (verifyAnswer), and a decision is re-derived from its proven leaves (verifyDecision). The
 * transport is trusted for the root only — the light client verifies that against signed headers.
 *
 * Why one file of this size: one typed method per health tx and per query, all over the same
 * sign-broadcast-prove path; the rules themselves live in packages/health.
 */
import { randomBytes } from 'node:crypto';
import { type Canonical, decode } from '../codec/canonical.ts';
import * as s from '../codec/schema.ts';
import { CareLedgerError } from '../core/errors.ts';
import type { KeyPair } from '../crypto/ed25519.ts';
import { equalBytes } from '../crypto/hash.ts';
import type { BreakGlassReason, Category, ClaimOutcome, ErasureReason, Purpose } from '../health/codes.ts';
import { derivedId, patientIdOf, recordIdOf } from '../health/ids.ts';
import { keyBytes, type ListKind } from '../health/keys.ts';
import {
  type AccessEvent,
  type AccessRequest,
  accessEventFromFields,
  type BreakGlass,
  breakGlassFromFields,
  type Claim,
  type ClaimLine,
  type Consent,
  type DelegateSpec,
  decodeBinding,
  decodeClaim,
  decodeConsent,
  decodeCount,
  decodeIdList,
  decodeMember,
  decodePage,
  decodePatient,
  decodeProposal,
  decodeRecord,
  decodeRequest,
  type GovAction,
  type KeyBinding,
  LIST_PAGE_SIZE,
  type Member,
  type Patient,
  type Proposal,
  type RecordAnchor,
  type RequestSpec,
} from '../health/model.ts';
import type { Provision } from '../health/provision.ts';
import {
  type DecisionAnswer,
  type DecisionRequest,
  decisionQueryData,
  idQueryData,
  listCountQueryData,
  listQueryData,
  queryKey,
  verifyAnswer,
  verifyDecision,
} from '../health/query.ts';
import {
  encodeFetchRequest,
  FETCH_NONCE_BYTES,
  fetchRequest,
  type Requester,
  releaseIdOf,
  type SignedFetchRequest,
  signFetchRequest,
} from '../health/records.ts';
import {
  accessRecordTx,
  anchorRecordTx,
  claimSubmitTx,
  decodeHealthTx,
  encodeHealthTx,
  type HealthTx,
  type RecordSeal,
  recordSeal,
  registerPatientTx,
  requestCreateTx,
  rotatePatientKeyTx,
  signHealthTx,
} from '../health/tx.ts';
import { txHash } from '../types/block.ts';
import type { LightClient } from './light-client.ts';
import type { RpcClient } from './rpc.ts';

// --- the transport: how txs reach a node and how verified answers come back ---

export interface TxEvent {
  readonly type: string;
  readonly attributes: readonly { readonly key: string; readonly value: string }[];
}

/** What happened to a broadcast tx: code 0 and an empty codespace on success. */
export interface BroadcastOutcome {
  /** The height it was committed at (0 if refused before a block). */
  readonly height: bigint;
  readonly code: number;
  readonly codespace: string;
  readonly log: string;
  readonly events: readonly TxEvent[];
}

/** A query answer with its proof and the app hash (`root`) the transport verified for its height. */
export interface ProvenAnswer {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
  readonly height: bigint;
  readonly proof: Uint8Array;
  readonly root: Uint8Array;
}

export interface QueryOptions {
  /** A block height; latest if absent. */
  readonly height?: bigint;
  /**
   * Without a height: the newest state provable at once (the node's latest height L minus one,
   * proven by header L, which exists) instead of L's (which waits up to a block for header L+1).
   * For reads a block-old answer cannot make wrong, only refused by the chain. Transports that
   * answer at once anyway may ignore it.
   */
  readonly provable?: boolean;
}

/**
 * The narrow seam between the client and the network: the real one is `rpcTransport` (JSON-RPC
 * plus the light client); tests drive an in-process app through the same interface. A failed
 * query throws (a CareLedgerError with the app's code).
 */
export interface HealthTransport {
  broadcast(tx: Uint8Array): Promise<BroadcastOutcome>;
  query(path: string, data: Uint8Array, opts?: QueryOptions): Promise<ProvenAnswer>;
}

/** The parts of RpcClient and LightClient the adapter uses (so a test can stand in for either). */
export type RpcPart = Pick<RpcClient, 'broadcastTxCommit' | 'waitForTx' | 'abciQuery'>;
export type LightPart = Pick<
  LightClient,
  'verifiedQuery' | 'verifiedAppHash' | 'verifiedLatestAppHash' | 'verifiedTx'
>;

/**
 * The transport over a node's JSON-RPC: txs go through `broadcast_tx_commit`, and a committed tx's
 * height and outcome are then proven by the light client (its inclusion in a verified header, its
 * result code in the next header's results hash), never taken from the node's answer; single-key queries
 * through the light client, which checks the proof against an app hash it verified from signed
 * headers; the decision query (a bundle of proofs the light client does not read) through a plain
 * query whose root is the light client's verified app hash for the answer's height. HealthClient
 * checks every proof again against that root.
 */
export function rpcTransport(rpc: RpcPart, light: LightPart): HealthTransport {
  return {
    async broadcast(tx) {
      const r = await rpc.broadcastTxCommit(tx);
      // The node already knows these very bytes (a retry after a lost answer, or the same tx sent
      // twice): TX_IN_MEMPOOL is the first send, still pending, so wait for its commit;
      // TX_ALREADY_COMMITTED is that commit. Either way the outcome is the one committed tx's.
      if (r.checkTx.codespace === 'TX_IN_MEMPOOL') await rpc.waitForTx(r.hash);
      // Any other tx refused by checkTx never reached a block: report that refusal (a refusal has
      // no proof; the tx is simply not on chain, which a later proven query shows).
      else if (r.checkTx.code !== 0 && r.checkTx.codespace !== 'TX_ALREADY_COMMITTED')
        return { ...outcomeFromResult(r.checkTx), height: 0n };
      // Committed, says the node: the light client proves where, and with which code.
      const proven = await light.verifiedTx(txHash(tx));
      return { ...outcomeFromResult(proven.result), height: proven.height };
    },
    async query(path, data, opts = {}) {
      const at = opts.height === undefined ? {} : { height: opts.height };
      if (queryKey(path, data) !== null) {
        const a = await light.verifiedQuery(
          path,
          data,
          opts.provable === true ? { ...at, provable: true } : at,
        );
        return { key: a.key, value: a.value, height: a.height, proof: a.proof, root: a.appHash };
      }
      const r = await rpc.abciQuery(path, data, { ...at, prove: true });
      if (r.code !== 0)
        throw new CareLedgerError(r.codespace || 'CLIENT_QUERY_FAILED', `query ${path} failed: ${r.log}`);
      if (r.proof === null) throw proofError(path, 'the node sent no proof');
      const root =
        opts.height === undefined
          ? await light.verifiedLatestAppHash(r.height)
          : await light.verifiedAppHash(r.height);
      return { key: r.key, value: r.value, height: r.height, proof: r.proof, root };
    },
  };
}

function outcomeFromResult(r: {
  readonly code: number;
  readonly codespace: string;
  readonly log: string;
  readonly events: readonly TxEvent[];
}): Omit<BroadcastOutcome, 'height'> {
  return { code: r.code, codespace: r.codespace, log: r.log, events: r.events };
}

// --- results and errors ---

/** A tx the chain refused: `code` is the app's codespace (e.g. CLAIM_DUPLICATE). */
export class HealthTxError extends CareLedgerError {
  readonly txType: HealthTx['type'];
  /** The result's number (packages/health/errors.ts). */
  readonly resultCode: number;
  readonly txHash: Uint8Array;
  readonly height: bigint;

  constructor(tx: HealthTx['type'], outcome: BroadcastOutcome, txHash: Uint8Array) {
    super(outcome.codespace || 'TX_FAILED', `${tx} refused: ${outcome.log || `code ${outcome.code}`}`);
    this.name = 'HealthTxError';
    this.txType = tx;
    this.resultCode = outcome.code;
    this.txHash = txHash;
    this.height = outcome.height;
  }
}

/** A committed tx: the id of what it created or changed, where and how. */
export interface TxReceipt {
  readonly id: string;
  readonly type: HealthTx['type'];
  readonly hash: Uint8Array;
  readonly height: bigint;
  readonly nonce: bigint;
  readonly events: readonly TxEvent[];
}

/** A value read at a height, proven against that height's app hash. */
export interface Proven<T> {
  readonly value: T;
  readonly height: bigint;
}

/**
 * The on-chain fingerprint of a record: the sha256 of its encrypted bytes (what a recipient checks
 * the vault's bytes against), their size, and the salted commitment to the plaintext. Keep the
 * salt with the record, off chain: with it the plaintext can later be shown to match.
 */
export function sealRecord(ciphertext: Uint8Array, plaintext: Uint8Array, salt: Uint8Array): RecordSeal {
  // 16 bytes at least: a short salt would let a guess of the content be checked against the chain.
  if (salt.length < 16)
    throw new CareLedgerError('CLIENT_SALT_INVALID', 'the salt is at least 16 random bytes');
  if (ciphertext.length === 0)
    throw new CareLedgerError('CLIENT_RECORD_EMPTY', 'the encrypted record is empty');
  return recordSeal(ciphertext, plaintext, salt);
}

export interface HealthClientOptions {
  readonly chainId: string;
  readonly transport: HealthTransport;
  /** The signer; absent for a read-only client. */
  readonly key?: KeyPair;
  /** Microseconds since the epoch, for nonces (default: the wall clock). */
  readonly clockMicros?: () => bigint;
}

/** The id the tx `tx` creates or acts on (what exec.ts returns), computed before it is sent. */
function subjectId(
  tx: HealthTx,
  hash: Uint8Array,
  signerMember: () => Promise<string>,
): Promise<string> | string {
  switch (tx.type) {
    case 'patient.register':
      return patientIdOf(tx.patientKey);
    case 'patient.rotate-key':
    case 'delegate.set':
    case 'delegate.remove':
      return tx.patient;
    case 'record.anchor':
      return signerMember().then((custodian) => recordIdOf(custodian, tx.patient, tx.ciphertextHash));
    case 'record.erase':
      return tx.record;
    case 'consent.grant':
    case 'request.approve':
      return derivedId('consent', hash);
    case 'consent.revoke':
      return tx.consent;
    case 'request.create':
      return derivedId('request', hash);
    case 'request.deny':
      return tx.request;
    case 'access.record':
      return derivedId('access', hash);
    case 'breakglass.declare':
      return derivedId('breakGlass', hash);
    case 'claim.submit':
      return derivedId('claim', hash);
    case 'claim.adjudicate':
      return tx.claim;
    case 'gov.propose':
      return derivedId('proposal', hash);
    case 'gov.vote':
      return tx.proposal;
    case 'member.set-record-key':
      return signerMember();
    default:
      return tx satisfies never;
  }
}

function proofError(path: string, why: string): CareLedgerError {
  return new CareLedgerError('CLIENT_PROOF_INVALID', `${path}: ${why}; the answer is refused`);
}

const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

const defaultClock = (): bigint => BigInt(Date.now()) * 1000n;

export class HealthClient {
  readonly chainId: string;
  private readonly transport: HealthTransport;
  private readonly key: KeyPair | undefined;
  private readonly clock: () => bigint;
  private lastNonce: bigint | null = null;
  private ownMember: string | null = null;

  constructor(options: HealthClientOptions) {
    this.chainId = options.chainId;
    this.transport = options.transport;
    this.key = options.key;
    this.clock = options.clockMicros ?? defaultClock;
  }

  /** The signer's public key. Throws CLIENT_NO_KEY for a read-only client. */
  get publicKey(): Uint8Array {
    return this.signer().publicKey;
  }

  private signer(): KeyPair {
    if (this.key === undefined) throw new CareLedgerError('CLIENT_NO_KEY', 'this client has no signing key');
    return this.key;
  }

  // --- sending ---

  /**
   * The next nonce. The app executes a tx only if its nonce is above the last nonce the signer
   * used in a successful tx, and allows gaps. So the nonce is a per-client counter that is
   * strictly increasing, seeded from the clock in microseconds: above any nonce this key used in
   * an earlier run (a CLI invocation starts afresh), never repeated within this client. The first
   * tx also reads the signer's proven last nonce, so a clock set back cannot make it a replay.
   * Two processes signing with one key at the same microsecond could collide; the second then
   * fails with HEALTH_NONCE_REPLAYED and changes nothing.
   */
  private async nextNonce(): Promise<bigint> {
    // Read at the newest provable height, not the node's latest (which waits for the next block):
    // a nonce the signer used in the very last block is missed only if the clock also went back,
    // and then the tx is refused as a replay, as above.
    if (this.lastNonce === null)
      this.lastNonce = (await this.nonceOf(this.signer().publicKey, { provable: true })).value;
    const now = this.clock();
    this.lastNonce = now > this.lastNonce ? now : this.lastNonce + 1n;
    return this.lastNonce;
  }

  /** Checks, signs and broadcasts any health tx; returns its receipt or throws HealthTxError. */
  async send(tx: HealthTx): Promise<TxReceipt> {
    const key = this.signer();
    // The chain's own decoder: an input it would refuse is refused here with the same code.
    decodeHealthTx(encodeHealthTx(tx));
    const nonce = await this.nextNonce();
    const signed = signHealthTx(this.chainId, key, nonce, tx);
    const id = await subjectId(tx, signed.hash, () => this.memberId());
    const outcome = await this.transport.broadcast(signed.bytes);
    if (outcome.code !== 0 || outcome.codespace !== '')
      throw new HealthTxError(tx.type, outcome, signed.hash);
    return { id, type: tx.type, hash: signed.hash, height: outcome.height, nonce, events: outcome.events };
  }

  /** The member id this client's key is bound to (read once, proven). Throws CLIENT_NOT_MEMBER. */
  async memberId(): Promise<string> {
    if (this.ownMember !== null) return this.ownMember;
    const key = this.signer().publicKey;
    // The newest provable state first (no wait for the next block): a member bound there is the
    // answer (one removed or rekeyed since is refused by the chain). A key bound in the very last
    // block would be missed there, so a "not a member" is confirmed at the latest state.
    let binding = (await this.binding(key, { provable: true })).value;
    if (binding?.kind !== 'member') binding = (await this.binding(key)).value;
    if (binding?.kind !== 'member')
      throw new CareLedgerError('CLIENT_NOT_MEMBER', 'the signing key is not a member key on this chain');
    this.ownMember = binding.id;
    return binding.id;
  }

  /** Enrols the patient holding `patient` (its key signs the proof; this member signs the tx). */
  async registerPatient(patient: KeyPair): Promise<TxReceipt> {
    return this.send(registerPatientTx(this.chainId, await this.memberId(), patient));
  }

  /** Moves `patient` to the key `next` (sign with the patient's current key). */
  rotatePatientKey(patient: string, next: KeyPair): Promise<TxReceipt> {
    return this.send(rotatePatientKeyTx(this.chainId, patient, next));
  }

  setDelegate(patient: string, delegate: DelegateSpec): Promise<TxReceipt> {
    return this.send({ type: 'delegate.set', patient, delegate });
  }

  removeDelegate(patient: string, delegateKey: Uint8Array): Promise<TxReceipt> {
    return this.send({ type: 'delegate.remove', patient, delegateKey });
  }

  /** Anchors a record this member holds (see `sealRecord` for the fingerprint); id = the record id. */
  anchorRecord(
    a: {
      readonly patient: string;
      readonly category: Category;
      readonly supersedes?: string | null;
    } & RecordSeal,
  ): Promise<TxReceipt> {
    return this.send(anchorRecordTx(a.patient, a.category, a, a.supersedes ?? null));
  }

  eraseRecord(record: string, reason: ErasureReason): Promise<TxReceipt> {
    return this.send({ type: 'record.erase', record, reason });
  }

  /** Grants `grantee` (a member id, or `*` for a deny to all) the rule `provision`; id = the consent id. */
  grantConsent(patient: string, grantee: string, provision: Provision): Promise<TxReceipt> {
    return this.send({ type: 'consent.grant', patient, grantee, provision });
  }

  revokeConsent(consent: string): Promise<TxReceipt> {
    return this.send({ type: 'consent.revoke', consent });
  }

  /** Asks the patient for access; id = the request id. */
  createRequest(patient: string, spec: RequestSpec): Promise<TxReceipt> {
    return this.send(requestCreateTx(patient, spec));
  }

  /** Approves a request; id = the consent it creates. */
  approveRequest(
    request: string,
    options: { readonly periodEnd?: bigint | null; readonly exceptions?: readonly Provision[] } = {},
  ): Promise<TxReceipt> {
    return this.send({
      type: 'request.approve',
      request,
      periodEnd: options.periodEnd ?? null,
      exceptions: options.exceptions ?? [],
    });
  }

  denyRequest(request: string): Promise<TxReceipt> {
    return this.send({ type: 'request.deny', request });
  }

  /** Records a disclosure by this custodian; id = the access event id. */
  recordAccess(a: Parameters<typeof accessRecordTx>[0]): Promise<TxReceipt> {
    return this.send(accessRecordTx(a));
  }

  declareBreakGlass(patient: string, reason: BreakGlassReason): Promise<TxReceipt> {
    return this.send({ type: 'breakglass.declare', patient, reason });
  }

  /**
   * Submits a claim to `payer`; id = the claim id. With `supersedes`, it amends that earlier claim
   * of this provider (same patient and payer, not yet adjudicated), which becomes `superseded`.
   */
  submitClaim(
    patient: string,
    payer: string,
    lines: readonly ClaimLine[],
    opts: { readonly supersedes?: string | null } = {},
  ): Promise<TxReceipt> {
    return this.send(claimSubmitTx(patient, payer, lines, opts.supersedes ?? null));
  }

  /** Adjudicates a claim as its payer: amounts for `partial` only, a reason for `partial` and `denied`. */
  adjudicateClaim(
    claim: string,
    outcome: ClaimOutcome,
    options: { readonly amounts?: readonly bigint[]; readonly reason?: string | null } = {},
  ): Promise<TxReceipt> {
    return this.send({
      type: 'claim.adjudicate',
      claim,
      outcome,
      amounts: options.amounts ?? [],
      reason: options.reason ?? null,
    });
  }

  /** Proposes a governance action (votes yes); id = the proposal id. */
  propose(action: GovAction, deadline: bigint): Promise<TxReceipt> {
    return this.send({ type: 'gov.propose', action, deadline });
  }

  vote(proposal: string, approve: boolean): Promise<TxReceipt> {
    return this.send({ type: 'gov.vote', proposal, approve });
  }

  /** Publishes this member's record-encryption public key (X25519), or clears it (null); id = the member id. */
  setRecordKey(recordKey: Uint8Array | null): Promise<TxReceipt> {
    return this.send({ type: 'member.set-record-key', recordKey });
  }

  /**
   * A fetch request for `record`, signed by this client's key: as this member by default, or as
   * the patient `requester` (then `recipientKey` is the patient's own X25519 key). The nonce is 16
   * fresh random bytes and the time is now. `bytes` go to the custodian (through this member's
   * node, or any member's as the patient's gateway); `releaseId` names the access event that will
   * audit the release (`release`).
   */
  async fetchRequest(spec: {
    readonly record: string;
    readonly purpose: Purpose;
    readonly breakGlass?: boolean;
    readonly requester?: Requester;
    readonly recipientKey?: Uint8Array | null;
  }): Promise<{ signed: SignedFetchRequest; bytes: Uint8Array; releaseId: Uint8Array }> {
    const requester = spec.requester ?? { kind: 'member', id: await this.memberId() };
    const request = fetchRequest(
      { ...spec, chainId: this.chainId, requester },
      new Uint8Array(randomBytes(FETCH_NONCE_BYTES)),
      BigInt(Date.now()),
    );
    const signed = signFetchRequest(request, this.signer().secretKey);
    return { signed, bytes: encodeFetchRequest(signed), releaseId: releaseIdOf(signed.request) };
  }

  // --- proven queries ---

  /** A member's record-encryption public key (null: it has none, or no such member), proven. */
  async recordKeyOf(member: string, opts?: QueryOptions): Promise<Proven<Uint8Array | null>> {
    const a = await this.member(member, opts);
    return { value: a.value?.recordKey ?? null, height: a.height };
  }

  /** The access event that recorded the release `releaseId` (null: not recorded), proven. */
  async release(releaseId: Uint8Array, opts?: QueryOptions): Promise<Proven<string | null>> {
    const a = await this.proven('/health/release', releaseId, opts);
    return { value: a.value === null ? null : fromUtf8.decode(a.value), height: a.height };
  }

  /**
   * One single-key answer, checked: the key is the one the question reads, and the proof shows
   * that key holds the value (or nothing) under the verified root.
   */
  async proven(path: string, data: Uint8Array, opts: QueryOptions = {}): Promise<Proven<Uint8Array | null>> {
    const expected = queryKey(path, data);
    if (expected === null)
      throw new CareLedgerError('CLIENT_QUERY_INVALID', `${path} is not a single-key path`);
    const a = await this.transport.query(path, data, opts);
    if (opts.height !== undefined && a.height !== opts.height)
      throw proofError(path, 'answered at another height');
    if (!equalBytes(a.key, keyBytes(expected))) throw proofError(path, 'the answer is for another key');
    if (!verifyAnswer(a.root, a.key, a.value, a.proof)) throw proofError(path, 'the proof does not verify');
    return { value: a.value, height: a.height };
  }

  private async object<T>(
    path: string,
    data: Uint8Array,
    decode: (bytes: Uint8Array) => T,
    opts?: QueryOptions,
  ): Promise<Proven<T | null>> {
    const a = await this.proven(path, data, opts);
    return { value: a.value === null ? null : decode(a.value), height: a.height };
  }

  patient(id: string, opts?: QueryOptions): Promise<Proven<Patient | null>> {
    return this.object('/health/patient', idQueryData(id), decodePatient, opts);
  }

  member(id: string, opts?: QueryOptions): Promise<Proven<Member | null>> {
    return this.object('/health/member', idQueryData(id), decodeMember, opts);
  }

  record(id: string, opts?: QueryOptions): Promise<Proven<RecordAnchor | null>> {
    return this.object('/health/record', idQueryData(id), decodeRecord, opts);
  }

  consent(id: string, opts?: QueryOptions): Promise<Proven<Consent | null>> {
    return this.object('/health/consent', idQueryData(id), decodeConsent, opts);
  }

  request(id: string, opts?: QueryOptions): Promise<Proven<AccessRequest | null>> {
    return this.object('/health/request', idQueryData(id), decodeRequest, opts);
  }

  claim(id: string, opts?: QueryOptions): Promise<Proven<Claim | null>> {
    return this.object('/health/claim', idQueryData(id), decodeClaim, opts);
  }

  proposal(id: string, opts?: QueryOptions): Promise<Proven<Proposal | null>> {
    return this.object('/health/proposal', idQueryData(id), decodeProposal, opts);
  }

  /** What `publicKey` is bound to (a member or a patient), or null. */
  binding(publicKey: Uint8Array, opts?: QueryOptions): Promise<Proven<KeyBinding | null>> {
    return this.object('/health/key', publicKey, decodeBinding, opts);
  }

  /** The last nonce `publicKey` used in a successful tx (0 if none). */
  async nonceOf(publicKey: Uint8Array, opts?: QueryOptions): Promise<Proven<bigint>> {
    const a = await this.proven('/health/nonce', publicKey, opts);
    return { value: a.value === null ? 0n : decodeNonce(a.value), height: a.height };
  }

  /** Ids of the patient's requests still pending. */
  async pendingRequests(patient: string, opts?: QueryOptions): Promise<Proven<string[]>> {
    const a = await this.object('/health/pending', idQueryData(patient), (b) => decodeIdList(b), opts);
    return { value: a.value ?? [], height: a.height };
  }

  /** Ids of the open governance proposals. */
  async openProposals(opts?: QueryOptions): Promise<Proven<string[]>> {
    const a = await this.object('/health/open-proposals', new Uint8Array(0), (b) => decodeIdList(b), opts);
    return { value: a.value ?? [], height: a.height };
  }

  /** Ids of the active members: the electorate a proposal's votes are counted against. */
  async activeMembers(opts?: QueryOptions): Promise<Proven<string[]>> {
    const a = await this.object('/health/members', new Uint8Array(0), (b) => decodeIdList(b), opts);
    return { value: a.value ?? [], height: a.height };
  }

  /**
   * Every entry of an append-only list, page by page at one height, each page proven; complete
   * once a page is short or the next page is proven absent.
   */
  async list<T>(kind: ListKind, owner: string, read: (entry: Canonical) => T, opts: QueryOptions = {}) {
    const out: T[] = [];
    let height = opts.height;
    for (let page = 0; ; page++) {
      const a = await this.proven(
        '/health/list',
        listQueryData(kind, owner, page),
        height === undefined ? {} : { height },
      );
      height = a.height;
      const entries = a.value === null ? [] : decodePage(a.value);
      out.push(...entries.map(read));
      if (entries.length < LIST_PAGE_SIZE) return { value: out, height } satisfies Proven<T[]>;
    }
  }

  /** The proven length of a list. */
  async listCount(kind: ListKind, owner: string, opts?: QueryOptions): Promise<Proven<number>> {
    const a = await this.proven('/health/list/count', listCountQueryData(kind, owner), opts);
    return { value: a.value === null ? 0 : decodeCount(a.value), height: a.height };
  }

  /** Ids of every record anchored for the patient, oldest first. */
  records(patient: string, opts?: QueryOptions): Promise<Proven<string[]>> {
    return this.list('records', patient, idEntry, opts);
  }

  consents(patient: string, opts?: QueryOptions): Promise<Proven<string[]>> {
    return this.list('consents', patient, idEntry, opts);
  }

  requests(patient: string, opts?: QueryOptions): Promise<Proven<string[]>> {
    return this.list('requests', patient, idEntry, opts);
  }

  claims(patient: string, opts?: QueryOptions): Promise<Proven<string[]>> {
    return this.list('claims', patient, idEntry, opts);
  }

  /** The patient's disclosure audit trail: every access event, oldest first. */
  disclosures(patient: string, opts?: QueryOptions): Promise<Proven<AccessEvent[]>> {
    return this.list('disclosures', patient, accessEventFromFields, opts);
  }

  breakGlass(patient: string, opts?: QueryOptions): Promise<Proven<BreakGlass[]>> {
    return this.list('breakglass', patient, breakGlassFromFields, opts);
  }

  /**
   * The policy engine's decision for `request`, as the next block would make it: re-derived here
   * from the proven leaves it depends on (verifyDecision), so no node is trusted for it.
   */
  async decision(request: DecisionRequest, opts: QueryOptions = {}): Promise<Proven<DecisionAnswer>> {
    const path = '/health/decision';
    const a = await this.transport.query(path, decisionQueryData(request), opts);
    if (opts.height !== undefined && a.height !== opts.height)
      throw proofError(path, 'answered at another height');
    if (a.value === null) throw proofError(path, 'no decision in the answer');
    const answer = verifyDecision(a.root, request, a.value, a.proof);
    if (answer === null) throw proofError(path, 'the decision does not follow from its proven leaves');
    return { value: answer, height: a.height };
  }
}

function idEntry(entry: Canonical): string {
  if (typeof entry !== 'string')
    throw new CareLedgerError('CLIENT_PROOF_INVALID', 'a list entry is not an id');
  return entry;
}

function decodeNonce(bytes: Uint8Array): bigint {
  try {
    return s.u64(decode(bytes), 'nonce');
  } catch {
    throw new CareLedgerError('CLIENT_PROOF_INVALID', 'the nonce leaf is not a canonical integer');
  }
}
