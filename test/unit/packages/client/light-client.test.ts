/**
 * packages/client/light-client.ts against a real chain served by the real RPC (light-chain.ts):
 * sequential and skipping verification from genesis across validator-set changes (new validators,
 * a power change, the genesis set removed), verified app hashes and query proofs (present and
 * absent keys, waiting for the next header, the wait's timeout), and a node that lies: a forged
 * signature, a commit of too little power, a header that does not hash to its block id, a set
 * that is not the header's, a chain forged by outsiders with a consistent set, a proof or key or
 * height that does not match, and seeded random corruption of every field a verification reads.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blockIdJson, headerJson, validatorJson } from '../../../../node/rpc/format.ts';
import { LightClient, type LightClientOptions } from '../../../../packages/client/light-client.ts';
import { ClientError, RpcClient } from '../../../../packages/client/rpc.ts';
import { seededRandom } from '../../../../packages/core/seeded-random.ts';
import { signMessage } from '../../../../packages/crypto/ed25519.ts';
import { leafHash, toHex } from '../../../../packages/crypto/hash.ts';
import { type Block, blockIdOf, type Header, txHash } from '../../../../packages/types/block.ts';
import { validatorSetHash } from '../../../../packages/types/validator.ts';
import { VoteType, voteSignBytes } from '../../../../packages/types/vote.ts';
import { makeFixture } from '../../consensus/fixtures.ts';
import { addValidator, type Json, keyQuery, startChain } from './light-chain.ts';

const chain = await startChain([10n, 10n, 10n, 10n], 'lc');
const rpc = new RpcClient(chain.url, { timeoutMs: 5000 });
const client = (options: Partial<LightClientOptions> = {}) => new LightClient(chain.genesis, rpc, options);

const pk = (n: number) => new Uint8Array(32).fill(n);
const utf8 = new TextEncoder();

// h1 writes A; h2 adds four validators of power 100 (at h4); h5 removes the genesis validators
// and raises n0 to 150 (at h7), so no genesis validator signs from h7 on.
await chain.commitBlock({ writes: [[keyQuery(pk(1)), utf8.encode('alpha')]] });
await chain.commitBlock({ updates: [0, 1, 2, 3].map((i) => addValidator(`lc-new-${i}`, 100n)) });
await chain.commitBlock({ writes: [[keyQuery(pk(2)), utf8.encode('beta')]] });
await chain.commitBlock();
await chain.commitBlock({
  updates: [...[0, 1, 2, 3].map((i) => addValidator(`lc-${i}`, 0n)), addValidator('lc-new-0', 150n)],
});
for (let i = 0; i < 4; i++) await chain.commitBlock();
await chain.commitBlock({ signers: [0, 1, 2], writes: [[keyQuery(pk(1)), utf8.encode('alpha-2')]] });
await chain.commitBlock();
await chain.commitBlock();
const LATEST = 12n;

test.after.each(() => chain.reset());
test.after(() => chain.close());

/** Headers from the store hold Buffers, decoded ones Uint8Arrays: compare what they hash to. */
function sameHeader(got: Header, want: Header): void {
  assert.is(toHex(blockIdOf(got)), toHex(blockIdOf(want)));
}

async function rejects(work: Promise<unknown>, code: string, reason?: string): Promise<void> {
  try {
    await work;
  } catch (err) {
    const e = err as { code?: string; details?: Record<string, unknown>; message: string };
    assert.is(e.code, code, e.message);
    if (reason !== undefined) assert.is(e.details?.reason, reason, e.message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('the chain under test changes its validator set completely', () => {
  assert.is(chain.chain().lastHeight, LATEST);
  const at = (h: bigint) => chain.blocks.validatorsAt(h)!;
  assert.is(at(3n).validators.length, 4);
  assert.is(at(4n).validators.length, 8);
  assert.is(at(7n).validators.length, 4);
  assert.is(at(7n).totalVotingPower, 450n);
});

test('sequential verification follows every validator-set change from genesis', async () => {
  const lc = client({ skipping: false });
  for (let h = 1n; h <= LATEST; h++)
    sameHeader(await lc.verifiedHeader(h), chain.committed[Number(h) - 1]!.header);
  assert.is(chain.calls.get('commit'), Number(LATEST));
});

test('skipping verification jumps where trusted power vouches and bisects where it does not', async () => {
  const lc = client();
  sameHeader(await lc.verifiedHeader(3n), chain.committed[2]!.header);
  assert.is(chain.calls.get('commit'), 1, 'genesis validators signed height 3: one fetch');
  sameHeader(await lc.verifiedHeader(LATEST), chain.committed[Number(LATEST) - 1]!.header);
  const fetched = chain.calls.get('commit')!;
  assert.ok(fetched < Number(LATEST), `bisection fetched ${fetched} headers`);
  // Cached and lower heights verify too, from the nearest verified height below them.
  sameHeader(await lc.verifiedHeader(LATEST), chain.committed[Number(LATEST) - 1]!.header);
  sameHeader(await lc.verifiedHeader(8n), chain.committed[7]!.header);
  await rejects(lc.verifiedHeader(0n), 'CLIENT_HEIGHT_INVALID');
});

test('a memory bound of one height still verifies, from genesis when it must', async () => {
  const lc = client({ maxCachedHeights: 1 });
  sameHeader(await lc.verifiedHeader(10n), chain.committed[9]!.header);
  sameHeader(await lc.verifiedHeader(2n), chain.committed[1]!.header);
});

test('verifiedAppHash is the next header app hash', async () => {
  const lc = client();
  assert.equal(await lc.verifiedAppHash(3n), chain.committed[3]!.header.appHash);
});

test('verifiedQuery proves a value and an absence against a verified app hash', async () => {
  const lc = client();
  const a = await lc.verifiedQuery('/health/key', pk(1), { height: 3n });
  assert.equal(a.value, utf8.encode('alpha'));
  assert.is(a.height, 3n);
  assert.equal(a.key, keyQuery(pk(1)));
  assert.equal(a.appHash, chain.committed[3]!.header.appHash);
  const later = await lc.verifiedQuery('/health/key', pk(1), { height: 11n });
  assert.equal(later.value, utf8.encode('alpha-2'));
  const none = await lc.verifiedQuery('/health/key', pk(9), { height: 3n });
  assert.is(none.value, null);
  await rejects(lc.verifiedQuery('/health/decision', new Uint8Array(1)), 'CLIENT_QUERY_UNSUPPORTED');
  await rejects(lc.verifiedQuery('/nope', new Uint8Array(1)), 'CLIENT_QUERY_UNSUPPORTED');
});

/** The client's clock a few seconds after the chain's newest block (the test chain's times are fixed). */
const chainNow = () => Number(chain.chain().lastBlockTime) + 3000;

test('verifiedQuery at the latest height waits for the next header', async () => {
  const lc = client({ pollIntervalMs: 1, now: chainNow });
  const height = chain.chain().lastHeight;
  let statusCalls = 0;
  // The node commits the next block only after the client has seen it missing.
  chain.after('status', async () => {
    statusCalls++;
    if (statusCalls === 1) await chain.commitBlock();
  });
  const answer = await lc.verifiedQuery('/health/key', pk(2));
  assert.is(answer.height, height);
  assert.equal(answer.value, utf8.encode('beta'));
  assert.equal(answer.appHash, chain.committed[Number(height)]!.header.appHash);
  assert.ok(statusCalls >= 2);
});

test('verifiedQuery for the newest provable state answers at once, one height below the latest', async () => {
  const lc = client({ pollIntervalMs: 1, waitTimeoutMs: 0, now: chainNow });
  const latest = chain.chain().lastHeight;
  const answer = await lc.verifiedQuery('/health/key', pk(1), { provable: true });
  // The state after block latest-1, proven by header `latest` (which exists): no next block needed.
  assert.is(answer.height, latest - 1n);
  assert.equal(answer.value, utf8.encode('alpha-2'));
  assert.equal(answer.appHash, chain.committed[Number(latest) - 1]!.header.appHash);
  assert.is(chain.chain().lastHeight, latest, 'no block was made while it ran');
  // A node that answers the latest query at another height than asked is refused.
  chain.tamper('abci_query', (r) => {
    r.response.height = String(latest);
    return r;
  });
  await rejects(
    client({ now: chainNow }).verifiedQuery('/health/key', pk(1), { provable: true }),
    'CLIENT_PROOF_INVALID',
  );
  chain.reset();
  // The freshness check holds as for the latest state: a header a minute old is refused.
  const later = () => Number(chain.chain().lastBlockTime) + 60_000;
  await rejects(
    client({ now: later, maxLatestAgeMs: 5_000 }).verifiedQuery('/health/key', pk(1), { provable: true }),
    'CLIENT_STALE',
  );
});

test('a latest answer must be current: not older than maxLatestAgeMs, never below one already proven', async () => {
  await chain.commitBlock();
  const height = chain.chain().lastHeight - 1n;
  // A node passes off old state as its latest: height 3, with a clock at today's chain time.
  const lc = client({ now: chainNow, maxLatestAgeMs: 5_000 });
  assert.equal(await lc.verifiedLatestAppHash(height), chain.committed[Number(height)]!.header.appHash);
  await rejects(lc.verifiedLatestAppHash(3n), 'CLIENT_STALE');
  // A fresh client has no memory, but the clock: the block after height 3 is minutes old.
  await rejects(client({ now: chainNow, maxLatestAgeMs: 5_000 }).verifiedLatestAppHash(3n), 'CLIENT_STALE');
  // Asked for by height, old state is what was asked for.
  assert.equal(await lc.verifiedAppHash(3n), chain.committed[3]!.header.appHash);
  assert.throws(() => client({ maxLatestAgeMs: 0 }), /maxLatestAgeMs/);
});

test('waiting for a header that never comes ends in CLIENT_WAIT_TIMEOUT', async () => {
  const lc = client({ pollIntervalMs: 5, waitTimeoutMs: 30 });
  await rejects(lc.verifiedAppHash(chain.chain().lastHeight + 5n), 'CLIENT_WAIT_TIMEOUT');
});

test('a forged signature is refused', async () => {
  chain.tamper('commit', (r) => {
    const sig = r.signed_header.commit.signatures[1];
    const bytes = Buffer.from(sig.signature, 'base64');
    bytes[0]! ^= 1;
    sig.signature = bytes.toString('base64');
    return r;
  });
  await rejects(client().verifiedHeader(2n), 'CLIENT_COMMIT_INVALID', 'COMMIT_BAD_SIGNATURE');
});

test('a commit of two thirds or less of the power is refused', async () => {
  chain.tamper('commit', (r) => {
    for (const i of [0, 1])
      r.signed_header.commit.signatures[i] = {
        block_id_flag: 1,
        validator_address: '',
        timestamp: '0001-01-01T00:00:00Z',
        signature: null,
      };
    return r;
  });
  await rejects(client().verifiedHeader(2n), 'CLIENT_COMMIT_INVALID', 'COMMIT_INSUFFICIENT_POWER');
});

test('a header that does not hash to the committed block id is refused', async () => {
  chain.tamper('commit', (r) => {
    r.signed_header.header.app_hash = 'AB'.repeat(32);
    return r;
  });
  await rejects(client().verifiedHeader(2n), 'CLIENT_HEADER_MISMATCH');
});

test('a validator set that is not the header validators_hash is refused', async () => {
  chain.tamper('validators', (r) => {
    r.validators[0].voting_power = '11';
    return r;
  });
  await rejects(client().verifiedHeader(2n), 'CLIENT_VALIDATORS_MISMATCH');
});

test('a chain forged by outsiders with a self-consistent set and commit is refused', async () => {
  // Height 3 re-signed by four keys the genesis never named, with a header naming their set.
  const evil = makeFixture([10n, 10n, 10n, 10n], 'evil');
  const real = chain.committed[2]!.header;
  const forged = { ...real, validatorsHash: validatorSetHash(evil.set), appHash: new Uint8Array(32).fill(7) };
  const id = blockIdOf(forged);
  const bytes = voteSignBytes(chain.genesis.chainId, {
    type: VoteType.precommit,
    height: 3n,
    round: 0,
    blockId: id,
  });
  chain.tamper('commit', (r, params) => {
    if (params.height !== '3') return r;
    r.signed_header.header = headerJson(forged);
    const c = r.signed_header.commit;
    c.block_id = blockIdJson(id);
    c.signatures = evil.keys.map((k, i) => ({
      block_id_flag: 2,
      validator_address: Buffer.from(evil.set.validators[i]!.address).toString('hex').toUpperCase(),
      timestamp: c.signatures[0].timestamp,
      signature: Buffer.from(signMessage(k.secretKey, bytes)).toString('base64'),
    }));
    return r;
  });
  chain.tamper('validators', (r, params) => {
    if (params.height !== '3') return r;
    r.validators = evil.set.validators.map(validatorJson);
    return r;
  });
  await rejects(client().verifiedHeader(3n), 'CLIENT_VALIDATORS_MISMATCH');
  await rejects(client({ skipping: false }).verifiedHeader(5n), 'CLIENT_VALIDATORS_MISMATCH');
});

test('a proof that does not match the app hash is refused', async () => {
  chain.tamper('abci_query', (r) => {
    r.response.value = Buffer.from('forged').toString('base64');
    return r;
  });
  await rejects(client().verifiedQuery('/health/key', pk(1), { height: 3n }), 'CLIENT_PROOF_INVALID');
});

test('an answer for another key, another height or without proof is refused', async () => {
  const key2 = Buffer.from(keyQuery(pk(2))).toString('base64');
  chain.tamper('abci_query', (r) => {
    // A true proof, but of another key than the one asked.
    r.response.key = key2;
    r.response.proofOps.ops[0].key = key2;
    return r;
  });
  await rejects(client().verifiedQuery('/health/key', pk(1), { height: 3n }), 'CLIENT_PROOF_INVALID');
  chain.tamper('abci_query', (r) => {
    r.response.height = '4';
    return r;
  });
  await rejects(client().verifiedQuery('/health/key', pk(1), { height: 3n }), 'CLIENT_PROOF_INVALID');
  chain.tamper('abci_query', (r) => {
    r.response.proofOps = null;
    return r;
  });
  await rejects(client().verifiedQuery('/health/key', pk(1), { height: 3n }), 'CLIENT_PROOF_INVALID');
  chain.tamper('abci_query', (r) => {
    r.response.code = 4;
    r.response.codespace = 'HEALTH_NOT_INITIALIZED';
    return r;
  });
  await rejects(client().verifiedQuery('/health/key', pk(1), { height: 3n }), 'CLIENT_QUERY_FAILED');
});

const HEADER_FIELDS = [
  'chain_id',
  'height',
  'time',
  'last_block_id.hash',
  'last_commit_hash',
  'data_hash',
  'validators_hash',
  'next_validators_hash',
  'app_hash',
  'last_results_hash',
  'evidence_hash',
  'proposer_address',
];

/** Changes one character in [from, to) of a string to a different value of the same alphabet. */
function mutate(text: string, rand: () => number, from = 0, to = text.length): string {
  const i = from + Math.floor(rand() * (to - from));
  const c = text[i]!;
  const alphabet = /^[0-9A-F]+$/.test(text)
    ? '0123456789ABCDEF'
    : /[0-9]/.test(c)
      ? '0123456789'
      : /[A-Z]/.test(c)
        ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
        : 'abcdefghijklmnopqrstuvwxyz';
  let next = c;
  while (next === c) next = alphabet[Math.floor(rand() * alphabet.length)]!;
  return text.slice(0, i) + next + text.slice(i + 1);
}

test('seeded random corruption of any verified field is refused', async () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rand = seededRandom(seed);
    let changed = '';
    chain.tamper('commit', (r) => {
      const header = r.signed_header.header;
      const commit = r.signed_header.commit;
      const pick = Math.floor(rand() * (HEADER_FIELDS.length + 3));
      if (pick < HEADER_FIELDS.length) {
        const path = HEADER_FIELDS[pick]!.split('.');
        const holder = path.length === 2 ? header[path[0]!] : header;
        const field = path[path.length - 1]!;
        // A time keeps its shape (the milliseconds change), so the hash check is what refuses it.
        holder[field] = field === 'time' ? mutate(holder[field], rand, 20, 23) : mutate(holder[field], rand);
        changed = `header.${HEADER_FIELDS[pick]}`;
      } else if (pick === HEADER_FIELDS.length) {
        commit.round += 1;
        changed = 'commit.round';
      } else {
        const i = Math.floor(rand() * commit.signatures.length);
        const sig = commit.signatures[i];
        if (pick === HEADER_FIELDS.length + 1) {
          sig.signature = mutate(sig.signature, rand, 0, 84);
          changed = `commit.signatures[${i}].signature`;
        } else {
          sig.block_id_flag = 3;
          changed = `commit.signatures[${i}].block_id_flag`;
        }
      }
      return r;
    });
    try {
      await client().verifiedHeader(3n);
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      assert.ok(code.startsWith('CLIENT_'), `seed ${seed} (${changed}): ${(err as Error).message}`);
      continue;
    }
    assert.unreachable(`seed ${seed}: corrupting ${changed} was accepted`);
  }
});

// verifiedTx: a block of five txs (an RFC 6962 tree split 4 + 1; the fourth fails), committed
// once on first use, with the next block, whose header proves the results.
const TXS = ['tx-0', 'tx-1', 'tx-2', 'fail-3', 'tx-4'].map((t) => utf8.encode(t));
const FAILED = 3;
let txBlock: Block | null = null;
async function txChain(): Promise<Block> {
  if (txBlock === null) {
    txBlock = await chain.commitBlock({ txs: TXS });
    await chain.commitBlock();
  }
  return txBlock;
}
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

test('verifiedTx proves every tx of a block against the verified data hash', async () => {
  const block = await txChain();
  const lc = client();
  for (const [i, tx] of TXS.entries()) {
    const got = await lc.verifiedTx(txHash(tx));
    assert.is(got.height, block.header.height);
    assert.is(got.index, i);
    assert.equal(got.tx, tx);
    assert.equal([got.result.code, got.result.codespace], i === FAILED ? [7, 'KV_BAD_PAYLOAD'] : [0, '']);
  }
  assert.is(chain.calls.get('tx'), TXS.length);
  assert.is(chain.calls.get('block_results'), TXS.length);
});

test("verifiedTx proves the outcome: a node's word against the next header's results hash", async () => {
  const block = await txChain();
  const failed = txHash(TXS[FAILED]!);
  // The node says the failed tx succeeded.
  chain.tamper('tx', (r) => {
    r.tx_result.code = 0;
    r.tx_result.codespace = '';
    return r;
  });
  await rejects(client().verifiedTx(failed), 'CLIENT_PROOF_INVALID');
  // ...and says the same in the block's results: they no longer hash to header H+1's.
  chain.tamper('block_results', (r) => {
    r.txs_results[FAILED].code = 0;
    r.txs_results[FAILED].codespace = '';
    return r;
  });
  await rejects(client().verifiedTx(failed), 'CLIENT_PROOF_INVALID');
  // Results dropped, or another block's: the count or the hash gives them away.
  chain.reset();
  chain.tamper('block_results', (r) => {
    r.txs_results.pop();
    return r;
  });
  await rejects(client().verifiedTx(failed), 'CLIENT_PROOF_INVALID');
  chain.reset();
  chain.tamper('block_results', (r) => {
    r.txs_results = null;
    return r;
  });
  await rejects(client().verifiedTx(txHash(TXS[0]!)), 'CLIENT_PROOF_INVALID');
  // A log or events rewritten are not covered by any header: the outcome still verifies.
  chain.reset();
  chain.tamper('tx', (r) => {
    r.tx_result.log = 'rewritten';
    return r;
  });
  const got = await client().verifiedTx(failed);
  assert.equal([got.height, got.result.code, got.result.log], [block.header.height, 7, 'rewritten']);
});

test('verifiedTx of a tx in the newest block waits for the next header, bounded', async () => {
  const tx = utf8.encode('tx-newest');
  await chain.commitBlock({ txs: [tx] });
  await rejects(
    client({ pollIntervalMs: 5, waitTimeoutMs: 30 }).verifiedTx(txHash(tx)),
    'CLIENT_WAIT_TIMEOUT',
  );
  let statusCalls = 0;
  chain.after('status', async () => {
    if (++statusCalls === 1) await chain.commitBlock();
  });
  const got = await client().verifiedTx(txHash(tx));
  assert.is(got.result.code, 0);
  assert.ok(statusCalls >= 2, 'it asked again after the header was missing');
});

test('a tx proof whose aunts, index, total or leaf were altered is refused', async () => {
  await txChain();
  const cases: [string, number, (p: Json) => void][] = [
    ['an aunt changed', 1, (p) => (p.aunts[0] = b64(new Uint8Array(32).fill(7)))],
    ['the aunts reversed', 1, (p) => p.aunts.reverse()],
    ['an aunt dropped', 1, (p) => p.aunts.pop()],
    ['an aunt added', 4, (p) => p.aunts.unshift(b64(new Uint8Array(32).fill(7)))],
    ['the index moved', 1, (p) => (p.index = '2')],
    ['the index past the total', 1, (p) => (p.index = '5')],
    ['the total grown', 4, (p) => (p.total = '6')],
    ['the total shrunk', 1, (p) => (p.total = '1')],
    ['the leaf of another tx', 1, (p) => (p.leaf_hash = b64(leafHash(txHash(TXS[2]!))))],
    ['the leaf as the raw tx hash', 1, (p) => (p.leaf_hash = b64(txHash(TXS[1]!)))],
  ];
  for (const [what, i, alter] of cases) {
    chain.tamper('tx', (r) => {
      alter(r.proof.proof);
      // Keep the answer self-consistent, so the proof itself is what is judged.
      r.index = Number(r.proof.proof.index);
      return r;
    });
    try {
      await client().verifiedTx(txHash(TXS[i]!));
    } catch (err) {
      const e = err as ClientError;
      assert.ok(
        e.code === 'CLIENT_PROOF_INVALID' || e.code === 'CLIENT_RESPONSE_INVALID',
        `${what}: ${e.message}`,
      );
      continue;
    }
    assert.unreachable(`${what} was accepted`);
  }
  // A true proof of another tx (its leaf, index and aunts) offered for this tx's bytes.
  chain.reset();
  const other = await rpc.tx(txHash(TXS[2]!), { prove: true });
  chain.tamper('tx', (r) => {
    r.index = other.index;
    r.proof.proof.index = String(other.index);
    r.proof.proof.leaf_hash = b64(other.proof!.leafHash);
    r.proof.proof.aunts = other.proof!.aunts.map(b64);
    return r;
  });
  await rejects(client().verifiedTx(txHash(TXS[1]!)), 'CLIENT_PROOF_INVALID');
  // A proof that is right but for another position than the answer claims, or none at all.
  chain.tamper('tx', (r) => {
    r.index = 3;
    return r;
  });
  await rejects(client().verifiedTx(txHash(TXS[1]!)), 'CLIENT_PROOF_INVALID');
  chain.tamper('tx', (r) => {
    r.proof = { root_hash: '', data: null, proof: { total: '0', index: '0', leaf_hash: null, aunts: null } };
    return r;
  });
  await rejects(client().verifiedTx(txHash(TXS[1]!)), 'CLIENT_PROOF_INVALID');
  chain.tamper('tx', (r) => {
    r.proof.proof.aunts = 'not a list';
    return r;
  });
  await rejects(client().verifiedTx(txHash(TXS[1]!)), 'CLIENT_RESPONSE_INVALID');
});

test('a tx whose bytes were altered is refused', async () => {
  await txChain();
  const forged = utf8.encode('tx-X');
  const hash = txHash(TXS[1]!);
  // Only the bytes: they no longer hash to the answer's hash.
  chain.tamper('tx', (r) => {
    r.tx = b64(forged);
    return r;
  });
  await rejects(client().verifiedTx(hash), 'CLIENT_RESPONSE_INVALID');
  // The bytes and every hash of them rewritten to agree: not the tx asked for, and not in the block.
  chain.tamper('tx', (r) => {
    r.tx = b64(forged);
    r.hash = toHex(txHash(forged)).toUpperCase();
    r.proof.data = b64(forged);
    r.proof.proof.leaf_hash = b64(leafHash(txHash(forged)));
    return r;
  });
  await rejects(client().verifiedTx(hash), 'CLIENT_PROOF_INVALID');
  // The proof for other bytes than the tx returned.
  chain.tamper('tx', (r) => {
    r.proof.data = b64(forged);
    return r;
  });
  await rejects(client().verifiedTx(hash), 'CLIENT_PROOF_INVALID');
  // Another committed tx, with its own true proof, in answer to this hash.
  chain.reset();
  const other = await rpc.tx(txHash(TXS[2]!), { prove: true });
  chain.tamper('tx', (r) => {
    r.tx = b64(other.tx);
    r.hash = toHex(other.hash).toUpperCase();
    r.index = other.index;
    r.proof.data = b64(other.tx);
    r.proof.proof.index = String(other.index);
    r.proof.proof.leaf_hash = b64(other.proof!.leafHash);
    r.proof.proof.aunts = other.proof!.aunts.map(b64);
    return r;
  });
  await rejects(client().verifiedTx(hash), 'CLIENT_PROOF_INVALID');
});

test('a tx hash not in the chain is the node error, typed', async () => {
  await txChain();
  const missing = txHash(utf8.encode('never sent'));
  try {
    await client().verifiedTx(missing);
  } catch (err) {
    assert.instance(err, ClientError);
    const e = err as ClientError;
    assert.is(e.code, 'CLIENT_RPC_ERROR');
    assert.match(e.message, /not found/);
    assert.match(e.message, toHex(missing).toUpperCase());
    return;
  }
  assert.unreachable('a missing tx was verified');
});

test.run();
