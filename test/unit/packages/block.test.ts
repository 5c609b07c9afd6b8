/**
 * packages/types/block.ts: the golden header encoding and block id, the header and block codecs
 * and their refusals (schema and block limits), the data and evidence hashes, and
 * validateBlockBody refusing a header that does not commit to its body.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, defaultDecodeLimits, encode } from '../../../packages/codec/canonical.ts';
import { merkleRoot, sha256 } from '../../../packages/crypto/hash.ts';
import {
  BLOCK_VERSION,
  type Block,
  blockFromFields,
  blockIdOf,
  blockTxHashes,
  dataHashOf,
  decodeBlock,
  defaultBlockLimits,
  encodeBlock,
  evidenceHashOf,
  type Header,
  headerFields,
  headerFromFields,
  txHash,
  validateBlockBody,
  withTxHashes,
} from '../../../packages/types/block.ts';
import {
  type Commit,
  commitHash,
  evidenceHash,
  makeCommit,
  makeDuplicateVoteEvidence,
} from '../../../packages/types/commit.ts';
import { VoteType } from '../../../packages/types/vote.ts';
import { BLOCK_A, BLOCK_B, CHAIN_ID, filled, hex, SET, signedVote, throwsCode, unhex } from './fixtures.ts';

const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');

const FIXED_HEADER: Header = {
  chainId: CHAIN_ID,
  height: 7n,
  time: 1_700_000_000_000n,
  lastBlockId: filled(32, 0x11),
  lastCommitHash: filled(32, 0x22),
  dataHash: filled(32, 0x33),
  validatorsHash: filled(32, 0x44),
  nextValidatorsHash: filled(32, 0x55),
  appHash: filled(32, 0x66),
  lastResultsHash: filled(32, 0x77),
  evidenceHash: filled(32, 0x88),
  proposerAddress: filled(20, 0x99),
};

test('GOLDEN: the header encoding and blockIdOf a fixed header', () => {
  // A change here is a consensus-breaking encoding change.
  // 9d fixarray(13) | 01 version | b1 chain id | d3 height 7 | d3 time 1_700_000_000_000 (0x18bcfe56800)
  // | c4 20 x 8 hashes (11 .. 88) in field order | c4 14 proposer address (20 x 99)
  const hashes = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
    .map((b) => `c420${b.toString(16).repeat(32)}`)
    .join('');
  const expected = `9d01b1${ascii(CHAIN_ID)}d30000000000000007d30000018bcfe56800${hashes}c414${'99'.repeat(20)}`;
  assert.is(hex(encode(headerFields(FIXED_HEADER))), expected);
  assert.is(hex(blockIdOf(FIXED_HEADER)), hex(sha256(unhex(expected))));
  assert.is(hex(blockIdOf(FIXED_HEADER)), '28d9e8e774e78ae52dbc8df1f914b2b2b9ef4a7b0121659652430928870bea86');
  assert.is(BLOCK_VERSION, 1);
});

test('the block id changes with every header field', () => {
  const base = hex(blockIdOf(FIXED_HEADER));
  const changes: Partial<Header>[] = [
    { chainId: 'careledger-test-2' },
    { height: 8n },
    { time: 1_700_000_000_001n },
    { lastBlockId: new Uint8Array(0) },
    { lastCommitHash: filled(32, 0) },
    { dataHash: filled(32, 0) },
    { validatorsHash: filled(32, 0) },
    { nextValidatorsHash: filled(32, 0) },
    { appHash: filled(32, 0) },
    { lastResultsHash: filled(32, 0) },
    { evidenceHash: filled(32, 0) },
    { proposerAddress: filled(20, 0) },
  ];
  const ids = changes.map((change) => hex(blockIdOf({ ...FIXED_HEADER, ...change })));
  assert.not.ok(ids.includes(base));
  assert.is(new Set(ids).size, changes.length);
});

test('header fields round trip, with and without a last block id', () => {
  for (const header of [FIXED_HEADER, { ...FIXED_HEADER, height: 1n, lastBlockId: new Uint8Array(0) }]) {
    const back = headerFromFields(decode(encode(headerFields(header))));
    assert.is(hex(encode(headerFields(back))), hex(encode(headerFields(header))));
    assert.is(back.chainId, header.chainId);
    assert.is(back.height, header.height);
    assert.is(back.time, header.time);
  }
});

test('headerFromFields refuses each malformed field with CODEC_SCHEMA', () => {
  const fields = headerFields(FIXED_HEADER) as unknown[];
  const at = (i: number, value: unknown) => fields.map((f, j) => (j === i ? value : f));
  const cases: [unknown, RegExp][] = [
    [fields.slice(0, 12), /^header:/],
    [[...fields, 0], /^header:/],
    [at(0, 2), /header\.version/],
    [at(0, 1n), /header\.version/],
    [at(1, 'x'.repeat(51)), /header\.chainId/],
    [at(2, -1n), /header\.height/],
    [at(3, 5), /header\.time/],
    [at(4, filled(31, 1)), /header\.lastBlockId/],
    [at(5, filled(31, 1)), /header\.lastCommitHash/],
    [at(6, new Uint8Array(0)), /header\.dataHash/],
    [at(7, filled(33, 1)), /header\.validatorsHash/],
    [at(8, null), /header\.nextValidatorsHash/],
    [at(9, filled(20, 1)), /header\.appHash/],
    [at(10, 'x'), /header\.lastResultsHash/],
    [at(11, filled(31, 1)), /header\.evidenceHash/],
    [at(12, filled(32, 1)), /header\.proposerAddress/],
  ];
  for (const [value, message] of cases)
    throwsCode(() => headerFromFields(value as never), 'CODEC_SCHEMA', message);
  assert.equal(headerFromFields(at(1, 'x'.repeat(50)) as never).chainId, 'x'.repeat(50));
});

// ---------------------------------------------------------------------------------------------
// Whole blocks.

function lastCommitFor(blockId: Uint8Array): Commit {
  const votes = SET.validators.map((_, i) =>
    signedVote(i, { type: VoteType.precommit, height: 6n, round: 0, blockId }),
  );
  return makeCommit(6n, 0, blockId, votes, 4);
}

const EVIDENCE = makeDuplicateVoteEvidence(
  signedVote(1, { type: VoteType.prevote, height: 5n, round: 0, blockId: BLOCK_A }),
  signedVote(1, { type: VoteType.prevote, height: 5n, round: 0, blockId: BLOCK_B }),
);
const TXS = [Uint8Array.of(1, 2, 3), new TextEncoder().encode('consent grant'), new Uint8Array(0)];

/** A block whose header commits to its body. */
function makeBlock(body: Omit<Block, 'header'>, lastBlockId: Uint8Array): Block {
  return {
    ...body,
    header: {
      ...FIXED_HEADER,
      lastBlockId,
      dataHash: dataHashOf(body.txs),
      evidenceHash: evidenceHashOf(body.evidence),
      lastCommitHash: commitHash(body.lastCommit),
    },
  };
}

const BLOCK = makeBlock({ txs: TXS, evidence: [EVIDENCE], lastCommit: lastCommitFor(BLOCK_A) }, BLOCK_A);
const FIRST = makeBlock({ txs: [], evidence: [], lastCommit: null }, new Uint8Array(0));

test('txHash is sha256 and dataHashOf is the Merkle root of the tx hashes', () => {
  assert.is(hex(txHash(TXS[0]!)), hex(sha256(TXS[0]!)));
  assert.is(hex(dataHashOf(TXS)), hex(merkleRoot(TXS.map((tx) => sha256(tx)))));
  assert.is.not(hex(dataHashOf(TXS)), hex(merkleRoot(TXS)));
  assert.is(hex(dataHashOf([])), hex(sha256()));
  assert.is(hex(evidenceHashOf([EVIDENCE])), hex(merkleRoot([evidenceHash(EVIDENCE)])));
});

test('blockTxHashes hashes a block once; withTxHashes records hashes held already, one per tx', () => {
  const block = { ...BLOCK };
  const hashes = blockTxHashes(block);
  assert.equal(
    hashes.map(hex),
    TXS.map((tx) => hex(sha256(tx))),
  );
  assert.is(blockTxHashes(block), hashes, 'the same array: not hashed again');
  const held = TXS.map((tx) => sha256(tx));
  const recorded = withTxHashes({ ...BLOCK }, held);
  assert.is(blockTxHashes(recorded), held);
  validateBlockBody(recorded);
  assert.throws(() => withTxHashes({ ...BLOCK }, held.slice(1)), /one hash per tx/);
});

test('encodeBlock / decodeBlock round trip, the first block too', () => {
  for (const block of [BLOCK, FIRST]) {
    const bytes = encodeBlock(block);
    const back = decodeBlock(bytes);
    assert.is(hex(encodeBlock(back)), hex(bytes));
    assert.is(hex(blockIdOf(back.header)), hex(blockIdOf(block.header)));
    assert.is(back.txs.length, block.txs.length);
    assert.is(back.lastCommit === null, block.lastCommit === null);
    validateBlockBody(back);
  }
});

test('decodeBlock enforces the block limits with CODEC_SCHEMA', () => {
  const bytes = encodeBlock(BLOCK);
  const limits = defaultBlockLimits;
  throwsCode(() => decodeBlock(bytes, { ...limits, maxTxs: 2 }), 'CODEC_SCHEMA', /block\.txs/);
  assert.is(decodeBlock(bytes, { ...limits, maxTxs: 3 }).txs.length, 3);
  throwsCode(() => decodeBlock(bytes, { ...limits, maxTxBytes: 12 }), 'CODEC_SCHEMA', /block\.txs\[1\]/);
  assert.is(decodeBlock(bytes, { ...limits, maxTxBytes: 13 }).txs.length, 3);
  throwsCode(() => decodeBlock(bytes, { ...limits, maxEvidence: 0 }), 'CODEC_SCHEMA', /block\.evidence/);
  throwsCode(() => decodeBlock(bytes, limits, { ...defaultDecodeLimits, maxBytes: 100 }), 'CODEC_TOO_LARGE');
});

test('blockFromFields refuses malformed parts', () => {
  const fields = decode(encodeBlock(BLOCK)) as unknown[];
  throwsCode(() => blockFromFields(fields.slice(0, 3) as never), 'CODEC_SCHEMA', /^block:/);
  throwsCode(
    () => blockFromFields([fields[0], [5], fields[2], fields[3]] as never),
    'CODEC_SCHEMA',
    /block\.txs\[0\]/,
  );
  throwsCode(
    () => blockFromFields([fields[0], fields[1], fields[2], 'x'] as never),
    'CODEC_SCHEMA',
    /^commit:/,
  );
});

// ---------------------------------------------------------------------------------------------
// validateBlockBody.

test('validateBlockBody accepts a header that commits to its body', () => {
  validateBlockBody(BLOCK);
  validateBlockBody(FIRST);
});

function withHeader(block: Block, change: Partial<Header>): Block {
  return { ...block, header: { ...block.header, ...change } };
}

test('validateBlockBody refuses a tampered dataHash, or txs that do not match it', () => {
  const message = /dataHash/;
  throwsCode(
    () => validateBlockBody(withHeader(BLOCK, { dataHash: filled(32, 0) })),
    'BLOCK_INVALID',
    message,
  );
  throwsCode(
    () => validateBlockBody({ ...BLOCK, txs: [...TXS, Uint8Array.of(4)] }),
    'BLOCK_INVALID',
    message,
  );
  throwsCode(
    () => validateBlockBody({ ...BLOCK, txs: [TXS[1]!, TXS[0]!, TXS[2]!] }),
    'BLOCK_INVALID',
    message,
  );
});

test('validateBlockBody refuses a tampered evidenceHash, or dropped evidence', () => {
  const message = /evidenceHash/;
  throwsCode(
    () => validateBlockBody(withHeader(BLOCK, { evidenceHash: filled(32, 0) })),
    'BLOCK_INVALID',
    message,
  );
  throwsCode(() => validateBlockBody({ ...BLOCK, evidence: [] }), 'BLOCK_INVALID', message);
});

test('validateBlockBody refuses a tampered lastCommitHash, or a changed last commit', () => {
  const message = /lastCommitHash/;
  throwsCode(
    () => validateBlockBody(withHeader(BLOCK, { lastCommitHash: filled(32, 0) })),
    'BLOCK_INVALID',
    message,
  );
  const commit = BLOCK.lastCommit!;
  const dropped = {
    ...commit,
    signatures: commit.signatures.map((s, i) =>
      i === 0 ? ({ flag: 1, signature: new Uint8Array(0) } as const) : s,
    ),
  };
  throwsCode(() => validateBlockBody({ ...BLOCK, lastCommit: dropped }), 'BLOCK_INVALID', message);
  throwsCode(() => validateBlockBody({ ...FIRST, lastCommit: commit }), 'BLOCK_INVALID', message);
});

test('validateBlockBody: a last commit exactly when there is a last block id, and for that block', () => {
  // A header naming a last block but carrying no last commit (hashes otherwise consistent).
  const noCommit = makeBlock({ txs: [], evidence: [], lastCommit: null }, BLOCK_A);
  throwsCode(() => validateBlockBody(noCommit), 'BLOCK_INVALID', /exactly when/);
  // A last commit without a last block id.
  const orphan = makeBlock({ txs: [], evidence: [], lastCommit: lastCommitFor(BLOCK_A) }, new Uint8Array(0));
  throwsCode(() => validateBlockBody(orphan), 'BLOCK_INVALID', /exactly when/);
  // A last commit for another block than the last block id.
  const other = makeBlock({ txs: [], evidence: [], lastCommit: lastCommitFor(BLOCK_B) }, BLOCK_A);
  throwsCode(() => validateBlockBody(other), 'BLOCK_INVALID', /last commit is not for the last block id/);
});

test.run();
