/**
 * p2p/scoring.ts: the penalties gossipsub does not see decay by 1 % a second and are forgotten,
 * and with gossipsub's weights the thresholds fall where p2p/README.md says (3, 4 and 6 invalid
 * messages on one topic).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GRAYLIST_THRESHOLD, Penalties, SCORE_THRESHOLDS, scoreParams } from '../../../p2p/scoring.ts';

test('penalties decay by 1 % a second and are forgotten once they reach nothing', () => {
  let now = 0;
  const p = new Penalties(() => now);
  p.add('x');
  p.add('x');
  assert.is(p.score('x'), -4);
  now = 100_000; // 0.99^100 = 0.366
  assert.ok(Math.abs(p.count('x') - 2 * 0.99 ** 100) < 1e-9);
  now = 1_000_000;
  assert.is(p.count('x'), 0);
  assert.is(p.score('nobody'), 0);
});

test('P4 penalties cross the gossip, publish and graylist thresholds at 3, 4 and 6 invalid messages', () => {
  const params = scoreParams(['/t'], new Penalties());
  const weight = params.topics!['/t']!.invalidMessageDeliveriesWeight;
  const p4 = (n: number) => weight * n * n;
  assert.ok(p4(2) >= SCORE_THRESHOLDS.gossipThreshold && p4(3) < SCORE_THRESHOLDS.gossipThreshold);
  assert.ok(p4(3) >= SCORE_THRESHOLDS.publishThreshold && p4(4) < SCORE_THRESHOLDS.publishThreshold);
  assert.ok(p4(5) >= GRAYLIST_THRESHOLD && p4(6) < GRAYLIST_THRESHOLD, 'five give exactly the threshold');
  // The application-specific score counts the same way.
  let now = 0;
  const penalties = new Penalties(() => now);
  const app = scoreParams(['/t'], penalties);
  for (let i = 0; i < 6; i++) penalties.add('peer');
  assert.ok(app.appSpecificWeight! * app.appSpecificScore!('peer') < GRAYLIST_THRESHOLD);
  now = 1_000_000;
  assert.is(app.appSpecificScore!('peer'), 0, 'and decays to nothing');
});

test.run();
