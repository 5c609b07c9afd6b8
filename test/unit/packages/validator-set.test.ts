/**
 * Proposer rotation: CometBFT's own published expectations (types/validator_set_test.go and
 * state/state_test.go, cited by test name), the integer corner cases of its arithmetic, fairness,
 * determinism, bigint powers, ties, new-validator priorities and refused inputs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CareLedgerError } from '../../../packages/core/errors.ts';
import { seededRandom } from '../../../packages/core/seeded-random.ts';
import { MAX_TOTAL_VOTING_POWER } from '../../../packages/types/validator.ts';
import {
  applyValidatorUpdates,
  incrementProposerPriority,
  newValidatorSet,
  type PriorityValidator,
  proposerIndex,
  rotateProposer,
} from '../../../packages/types/validator-set.ts';

interface TestValidator extends PriorityValidator {
  /** Stands for the caller's extra fields (a public key): must pass through untouched. */
  readonly tag: string;
}

const MAX_INT64 = 2n ** 63n - 1n;
const MIN_INT64 = -(2n ** 63n);
const enc = new TextEncoder();
const dec = new TextDecoder();

function val(name: string | Uint8Array, votingPower: bigint, proposerPriority = 0n, tag = ''): TestValidator {
  const address = typeof name === 'string' ? enc.encode(name) : name;
  return { address, votingPower, proposerPriority, tag };
}

function nameOf(v: PriorityValidator): string {
  return dec.decode(v.address);
}

/** As CometBFT's toTestValList: [name, power] in set order. */
function namePowers(vs: readonly PriorityValidator[]): [string, bigint][] {
  return vs.map((v) => [nameOf(v), v.votingPower]);
}

function priorities(vs: readonly PriorityValidator[]): bigint[] {
  return vs.map((v) => v.proposerPriority);
}

function tv(list: [string, bigint][]): TestValidator[] {
  return list.map(([n, p]) => val(n, p));
}

/** As CometBFT's testValSet: v1..vn, all of one power. */
function testValSet(n: number, power: bigint): [string, bigint][] {
  return Array.from({ length: n }, (_, i): [string, bigint] => [`v${i + 1}`, power]);
}

function createSet(list: [string, bigint][]): TestValidator[] {
  return newValidatorSet(tv(list)).validators;
}

/** Address of 20 bytes ending in `last`, as in TestProposerSelection2. */
function addr20(last: number): Uint8Array {
  const a = new Uint8Array(20);
  a[19] = last;
  return a;
}

function throwsCode(fn: () => unknown, code: string, msg = ''): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CareLedgerError, `${msg} expected CareLedgerError ${code}, got ${String(err)}`);
  assert.is(err.code, code, msg);
}

/** As CometBFT's verifyValidatorSet: priorities centred and within the window. */
function verifyCentredAndScaled(vs: readonly PriorityValidator[], msg = ''): void {
  const n = BigInt(vs.length);
  const total = vs.reduce((s, v) => s + v.votingPower, 0n);
  const sum = vs.reduce((s, v) => s + v.proposerPriority, 0n);
  assert.ok(sum < n && sum > -n, `${msg} total priority ${sum} not in (-${n}, ${n})`);
  const ps = priorities(vs).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const dist = ps[ps.length - 1]! - ps[0]!;
  assert.ok(dist <= 2n * total, `${msg} priority distance ${dist} above ${2n * total}`);
}

// ---------------------------------------------------------------- CometBFT published vectors

test('MAX_TOTAL_VOTING_POWER is MaxInt64 / 8', () => {
  assert.is(MAX_TOTAL_VOTING_POWER, 1152921504606846975n);
});

test('TestProposerSelection1: foo=1000 bar=300 baz=330, 99 proposers', () => {
  let r = newValidatorSet([val('foo', 1000n), val('bar', 300n), val('baz', 330n)]);
  const proposers: string[] = [];
  for (let i = 0; i < 99; i++) {
    proposers.push(nameOf(r.validators[r.proposer]!));
    r = rotateProposer(r.validators, 1);
  }
  const expected =
    'foo baz foo bar foo foo baz foo bar foo foo baz foo foo bar foo baz foo foo bar' +
    ' foo foo baz foo bar foo foo baz foo bar foo foo baz foo foo bar foo baz foo foo bar' +
    ' foo baz foo foo bar foo baz foo foo bar foo baz foo foo foo baz bar foo foo foo baz' +
    ' foo bar foo foo baz foo bar foo foo baz foo bar foo foo baz foo bar foo foo baz foo' +
    ' foo bar foo baz foo foo bar foo baz foo foo bar foo baz foo foo';
  assert.is(proposers.join(' '), expected);
});

test('TestProposerSelection1 needs the chosen proposer: the max-priority validator differs', () => {
  // After an increment the chosen validator has had the total subtracted, so proposerIndex
  // (CometBFT's findProposer) names someone else: the rotation result must carry the proposer.
  const r = newValidatorSet([val('foo', 1000n), val('bar', 300n), val('baz', 330n)]);
  assert.is(nameOf(r.validators[r.proposer]!), 'foo');
  assert.is.not(proposerIndex(r.validators), r.proposer);
});

test('TestProposerSelection2: equal powers go in address order', () => {
  const list = [val(addr20(0), 100n), val(addr20(1), 100n), val(addr20(2), 100n)];
  let r = newValidatorSet(list);
  for (let i = 0; i < 15; i++) {
    assert.equal(r.validators[r.proposer]!.address, addr20(i % 3), `round ${i}`);
    r = rotateProposer(r.validators, 1);
  }
});

test('TestProposerSelection2: 400 proposes once then the lowest address; 401 proposes twice', () => {
  let r = newValidatorSet([val(addr20(0), 100n), val(addr20(1), 100n), val(addr20(2), 400n)]);
  assert.equal(r.validators[r.proposer]!.address, addr20(2));
  r = rotateProposer(r.validators, 1);
  assert.equal(r.validators[r.proposer]!.address, addr20(0));

  r = newValidatorSet([val(addr20(0), 100n), val(addr20(1), 100n), val(addr20(2), 401n)]);
  assert.equal(r.validators[r.proposer]!.address, addr20(2));
  r = rotateProposer(r.validators, 1);
  assert.equal(r.validators[r.proposer]!.address, addr20(2));
  r = rotateProposer(r.validators, 1);
  assert.equal(r.validators[r.proposer]!.address, addr20(0));
});

test('TestProposerSelection2: powers 4, 5, 3 propose exactly 40, 50, 30 times in 120 rounds', () => {
  let r = newValidatorSet([val(addr20(0), 4n), val(addr20(1), 5n), val(addr20(2), 3n)]);
  const counts = [0, 0, 0];
  for (let i = 0; i < 120; i++) {
    counts[r.validators[r.proposer]!.address[19]!]!++;
    r = rotateProposer(r.validators, 1);
  }
  assert.equal(counts, [40, 50, 30]);
});

test('TestProposerSelection3: with times > 1 the order of four equal validators is kept', () => {
  const rand = seededRandom(3);
  const vals = Array.from({ length: 4 }, () =>
    val(
      Uint8Array.from({ length: 20 }, () => Math.floor(rand() * 256)),
      1n,
    ),
  );
  let r = newValidatorSet(vals);
  const order: Uint8Array[] = [];
  for (let i = 0; i < 4; i++) {
    order.push(r.validators[r.proposer]!.address);
    r = rotateProposer(r.validators, 1);
  }
  assert.is(new Set(order.map((a) => a.join())).size, 4);
  let j = 0;
  for (let i = 0; i < 10000; i++) {
    assert.equal(r.validators[r.proposer]!.address, order[j % 4], `iteration ${i}, j ${j}`);
    const times = rand() < 0.5 ? 1 : Math.floor(rand() * 4) + 1;
    r = rotateProposer(r.validators, times);
    j += times;
  }
});

test('TestAveragingInIncrementProposerPriorityWithVotingPower: all 11 cases', () => {
  const vp0 = 10n;
  const vp1 = 1n;
  const vp2 = 1n;
  const total = vp0 + vp1 + vp2;
  const avg = 0n; // (vp0 + vp1 + vp2 - total) / 3
  const vals = [
    val(Uint8Array.of(0), vp0, 0n),
    val(Uint8Array.of(1), vp1, 0n),
    val(Uint8Array.of(2), vp2, 0n),
  ];
  const cases: [number, bigint[], number][] = [
    [1, [0n + vp0 - total - avg, 0n + vp1, 0n + vp2], 0],
    [2, [0n + vp0 - total + vp0 - total - avg, 0n + vp1 + vp1, 0n + vp2 + vp2], 0],
    [3, [0n + 3n * (vp0 - total) - avg, 0n + 3n * vp1, 0n + 3n * vp2], 0],
    [4, [0n + 4n * (vp0 - total), 0n + 4n * vp1, 0n + 4n * vp2], 0],
    [5, [0n + 4n * (vp0 - total) + vp0, 0n + 5n * vp1 - total, 0n + 5n * vp2], 1],
    [6, [0n + 6n * vp0 - 5n * total, 0n + 6n * vp1 - total, 0n + 6n * vp2], 0],
    [7, [0n + 7n * vp0 - 6n * total, 0n + 7n * vp1 - total, 0n + 7n * vp2], 0],
    [8, [0n + 8n * vp0 - 7n * total, 0n + 8n * vp1 - total, 0n + 8n * vp2], 0],
    [9, [0n + 9n * vp0 - 7n * total, 0n + 9n * vp1 - total, 0n + 9n * vp2 - total], 2],
    [10, [0n + 10n * vp0 - 8n * total, 0n + 10n * vp1 - total, 0n + 10n * vp2 - total], 0],
    [11, [0n + 11n * vp0 - 9n * total, 0n + 11n * vp1 - total, 0n + 11n * vp2 - total], 0],
  ];
  for (const [times, want, proposer] of cases) {
    const r = rotateProposer(vals, times);
    assert.equal(priorities(r.validators), want, `times ${times}`);
    assert.is(r.proposer, proposer, `times ${times}`);
  }
});

test('TestProposerPriorityDoesNotGetResetToZero: add power 100 to power 10, then lower it to 1', () => {
  // Each block in CometBFT's UpdateState: UpdateWithChangeSet, then IncrementProposerPriority(1).
  const v1 = Uint8Array.from({ length: 20 }, (_, i) => 0xa0 + i);
  const v2 = Uint8Array.from({ length: 20 }, (_, i) => 0x10 + i);
  let r = newValidatorSet([val(v1, 10n)]);
  assert.equal(priorities(r.validators), [0n]);
  r = rotateProposer(applyValidatorUpdates(r.validators, []), 1);
  assert.equal(priorities(r.validators), [0n]); // 0 + power - total

  // Add v2 (100): it starts at -(110 + 110 >> 3) = -123; centring with big.Int Div (floor):
  // avg = floor(-123 / 2) = -62, so v2 = -61 and v1 = 62 (truncation would give -62 and 61).
  const added = applyValidatorUpdates(r.validators, [val(v2, 100n)]);
  assert.equal(
    added.map((v) => [v.address, v.proposerPriority]),
    [
      [v2, -61n],
      [v1, 62n],
    ],
  );
  r = rotateProposer(added, 1);
  assert.equal(
    r.validators.map((v) => [v.address, v.proposerPriority]),
    [
      [v2, 39n],
      [v1, -38n],
    ],
  );
  assert.equal(r.validators[r.proposer]!.address, v1);

  // v2 down to 1: diff 77 > 2 * 11, ratio (77 + 21) / 22 = 4; -38 / 4 = -9 (Go truncates), 39 / 4 = 9.
  r = rotateProposer(applyValidatorUpdates(r.validators, [val(v2, 1n)]), 1);
  assert.equal(
    r.validators.map((v) => [v.address, v.proposerPriority]),
    [
      [v1, 1n],
      [v2, -1n],
    ],
  );
  assert.equal(r.validators[r.proposer]!.address, v2);
});

test('TestProposerPriorityProposerAlternates: equal powers alternate after the second joins', () => {
  for (const [a1, a2] of [
    [addr20(1), addr20(2)],
    [addr20(2), addr20(1)],
  ] as const) {
    const label = `v1 ${a1[19]}, v2 ${a2[19]}`;
    let r = newValidatorSet([val(a1, 10n)]);
    r = rotateProposer(applyValidatorUpdates(r.validators, []), 1);
    assert.equal(priorities(r.validators), [0n], label);
    assert.equal(r.validators[r.proposer]!.address, a1, label);

    // v2 joins at -(20 + 2) = -22; centre: avg -11 -> v2 -11, v1 11; increment: v1 1, v2 -1.
    r = rotateProposer(applyValidatorUpdates(r.validators, [val(a2, 10n)]), 1);
    const prio = (x: Uint8Array) => r.validators.find((v) => v.address === x)!.proposerPriority;
    assert.is(prio(a1), 1n, label);
    assert.is(prio(a2), -1n, label);
    assert.equal(r.validators[r.proposer]!.address, a1, label);

    r = rotateProposer(applyValidatorUpdates(r.validators, []), 1);
    assert.is(prio(a1), -9n, label);
    assert.is(prio(a2), 9n, label);
    assert.equal(r.validators[r.proposer]!.address, a1, label);

    for (let i = 0; i < 1000; i++) {
      r = rotateProposer(r.validators, 1);
      const proposer = r.validators[r.proposer]!.address;
      if (i % 2 === 0) {
        assert.equal(proposer, a2, `${label} iteration ${i}`);
        assert.equal([prio(a1), prio(a2)], [1n, -1n], `${label} iteration ${i}`);
      } else {
        assert.equal(proposer, a1, `${label} iteration ${i}`);
        assert.equal([prio(a1), prio(a2)], [-9n, 9n], `${label} iteration ${i}`);
      }
    }
  }
});

test('TestLargeGenesisValidator: a lone validator of power MAX/1000 keeps priority 0', () => {
  let r = newValidatorSet([val('genesis', MAX_TOTAL_VOTING_POWER / 1000n)]);
  for (let i = 0; i < 10; i++) {
    r = rotateProposer(applyValidatorUpdates(r.validators, []), 1);
    assert.equal(priorities(r.validators), [0n]);
    assert.is(r.proposer, 0);
  }
});

test('TestValSetUpdatesBasicTestsExecute: results sorted by power then address, centred', () => {
  const cases: [[string, bigint][], [string, bigint][], [string, bigint][]][] = [
    [testValSet(2, 10n), [], testValSet(2, 10n)],
    [
      testValSet(2, 10n),
      [
        ['v2', 22n],
        ['v1', 11n],
      ],
      [
        ['v2', 22n],
        ['v1', 11n],
      ],
    ],
    [
      [
        ['v2', 20n],
        ['v1', 10n],
      ],
      [
        ['v4', 40n],
        ['v3', 30n],
      ],
      [
        ['v4', 40n],
        ['v3', 30n],
        ['v2', 20n],
        ['v1', 10n],
      ],
    ],
    [
      [
        ['v3', 20n],
        ['v1', 10n],
      ],
      [['v2', 30n]],
      [
        ['v2', 30n],
        ['v3', 20n],
        ['v1', 10n],
      ],
    ],
    [
      [
        ['v3', 20n],
        ['v2', 10n],
      ],
      [['v1', 30n]],
      [
        ['v1', 30n],
        ['v3', 20n],
        ['v2', 10n],
      ],
    ],
    [
      [
        ['v3', 30n],
        ['v2', 20n],
        ['v1', 10n],
      ],
      [['v2', 0n]],
      [
        ['v3', 30n],
        ['v1', 10n],
      ],
    ],
  ];
  cases.forEach(([start, changes, expected], i) => {
    const result = applyValidatorUpdates(createSet(start), tv(changes));
    assert.equal(namePowers(result), expected, `case ${i}`);
    verifyCentredAndScaled(result, `case ${i}`);
  });
});

test('TestValSetUpdatesOrderIndependenceTestsExecute: the order of changes does not matter', () => {
  const cases: [[string, bigint][], [string, bigint][]][] = [
    [
      [
        ['v4', 40n],
        ['v3', 30n],
        ['v2', 10n],
        ['v1', 10n],
      ],
      [
        ['v4', 44n],
        ['v3', 33n],
        ['v2', 22n],
        ['v1', 11n],
      ],
    ],
    [
      [
        ['v2', 20n],
        ['v1', 10n],
      ],
      [
        ['v3', 30n],
        ['v4', 40n],
        ['v5', 50n],
        ['v6', 60n],
      ],
    ],
    [
      [
        ['v4', 40n],
        ['v3', 30n],
        ['v2', 20n],
        ['v1', 10n],
      ],
      [
        ['v1', 0n],
        ['v3', 0n],
        ['v4', 0n],
      ],
    ],
    [
      [
        ['v4', 40n],
        ['v3', 30n],
        ['v2', 20n],
        ['v1', 10n],
      ],
      [
        ['v1', 0n],
        ['v3', 0n],
        ['v2', 22n],
        ['v5', 50n],
        ['v4', 44n],
      ],
    ],
  ];
  const rand = seededRandom(7);
  cases.forEach(([start, changes], i) => {
    // Start from a set whose priorities are not all zero.
    const set = incrementProposerPriority(createSet(start), 3);
    const expected = applyValidatorUpdates(set, tv(changes));
    for (let p = 0; p < 20; p++) {
      const shuffled = changes.slice().sort(() => rand() - 0.5);
      const got = applyValidatorUpdates(set, tv(shuffled));
      verifyCentredAndScaled(got, `case ${i}`);
      assert.equal(got, expected, `case ${i} permutation ${p}`);
    }
  });
});

test('TestValSetUpdatePriorityOrderTests: new validators get the lowest, equal priority', () => {
  const cases: { start: [string, bigint][]; changes: [string, bigint][]; expected: [string, bigint][] }[] = [
    {
      start: [
        ['v3', 1000n],
        ['v1', 1n],
        ['v2', 1n],
      ],
      changes: [['v3', 0n]],
      expected: [
        ['v1', 1n],
        ['v2', 1n],
      ],
    },
    {
      start: [
        ['v3', 1000n],
        ['v2', 10n],
        ['v1', 1n],
      ],
      changes: [['v3', 0n]],
      expected: [
        ['v2', 10n],
        ['v1', 1n],
      ],
    },
    {
      start: [
        ['v3', 1000n],
        ['v2', 2n],
        ['v1', 1n],
      ],
      changes: [
        ['v5', 50n],
        ['v4', 40n],
        ['v2', 1n],
        ['v3', 0n],
      ],
      expected: [
        ['v5', 50n],
        ['v4', 40n],
        ['v1', 1n],
        ['v2', 1n],
      ],
    },
  ];
  cases.forEach(({ start, changes, expected }, i) => {
    for (const times of [1, 2, 17, 999, 4999]) {
      const set = incrementProposerPriority(createSet(start), times);
      const got = applyValidatorUpdates(set, tv(changes));
      assert.equal(namePowers(got), expected, `case ${i} times ${times}`);
      verifyCentredAndScaled(got, `case ${i} times ${times}`);
      const added = got.filter((v) => !start.some(([n]) => n === nameOf(v)));
      const others = got.filter((v) => start.some(([n]) => n === nameOf(v)));
      for (const a of added) {
        assert.is(a.proposerPriority, added[0]!.proposerPriority, `case ${i} times ${times}`);
        for (const o of others)
          assert.ok(a.proposerPriority < o.proposerPriority, `case ${i} times ${times}`);
      }
    }
  });
});

test('TestValSetUpdateOverflowRelated: no false overflow; 8 x MaxTotalVotingPower overflows', () => {
  const M = MAX_TOTAL_VOTING_POWER;
  const ok: { start: [string, bigint][]; changes: [string, bigint][]; expected: [string, bigint][] }[] = [
    {
      start: [
        ['v2', M - 1n],
        ['v1', 1n],
      ],
      changes: [
        ['v1', M - 1n],
        ['v2', 1n],
      ],
      expected: [
        ['v1', M - 1n],
        ['v2', 1n],
      ],
    },
    {
      start: [
        ['v2', M - 1n],
        ['v1', 1n],
      ],
      changes: [
        ['v1', M / 2n - 1n],
        ['v2', M / 2n],
      ],
      expected: [
        ['v2', M / 2n],
        ['v1', M / 2n - 1n],
      ],
    },
    {
      start: [
        ['v1', M - 2n],
        ['v2', 1n],
        ['v3', 1n],
      ],
      changes: [
        ['v4', M - 2n],
        ['v1', 0n],
      ],
      expected: [
        ['v4', M - 2n],
        ['v2', 1n],
        ['v3', 1n],
      ],
    },
    {
      start: [
        ['v1', M / 4n],
        ['v2', M / 4n],
        ['v3', M / 4n],
        ['v4', M / 4n],
      ],
      changes: [
        ['v5', 3n],
        ['v1', M / 2n - 2n],
        ['v3', M / 2n - 3n],
        ['v4', 2n],
        ['v2', 0n],
      ],
      expected: [
        ['v1', M / 2n - 2n],
        ['v3', M / 2n - 3n],
        ['v5', 3n],
        ['v4', 2n],
      ],
    },
  ];
  ok.forEach(({ start, changes, expected }, i) => {
    const got = applyValidatorUpdates(createSet(start), tv(changes));
    assert.equal(namePowers(got), expected, `case ${i + 1}`);
    verifyCentredAndScaled(got, `case ${i + 1}`);
  });
  const nine = createSet(testValSet(9, 1n));
  const changes = tv([...testValSet(8, M), ['v9', 8n]]);
  throwsCode(() => applyValidatorUpdates(nine, changes), 'VALIDATOR_SET_POWER_OVERFLOW', 'case 5');
});

// ---------------------------------------------------------------- integer semantics

test('average is big.Int Div (floor), not truncation: priorities -2, 0, 0', () => {
  // avg = floor(-2 / 3) = -1 -> [-1, 1, 1]; +1 each -> [0, 2, 2]; tie b/c -> b; b - 3 = -1.
  // (Truncation would give avg 0 and [-1, -2, 1].)
  const r = rotateProposer([val('a', 1n, -2n), val('b', 1n, 0n), val('c', 1n, 0n)], 1);
  assert.equal(priorities(r.validators), [0n, -1n, 2n]);
  assert.is(r.proposer, 1);
});

test('rescale divides with truncation toward zero (TestAveragingInIncrementProposerPriority case 2, power 1)', () => {
  // diff 110 > 2 * 3, ratio = (110 + 5) / 6 = 19; 100/19 = 5, -10/19 = 0 (floor would be -1),
  // 1/19 = 0; avg floor(5 / 3) = 1 -> [4, -1, -1]; +1 -> [5, 0, 0]; a proposes: 5 - 3 = 2.
  const r = rotateProposer([val('a', 1n, 100n), val('b', 1n, -10n), val('c', 1n, 1n)], 1);
  assert.equal(priorities(r.validators), [2n, 0n, 0n]);
  assert.is(r.proposer, 0);
});

test('TestAvgProposerPriority inputs at the int64 bounds', () => {
  // {MaxInt64, MaxInt64}: avg MaxInt64 -> [0, 0] -> [1, 1] -> tie to 'a' -> [-1, 1].
  let r = rotateProposer([val('a', 1n, MAX_INT64), val('b', 1n, MAX_INT64)], 1);
  assert.equal(priorities(r.validators), [-1n, 1n]);
  // {MinInt64, MinInt64}: avg MinInt64, MinInt64 - MinInt64 = 0 -> same.
  r = rotateProposer([val('a', 1n, MIN_INT64), val('b', 1n, MIN_INT64)], 1);
  assert.equal(priorities(r.validators), [-1n, 1n]);
  // {MaxInt64, 0, 0}: diff + diffMax - 1 = MaxInt64 + 5 wraps in Go's int64 to MinInt64 + 4, so
  // ratio = (MinInt64 + 4) / 6 = -1537228672809129300 and MaxInt64 / ratio = -6 (exact ceil
  // arithmetic would give +6): [-6, 0, 0] -> avg -2 -> [-4, 2, 2] -> [-3, 3, 3] -> b: [-3, 0, 3].
  r = rotateProposer([val('a', 1n, MAX_INT64), val('b', 1n, 0n), val('c', 1n, 0n)], 1);
  assert.equal(priorities(r.validators), [-3n, 0n, 3n]);
  assert.is(r.proposer, 1);
});

test('clipping at the int64 bounds (safeSubClip/safeAddClip)', () => {
  // max - min = MaxInt64 - MinInt64 wraps to -1, so |diff| = 1 and nothing is rescaled;
  // avg = floor(-1 / 2) = -1; MaxInt64 + 1 clips to MaxInt64, then + 1 clips again; a proposes
  // and loses the total 2: MaxInt64 - 2. b: MinInt64 + 1 + 1.
  const r = rotateProposer([val('a', 1n, MAX_INT64), val('b', 1n, MIN_INT64)], 1);
  assert.equal(priorities(r.validators), [MAX_INT64 - 2n, MIN_INT64 + 2n]);
  assert.is(r.proposer, 0);
});

// ---------------------------------------------------------------- fairness and determinism

test('fairness: from genesis, exact counts over one cycle of total-power rounds', () => {
  const sets: bigint[][] = [
    [4n, 5n, 3n],
    [1000n, 300n, 330n],
    [1n, 2n, 3n, 4n],
    [7n, 1n],
    [13n, 8n, 5n, 3n, 2n, 1n],
  ];
  for (const powers of sets) {
    let r = newValidatorSet(powers.map((p, i) => val(`v${i}`, p)));
    const total = Number(powers.reduce((a, b) => a + b, 0n));
    const counts = new Map<string, number>();
    for (let i = 0; i < total; i++) {
      const name = nameOf(r.validators[r.proposer]!);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      r = rotateProposer(r.validators, 1);
    }
    for (const v of r.validators) {
      assert.is(counts.get(nameOf(v)) ?? 0, Number(v.votingPower), `${powers.join(',')}: ${nameOf(v)}`);
    }
  }
});

test('TestProposerFrequency: each count within N-1 of its power over total-power rounds', () => {
  const cases: bigint[][] = [
    [1n, 1n],
    [1n, 2n],
    [1n, 100n],
    [5n, 5n],
    [5n, 100n],
    [50n, 50n],
    [50n, 100n],
    [1n, 1000n],
    [1n, 1n, 1n],
    [1n, 2n, 3n],
    [1n, 1n, 10n],
    [1n, 1n, 100n],
    [1n, 10n, 100n],
    [1n, 1n, 1000n],
    [1n, 10n, 1000n],
    [1n, 100n, 1000n],
    [1n, 1n, 1n, 1n],
    [1n, 2n, 3n, 4n],
    [1n, 1n, 1n, 10n],
    [1n, 1n, 1n, 100n],
    [1n, 1n, 1n, 1000n],
    [1n, 1n, 10n, 100n],
    [1n, 1n, 10n, 1000n],
    [1n, 1n, 100n, 1000n],
    [1n, 10n, 100n, 1000n],
  ];
  const rand = seededRandom(11);
  cases.forEach((powers, c) => {
    for (let sample = 0; sample < 5; sample++) {
      // Random addresses (CometBFT: random keys) change only the tie-breaks.
      const vals = powers.map((p) =>
        val(
          Uint8Array.from({ length: 20 }, () => Math.floor(rand() * 256)),
          p,
        ),
      );
      let r = newValidatorSet(vals);
      const total = powers.reduce((a, b) => a + b, 0n);
      // CometBFT's test then calls RescalePriorities(total) directly: a no-op from genesis here,
      // since the distance between priorities is already at most the total.
      const counts = new Array<number>(r.validators.length).fill(0);
      for (let i = 0; i < Number(total); i++) {
        counts[r.proposer]!++;
        r = rotateProposer(r.validators, 1);
      }
      r.validators.forEach((v, i) => {
        const off = Math.abs(counts[i]! - Number(v.votingPower));
        assert.ok(
          off <= r.validators.length - 1,
          `case ${c} sample ${sample}: ${counts[i]} for power ${v.votingPower}`,
        );
      });
    }
  });
});

test('determinism: same input, same output; inputs are never mutated', () => {
  const make = () =>
    Object.freeze([
      Object.freeze(val('a', 5n, 3n, 'A')),
      Object.freeze(val('b', 3n, -7n, 'B')),
      Object.freeze(val('c', 9n, 4n, 'C')),
    ]);
  const input = make();
  const first = rotateProposer(input, 37);
  const second = rotateProposer(make(), 37);
  assert.equal(first, second);
  assert.equal(input, make());
  assert.equal(
    first.validators.map((v) => v.tag),
    ['A', 'B', 'C'],
  );
  assert.ok(first.validators !== (input as unknown));

  const changes = Object.freeze([Object.freeze(val('d', 4n, 999n, 'D')), Object.freeze(val('b', 0n))]);
  const u1 = applyValidatorUpdates(input, changes);
  const u2 = applyValidatorUpdates(make(), [val('b', 0n), val('d', 4n, 999n, 'D')]);
  assert.equal(u1, u2);
  assert.equal(input, make());
  assert.equal(
    u1.map((v) => [nameOf(v), v.tag]),
    [
      ['c', 'C'],
      ['a', 'A'],
      ['d', 'D'],
    ],
  );
  // A change's own priority (999) is ignored: a new validator starts at -(T + T >> 3).
  const d = u1.find((v) => nameOf(v) === 'd')!;
  assert.ok(d.proposerPriority < 0n);
});

test('incrementProposerPriority is the validators of rotateProposer, in the same order', () => {
  const vals = [val('x', 2n, 1n), val('y', 9n, 0n), val('z', 4n, -1n)];
  assert.equal(incrementProposerPriority(vals, 5), rotateProposer(vals, 5).validators);
  assert.equal(namePowers(incrementProposerPriority(vals, 1)), namePowers(vals));
});

// ---------------------------------------------------------------- bigint, ties, new validators

test('bigint powers above 2^53 are exact (doubles would tie 2^53 + 1 with 2^53)', () => {
  const big = 2n ** 53n;
  // b's address is lower: with doubles the powers would be equal and b would win the tie.
  let r = rotateProposer([val('b', big), val('c', big + 1n)], 1);
  assert.is(r.proposer, 1);
  assert.equal(priorities(r.validators), [big, -big]);
  r = rotateProposer(r.validators, 1);
  assert.is(r.proposer, 0);
  assert.equal(priorities(r.validators), [-1n, 1n]);
});

test('bigint powers near MAX_TOTAL_VOTING_POWER scale the small example exactly', () => {
  const k = 2n ** 57n; // 8 * k = MAX_TOTAL_VOTING_POWER + 1, so total 7k fits
  let small = newValidatorSet([val('a', 4n), val('b', 2n), val('c', 1n)]);
  let large = newValidatorSet([val('a', 4n * k), val('b', 2n * k), val('c', 1n * k)]);
  for (let i = 0; i < 50; i++) {
    assert.is(large.proposer, small.proposer, `round ${i}`);
    assert.equal(
      priorities(large.validators),
      priorities(small.validators).map((p) => p * k),
      `round ${i}`,
    );
    small = rotateProposer(small.validators, 1);
    large = rotateProposer(large.validators, 1);
  }
});

test('ties go to the lowest address by unsigned bytes, a prefix first', () => {
  const addresses = [
    Uint8Array.of(0x80),
    Uint8Array.of(0x01, 0x00),
    Uint8Array.of(0x7f, 0xff),
    Uint8Array.of(0x01),
  ];
  const sortedHex = ['01', '0100', '7fff', '80'];
  const hex = (a: Uint8Array) => Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  const equalSet = addresses.map((a) => val(a, 7n, 5n));
  assert.is(hex(equalSet[proposerIndex(equalSet)]!.address), '01');
  assert.is(hex(equalSet.slice().reverse()[proposerIndex(equalSet.slice().reverse())]!.address), '01');
  let r = newValidatorSet(addresses.map((a) => val(a, 7n)));
  assert.equal(
    r.validators.map((v) => hex(v.address)),
    sortedHex,
  );
  for (let i = 0; i < 12; i++) {
    assert.is(hex(r.validators[r.proposer]!.address), sortedHex[i % 4], `round ${i}`);
    r = rotateProposer(r.validators, 1);
  }
});

test('proposerIndex: highest priority wins regardless of position', () => {
  assert.is(proposerIndex([val('a', 1n, -5n), val('b', 1n, 9n), val('c', 1n, 8n)]), 1);
  assert.is(proposerIndex([val('c', 1n, 8n), val('a', 1n, -5n), val('b', 1n, 9n)]), 2);
});

test('new validator priority is -(T + T >> 3) with T after updates, before removals', () => {
  // Start [a 10 @ 0]. Changes: remove nothing, add n (5): T = 15, 15 >> 3 = 1, n = -16.
  // Centre: sum -16, avg -8 -> a 8, n -8.
  let got = applyValidatorUpdates([val('a', 10n, 0n)], [val('n', 5n, 123n)]);
  assert.equal(
    got.map((v) => [nameOf(v), v.proposerPriority]),
    [
      ['a', 8n],
      ['n', -8n],
    ],
  );
  // Start [a 40 @ 6, b 24 @ -6]. Remove b, add n (16): T before removals = 40 + 24 + 16 = 80,
  // so n = -(80 + 10) = -90; a keeps 6; window 2 * 56 = 112 >= 96, no rescale;
  // avg floor(-84 / 2) = -42 -> a 48, n -48.
  got = applyValidatorUpdates([val('a', 40n, 6n), val('b', 24n, -6n)], [val('b', 0n), val('n', 16n)]);
  assert.equal(
    got.map((v) => [nameOf(v), v.votingPower, v.proposerPriority]),
    [
      ['a', 40n, 48n],
      ['n', 16n, -48n],
    ],
  );
});

test('TestValidatorSetBasic: an updated validator keeps its priority and takes the new object', () => {
  const set = [val('b', 20n, -7n, 'old-b'), val('a', 10n, 7n, 'old-a')];
  const got = applyValidatorUpdates(set, [val('a', 30n, 0n, 'new-a')]);
  assert.equal(
    got.map((v) => [nameOf(v), v.votingPower, v.proposerPriority, v.tag]),
    [
      ['a', 30n, 7n, 'new-a'],
      ['b', 20n, -7n, 'old-b'],
    ],
  );
});

test('TestEmptySet: a set can be built from an empty one, and cannot be emptied', () => {
  const set = applyValidatorUpdates<TestValidator>([], [val('v1', 100n), val('v2', 100n)]);
  assert.equal(namePowers(set), [
    ['v1', 100n],
    ['v2', 100n],
  ]);
  verifyCentredAndScaled(set);
  throwsCode(() => applyValidatorUpdates(set, [val('v1', 0n), val('v2', 0n)]), 'VALIDATOR_SET_EMPTY');
  // From an empty set the removal is checked first against the set, as in CometBFT.
  throwsCode(() => applyValidatorUpdates<TestValidator>([], [val('v1', 0n)]), 'VALIDATOR_UPDATE_UNKNOWN');
});

// ---------------------------------------------------------------- refused inputs

test('TestValSetUpdatesDuplicateEntries: two changes for one address are refused', () => {
  const cases: [[string, bigint][], [string, bigint][]][] = [
    [
      testValSet(2, 10n),
      [
        ['v1', 11n],
        ['v1', 22n],
      ],
    ],
    [
      testValSet(2, 10n),
      [
        ['v2', 11n],
        ['v2', 22n],
      ],
    ],
    [
      testValSet(2, 10n),
      [
        ['v1', 11n],
        ['v2', 22n],
        ['v1', 12n],
      ],
    ],
    [
      testValSet(3, 10n),
      [
        ['v1', 11n],
        ['v3', 22n],
        ['v1', 12n],
      ],
    ],
    [
      testValSet(2, 10n),
      [
        ['v1', 0n],
        ['v1', 0n],
      ],
    ],
    [
      testValSet(2, 10n),
      [
        ['v2', 0n],
        ['v2', 0n],
      ],
    ],
    [
      testValSet(2, 10n),
      [
        ['v1', 0n],
        ['v2', 0n],
        ['v1', 0n],
      ],
    ],
    [
      testValSet(3, 10n),
      [
        ['v1', 0n],
        ['v3', 0n],
        ['v1', 0n],
      ],
    ],
    [
      testValSet(2, 10n),
      [
        ['v1', 0n],
        ['v2', 20n],
        ['v1', 30n],
      ],
    ],
    [
      testValSet(2, 10n),
      [
        ['v1', 0n],
        ['v2', 20n],
        ['v2', 30n],
        ['v1', 0n],
      ],
    ],
    [
      testValSet(3, 10n),
      [
        ['v1', 0n],
        ['v3', 5n],
        ['v2', 20n],
        ['v2', 30n],
        ['v1', 0n],
      ],
    ],
  ];
  cases.forEach(([start, changes], i) => {
    const set = createSet(start);
    const before = structuredClone(set);
    throwsCode(() => applyValidatorUpdates(set, tv(changes)), 'VALIDATOR_UPDATE_INVALID', `case ${i}`);
    assert.equal(set, before, `case ${i}`);
  });
});

test('TestValSetUpdatesOverflows: powers and totals above the maximum are refused', () => {
  const M = MAX_TOTAL_VOTING_POWER;
  const cases: [[string, bigint][], [string, bigint][], string][] = [
    [testValSet(2, 10n), [['v1', MAX_INT64]], 'VALIDATOR_UPDATE_INVALID'],
    [testValSet(2, 10n), [['v2', MAX_INT64]], 'VALIDATOR_UPDATE_INVALID'],
    [testValSet(1, M), [['v2', MAX_INT64]], 'VALIDATOR_UPDATE_INVALID'],
    [testValSet(1, M - 1n), [['v2', 5n]], 'VALIDATOR_SET_POWER_OVERFLOW'],
    [testValSet(2, M / 3n), [['v3', M / 2n]], 'VALIDATOR_SET_POWER_OVERFLOW'],
    [testValSet(1, M), [['v2', M]], 'VALIDATOR_SET_POWER_OVERFLOW'],
  ];
  cases.forEach(([start, changes, code], i) => {
    const set = createSet(start);
    const before = structuredClone(set);
    throwsCode(() => applyValidatorUpdates(set, tv(changes)), code, `case ${i}`);
    assert.equal(set, before, `case ${i}`);
  });
});

test('TestValSetUpdatesOtherErrors: negative power, unknown removal, removing everyone', () => {
  const cases: [[string, bigint][], [string, bigint][], string][] = [
    [testValSet(2, 10n), [['v1', -123n]], 'VALIDATOR_UPDATE_INVALID'],
    [testValSet(2, 10n), [['v2', -123n]], 'VALIDATOR_UPDATE_INVALID'],
    [testValSet(2, 10n), [['v3', 0n]], 'VALIDATOR_UPDATE_UNKNOWN'],
    [
      [
        ['v1', 10n],
        ['v2', 20n],
        ['v3', 30n],
      ],
      [
        ['v1', 0n],
        ['v2', 0n],
        ['v3', 0n],
      ],
      'VALIDATOR_SET_EMPTY',
    ],
  ];
  cases.forEach(([start, changes, code], i) => {
    const set = createSet(start);
    const before = structuredClone(set);
    throwsCode(() => applyValidatorUpdates(set, tv(changes)), code, `case ${i}`);
    assert.equal(set, before, `case ${i}`);
  });
});

test('TestUpdatesForNewValidatorSet: duplicates, zero and negative powers are refused', () => {
  throwsCode(
    () => newValidatorSet([val('v1', 100n), val('v1', 123n), val('v1', 234n)]),
    'VALIDATOR_UPDATE_INVALID',
  );
  throwsCode(
    () => newValidatorSet([val('v1', 0n), val('v2', 22n), val('v3', 33n)]),
    'VALIDATOR_UPDATE_INVALID',
  );
  throwsCode(
    () => newValidatorSet([val('v1', 10n), val('v2', -20n), val('v3', 30n)]),
    'VALIDATOR_UPDATE_INVALID',
  );
  throwsCode(() => newValidatorSet([]), 'VALIDATOR_SET_EMPTY');
});

test('TestIncrementProposerPriorityPositiveTimes: times must be an int32 >= 1', () => {
  const set = createSet([
    ['foo', 1000n],
    ['bar', 300n],
    ['baz', 330n],
  ]);
  for (const times of [
    0,
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    2 ** 31,
    Number.MAX_SAFE_INTEGER + 2,
  ]) {
    throwsCode(() => incrementProposerPriority(set, times), 'PROPOSER_TIMES_INVALID', `times ${times}`);
    throwsCode(() => rotateProposer(set, times), 'PROPOSER_TIMES_INVALID', `times ${times}`);
  }
  assert.is(incrementProposerPriority(set, 1).length, 3);
});

test('bad validator sets are refused at the boundary', () => {
  const bad: [string, PriorityValidator[]][] = [
    ['empty', []],
    ['zero power', [val('a', 0n)]],
    ['negative power', [val('a', -1n)]],
    ['power above max', [val('a', MAX_TOTAL_VOTING_POWER + 1n)]],
    ['total above max', [val('a', MAX_TOTAL_VOTING_POWER), val('b', 1n)]],
    [
      'power not a bigint',
      [{ address: enc.encode('a'), votingPower: 1 as unknown as bigint, proposerPriority: 0n }],
    ],
    ['priority above int64', [val('a', 1n, MAX_INT64 + 1n)]],
    ['priority below int64', [val('a', 1n, MIN_INT64 - 1n)]],
    ['duplicate address', [val('a', 1n), val('b', 1n), val('a', 2n)]],
    ['empty address', [val(new Uint8Array(0), 1n)]],
    ['address not bytes', [{ address: 'a' as unknown as Uint8Array, votingPower: 1n, proposerPriority: 0n }]],
  ];
  for (const [label, set] of bad) {
    throwsCode(() => rotateProposer(set, 1), 'VALIDATOR_SET_INVALID', label);
    throwsCode(() => proposerIndex(set), 'VALIDATOR_SET_INVALID', label);
    if (set.length > 0)
      throwsCode(() => applyValidatorUpdates(set, [val('z', 1n)]), 'VALIDATOR_SET_INVALID', label);
  }
});

test('bad changes are refused: empty address, power not a bigint', () => {
  const set = createSet(testValSet(2, 10n));
  throwsCode(() => applyValidatorUpdates(set, [val(new Uint8Array(0), 1n)]), 'VALIDATOR_UPDATE_INVALID');
  throwsCode(
    () => applyValidatorUpdates(set, [{ ...val('v3', 1n), votingPower: 5 as unknown as bigint }]),
    'VALIDATOR_UPDATE_INVALID',
  );
});

test.run();
