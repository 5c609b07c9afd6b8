/**
 * The seed's journey on a real consortium: four validator processes (hospital, clinic, lab,
 * insurer) running the health-data application over libp2p and LevelDB, driven only through the
 * client SDK over JSON-RPC. Each institution signs with the member key `testnet` gave it; every
 * answer is proven against an app hash the light client verified from signed headers, starting
 * from nothing but genesis.json.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadHome } from '../../node/home.ts';
import { peerIdFromNodeKey } from '../../p2p/identity.ts';
import { HealthClient, rpcTransport, sealRecord } from '../../packages/client/health.ts';
import { loadKeyFile } from '../../packages/client/keys.ts';
import { LightClient } from '../../packages/client/light-client.ts';
import { RpcClient } from '../../packages/client/rpc.ts';
import { type KeyPair, keyPairFromSeed } from '../../packages/crypto/ed25519.ts';
import { equalBytes, sha256, toHex } from '../../packages/crypto/hash.ts';
import { patientIdOf, recordIdOf } from '../../packages/health/ids.ts';
import { provision } from '../../packages/health/provision.ts';
import { parseGenesisJson } from '../../packages/types/genesis.ts';
import { assertValidFhir } from '../unit/node/fhir/fixtures.ts';
import { Consortium } from './harness.ts';

const NAMES = ['hospital', 'clinic', 'lab', 'insurer'];
const DAY_MS = 86_400_000n;
const READER_NODE = 3;
const net = Consortium.create({ validators: 4, basePort: 19656, app: 'health', names: NAMES });
const genesis = parseGenesisJson(readFileSync(join(net.homes[0]!, 'config', 'genesis.json'), 'utf8'));

/** The institution's key from its home, as `testnet` wrote it. */
function memberKey(node: number): KeyPair {
  return loadKeyFile(join(net.homes[node]!, 'config', 'member_key.json'));
}

/** A client of node `node`'s RPC with its own light client (so no two share verified state). */
function clientAt(node: number, key?: KeyPair): HealthClient {
  const rpc = new RpcClient(net.rpcs[node]!);
  const transport = rpcTransport(rpc, new LightClient(genesis, rpc));
  return new HealthClient({ chainId: genesis.chainId, transport, ...(key === undefined ? {} : { key }) });
}

/**
 * A write's receipt once the reader's node has committed its height too: `broadcast_tx_commit`
 * answers when the sender's node commits, and another node may be a moment behind.
 */
async function committed<T extends { height: bigint }>(write: Promise<T>): Promise<T> {
  const receipt = await write;
  await net.waitForHeight(READER_NODE, receipt.height, 30_000);
  return receipt;
}

async function refusedWith(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e as { code?: string; message?: string },
  );
  assert.ok(err !== null, `expected ${code}, the tx was accepted`);
  assert.is(err.code, code, err.message);
}

test.after(async () => {
  await net.destroy();
});

// Each scenario starts from the four genesis nodes running and caught up, whatever the previous
// one left (a joining institution's nodes are the scenario's own).
test.before.each(async () => {
  await net.ensureLive([0, 1, 2, 3]);
});

test('the seed journey through the SDK on 4 processes; every answer proven', async () => {
  net.startAll();
  await net.waitForHeight(0, 2n, 60_000);

  // Each institution talks to its own node; the patient's app talks to the clinic's.
  const hospital = clientAt(0, memberKey(0));
  const clinic = clientAt(1, memberKey(1));
  const lab = clientAt(2, memberKey(2));
  const insurer = clientAt(3, memberKey(3));
  const aliceKey = keyPairFromSeed(sha256(Buffer.from('journey/alice')));
  const alice = patientIdOf(aliceKey.publicKey);
  const patient = clientAt(1, aliceKey);
  const reader = clientAt(READER_NODE);

  // 1. A digital identity: a key pair; on chain only the id derived from it.
  assert.is((await committed(hospital.registerPatient(aliceKey))).id, alice);
  const identity = (await reader.patient(alice)).value;
  assert.ok(identity !== null && equalBytes(identity.pubKey, aliceKey.publicKey));
  assert.is(identity.enrolledBy, 'hospital');

  // 2. The lab anchors an encrypted result: its hash, not its content, goes on chain.
  const ciphertext = Buffer.from('…AES-GCM bytes of a lipid panel, held by the lab…');
  const seal = sealRecord(
    ciphertext,
    Buffer.from('{"resourceType":"Observation"}'),
    sha256(Buffer.from('salt')),
  );
  const anchor = await committed(
    lab.anchorRecord({ patient: alice, category: 'Observation.laboratory', ...seal }),
  );
  assert.is(anchor.id, recordIdOf('lab', alice, sha256(ciphertext)));
  const record = (await reader.record(anchor.id)).value;
  assert.ok(record !== null && equalBytes(record.ciphertextHash, sha256(ciphertext)), 'bytes verify');
  assert.is(record.custodian, 'lab');

  // 3. The patient grants the hospital read access for treatment.
  const grant = await committed(
    patient.grantConsent(
      alice,
      'hospital',
      provision({ type: 'permit', actions: ['read'], purposes: ['TREAT'], categories: ['Observation'] }),
    ),
  );
  assert.equal((await reader.consents(alice)).value, [grant.id]);
  const decision = await reader.decision({
    patient: alice,
    grantee: 'hospital',
    record: anchor.id,
    purpose: 'TREAT',
    action: 'read',
    time: null,
  });
  assert.is(decision.value.permit, true);
  assert.is(decision.value.consentId, grant.id);

  // 4. The lab discloses the record to the hospital: accepted, and in the patient's disclosures.
  const access = await committed(
    lab.recordAccess({
      patient: alice,
      recipient: 'hospital',
      purpose: 'TREAT',
      action: 'read',
      records: [anchor.id],
    }),
  );
  const trail = (await reader.disclosures(alice)).value;
  assert.equal(
    trail.map((e) => [e.id, e.recipient, e.purpose, e.items]),
    [[access.id, 'hospital', 'TREAT', [{ record: anchor.id, consent: grant.id }]]],
  );

  // 5. A disclosure no consent permits is rejected by consensus, and nothing is recorded.
  await refusedWith(
    lab.recordAccess({
      patient: alice,
      recipient: 'clinic',
      purpose: 'TREAT',
      action: 'read',
      records: [anchor.id],
    }),
    'ACCESS_NO_CONSENT',
  );
  assert.is((await reader.disclosures(alice)).value.length, 1);

  // A new hospital (the clinic) requests access; the patient approves; the lab discloses to it,
  // and the clinic checks the bytes it received against the anchor.
  const request = await committed(
    clinic.createRequest(alice, {
      categories: ['Observation'],
      records: [],
      purposes: ['TREAT'],
      actions: ['read'],
      reason: 'SECOND_OPINION',
      periodEnd: null,
      expiresAt: BigInt(Date.now()) + DAY_MS,
    }),
  );
  assert.equal((await reader.pendingRequests(alice)).value, [request.id]);
  const approval = await committed(patient.approveRequest(request.id));
  assert.is((await reader.request(request.id)).value?.consent, approval.id);
  await committed(
    lab.recordAccess({
      patient: alice,
      recipient: 'clinic',
      purpose: 'TREAT',
      action: 'read',
      records: [anchor.id],
    }),
  );
  const received = (await clinic.record(anchor.id)).value;
  assert.ok(received !== null && equalBytes(received.ciphertextHash, sha256(ciphertext)), 'clinic verifies');
  assert.is((await reader.disclosures(alice)).value.length, 2);

  // 6. The insurer, with the patient's consent for payment, adjudicates the hospital's claim.
  await committed(
    patient.grantConsent(
      alice,
      'insurer',
      provision({ type: 'permit', actions: ['read'], purposes: ['HPAYMT'], categories: ['Observation'] }),
    ),
  );
  const today = (BigInt(Date.now()) / DAY_MS) * DAY_MS;
  const line = { code: '80061', date: today, amount: 4_200n, records: [anchor.id] };
  const claim = await committed(hospital.submitClaim(alice, 'insurer', [line]));
  await committed(insurer.adjudicateClaim(claim.id, 'approved'));
  const adjudicated = (await reader.claim(claim.id)).value;
  assert.equal(
    adjudicated?.history.map((h) => h.status),
    ['submitted', 'approved'],
  );

  // 7. The same service for the same patient and day again: a duplicate, rejected, from the same
  // provider or from another institution billing the same payer.
  await refusedWith(hospital.submitClaim(alice, 'insurer', [line]), 'CLAIM_DUPLICATE');
  await refusedWith(clinic.submitClaim(alice, 'insurer', [line]), 'CLAIM_DUPLICATE');
  assert.equal((await reader.claims(alice)).value, [claim.id]);

  // The audit trail is searchable by patient on every node, and all four agree on the chain.
  const rpc = new RpcClient(net.rpcs[2]!);
  const found = (await rpc.call('tx_search', { query: `health.access.recorded.patient='${alice}'` })) as {
    total_count: string;
  };
  assert.is(found.total_count, '2');
  const height = (await rpc.status()).latestBlockHeight;
  const ids = await Promise.all(
    NAMES.map((_, i) => net.waitForHeight(i, height, 30_000).then(() => net.blockId(i, height))),
  );
  for (const id of ids) assert.equal(id, ids[0]);
  // A person at a terminal sees the same audit trail through the CLI, proven the same way.
  const cli = spawnSync(
    process.execPath,
    [
      join(import.meta.dirname, '..', '..', 'node', 'cli.ts'),
      'disclosures',
      'list',
      '--patient',
      alice,
      '--genesis',
      join(net.homes[0]!, 'config', 'genesis.json'),
      '--node',
      net.rpcs[1]!,
      '--json',
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.is(cli.status, 0, cli.stderr);
  const listed = JSON.parse(cli.stdout) as { disclosures: { id: string; recipient: string }[] };
  assert.equal(
    listed.disclosures.map((d) => d.recipient),
    ['hospital', 'clinic'],
  );
  assert.is(listed.disclosures[0]!.id, access.id);
  // And the light client's verified header is the block the nodes committed.
  const header = await new LightClient(genesis, rpc).verifiedHeader(height);
  assert.is(toHex(header.appHash).toUpperCase(), ids[0]!.appHash);

  // The same journey through the FHIR facade of another node, as an EHR reads it: the patient's
  // accounting of disclosures as AuditEvents, valid R4 (HL7's schema), each with its height.
  const fhir = async (path: string) => {
    const res = await fetch(`${net.rpcs[2]}/fhir/${path}`, { signal: AbortSignal.timeout(10_000) });
    assert.match(res.headers.get('content-type') ?? '', /application\/fhir\+json/);
    const body = (await res.json()) as Record<string, unknown>;
    assertValidFhir(body, path);
    return { status: res.status, body };
  };
  assert.is((await fhir('metadata')).body.resourceType, 'CapabilityStatement');
  const patientResource = await fhir(`Patient/${alice}`);
  assert.is(patientResource.status, 200);
  assert.is(patientResource.body.id, alice);
  const audit = await fhir(`AuditEvent?patient=${alice}`);
  assert.is(audit.body.resourceType, 'Bundle');
  assert.is(audit.body.total, 2, 'both disclosures');
  const unknown = await fhir('AuditEvent?patient=x&colour=blue');
  assert.is(unknown.status, 400, 'an unknown search parameter is refused');
  assert.is(unknown.body.resourceType, 'OperationOutcome');
});

test("governance raises a validator's power; consensus applies it at H+2 and the light client follows", async () => {
  const [hospital, clinic, lab] = [0, 1, 2].map((i) => clientAt(i, memberKey(i)));
  const insurerValidator = genesis.validators[3]!.pubKey;
  const rpc = new RpcClient(net.rpcs[0]!);
  const now = (await rpc.status()).latestBlockHeight;
  const proposal = await hospital!.propose(
    { kind: 'validator.set', pubKey: insurerValidator, power: 25n },
    now + 500n,
  );
  await clinic!.vote(proposal.id, true);
  // The third yes of four members is more than 2/3: the action is carried out in that block.
  const passed = await lab!.vote(proposal.id, true);
  const powerAt = async (h: bigint): Promise<bigint | undefined> =>
    (await rpc.validators(h)).validators.find((v) => equalBytes(v.pubKey, insurerValidator))?.votingPower;
  await net.waitForHeight(0, passed.height + 3n, 30_000);
  assert.is(await powerAt(passed.height + 1n), 10n, 'the set of H+1 was fixed before the change');
  assert.is(await powerAt(passed.height + 2n), 25n, 'the change takes effect at H+2');
  // Blocks after the change are signed by the new set, and a light client from genesis accepts them.
  const header = await new LightClient(genesis, rpc).verifiedHeader(passed.height + 3n);
  assert.is(header.height, passed.height + 3n);
});

test('a new institution joins: its node is refused until governance admits it, then it syncs', async () => {
  const [hospital, clinic, lab, insurer] = [0, 1, 2, 3].map((i) => clientAt(i, memberKey(i)));
  const pharmacy = net.addNode('pharmacy', 19696);
  const pharmacyNode = peerIdFromNodeKey(loadHome(net.homes[pharmacy]!).nodeKeySeed);
  net.start(pharmacy);
  // Barrier: the new node answers, and the consortium commits three more heights meanwhile.
  await net.waitForHeight(pharmacy, 0n, 30_000);
  const before = await net.height(0);
  await net.waitForHeight(0, before + 3n, 30_000);
  assert.is(await net.height(pharmacy), 0n, 'a node that is not a member gets no blocks');
  // node_info.id is CometBFT's hex node id; the libp2p peer id is in node_info.other.peer_id.
  const peersOf0 = await net.rpc<{ peers: { node_info: { other: { peer_id: string } } }[] }>(0, '/net_info');
  assert.not.ok(
    peersOf0.peers.some((p) => p.node_info.other.peer_id === pharmacyNode),
    'and no connection',
  );

  // The members admit the institution, then its node: each proposal needs more than 2/3 of the
  // active members (3 of 4, then 4 of 5 once the pharmacy is a member itself).
  const pass = async (
    action: Parameters<HealthClient['propose']>[0],
    voters: HealthClient[],
  ): Promise<void> => {
    const deadline = (await new RpcClient(net.rpcs[0]!).status()).latestBlockHeight + 500n;
    const proposal = await hospital!.propose(action, deadline);
    let last = proposal.height;
    for (const voter of voters) last = (await voter.vote(proposal.id, true)).height;
    await net.waitForHeight(0, last, 30_000);
    assert.is((await hospital!.proposal(proposal.id)).value?.status, 'passed');
  };
  const key = memberKey(pharmacy);
  await pass({ kind: 'member.add', member: 'pharmacy', pubKey: key.publicKey, roles: ['provider'] }, [
    clinic!,
    lab!,
  ]);
  await pass({ kind: 'member.nodes', member: 'pharmacy', nodes: [pharmacyNode] }, [clinic!, lab!, insurer!]);

  // Now the gaters admit it: it syncs the chain and serves its own institution's writes.
  const height = await net.height(0);
  await net.waitForHeight(pharmacy, height, 60_000);
  assert.equal(await net.blockId(pharmacy, height), await net.blockId(0, height));
  const bob = keyPairFromSeed(sha256(Buffer.from('journey/bob')));
  const registered = await clientAt(pharmacy, key).registerPatient(bob);
  assert.is(registered.id, patientIdOf(bob.publicKey));

  // A second pharmacy node whose only peer is the first one. The genesis state it starts from
  // lists no pharmacy node, so it admits its configured peer while catching up. It syncs the
  // whole chain through that peer, then keeps only on-chain members, which by then include it.
  const pharmacyAddr = `${loadHome(net.homes[pharmacy]!).config.p2p.listen}/p2p/${pharmacyNode}`;
  const second = net.addNode('pharmacy-2', 19706, [pharmacyAddr]);
  const secondNode = peerIdFromNodeKey(loadHome(net.homes[second]!).nodeKeySeed);
  await pass({ kind: 'member.nodes', member: 'pharmacy', nodes: [pharmacyNode, secondNode].sort() }, [
    clinic!,
    lab!,
    insurer!,
  ]);
  net.start(second);
  const tip = await net.height(0);
  await net.waitForHeight(second, tip + 2n, 60_000);
  assert.equal(await net.blockId(second, tip), await net.blockId(0, tip));
  // Synced, it decides the next heights with the network, and only then narrows its gater.
  // A bounded wait, generous: on a loaded machine a node that is not a validator may need a
  // few tries to decide a block with the network rather than block-sync it.
  await net.waitForLog(second, 'caught up: admitting the nodes of on-chain members only', 90_000);
  await net.waitForHeight(second, (await net.height(second)) + 1n, 30_000);
  const peersOfSecond = await net.rpc<{ peers: { node_info: { other: { peer_id: string } } }[] }>(
    second,
    '/net_info',
  );
  assert.equal(
    peersOfSecond.peers.map((p) => p.node_info.other.peer_id),
    [pharmacyNode],
    'connected to its one peer',
  );
});

test.run();
