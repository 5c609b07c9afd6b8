/**
 * What one tx executes against: its state layer, the block's height and time, the tx hash and
 * signer, and typed reads and writes of the objects in the state layout (packages/health/keys.ts).
 * Lookups that must succeed (`need…`) throw the object's NOT_FOUND code; authorization helpers
 * resolve the signer to an active member, or to a patient or one of the patient's delegates.
 */
import type { Canonical } from '../../packages/codec/canonical.ts';
import { equalBytes } from '../../packages/crypto/hash.ts';
import type { AccessReader } from '../../packages/health/access.ts';
import type { DelegatePower, Role } from '../../packages/health/codes.ts';
import { type HealthErrorCode, healthError } from '../../packages/health/errors.ts';
import { type ListKind, stateKey } from '../../packages/health/keys.ts';
import {
  type BreakGlass,
  type ChainMeta,
  type Claim,
  type Consent,
  type Delegate,
  decodeBinding,
  decodeBreakGlass,
  decodeClaim,
  decodeConsent,
  decodeCount,
  decodeIdList,
  decodeMember,
  decodePage,
  decodeParams,
  decodePatient,
  decodeProposal,
  decodeRecord,
  decodeRequest,
  encodeClaim,
  encodeConsent,
  encodeCount,
  encodeIdList,
  encodeMember,
  encodePage,
  encodePatient,
  encodeProposal,
  encodeRecord,
  encodeRequest,
  type KeyBinding,
  LIST_PAGE_SIZE,
  type Member,
  type Params,
  type Patient,
  type Proposal,
  type RecordAnchor,
  type AccessRequest as Request,
} from '../../packages/health/model.ts';
import type { ValidatorUpdate } from '../../packages/types/chain-state.ts';
import type { AppEvent, EventAttribute } from '../application.ts';
import type { Overlay } from './overlay.ts';

export type Attributes = Record<string, string | readonly string[]>;

const fromUtf8 = new TextDecoder();

export class TxContext implements AccessReader {
  state: Overlay;
  readonly meta: ChainMeta;
  readonly height: bigint;
  readonly time: bigint;
  readonly txHash: Uint8Array;
  readonly signer: Uint8Array;
  readonly events: AppEvent[] = [];
  validatorUpdates: ValidatorUpdate[] = [];
  private paramsCache: Params | null = null;

  constructor(
    state: Overlay,
    env: { meta: ChainMeta; height: bigint; time: bigint; txHash: Uint8Array; signer: Uint8Array },
  ) {
    this.state = state;
    this.meta = env.meta;
    this.height = env.height;
    this.time = env.time;
    this.txHash = env.txHash;
    this.signer = env.signer;
  }

  // --- raw access ---

  get(key: string): Promise<Uint8Array | null> {
    return this.state.get(key);
  }

  put(key: string, value: Uint8Array): void {
    this.state.put(key, value);
  }

  del(key: string): void {
    this.state.del(key);
  }

  private async read<T>(key: string, decode: (b: Uint8Array) => T): Promise<T | null> {
    const bytes = await this.state.get(key);
    return bytes === null ? null : decode(bytes);
  }

  private async need<T>(
    key: string,
    decode: (b: Uint8Array) => T,
    code: HealthErrorCode,
    what: string,
  ): Promise<T> {
    const value = await this.read(key, decode);
    if (value === null) throw healthError(code, `${what} does not exist`);
    return value;
  }

  // --- typed objects ---

  async params(): Promise<Params> {
    this.paramsCache ??= await this.need(stateKey.params(), decodeParams, 'HEALTH_NOT_INITIALIZED', 'params');
    return this.paramsCache;
  }

  putParams(bytes: Uint8Array): void {
    this.paramsCache = null;
    this.put(stateKey.params(), bytes);
  }

  member(id: string): Promise<Member | null> {
    return this.read(stateKey.member(id), decodeMember);
  }

  putMember(m: Member): void {
    this.put(stateKey.member(m.id), encodeMember(m));
  }

  async memberIds(): Promise<string[]> {
    return (await this.read(stateKey.members(), (b) => decodeIdList(b))) ?? [];
  }

  patient(id: string): Promise<Patient | null> {
    return this.read(stateKey.patient(id), decodePatient);
  }

  needPatient(id: string): Promise<Patient> {
    return this.need(stateKey.patient(id), decodePatient, 'PATIENT_NOT_FOUND', `patient ${id}`);
  }

  putPatient(p: Patient): void {
    this.put(stateKey.patient(p.id), encodePatient(p));
  }

  record(id: string): Promise<RecordAnchor | null> {
    return this.read(stateKey.record(id), decodeRecord);
  }

  needRecord(id: string): Promise<RecordAnchor> {
    return this.need(stateKey.record(id), decodeRecord, 'RECORD_NOT_FOUND', `record ${id}`);
  }

  putRecord(r: RecordAnchor): void {
    this.put(stateKey.record(r.id), encodeRecord(r));
  }

  consent(id: string): Promise<Consent | null> {
    return this.read(stateKey.consent(id), decodeConsent);
  }

  needConsent(id: string): Promise<Consent> {
    return this.need(stateKey.consent(id), decodeConsent, 'CONSENT_NOT_FOUND', `consent ${id}`);
  }

  putConsent(c: Consent): void {
    this.put(stateKey.consent(c.id), encodeConsent(c));
  }

  needRequest(id: string): Promise<Request> {
    return this.need(stateKey.request(id), decodeRequest, 'REQUEST_NOT_FOUND', `access request ${id}`);
  }

  request(id: string): Promise<Request | null> {
    return this.read(stateKey.request(id), decodeRequest);
  }

  putRequest(r: Request): void {
    this.put(stateKey.request(r.id), encodeRequest(r));
  }

  needClaim(id: string): Promise<Claim> {
    return this.need(stateKey.claim(id), decodeClaim, 'CLAIM_NOT_FOUND', `claim ${id}`);
  }

  putClaim(c: Claim): void {
    this.put(stateKey.claim(c.id), encodeClaim(c));
  }

  proposal(id: string): Promise<Proposal | null> {
    return this.read(stateKey.proposal(id), decodeProposal);
  }

  needProposal(id: string): Promise<Proposal> {
    return this.need(stateKey.proposal(id), decodeProposal, 'GOV_PROPOSAL_NOT_FOUND', `proposal ${id}`);
  }

  putProposal(p: Proposal): void {
    this.put(stateKey.proposal(p.id), encodeProposal(p));
  }

  async idList(key: string): Promise<string[]> {
    return (await this.read(key, (b) => decodeIdList(b))) ?? [];
  }

  /** Writes a set of ids, deleting the key when it becomes empty. */
  putIdList(key: string, ids: readonly string[]): void {
    if (ids.length === 0) this.del(key);
    else this.put(key, encodeIdList(ids));
  }

  /** The member's latest break-glass declaration for the patient. */
  breakGlass(patient: string, member: string): Promise<BreakGlass | null> {
    return this.read(stateKey.breakGlass(patient, member), decodeBreakGlass);
  }

  /** The access event that recorded a release, or null. */
  release(releaseId: Uint8Array): Promise<string | null> {
    return this.read(stateKey.release(releaseId), (b) => fromUtf8.decode(b));
  }

  /** Consents of (patient, grantee), in the order granted. */
  async consentsFor(patient: string, grantee: string): Promise<Consent[]> {
    const ids = await this.idList(stateKey.grants(patient, grantee));
    return Promise.all(ids.map((id) => this.needConsent(id)));
  }

  /** Appends to an append-only paged list; returns the entry's index. */
  async append(kind: ListKind, owner: string, entry: Canonical): Promise<number> {
    const countKey = stateKey.listCount(kind, owner);
    const countBytes = await this.get(countKey);
    const count = countBytes === null ? 0 : decodeCount(countBytes);
    const pageIndex = Math.floor(count / LIST_PAGE_SIZE);
    const pageKey = stateKey.listPage(kind, owner, pageIndex);
    const pageBytes = count % LIST_PAGE_SIZE === 0 ? null : await this.get(pageKey);
    const page = pageBytes === null ? [] : [...decodePage(pageBytes)];
    page.push(entry);
    this.put(pageKey, encodePage(page));
    this.put(countKey, encodeCount(count + 1));
    return count;
  }

  // --- who signs ---

  /** What the signer's key is bound to (a member or a patient, current or retired key), or null. */
  async signerBinding(): Promise<KeyBinding | null> {
    const bytes = await this.get(stateKey.key(this.signer));
    return bytes === null ? null : decodeBinding(bytes);
  }

  /** The active member whose current key signed the tx, holding one of `roles` if any are given. */
  async signerMember(roles: readonly Role[] = []): Promise<Member> {
    const binding = await this.signerBinding();
    const member = binding?.kind === 'member' ? await this.member(binding.id) : null;
    if (member === null || !member.active || !equalBytes(member.pubKey, this.signer))
      throw healthError('HEALTH_UNAUTHORIZED', 'the signer is not an active member');
    if (roles.length > 0 && !roles.some((r) => member.roles.includes(r)))
      throw healthError('HEALTH_ROLE_REQUIRED', `member ${member.id} needs the role ${roles.join(' or ')}`);
    return member;
  }

  /**
   * The patient, and the delegate that signed (null when the patient's own key signed). A delegate
   * must hold `power` and not be expired.
   */
  async patientActor(
    patientId: string,
    power: DelegatePower | null,
  ): Promise<{ patient: Patient; delegate: Delegate | null }> {
    const patient = await this.needPatient(patientId);
    if (equalBytes(patient.pubKey, this.signer)) return { patient, delegate: null };
    const delegate = patient.delegates.find((d) => equalBytes(d.pubKey, this.signer));
    if (power === null || delegate === undefined)
      throw healthError('HEALTH_UNAUTHORIZED', `the signer does not act for patient ${patientId}`);
    if (delegate.expiresAt !== null && this.time >= delegate.expiresAt)
      throw healthError('DELEGATE_POWER_DENIED', 'the delegate has expired');
    if (!delegate.powers.includes(power))
      throw healthError('DELEGATE_POWER_DENIED', `the delegate may not ${power} for this patient`);
    return { patient, delegate };
  }

  // --- events ---

  emit(type: string, attributes: Attributes): void {
    const list: EventAttribute[] = [];
    for (const [key, value] of Object.entries(attributes)) {
      for (const v of typeof value === 'string' ? [value] : value) list.push({ key, value: v, index: true });
    }
    this.events.push({ type: `health.${type}`, attributes: list });
  }
}
