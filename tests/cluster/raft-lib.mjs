// Helpers for the Raft cluster tests: N real daemons whose cluster traffic
// uses fixed loopback addresses (<prefix><i>:7688, as in the clustering
// guide's docker-compose file), with Bolt/HTTP on free 127.0.0.1 ports that
// stay the same across restarts (they are advertised in routing tables).
import { mkdtempSync, rmSync } from 'node:fs';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { startServer, freePort } from '../lib/server.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const AUTH = 'admin:test-password';
const authHeader = 'Basic ' + Buffer.from(AUTH).toString('base64');

export async function http(node, p, { method = 'GET', body, timeout = 5000 } = {}) {
  const res = await fetch(node.httpUrl + p, {
    method,
    headers: { Authorization: authHeader, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}

/** One Cypher statement through the HTTP transaction API; throws on errors. */
export async function cypher(node, statement, parameters = {}) {
  const { status, body } = await http(node, '/db/neo4j/tx/commit', {
    method: 'POST',
    body: { statements: [{ statement, parameters }] },
    timeout: 10000,
  });
  if (status !== 200 || body.errors?.length) {
    const e = new Error(`${statement}: ${JSON.stringify(body.errors ?? body)}`);
    e.code = body.errors?.[0]?.code;
    throw e;
  }
  const r = body.results[0];
  return r.data.map((d) => Object.fromEntries(r.columns.map((c, i) => [c, d.row[i]])));
}

export async function waitFor(what, fn, timeoutMs = 15000, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(stepMs);
  }
}

/**
 * Writers creating (:W {id}) with unique ids through `driver` (WRITE
 * sessions) until stop(); a failed write is never retried. Returns
 * { acked, failed, stop } where stop() resolves once every writer is done.
 */
export function writeLoad(driver, neo4j, names, { pauseMs = 10 } = {}) {
  const acked = [];
  const failed = [];
  let stopping = false;
  let next = 0;
  const writer = async (w) => {
    while (!stopping) {
      const id = `${w}-${next++}`;
      const s = driver.session({ defaultAccessMode: neo4j.session.WRITE });
      try {
        await s.run('CREATE (:W {id: $id})', { id });
        acked.push(id);
      } catch {
        failed.push(id);
        await sleep(pauseMs);
      } finally {
        await s.close().catch(() => {});
      }
    }
  };
  const writers = names.map(writer);
  return { acked, failed, stop: async () => { stopping = true; await Promise.all(writers); } };
}

/** Every node of `cluster` has each :W id at most once and every id of `acked`. */
export async function assertExactlyOnce(cluster, acked) {
  for (const i of cluster.ids) {
    const rows = await cypher(cluster.node(i), 'MATCH (n:W) RETURN n.id AS id, count(*) AS c');
    const seen = new Map(rows.map((r) => [r.id, r.c]));
    for (const [id, c] of seen) assert.equal(c, 1, `node-${i}: ${id} present ${c} times`);
    for (const id of acked) assert.ok(seen.has(id), `node-${i} lacks acknowledged write ${id}`);
  }
}

export class RaftCluster {
  /**
   * prefix: cluster addresses are `${prefix}${i + hostOffset}:7688` for node i (1-based).
   * hostOffset: added to i in the address (default 0), e.g. prefix '127.0.0.', hostOffset 65 -> 127.0.0.66..
   * env: extra environment for every node.
   */
  constructor({ prefix, n, env = {}, clusterId = 'raft-test', hostOffset = 0 }) {
    this.prefix = prefix;
    this.hostOffset = hostOffset;
    this.ids = Array.from({ length: n }, (_, k) => k + 1);
    this.env = env;
    this.clusterId = clusterId;
    this.nodes = new Map();   // i -> server handle (undefined when down)
    this.ports = new Map();   // i -> {bolt, http}
    this.dirs = new Map();    // i -> data dir
  }

  addr(i) { return `${this.prefix}${i + this.hostOffset}:7688`; }

  peersOf(i, ids = this.ids) {
    return ids.filter((j) => j !== i).map((j) => `node-${j}:${this.addr(j)}`).join(',');
  }

  async start(i, { bootstrap = i === 1, peers, env = {}, fresh = false } = {}) {
    if (!this.ports.has(i)) {
      const bolt = await freePort();
      let h = await freePort();
      while (h === bolt) h = await freePort();
      this.ports.set(i, { bolt, http: h });
    }
    if (fresh && this.dirs.has(i)) {
      rmSync(this.dirs.get(i), { recursive: true, force: true });
      this.dirs.delete(i);
    }
    if (!this.dirs.has(i)) this.dirs.set(i, mkdtempSync(path.join(os.tmpdir(), `nornicdb-raft-${i}-`)));
    const { bolt, http: hp } = this.ports.get(i);
    const server = await startServer({
      dataDir: this.dirs.get(i),
      env: { NORNICDB_BOLT_PORT: String(bolt), NORNICDB_HTTP_PORT: String(hp), ...this.raftEnv(i, { bootstrap, peers, env }) },
    });
    this.nodes.set(i, server);
    return server;
  }

  /** The Raft settings of node i (subclasses place the node elsewhere, same settings). */
  raftEnv(i, { bootstrap, peers, env = {} }) {
    return {
      NORNICDB_CLUSTER_MODE: 'raft',
      NORNICDB_CLUSTER_NODE_ID: `node-${i}`,
      NORNICDB_CLUSTER_BIND_ADDR: this.addr(i),
      NORNICDB_CLUSTER_ADVERTISE_ADDR: this.addr(i),
      NORNICDB_CLUSTER_RAFT_CLUSTER_ID: this.clusterId,
      NORNICDB_CLUSTER_RAFT_BOOTSTRAP: bootstrap ? 'true' : 'false',
      NORNICDB_CLUSTER_RAFT_PEERS: peers ?? this.peersOf(i),
      NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT: '600ms',
      NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT: '60ms',
      ...this.env,
      ...env,
    };
  }

  async startAll() {
    // allSettled: when one node fails to start, the others have finished
    // starting (and are in this.nodes) before the error reaches the test's
    // after hook, so stopAll stops every one of them.
    const results = await Promise.allSettled(this.ids.map((i) => this.start(i)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  node(i) { return this.nodes.get(i); }

  live() { return [...this.nodes.entries()].filter(([, s]) => s && !s.exited()).map(([i]) => i); }

  async kill(i) {
    await this.nodes.get(i)?.kill('SIGKILL');
    this.nodes.delete(i);
  }

  async stop(i) {
    await this.nodes.get(i)?.stop();
    this.nodes.delete(i);
  }

  async state(i) {
    return (await http(this.node(i), '/admin/raft/state')).body;
  }

  /** Waits until every live node names the same leader, which says it leads and accepts writes. */
  async waitLeader(timeoutMs = 15000, among = this.live()) {
    return waitFor('one leader', async () => {
      const states = await Promise.all(among.map((i) => this.state(i)));
      const leaders = new Set(states.map((s) => s.leader));
      if (leaders.size !== 1 || states[0].leader == null) return null;
      const li = Number(states[0].leader.replace('node-', ''));
      const ls = states[among.indexOf(li)];
      if (!ls || ls.role !== 'leader' || !ls.writes_ready) return null;
      return li;
    }, timeoutMs);
  }

  /** Waits until every live node has applied the leader's commit index. */
  /**
   * Starts member i (stopped) again with an empty data directory, waits until
   * the leader has removed it, added it back as a learner and promoted it
   * (docs/raft-cluster.md: every member is a voter again) and every member has
   * applied the commit index; returns member i's /admin/raft/state.
   */
  async rejoinWiped(i, leader, timeoutMs = 20000) {
    await this.start(i, { bootstrap: false, fresh: true });
    const all = this.ids.map((k) => `node-${k}`).sort();
    await waitFor('the wiped member to be a voter again', async () => {
      const [l, v] = await Promise.all([this.state(leader), this.state(i)]);
      return [l, v].every((s) => JSON.stringify([...s.voters].sort()) === JSON.stringify(all)) ? v : null;
    }, timeoutMs);
    await this.waitConverged(timeoutMs);
    return this.state(i);
  }

  async waitConverged(timeoutMs = 15000) {
    return waitFor('applied indexes to converge', async () => {
      const states = await Promise.all(this.live().map((i) => this.state(i)));
      const commit = Math.max(...states.map((s) => s.commit_index));
      return states.every((s) => s.applied_index >= commit && s.commit_index === commit) ? commit : null;
    }, timeoutMs);
  }

  async stopAll() {
    await Promise.all([...this.nodes.values()].map((s) => s?.stop()));
    this.nodes.clear();
    for (const d of this.dirs.values()) rmSync(d, { recursive: true, force: true });
    this.dirs.clear();
  }
}
