// A member that lost its data directory must not help elect a leader that
// lacks a committed write (Raft assumes members never forget their log or
// vote). docs/raft-cluster.md, "A member that lost its data directory": the
// leader removes such a member and adds it back as a learner. This test
// opens the window before the leader can do that:
//   1. leader A, followers B and C; B is killed -9 (a paused B would
//      still get X from its socket buffer when resumed);
//   2. a write X commits on A and C (a majority) and is acknowledged;
//   3. A is paused, C is killed -9 and restarted with an empty data dir;
//   4. B restarts: its log lacks X. If the wiped C votes for it, B leads
//      with B + C and X is gone for good (A's copy is overwritten when it
//      resumes).
// Then A resumes; afterwards X must be on every node and the cluster must
// have all three members as voters again.
// Issue #7, fixed by the Raft history (docs/raft.md, "A member that lost its
// data"): the wiped C restarts "new" and grants (pre)votes only to genesis
// candidates; B is "formed" and does not campaign as one, so B and C elect
// nobody until A returns. A then leads again, notices that C lost its log,
// and C catches up.
// Cluster addresses 127.0.0.26-28:7688.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCluster, cypher, sleep, waitFor } from './raft-lib.mjs';

const cluster = new RaftCluster({ prefix: '127.0.0.2', hostOffset: 5, n: 3, clusterId: 'raft-amnesia' });

after(async () => {
  for (const i of cluster.ids) {
    const s = cluster.node(i);
    if (s && !s.exited()) { try { process.kill(s.pid, 'SIGCONT'); } catch { /* gone */ } }
  }
  await cluster.stopAll();
});

test('a member restarted with an empty data dir does not elect a leader that lacks a committed write', {
  timeout: 120000,
}, async () => {
  await cluster.startAll();
  const a = await cluster.waitLeader(20000);
  await cypher(cluster.node(a), 'CREATE (:Warm {n: 1})');
  await cluster.waitConverged(15000);
  const [b, c] = cluster.ids.filter((i) => i !== a);

  await cluster.kill(b);
  await cypher(cluster.node(a), "CREATE (:X {id: 'x'})");      // acknowledged: on A and C
  await waitFor('C applied X', async () => (await cypher(cluster.node(c), 'MATCH (x:X) RETURN count(x) AS n'))[0].n === 1, 10000);

  process.kill(cluster.node(a).pid, 'SIGSTOP');
  await cluster.kill(c);
  await cluster.start(c, { bootstrap: false, fresh: true });
  await cluster.start(b, { bootstrap: false });

  // B and the wiped C alone: a leader among them would be a leader without X.
  let ledWithout = null;
  try {
    ledWithout = await cluster.waitLeader(8000, [b, c]);
  } catch { /* no leader: what Raft requires here */ }

  process.kill(cluster.node(a).pid, 'SIGCONT');
  await cluster.waitLeader(30000);
  await waitFor('all three members voters', async () => {
    const st = await cluster.state(await cluster.waitLeader(5000));
    return JSON.stringify([...st.voters].sort()) === JSON.stringify(['node-1', 'node-2', 'node-3']) && st.learners.length === 0;
  }, 60000, 250);
  await cluster.waitConverged(30000);
  const counts = [];
  for (const i of cluster.ids) counts.push((await cypher(cluster.node(i), 'MATCH (x:X) RETURN count(x) AS n'))[0].n);
  assert.deepEqual(counts, [1, 1, 1],
    `the acknowledged write X is present ${JSON.stringify(counts)} times on nodes 1-3` +
    (ledWithout ? ` (node-${ledWithout} was elected by itself and the wiped node-${c} while node-${a} was paused)` : ''));
  assert.equal(ledWithout, null, `node-${ledWithout}, lacking X, was elected with the wiped node-${c}'s vote`);
});
