// A 3-node Raft cluster of real daemons (cluster traffic on 127.0.0.21-23,
// port 7688, as in the clustering guide), exercised in order: election,
// admin shapes, the guide's routing-driver example, forwarded follower
// writes, leadership transfer, kill -9 of the leader under write load,
// rejoin, catch-up by snapshot from an empty data dir, adding and removing a
// fourth node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { RaftCluster, assertExactlyOnce, http, cypher, waitFor, sleep, writeLoad } from './raft-lib.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');

// Low snapshot threshold / trailing logs so that a wiped follower needs a snapshot.
const cluster = new RaftCluster({
  prefix: '127.0.0.2',
  n: 3,
  clusterId: 'my-cluster',
  env: { NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD: '40', NORNICDB_CLUSTER_RAFT_TRAILING_LOGS: '5' },
});
const auth = neo4j.auth.basic('admin', 'test-password');
let leader;

function routingDriver(first = 1) {
  const addrs = cluster.ids.filter((i) => cluster.node(i)).map((i) => `127.0.0.1:${cluster.ports.get(i).bolt}`);
  return neo4j.driver(`neo4j://127.0.0.1:${cluster.ports.get(first).bolt}`, auth, {
    resolver: () => addrs,
    maxConnectionPoolSize: 8,
  });
}

async function count(i, label) {
  const rows = await cypher(cluster.node(i), `MATCH (n:${label}) RETURN count(n) AS c`);
  return rows[0].c;
}

before(async () => {
  await cluster.startAll();
});
after(async () => {
  await cluster.stopAll();
});

describe('raft cluster', () => {
  test('three nodes form a cluster and elect exactly one leader', async () => {
    const t0 = Date.now();
    leader = await cluster.waitLeader(15000);
    const states = await Promise.all(cluster.ids.map((i) => cluster.state(i)));
    assert.equal(states.filter((s) => s.role === 'leader').length, 1);
    assert.deepEqual(new Set(states.map((s) => s.term)).size, 1);
    for (const s of states) assert.deepEqual(s.voters, ['node-1', 'node-2', 'node-3']);
    console.log(`leader node-${leader} elected after ${Date.now() - t0} ms`);
  });

  test('health, cluster status, raft state, lag, WAL position and metrics have the guide\'s shapes', async () => {
    const L = cluster.node(leader);
    const f = cluster.node(leader === 1 ? 2 : 1);
    const h = await http(L, '/health');
    assert.equal(h.status, 200);
    assert.equal(h.body.status, 'healthy');
    const r = h.body.replication;
    assert.equal(r.mode, 'raft');
    assert.equal(r.node_id, `node-${leader}`);
    assert.equal(r.role, 'leader');
    assert.equal(r.is_leader, true);
    assert.equal(r.state, 'ready');
    assert.equal(typeof r.commit_index, 'number');
    assert.equal(typeof r.applied_index, 'number');
    assert.equal(r.peers.length, 2);
    for (const p of r.peers) {
      assert.match(p.address, /^127\.0\.0\.2\d:7688$/);
      assert.equal(typeof p.healthy, 'boolean');
    }
    const fh = await http(f, '/health');
    assert.equal(fh.body.replication.role, 'follower');
    assert.equal(fh.body.replication.is_leader, false);

    // peer health is sampled by the main loop a few times a second
    const st = await waitFor('every member healthy', async () => {
      const b = (await http(f, '/admin/cluster/status')).body;
      return b.members.every((m) => m.healthy) ? b : null;
    }, 10000);
    assert.equal(st.cluster_id, 'my-cluster');
    assert.equal(st.mode, 'raft');
    assert.equal(st.leader.id, `node-${leader}`);
    assert.equal(st.leader.address, cluster.addr(leader));
    assert.equal(st.members.length, 3);
    assert.deepEqual(st.members.map((m) => m.state).sort(), ['follower', 'follower', 'leader']);
    for (const m of st.members) assert.equal(m.healthy, true);
    assert.equal(typeof st.commit_index, 'number');
    assert.equal(typeof st.term, 'number');

    const lag = (await http(L, '/admin/replication/lag')).body;
    assert.equal(lag.is_leader, true);
    assert.equal(lag.peers.length, 2);
    // a follower snapshots what it has applied: give it a write to apply first
    await cypher(L, 'CREATE (:SnapProbe)');
    const applied = await cluster.waitConverged();
    const snap = await http(f, '/admin/raft/snapshot', { method: 'POST' });
    assert.equal(snap.status, 200, JSON.stringify(snap.body));
    assert.ok(snap.body.index > 0 && snap.body.index <= applied, JSON.stringify(snap.body));
    const wal = (await http(L, '/admin/wal/position')).body;
    for (const k of ['last_index', 'last_term', 'first_index', 'commit_index', 'applied_index']) assert.equal(typeof wal[k], 'number', k);

    const res = await fetch(L.httpUrl + '/metrics', { headers: { Authorization: 'Basic ' + Buffer.from('admin:test-password').toString('base64') } });
    const text = await res.text();
    for (const name of ['nornicdb_replication_mode{mode="raft"} 1', 'nornicdb_replication_is_leader 1', 'nornicdb_raft_term ',
      'nornicdb_raft_commit_index ', 'nornicdb_raft_applied_index ', 'nornicdb_cluster_leader_changes_total ',
      'nornicdb_replication_commit_index ', 'nornicdb_replication_applied_index ', 'nornicdb_replication_lag_seconds ',
      'nornicdb_replication_peer_healthy{peer="node-', 'nornicdb_peer_healthy{peer="node-', 'nornicdb_replication_bytes_total{']) {
      assert.ok(text.includes(name), `metrics lack ${name}`);
    }
  });

  test('a follower answers leader-only admin requests with 409 naming the leader', async () => {
    const f = cluster.node(leader === 1 ? 2 : 1);
    for (const p of ['/admin/cluster/add', '/admin/cluster/remove', '/admin/raft/step-down', '/admin/raft/transfer-leadership',
      '/admin/cluster/transfer-leadership']) {
      const r = await http(f, p, { method: 'POST', body: { id: 'node-9', address: '127.0.0.29:7688' } });
      assert.equal(r.status, 409, p);
      assert.equal(r.body.leader.id, `node-${leader}`);
      assert.match(r.body.error, /not the leader/);
    }
    const bad = await http(cluster.node(leader), '/admin/cluster/add', { method: 'POST', body: { id: 'x' } });
    assert.equal(bad.status, 400);
  });

  test('the guide\'s client example: WRITE session writes through the leader, READ session reads', async () => {
    const driver = routingDriver(leader === 1 ? 2 : 1);
    try {
      const session = driver.session({ defaultAccessMode: neo4j.session.WRITE });
      await session.run('CREATE (n:Person {name: $name})', { name: 'Alice' });
      const bookmarks = session.lastBookmarks();
      await session.close();
      const readSession = driver.session({ defaultAccessMode: neo4j.session.READ, bookmarks });
      const result = await readSession.run('MATCH (n:Person) RETURN n');
      await readSession.close();
      assert.equal(result.records.length, 1);
      assert.equal(result.records[0].get('n').properties.name, 'Alice');
      // The routing table: one writer (the leader), the followers as readers.
      const rt = await driver.getServerInfo({ database: 'neo4j' });
      assert.ok(rt.address);
    } finally {
      await driver.close();
    }
    // replicated everywhere
    await cluster.waitConverged();
    for (const i of cluster.ids) assert.equal(await count(i, 'Person'), 1, `node-${i}`);
  });

  test('a direct bolt:// write to a follower is forwarded to the leader', async () => {
    const fi = leader === 1 ? 2 : 1;
    const driver = neo4j.driver(`bolt://127.0.0.1:${cluster.ports.get(fi).bolt}`, auth);
    try {
      const s = driver.session();
      await s.run('CREATE (:Forwarded {via: $via})', { via: `node-${fi}` });
      await s.close();
    } finally {
      await driver.close();
    }
    await cluster.waitConverged();
    for (const i of cluster.ids) assert.equal(await count(i, 'Forwarded'), 1, `node-${i}`);
  });

  test('leadership transfer to a named target, and without one', async () => {
    const target = cluster.ids.find((i) => i !== leader);
    const r = await http(cluster.node(leader), '/admin/raft/transfer-leadership', { method: 'POST', body: { target: `node-${target}` } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    leader = await waitFor('the target to lead', async () => {
      const l = await cluster.waitLeader(5000);
      return l === target ? l : null;
    }, 10000);
    const r2 = await http(cluster.node(leader), '/admin/cluster/transfer-leadership', { method: 'POST', body: {} });
    assert.equal(r2.status, 200, JSON.stringify(r2.body));
    const old = leader;
    leader = await waitFor('someone else to lead', async () => {
      const l = await cluster.waitLeader(5000);
      return l !== old ? l : null;
    }, 10000);
    const r3 = await http(cluster.node(leader), '/admin/raft/step-down', { method: 'POST' });
    assert.equal(r3.status, 200, JSON.stringify(r3.body));
    const old2 = leader;
    leader = await waitFor('a new leader after step-down', async () => {
      const l = await cluster.waitLeader(5000);
      return l !== old2 ? l : null;
    }, 10000);
    // writes still work
    await cypher(cluster.node(leader), 'CREATE (:AfterTransfer)');
  });

  test('kill -9 of the leader under write load: a new leader soon, every acknowledged write exactly once everywhere', async () => {
    const driver = routingDriver(cluster.ids.find((i) => i !== leader));
    const load = writeLoad(driver, neo4j, ['a', 'b', 'c'], { pauseMs: 20 });
    const { acked, failed } = load;
    await sleep(1500);
    const victim = leader;
    const before = acked.length;
    const t0 = Date.now();
    await cluster.kill(victim);
    const newLeader = await cluster.waitLeader(10000);
    const failoverMs = Date.now() - t0;
    await waitFor('writes after failover', async () => acked.length > before + 20, 15000);
    await load.stop();
    await driver.close();
    assert.notEqual(newLeader, victim);
    assert.ok(failoverMs < 5000, `failover took ${failoverMs} ms`);
    console.log(`failover ${failoverMs} ms; ${acked.length} acknowledged, ${failed.length} failed writes`);
    leader = newLeader;

    // restart the killed node: it rejoins from its persisted state
    await cluster.start(victim, { bootstrap: victim === 1 });
    await cluster.waitLeader(15000);
    await cluster.waitConverged(20000);
    await assertExactlyOnce(cluster, acked);
    const st = await cluster.state(victim);
    assert.equal(st.role, 'follower');
  });

  test('a follower restarted with an empty data dir catches up by snapshot', async () => {
    // enough entries that the log is compacted past the follower's start
    const L = cluster.node(leader);
    // ~2.4 MB of properties: the snapshot travels in several 1 MiB chunks
    const pad = 'p'.repeat(40000);
    for (let k = 0; k < 60; k++) await cypher(L, 'CREATE (:Bulk {k: $k, pad: $pad})', { k, pad });
    await cluster.waitConverged();
    const ls = await cluster.state(leader);
    assert.ok(ls.snapshot_index > 0, 'the leader took a snapshot');
    assert.ok(ls.first_index > 1, `the leader compacted its log (first ${ls.first_index})`);
    // old snapshot files are pruned (NORNICDB_SNAPSHOT_KEEP, default 2)
    // (a snapshot just written is pruned by the main loop a moment later)
    const listSnaps = () => readdirSync(path.join(cluster.dirs.get(leader), 'snapshots')).filter((f) => /^snapshot-\d{20}\.snap$/.test(f));
    await waitFor('old snapshots to be pruned', async () => (listSnaps().length <= 2 ? true : null), 5000).catch(() => {});
    const snaps = listSnaps();
    assert.ok(snaps.length >= 1 && snaps.length <= 2, `snapshots kept: ${snaps}`);
    const victim = cluster.ids.find((i) => i !== leader);
    await cluster.stop(victim);
    await cypher(L, 'CREATE (:WhileAway)');
    const vs = await cluster.rejoinWiped(victim, leader);
    assert.ok(vs.snapshot_index > 0, `caught up by snapshot (state ${JSON.stringify(vs)})`);
    assert.equal(await count(victim, 'Bulk'), 60);
    const [{ len }] = await cypher(cluster.node(victim), 'MATCH (b:Bulk {k: 59}) RETURN size(b.pad) AS len');
    assert.equal(len, 40000);
    assert.equal(await count(victim, 'WhileAway'), 1);
    assert.equal(await count(victim, 'Person'), 1);
    assert.deepEqual([...vs.voters].sort(), ['node-1', 'node-2', 'node-3']);
  });

  test('a fourth node is added through /admin/cluster/add, catches up, is promoted, and removed again', async () => {
    const all = [1, 2, 3, 4];
    cluster.ids.push(4);
    await cluster.start(4, { bootstrap: false, peers: cluster.peersOf(4, all) });
    const r = await http(cluster.node(leader), '/admin/cluster/add', { method: 'POST', body: { id: 'node-4', address: cluster.addr(4) } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await waitFor('node-4 to be a voter', async () => {
      const s = await cluster.state(leader);
      return s.voters.includes('node-4') ? s : null;
    }, 20000);
    await cluster.waitConverged(20000);
    assert.equal(await count(4, 'Bulk'), 60);
    const st = (await http(cluster.node(4), '/admin/cluster/status')).body;
    assert.equal(st.members.length, 4);
    assert.equal(st.leader.id, `node-${leader}`);
    await cypher(cluster.node(leader), 'CREATE (:WithFour)');
    await cluster.waitConverged();
    assert.equal(await count(4, 'WithFour'), 1);

    const rm = await http(cluster.node(leader), '/admin/cluster/remove', { method: 'POST', body: { node_id: 'node-4' } });
    assert.equal(rm.status, 200, JSON.stringify(rm.body));
    await waitFor('node-4 removed', async () => {
      const s = (await http(cluster.node(leader), '/admin/cluster/status')).body;
      return s.members.length === 3 && !s.members.some((m) => m.id === 'node-4') ? s : null;
    }, 10000);
    await cluster.stop(4);
    cluster.ids.pop();
    await cypher(cluster.node(leader), 'CREATE (:AfterRemove)');
  });
});
