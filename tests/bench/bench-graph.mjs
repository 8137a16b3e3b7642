#!/usr/bin/env node
// Graph query benchmark: NornicDB (over Bolt, official neo4j-driver) beside
// the embedded graph database Kùzu (npm `kuzu`, in-process) on the same
// seeded synthetic social graph, measured in the same run.
//
//   node tests/bench/bench-graph.mjs [--nodes 100000] [--rels 1000000]
//        [--seed 42] [--runs 20] [--warmup 3] [--budget-ms 10000]
//        [--batch 10000] [--json out.json] [--no-kuzu]
//
// NORNICDB_BIN selects the daemon (default build/nornicdb; a release build,
// `meson setup build-release -Dbuildtype=release`, is what the numbers in
// docs/performance.md come from).
//
// What is measured
// - Load: ours through Bolt (CREATE INDEX on :Person(id), then UNWIND
//   batches of CREATE for nodes and of MATCH..MATCH..CREATE for
//   relationships, one auto-commit transaction per batch); Kùzu with its
//   bulk COPY FROM CSV (the CSV files are written before the clock starts).
// - Queries: warm-up runs, then up to --runs timed runs bounded by
//   --budget-ms per query and engine; the median is reported. Our time
//   includes the Bolt round trip and result decoding in the driver; Kùzu's
//   is an in-process call. Parameterised queries use the same seeded ids on
//   both sides, and the answers are compared (a mismatch is printed).
// - Memory: nornicdb_process_resident_memory_bytes from GET /metrics, for
//   the empty server, after the nodes and after the relationships.
// - Daemon CPU: the daemon's utime + stime (/proc/<pid>/stat, 10 ms ticks)
//   over each load phase and over each query's warm-up and timed runs,
//   divided by the number of runs ("ours CPU ms"). Other work on the
//   machine disturbs it far less than the wall times.
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { startServer } from '../lib/server.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');

// ---- arguments --------------------------------------------------------------
function parseArgs(argv) {
  const opts = {
    nodes: 100000, rels: 1000000, seed: 42, runs: 20, warmup: 3,
    budgetMs: 10000, batch: 10000, json: null, kuzu: true,
  };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a non-negative number, got ${v}`);
    return n;
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--nodes': opts.nodes = Math.max(1, Math.floor(num('nodes', next()))); break;
      case '--rels': opts.rels = Math.floor(num('rels', next())); break;
      case '--seed': opts.seed = Math.floor(num('seed', next())); break;
      case '--runs': opts.runs = Math.max(1, Math.floor(num('runs', next()))); break;
      case '--warmup': opts.warmup = Math.floor(num('warmup', next())); break;
      case '--budget-ms': opts.budgetMs = num('budget-ms', next()); break;
      case '--batch': opts.batch = Math.max(1, Math.floor(num('batch', next()))); break;
      case '--json': opts.json = next(); break;
      case '--no-kuzu': opts.kuzu = false; break;
      case '-h': case '--help':
        console.log('usage: node tests/bench/bench-graph.mjs [--nodes N] [--rels N] [--seed S] [--runs N] '
          + '[--warmup N] [--budget-ms MS] [--batch N] [--json FILE] [--no-kuzu]');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  return opts;
}

// ---- data -------------------------------------------------------------------
// mulberry32: small, fast, seeded; the same seed gives the same graph.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeGraph({ nodes, rels, seed }) {
  const rnd = prng(seed);
  const age = new Int32Array(nodes);
  for (let i = 0; i < nodes; i++) age[i] = 18 + Math.floor(rnd() * 63); // 18..80
  const src = new Int32Array(rels);
  const dst = new Int32Array(rels);
  for (let i = 0; i < rels; i++) {
    src[i] = Math.floor(rnd() * nodes);
    dst[i] = Math.floor(rnd() * nodes);
  }
  return { nodes, rels, age, src, dst, name: (i) => `person-${i}` };
}

// The daemon's CPU time so far in ms (utime + stime), or null off Linux.
function daemonCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const now = () => process.hrtime.bigint();

// ---- queries ------------------------------------------------------------------
const QUERIES = [
  { name: 'point lookup', param: true, kind: 'lookup',
    cypher: 'MATCH (p:Person {id: $id}) RETURN p.name' },
  { name: '1-hop count', param: true, kind: 'traversal',
    cypher: 'MATCH (p:Person {id: $id})-[:KNOWS]->(f) RETURN count(f)' },
  { name: '2-hop count(DISTINCT)', param: true, kind: 'traversal',
    cypher: 'MATCH (p:Person {id: $id})-[:KNOWS]->()-[:KNOWS]->(f) RETURN count(DISTINCT f)' },
  { name: 'group by age', param: false, kind: 'scan',
    cypher: 'MATCH (p:Person) RETURN p.age, count(*) ORDER BY p.age' },
  { name: 'filtered edge scan', param: false, kind: 'scan',
    cypher: 'MATCH (a:Person)-[:KNOWS]->(b:Person) WHERE a.age < 30 AND b.age > 60 RETURN count(*)' },
];

// Answers normalised to plain JSON so both engines can be compared.
const plain = (v) => {
  if (neo4j.isInt(v)) return v.toNumber();
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  return v;
};

// Runs `fn(i)` warm-up times, then until `runs` or the budget is spent
// (at least one timed run). Returns {median, runs, answers}.
async function timeQuery(fn, { warmup, runs, budgetMs }) {
  const answers = [];
  const start = Date.now();
  let warmed = 0;
  for (let i = 0; i < warmup && Date.now() - start < budgetMs; i++, warmed++) await fn(i, null);
  const times = [];
  const tStart = Date.now();
  for (let i = 0; i < runs; i++) {
    if (i > 0 && Date.now() - tStart > budgetMs) break;
    const t0 = now();
    const ans = await fn(i, times);
    times.push(ms(t0));
    answers.push(ans);
  }
  return { median: median(times), runs: times.length, calls: warmed + times.length, min: Math.min(...times), answers };
}

async function metricsRss(httpUrl) {
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10000) });
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  const text = await res.text();
  const m = text.match(/^nornicdb_process_resident_memory_bytes(?:\{[^}]*\})?\s+([0-9.eE+]+)/m);
  if (!m) throw new Error('nornicdb_process_resident_memory_bytes not found in /metrics');
  return Number(m[1]);
}

// ---- NornicDB -------------------------------------------------------------------
async function loadOurs(server, g, opts) {
  const driver = neo4j.driver(server.boltUrl, neo4j.auth.basic(server.auth.user, server.auth.password),
    { maxConnectionPoolSize: 2, logging: undefined, connectionTimeout: 30000 });
  const session = driver.session();
  const out = { driver, session };
  await session.run('CREATE INDEX person_id IF NOT EXISTS FOR (p:Person) ON (p.id)');
  out.rssEmpty = await metricsRss(server.httpUrl);

  const cpu0 = daemonCpuMs(server.pid);
  const t0 = now();
  for (let lo = 0; lo < g.nodes; lo += opts.batch) {
    const hi = Math.min(g.nodes, lo + opts.batch);
    const rows = [];
    for (let i = lo; i < hi; i++) rows.push({ id: neo4j.int(i), name: g.name(i), age: neo4j.int(g.age[i]) });
    await session.run('UNWIND $rows AS r CREATE (:Person {id: r.id, name: r.name, age: r.age})', { rows });
  }
  out.nodeLoadCpuMs = daemonCpuMs(server.pid) - cpu0;
  out.nodeLoadMs = ms(t0);
  out.rssNodes = await metricsRss(server.httpUrl);

  const cpu1 = daemonCpuMs(server.pid);
  const t1 = now();
  for (let lo = 0; lo < g.rels; lo += opts.batch) {
    const hi = Math.min(g.rels, lo + opts.batch);
    const rows = [];
    for (let i = lo; i < hi; i++) rows.push([neo4j.int(g.src[i]), neo4j.int(g.dst[i])]);
    await session.run('UNWIND $rows AS r MATCH (a:Person {id: r[0]}) MATCH (b:Person {id: r[1]}) '
      + 'CREATE (a)-[:KNOWS]->(b)', { rows });
  }
  out.relLoadCpuMs = daemonCpuMs(server.pid) - cpu1;
  out.relLoadMs = ms(t1);
  out.rssRels = await metricsRss(server.httpUrl);
  const check = await session.run('MATCH (p:Person) RETURN count(p) AS n');
  out.countNodes = check.records[0].get('n').toNumber();
  const checkR = await session.run('MATCH ()-[r:KNOWS]->() RETURN count(r) AS n');
  out.countRels = checkR.records[0].get('n').toNumber();
  return out;
}

function oursRunner(session, q, ids) {
  return async (i) => {
    const params = q.param ? { id: neo4j.int(ids[i % ids.length]) } : {};
    const res = await session.run(q.cypher, params);
    return res.records.map((r) => r.keys.map((k) => plain(r.get(k))));
  };
}

// ---- Kùzu ---------------------------------------------------------------------
async function writeCsv(file, count, line) {
  const ws = createWriteStream(file);
  for (let i = 0; i < count; i++) {
    if (!ws.write(line(i))) await once(ws, 'drain');
  }
  ws.end();
  await once(ws, 'finish');
}

async function loadKuzu(kuzu, g, dir) {
  const personsCsv = path.join(dir, 'persons.csv');
  const knowsCsv = path.join(dir, 'knows.csv');
  await writeCsv(personsCsv, g.nodes, (i) => `${i},${g.name(i)},${g.age[i]}\n`);
  await writeCsv(knowsCsv, g.rels, (i) => `${g.src[i]},${g.dst[i]}\n`);
  const db = new kuzu.Database(path.join(dir, 'db'));
  const conn = new kuzu.Connection(db);
  await conn.query('CREATE NODE TABLE Person(id INT64 PRIMARY KEY, name STRING, age INT64)');
  await conn.query('CREATE REL TABLE KNOWS(FROM Person TO Person)');
  const t0 = now();
  await conn.query(`COPY Person FROM '${personsCsv}' (HEADER=false)`);
  const nodeLoadMs = ms(t0);
  const t1 = now();
  await conn.query(`COPY KNOWS FROM '${knowsCsv}' (HEADER=false)`);
  const relLoadMs = ms(t1);
  const c = await (await conn.query('MATCH ()-[r:KNOWS]->() RETURN count(r) AS n')).getAll();
  return { db, conn, nodeLoadMs, relLoadMs, countRels: Number(c[0].n) };
}

function kuzuRunner(conn, ps, q, ids) {
  return async (i) => {
    const params = q.param ? { id: ids[i % ids.length] } : {};
    const res = await conn.execute(ps, params);
    const rows = await res.getAll();
    res.close?.();
    return rows.map((r) => Object.values(r).map(plain));
  };
}

// ---- report --------------------------------------------------------------------
const fmt = (v, d = 2) => (v == null || Number.isNaN(v) ? 'n/a' : v.toFixed(d));
function printTable(result) {
  const rows = [['query', 'ours ms', 'Kùzu ms', 'ours/Kùzu', 'runs', 'answers', 'ours CPU ms']];
  for (const q of result.queries) {
    rows.push([q.name, fmt(q.ours.median), q.kuzu ? fmt(q.kuzu.median) : 'n/a',
      q.ratio == null ? 'n/a' : `${fmt(q.ratio)}x`,
      `${q.ours.runs}/${q.kuzu ? q.kuzu.runs : '-'}`, q.agree == null ? '-' : q.agree ? 'same' : 'DIFFER',
      fmt(q.ours.cpuMs)]);
  }
  const L = result.load;
  rows.push(['load nodes', fmt(L.ours.nodeLoadMs, 0), L.kuzu ? fmt(L.kuzu.nodeLoadMs, 0) : 'n/a',
    L.kuzu ? `${fmt(L.ours.nodeLoadMs / L.kuzu.nodeLoadMs)}x` : 'n/a', '1/1', '', fmt(L.ours.nodeLoadCpuMs, 0)]);
  rows.push(['load rels', fmt(L.ours.relLoadMs, 0), L.kuzu ? fmt(L.kuzu.relLoadMs, 0) : 'n/a',
    L.kuzu ? `${fmt(L.ours.relLoadMs / L.kuzu.relLoadMs)}x` : 'n/a', '1/1', '', fmt(L.ours.relLoadCpuMs, 0)]);
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  for (const [i, r] of rows.entries()) {
    console.log(r.map((c, j) => (j === 0 ? String(c).padEnd(w[j]) : String(c).padStart(w[j]))).join('  '));
    if (i === 0) console.log(w.map((n) => '-'.repeat(n)).join('  '));
  }
  const M = result.memory;
  console.log(`\nour resident memory: empty ${fmt(M.rssEmpty / 2 ** 20, 1)} MiB, `
    + `+${fmt(M.bytesPerNode, 0)} B per node, +${fmt(M.bytesPerRel, 0)} B per relationship `
    + `(total ${fmt(M.rssLoaded / 2 ** 20, 1)} MiB)`);
  console.log(`machine: ${result.machine.cpus} x ${result.machine.cpu}, load average `
    + `${result.machine.loadavgStart[0]} at start, ${result.machine.loadavgEnd[0]} at end`);
  if (!result.kuzuAvailable) console.log(`Kùzu column unavailable: ${result.kuzuReason}`);
  else console.log(`Kùzu ${result.kuzuVersion}: load by COPY FROM CSV (bulk), queries in-process (no network).`);
}

// ---- main ----------------------------------------------------------------------
async function main() {
  const opts = parseArgs(process.argv);
  const g = makeGraph(opts);
  const rnd = prng(opts.seed ^ 0x5bd1e995);
  const ids = Array.from({ length: opts.runs + opts.warmup + 8 }, () => Math.floor(rnd() * g.nodes));

  let kuzu = null;
  let kuzuReason = null;
  if (!opts.kuzu) kuzuReason = 'disabled with --no-kuzu';
  else {
    try { kuzu = require('kuzu'); } catch (e) { kuzuReason = `npm package kuzu not loadable here: ${e.message.split('\n')[0]}`; }
  }

  const result = {
    params: { nodes: g.nodes, rels: g.rels, seed: opts.seed, runs: opts.runs, warmup: opts.warmup,
      budgetMs: opts.budgetMs, batch: opts.batch },
    // other work on the machine inflates both columns; the load average says how much
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version,
      loadavgStart: os.loadavg().map((x) => Number(x.toFixed(2))) },
    server: process.env.NORNICDB_BIN ?? 'build/nornicdb',
    kuzuAvailable: !!kuzu, kuzuReason, kuzuVersion: kuzu?.VERSION ?? null,
    load: {}, queries: [], memory: {},
  };

  let server = null;
  let ours = null;
  let kz = null;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'nornic-bench-graph-'));
  try {
    console.error(`graph: ${g.nodes} Person nodes, ${g.rels} KNOWS relationships, seed ${opts.seed}`);
    server = await startServer();
    console.error(`nornicdb pid ${server.pid} (${result.server}); loading over Bolt ...`);
    ours = await loadOurs(server, g, opts);
    console.error(`  ours: nodes ${fmt(ours.nodeLoadMs, 0)} ms, rels ${fmt(ours.relLoadMs, 0)} ms `
      + `(${ours.countNodes} nodes, ${ours.countRels} rels)`);
    result.load.ours = { nodeLoadMs: ours.nodeLoadMs, relLoadMs: ours.relLoadMs,
      nodeLoadCpuMs: ours.nodeLoadCpuMs, relLoadCpuMs: ours.relLoadCpuMs,
      nodes: ours.countNodes, rels: ours.countRels };
    result.memory = {
      rssEmpty: ours.rssEmpty, rssNodes: ours.rssNodes, rssLoaded: ours.rssRels,
      bytesPerNode: (ours.rssNodes - ours.rssEmpty) / g.nodes,
      bytesPerRel: g.rels ? (ours.rssRels - ours.rssNodes) / g.rels : null,
    };

    if (kuzu) {
      try {
        console.error('loading Kùzu (COPY FROM CSV) ...');
        kz = await loadKuzu(kuzu, g, tmp);
        console.error(`  Kùzu: nodes ${fmt(kz.nodeLoadMs, 0)} ms, rels ${fmt(kz.relLoadMs, 0)} ms (${kz.countRels} rels)`);
        result.load.kuzu = { nodeLoadMs: kz.nodeLoadMs, relLoadMs: kz.relLoadMs, rels: kz.countRels };
      } catch (e) {
        result.kuzuAvailable = false;
        result.kuzuReason = `Kùzu load failed: ${e.message}`;
        kz = null;
      }
    }

    for (const q of QUERIES) {
      console.error(`query: ${q.name}`);
      const cpu0 = daemonCpuMs(server.pid);
      const o = await timeQuery(oursRunner(ours.session, q, ids), opts);
      const oCpu = cpu0 == null ? null : (daemonCpuMs(server.pid) - cpu0) / o.calls;
      let k = null;
      if (kz) {
        const ps = await kz.conn.prepare(q.cypher);
        k = await timeQuery(kuzuRunner(kz.conn, ps, q, ids), opts);
      }
      const agree = k ? JSON.stringify(o.answers) === JSON.stringify(k.answers.slice(0, o.answers.length))
        && o.answers.length <= k.answers.length : null;
      if (agree === false) {
        console.error(`  answers differ: ours ${JSON.stringify(o.answers[0]).slice(0, 200)} `
          + `Kùzu ${JSON.stringify(k.answers[0]).slice(0, 200)}`);
      }
      result.queries.push({
        name: q.name, cypher: q.cypher, kind: q.kind,
        ours: { median: o.median, min: o.min, runs: o.runs, cpuMs: oCpu },
        kuzu: k ? { median: k.median, min: k.min, runs: k.runs } : null,
        ratio: k ? o.median / k.median : null,
        agree,
        sample: o.answers[0]?.slice?.(0, 3) ?? null,
      });
    }
  } finally {
    await ours?.session?.close().catch(() => {});
    await ours?.driver?.close().catch(() => {});
    if (server) await server.stop();
    kz?.conn?.close?.();
    kz?.db?.close?.();
    rmSync(tmp, { recursive: true, force: true });
  }

  result.machine.loadavgEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
  console.log('');
  printTable(result);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n');
}

main().catch((e) => {
  console.error(e.stack ?? e);
  process.exit(1);
});
