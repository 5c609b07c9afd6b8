/**
 * packages/types/vote.ts: golden sign bytes of votes and proposals and the golden encoding of a
 * signed vote; decodeVote(encodeVote(v)) round trips; every malformed vote field refused with
 * CODEC_SCHEMA; proposal rules (polRound below round, a block named); verifyVote and
 * verifyProposal refuse unknown validators and bad signatures.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Canonical, encode } from '../../../packages/codec/canonical.ts';
import { signMessage } from '../../../packages/crypto/ed25519.ts';
import { MAX_VALIDATORS } from '../../../packages/types/validator.ts';
import {
  decodeVote,
  encodeVote,
  isNil,
  MAX_ROUND,
  NIL_BLOCK_ID,
  type Proposal,
  proposalFields,
  proposalFromFields,
  proposalSignBytes,
  type Vote,
  VoteType,
  verifyProposal,
  verifyVote,
  voteFields,
  voteSignBytes,
} from '../../../packages/types/vote.ts';
import {
  BLOCK_A,
  BLOCK_B,
  CHAIN_ID,
  filled,
  flipBit,
  hex,
  KEYS,
  keyAt,
  plain,
  SET,
  signedVote,
  throwsCode,
} from './fixtures.ts';

const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');
const GOLDEN_BLOCK = filled(32, 0xab);

/** Plain-object view of a vote, so decoded Buffers and source Uint8Arrays compare equal. */
function view(v: Vote) {
  return {
    ...v,
    blockId: plain(v.blockId),
    validatorAddress: plain(v.validatorAddress),
    signature: plain(v.signature),
  };
}

test('vote types and limits', () => {
  assert.equal({ ...VoteType }, { prevote: 1, precommit: 2 });
  assert.is(MAX_ROUND, 1_000_000);
  assert.ok(isNil(NIL_BLOCK_ID));
  assert.not.ok(isNil(BLOCK_A));
});

// ---------------------------------------------------------------------------------------------
// Golden vectors. A change in any of them is a consensus-breaking encoding change.

test('GOLDEN: voteSignBytes of a precommit', () => {
  // 96 fixarray(6) | b2 fixstr(18) "careledger/vote/v1" | b1 fixstr(17) "careledger-test-1"
  // | 02 precommit | d3 int64 height 7 | 01 round | c4 20 block id (32 x ab)
  const expected = `96b2${ascii('careledger/vote/v1')}b1${ascii(CHAIN_ID)}02d3000000000000000701c420${'ab'.repeat(32)}`;
  assert.is(
    expected,
    '96b2636172656c65646765722f766f74652f7631b1636172656c65646765722d746573742d3102d3000000000000000701' +
      'c420abababababababababababababababababababababababababababababababab',
  );
  const bytes = voteSignBytes(CHAIN_ID, {
    type: VoteType.precommit,
    height: 7n,
    round: 1,
    blockId: GOLDEN_BLOCK,
  });
  assert.is(hex(bytes), expected);
});

test('GOLDEN: voteSignBytes of a nil prevote', () => {
  // 96 | b2 "careledger/vote/v1" | b1 chain id | 01 prevote | d3 height 0 | 00 round | c4 00 (nil)
  const bytes = voteSignBytes(CHAIN_ID, {
    type: VoteType.prevote,
    height: 0n,
    round: 0,
    blockId: NIL_BLOCK_ID,
  });
  assert.is(hex(bytes), `96b2${ascii('careledger/vote/v1')}b1${ascii(CHAIN_ID)}01d3000000000000000000c400`);
});

test('GOLDEN: proposalSignBytes', () => {
  // 96 | b6 fixstr(22) "careledger/proposal/v1" | b1 chain id | d3 height 7 | 01 round
  // | ff polRound -1 | c4 20 block id
  const bytes = proposalSignBytes(CHAIN_ID, { height: 7n, round: 1, polRound: -1, blockId: GOLDEN_BLOCK });
  assert.is(
    hex(bytes),
    '96b6636172656c65646765722f70726f706f73616c2f7631b1636172656c65646765722d746573742d31' +
      'd3000000000000000701ffc420abababababababababababababababababababababababababababababababab',
  );
  assert.ok(hex(bytes).startsWith(`96b6${ascii('careledger/proposal/v1')}b1${ascii(CHAIN_ID)}`));
});

test('GOLDEN: encodeVote of a precommit signed by validator 2 of the fixture set', () => {
  // 97 fixarray(7) | 02 precommit | d3 height 7 | 01 round | c4 20 block id | 02 index
  // | c4 14 address (20 bytes) | c4 40 signature (64 bytes, deterministic ed25519)
  const vote = signedVote(2, { type: VoteType.precommit, height: 7n, round: 1, blockId: GOLDEN_BLOCK });
  const address = 'b62e867fa2f33afe62d5d6b1642e1621d5433078';
  const signature =
    '0de692f9fb27afe1ef5e8b02b49a5a8392fc1d982861c791de11a660725dafc7' +
    '41eee2695cd19534d24efb8660989284145d7b61f67b0edf150a0ddd8f50f904';
  assert.is(hex(vote.validatorAddress), address);
  assert.is(
    hex(encodeVote(vote)),
    `9702d3000000000000000701c420${'ab'.repeat(32)}02c414${address}c440${signature}`,
  );
});

// ---------------------------------------------------------------------------------------------
// Round trips.

const VOTES: [string, Vote][] = [
  ['a prevote', signedVote(0, { type: VoteType.prevote, height: 1n, round: 0, blockId: BLOCK_A })],
  ['a precommit', signedVote(3, { type: VoteType.precommit, height: 99n, round: 4, blockId: BLOCK_B })],
  [
    'a nil precommit',
    signedVote(1, { type: VoteType.precommit, height: 5n, round: 2, blockId: NIL_BLOCK_ID }),
  ],
  [
    'extreme fields',
    {
      type: VoteType.prevote,
      height: 2n ** 63n - 1n,
      round: MAX_ROUND,
      blockId: BLOCK_A,
      validatorIndex: MAX_VALIDATORS - 1,
      validatorAddress: filled(20, 0xff),
      signature: filled(64, 0xee),
    },
  ],
];

for (const [name, vote] of VOTES) {
  test(`decodeVote(encodeVote(v)) round trips ${name}`, () => {
    const decoded = decodeVote(encodeVote(vote));
    assert.equal(view(decoded), view(vote));
    assert.is(hex(encodeVote(decoded)), hex(encodeVote(vote)));
  });
}

test('decoded votes still verify', () => {
  for (const [, vote] of VOTES.slice(0, 3)) verifyVote(CHAIN_ID, decodeVote(encodeVote(vote)), SET);
});

// ---------------------------------------------------------------------------------------------
// Malformed votes: each field, CODEC_SCHEMA naming it.

const base = VOTES[1]![1];
const fields = voteFields(base) as Canonical[];

function withField(index: number, value: Canonical): Uint8Array {
  const copy = [...fields];
  copy[index] = value;
  return encode(copy);
}

const MALFORMED: [string, () => Uint8Array, RegExp][] = [
  ['6 fields', () => encode(fields.slice(0, 6)), /^vote: expected a tuple of 7/],
  ['8 fields', () => encode([...fields, 0]), /^vote: expected a tuple of 7/],
  ['not a list', () => encode(Uint8Array.of(1)), /^vote:/],
  ['type 0', () => withField(0, 0), /^vote\.type:/],
  ['type 3', () => withField(0, 3), /^vote\.type:/],
  ['type as bigint', () => withField(0, 2n), /^vote\.type:/],
  ['negative height', () => withField(1, -1n), /^vote\.height:/],
  ['height as a small number', () => withField(1, 99), /^vote\.height:/],
  ['negative round', () => withField(2, -1), /^vote\.round:/],
  ['round above MAX_ROUND', () => withField(2, MAX_ROUND + 1), /^vote\.round:/],
  ['round as bigint', () => withField(2, 4n), /^vote\.round:/],
  ['blockId of 31 bytes', () => withField(3, filled(31, 1)), /^vote\.blockId: expected 0 or 32 bytes/],
  ['blockId of 33 bytes', () => withField(3, filled(33, 1)), /^vote\.blockId:/],
  ['blockId as a string', () => withField(3, 'a'.repeat(32)), /^vote\.blockId:/],
  ['validatorIndex of MAX_VALIDATORS', () => withField(4, MAX_VALIDATORS), /^vote\.validatorIndex:/],
  ['negative validatorIndex', () => withField(4, -1), /^vote\.validatorIndex:/],
  ['address of 19 bytes', () => withField(5, filled(19, 1)), /^vote\.validatorAddress:/],
  ['address of 21 bytes', () => withField(5, filled(21, 1)), /^vote\.validatorAddress:/],
  ['signature of 63 bytes', () => withField(6, filled(63, 1)), /^vote\.signature:/],
  ['empty signature', () => withField(6, new Uint8Array(0)), /^vote\.signature:/],
  ['signature as null', () => withField(6, null), /^vote\.signature:/],
];

for (const [name, bytes, message] of MALFORMED) {
  test(`decodeVote refuses ${name} with CODEC_SCHEMA`, () => {
    const err = throwsCode(() => decodeVote(bytes()), 'CODEC_SCHEMA', message);
    assert.is(err.action, 'reject');
  });
}

test('decodeVote refuses trailing bytes and non-canonical encodings', () => {
  const bytes = encodeVote(base);
  throwsCode(() => decodeVote(Uint8Array.from([...bytes, 0])), 'CODEC_TRAILING_BYTES');
  // Round 4 written as a uint8 (cc 04) instead of a fixint (04).
  const tampered = hex(bytes).replace(`d3${'0'.repeat(14)}6304`, `d3${'0'.repeat(14)}63cc04`);
  assert.is.not(tampered, hex(bytes));
  throwsCode(() => decodeVote(Buffer.from(tampered, 'hex')), 'CODEC_NON_CANONICAL');
});

// ---------------------------------------------------------------------------------------------
// Proposals.

function signedProposal(p: Omit<Proposal, 'signature'>, signerIndex = 0): Proposal {
  const signature = signMessage(keyAt(SET, signerIndex).secretKey, proposalSignBytes(CHAIN_ID, p));
  return { ...p, signature };
}

test('proposalFromFields round trips a valid proposal', () => {
  for (const p of [
    signedProposal({ height: 3n, round: 0, polRound: -1, blockId: BLOCK_A }),
    signedProposal({ height: 3n, round: 5, polRound: 4, blockId: BLOCK_B }),
  ]) {
    const back = proposalFromFields(proposalFields(p));
    assert.equal({ ...back, blockId: plain(back.blockId), signature: plain(back.signature) }, p);
  }
});

test('proposalFromFields refuses polRound >= round with PROPOSAL_INVALID', () => {
  const sig = filled(64, 1);
  for (const [round, polRound] of [
    [0, 0],
    [3, 3],
    [3, 4],
    [0, 1],
  ] as const) {
    const err = throwsCode(
      () => proposalFromFields([3n, round, polRound, BLOCK_A, sig]),
      'PROPOSAL_INVALID',
      /polRound/,
    );
    assert.is(err.action, 'reject');
  }
});

test('proposalFromFields refuses a nil block and malformed fields', () => {
  const sig = filled(64, 1);
  throwsCode(
    () => proposalFromFields([3n, 1, -1, new Uint8Array(0), sig]),
    'PROPOSAL_INVALID',
    /names a block/,
  );
  throwsCode(() => proposalFromFields([3n, 1, -2, BLOCK_A, sig]), 'CODEC_SCHEMA', /proposal\.polRound/);
  throwsCode(
    () => proposalFromFields([3n, MAX_ROUND + 1, -1, BLOCK_A, sig]),
    'CODEC_SCHEMA',
    /proposal\.round/,
  );
  throwsCode(() => proposalFromFields([3n, 1, -1, filled(31, 1), sig]), 'CODEC_SCHEMA', /proposal\.blockId/);
  throwsCode(() => proposalFromFields([-3n, 1, -1, BLOCK_A, sig]), 'CODEC_SCHEMA', /proposal\.height/);
  throwsCode(
    () => proposalFromFields([3n, 1, -1, BLOCK_A, sig.subarray(1)]),
    'CODEC_SCHEMA',
    /proposal\.signature/,
  );
  throwsCode(() => proposalFromFields([3n, 1, -1, BLOCK_A]), 'CODEC_SCHEMA', /^proposal:/);
});

test('verifyProposal accepts the proposer and refuses another key or a changed field', () => {
  const p = signedProposal({ height: 3n, round: 2, polRound: 1, blockId: BLOCK_A }, 1);
  const proposer = SET.validators[1]!.pubKey;
  verifyProposal(CHAIN_ID, p, proposer);
  throwsCode(() => verifyProposal(CHAIN_ID, p, SET.validators[0]!.pubKey), 'PROPOSAL_BAD_SIGNATURE');
  throwsCode(() => verifyProposal('other-chain', p, proposer), 'PROPOSAL_BAD_SIGNATURE');
  throwsCode(() => verifyProposal(CHAIN_ID, { ...p, polRound: -1 }, proposer), 'PROPOSAL_BAD_SIGNATURE');
  throwsCode(() => verifyProposal(CHAIN_ID, { ...p, blockId: BLOCK_B }, proposer), 'PROPOSAL_BAD_SIGNATURE');
  throwsCode(
    () => verifyProposal(CHAIN_ID, { ...p, signature: flipBit(p.signature, 9) }, proposer),
    'PROPOSAL_BAD_SIGNATURE',
  );
});

test('a vote signature never passes as a proposal signature over the same fields', () => {
  const vote = signedVote(0, { type: VoteType.prevote, height: 3n, round: 2, blockId: BLOCK_A });
  const p: Proposal = { height: 3n, round: 2, polRound: -1, blockId: BLOCK_A, signature: vote.signature };
  throwsCode(() => verifyProposal(CHAIN_ID, p, SET.validators[0]!.pubKey), 'PROPOSAL_BAD_SIGNATURE');
});

// ---------------------------------------------------------------------------------------------
// verifyVote.

const good = signedVote(2, { type: VoteType.prevote, height: 10n, round: 3, blockId: BLOCK_A });

test('verifyVote accepts a vote signed by the validator at its index', () => {
  verifyVote(CHAIN_ID, good, SET);
  SET.validators.forEach((_, i) => {
    verifyVote(
      CHAIN_ID,
      signedVote(i, { type: VoteType.precommit, height: 1n, round: 0, blockId: BLOCK_B }),
      SET,
    );
  });
});

test('verifyVote refuses an index outside the set or an address not at the index', () => {
  const outside = throwsCode(
    () => verifyVote(CHAIN_ID, { ...good, validatorIndex: 4 }, SET),
    'VOTE_UNKNOWN_VALIDATOR',
  );
  assert.is(outside.action, 'reject');
  throwsCode(
    () => verifyVote(CHAIN_ID, { ...good, validatorIndex: 1 }, SET),
    'VOTE_UNKNOWN_VALIDATOR',
    /address/,
  );
  throwsCode(
    () => verifyVote(CHAIN_ID, { ...good, validatorAddress: new Uint8Array(20) }, SET),
    'VOTE_UNKNOWN_VALIDATOR',
  );
});

test('verifyVote refuses a bad signature with VOTE_BAD_SIGNATURE', () => {
  const cases: [string, Vote, string][] = [
    ['flipped signature bit', { ...good, signature: flipBit(good.signature, 100) }, CHAIN_ID],
    ['another height', { ...good, height: 11n }, CHAIN_ID],
    ['another round', { ...good, round: 4 }, CHAIN_ID],
    ['another type', { ...good, type: VoteType.precommit }, CHAIN_ID],
    ['another block', { ...good, blockId: BLOCK_B }, CHAIN_ID],
    ['nil instead of the block', { ...good, blockId: NIL_BLOCK_ID }, CHAIN_ID],
    ['another chain', good, 'other-chain'],
    [
      'signed by another validator',
      {
        ...good,
        signature: signMessage(
          KEYS.find((k) => hex(k.publicKey) !== hex(SET.validators[2]!.pubKey))!.secretKey,
          voteSignBytes(CHAIN_ID, good),
        ),
      },
      CHAIN_ID,
    ],
  ];
  for (const [name, vote, chainId] of cases) {
    const err = throwsCode(() => verifyVote(chainId, vote, SET), 'VOTE_BAD_SIGNATURE');
    assert.is(err.action, 'reject', name);
  }
});

test.run();
