// Users and roles are replicated state (docs/architecture.md, "Users"): a
// user change is a write committed through the same log as graph writes, so
// it reaches every member of a Raft cluster and a hot standby.
//   * Raft, 3 nodes (cluster traffic on 127.0.0.111-113:7688): CREATE USER on
//     the leader (official driver, bolt://) and the user logs in with Bolt and
//     HTTP basic auth on every node; ALTER USER: old password fails, new one
//     works on the followers; a user command on a follower fails exactly like
//     a graph write there (and a bolt:// one is forwarded like a graph write);
//     a follower killed with -9 (users.json removed) gets the users back from
//     its log; a member wiped and re-added after a snapshot gets them from
//     the snapshot; DROP USER: the login fails everywhere.
//   * HA pair (127.0.0.115-116): a user created on the primary logs in on the
//     standby after a failover.
// Authentication failures are rate-limited per client address (5 within
// 60 s), so no login is ever polled: the test waits until every node has
// applied the change (raft state / WAL position, as admin), then tries each
// login once. Every check that expects a failure runs after a success from
// the same address on that node, so no node ever sees more than 2 in a row.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { RaftCluster, cypher, http, waitFor } from './raft-lib.mjs';
import { startPair, waitConverged as haConverged } from './ha-lib.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');
const ADMIN = neo4j.auth.basic('admin', 'test-password');
const WAIT_MS = 15000; // bound on replication of one change to every node

async function boltRun(node, auth, statement, params = {}) {
  const driver = neo4j.driver(node.boltUrl, auth, { maxConnectionPoolSize: 1, connectionTimeout: 5000 });
  try {
    const s = driver.session();
    try {
      return await s.run(statement, params);
    } finally {
      await s.close();
    }
  } finally {
    await driver.close();
  }
}

/** TRUE when `user` logs in over Bolt on `node`; FALSE on Unauthorized. */
async function boltLogin(node, user, password) {
  const driver = neo4j.driver(node.boltUrl, neo4j.auth.basic(user, password), { maxConnectionPoolSize: 1, connectionTimeout: 5000 });
  try {
    await driver.verifyConnectivity();
    const s = driver.session({ defaultAccessMode: neo4j.session.READ });
    try {
      await s.run('RETURN 1');
    } finally {
      await s.close();
    }
    return true;
  } catch (e) {
    if (e.code === 'Neo.ClientError.Security.Unauthorized') return false;
    throw e;
  } finally {
    await driver.close();
  }
}

/** TRUE when `user` is accepted by HTTP basic auth on `node`; FALSE on 401. */
async function httpLogin(node, user, password) {
  const res = await fetch(node.httpUrl + '/db/neo4j/tx/commit', {
    method: 'POST',
    headers: {
      Authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64'),
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({ statements: [{ statement: 'RETURN 1 AS one' }] }),
    signal: AbortSignal.timeout(5000),
  });
  const body = await res.json().catch(() => null);
  if (res.status === 401) return false;
  if (res.status === 200 && !body?.errors?.length) return true;
  throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
}

/** Call once the nodes have applied the change. */
async function loginsEverywhere(nodes, user, password) {
  for (const [name, node] of nodes) {
    assert.equal(await httpLogin(node, user, password), true, `${user} over HTTP on ${name}`);
    assert.equal(await boltLogin(node, user, password), true, `${user} over Bolt on ${name}`);
  }
}

/** The first error of one statement through the HTTP API ({code, message}), null when it succeeds. */
async function httpError(node, statement) {
  const { body } = await http(node, '/db/neo4j/tx/commit', { method: 'POST', body: { statements: [{ statement }] }, timeout: 10000 });
  return body.errors?.length ? { code: body.errors[0].code, message: body.errors[0].message } : null;
}

describe('users in a raft cluster', () => {
  const cluster = new RaftCluster({
    prefix: '127.0.0.',
    hostOffset: 110,
    n: 3,
    clusterId: 'users-replication',
    // A short log behind each snapshot, so a wiped member needs the snapshot;
    // no scheduled snapshots, only the requested one.
    env: {
      NORNICDB_CLUSTER_RAFT_TRAILING_LOGS: '2',
      NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD: '1000000',
      NORNICDB_CLUSTER_RAFT_SNAPSHOT_INTERVAL: '1h',
    },
  });
  let leader;
  const followers = () => cluster.ids.filter((i) => i !== leader);
  const named = (ids) => ids.map((i) => [`node-${i}`, cluster.node(i)]);
  after(async () => { await cluster.stopAll(); });

  test('CREATE USER on the leader: the user logs in with Bolt and HTTP on every node', { timeout: 40000 }, async () => {
    await cluster.startAll();
    leader = await cluster.waitLeader(15000);
    await boltRun(cluster.node(leader), ADMIN, "CREATE USER alice SET PASSWORD 'alice-pw-1' CHANGE NOT REQUIRED");
    await cluster.waitConverged(WAIT_MS);
    await loginsEverywhere(named(cluster.ids), 'alice', 'alice-pw-1');
    // roles travel with the table: alice (editor by default) writes through the leader
    const { body } = await http(cluster.node(followers()[0]), '/admin/users');
    assert.deepEqual(body.users.find((u) => u.username === 'alice'), { username: 'alice', role: 'editor' });
  });

  test('ALTER USER on the leader: on the followers the old password fails, the new one works', { timeout: 30000 }, async () => {
    await boltRun(cluster.node(leader), ADMIN, "ALTER USER alice SET PASSWORD 'alice-pw-2'");
    await cluster.waitConverged(WAIT_MS);
    for (const [name, node] of named(followers())) {
      assert.equal(await httpLogin(node, 'alice', 'alice-pw-2'), true, `new password over HTTP on ${name}`);
      assert.equal(await boltLogin(node, 'alice', 'alice-pw-2'), true, `new password over Bolt on ${name}`);
      assert.equal(await httpLogin(node, 'alice', 'alice-pw-1'), false, `old password over HTTP on ${name}`);
      assert.equal(await boltLogin(node, 'alice', 'alice-pw-1'), false, `old password over Bolt on ${name}`);
      assert.equal(await httpLogin(node, 'alice', 'alice-pw-2'), true);
    }
  });

  test('a user command on a follower fails like a graph write there; bolt:// forwards both', { timeout: 30000 }, async () => {
    const fi = followers()[0];
    const F = cluster.node(fi);
    const graph = await httpError(F, 'CREATE (:NotOnAFollower)');
    assert.ok(graph, 'a graph write on a follower fails');
    assert.equal(graph.code, 'Neo.ClientError.Cluster.NotALeader');
    for (const cmd of ["CREATE USER bob SET PASSWORD 'bob-pw' CHANGE NOT REQUIRED", "ALTER USER alice SET PASSWORD 'x'", 'DROP USER alice']) {
      assert.deepEqual(await httpError(F, cmd), graph, cmd);
    }
    const admin = await http(F, '/admin/users', { method: 'POST', body: { username: 'bob', password: 'bob-pw', role: 'reader' } });
    assert.equal(admin.status, 409, JSON.stringify(admin.body));
    assert.equal(admin.body.error, graph.message);
    // Nothing changed anywhere.
    assert.equal(await httpLogin(F, 'alice', 'alice-pw-2'), true);
    // bolt:// straight to the follower: forwarded to the leader like a graph write.
    await boltRun(F, ADMIN, "CREATE USER fwd SET PASSWORD 'fwd-pw' CHANGE NOT REQUIRED");
    await cluster.waitConverged(WAIT_MS);
    await loginsEverywhere(named(cluster.ids), 'fwd', 'fwd-pw');
  });

  test('a follower killed with -9 gets the users back from its log', { timeout: 40000 }, async () => {
    const victim = followers()[0];
    await cluster.waitConverged(15000);
    await cluster.kill(victim);
    // Without its users.json the node starts with only the initial admin; no
    // user change happens meanwhile, so only replaying its own log can bring
    // alice's current password back.
    rmSync(path.join(cluster.dirs.get(victim), 'users.json'), { force: true });
    await cluster.start(victim, { bootstrap: false });
    await cluster.waitConverged(20000);
    await loginsEverywhere(named([victim]), 'alice', 'alice-pw-2');
    await loginsEverywhere(named([victim]), 'fwd', 'fwd-pw');
    assert.equal(await httpLogin(cluster.node(victim), 'alice', 'alice-pw-1'), false);
    // and it follows later changes again
    await boltRun(cluster.node(leader), ADMIN, "CREATE USER dora SET PASSWORD 'dora-pw' CHANGE NOT REQUIRED");
    await cluster.waitConverged(WAIT_MS);
    await loginsEverywhere(named([victim]), 'dora', 'dora-pw');
  });

  test('a member wiped and re-added after a snapshot gets the users', { timeout: 50000 }, async () => {
    leader = await cluster.waitLeader(15000);
    const L = cluster.node(leader);
    await boltRun(L, ADMIN, "CREATE USER erin SET PASSWORD 'erin-pw' CHANGE NOT REQUIRED");
    for (let k = 0; k < 6; k++) await cypher(L, 'CREATE (:Filler {k: $k})', { k });
    await cluster.waitConverged(15000);
    const snap = await http(L, '/admin/raft/snapshot', { method: 'POST', timeout: 20000 });
    assert.equal(snap.status, 200, JSON.stringify(snap.body));
    const ls = await cluster.state(leader);
    assert.ok(ls.first_index > 1, `the leader compacted its log (first ${ls.first_index})`);

    const victim = followers()[0];
    await cluster.stop(victim);
    const vs = await cluster.rejoinWiped(victim, leader);
    assert.ok(vs.snapshot_index > 0, `caught up by snapshot (state ${JSON.stringify(vs)})`);
    await loginsEverywhere(named([victim]), 'erin', 'erin-pw');
    await loginsEverywhere(named([victim]), 'alice', 'alice-pw-2');
    await loginsEverywhere(named([victim]), 'fwd', 'fwd-pw');
  });

  test('DROP USER on the leader: the login fails on every node', { timeout: 30000 }, async () => {
    leader = await cluster.waitLeader(15000);
    await boltRun(cluster.node(leader), ADMIN, 'DROP USER alice');
    await cluster.waitConverged(WAIT_MS);
    for (const [name, node] of named(cluster.ids)) {
      assert.equal(await httpLogin(node, 'fwd', 'fwd-pw'), true); // a success first: resets the failure count
      assert.equal(await httpLogin(node, 'alice', 'alice-pw-2'), false, `alice over HTTP on ${name}`);
      assert.equal(await boltLogin(node, 'alice', 'alice-pw-2'), false, `alice over Bolt on ${name}`);
    }
  });
});

describe('users in a hot-standby pair', () => {
  let pair;
  after(async () => { if (pair) await pair.stop(); });

  test('a user created on the primary logs in on the standby after a failover', { timeout: 40000 }, async () => {
    pair = await startPair({ syncMode: 'semi_sync', failover: '30s', hosts: { a: '127.0.0.115', b: '127.0.0.116' } });
    await boltRun(pair.a, ADMIN, "CREATE USER hank SET PASSWORD 'hank-pw' CHANGE NOT REQUIRED");
    assert.equal(await httpLogin(pair.a, 'hank', 'hank-pw'), true);
    await haConverged(pair.a, pair.b);
    await pair.a.kill('SIGKILL');
    const r = await http(pair.b, '/admin/promote', { method: 'POST' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await loginsEverywhere([['the promoted standby', pair.b]], 'hank', 'hank-pw');
    // and user management goes on on the new primary
    await boltRun(pair.b, ADMIN, "ALTER USER hank SET PASSWORD 'hank-pw-2'");
    assert.equal(await httpLogin(pair.b, 'hank', 'hank-pw-2'), true);
  });
});
