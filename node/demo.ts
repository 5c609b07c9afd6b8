/**
 * `npm run demo`: the seed's journey (DESIGN.md "Names of things", shared/seed) walked on the local
 * consortium of `npm start`, each step narrated in plain words with its ids and heights, through
 * the SDK only (packages/client: every chain answer proven by a light client from genesis; records
 * through each institution's own node's local API):
 *
 *   1 a patient identity   2 the lab stores and anchors a result   3 the patient grants the hospital
 *   4 the hospital fetches the result from the lab and verifies it   5 the access in the disclosures
 *   6 the insurer, consented, reads the result and adjudicates a claim   7 a duplicate claim refused
 *   8 the patient revokes; the next fetch is refused   9 the lab erases; the next fetch is refused
 *
 * If the consortium is not running it is started as `npm start` starts it (same homes, under
 * $CARELEDGER_LOCALNET or ./localnet) and stopped at the end; nodes already running are used and
 * left running. Exits 1 as soon as a step does not behave as narrated, saying which and why.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthClient, rpcTransport } from '../packages/client/health.ts';
import { generateKey, loadKeyFile, loadRecordKeyFile, recordKeyPathFor } from '../packages/client/keys.ts';
import { LightClient } from '../packages/client/light-client.ts';
import { eraseRecord, fetchRecord, putRecord } from '../packages/client/records.ts';
import { RpcClient } from '../packages/client/rpc.ts';
import { CareLedgerError } from '../packages/core/errors.ts';
import type { KeyPair } from '../packages/crypto/ed25519.ts';
import { equalBytes, toHex } from '../packages/crypto/hash.ts';
import { DAY_MS, type Purpose } from '../packages/health/codes.ts';
import { provision } from '../packages/health/provision.ts';
import type { Genesis } from '../packages/types/genesis.ts';
import { homePaths, loadHome } from './home.ts';
import { ensureLocalnetHomes, LOCALNET_NAMES, localnetRoot } from './local-consortium.ts';
import { nodeLogTail, spawnNode } from './spawn.ts';

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

/** A step that did not do what the narration says. */
class StepFailed extends Error {}

/** How long the consortium may take to start producing blocks, and a write to reach every node. */
const START_TIMEOUT_MS = 90_000;
const SETTLE_TIMEOUT_MS = 30_000;

interface Institution {
  readonly name: string;
  readonly home: string;
  readonly url: string;
  readonly key: KeyPair;
  readonly client: HealthClient;
  readonly genesis: Genesis;
}

// --- the consortium ---

async function heightOf(url: string): Promise<bigint | null> {
  try {
    return (await new RpcClient(url, { timeoutMs: 1000 }).status()).latestBlockHeight;
  } catch {
    return null;
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the nodes whose RPC does not answer; resolves when all four produce blocks. */
async function startMissing(homes: readonly string[], urls: readonly string[]): Promise<ChildProcess[]> {
  const started: ChildProcess[] = [];
  for (const [i, home] of homes.entries()) {
    if ((await heightOf(urls[i]!)) !== null) continue;
    started.push(spawnNode(home));
  }
  if (started.length > 0)
    say(
      `Starting ${started.length} node(s) of the local consortium (as npm start does); stopped at the end.`,
    );
  else say('Using the local consortium already running.');
  const first = await Promise.all(urls.map(heightOf));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const now = await Promise.all(urls.map(heightOf));
    // Every node answers and has moved past where it was (and past genesis): blocks are being made.
    if (now.every((h, i) => h !== null && h >= 2n && h > (first[i] ?? 0n))) return started;
    const dead = started.find((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead !== undefined || Date.now() > deadline) {
      await stopAll(started);
      const home = homes[urls.findIndex((_, i) => now[i] === null)] ?? homes[0]!;
      throw new StepFailed(
        `the local consortium did not start producing blocks; log of ${home}:\n${nodeLogTail(home, 15)}`,
      );
    }
    await pause(500);
  }
}

async function stopAll(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.once('exit', () => {
            clearTimeout(killer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

/** A client signing with `key` through the node at `url`, with its own light client from genesis. */
function clientAt(url: string, genesis: Genesis, key: KeyPair): HealthClient {
  const rpc = new RpcClient(url);
  return new HealthClient({
    chainId: genesis.chainId,
    transport: rpcTransport(rpc, new LightClient(genesis, rpc)),
    key,
  });
}

function institution(name: string, home: string, genesis: Genesis): Institution {
  const url = `http://${loadHome(home).config.rpc.listen}`;
  const key = loadKeyFile(homePaths(home).memberKey);
  return { name, home, url, key, client: clientAt(url, genesis, key), genesis };
}

// --- the journey ---

class Journey {
  readonly #all: readonly Institution[];
  readonly #work: string;
  #step = 0;

  constructor(all: readonly Institution[], work: string) {
    this.#all = all;
    this.#work = work;
  }

  get(name: string): Institution {
    return this.#all.find((i) => i.name === name)!;
  }

  /** Runs step `title`; any error (or a failed expectation) stops the demo naming the step. */
  async step<T>(title: string, run: () => Promise<T>): Promise<T> {
    this.#step++;
    say();
    say(`${this.#step}. ${title}`);
    try {
      return await run();
    } catch (err) {
      const why = err instanceof CareLedgerError ? `${err.code}: ${err.message}` : (err as Error).message;
      throw new StepFailed(`step ${this.#step} ("${title}") did not behave as narrated: ${why}`);
    }
  }

  /** A write's height, once every node has committed it (the next step may read through any). */
  async settled<T extends { height: bigint }>(write: Promise<T>): Promise<T> {
    const r = await write;
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (
      !(await Promise.all(this.#all.map((i) => heightOf(i.url)))).every((h) => h !== null && h >= r.height)
    ) {
      if (Date.now() > deadline) throw new StepFailed(`not every node reached height ${r.height}`);
      await pause(200);
    }
    return r;
  }

  /** `who` fetches `record` through its own node, verified, into a fresh file. */
  fetch(who: Institution, record: string, purpose: Purpose) {
    return fetchRecord(
      { record, purpose, out: join(this.#work, `${who.name}-${this.#step}.json`) },
      {
        client: who.client,
        nodeUrl: who.url,
        key: who.key,
        recordKey: loadRecordKeyFile(recordKeyPathFor(homePaths(who.home).memberKey)),
      },
    );
  }

  file(name: string, content: string): string {
    const path = join(this.#work, name);
    writeFileSync(path, content);
    return path;
  }
}

/** The refusal code of `attempt`, which must be refused with one of `codes`. */
async function refused(attempt: Promise<unknown>, codes: readonly string[]): Promise<string> {
  const err = await attempt.then(
    () => null,
    (e: unknown) => e,
  );
  if (err === null) throw new StepFailed(`it was allowed; expected a refusal (${codes.join(' or ')})`);
  if (!(err instanceof CareLedgerError) || !codes.includes(err.code)) throw err;
  return err.code;
}

async function journey(j: Journey): Promise<void> {
  const hospital = j.get('hospital');
  const clinic = j.get('clinic');
  const lab = j.get('lab');
  const insurer = j.get('insurer');
  // The patient's app holds her key and talks to the clinic's node: any node will do.
  const aliceKey = generateKey();
  const alice = clientAt(clinic.url, clinic.genesis, aliceKey);

  const patient = await j.step('Alice gets a digital health identity', async () => {
    const r = await j.settled(hospital.client.registerPatient(aliceKey));
    say(`   Her app made a key pair; the hospital enrolled its public key at height ${r.height}.`);
    say(`   On chain she is the pseudonym ${r.id}: no name, no other personal data.`);
    return r.id;
  });

  const content = JSON.stringify({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c' }] },
    subject: { reference: `Patient/${patient}` },
    valueQuantity: { value: 6.1, unit: '%' },
  });
  const stored = await j.step("The lab stores and anchors Alice's HbA1c result", async () => {
    const r = await j.settled(
      putRecord(
        { file: j.file('hba1c.json', content), patient, category: 'Observation.laboratory' },
        { client: lab.client, nodeUrl: lab.url, key: lab.key },
      ),
    );
    say(`   The lab encrypted it under a fresh key and stored it in its own node's vault (${r.size} bytes).`);
    say(`   Record ${r.record} is anchored at height ${r.height}: the chain holds only its hash`);
    say(`   ${toHex(r.sha256)}, its size and a salted commitment; the result itself never goes on chain.`);
    return r;
  });

  const consent = await j.step(
    'Alice grants the hospital access to her lab results, for treatment',
    async () => {
      const rule = provision({
        type: 'permit',
        actions: ['read'],
        purposes: ['TREAT'],
        categories: ['Observation'],
      });
      const r = await j.settled(alice.grantConsent(patient, 'hospital', rule));
      say(
        `   Consent ${r.id} (read, TREAT, Observation) is a transaction of hers, committed at height ${r.height}.`,
      );
      return r.id;
    },
  );

  const first = await j.step('The hospital fetches the result from the lab and verifies it', async () => {
    const got = await j.fetch(hospital, stored.record, 'TREAT');
    if (readFileSync(got.out, 'utf8') !== content)
      throw new StepFailed('the decrypted result differs from the original');
    say(`   The hospital asked its own node, which fetched the encrypted record from the lab's node.`);
    say(`   The lab's node checked Alice's consent on chain and recorded access event ${got.accessEvent}`);
    say(
      `   at height ${got.accessHeight} before releasing a byte; the data key came wrapped for the hospital alone.`,
    );
    say(
      `   Verified before decrypting: sha256 and size equal the anchor (proven at height ${got.anchorProvenAt}),`,
    );
    say(
      `   the access event is on chain; after: the plaintext matches the salted commitment. Decrypted intact.`,
    );
    return got;
  });

  await j.step("The access appears in Alice's disclosures", async () => {
    const trail = (await alice.disclosures(patient)).value;
    const event = trail.find((e) => e.id === first.accessEvent);
    if (event === undefined || event.recipient !== 'hospital' || event.custodian !== 'lab')
      throw new StepFailed(`access event ${first.accessEvent} is not in her disclosures`);
    if (!equalBytes(event.release ?? new Uint8Array(0), first.releaseId))
      throw new StepFailed('the disclosure names another release');
    say(`   Her proven audit trail lists ${trail.length} disclosure(s); the last: the lab released record`);
    say(`   ${stored.record} to the hospital for ${event.purpose} at height ${event.height}.`);
  });

  const line = {
    code: '83036',
    date: (BigInt(Date.now()) / DAY_MS) * DAY_MS,
    amount: 4_200n,
    records: [stored.record],
  };
  await j.step(
    'The insurer, with her permission, reads the verified result and adjudicates a claim',
    async () => {
      const rule = provision({
        type: 'permit',
        actions: ['read'],
        purposes: ['HPAYMT'],
        categories: ['Observation'],
      });
      const grant = await j.settled(alice.grantConsent(patient, 'insurer', rule));
      say(`   Alice consents (${grant.id}) to the insurer reading her lab results for payment.`);
      const read = await j.fetch(insurer, stored.record, 'HPAYMT');
      say(
        `   The insurer fetched and verified the result itself (access event ${read.accessEvent}, height ${read.accessHeight}).`,
      );
      const claim = await j.settled(hospital.client.submitClaim(patient, 'insurer', [line]));
      say(`   The hospital submits claim ${claim.id} for the HbA1c test (height ${claim.height}).`);
      const done = await j.settled(insurer.client.adjudicateClaim(claim.id, 'approved'));
      const status = (await insurer.client.claim(claim.id)).value?.status;
      if (status !== 'approved') throw new StepFailed(`the claim is ${status}, not approved`);
      say(`   The insurer approves it at height ${done.height}.`);
    },
  );

  await j.step('The same claim again is refused as a duplicate', async () => {
    const code = await refused(hospital.client.submitClaim(patient, 'insurer', [line]), ['CLAIM_DUPLICATE']);
    say(`   Same patient, service and day: the chain refuses it (${code}); nothing is paid twice.`);
  });

  await j.step("Alice revokes the hospital's consent; its next fetch is refused", async () => {
    const r = await j.settled(alice.revokeConsent(consent));
    say(`   Revoked at height ${r.height}, effective from the next block.`);
    const code = await refused(j.fetch(hospital, stored.record, 'TREAT'), [
      'ACCESS_CONSENT_REVOKED',
      'ACCESS_NO_CONSENT',
    ]);
    say(`   The lab's node refuses the hospital (${code}): no byte and no key released.`);
  });

  await j.step('The lab erases the record; the next fetch is refused', async () => {
    const r = await eraseRecord(
      { record: stored.record, reason: 'PATIENT_REQUEST' },
      { client: lab.client, nodeUrl: lab.url, key: lab.key },
    );
    await j.settled(Promise.resolve(r));
    say(
      `   Marked erased at height ${r.height}; the lab's node destroyed the data key (vault: ${r.status}).`,
    );
    const code = await refused(j.fetch(insurer, stored.record, 'HPAYMT'), ['RECORD_ERASED']);
    say(`   The insurer, still consented, is refused (${code}). The anchor and the audit trail stay.`);
  });
}

async function main(): Promise<number> {
  const root = localnetRoot();
  const homes = ensureLocalnetHomes(root, say);
  const genesis = loadHome(homes[0]!).genesis;
  const all = LOCALNET_NAMES.map((name, i) => institution(name, homes[i]!, genesis));
  say(
    `CareLedger demo: the seed's journey on the local consortium (chain ${genesis.chainId}, homes in ${root}).`,
  );
  const started = await startMissing(
    homes,
    all.map((i) => i.url),
  );
  const stop = () => {
    void stopAll(started).then(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  const work = mkdtempSync(join(tmpdir(), 'careledger-demo-'));
  try {
    await journey(new Journey(all, work));
    say();
    say('Every step behaved as narrated.');
    return 0;
  } catch (err) {
    say();
    say(`FAILED: ${err instanceof StepFailed ? err.message : (err as Error).stack}`);
    return 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (started.length > 0) say('Stopping the nodes the demo started.');
    await stopAll(started);
    process.off('SIGINT', stop);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
