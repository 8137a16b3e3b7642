// Membership change and leadership transfer UNDER LOAD (issue #7): a 3-node
// Raft cluster (cluster traffic on 127.0.0.101-103:7688, a fourth node on
// 127.0.0.104) keeps taking writes from concurrent clients while leadership
// is transferred (named target and none), node-4 is added and promoted, a
// follower is removed (left running), wiped and added back, and the current
// leader is removed (it must step down; it is left running too). Afterwards
// every acknowledged write is on every remaining member exactly once, no write
// appears twice, and the longest write stall around each change is printed
// and bounded. Writers never retry an id: a failed write may or may not be
// applied, but nothing may be applied twice.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { RaftCluster, http, cypher, waitFor, sleep } from './raft-lib.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');

const STALL_BOUND_MS = 5000;
const LOAD_MAX_MS = 45000;        // the writers stop by then whatever happens
const MAX_WRITES_PER_WRITER = 20000;

const cluster = new RaftCluster({
  prefix: '127.0.0.',
  hostOffset: 100,
  n: 3,
  clusterId: 'raft-load',
  // snapshots and compaction happen during the run, so node-4 may be caught up by one
  env: { NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD: '300', NORNICDB_CLUSTER_RAFT_TRAILING_LOGS: '30' },
});
const auth = neo4j.auth.basic('admin', 'test-password');

// every daemon started, to check its output for sanitizer reports at the end
const handles = [];
const startNode = cluster.start.bind(cluster);
cluster.start = async (...args) => {
  const s = await startNode(...args);
  handles.push(s);
  return s;
};

before(async () => {
  await cluster.startAll();
});
after(async () => {
  await cluster.stopAll();
});

const boltAddrs = () => cluster.live().map((i) => `127.0.0.1:${cluster.ports.get(i).bolt}`);

/** The longest gap between consecutive acknowledgements that overlaps [from, to]. */
function longestGap(ackTimes, from, to) {
  const ts = ackTimes.filter((t) => t >= from - STALL_BOUND_MS * 2 && t <= to + STALL_BOUND_MS * 2).sort((a, b) => a - b);
  let worst = 0;
  for (let k = 1; k < ts.length; k++) {
    if (ts[k] < from || ts[k - 1] > to) continue;
    worst = Math.max(worst, ts[k] - ts[k - 1]);
  }
  // no acknowledgement at all after `from`: the stall lasts at least until `to`
  const lastBefore = ts.filter((t) => t <= from).pop();
  if (!ts.some((t) => t > from)) worst = Math.max(worst, to - (lastBefore ?? from));
  return worst;
}

test('transfers, add and promote, and removal of the leader under write load: acknowledged writes exactly once everywhere', async () => {
  let leader = await cluster.waitLeader(15000);
  const t0 = Date.now();
  const routed = neo4j.driver(`neo4j://${boltAddrs()[0]}`, auth, { resolver: () => boltAddrs(), maxConnectionPoolSize: 16 });
  // Direct bolt:// writers on a node that is never removed (the follower and
  // the leader removed below are chosen among the others): their writes are
  // forwarded by a follower to whoever leads, or served locally while it leads.
  const directNode = cluster.ids.find((i) => i !== leader && i !== 1) ?? cluster.ids.find((i) => i !== leader);
  const direct = neo4j.driver(`bolt://127.0.0.1:${cluster.ports.get(directNode).bolt}`, auth, { maxConnectionPoolSize: 8 });

  const acked = [];           // ids whose write was acknowledged
  const ackTimes = [];        // when (ms since epoch)
  const failed = [];          // ids whose write failed (may or may not be applied)
  const errors = new Map();   // error code -> count
  let stop = false;
  const writer = (driver, name) => async () => {
    for (let k = 0; k < MAX_WRITES_PER_WRITER && !stop && Date.now() - t0 < LOAD_MAX_MS; k++) {
      const id = `${name}-${k}`;
      const s = driver.session({ defaultAccessMode: neo4j.session.WRITE });
      try {
        await s.run('CREATE (:LW {id: $id})', { id });
        acked.push(id);
        ackTimes.push(Date.now());
      } catch (e) {
        failed.push(id);
        const code = e.code ?? e.message.slice(0, 60);
        errors.set(code, (errors.get(code) ?? 0) + 1);
        await sleep(10);
      } finally {
        await s.close().catch(() => {});
      }
    }
  };
  const writers = [
    ...['r0', 'r1', 'r2', 'r3'].map((n) => writer(routed, n)()),
    ...['d0', 'd1'].map((n) => writer(direct, n)()),
  ];
  const events = [];
  let members = [1, 2, 3];   // the current voters: only their view of the leader counts
  const removedRunning = []; // removed members left running: they must not disrupt the others

  /** Waits `ms` of steady load, checking that writes keep being acknowledged. */
  const dwell = async (ms, what) => {
    const before = acked.length;
    const term0 = (await cluster.state(leader)).term;
    await sleep(ms);
    await waitFor(`writes during ${what}`, async () => acked.length > before + 10, 10000, 20);
    // no election meanwhile: removed members left running do not disrupt the voters
    const s = await cluster.state(leader);
    assert.equal(s.term, term0, `term changed during ${what} (node-${leader}: ${JSON.stringify(s)})`);
    assert.equal(s.role, 'leader', `node-${leader} lost the lead during ${what}`);
  };
  /** Waits until writes flow again after `since`, then records the longest stall. */
  const settle = async (what, ts, tLead) => {
    const before = acked.length;
    await waitFor(`writes after ${what}`, async () => acked.length > before + 20 && ackTimes.at(-1) > tLead, 15000, 20);
    events.push({ what, ms: tLead - ts, stall: longestGap(ackTimes, ts, Date.now()) });
  };
  const voterEverywhere = (id, yes) => waitFor(`node-${id} to be ${yes ? '' : 'no longer '}a voter on every member`, async () => {
    const states = await Promise.all(members.filter((i) => i !== id).map((i) => cluster.state(i)));
    return states.every((s) => s.voters.includes(`node-${id}`) === yes
      && (yes || !s.learners?.includes(`node-${id}`))) ? states : null;
  }, 20000);

  const transfer = async (target) => {
    const from = leader;
    const body = target ? { target: `node-${target}` } : {};
    const path = target ? '/admin/raft/transfer-leadership' : '/admin/cluster/transfer-leadership';
    const ts = Date.now();
    const r = await http(cluster.node(from), path, { method: 'POST', body });
    assert.equal(r.status, 200, `${path} on node-${from}: ${JSON.stringify(r.body)}`);
    leader = await waitFor(`leadership to move off node-${from}${target ? ` to node-${target}` : ''}`, async () => {
      const l = await cluster.waitLeader(3000, members);
      return l !== from && (!target || l === target) ? l : null;
    }, 10000);
    await settle(`transfer node-${from} -> node-${leader}${target ? '' : ' (no target)'}`, ts, Date.now());
  };

  const add = async (id, { fresh = false } = {}) => {
    if (!cluster.ids.includes(id)) cluster.ids.push(id);
    await cluster.start(id, { bootstrap: false, peers: cluster.peersOf(id, [...members, id]), fresh });
    const ts = Date.now();
    const r = await http(cluster.node(leader), '/admin/cluster/add', { method: 'POST', body: { id: `node-${id}`, address: cluster.addr(id) } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await voterEverywhere(id, true);
    members.push(id);
    await settle(`add node-${id}${fresh ? ' (empty data dir)' : ''} until a voter everywhere`, ts, Date.now());
  };

  const remove = async (id) => {
    const wasLeader = id === leader;
    const ts = Date.now();
    const r = await http(cluster.node(leader), '/admin/cluster/remove', { method: 'POST', body: { id: `node-${id}` } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    members = members.filter((i) => i !== id);
    await voterEverywhere(id, false);
    const l = await waitFor(`a leader among ${members}`, async () => {
      const x = await cluster.waitLeader(3000, members);
      return x !== id ? x : null;
    }, 15000);
    const tLead = Date.now();
    if (wasLeader) {
      assert.notEqual(l, id);
      const rs = await cluster.state(id);
      assert.notEqual(rs.role, 'leader', `the removed leader still leads: ${JSON.stringify(rs)}`);
    }
    leader = l;
    removedRunning.push(id);
    await settle(`remove ${wasLeader ? 'leader' : 'follower'} node-${id} (leader now node-${leader})`, ts, tLead);
  };

  // let the load reach a steady state
  await waitFor('the first writes', async () => acked.length >= 50, 10000, 20);
  await dwell(800, 'warm-up');

  // 1. leadership transfers: named target, no target, named target
  await transfer(cluster.ids.find((i) => i !== leader && i !== directNode));
  await dwell(500, 'steady load');
  await transfer(null);
  await dwell(500, 'steady load');
  await transfer(cluster.ids.find((i) => i !== leader));
  await dwell(500, 'steady load');

  // 2. add node-4 (a learner, caught up and promoted under load)
  await add(4);
  await dwell(500, 'steady load with four voters');

  // 3. remove a follower (it stays up, removed), then bring it back with an
  //    empty data dir: remove first, then wipe and add (docs/raft-cluster.md)
  const follower = members.find((i) => i !== leader && i !== directNode && i !== 4);
  await remove(follower);
  await dwell(1000, 'steady load with a removed member running');
  removedRunning.splice(removedRunning.indexOf(follower), 1);
  await cluster.stop(follower);
  await add(follower, { fresh: true });
  await dwell(500, 'steady load with four voters again');

  // 4. remove the current leader (not the direct writers' node): it must step down
  if (leader === directNode) {
    await transfer(members.find((i) => i !== leader));
    await dwell(300, 'steady load');
  }
  const removedLeader = leader;
  await remove(removedLeader);
  await dwell(1000, 'steady load with the removed leader running');

  // 5. one more transfer inside the new membership, to node-4 unless it leads already
  await transfer(leader === 4 ? members.find((i) => i !== 4) : 4);
  await dwell(500, 'steady load');

  // removed members left running never took the lead back
  for (const i of removedRunning) {
    const s = await cluster.state(i);
    assert.notEqual(s.role, 'leader', `removed node-${i} leads: ${JSON.stringify(s)}`);
  }
  // the load ends
  stop = true;
  await Promise.all(writers);
  await routed.close();
  await direct.close();
  for (const i of removedRunning) {
    await cluster.stop(i);
    cluster.ids.splice(cluster.ids.indexOf(i), 1);
  }

  // ms: until the change was complete (the new leader known to all voters, or the membership everywhere)
  for (const e of events) console.log(`${e.what}: complete after ${e.ms} ms, longest write stall ${e.stall} ms`);
  console.log(`${acked.length} acknowledged, ${failed.length} failed writes in ${Date.now() - t0} ms; errors ${JSON.stringify(Object.fromEntries(errors))}`);
  assert.ok(acked.length > 300, `only ${acked.length} writes acknowledged`);

  await cluster.waitLeader(15000);
  await cluster.waitConverged(20000);
  const remaining = cluster.live();
  assert.deepEqual(remaining.sort(), cluster.ids.slice().sort());
  assert.equal(remaining.length, 3);
  const ackedSet = new Set(acked);
  const failedSet = new Set(failed);
  const sizes = [];
  for (const i of remaining) {
    const s = await cluster.state(i);
    assert.deepEqual([...s.voters].sort(), remaining.map((j) => `node-${j}`).sort(), `node-${i} voters`);
    assert.deepEqual(s.learners ?? [], [], `node-${i} learners`);
    const rows = await cypher(cluster.node(i), 'MATCH (n:LW) RETURN n.id AS id, count(*) AS c');
    const seen = new Map(rows.map((r) => [r.id, r.c]));
    for (const [id, c] of seen) {
      assert.equal(c, 1, `node-${i}: ${id} present ${c} times (${ackedSet.has(id) ? 'acknowledged' : 'not acknowledged'})`);
      assert.ok(ackedSet.has(id) || failedSet.has(id), `node-${i}: ${id} was never written`);
    }
    for (const id of ackedSet) assert.ok(seen.has(id), `node-${i} lacks acknowledged write ${id}`);
    sizes.push(seen.size);
  }
  assert.equal(new Set(sizes).size, 1, `members disagree on the number of writes: ${sizes}`);

  // the stall bound (generous: a transfer takes at most about one election timeout)
  for (const e of events) assert.ok(e.stall < STALL_BOUND_MS, `${e.what}: writes stalled for ${e.stall} ms`);
  const tr = events.filter((e) => e.what.startsWith('transfer'));
  console.log(`longest write stall during a transfer: ${Math.max(...tr.map((e) => e.stall))} ms; during any change: ${Math.max(...events.map((e) => e.stall))} ms; total ${Date.now() - t0} ms`);

  // stopped cleanly, and (in an ASan/UBSan build) without a sanitizer report
  for (const i of cluster.live()) await cluster.stop(i);
  for (const h of handles) {
    const out = h.output();
    assert.doesNotMatch(out, /AddressSanitizer|LeakSanitizer|runtime error:/, `a daemon reported:\n${out.slice(-4000)}`);
  }
});
