/**
 * A stand-in node for the records SDK tests: an in-process HTTP server that implements the
 * RECORDS-CONTRACT local API routes over a real vault (node/vault, in a temp home) and the real
 * packages/records primitives, deciding releases with the real HealthApp (through AppTransport)
 * and committing the access event before it releases anything, as the custodian's node does.
 * It serves one custodian's vault (the "requester's node is the custodian" case of the contract).
 *
 * `faults` make it misbehave the ways the SDK must catch: a flipped ciphertext byte, extra or
 * missing bytes, another salt or key in the wrapped key material, a wrong access height, a
 * release never audited, a busy custodian. Not a test file itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Vault } from '../../../../node/vault/vault.ts';
import {
  type BroadcastOutcome,
  HealthClient,
  type HealthTransport,
} from '../../../../packages/client/health.ts';
import { CareLedgerError } from '../../../../packages/core/errors.ts';
import type { KeyPair } from '../../../../packages/crypto/ed25519.ts';
import { equalBytes, fromHex, sha256, toHex } from '../../../../packages/crypto/hash.ts';
import { decodeFetchRequest } from '../../../../packages/health/records.ts';
import { decodeKeyMaterial } from '../../../../packages/records/key-material.ts';
import { wrapRecordKey } from '../../../../packages/records/key-wrap.ts';
import {
  LOCAL_AUTH_HEADER,
  LocalAuthReplayCache,
  verifyLocalAuth,
} from '../../../../packages/records/local-auth.ts';
import { CHAIN_ID } from '../../state/health/fixtures.ts';
import type { AppTransport } from './health-transport.ts';

export interface Faults {
  /** Flip one byte of the ciphertext at this offset as it is sent. */
  flipByte?: number;
  /** Append this many bytes to the ciphertext (content-length says so). */
  extraBytes?: number;
  /** Declare the whole length but send this many bytes fewer, then cut the connection. */
  truncateBy?: number;
  /** Wrap the vault's data key with this salt instead of the record's. */
  salt?: Uint8Array;
  /** Wrap to this key instead of the requester's. */
  wrapTo?: Uint8Array;
  /** Report the access height this far from the true one. */
  accessHeightDelta?: bigint;
  /** Release without committing an access event (a node that skips the audit). */
  skipAudit?: boolean;
  /** Refuse this many fetches with 503 CUSTODIAN_UNAVAILABLE first. */
  unavailable?: number;
  /** Shred only after this many status polls have seen the erase (0: at once). */
  shredAfterPolls?: number;
}

const STATUS_OF: Readonly<Record<string, number>> = {
  RECORD_UNKNOWN: 404,
  RECORD_ERASED: 410,
  ACCESS_REQUEST_INVALID: 400,
  ACCESS_REQUEST_STALE: 400,
  CUSTODIAN_UNAVAILABLE: 503,
  RELEASE_TIMEOUT: 504,
};

export class StandInNode {
  readonly url: string;
  readonly vault: Vault;
  readonly home: string;
  faults: Faults = {};
  /** Fetches answered (refused or not). */
  fetches = 0;
  /** The ciphertext hashes a committed record.erase named, waiting to be shredded. */
  readonly #toShred = new Map<string, number>();
  readonly #server: Server;
  readonly #app: AppTransport;
  readonly #custodian: string;
  readonly #custodianClient: HealthClient;
  readonly #custodianKey: KeyPair;
  readonly #replays = new LocalAuthReplayCache({ capacity: 1000 });

  private constructor(
    server: Server,
    vault: Vault,
    home: string,
    app: AppTransport,
    custodian: string,
    key: KeyPair,
  ) {
    this.#server = server;
    this.vault = vault;
    this.home = home;
    this.#app = app;
    this.#custodian = custodian;
    this.#custodianKey = key;
    let tick = 1n;
    this.#custodianClient = new HealthClient({
      chainId: CHAIN_ID,
      transport: app,
      key,
      clockMicros: () => BigInt(Date.now()) * 1000n + tick++,
    });
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** A node of `custodian` (whose member key is `key`) over the chain of `app`. */
  static async start(app: AppTransport, custodian: string, key: KeyPair): Promise<StandInNode> {
    const home = mkdtempSync(join(tmpdir(), 'careledger-standin-'));
    const vault = await Vault.open(home);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const node = new StandInNode(server, vault, home, app, custodian, key);
    server.on('request', (req, res) => {
      node.#route(req, res).catch((err: unknown) => {
        if (!res.headersSent) refuse(res, 500, 'STANDIN_FAILED', (err as Error).message);
        else res.destroy();
      });
    });
    return node;
  }

  /**
   * The transport clients should use: the chain, plus what the node's wiring does on commit —
   * confirm an anchor of a stored upload, and note an erased record of this custodian to shred.
   */
  get transport(): HealthTransport {
    return {
      query: (path, data, opts) => this.#app.query(path, data, opts),
      broadcast: async (tx) => {
        const outcome = await this.#app.broadcast(tx);
        await this.#afterCommit(outcome);
        return outcome;
      },
    };
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.home, { recursive: true, force: true });
  }

  async #afterCommit(outcome: BroadcastOutcome): Promise<void> {
    if (outcome.code !== 0) return;
    for (const e of outcome.events) {
      const attr = (k: string) => e.attributes.find((a) => a.key === k)?.value;
      if (attr('custodian') !== this.#custodian) continue;
      if (e.type === 'health.record.anchored') {
        const anchor = (await this.#custodianClient.record(attr('record')!)).value!;
        if ((await this.vault.status(anchor.ciphertextHash)) === 'pending')
          await this.vault.confirm(anchor.ciphertextHash);
      }
      if (e.type !== 'health.record.erased') continue;
      const anchor = (await this.#custodianClient.record(attr('record')!)).value!;
      this.#toShred.set(toHex(anchor.ciphertextHash), this.faults.shredAfterPolls ?? 0);
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '';
    const blob = /^\/records\/blobs\/([0-9a-f]{64})(\/status)?$/.exec(path);
    if (req.method === 'PUT' && blob !== null && blob[2] === undefined) return this.#put(req, res, blob[1]!);
    if (req.method === 'GET' && blob?.[2] !== undefined) return this.#status(req, res, blob[1]!);
    if (req.method === 'POST' && path === '/records/fetch') return this.#fetch(req, res);
    refuse(res, 404, 'NOT_FOUND', `no route ${req.method} ${path}`);
  }

  /** Checks x-careledger-auth; only this custodian's member key may use the vault routes. */
  #authorize(req: IncomingMessage, res: ServerResponse, path: string, bodyHash: Uint8Array): boolean {
    try {
      const header = req.headers[LOCAL_AUTH_HEADER];
      const now = Date.now();
      const auth = verifyLocalAuth(typeof header === 'string' ? header : undefined, {
        chainId: CHAIN_ID,
        method: req.method!,
        path,
        bodyHash,
        now,
      });
      this.#replays.check(auth, now);
      if (!equalBytes(auth.signerPubKey, this.#custodianKey.publicKey)) {
        refuse(res, 403, 'LOCAL_AUTH_FORBIDDEN', "not this node's member key");
        return false;
      }
      return true;
    } catch (err) {
      refuse(res, 401, (err as CareLedgerError).code, (err as Error).message);
      return false;
    }
  }

  async #put(req: IncomingMessage, res: ServerResponse, hex: string): Promise<void> {
    if (!this.#authorize(req, res, req.url!, fromHex(hex))) {
      req.resume();
      return;
    }
    const material = decodeKeyMaterial(
      Buffer.from(String(req.headers['x-careledger-key-material']), 'base64'),
    );
    const stored = await this.vault.upload(req, material);
    if (toHex(stored.sha256) !== hex) return refuse(res, 400, 'VAULT_HASH_MISMATCH', 'not the bytes named');
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ sha256: hex, size: stored.size, pending: true }));
  }

  async #status(req: IncomingMessage, res: ServerResponse, hex: string): Promise<void> {
    if (!this.#authorize(req, res, req.url!, sha256(new Uint8Array(0)))) return;
    const polls = this.#toShred.get(hex);
    if (polls !== undefined) {
      if (polls <= 0) {
        await this.vault.erase(fromHex(hex));
        this.#toShred.delete(hex);
      } else this.#toShred.set(hex, polls - 1);
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: await this.vault.status(fromHex(hex)) }));
  }

  async #fetch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.fetches++;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if ((this.faults.unavailable ?? 0) > 0) {
      this.faults.unavailable!--;
      return refuse(res, 503, 'CUSTODIAN_UNAVAILABLE', 'the custodian did not answer');
    }
    let signed: ReturnType<typeof decodeFetchRequest>;
    try {
      signed = decodeFetchRequest(new Uint8Array(Buffer.concat(chunks)));
    } catch (err) {
      return refuse(res, 400, (err as CareLedgerError).code, (err as Error).message);
    }
    const d = await this.#app.h.app.decideRelease(signed, this.#custodian, BigInt(Date.now()));
    if (!d.release) return refuse(res, STATUS_OF[d.code] ?? 403, d.code, d.message);
    let accessHeight = this.#app.h.height;
    if (this.faults.skipAudit !== true) accessHeight = (await this.#custodianClient.send(d.tx)).height;
    const stored = await this.vault.read(d.record.ciphertextHash);
    const material = { dataKey: stored.dataKey, salt: this.faults.salt ?? stored.salt };
    const wrapped = await wrapRecordKey(this.faults.wrapTo ?? d.recipientKey, material, {
      chainId: CHAIN_ID,
      recordId: d.record.id,
      releaseId: d.releaseId,
    });
    const extra = this.faults.extraBytes ?? 0;
    const cut = this.faults.truncateBy ?? 0;
    res.writeHead(200, {
      'x-careledger-release': toHex(d.releaseId),
      'x-careledger-access-height': String(accessHeight + (this.faults.accessHeightDelta ?? 0n)),
      'x-careledger-wrapped-key': Buffer.from(wrapped).toString('base64'),
      'content-length': String(stored.size + extra),
    });
    const flip = this.faults.flipByte;
    let offset = 0;
    const body = Readable.from(
      (async function* () {
        let left = stored.size - cut;
        for await (const raw of stored.stream) {
          const chunk = Buffer.from(raw as Buffer).subarray(0, Math.max(0, left));
          left -= chunk.length;
          if (flip !== undefined && flip >= offset && flip < offset + chunk.length)
            chunk[flip - offset]! ^= 0x01;
          offset += chunk.length;
          yield chunk;
        }
        if (extra > 0) yield Buffer.alloc(extra, 7);
      })(),
    );
    if (cut > 0) body.on('end', () => res.destroy());
    body.pipe(res, { end: cut === 0 });
  }
}

function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ code, message }));
}

export function isCode(err: unknown, code: string): boolean {
  return err instanceof CareLedgerError && err.code === code;
}
