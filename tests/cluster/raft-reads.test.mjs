// Linearizable reads (NORNICDB_CLUSTER_RAFT_LINEARIZABLE_READS=true): a read
// on any node, started after a write was acknowledged by the leader, sees
// it, without bookmarks (cluster traffic on 127.0.0.51-53:7688).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCluster, cypher, http, waitFor } from './raft-lib.mjs';

const cluster = new RaftCluster({
  prefix: '127.0.0.5',
  n: 3,
  clusterId: 'reads',
  env: { NORNICDB_CLUSTER_RAFT_LINEARIZABLE_READS: 'true' },
});

before(async () => {
  await cluster.startAll();
});
after(async () => {
  await cluster.stopAll();
});

test('a follower read started after an acknowledged write sees it (ReadIndex)', async () => {
  const leader = await cluster.waitLeader(15000);
  const followers = cluster.ids.filter((i) => i !== leader);
  const t0 = Date.now();
  for (let k = 1; k <= 40; k++) {
    await cypher(cluster.node(leader), 'MERGE (c:Counter {id: 1}) SET c.v = $k', { k });
    const f = followers[k % followers.length];
    const [{ v }] = await cypher(cluster.node(f), 'MATCH (c:Counter {id: 1}) RETURN c.v AS v');
    assert.equal(v, k, `node-${f} read a stale value`);
  }
  console.log(`40 write+follower-read rounds in ${Date.now() - t0} ms`);
  // the leader's own reads go through ReadIndex as well
  const [{ v }] = await cypher(cluster.node(leader), 'MATCH (c:Counter {id: 1}) RETURN c.v AS v');
  assert.equal(v, 40);
});

test('recovering from complete cluster loss as the guide describes', async () => {
  // all nodes down, data directories intact
  for (const i of cluster.ids) await cluster.stop(i);
  // 1. start one node with bootstrap
  await cluster.start(1, { bootstrap: true });
  // 2. alone it cannot win an election (2 of 3 voters needed): unhealthy
  const h = await waitFor('node-1 to report no leader', async () => {
    const r = await http(cluster.node(1), '/health');
    return r.status === 503 ? r : null;
  }, 10000);
  assert.match(h.body.reason ?? JSON.stringify(h.body), /leader/);
  assert.equal((await cluster.state(1)).voters.length, 3);
  // 3. add the remaining nodes
  await cluster.start(2, { bootstrap: false });
  await cluster.start(3, { bootstrap: false });
  // 4. verify cluster health
  const leader = await cluster.waitLeader(15000);
  const st = await waitFor('every member healthy', async () => {
    const b = (await http(cluster.node(leader), '/admin/cluster/status')).body;
    return b.members.every((m) => m.healthy) ? b : null;
  }, 10000);
  assert.equal(st.members.length, 3);
  for (const i of cluster.ids) {
    assert.equal((await http(cluster.node(i), '/health')).status, 200);
    const [{ v }] = await cypher(cluster.node(i), 'MATCH (c:Counter {id: 1}) RETURN c.v AS v');
    assert.equal(v, 40, `node-${i}`);
  }
});
