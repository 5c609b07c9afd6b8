/**
 * Txs travel between nodes in batches: one gossip message carries every tx a node accepted from
 * its clients in the last few milliseconds. Per-message costs in libp2p (encryption, framing,
 * gossipsub bookkeeping) dominate for small txs, and one message per tx stalled consensus under
 * load. The wire form is the canonical encoding of [1, [tx bytes…]] (relay as usual) or
 * [2, [tx bytes…], relay] (relay: a boolean), bounded in count.
 *
 * Relay. Gossipsub relays a message its validator accepts to the receiver's mesh peers; the origin
 * already flood-publishes to every peer subscribed to the topic. In a full mesh (every member
 * connected to every other, the usual consortium) that relay sends each batch over every link a
 * second and third time, for nothing: each receiver already got it from the origin. So the origin
 * says, in the batch, whether its own publish reached every member (`relay: false`) and a receiver
 * then adds the txs to its mempool but answers 'ignore' (no relay; gossipsub does not score
 * 'ignore' down, and the tx topic's mesh-delivery scoring is off: p2p/host.ts scoreParams). Only
 * the origin can decide this: a receiver connected to every member cannot tell whether the origin
 * is (in a triangle A-B, B-C with A-C down, B must relay A's batches to C). When the mesh is not
 * full the origin sends relay: true, in version 1, and receivers relay as before. If a member is
 * missed anyway (it joined or was graylisted between the check and the publish), its mempool lacks
 * those txs, nothing else: when a proposal names them, it fetches them from the peer that sent the
 * proposal (node/proposal-txs.ts).
 * Version 1 is what nodes before version 2 sent and accept; a node that knows only version 1
 * rejects version 2 batches, so every member must run a version-2-aware node before it is sent.
 */
import { type Canonical, decode, defaultDecodeLimits, encode } from '../packages/codec/canonical.ts';
import * as s from '../packages/codec/schema.ts';
import { invalid } from '../packages/core/errors.ts';
import { MAX_TX_BYTES } from '../packages/types/tx.ts';

/** Relay as usual (gossipsub's default), and what nodes before version 2 send. */
export const TX_BATCH_VERSION = 1;
/** Carries the origin's relay flag. */
export const TX_BATCH_VERSION_RELAY_FLAG = 2;
export const MAX_TXS_PER_BATCH = 4096;

export interface TxBatch {
  readonly txs: Uint8Array[];
  /** False when the origin's own publish reached every member: receivers need not relay it. */
  readonly relay: boolean;
}

/** Version 1 when the batch must be relayed (every node understands it), else version 2. */
export function encodeTxBatch(txs: readonly Uint8Array[], relay = true): Uint8Array {
  return relay ? encode([TX_BATCH_VERSION, txs]) : encode([TX_BATCH_VERSION_RELAY_FLAG, txs, false]);
}

/**
 * Strict decode; any malformed batch is rejected whole (the sender is scored down). A batch laid
 * out exactly as `encodeTxBatch` writes it is read in place (canonicalTxBatch: its txs are then
 * views into `bytes`, which the caller copies if it keeps them, as the mempool does); anything
 * else goes through the generic decoder, which accepts or refuses it with its own error.
 */
export function decodeTxBatchMessage(bytes: Uint8Array): TxBatch {
  return canonicalTxBatch(bytes) ?? decodeTxBatchGeneric(bytes);
}

/**
 * A batch read at its places, if `bytes` are exactly the canonical encoding (codec/canonical.ts,
 * msgpackr) of a batch `decodeTxBatchGeneric` accepts; else null. That encoding: 0x92 0x01
 * (version 1) or 0x93 0x02 (version 2); the list as fixarray (0x90 | n) below 16 txs, else array
 * 16 (0xdc, 2-byte count), at most MAX_TXS_PER_BATCH; each tx as bin 8 (0xc4) below 256 bytes,
 * else bin 16 (0xc5, 2-byte length): the shortest forms, as msgpackr writes them (a tx of 64 KiB,
 * bin 32, is left to the generic decoder); for version 2 the relay flag, 0xc2 or 0xc3; nothing
 * after (test/unit/node/tx-gossip.test.ts checks both decoders on seeded random inputs).
 */
export function canonicalTxBatch(bytes: Uint8Array): TxBatch | null {
  const end = bytes.length;
  if (end < 3 || end > defaultDecodeLimits.maxBytes) return null;
  const version = bytes[0] === 0x92 && bytes[1] === TX_BATCH_VERSION ? 1 : 0;
  if (version === 0 && !(bytes[0] === 0x93 && bytes[1] === TX_BATCH_VERSION_RELAY_FLAG)) return null;
  let at = 2;
  let count: number;
  const header = bytes[at]!;
  if (header >= 0x90 && header <= 0x9f) {
    count = header & 0x0f;
    at += 1;
  } else if (header === 0xdc && at + 3 <= end) {
    count = (bytes[at + 1]! << 8) | bytes[at + 2]!;
    if (count < 16 || count > MAX_TXS_PER_BATCH) return null;
    at += 3;
  } else return null;
  const txs: Uint8Array[] = new Array(count);
  for (let i = 0; i < count; i++) {
    let length: number;
    if (bytes[at] === 0xc4 && at + 2 <= end) {
      length = bytes[at + 1]!;
      at += 2;
    } else if (bytes[at] === 0xc5 && at + 3 <= end) {
      length = (bytes[at + 1]! << 8) | bytes[at + 2]!;
      if (length < 0x100) return null;
      at += 3;
    } else return null;
    if (at + length > end) return null;
    txs[i] = new Uint8Array(bytes.buffer, bytes.byteOffset + at, length);
    at += length;
  }
  if (version === 1) return at === end ? { txs, relay: true } : null;
  if (at + 1 !== end || (bytes[at] !== 0xc2 && bytes[at] !== 0xc3)) return null;
  return { txs, relay: bytes[at] === 0xc3 };
}

/** The strict decode through the generic decoder and the schema readers (txs are copies). */
export function decodeTxBatchGeneric(bytes: Uint8Array): TxBatch {
  const value = decode(bytes);
  if (!Array.isArray(value)) s.tuple(value, 2, 'tx batch'); // throws CODEC_SCHEMA
  const version = (value as readonly Canonical[])[0];
  if (version === TX_BATCH_VERSION) {
    const [, list] = s.tuple(value, 2, 'tx batch');
    return { txs: txList(list!), relay: true };
  }
  if (version === TX_BATCH_VERSION_RELAY_FLAG) {
    const [, list, flag] = s.tuple(value, 3, 'tx batch');
    return { txs: txList(list!), relay: s.bool(flag!, 'tx batch relay') };
  }
  throw invalid('TX_BATCH_INVALID', `unknown tx batch version ${String(version)}`);
}

/** The txs of a batch (strict decode, as decodeTxBatchMessage). */
export function decodeTxBatch(bytes: Uint8Array): Uint8Array[] {
  return decodeTxBatchMessage(bytes).txs;
}

function txList(value: Canonical): Uint8Array[] {
  return s
    .list(value, MAX_TXS_PER_BATCH, 'tx batch')
    .map((tx, i) => s.boundedBytes(tx, `tx batch[${i}]`, MAX_TX_BYTES));
}

/**
 * True if a publish now reaches every member but us directly: each is a connected subscriber of
 * the tx topic (`topicPeers`, what a flood publish is sent to). Members may include `self`.
 */
export function reachesAllMembers(
  self: string,
  members: readonly string[],
  topicPeers: readonly string[],
): boolean {
  const reached = new Set(topicPeers);
  return members.every((m) => m === self || reached.has(m));
}

/** Collects txs until flushed by a timer or by size, whichever comes first. */
export class TxBatcher {
  private txs: Uint8Array[] = [];
  private bytes = 0;
  private readonly maxBytes: number;
  private readonly send: (batch: Uint8Array) => void;
  private readonly relay: () => boolean;

  /** `relay` is asked at each flush whether receivers must relay the batch (see above). */
  constructor(maxBytes: number, send: (batch: Uint8Array) => void, relay: () => boolean = () => true) {
    this.maxBytes = maxBytes;
    this.send = send;
    this.relay = relay;
  }

  add(tx: Uint8Array): void {
    // Leave room for the envelope (a few bytes per tx).
    if (this.bytes + tx.length + 16 > this.maxBytes || this.txs.length >= MAX_TXS_PER_BATCH) this.flush();
    this.txs.push(tx);
    this.bytes += tx.length + 8;
  }

  flush(): void {
    if (this.txs.length === 0) return;
    const batch = encodeTxBatch(this.txs, this.relay());
    this.txs = [];
    this.bytes = 0;
    this.send(batch);
  }
}
