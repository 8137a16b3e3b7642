// Five-node Raft smoke test (cluster traffic on 127.0.0.31-35:7688): one
// leader, writes replicate to all, the cluster survives losing two nodes
// (the leader among them) and the two rejoin.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCluster, cypher, http, waitFor } from './raft-lib.mjs';

// The clustering guide's timing values, verbatim.
const cluster = new RaftCluster({
  prefix: '127.0.0.3',
  n: 5,
  clusterId: 'five',
  env: {
    NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT: '1s',
    NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT: '100ms',
    NORNICDB_CLUSTER_RAFT_SNAPSHOT_INTERVAL: '300',
    NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD: '10000',
  },
});

before(async () => {
  await cluster.startAll();
});
after(async () => {
  await cluster.stopAll();
});

test('five nodes: one leader, replication, survives two failures, rejoin', async () => {
  let leader = await cluster.waitLeader(20000);
  const states = await Promise.all(cluster.ids.map((i) => cluster.state(i)));
  assert.equal(states.filter((s) => s.role === 'leader').length, 1);
  for (const s of states) assert.equal(s.voters.length, 5);
  for (let k = 0; k < 20; k++) await cypher(cluster.node(leader), 'CREATE (:Five {k: $k})', { k });
  await cluster.waitConverged();
  for (const i of cluster.ids) {
    const [{ c }] = await cypher(cluster.node(i), 'MATCH (n:Five) RETURN count(n) AS c');
    assert.equal(c, 20, `node-${i}`);
  }
  const other = cluster.ids.find((i) => i !== leader);
  await cluster.kill(leader);
  await cluster.kill(other);
  const newLeader = await cluster.waitLeader(15000);
  assert.ok(![leader, other].includes(newLeader));
  await cypher(cluster.node(newLeader), 'CREATE (:Five {k: 100})');
  await cluster.start(leader, { bootstrap: leader === 1 });
  await cluster.start(other, { bootstrap: other === 1 });
  await cluster.waitLeader(15000);
  await cluster.waitConverged(20000);
  for (const i of cluster.ids) {
    const [{ c }] = await cypher(cluster.node(i), 'MATCH (n:Five) RETURN count(n) AS c');
    assert.equal(c, 21, `node-${i}`);
  }
});

test('without a majority no leader is elected and /health answers 503', async () => {
  const leader = await cluster.waitLeader(15000);
  const doomed = cluster.ids.filter((i) => i !== leader).slice(0, 3);
  for (const i of doomed) await cluster.kill(i);
  const left = cluster.live();
  const t0 = Date.now();
  for (const i of left) {
    const h = await waitFor(`node-${i} unhealthy`, async () => {
      const r = await http(cluster.node(i), '/health');
      return r.status === 503 ? r : null;
    }, 10000);
    assert.equal(h.body.replication.mode, 'raft');
    assert.equal(h.body.replication.is_leader, false);
    assert.equal(h.body.replication.state, 'electing');
  }
  console.log(`leader gave up and /health turned 503 after ${Date.now() - t0} ms`);
  await assert.rejects(cypher(cluster.node(left[0]), 'CREATE (:NoQuorum)'));
  for (const i of doomed) await cluster.start(i, { bootstrap: i === 1 });
  await cluster.waitLeader(15000);
  const h = await http(cluster.node(left[0]), '/health');
  assert.equal(h.status, 200);
});
