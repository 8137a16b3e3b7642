// Linearizable reads (NORNICDB_CLUSTER_RAFT_LINEARIZABLE_READS=true): a read
// on any node, started after a write was acknowledged by the leader, sees
// it, without bookmarks (cluster traffic on 127.0.0.51-53:7688).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCluster, cypher } from './raft-lib.mjs';

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
