#!/usr/bin/env node
// Quorum writes: a 3-node NornicDB Raft cluster (raft.so; each
// `CREATE (:Person {id: $id, name: $name})` sent over Bolt to the leader,
// acknowledged once a majority has it durably) beside a 3-member etcd
// cluster (`put` to the leader's endpoint, acknowledged once a majority has
// fsynced it), at 1, 16 and 64 closed-loop clients. Both are driven by the C
// load generator bench-load (Bolt; etcd's HTTP/JSON gateway /v3/kv/put) when
// it is built next to NORNICDB_BIN, else (or with --gen node) by
// neo4j-driver / etcd3 (gRPC) in Node worker processes; plus the failover window of each: kill -9 of
// the leader -> first acknowledged write through a surviving member, with
// the same election timeout (1000 ms) and heartbeat (100 ms) on both sides
// (etcd's defaults).
//
//   node tests/bench/bench-etcd.mjs [--seconds 5] [--clients 1,16,64] [--seed 42]
//        [--gen c|node] [--workers N] [--failover-rounds 1] [--json out.json]
//
// NORNICDB_BIN selects the daemon (default build/nornicdb); the Raft side is
// skipped with a reason when <bin dir>/modules/raft/raft.so is missing or
// the cluster does not elect a leader.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { RaftCluster, cypher as raftCypher } from '../cluster/raft-lib.mjs';
import { runLoadSeries } from './lib/loadgen.mjs';
import { etcdLeader, startEtcdCluster } from './lib/peers.mjs';
import { fmtMs, fmtNum, parseOptions, printTable, sleep, writeJson } from './lib/stats.mjs';
import { CREATE_PERSON, rowCells } from './bench-writes.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

export const ELECTION_TIMEOUT_MS = 1000;
export const HEARTBEAT_MS = 100;

export function serverBin() {
  return process.env.NORNICDB_BIN ? path.resolve(process.env.NORNICDB_BIN)
    : path.resolve(here, '..', '..', 'build', 'nornicdb');
}

/** null when the module file is there, else why not. */
export function moduleMissing(mode) {
  const so = path.join(path.dirname(serverBin()), 'modules', mode, `${mode}.so`);
  return existsSync(so) ? null : `${path.relative(process.cwd(), so)} not built`;
}

// Distinct loopback prefix so that these cluster addresses (<prefix>i:7688)
// do not collide with the cluster tests' ones when both run at once.
const RAFT_PREFIX = '127.0.77.';

async function startRaft(log) {
  const missing = moduleMissing('raft');
  if (missing) throw new Error(missing);
  const cluster = new RaftCluster({
    prefix: RAFT_PREFIX, n: 3, clusterId: `bench-${process.pid}`,
    env: {
      NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT: `${ELECTION_TIMEOUT_MS}ms`,
      NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT: `${HEARTBEAT_MS}ms`,
    },
  });
  try {
    await cluster.startAll();
    const leader = await cluster.waitLeader(20000);
    log(`raft: 3 nodes up, leader node-${leader} (pids ${cluster.ids.map((i) => cluster.node(i).pid).join(', ')})`);
    return { cluster, leader };
  } catch (e) {
    await cluster.stopAll().catch(() => {});
    throw new Error(`3-node Raft cluster did not start: ${e.message.split('\n')[0]}`);
  }
}

const timeout = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms))]);

/** kill -9 the Raft leader; ms until a write is acknowledged by a survivor. */
async function raftFailover(cluster, leader, round) {
  const t0 = performance.now();
  await cluster.kill(leader);
  const deadline = t0 + 30000;
  for (let k = 0; performance.now() < deadline; k++) {
    for (const i of cluster.live()) {
      try {
        await timeout(raftCypher(cluster.node(i), 'CREATE (:Failover {round: $r, k: $k})', { r: round, k }), 1000);
        return performance.now() - t0;
      } catch { /* not a leader yet / no quorum yet */ }
    }
    await sleep(10);
  }
  throw new Error('no write acknowledged within 30 s after killing the leader');
}

/** kill -9 the etcd leader; ms until a put is acknowledged by a survivor. */
async function etcdFailover(etcd, round) {
  const { Etcd3 } = require('etcd3');
  const t0 = performance.now();
  await etcd.killMember(etcd.leader);
  const deadline = t0 + 30000;
  const clients = etcd.live().map((h) => new Etcd3({ hosts: [h], dialTimeout: 1000 }));
  try {
    for (let k = 0; performance.now() < deadline; k++) {
      for (const c of clients) {
        try {
          await timeout(c.put(`failover/${round}/${k}`).value('x'), 1000);
          return performance.now() - t0;
        } catch { /* no leader yet */ }
      }
      await sleep(10);
    }
    throw new Error('no put acknowledged within 30 s after killing the leader');
  } finally {
    for (const c of clients) c.close();
  }
}

export async function benchRaft({ clients, seconds, seed, workers, gen, failoverRounds, log }) {
  const out = { rows: null, failover: [], error: null };
  let raft;
  try { raft = await startRaft(log); } catch (e) { out.error = e.message; return out; }
  try {
    const { cluster, leader } = raft;
    const lp = cluster.ports.get(leader);
    out.rows = await runLoadSeries({
      kind: 'bolt', seconds, seed, workers, gen, watchPids: cluster.ids.map((i) => cluster.node(i).pid),
      // The leader first; bench-load uses the first address that accepts a
      // write, so a leader change between points still finds the leader.
      target: { url: `bolt://127.0.0.1:${lp.bolt}`, user: 'admin', password: 'test-password', cypher: CREATE_PERSON,
        addrs: [leader, ...cluster.ids.filter((i) => i !== leader)].map((i) => `127.0.0.1:${cluster.ports.get(i).bolt}`) },
    }, clients, log);
    for (let r = 0; r < failoverRounds; r++) {
      const l = await cluster.waitLeader(20000);
      const ms = await raftFailover(cluster, l, r);
      log(`  raft failover round ${r + 1}: ${ms.toFixed(0)} ms`);
      out.failover.push(ms);
      await cluster.start(l, { bootstrap: false });
      await cluster.waitLeader(20000);
    }
  } catch (e) {
    out.error = e.message.split('\n')[0];
  } finally {
    await raft.cluster.stopAll().catch(() => {});
  }
  return out;
}

export async function benchEtcd({ clients, seconds, seed, workers, gen, failoverRounds, log }) {
  const out = { rows: null, failover: [], error: null, version: null };
  let etcd;
  try { etcd = await startEtcdCluster(); } catch (e) { out.error = e.message; return out; }
  try {
    out.version = etcd.version;
    log(`${etcd.version}: 3 members, leader ${etcd.leader} (pids ${etcd.pids.join(', ')})`);
    out.rows = await runLoadSeries({
      kind: 'etcd', seconds, seed, workers, gen, watchPids: etcd.pids, target: { hosts: [etcd.leader] },
    }, clients, log);
    // One failover per fresh cluster: a killed member rejoining would have
    // to be restarted with its old flags, and a fresh cluster is simpler.
    for (let r = 0; r < failoverRounds; r++) {
      if (r > 0) {
        await etcd.stop();
        etcd = await startEtcdCluster();
      }
      etcd.leader = etcdLeader(etcd) ?? etcd.leader;
      const ms = await etcdFailover(etcd, r);
      log(`  etcd failover round ${r + 1}: ${ms.toFixed(0)} ms`);
      out.failover.push(ms);
    }
  } catch (e) {
    out.error = e.message.split('\n')[0];
  } finally {
    await etcd.stop().catch(() => {});
  }
  return out;
}

async function main() {
  const usage = 'usage: node tests/bench/bench-etcd.mjs [--seconds S] [--clients 1,16,64] [--seed N] '
    + '[--gen c|node] [--workers N] [--failover-rounds N] [--json FILE]';
  const o = parseOptions(process.argv.slice(2),
    { seconds: 5, clients: [1, 16, 64], seed: 42, gen: '', workers: 0, failoverRounds: 1, json: '' }, usage);
  const args = { clients: o.clients, seconds: o.seconds, seed: o.seed, workers: o.workers || undefined, gen: o.gen || undefined,
    failoverRounds: o.failoverRounds, log: (m) => console.error(m) };
  const raft = await benchRaft(args);
  const etcd = await benchEtcd(args);
  console.log(`\nQuorum writes, 3 members, ${o.seconds} s per point`);
  if (raft.error) console.log(`ours (raft): not available: ${raft.error}`);
  if (etcd.error) console.log(`etcd: not available: ${etcd.error}`);
  const rows = o.clients.map((c, i) => {
    const a = raft.rows?.[i];
    const b = etcd.rows?.[i];
    const ratio = a && b && !a.error && !b.error ? `${(a.opsPerSec / b.opsPerSec).toFixed(2)}x` : '-';
    return [String(c), ...rowCells(a), ...rowCells(b), ratio];
  });
  printTable(['clients', 'raft ops/s', 'p50 ms', 'p99 ms', 'etcd ops/s', 'p50 ms', 'p99 ms', 'raft/etcd'], rows);
  console.log(`failover (kill -9 leader -> first acknowledged write), election timeout ${ELECTION_TIMEOUT_MS} ms: `
    + `raft ${raft.failover.map((x) => fmtMs(x)).join(', ') || '-'} ms; etcd ${etcd.failover.map((x) => fmtNum(x)).join(', ') || '-'} ms`);
  if (o.json) writeJson(o.json, { seconds: o.seconds, seed: o.seed, raft, etcd });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => { console.error(e.stack ?? e); process.exit(1); });
}
