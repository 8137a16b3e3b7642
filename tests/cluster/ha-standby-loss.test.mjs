// semi_sync/sync with the standby gone: NORNICDB_CLUSTER_HA_ON_STANDBY_LOSS
// degrade (commits complete as async after NORNICDB_CLUSTER_HA_STANDBY_TIMEOUT,
// metric nornicdb_replication_degraded 1, back to normal once the standby
// catches up) versus block (commits wait for the standby; clients time out).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cypher, health, metric, metrics, startPair, waitConverged, waitFor } from './ha-lib.mjs';

describe('standby loss', () => {
  test('degrade: after the standby timeout commits complete without the standby, then recover', async () => {
    const pair = await startPair({
      syncMode: 'sync', failover: '30s',
      env: { NORNICDB_CLUSTER_HA_STANDBY_TIMEOUT: '1s', NORNICDB_CLUSTER_HA_ON_STANDBY_LOSS: 'degrade' },
    });
    try {
      await cypher(pair.a, 'CREATE (:D {i: 0})');
      await pair.b.kill('SIGKILL');
      const t0 = Date.now();
      await cypher(pair.a, 'CREATE (:D {i: 1})', { timeout: 15000 });
      const waited = Date.now() - t0;
      assert.ok(waited >= 700, `the first commit without the standby waited only ${waited} ms`);
      assert.ok(waited < 8000, `the commit waited ${waited} ms`);
      assert.equal(metric(await metrics(pair.a), 'nornicdb_replication_degraded'), 1);
      assert.equal((await health(pair.a)).state, 'degraded');
      assert.match(pair.a.output(), /degraded to async/);
      // While degraded, commits do not wait.
      const t1 = Date.now();
      for (let i = 2; i < 10; i++) await cypher(pair.a, 'CREATE (:D {i: $i})', { parameters: { i } });
      assert.ok(Date.now() - t1 < 5000);

      await pair.start('b');
      await waitConverged(pair.a, pair.b);
      await waitFor('the primary to leave degraded mode', async () =>
        metric(await metrics(pair.a), 'nornicdb_replication_degraded') === 0);
      const c = await cypher(pair.b, 'MATCH (n:D) RETURN count(n)');
      assert.equal(c.rows[0][0], 10);
      assert.match(pair.a.output(), /caught up: sync commits again/);
    } finally {
      await pair.stop();
    }
  });

  test('block: commits wait for the standby (the client times out) and complete when it returns', async () => {
    const pair = await startPair({
      syncMode: 'semi_sync', failover: '30s',
      env: { NORNICDB_CLUSTER_HA_STANDBY_TIMEOUT: '1s', NORNICDB_CLUSTER_HA_ON_STANDBY_LOSS: 'block' },
    });
    try {
      await cypher(pair.a, 'CREATE (:B {i: 0})');
      await pair.b.kill('SIGKILL');
      await assert.rejects(cypher(pair.a, 'CREATE (:B {i: 1})', { timeout: 3000 }), /abort|timeout/i);
      assert.equal(metric(await metrics(pair.a), 'nornicdb_replication_degraded'), 0);
      // Readers on the primary do not see the unacknowledged write.
      const r = await cypher(pair.a, 'MATCH (n:B) RETURN count(n)');
      assert.equal(r.rows[0][0], 1);

      await pair.start('b');
      await waitConverged(pair.a, pair.b);
      await waitFor('the blocked commit to become visible', async () =>
        (await cypher(pair.a, 'MATCH (n:B) RETURN count(n)')).rows[0][0] === 2);
      await cypher(pair.a, 'CREATE (:B {i: 2})', { timeout: 5000 });
      const c = await cypher(pair.b, 'MATCH (n:B) RETURN count(n)');
      assert.ok(c.rows[0][0] >= 2);
    } finally {
      await pair.stop();
    }
  });
});
