/**
 * packages/types/validator.ts: addresses, makeValidatorSet (order by power desc then address, and
 * every refusal), exact two-thirds and one-third thresholds at their boundaries (bigint totals above
 * 2^53), the golden validator set hash, and the field codec of a set.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '../../../packages/codec/canonical.ts';
import { keyPairFromSeed } from '../../../packages/crypto/ed25519.ts';
import { merkleRoot, sha256 } from '../../../packages/crypto/hash.ts';
import {
  ADDRESS_BYTES,
  addressOf,
  decodeValidatorSetFields,
  encodeValidatorSetFields,
  indexOfAddress,
  isOneThirdPlus,
  isTwoThirdsMajority,
  MAX_TOTAL_VOTING_POWER,
  MAX_VALIDATORS,
  makeValidatorSet,
  newValidator,
  type Validator,
  validatorSetHash,
} from '../../../packages/types/validator.ts';
import { filled, hex, KEYS, SET, throwsCode, unhex } from './fixtures.ts';

const keyOf = (i: number) => keyPairFromSeed(filled(32, i)).publicKey;

test('address is the first 20 bytes of sha256(public key)', () => {
  const pub = KEYS[0]!.publicKey;
  assert.is(ADDRESS_BYTES, 20);
  assert.is(hex(addressOf(pub)), hex(sha256(pub)).slice(0, 40));
  assert.is(addressOf(pub).length, 20);
  // Seed 0x01 * 32: its public key and address, computed independently with @noble/curves.
  assert.is(hex(pub), '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c');
});

test('makeValidatorSet sorts by voting power (descending), then address (ascending)', () => {
  const input = [
    newValidator(KEYS[0]!.publicKey, 5n),
    newValidator(KEYS[1]!.publicKey, 10n),
    newValidator(KEYS[2]!.publicKey, 1n),
    newValidator(KEYS[3]!.publicKey, 10n),
  ];
  const set = makeValidatorSet(input);
  const powers = set.validators.map((v) => v.votingPower);
  assert.equal(powers, [10n, 10n, 5n, 1n]);
  const [first, second] = set.validators;
  assert.ok(Buffer.compare(first!.address, second!.address) < 0, 'ties are broken by address');
  assert.is(set.totalVotingPower, 26n);
  // The caller's array is left as it was.
  assert.equal(
    input.map((v) => v.votingPower),
    [5n, 10n, 1n, 10n],
  );
});

test('the fixture set of four equal validators is in address order', () => {
  const addresses = SET.validators.map((v) => hex(v.address));
  assert.equal(addresses, [...addresses].sort());
  assert.is(SET.totalVotingPower, 40n);
});

test('power decides before address: a larger power comes first whatever its address', () => {
  const [low, high] = [...KEYS].sort((a, b) =>
    Buffer.compare(addressOf(a.publicKey), addressOf(b.publicKey)),
  );
  const set = makeValidatorSet([newValidator(low!.publicKey, 1n), newValidator(high!.publicKey, 2n)]);
  assert.is(hex(set.validators[0]!.pubKey), hex(high!.publicKey));
});

test('makeValidatorSet refuses an empty set and more than MAX_VALIDATORS', () => {
  throwsCode(() => makeValidatorSet([]), 'VALIDATOR_SET_INVALID');
  const many = Array.from({ length: MAX_VALIDATORS + 1 }, (_, i) => {
    const seed = new Uint8Array(32);
    seed[0] = i & 0xff;
    seed[1] = i >> 8;
    return newValidator(keyPairFromSeed(seed).publicKey, 1n);
  });
  assert.is(makeValidatorSet(many.slice(0, MAX_VALIDATORS)).validators.length, MAX_VALIDATORS);
  throwsCode(() => makeValidatorSet(many), 'VALIDATOR_SET_INVALID');
});

test('makeValidatorSet refuses duplicates, zero or negative power and a mismatched address', () => {
  const a = newValidator(KEYS[0]!.publicKey, 1n);
  const b = newValidator(KEYS[1]!.publicKey, 1n);
  throwsCode(() => makeValidatorSet([a, b, { ...a, votingPower: 3n }]), 'VALIDATOR_SET_INVALID', /duplicate/);
  throwsCode(() => makeValidatorSet([a, { ...b, votingPower: 0n }]), 'VALIDATOR_SET_INVALID', /positive/);
  throwsCode(() => makeValidatorSet([{ ...a, votingPower: -1n }]), 'VALIDATOR_SET_INVALID', /positive/);
  throwsCode(() => makeValidatorSet([{ ...a, address: b.address }]), 'VALIDATOR_SET_INVALID', /address/);
  const short = KEYS[0]!.publicKey.subarray(0, 31);
  const bad: Validator = { address: addressOf(short), pubKey: short, votingPower: 1n, proposerPriority: 0n };
  throwsCode(() => makeValidatorSet([bad]), 'VALIDATOR_SET_INVALID');
});

test('makeValidatorSet caps the total voting power exactly at MAX_TOTAL_VOTING_POWER', () => {
  assert.is(MAX_TOTAL_VOTING_POWER, (2n ** 63n - 1n) / 8n);
  const half = MAX_TOTAL_VOTING_POWER / 2n;
  const rest = MAX_TOTAL_VOTING_POWER - half;
  const ok = makeValidatorSet([newValidator(keyOf(1), half), newValidator(keyOf(2), rest)]);
  assert.is(ok.totalVotingPower, MAX_TOTAL_VOTING_POWER);
  throwsCode(
    () => makeValidatorSet([newValidator(keyOf(1), half), newValidator(keyOf(2), rest + 1n)]),
    'VALIDATOR_SET_INVALID',
    /too large/,
  );
});

test('indexOfAddress finds each validator and returns -1 for a stranger', () => {
  SET.validators.forEach((v, i) => {
    assert.is(indexOfAddress(SET, v.address), i);
  });
  assert.is(indexOfAddress(SET, new Uint8Array(20)), -1);
});

test('isTwoThirdsMajority: strictly more than two thirds', () => {
  assert.not.ok(isTwoThirdsMajority(2n, 3n), '2 of 3 is exactly two thirds, not more');
  assert.ok(isTwoThirdsMajority(3n, 4n));
  assert.not.ok(isTwoThirdsMajority(20n, 30n));
  assert.ok(isTwoThirdsMajority(21n, 30n));
  assert.not.ok(isTwoThirdsMajority(6n, 9n));
  assert.ok(isTwoThirdsMajority(7n, 10n));
  assert.not.ok(isTwoThirdsMajority(0n, 0n));
  assert.ok(isTwoThirdsMajority(1n, 1n));
});

test('isTwoThirdsMajority: exact at the boundary with totals far above 2^53', () => {
  const unit = 2n ** 58n + 1n; // powers whose thirds are not representable as doubles
  const total = 3n * unit;
  assert.not.ok(isTwoThirdsMajority(2n * unit, total));
  assert.ok(isTwoThirdsMajority(2n * unit + 1n, total));
  // A double-precision check would see these two as the same number.
  assert.is(Number(2n * unit), Number(2n * unit + 1n));
  const max = MAX_TOTAL_VOTING_POWER - (MAX_TOTAL_VOTING_POWER % 3n);
  assert.not.ok(isTwoThirdsMajority((max / 3n) * 2n, max));
  assert.ok(isTwoThirdsMajority((max / 3n) * 2n + 1n, max));
});

test('isOneThirdPlus: strictly more than one third', () => {
  assert.not.ok(isOneThirdPlus(1n, 3n));
  assert.ok(isOneThirdPlus(2n, 4n));
  assert.not.ok(isOneThirdPlus(1n, 4n), '1 of 4 is less than a third');
  assert.ok(isOneThirdPlus(2n, 5n));
  assert.not.ok(isOneThirdPlus(10n, 30n));
  assert.ok(isOneThirdPlus(11n, 30n));
  const unit = 2n ** 58n + 1n;
  assert.not.ok(isOneThirdPlus(unit, 3n * unit));
  assert.ok(isOneThirdPlus(unit + 1n, 3n * unit));
});

test('GOLDEN: validatorSetHash of the four fixture validators (seeds 0x01..0x04, power 10)', () => {
  // A change here is a consensus-breaking encoding change.
  // Each leaf is encode([pubKey, power]) = 92 | c4 20 <32-byte key> | d3 000000000000000a,
  // in set order, under the RFC 6962 Merkle root.
  const leaves = SET.validators.map((v) => unhex(`92c420${hex(v.pubKey)}d3000000000000000a`));
  assert.is(hex(encode([SET.validators[0]!.pubKey, 10n])), hex(leaves[0]!));
  assert.is(hex(validatorSetHash(SET)), hex(merkleRoot(leaves)));
  assert.is(hex(validatorSetHash(SET)), '5d97a8d5784bcb5686b4aed08e4528c93d9dc0bd4063dadec8367e9f23b6b32c');
});

test('validatorSetHash commits to keys and powers, not to proposer priorities', () => {
  const base = hex(validatorSetHash(SET));
  const reprioritised = {
    ...SET,
    validators: SET.validators.map((v, i) => ({ ...v, proposerPriority: BigInt(i * 7 - 5) })),
  };
  assert.is(hex(validatorSetHash(reprioritised)), base);
  const repowered = makeValidatorSet(
    SET.validators.map((v, i) => ({ ...v, votingPower: i === 0 ? 11n : 10n })),
  );
  assert.is.not(hex(validatorSetHash(repowered)), base);
  const fewer = makeValidatorSet(SET.validators.slice(0, 3));
  assert.is.not(hex(validatorSetHash(fewer)), base);
});

test('validator set fields round trip through the codec, priorities included', () => {
  const set = makeValidatorSet(
    KEYS.map((k, i) => ({
      ...newValidator(k.publicKey, BigInt(i + 1)),
      proposerPriority: BigInt(5 - 3 * i),
    })),
  );
  const back = decodeValidatorSetFields(decode(encode(encodeValidatorSetFields(set))));
  assert.is(back.totalVotingPower, set.totalVotingPower);
  assert.equal(
    back.validators.map((v) => [hex(v.address), hex(v.pubKey), v.votingPower, v.proposerPriority]),
    set.validators.map((v) => [hex(v.address), hex(v.pubKey), v.votingPower, v.proposerPriority]),
  );
});

test('decodeValidatorSetFields refuses malformed fields', () => {
  const pub = KEYS[0]!.publicKey;
  throwsCode(() => decodeValidatorSetFields('x'), 'CODEC_SCHEMA', /^validators:/);
  throwsCode(() => decodeValidatorSetFields([[pub, 1n]]), 'CODEC_SCHEMA', /validators\[0\]/);
  throwsCode(() => decodeValidatorSetFields([[pub.subarray(1), 1n, 0n]]), 'CODEC_SCHEMA', /pubKey/);
  throwsCode(() => decodeValidatorSetFields([[pub, -1n, 0n]]), 'CODEC_SCHEMA', /votingPower/);
  throwsCode(() => decodeValidatorSetFields([[pub, 1, 0n]]), 'CODEC_SCHEMA', /votingPower/);
  throwsCode(() => decodeValidatorSetFields([[pub, 1n, 0]]), 'CODEC_SCHEMA', /proposerPriority/);
  throwsCode(() => decodeValidatorSetFields([[pub, 0n, 0n]]), 'VALIDATOR_SET_INVALID');
  throwsCode(() => decodeValidatorSetFields([]), 'VALIDATOR_SET_INVALID');
  const tooMany = Array.from({ length: MAX_VALIDATORS + 1 }, () => [pub, 1n, 0n]);
  throwsCode(() => decodeValidatorSetFields(tooMany), 'CODEC_SCHEMA', /at most 200/);
});

test.run();
