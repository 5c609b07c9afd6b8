/**
 * node/records/forward.ts: the requester's node finds the custodian's nodes on chain and asks
 * them; an unreachable custodian is retried with a doubling, capped backoff until
 * `unavailableAfterMs`, then CUSTODIAN_UNAVAILABLE (checked on a virtual clock); BUSY answers are
 * retried and a later release is returned (two real in-process hosts); a refusal is final (one
 * ask); when this node is the custodian's, its own release service answers and nothing is dialled.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordsChain } from '../../../../node/records/chain-view.ts';
import { RecordForwarder } from '../../../../node/records/forward.ts';
import {
  type RecordAnswer,
  type RecordLibp2p,
  serveRecordExchange,
} from '../../../../p2p/record-exchange.ts';
import { keyPairFromSeed } from '../../../../packages/crypto/ed25519.ts';
import type { Member, RecordAnchor } from '../../../../packages/health/model.ts';
import { encodeFetchRequest, fetchRequest, signFetchRequest } from '../../../../packages/health/records.ts';
import { idOf, recorder, startHost, stopAll, waitFor } from '../../p2p/helpers.ts';

const RECORD = `r${'ab'.repeat(16)}`;
const ME = idOf(1);
const CUSTODIAN_NODE = idOf(2);
const key = keyPairFromSeed(new Uint8Array(32).fill(4));
const request = encodeFetchRequest(
  signFetchRequest(
    fetchRequest(
      { chainId: 'c', record: RECORD, requester: { kind: 'member', id: 'hospital' }, purpose: 'TREAT' },
      new Uint8Array(16),
      1n,
    ),
    key.secretKey,
  ),
);

function chainWith(custodianNodes: string[]): RecordsChain {
  const member = { id: 'lab', active: true, nodes: custodianNodes } as unknown as Member;
  return {
    member: async (id) => (id === 'lab' ? member : null),
    record: async (id) => (id === RECORD ? ({ id, custodian: 'lab' } as unknown as RecordAnchor) : null),
    keyBinding: async () => null,
    memberOfNode: async () => null,
    activeMemberNodes: async () => [],
    decideRelease: async () => {
      throw new Error('not used by the forwarder');
    },
  };
}

const release: RecordAnswer = {
  ok: true,
  releaseId: new Uint8Array(32).fill(1),
  accessHeight: 9n,
  wrappedKey: new Uint8Array(40),
  size: 3,
  body: (async function* () {
    yield Uint8Array.of(1, 2, 3);
  })(),
  discard: () => undefined,
};

const options = {
  unavailableAfterMs: 5000,
  initialBackoffMs: 200,
  maxBackoffMs: 1000,
  exchange: { requestTimeoutMs: 1000 },
};

test('an unreachable custodian is retried with capped doubling backoff, then CUSTODIAN_UNAVAILABLE at the bound', async () => {
  let now = 0;
  const sleeps: number[] = [];
  let dials = 0;
  const libp2p = {
    dialProtocol: async () => {
      dials++;
      now += 100; // a refused connection takes a moment
      throw new Error('connection refused');
    },
  } as unknown as RecordLibp2p;
  const f = new RecordForwarder({
    peerId: ME,
    chain: chainWith([CUSTODIAN_NODE]),
    libp2p: () => libp2p,
    releaseLocally: async () => release,
    options,
    nowMs: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  });
  const res = await f.fetch(request);
  assert.is(res.ok ? 'ok' : res.code, 'CUSTODIAN_UNAVAILABLE');
  assert.ok(
    now >= options.unavailableAfterMs && now <= options.unavailableAfterMs + 100,
    `gave up at ${now}`,
  );
  assert.equal(sleeps.slice(0, 4), [200, 400, 800, 1000]);
  // One dial per pass (one node), each pass followed by a backoff while time is left.
  assert.is(dials, sleeps.length);
});

test('no custodian node on chain, or an unknown record: refused at once', async () => {
  const f = new RecordForwarder({
    peerId: ME,
    chain: chainWith([]),
    libp2p: () => {
      throw new Error('must not dial');
    },
    releaseLocally: async () => release,
    options,
  });
  const none = await f.fetch(request);
  assert.is(none.ok ? 'ok' : none.code, 'CUSTODIAN_UNAVAILABLE');
  const garbage = await f.fetch(Uint8Array.of(1));
  assert.is(garbage.ok ? 'ok' : garbage.code, 'ACCESS_REQUEST_INVALID');
  const unknown = encodeFetchRequest(
    signFetchRequest(
      fetchRequest(
        {
          chainId: 'c',
          record: `r${'cd'.repeat(16)}`,
          requester: { kind: 'member', id: 'hospital' },
          purpose: 'TREAT',
        },
        new Uint8Array(16),
        1n,
      ),
      key.secretKey,
    ),
  );
  const res = await f.fetch(unknown);
  assert.is(res.ok ? 'ok' : res.code, 'RECORD_UNKNOWN');
});

test("this node is one of the custodian's: its own release service answers, nothing is dialled", async () => {
  const calls: string[] = [];
  const f = new RecordForwarder({
    peerId: ME,
    chain: chainWith([CUSTODIAN_NODE, ME]),
    libp2p: () => {
      throw new Error('must not dial');
    },
    releaseLocally: async (_bytes, peer) => {
      calls.push(peer);
      return release;
    },
    options,
  });
  const res = await f.fetch(request);
  assert.ok(res.ok);
  assert.equal(calls, [ME]);
});

test('BUSY is retried until the custodian releases; a refusal is final', async () => {
  const a = await startHost(1, { members: [ME, CUSTODIAN_NODE] }, recorder().handlers);
  const b = await startHost(
    2,
    { members: [ME, CUSTODIAN_NODE], persistentPeers: [a.addresses()[0]!] },
    recorder().handlers,
  );
  let answers: RecordAnswer[] = [];
  let asked = 0;
  const stop = await serveRecordExchange(b.libp2p, async () => {
    asked++;
    return answers.shift() ?? { ok: false, code: 'ACCESS_NO_CONSENT', message: 'no' };
  });
  try {
    await waitFor('connected', () => a.libp2p.getPeers().length > 0);
    const f = new RecordForwarder({
      peerId: ME,
      chain: chainWith([CUSTODIAN_NODE]),
      libp2p: () => a.libp2p,
      releaseLocally: async () => release,
      options: { ...options, initialBackoffMs: 10 },
    });
    answers = [
      { ok: false, code: 'BUSY', message: 'busy' },
      { ok: false, code: 'BUSY', message: 'busy' },
      release,
    ];
    const res = await f.fetch(request);
    assert.ok(res.ok, res.ok ? '' : res.code);
    if (res.ok) for await (const _ of res.body);
    assert.is(asked, 3);
    const refused = await f.fetch(request);
    assert.is(refused.ok ? 'ok' : refused.code, 'ACCESS_NO_CONSENT');
    assert.is(asked, 4);
  } finally {
    await stop();
    await stopAll([a, b]);
  }
});

test.run();
