// Seeded rounds of kill -9 (mostly of the leader) and restart under write
// load through a routing driver; afterwards every acknowledged write is on
// every node exactly once (cluster traffic on 127.0.0.71-73:7688).
// NORNICDB_RAFT_ROUNDS sets the number of rounds (default 4),
// NORNICDB_RAFT_SEED the schedule.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { RaftCluster, assertExactlyOnce, cypher, sleep, writeLoad } from './raft-lib.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');
const rounds = Number(process.env.NORNICDB_RAFT_ROUNDS ?? 4);
let seed = Number(process.env.NORNICDB_RAFT_SEED ?? 7);
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };

const cluster = new RaftCluster({
  prefix: '127.0.0.7',
  n: 3,
  clusterId: 'failover',
  env: { NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD: '200', NORNICDB_CLUSTER_RAFT_TRAILING_LOGS: '20' },
});

before(async () => {
  await cluster.startAll();
});
after(async () => {
  await cluster.stopAll();
});

test(`${rounds} rounds of kill -9 under load: acknowledged writes survive exactly once`, async () => {
  await cluster.waitLeader(15000);
  const addrs = cluster.ids.map((i) => `127.0.0.1:${cluster.ports.get(i).bolt}`);
  const driver = neo4j.driver(`neo4j://${addrs[0]}`, neo4j.auth.basic('admin', 'test-password'), { resolver: () => addrs });
  const load = writeLoad(driver, neo4j, [0, 1, 2, 3]);
  const { acked } = load;
  for (let r = 0; r < rounds; r++) {
    await sleep(600);
    const leader = await cluster.waitLeader(20000);
    const victim = rnd() < 0.6 ? leader : cluster.ids[Math.floor(rnd() * 3)];
    await cluster.kill(victim);
    await sleep(300 + rnd() * 1000);
    await cluster.start(victim, { bootstrap: victim === 1 });
  }
  await sleep(500);
  await load.stop();
  await driver.close();
  assert.ok(acked.length > rounds * 10, `only ${acked.length} writes acknowledged`);
  await cluster.waitLeader(20000);
  await cluster.waitConverged(30000);
  await assertExactlyOnce(cluster, acked);
  console.log(`${acked.length} acknowledged writes verified on 3 nodes after ${rounds} rounds`);
});

test('a leader paused with SIGSTOP is deposed; resumed, it drops what never committed and rejoins', async () => {
  const leader = await cluster.waitLeader(15000);
  const addrs = cluster.ids.map((i) => `127.0.0.1:${cluster.ports.get(i).bolt}`);
  const auth = neo4j.auth.basic('admin', 'test-password');
  const routed = neo4j.driver(`neo4j://${addrs[0]}`, auth, { resolver: () => addrs });
  // writers stuck on the old leader have writes in flight when it pauses
  const direct = neo4j.driver(`bolt://127.0.0.1:${cluster.ports.get(leader).bolt}`, auth);
  const acked = [];
  let stop = false;
  let next = 0;
  const writer = (driver) => async (w) => {
    while (!stop) {
      const id = `p${w}-${next++}`;
      const s = driver.session({ defaultAccessMode: neo4j.session.WRITE });
      try {
        await s.run('CREATE (:P {id: $id})', { id });
        acked.push(id);
      } catch {
        await sleep(10);
      } finally {
        await s.close().catch(() => {});
      }
    }
  };
  const writers = [...[0, 1].map(writer(routed)), ...[2, 3].map(writer(direct))];
  await sleep(600);
  const pid = cluster.node(leader).pid;
  process.kill(pid, 'SIGSTOP');
  let resumed = false;
  try {
    const others = cluster.ids.filter((i) => i !== leader);
    const newLeader = await cluster.waitLeader(15000, others);
    assert.notEqual(newLeader, leader);
    await sleep(1000); // writes go on through the new leader
  } finally {
    process.kill(pid, 'SIGCONT');
    resumed = true;
  }
  assert.ok(resumed);
  await sleep(1000);
  stop = true;
  await Promise.all(writers);
  await routed.close();
  await direct.close();
  await cluster.waitLeader(15000);
  await cluster.waitConverged(30000);
  const st = await cluster.state(leader);
  assert.equal(st.role, 'follower');
  const sizes = [];
  for (const i of cluster.ids) {
    const rows = await cypher(cluster.node(i), 'MATCH (n:P) RETURN n.id AS id, count(*) AS c');
    const seen = new Map(rows.map((r) => [r.id, r.c]));
    for (const [id, c] of seen) assert.equal(c, 1, `node-${i}: ${id} present ${c} times`);
    for (const id of acked) assert.ok(seen.has(id), `node-${i} lacks acknowledged write ${id}`);
    sizes.push(seen.size);
  }
  assert.equal(new Set(sizes).size, 1, `nodes disagree: ${sizes}`);
  console.log(`${acked.length} acknowledged writes around a paused leader verified`);
});
