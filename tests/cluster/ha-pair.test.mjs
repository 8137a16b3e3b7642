// Hot standby pair: start-up with the guide's variables, replication of
// writes to the standby (with and without a bookmark), /health,
// /admin/cluster/status, metrics, routing and write forwarding, manual
// promotion and the old primary rejoining, snapshot catch-up.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import path from 'node:path';
import {
  AUTH, cypher, getJson, health, metric, metrics, startPair, waitConverged, waitFor,
} from './ha-lib.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');
const [user, password] = AUTH.split(':');

describe('hot standby pair', () => {
  let pair;
  before(async () => {
    pair = await startPair({ syncMode: 'semi_sync', failover: '30s' });
  });
  after(async () => { if (pair) await pair.stop(); });

  test('writes on the primary are visible on the standby, with a bookmark and without', async () => {
    let bm;
    for (let i = 0; i < 20; i++) {
      ({ bookmarks: bm } = await cypher(pair.a, 'CREATE (:Item {i: $i})', { parameters: { i } }));
    }
    // With the bookmark the standby waits until it has applied that index.
    const withBm = await cypher(pair.b, 'MATCH (n:Item) RETURN count(n)', { bookmarks: bm });
    assert.equal(withBm.rows[0][0], 20);
    await waitConverged(pair.a, pair.b);
    const without = await cypher(pair.b, 'MATCH (n:Item) RETURN sum(n.i)');
    assert.equal(without.rows[0][0], 190);
  });

  test('the standby refuses direct writes over HTTP with NotALeader', async () => {
    await assert.rejects(cypher(pair.b, 'CREATE (:Nope)'), /Neo.ClientError.Cluster.NotALeader/);
  });

  test('/health has the replication block of the guide on both nodes', async () => {
    const ha = await getJson(pair.a, '/health');
    const hb = await getJson(pair.b, '/health');
    assert.equal(ha.status, 200);
    assert.equal(hb.status, 200);
    for (const [h, role] of [[ha.body.replication, 'primary'], [hb.body.replication, 'standby']]) {
      assert.equal(h.mode, 'ha_standby');
      assert.equal(h.role, role);
      assert.equal(h.is_leader, role === 'primary');
      assert.equal(typeof h.node_id, 'string');
      assert.equal(typeof h.state, 'string');
      assert.equal(typeof h.commit_index, 'number');
      assert.equal(typeof h.applied_index, 'number');
      assert.equal(h.peers.length, 1);
      assert.equal(h.peers[0].healthy, true);
      assert.ok(h.peers[0].id && h.peers[0].address);
    }
  });

  test('/admin/cluster/status names the leader, both members and the epoch as term', async () => {
    for (const node of [pair.a, pair.b]) {
      const { status, body } = await getJson(node, '/admin/cluster/status');
      assert.equal(status, 200);
      assert.equal(body.mode, 'ha_standby');
      assert.equal(typeof body.cluster_id, 'string');
      assert.equal(body.leader.id, 'primary-1');
      assert.equal(body.leader.address, pair.envFor('a').NORNICDB_CLUSTER_BIND_ADDR);
      assert.deepEqual(body.members.map((m) => m.id).sort(), ['primary-1', 'standby-1']);
      for (const m of body.members) {
        assert.ok(['primary', 'standby'].includes(m.state), JSON.stringify(m));
        assert.equal(m.healthy, true);
      }
      assert.equal(body.term, 1);
      assert.equal(typeof body.commit_index, 'number');
    }
    const lag = await getJson(pair.a, '/admin/replication/lag');
    assert.equal(lag.status, 200);
    assert.equal(typeof lag.body.lag_seconds, 'number');
    const pos = await getJson(pair.b, '/admin/wal/position');
    assert.equal(pos.body.role, 'standby');
    // Raft-only paths are refused in this mode.
    assert.equal((await getJson(pair.a, '/admin/raft/state')).status, 409);
  });

  test('metrics carry mode, leader flag, indexes, lag, peer health and epoch', async () => {
    await waitConverged(pair.a, pair.b);
    const ta = await metrics(pair.a);
    const tb = await metrics(pair.b);
    assert.equal(metric(ta, 'nornicdb_replication_mode{mode="ha_standby"}'), 1);
    assert.equal(metric(ta, 'nornicdb_replication_is_leader'), 1);
    assert.equal(metric(tb, 'nornicdb_replication_is_leader'), 0);
    assert.equal(metric(ta, 'nornicdb_ha_epoch'), 1);
    assert.equal(metric(ta, 'nornicdb_replication_peer_healthy{peer="standby-1"}'), 1);
    assert.equal(metric(tb, 'nornicdb_peer_healthy{peer="primary-1"}'), 1);
    for (const name of ['nornicdb_replication_lag_seconds', 'nornicdb_replication_lag_bytes',
      'nornicdb_replication_commit_index', 'nornicdb_replication_applied_index',
      'nornicdb_cluster_leader_changes_total', 'nornicdb_replication_degraded']) {
      assert.notEqual(metric(ta, name), undefined, `${name} missing:\n${ta}`);
    }
    assert.ok(/nornicdb_replication_bytes_total\{peer="standby-1",direction="sent"\} [1-9]/.test(ta));
    assert.equal(metric(tb, 'nornicdb_replication_applied_index'), metric(ta, 'nornicdb_replication_commit_index'));
  });

  test('POST /admin/promote on the primary answers 409 with a reason', async () => {
    const r = await getJson(pair.a, '/admin/promote', { method: 'POST' });
    assert.equal(r.status, 409);
    assert.match(r.body.reason, /already the primary/);
  });

  test('routing drivers get the primary as writer; bolt:// writes on the standby are forwarded', async () => {
    const driver = neo4j.driver(`neo4j://127.0.0.1:${pair.ports.b.bolt}`, neo4j.auth.basic(user, password));
    try {
      const rt = await driver.executeQuery('RETURN 1', {}, { routing: neo4j.routing.WRITE });
      assert.equal(rt.records.length, 1);
      await driver.executeQuery('CREATE (:Routed)', {}, { routing: neo4j.routing.WRITE });
    } finally {
      await driver.close();
    }
    const direct = neo4j.driver(`bolt://127.0.0.1:${pair.ports.b.bolt}`, neo4j.auth.basic(user, password));
    try {
      await direct.executeQuery('CREATE (:Forwarded)');
    } finally {
      await direct.close();
    }
    const r = await cypher(pair.a, 'MATCH (n) WHERE n:Routed OR n:Forwarded RETURN count(n)');
    assert.equal(r.rows[0][0], 2);
  });
});

describe('manual promotion and rejoin', () => {
  let pair;
  before(async () => {
    pair = await startPair({ syncMode: 'sync', failover: '30s' });
  });
  after(async () => { if (pair) await pair.stop(); });

  test('promote the standby; the restarted old primary steps down, rejoins and converges', async () => {
    for (let i = 0; i < 10; i++) await cypher(pair.a, 'CREATE (:Before {i: $i})', { parameters: { i } });
    await waitConverged(pair.a, pair.b);
    await pair.a.kill('SIGKILL');
    const r = await getJson(pair.b, '/admin/promote', { method: 'POST' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.epoch, 2);
    assert.equal((await health(pair.b)).role, 'primary');
    // The new primary writes (sync mode degrades after the standby timeout).
    await cypher(pair.b, 'CREATE (:After)', { timeout: 20000 });

    await pair.start('a'); // same data dir, still NORNICDB_CLUSTER_HA_ROLE=primary
    await waitFor('the old primary to step down', async () => {
      const h = await health(pair.a);
      return h.role === 'standby' && h.epoch === 2 ? h : null;
    });
    await waitConverged(pair.b, pair.a);
    const c = await cypher(pair.a, 'MATCH (n) RETURN count(n)');
    assert.equal(c.rows[0][0], 11);
    await assert.rejects(cypher(pair.a, 'CREATE (:Nope)'), /NotALeader/);
    const st = await getJson(pair.a, '/admin/cluster/status');
    assert.equal(st.body.leader.id, 'standby-1');
    assert.equal(st.body.term, 2);
    assert.ok(/nornicdb_cluster_leader_changes_total [1-9]/.test(await metrics(pair.b)));
  });
});

describe('forcing a role by hand', () => {
  let pair;
  before(async () => {
    pair = await startPair({ syncMode: 'async', autoFailover: false });
  });
  after(async () => { if (pair) await pair.stop(); });

  test('a standby forced to primary (role.state deleted) takes a new epoch and fences the returning old primary', async () => {
    for (let i = 0; i < 5; i++) await cypher(pair.a, 'CREATE (:Before {i: $i})', { parameters: { i } });
    await waitConverged(pair.a, pair.b);
    await pair.a.kill('SIGKILL');
    await pair.b.stop();
    // docs/hot-standby.md: stop the node, delete role.state, set the role
    rmSync(path.join(pair.root, 'b', 'replication', 'role.state'));
    await pair.start('b', { NORNICDB_CLUSTER_HA_ROLE: 'primary' });
    const hb = await health(pair.b);
    assert.equal(hb.role, 'primary');
    assert.equal(hb.epoch, 2, 'the forced primary raised the epoch');
    await cypher(pair.b, 'CREATE (:AfterForce)');
    await pair.start('a'); // still NORNICDB_CLUSTER_HA_ROLE=primary, role.state says primary in epoch 1
    await waitFor('the old primary to step down', async () => {
      const h = await health(pair.a);
      return h.role === 'standby' && h.epoch === 2 ? h : null;
    });
    await waitConverged(pair.b, pair.a);
    await assert.rejects(cypher(pair.a, 'CREATE (:Nope)'), /NotALeader/);
    const c = await cypher(pair.a, 'MATCH (n) RETURN count(n)');
    assert.equal(c.rows[0][0], 6);
    assert.equal((await health(pair.b)).role, 'primary');
  });
});

describe('two nodes configured as primary', () => {
  let pair;
  after(async () => { if (pair) await pair.stop(); });

  test('meeting in the same epoch, the smaller node id stays primary in a new epoch and the other follows it', async () => {
    // startPair waits until b reports standby: that is the resolution
    pair = await startPair({ syncMode: 'async', autoFailover: false, envB: { NORNICDB_CLUSTER_HA_ROLE: 'primary' } });
    const [ha, hb] = [await health(pair.a), await health(pair.b)];
    assert.equal(ha.role, 'primary');
    assert.equal(hb.role, 'standby');
    await waitFor('both in the winner\'s new epoch', async () => {
      const [x, y] = [await health(pair.a), await health(pair.b)];
      return x.epoch === 2 && y.epoch === 2 ? x : null;
    });
    await assert.rejects(cypher(pair.b, 'CREATE (:Nope)'), /NotALeader/);
    await cypher(pair.a, 'CREATE (:One)');
    await waitConverged(pair.a, pair.b);
    assert.equal((await cypher(pair.b, 'MATCH (n:One) RETURN count(n)')).rows[0][0], 1);
  });
});

describe('snapshot catch-up', () => {
  let pair;
  before(async () => {
    pair = await startPair({
      syncMode: 'async', startB: false,
      envA: { NORNICDB_SNAPSHOT_THRESHOLD: '50', NORNICDB_WAL_SEGMENT_SIZE: '4KiB' },
    });
  });
  after(async () => { if (pair) await pair.stop(); });

  test('a new standby whose start position was compacted away catches up from a snapshot', async () => {
    for (let i = 0; i < 300; i++) {
      await cypher(pair.a, 'CREATE (:Old {i: $i, pad: $pad})', { parameters: { i, pad: 'x'.repeat(100) } });
    }
    // Wait for the scheduled snapshot and the compaction behind it.
    await waitFor('a snapshot and WAL compaction on the primary', async () => {
      const t = await metrics(pair.a);
      return metric(t, 'nornicdb_snapshots_total') >= 1;
    }, 15000, 200);
    await pair.start('b');
    await waitConverged(pair.a, pair.b, 30000);
    const c = await cypher(pair.b, 'MATCH (n:Old) RETURN count(n), sum(n.i)');
    assert.deepEqual(c.rows[0], [300, 44850]);
    assert.match(pair.b.output(), /installed snapshot at index/);
    // And the stream continues after the snapshot.
    const { bookmarks } = await cypher(pair.a, 'CREATE (:New)');
    const n = await cypher(pair.b, 'MATCH (n:New) RETURN count(n)', { bookmarks });
    assert.equal(n.rows[0][0], 1);
  });
});

describe('configuration errors', () => {
  const base = {
    NORNICDB_CLUSTER_MODE: 'ha_standby', NORNICDB_CLUSTER_HA_ROLE: 'primary',
    NORNICDB_CLUSTER_HA_PEER_ADDR: '127.0.0.12:1', NORNICDB_CLUSTER_BIND_ADDR: '127.0.0.11:17999',
  };
  const cases = [
    ['a missing peer address', { NORNICDB_CLUSTER_HA_PEER_ADDR: '' }, /NORNICDB_CLUSTER_HA_PEER_ADDR/],
    ['a failover timeout under two heartbeats', { NORNICDB_CLUSTER_HA_FAILOVER_TIMEOUT: '100ms' }, /NORNICDB_CLUSTER_HA_FAILOVER_TIMEOUT/],
    ['an unknown standby-loss policy', { NORNICDB_CLUSTER_HA_ON_STANDBY_LOSS: 'panic' }, /NORNICDB_CLUSTER_HA_ON_STANDBY_LOSS/],
    ['TLS without a certificate', { NORNICDB_CLUSTER_TLS_ENABLED: 'true' }, /NORNICDB_CLUSTER_TLS/],
  ];
  for (const [what, env, re] of cases) {
    test(`start-up fails clearly on ${what}`, async () => {
      const { startServer } = await import('../lib/server.mjs');
      await assert.rejects(startServer({ env: { ...base, ...env } }), re);
    });
  }
});
