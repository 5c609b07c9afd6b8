/**
 * The custodian's release of a record (state/health/README.md "The release, step by step"): from
 * the encoded signed fetch request and the peer id of the node that brought it, to a refusal with
 * a code, or the ciphertext stream with the data key wrapped for the requester.
 *
 *  1. decode the request (ACCESS_REQUEST_INVALID);
 *  2. the requesting node must be one of the requester member's nodes; for a patient's request,
 *     any active member's node (the gateway) (ACCESS_REQUESTER_PEER_INVALID);
 *  3. HealthApp.decideRelease on the latest committed state, as this node's member;
 *  4. the vault must hold the record (RECORD_ERASED, RECORD_BLOB_MISSING), checked before
 *     anything is audited, so no access event names a release that cannot happen;
 *  5. the access.record tx, signed by the node key, committed with code 0 (RELEASE_TIMEOUT, or
 *     the tx's own refusal if the state changed since step 3: a revoked consent, an erasure);
 *  6. only then: vault read, HPKE wrap to the decision's recipient key bound to (chain, record,
 *     release), and the ciphertext stream.
 * A refusal releases no byte and no key. The same steps serve a request from a peer (over
 * /careledger/record/1) and one from this node's own local API (peer = this node).
 */

import type { RecordAnswer } from '../../p2p/record-exchange.ts';
import { hasCode } from '../../packages/core/errors.ts';
import { decodeFetchRequest } from '../../packages/health/records.ts';
import { wrapRecordKey } from '../../packages/records/key-wrap.ts';
import { VaultErrorCode } from '../vault/errors.ts';
import type { Vault } from '../vault/vault.ts';
import type { AccessAuditor } from './access-auditor.ts';
import type { RecordsChain } from './chain-view.ts';
import { RecordsCode } from './refusals.ts';

export interface ReleaseDeps {
  readonly chainId: string;
  /** This node's peer id: its member is the custodian it releases for. */
  readonly peerId: string;
  readonly chain: RecordsChain;
  readonly vault: Vault;
  /** Signs, submits and waits for the access event (AccessAuditor). */
  readonly audit: Pick<AccessAuditor, 'record'>;
  readonly nowMs?: () => number;
}

type Refusal = Extract<RecordAnswer, { ok: false }>;

function refuse(code: string, message: string): Refusal {
  return { ok: false, code, message };
}

export class ReleaseService {
  readonly #d: ReleaseDeps;

  constructor(deps: ReleaseDeps) {
    this.#d = deps;
  }

  /** Decides and, if allowed, releases: never throws for a refusal. */
  async release(requestBytes: Uint8Array, fromPeer: string): Promise<RecordAnswer> {
    const { chain, vault } = this.#d;
    let signed: ReturnType<typeof decodeFetchRequest>;
    try {
      signed = decodeFetchRequest(requestBytes);
    } catch (err) {
      return refuse('ACCESS_REQUEST_INVALID', (err as Error).message);
    }
    const request = signed.request;
    const own = await chain.memberOfNode(this.#d.peerId);
    if (own === null)
      return refuse('RECORD_NOT_CUSTODIAN', 'this node belongs to no active member, so it holds no record');
    const peerRefusal = await this.#checkPeer(request.requester, fromPeer);
    if (peerRefusal !== null) return peerRefusal;
    const now = BigInt((this.#d.nowMs ?? Date.now)());
    const decision = await chain.decideRelease(signed, own.id, now);
    if (!decision.release) return refuse(decision.code, decision.message);
    const hash = decision.record.ciphertextHash;
    const status = await vault.status(hash);
    if (status === 'erased') return refuse('RECORD_ERASED', `record ${decision.record.id} was erased here`);
    if (status === 'unknown')
      return refuse(
        RecordsCode.blobMissing,
        `this node does not hold the ciphertext of record ${decision.record.id}`,
      );
    // Anchored on chain with this member as custodian: a confirm that was missed is made now.
    if (status === 'pending') await vault.confirm(hash);
    const audited = await this.#d.audit.record(decision.tx);
    if (!audited.ok) return refuse(audited.code, audited.message);
    let stored: Awaited<ReturnType<Vault['read']>>;
    try {
      stored = await vault.read(hash);
    } catch (err) {
      // Erased between the commit and the read: the audit stays, nothing is released.
      if (hasCode(err, VaultErrorCode.erased))
        return refuse('RECORD_ERASED', `record ${decision.record.id} was erased here`);
      if (hasCode(err, VaultErrorCode.blobUnknown))
        return refuse(RecordsCode.blobMissing, `this node no longer holds record ${decision.record.id}`);
      throw err;
    }
    let wrappedKey: Uint8Array;
    try {
      wrappedKey = await wrapRecordKey(
        decision.recipientKey,
        { dataKey: stored.dataKey, salt: stored.salt },
        { chainId: this.#d.chainId, recordId: decision.record.id, releaseId: decision.releaseId },
      );
    } catch (err) {
      stored.stream.destroy();
      throw err;
    } finally {
      stored.dataKey.fill(0);
    }
    return {
      ok: true,
      releaseId: decision.releaseId,
      accessHeight: audited.height,
      wrappedKey,
      size: stored.size,
      body: stored.stream,
      discard: () => stored.stream.destroy(),
    };
  }

  /** Step 2: the node that brings a request must speak for its requester. */
  async #checkPeer(
    requester: { kind: 'member' | 'patient'; id: string },
    peer: string,
  ): Promise<Refusal | null> {
    if (requester.kind === 'member') {
      const member = await this.#d.chain.member(requester.id);
      if (member?.nodes.includes(peer) === true) return null;
      return refuse(RecordsCode.peerInvalid, `node ${peer} is not a node of member ${requester.id}`);
    }
    if ((await this.#d.chain.activeMemberNodes()).includes(peer)) return null;
    return refuse(RecordsCode.peerInvalid, `node ${peer} is not an active member's node`);
  }
}
