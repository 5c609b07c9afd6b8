/**
 * node/rpc/events-query.ts: CometBFT's event query language. Valid queries parse to the expected AST
 * and print back canonically; each malformed one fails with its offset and what was expected;
 * the matcher follows CometBFT (every condition on some value, exact decimal comparison, leading
 * numbers of `8atom`, type-only tags, times and dates).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  compareDecimal,
  flattenEvents,
  MAX_CONDITIONS,
  MAX_QUERY_LENGTH,
  matches,
  parseDecimal,
  parseQuery,
  QueryError,
  queryText,
} from '../../../../node/rpc/events-query.ts';

function events(entries: Record<string, string[]>): Map<string, string[]> {
  return new Map(Object.entries(entries));
}

test('parses the queries operators write', () => {
  assert.equal(parseQuery("tm.event='NewBlock'").conditions, [
    { tag: 'tm.event', op: '=', arg: { kind: 'string', value: 'NewBlock' } },
  ]);
  const q = parseQuery(
    "tm.event = 'Tx' AND kv.key='x' AND tx.height>=5 AND kv.op EXISTS AND kv.key CONTAINS 'a b'",
  );
  assert.equal(
    q.conditions.map((c) => [c.tag, c.op, c.arg?.kind ?? null]),
    [
      ['tm.event', '=', 'string'],
      ['kv.key', '=', 'string'],
      ['tx.height', '>=', 'number'],
      ['kv.op', 'EXISTS', null],
      ['kv.key', 'CONTAINS', 'string'],
    ],
  );
  assert.is(
    queryText(q),
    "tm.event = 'Tx' AND kv.key = 'x' AND tx.height >= 5 AND kv.op EXISTS AND kv.key CONTAINS 'a b'",
  );
});

test('every comparison operator, numbers with fractions, times and dates', () => {
  for (const op of ['<', '<=', '>', '>=', '=']) {
    const q = parseQuery(`x.y ${op} 3.25`);
    assert.is(q.conditions[0]!.op, op);
    assert.equal(q.conditions[0]!.arg, { kind: 'number', value: { units: 325n, scale: 2 }, text: '3.25' });
  }
  const t = parseQuery('block.time > TIME 2026-01-02T03:04:05Z AND d.day <= DATE 2026-02-28');
  assert.equal(t.conditions[0]!.arg, {
    kind: 'time',
    ms: Date.UTC(2026, 0, 2, 3, 4, 5),
    text: '2026-01-02T03:04:05Z',
  });
  assert.equal(t.conditions[1]!.arg, { kind: 'date', ms: Date.UTC(2026, 1, 28), text: '2026-02-28' });
  assert.is(queryText(t), 'block.time > TIME 2026-01-02T03:04:05Z AND d.day <= DATE 2026-02-28');
  // Tags may hold letters of any script, digits, _, . and -.
  assert.is(parseQuery("consent.patient-id_2='p1'").conditions[0]!.tag, 'consent.patient-id_2');
  assert.is(parseQuery("ÿ.k='v'").conditions[0]!.tag, 'ÿ.k');
});

test('each malformed query fails with its offset and what was expected', () => {
  const cases: [unknown, string][] = [
    ['', 'offset 0: got end of query, wanted tag'],
    ['   ', 'offset 3: got end of query, wanted tag'],
    [
      'tm.event',
      'offset 8: got end of query, wanted = operator, < operator, <= operator, > operator, >= operator, CONTAINS operator or EXISTS operator',
    ],
    ['tm.event=', 'offset 9: got end of query, wanted number, timestamp, datestamp or string'],
    ["tm.event='NewBlock", "offset 9: unterminated string (a string is quoted with ')"],
    ['tm.event="NewBlock"', 'offset 9: invalid input "\\""'],
    ["tm.event='a' OR x.y='b'", 'offset 13: got tag, wanted AND operator'],
    ["tm.event='a' AND", 'offset 16: got end of query, wanted tag'],
    ["tm.event='a' x.y='b'", 'offset 13: got tag, wanted AND operator'],
    ["x.y < 'a'", 'offset 6: got string, wanted number, timestamp or datestamp'],
    ['x.y CONTAINS 5', 'offset 13: got number, wanted string'],
    ["x.y EXISTS 'a'", 'offset 11: got string, wanted AND operator'],
    ["= 'a'", 'offset 0: got = operator, wanted tag'],
    ['x.y = 5.', 'offset 6: invalid number 5.'],
    ['x.y = TIME 2026-13-01T00:00:00Z', 'offset 11: invalid TIME value "2026-13-01T00:00:00Z"'],
    ['x.y = TIME yesterday', 'offset 11: invalid TIME value ""'],
    ['x.y = DATE 2026-02-30', 'offset 11: invalid DATE value "2026-02-30"'],
    ['x.y = DATE 1800-01-01', 'offset 11: year 1800 out of range'],
    ['x.y ! 1', 'offset 4: invalid input "!"'],
    [5, 'offset 0: query must be a string'],
  ];
  for (const [input, message] of cases) {
    try {
      parseQuery(input);
      assert.unreachable(`${JSON.stringify(input)} parsed`);
    } catch (err) {
      assert.instance(err, QueryError, String(input));
      assert.is((err as QueryError).message, message, String(input));
    }
  }
});

test('length and condition count are bounded', () => {
  assert.throws(() => parseQuery(`x.y='${'a'.repeat(MAX_QUERY_LENGTH)}'`), /longer than 512 characters/);
  const many = Array.from({ length: MAX_CONDITIONS + 1 }, (_, i) => `a.b${i}=1`).join(' AND ');
  assert.throws(() => parseQuery(many), /at most 32 conditions/);
  const enough = Array.from({ length: MAX_CONDITIONS }, (_, i) => `a.b${i}=1`).join(' AND ');
  assert.is(parseQuery(enough).conditions.length, MAX_CONDITIONS);
});

test('matches: every condition must hold for some value of its tag', () => {
  const e = events({ 'tm.event': ['Tx'], 'kv.key': ['x', 'y'], 'kv.op': ['set'], 'tx.height': ['12'] });
  assert.ok(matches(parseQuery("tm.event='Tx'"), e));
  assert.ok(matches(parseQuery("tm.event='Tx' AND kv.key='y'"), e));
  assert.not.ok(matches(parseQuery("tm.event='Tx' AND kv.key='z'"), e));
  assert.not.ok(matches(parseQuery("tm.event='NewBlock'"), e));
  assert.ok(matches(parseQuery('kv.op EXISTS'), e));
  assert.not.ok(matches(parseQuery('kv.nothing EXISTS'), e));
  assert.ok(matches(parseQuery("kv.key CONTAINS 'x'"), e));
  assert.ok(matches(parseQuery('tx.height > 11 AND tx.height <= 12'), e));
  assert.not.ok(matches(parseQuery('tx.height < 12'), e));
  // A tag naming an event type matches if the type occurs.
  assert.ok(matches(parseQuery('kv EXISTS'), e));
  assert.not.ok(matches(parseQuery('claim EXISTS'), e));
  // No events at all never match.
  assert.not.ok(matches(parseQuery('kv EXISTS'), new Map()));
});

test('numbers compare exactly, beyond 2^53, and by their leading digits', () => {
  const big = events({ 'tx.height': ['9007199254740993'] });
  assert.ok(matches(parseQuery('tx.height > 9007199254740992'), big));
  assert.ok(matches(parseQuery('tx.height = 9007199254740993'), big));
  assert.not.ok(matches(parseQuery('tx.height = 9007199254740992'), big));
  assert.ok(matches(parseQuery('coin.amount >= 8'), events({ 'coin.amount': ['8atom'] })));
  assert.ok(matches(parseQuery('coin.amount < 6.51'), events({ 'coin.amount': ['6.5stake'] })));
  assert.not.ok(matches(parseQuery('coin.amount > 0'), events({ 'coin.amount': ['abc'] })));
  assert.not.ok(matches(parseQuery('coin.amount > 0'), events({ 'coin.amount': ['-5'] })));
  assert.is(compareDecimal(parseDecimal('1.50')!, parseDecimal('1.5')!), 0);
  assert.is(compareDecimal(parseDecimal('10')!, parseDecimal('9.99')!), 1);
  // A string argument compares as a string.
  assert.not.ok(matches(parseQuery("tx.height = '012'"), events({ 'tx.height': ['12'] })));
});

test('times and dates compare as instants', () => {
  const e = events({ 'a.t': ['2026-01-02T03:04:05+01:00'], 'a.d': ['2026-03-01'] });
  assert.ok(matches(parseQuery('a.t = TIME 2026-01-02T02:04:05Z'), e));
  assert.ok(matches(parseQuery('a.t < TIME 2026-01-02T03:00:00Z'), e));
  assert.ok(matches(parseQuery('a.d > DATE 2026-02-28'), e));
  assert.not.ok(matches(parseQuery('a.d > DATE 2026-03-01'), e));
  assert.not.ok(matches(parseQuery('a.d > DATE 2026-03-01'), events({ 'a.d': ['not a date'] })));
});

test('flattenEvents: type.key -> values, empty types and keys skipped', () => {
  const flat = flattenEvents([
    {
      type: 'kv',
      attributes: [
        { key: 'key', value: 'a' },
        { key: '', value: 'skip' },
      ],
    },
    { type: 'kv', attributes: [{ key: 'key', value: 'b' }] },
    { type: '', attributes: [{ key: 'k', value: 'skip' }] },
  ]);
  assert.equal([...flat], [['kv.key', ['a', 'b']]]);
});

test.run();
