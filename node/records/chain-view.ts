/**
 * What the records service reads from the chain, on the latest committed state: members (their
 * keys and node peer ids), key bindings, record anchors, which member this node belongs to, and
 * the custodian's release decision. A narrow interface, so the release service, the forwarding
 * and the local API are tested over a real HealthApp or a stub alike.
 *
 * Reads go through `HealthApp.query` (the same paths as abci_query), so this file adds no second
 * way into the state.
 */
import { toHex } from '../../packages/crypto/hash.ts';
import {
  decodeBinding,
  decodeIdList,
  decodeMember,
  decodeRecord,
  type KeyBinding,
  type Member,
  type RecordAnchor,
} from '../../packages/health/model.ts';
import type { ReleaseDecision, SignedFetchRequest } from '../../packages/health/records.ts';
import type { HealthApp } from '../../state/health/app.ts';

export interface RecordsChain {
  member(id: string): Promise<Member | null>;
  /** Who holds this ed25519 key on chain (a member or a patient), or null. */
  keyBinding(pubKey: Uint8Array): Promise<KeyBinding | null>;
  record(id: string): Promise<RecordAnchor | null>;
  /** The active member whose `nodes` include `peerId`, or null. */
  memberOfNode(peerId: string): Promise<Member | null>;
  /** The peer ids of every active member's nodes. */
  activeMemberNodes(): Promise<readonly string[]>;
  decideRelease(signed: SignedFetchRequest, custodian: string, now: bigint): Promise<ReleaseDecision>;
}

/** The chain view over a node's HealthApp. */
export function healthChainView(app: HealthApp): RecordsChain {
  const read = async (path: string, data: Uint8Array): Promise<Uint8Array | null> => {
    const res = await app.query(path, data, null, false);
    return res.code === 0 ? res.value : null;
  };
  const text = (s: string) => new TextEncoder().encode(s);
  const member = async (id: string): Promise<Member | null> => {
    const bytes = await read('/health/member', text(id));
    return bytes === null ? null : decodeMember(bytes);
  };
  const members = async (): Promise<Member[]> => {
    const list = await read('/health/members', new Uint8Array(0));
    const out: Member[] = [];
    for (const id of list === null ? [] : decodeIdList(list)) {
      const m = await member(id);
      if (m !== null) out.push(m);
    }
    return out;
  };
  // The member list changes only by governance: cache it per committed height.
  let cache: { height: bigint; members: Promise<Member[]> } | null = null;
  const activeMembers = (): Promise<Member[]> => {
    const height = app.info().lastHeight;
    if (cache === null || cache.height !== height)
      cache = { height, members: members().then((all) => all.filter((m) => m.active)) };
    return cache.members;
  };
  return {
    member,
    async keyBinding(pubKey) {
      const bytes = await read('/health/key', pubKey);
      return bytes === null ? null : decodeBinding(bytes);
    },
    async record(id) {
      const bytes = await read('/health/record', text(id));
      return bytes === null ? null : decodeRecord(bytes);
    },
    async memberOfNode(peerId) {
      return (await activeMembers()).find((m) => m.nodes.includes(peerId)) ?? null;
    },
    async activeMemberNodes() {
      return (await activeMembers()).flatMap((m) => m.nodes);
    },
    decideRelease: (signed, custodian, now) => app.decideRelease(signed, custodian, now),
  };
}

/** Hex of a ciphertext hash, for logs. */
export function shortHash(hash: Uint8Array): string {
  return toHex(hash).slice(0, 16);
}
