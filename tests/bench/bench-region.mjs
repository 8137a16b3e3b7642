// Multi-region benchmark (issue #8 "Performance"): write latency at the
// primary region's leader with NORNICDB_CLUSTER_CROSS_REGION_MODE=async and
// semi_sync, and the cross-region lag under a steady write load, with an
// artificial inter-region delay; beside a single-region Raft cluster
// (raft.so, three nodes) measured in the same run.
//
//   NORNICDB_BIN=build/nornicdb node tests/bench/bench-region.mjs \
//     [--delay-ms 25] [--writes 100] [--rate 20] [--seconds 5] [--json FILE]
//
// The delay: tc netem is not available on this kernel (no sch_netem), so the
// regions reach each other through a delaying TCP proxy in this process: each
// region's REMOTE_REGIONS address is a "front door" (127.0.0.34:7699 for
// us-east, 127.0.0.44:7699 for eu-west) that forwards to that region's
// current leader and holds every chunk for --delay-ms in each direction
// (round trip = 2 x delay). Raft traffic inside a region is not delayed.
//
// Addresses: Raft cluster 127.0.0.31-33, us-east 127.0.0.34-36, eu-west
// 127.0.0.44-46 (cluster port 7688). Every daemon and the proxies are stopped
// at the end (by pid; data directories removed).
//
// For tools/bench.mjs: `const { benchRegion } = await import(T('bench/bench-region.mjs'))`,
// then `const r = await benchRegion({ delayMs, writes, rate, seconds, log })`;
// `r.rows` are { setup, n, p50, p99, mean, lagP50, lagMax, lagEntriesMax,
// drainMs } (milliseconds, lag in seconds) and `printRegion(r)` prints them.
import net from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { RaftCluster, http, waitFor } from '../cluster/raft-lib.mjs';
import { RegionCluster } from '../cluster/region-lib.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');
const auth = neo4j.auth.basic('admin', 'test-password');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** A TCP proxy that forwards to `target()` and delays every chunk by `delayMs` each way. */
function delayProxy(host, port, delayMs, target) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    const to = target();
    if (!to) { client.destroy(); return; }
    const [th, tp] = [to.slice(0, to.lastIndexOf(':')), Number(to.slice(to.lastIndexOf(':') + 1))];
    const upstream = net.connect(tp, th);
    // No Nagle: the delay must be the only one the proxy adds.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    const pipe = (from, into) => {
      from.on('data', (chunk) => {
        // Equal delays fire in order, so the byte stream stays ordered.
        setTimeout(() => { if (!into.destroyed) into.write(chunk); }, delayMs);
      });
      from.on('close', () => setTimeout(() => into.destroy(), delayMs));
      from.on('error', () => {});
    };
    pipe(client, upstream);
    pipe(upstream, client);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({
      close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
    }));
  });
}

/** `n` sequential single-node CREATEs through one Bolt session; latencies in ms. */
async function writeLatency(boltPort, n) {
  const driver = neo4j.driver(`bolt://127.0.0.1:${boltPort}`, auth);
  try {
    const session = driver.session();
    try {
      await session.executeWrite((tx) => tx.run('CREATE (:Warm)'));
      const lat = [];
      for (let k = 0; k < n; k++) {
        const t = process.hrtime.bigint();
        await session.executeWrite((tx) => tx.run('CREATE (:Lat {k: $k})', { k }));
        lat.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      lat.sort((a, b) => a - b);
      return { n, p50: pct(lat, 0.5), p99: pct(lat, 0.99), mean: lat.reduce((a, b) => a + b, 0) / n };
    } finally {
      await session.close();
    }
  } finally {
    await driver.close();
  }
}

/** Writes at `rate`/s for `seconds` at the primary's leader while sampling the
 * primary's lag toward the other region (status, every 100 ms); then the time
 * until the other region acknowledged everything. */
async function steadyLag(primary, leader, boltPort, rate, seconds) {
  const driver = neo4j.driver(`bolt://127.0.0.1:${boltPort}`, auth);
  const samples = [];
  let entriesMax = 0;
  let stop = false;
  const sampler = (async () => {
    while (!stop) {
      const r = (await http(primary.node(leader), '/admin/cluster/status')).body.regions.remote_regions[0];
      samples.push(r.lag_seconds);
      entriesMax = Math.max(entriesMax, r.lag_entries);
      await sleep(100);
    }
  })();
  try {
    const session = driver.session();
    try {
      const t0 = Date.now();
      for (let k = 0; Date.now() - t0 < seconds * 1000; k++) {
        const due = t0 + (k * 1000) / rate;
        if (due > Date.now()) await sleep(due - Date.now());
        await session.executeWrite((tx) => tx.run('CREATE (:Load {k: $k})', { k }));
      }
    } finally {
      await session.close();
    }
  } finally {
    await driver.close();
  }
  const tEnd = Date.now();
  await waitFor('the other region to acknowledge everything', async () => {
    const r = (await http(primary.node(leader), '/admin/cluster/status')).body.regions.remote_regions[0];
    return r.lag_entries === 0;
  }, 60000, 20);
  const drainMs = Date.now() - tEnd;
  stop = true;
  await sampler;
  samples.sort((a, b) => a - b);
  return { lagP50: pct(samples, 0.5), lagMax: samples[samples.length - 1], lagEntriesMax: entriesMax, drainMs };
}

async function raftRow({ writes, log }) {
  const c = new RaftCluster({ prefix: '127.0.0.', hostOffset: 30, n: 3, clusterId: 'bench-raft' });
  try {
    await Promise.all(c.ids.map((i) => c.start(i)));
    const leader = await c.waitLeader(30000);
    log(`raft: leader node-${leader}; ${writes} writes`);
    return { setup: 'raft.so, one region (3 nodes)', ...(await writeLatency(c.ports.get(leader).bolt, writes)) };
  } finally {
    await c.stopAll();
  }
}

async function regionRow({ mode, delayMs, writes, rate, seconds, log }) {
  const east = new RegionCluster({ region: 'us-east', prefix: '127.0.0.', hostOffset: 33, remote: 'eu-west:127.0.0.44:7699' });
  const west = new RegionCluster({ region: 'eu-west', prefix: '127.0.0.', hostOffset: 43, remote: 'us-east:127.0.0.34:7699' });
  for (const c of [east, west]) c.env.NORNICDB_CLUSTER_CROSS_REGION_MODE = mode;
  const leaders = { east: null, west: null };
  const proxies = [
    await delayProxy('127.0.0.34', 7699, delayMs, () => (leaders.east ? east.addr(leaders.east) : null)),
    await delayProxy('127.0.0.44', 7699, delayMs, () => (leaders.west ? west.addr(leaders.west) : null)),
  ];
  try {
    // One region after the other: concurrent freePort() calls can collide.
    await Promise.all(east.ids.map((i) => east.start(i)));
    await Promise.all(west.ids.map((i) => west.start(i)));
    [leaders.east, leaders.west] = await Promise.all([east.waitLeader(30000), west.waitLeader(30000)]);
    // eu-west sorts first: it is the primary region.
    await waitFor('eu-west primary, known in us-east', async () => {
      const r = await east.regions(leaders.east);
      return r && r.primary === 'eu-west';
    }, 30000, 200);
    const bolt = west.ports.get(leaders.west).bolt;
    log(`multi_region ${mode}: ${writes} writes at eu-west-${leaders.west}, then ${rate}/s for ${seconds} s`);
    const lat = await writeLatency(bolt, writes);
    const lag = await steadyLag(west, leaders.west, bolt, rate, seconds);
    return { setup: `multi_region ${mode} (2 x 3 nodes, RTT ${2 * delayMs} ms)`, ...lat, ...lag };
  } finally {
    await Promise.all([east.stopAll(), west.stopAll()]);
    for (const p of proxies) await p.close();
  }
}

export async function benchRegion({ delayMs = 25, writes = 100, rate = 20, seconds = 5, log = console.error } = {}) {
  const rows = [];
  rows.push(await raftRow({ writes, log }));
  for (const mode of ['async', 'semi_sync']) rows.push(await regionRow({ mode, delayMs, writes, rate, seconds, log }));
  return { delayMs, rttMs: 2 * delayMs, writes, rate, seconds, rows };
}

const f = (v, d = 1) => (v == null || Number.isNaN(v) ? '-' : Number(v).toFixed(d));

export function printRegion(r, out = console.log) {
  out(`Multi-region: inter-region delay ${r.delayMs} ms each way (RTT ${r.rttMs} ms, delaying TCP proxy; `
    + `no netem on this kernel); ${r.writes} sequential writes; lag under ${r.rate} writes/s for ${r.seconds} s`);
  const head = ['setup', 'write p50 ms', 'p99 ms', 'mean ms', 'lag p50 s', 'lag max s', 'lag max entries', 'drain ms'];
  const rows = r.rows.map((x) => [x.setup, f(x.p50), f(x.p99), f(x.mean), f(x.lagP50, 3), f(x.lagMax, 3),
    x.lagEntriesMax ?? '-', x.drainMs ?? '-']);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  out(head.map((h, i) => h.padEnd(w[i])).join(' | '));
  out(w.map((n) => '-'.repeat(n)).join('-|-'));
  for (const row of rows) out(row.map((c, i) => String(c).padEnd(w[i])).join(' | '));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, def) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : def;
  };
  const r = await benchRegion({
    delayMs: Number(opt('delay-ms', 25)), writes: Number(opt('writes', 100)),
    rate: Number(opt('rate', 20)), seconds: Number(opt('seconds', 5)),
  });
  printRegion(r);
  const json = opt('json', null);
  if (json) writeFileSync(json, JSON.stringify(r, null, 2));
}
