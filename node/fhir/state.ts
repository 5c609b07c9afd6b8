/**
 * The facade's one reader of chain state: the health app's own query paths
 * (packages/health/query.ts), the same leaves the SDK reads and proves, decoded with the model's
 * own decoders. A view is pinned to one height, the latest committed when it is opened, so every
 * resource of one answer (and its meta tag) comes from one state. Proofs are not built: the node
 * reads its own committed state; a client that wants proof asks the SDK for the same leaf at the
 * height the resource carries.
 */
import type { Canonical } from '../../packages/codec/canonical.ts';
import type { ListKind } from '../../packages/health/keys.ts';
import {
  type AccessRequest,
  type BlockInfo,
  type Claim,
  type Consent,
  decodeBlockInfo,
  decodeClaim,
  decodeConsent,
  decodeIdList,
  decodeMember,
  decodePage,
  decodePatient,
  decodeRecord,
  decodeRequest,
  LIST_PAGE_SIZE,
  type Member,
  type Patient,
  type RecordAnchor,
} from '../../packages/health/model.ts';
import { idQueryData, listQueryData } from '../../packages/health/query.ts';
import type { Application } from '../../state/application.ts';
import { fhirError } from './outcome.ts';

/** What the facade needs of the application: its query (the node's app, or a HealthApp in tests). */
export type FhirApp = Pick<Application, 'query'>;

/** At most this many entries are read from one list for one search (a bound, not a page size). */
export const MAX_LIST_ENTRIES = 100 * LIST_PAGE_SIZE;

export class StateView {
  readonly height: bigint;
  readonly block: BlockInfo;
  private readonly app: FhirApp;

  private constructor(app: FhirApp, height: bigint, block: BlockInfo) {
    this.app = app;
    this.height = height;
    this.block = block;
  }

  /** A view of the latest committed state (its block info leaf says which block that is). */
  static async latest(app: FhirApp): Promise<StateView> {
    const r = await app.query('/health/block', new Uint8Array(0), null, false);
    if (r.code !== 0 || r.value === null)
      throw fhirError(
        'FHIR_STATE_UNAVAILABLE',
        `this node has no health-data state to serve (${r.codespace || 'no block info'}: ${r.log})`,
      );
    return new StateView(app, r.height, decodeBlockInfo(r.value));
  }

  private async get(path: string, data: Uint8Array): Promise<Uint8Array | null> {
    const r = await this.app.query(path, data, this.height, false);
    if (r.code !== 0)
      throw fhirError(
        'FHIR_STATE_UNAVAILABLE',
        `reading ${path} at height ${this.height}: ${r.codespace} ${r.log}`,
      );
    return r.value;
  }

  private async one<T>(path: string, id: string, decode: (b: Uint8Array) => T): Promise<T | null> {
    const bytes = await this.get(path, idQueryData(id));
    return bytes === null ? null : decode(bytes);
  }

  patient(id: string): Promise<Patient | null> {
    return this.one('/health/patient', id, decodePatient);
  }

  member(id: string): Promise<Member | null> {
    return this.one('/health/member', id, decodeMember);
  }

  record(id: string): Promise<RecordAnchor | null> {
    return this.one('/health/record', id, decodeRecord);
  }

  consent(id: string): Promise<Consent | null> {
    return this.one('/health/consent', id, decodeConsent);
  }

  request(id: string): Promise<AccessRequest | null> {
    return this.one('/health/request', id, decodeRequest);
  }

  claim(id: string): Promise<Claim | null> {
    return this.one('/health/claim', id, decodeClaim);
  }

  /** The ids of the active members. */
  async members(): Promise<string[]> {
    const bytes = await this.get('/health/members', new Uint8Array(0));
    return bytes === null ? [] : decodeIdList(bytes);
  }

  /**
   * Every entry of an append-only list, oldest first, page by page (a short or absent page ends
   * it). Refuses a list longer than MAX_LIST_ENTRIES rather than answering with part of it.
   */
  async list(kind: ListKind, owner: string): Promise<Canonical[]> {
    const out: Canonical[] = [];
    for (let page = 0; ; page++) {
      if (out.length >= MAX_LIST_ENTRIES)
        throw fhirError(
          'FHIR_PARAM_INVALID',
          `the ${kind} list of ${owner} is longer than ${MAX_LIST_ENTRIES} entries`,
        );
      const bytes = await this.get('/health/list', listQueryData(kind, owner, page));
      if (bytes === null) return out;
      const entries = decodePage(bytes);
      out.push(...entries);
      if (entries.length < LIST_PAGE_SIZE) return out;
    }
  }

  /** A list of ids (records, consents, requests, claims). */
  async idList(kind: ListKind, owner: string): Promise<string[]> {
    return (await this.list(kind, owner)).map((entry) => {
      if (typeof entry !== 'string')
        throw fhirError('FHIR_INTERNAL', `the ${kind} list holds a non-id entry`);
      return entry;
    });
  }
}
