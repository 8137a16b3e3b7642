#!/usr/bin/env node
// The whole performance table in one run: every workload beside its peer,
// the physical floors of this machine measured in the same run, one table on
// stdout and the same data as JSON. tools/bench.sh builds the release binary
// and installs the peers first, then runs this; run it through bench.sh.
//
//   tools/bench.sh [--quick] [--json bench-results.json] [--seconds S]
//     [--clients 1,16,64] [--seed 42] [--gen c|node] [--workers N] [--graph-nodes N]
//     [--graph-rels N] [--restart-nodes N] [--restart-rels N]
//     [--failover-rounds N] [--only writes,quorum,ha,region,graph,restart,floors]
//
// Every server it starts (ours, Redis, etcd) runs on loopback with a
// temporary data directory and is stopped by pid at the end. Every write
// row (ours and the peers) is driven by the C load generator bench-load
// (tests/bench/bench-load.c: Bolt, RESP, etcd's HTTP/JSON gateway); --gen
// node drives them with the Node client libraries in worker processes
// instead (neo4j-driver, node-redis, etcd3).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const T = (p) => path.join(root, 'tests', p);
const { startServer } = await import(T('lib/server.mjs'));
const { runLoadSeries } = await import(T('bench/lib/loadgen.mjs'));
const { fmtMs, fmtNum, machineInfo, parseOptions, printTable, procRss, sleep, writeJson } = await import(T('bench/lib/stats.mjs'));
const { benchOursWrites, benchRedisWrites, CREATE_PERSON } = await import(T('bench/bench-writes.mjs'));
const { benchRaft, benchEtcd, moduleMissing, serverBin, ELECTION_TIMEOUT_MS, HEARTBEAT_MS } = await import(T('bench/bench-etcd.mjs'));
const require = createRequire(T('package.json'));
const neo4j = require('neo4j-driver');

const USAGE = 'usage: tools/bench.sh [--quick] [--json FILE] [--seconds S] [--clients 1,16,64] [--seed N] '
  + '[--gen c|node] [--workers N] [--graph-nodes N] [--graph-rels N] [--restart-nodes N] [--restart-rels N] '
  + '[--failover-rounds N] [--only writes,quorum,ha,region,graph,restart,floors] [--markdown FILE]';
const o = parseOptions(process.argv.slice(2), {
  quick: false, json: 'bench-results.json', seconds: 0, clients: [1, 16, 64], seed: 42, gen: 'c', workers: 0,
  graphNodes: 0, graphRels: -1, restartNodes: 0, restartRels: -1, failoverRounds: 0, only: '', markdown: '',
}, USAGE);
// Defaults: full run ~10-15 min, --quick ~3 min on a 2-core machine.
const cfg = {
  seconds: o.seconds || (o.quick ? 2 : 10),
  graphNodes: o.graphNodes || (o.quick ? 5000 : 20000),
  graphRels: o.graphRels >= 0 ? o.graphRels : (o.quick ? 20000 : 200000),
  graphRuns: o.quick ? 5 : 20,
  graphBudgetMs: o.quick ? 1500 : 5000,
  restartNodes: o.restartNodes || (o.quick ? 5000 : 20000),
  restartRels: o.restartRels >= 0 ? o.restartRels : (o.quick ? 20000 : 200000),
  failoverRounds: o.failoverRounds || (o.quick ? 1 : 3),
  clients: o.clients, seed: o.seed, workers: o.workers || undefined, gen: o.gen,
};
if (cfg.gen !== 'c' && cfg.gen !== 'node') throw new Error(`--gen must be c or node\n${USAGE}`);
const only = new Set((o.only || 'floors,writes,quorum,ha,region,graph,restart').split(',').map((s) => s.trim()));
const t0 = Date.now();
const log = (m) => console.error(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}`);
const bin = serverBin();
const buildDir = path.dirname(bin);

function run(cmd, args, { timeoutMs = 300000, env } = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20, env: env ?? process.env, cwd: root },
      (err, stdout, stderr) => resolve({ err, stdout: String(stdout), stderr: String(stderr) }));
  });
}

// ---- floors -----------------------------------------------------------------------
async function floors(server) {
  const out = { fdatasync: null, pingPong: null, walGroupCommit: [], boltReturn1: [], errors: [] };
  const gc = path.join(buildDir, 'tests', 'bench', 'bench-group-commit');
  const dataTmp = mkdtempSync(path.join(os.tmpdir(), 'nornic-bench-floor-'));
  log(`floor: ${path.relative(root, gc)} (serial write+fdatasync, WAL group commit)`);
  const g = await run(gc, [dataTmp], { timeoutMs: 180000 });
  rmSync(dataTmp, { recursive: true, force: true });
  const m = g.stdout.match(/baseline (\d+)\/s \(([\d.]+) ms each\)/);
  if (m) out.fdatasync = { opsPerSec: Number(m[1]), msEach: Number(m[2]) };
  else out.errors.push(`bench-group-commit: ${(g.err?.message ?? '') + g.stderr.slice(-300)}`);
  for (const line of g.stdout.split('\n')) {
    const r = line.trim().match(/^(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)/);
    if (r) out.walGroupCommit.push({ clients: Number(r[1]), opsPerSec: Number(r[2]), fsyncs: Number(r[3]), recordsPerFsync: Number(r[4]) });
  }
  const bb = path.join(buildDir, 'tests', 'bench', 'bench-bolt');
  log(`floor: ${path.relative(root, bb)} (loopback ping-pong; RETURN 1 over Bolt, lean C client)`);
  const b = await run(bb, [`127.0.0.1:${server.boltPort}`, server.auth.user, server.auth.password, String(Math.min(cfg.seconds, 3))],
    { timeoutMs: 120000 });
  for (const line of b.stdout.split('\n')) {
    const r = line.match(/^(.*?)\s+(\d+) ops\/s\s+p50\s+(\d+) us\s+p99\s+(\d+) us/);
    if (!r) continue;
    const v = { opsPerSec: Number(r[2]), p50: Number(r[3]) / 1000, p99: Number(r[4]) / 1000 };
    if (r[1].startsWith('tcp')) out.pingPong = v;
    const c = r[1].match(/RETURN 1, (\d+) conn/);
    if (c) out.boltReturn1.push({ clients: Number(c[1]), ...v });
  }
  if (!out.pingPong) out.errors.push(`bench-bolt: ${(b.err?.message ?? '') + b.stderr.slice(-300)}`);
  return out;
}

// ---- hot standby --------------------------------------------------------------------
async function benchHa() {
  const out = { rows: null, failover: [], error: null, syncMode: 'sync' };
  const missing = moduleMissing('ha_standby');
  if (missing) { out.error = missing; return out; }
  const ha = await import(T('cluster/ha-lib.mjs'));
  let pair;
  try {
    pair = await ha.startPair({ syncMode: 'sync', failover: `${ELECTION_TIMEOUT_MS}ms`, heartbeatMs: HEARTBEAT_MS });
  } catch (e) {
    out.error = `HA pair did not start: ${e.message.split('\n')[0]}`;
    return out;
  }
  try {
    log(`hot standby pair (sync): primary pid ${pair.a.pid}, standby pid ${pair.b.pid}`);
    out.rows = await runLoadSeries({
      kind: 'bolt', seconds: cfg.seconds, seed: cfg.seed, workers: cfg.workers, gen: cfg.gen, watchPids: [pair.a.pid, pair.b.pid],
      target: { url: pair.a.boltUrl, user: pair.a.auth.user, password: pair.a.auth.password, cypher: CREATE_PERSON },
    }, cfg.clients, log);
    // Failover window: kill -9 of the primary -> first acknowledged write on the standby.
    for (let r = 0; r < cfg.failoverRounds; r++) {
      if (r > 0) {
        await pair.stop();
        pair = await ha.startPair({ syncMode: 'sync', failover: `${ELECTION_TIMEOUT_MS}ms`, heartbeatMs: HEARTBEAT_MS });
      }
      const start = performance.now();
      await pair.a.kill('SIGKILL');
      let ms = null;
      while (performance.now() - start < 30000) {
        try {
          await ha.cypher(pair.b, 'CREATE (:Failover {round: $r})', { parameters: { r }, timeout: 1000 });
          ms = performance.now() - start;
          break;
        } catch { await sleep(10); }
      }
      if (ms == null) throw new Error('standby accepted no write within 30 s of the primary\'s kill -9');
      log(`  HA failover round ${r + 1}: ${ms.toFixed(0)} ms`);
      out.failover.push(ms);
    }
  } catch (e) {
    out.error = e.message.split('\n')[0];
  } finally {
    await pair?.stop().catch(() => {});
  }
  return out;
}

// ---- graph queries vs Kùzu (bench-graph.mjs as a subprocess) ------------------------------
async function benchGraph() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'nornic-bench-graphjson-'));
  const json = path.join(tmp, 'graph.json');
  const args = [T('bench/bench-graph.mjs'), '--nodes', String(cfg.graphNodes), '--rels', String(cfg.graphRels),
    '--seed', String(cfg.seed), '--runs', String(cfg.graphRuns), '--budget-ms', String(cfg.graphBudgetMs), '--json', json];
  log(`graph: node ${args.map((a) => (a.startsWith(root + '/') ? path.relative(root, a) : a)).join(' ')}`);
  const r = await run(process.execPath, args, { timeoutMs: 900000 });
  try {
    return { ...JSON.parse(readFileSync(json, 'utf8')), args: args.slice(1) };
  } catch {
    return { error: `bench-graph.mjs failed: ${(r.err?.message ?? '').split('\n')[0]} ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---- restart time with a loaded graph -------------------------------------------------------
async function loadGraph(server, nodes, rels, seed) {
  const { prng } = await import(T('bench/lib/stats.mjs'));
  const rnd = prng(seed);
  const driver = neo4j.driver(server.boltUrl, neo4j.auth.basic(server.auth.user, server.auth.password));
  const session = driver.session();
  const batch = 5000;
  try {
    await session.run('CREATE INDEX person_id IF NOT EXISTS FOR (p:Person) ON (p.id)');
    for (let lo = 0; lo < nodes; lo += batch) {
      const rows = [];
      for (let i = lo; i < Math.min(nodes, lo + batch); i++) rows.push({ id: neo4j.int(i), name: `person-${i}` });
      await session.run('UNWIND $rows AS r CREATE (:Person {id: r.id, name: r.name})', { rows });
    }
    for (let lo = 0; lo < rels; lo += batch) {
      const rows = [];
      for (let i = lo; i < Math.min(rels, lo + batch); i++) {
        rows.push([neo4j.int(Math.floor(rnd() * nodes)), neo4j.int(Math.floor(rnd() * nodes))]);
      }
      await session.run('UNWIND $rows AS r MATCH (a:Person {id: r[0]}) MATCH (b:Person {id: r[1]}) CREATE (a)-[:KNOWS]->(b)', { rows });
    }
  } finally {
    await session.close();
    await driver.close();
  }
}

async function counts(server) {
  const driver = neo4j.driver(server.boltUrl, neo4j.auth.basic(server.auth.user, server.auth.password),
    { connectionTimeout: 2000, maxConnectionPoolSize: 1 });
  try {
    const n = await driver.executeQuery('MATCH (p:Person) RETURN count(p) AS n');
    const r = await driver.executeQuery('MATCH (:Person)-[k:KNOWS]->(:Person) RETURN count(k) AS n');
    return { nodes: n.records[0].get('n').toNumber(), rels: r.records[0].get('n').toNumber() };
  } finally {
    await driver.close();
  }
}

async function benchRestart() {
  const out = { nodes: cfg.restartNodes, rels: cfg.restartRels, rounds: [], error: null };
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'nornic-bench-restart-'));
  let server;
  try {
    server = await startServer({ dataDir });
    log(`restart: loading ${cfg.restartNodes} nodes, ${cfg.restartRels} rels into pid ${server.pid}`);
    const l0 = performance.now();
    await loadGraph(server, cfg.restartNodes, cfg.restartRels, cfg.seed);
    out.loadMs = performance.now() - l0;
    const want = await counts(server);
    out.rss = procRss(server.pid);
    const env = { NORNICDB_BOLT_PORT: String(server.boltPort), NORNICDB_HTTP_PORT: String(server.httpPort) };
    for (const how of ['SIGKILL', 'SIGTERM']) {
      const k0 = performance.now();
      if (how === 'SIGKILL') await server.kill('SIGKILL'); else await server.stop();
      const s0 = performance.now();
      server = await startServer({ dataDir, env });
      let got = null;
      while (performance.now() - s0 < 120000) {
        try {
          got = await counts(server);
          if (got.nodes === want.nodes && got.rels === want.rels) break;
        } catch { /* not answering yet */ }
        await sleep(20);
      }
      const ms = performance.now() - s0;
      if (!got || got.nodes !== want.nodes || got.rels !== want.rels) {
        throw new Error(`after ${how} the counts are ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      }
      out.rounds.push({ signal: how, stopMs: s0 - k0, restartMs: ms });
      log(`  restart after ${how}: ${ms.toFixed(0)} ms until Bolt answers with ${want.nodes} nodes / ${want.rels} rels`);
    }
    out.counts = want;
  } catch (e) {
    out.error = e.message.split('\n')[0];
  } finally {
    if (server) await server.stop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
  return out;
}

// ---- table ----------------------------------------------------------------------------------
function buildTable(R) {
  const rows = [];
  const fd = R.floors?.fdatasync?.opsPerSec;
  const pp = R.floors?.pingPong?.opsPerSec;
  const cell = (r) => (r && !r.error ? [fmtNum(r.opsPerSec), fmtMs(r.p50), fmtMs(r.p99)] : ['-', '-', '-']);
  const ratio = (a, b) => (a && b && !a.error && !b.error ? `${(a.opsPerSec / b.opsPerSec).toFixed(2)}x` : '-');
  const ofFloor = (r, f) => (r && !r.error && f ? `${(r.opsPerSec / f).toFixed(2)}` : '-');
  // CPU share of the machine used by the load generator / by the server process(es) during our point.
  const cpu = (r) => (r && !r.error ? `${(r.loadgenCpuShare * 100).toFixed(0)}%/${r.serverCpuShare == null ? '-' : `${(r.serverCpuShare * 100).toFixed(0)}%`}` : '');
  const series = (name, peerName, ours, peer, floor, note) => {
    if (!ours && !peer) { rows.push([name, '', 'not available', '', '', '', '', '', '', '', '', note ?? '']); return; }
    cfg.clients.forEach((c, i) => {
      const a = ours?.[i];
      const b = peer?.[i];
      rows.push([i === 0 ? name : '', String(c), ...cell(a), i === 0 ? peerName : '', ...cell(b), ratio(a, b), ofFloor(a, floor),
        cpu(a), i === 0 ? (note ?? '') : '']);
    });
  };
  const na = (x) => `not available: ${x}`;
  if (R.writes) {
    series('durable write CREATE (:Person)', R.writes.redis ? 'Redis SET fsync=always' : na(R.writes.redisError),
      R.writes.ours, R.writes.redis?.rows, fd, 'of floor = ops/s / serial fdatasync/s');
  }
  if (R.quorum) {
    const note = [R.quorum.raft.error && `raft ${na(R.quorum.raft.error)}`, R.quorum.etcd.error && `etcd ${na(R.quorum.etcd.error)}`]
      .filter(Boolean).join('; ');
    const how = cfg.gen === 'c' ? 'etcd through its HTTP/JSON gateway (/v3/kv/put)' : '';
    series('quorum write, 3-node Raft', 'etcd put, 3 members', R.quorum.raft.rows, R.quorum.etcd.rows, fd,
      [how, note].filter(Boolean).join('; '));
  }
  if (R.ha) {
    series('hot standby (sync) write', 'ours standalone', R.ha.rows, R.writes?.ours, fd, R.ha.error ? na(R.ha.error) : '');
  }
  if (R.floors?.walGroupCommit?.length) {
    for (const [i, w] of R.floors.walGroupCommit.entries()) {
      rows.push([i === 0 ? 'WAL group commit (C, in-process)' : '', String(w.clients), fmtNum(w.opsPerSec), '-', '-', '', '', '', '', '',
        ofFloor(w, fd), i === 0 ? `${w.recordsPerFsync.toFixed(1)} rec/fsync` : `${w.recordsPerFsync.toFixed(1)} rec/fsync`]);
    }
  }
  if (R.floors?.boltReturn1?.length) {
    for (const [i, w] of R.floors.boltReturn1.entries()) {
      rows.push([i === 0 ? 'Bolt RETURN 1 (lean C client)' : '', String(w.clients), fmtNum(w.opsPerSec), fmtMs(w.p50), fmtMs(w.p99),
        '', '', '', '', '', ofFloor(w, pp), i === 0 ? 'of floor = ops/s / ping-pong/s' : '']);
    }
  }
  const G = R.graph;
  try {
    graphRows(G, rows, na);
  } catch (e) {
    // bench-graph.mjs is maintained separately; a changed JSON layout must not lose the rest of the table.
    rows.push(['graph queries vs Kùzu', '', 'not available', '', '', '', '', '', '', '', '', `bench-graph.mjs JSON not understood: ${e.message}`]);
  }
  restartAndFailoverRows(R, rows, na);
  // Rows without a load-generator figure get an empty CPU cell before their note.
  return rows.map((r) => (r.length === 12 ? [...r.slice(0, 11), '', r[11]] : r));
}

function graphRows(G, rows, na) {
  if (G && !G.error) {
    const kz = G.kuzuAvailable ? `Kùzu ${G.kuzuVersion}` : na(G.kuzuReason);
    for (const [i, q] of G.queries.entries()) {
      const a = { opsPerSec: 1000 / q.ours.median, p50: q.ours.median };
      const b = q.kuzu ? { opsPerSec: 1000 / q.kuzu.median, p50: q.kuzu.median } : null;
      rows.push([`graph: ${q.name}`, '1', fmtNum(a.opsPerSec), fmtMs(a.p50), '-', i === 0 ? kz : '',
        ...(b ? [fmtNum(b.opsPerSec), fmtMs(b.p50), '-'] : ['-', '-', '-']), b ? `${(a.opsPerSec / b.opsPerSec).toFixed(2)}x` : '-', '',
        q.agree === false ? 'answers differ' : (i === 0 ? `p50 = median of ${G.params.runs} runs` : '')]);
    }
    const lo = G.load?.ours;
    const lk = G.load?.kuzu;
    if (lo) {
      const rate = (n, msv) => (msv > 0 ? n / (msv / 1000) : null);
      const ln = rate(G.params.nodes, lo.nodeLoadMs); const lr = rate(G.params.rels, lo.relLoadMs);
      const kn = lk ? rate(G.params.nodes, lk.nodeLoadMs) : null; const kr = lk ? rate(G.params.rels, lk.relLoadMs) : null;
      rows.push(['bulk load nodes (per s)', '1', fmtNum(ln), '-', '-', lk ? 'Kùzu COPY FROM CSV' : '', fmtNum(kn), '-', '-',
        kn ? `${(ln / kn).toFixed(2)}x` : '-', '', `${G.params.nodes} nodes, Bolt UNWIND batches`]);
      rows.push(['bulk load rels (per s)', '1', fmtNum(lr), '-', '-', '', fmtNum(kr), '-', '-', kr ? `${(lr / kr).toFixed(2)}x` : '-', '',
        `${G.params.rels} rels`]);
    }
    if (G.memory) {
      rows.push(['memory per node (bytes RSS)', '', fmtNum(G.memory.bytesPerNode), '', '', '', '', '', '', '', '', 'Kùzu not measured']);
      rows.push(['memory per rel (bytes RSS)', '', fmtNum(G.memory.bytesPerRel), '', '', '', '', '', '', '', '', '']);
    }
  } else if (G) {
    rows.push(['graph queries vs Kùzu', '', 'not available', '', '', '', '', '', '', '', '', G.error]);
  }
}

function restartAndFailoverRows(R, rows, na) {
  const RS = R.restart;
  if (RS) {
    if (RS.error && !RS.rounds.length) rows.push(['restart with loaded graph', '', 'not available', '', '', '', '', '', '', '', '', RS.error]);
    for (const r of RS.rounds) {
      rows.push([`restart after ${r.signal === 'SIGKILL' ? 'kill -9' : 'SIGTERM'} (ms)`, '', fmtNum(r.restartMs), '', '', '', '', '', '', '', '',
        `${RS.nodes} nodes, ${RS.rels} rels: start -> Bolt answers, counts right`]);
    }
  }
  const fo = (name, ours, peerName, peer, note) => {
    const med = (xs) => (xs?.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1] : null);
    const a = med(ours); const b = med(peer);
    rows.push([name, '', a == null ? 'not available' : fmtNum(a), '', '', peerName, b == null ? '-' : fmtNum(b), '', '',
      a != null && b != null ? `${(a / b).toFixed(2)}x` : '-', '', note]);
  };
  if (R.quorum) {
    fo('failover window, Raft (ms)', R.quorum.raft.failover, 'etcd', R.quorum.etcd.failover,
      `kill -9 leader -> first acked write; election ${ELECTION_TIMEOUT_MS} ms; median of ${cfg.failoverRounds}`);
  }
  if (R.ha) {
    fo('failover window, hot standby (ms)', R.ha.failover, '', null,
      R.ha.error && !R.ha.failover.length ? na(R.ha.error) : `kill -9 primary -> first acked write on standby; timeout ${ELECTION_TIMEOUT_MS} ms`);
  }
}

/** Which generator drove the write rows and how much CPU it took at most. */
function loadgenLine(R) {
  const L = R.loadgen;
  const how = cfg.gen === 'c'
    ? 'one bench-load process (C, one thread per client) per point for every write row, ours and the peers\''
    : `${L.workersPerPoint.join('/')} Node worker process(es) per point`;
  return `${how}; at most ${(L.maxCpuShareOfMachine * 100).toFixed(0)}% of the machine's CPU, busiest process `
    + `${(L.maxCpuShareOfOneCoreByOneProcess * 100).toFixed(0)}% of one core`;
}

/** The same table and floor lines as Markdown, for docs/performance.md. */
function markdown(R) {
  const m = R.machine;
  const esc = (c) => String(c ?? '').replace(/\|/g, '\\|');
  const lines = [
    `Run: \`${R.command}\` on ${R.startedAt.slice(0, 10)}, ${(R.durationSeconds / 60).toFixed(1)} min, seed ${R.config.seed}, `
      + `${R.config.seconds} s per load point.`,
    `Machine: ${m.nproc} cores (nproc), ${m.cpuModel}, ${m.memGiB} GiB RAM, disk ${m.disk.device ?? '?'} `
      + `(${m.disk.fs ?? '?'}${m.disk.rotational == null ? '' : m.disk.rotational ? ', reported rotational' : ', non-rotational'}) `
      + `under ${m.disk.dir}, kernel ${m.kernel}, Node ${m.node}.`,
    `Server: ${R.server.bin} (${R.server.version ?? '?'}); clients: ${R.clients.join(', ') || '-'}.`,
    '',
    `| ${R.tableHeaders.map(esc).join(' | ')} |`,
    `|${R.tableHeaders.map((_, i) => (i === 0 || i === 5 || i === 12 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...R.table.map((r) => `| ${r.map(esc).join(' | ')} |`),
    '',
  ];
  const F = R.floors;
  if (F) {
    lines.push(`Floors: serial write(100 B)+fdatasync ${F.fdatasync ? `${fmtNum(F.fdatasync.opsPerSec)}/s (${F.fdatasync.msEach} ms each)` : 'not measured'}; `
      + `loopback TCP 1-byte ping-pong ${F.pingPong ? `${fmtNum(F.pingPong.opsPerSec)}/s (p50 ${fmtMs(F.pingPong.p50)} ms, p99 ${fmtMs(F.pingPong.p99)} ms)` : 'not measured'}.`);
  }
  if (R.loadgen.maxCpuShareOfMachine != null) lines.push('', `Load generator: ${loadgenLine(R)}.`);
  if (R.region) {
    lines.push('');
    printRegionFn(R.region, (l) => lines.push(l));
  }
  return lines.join('\n') + '\n';
}

let printRegionFn = null;

// ---- main -----------------------------------------------------------------------------------
async function main() {
  const R = {
    startedAt: new Date().toISOString(),
    command: `tools/bench.sh ${process.argv.slice(2).join(' ')}`.trim(),
    config: cfg,
    machine: machineInfo(os.tmpdir()),
    server: { bin: path.relative(root, bin) },
    clients: {},
  };
  try {
    R.server.version = (await run(bin, ['--version'])).stdout.trim().split('\n')[0];
  } catch { /* optional */ }
  log(`server ${R.server.bin} ${R.server.version ?? ''}; ${R.machine.nproc} cores, ${R.machine.cpuModel}`);

  if (only.has('floors')) {
    const s = await startServer();
    try { R.floors = await floors(s); } finally { await s.stop(); }
  }
  if (only.has('writes')) {
    const args = { clients: cfg.clients, seconds: cfg.seconds, seed: cfg.seed, workers: cfg.workers, gen: cfg.gen, log };
    R.writes = { ours: await benchOursWrites(args) };
    try { R.writes.redis = await benchRedisWrites(args); } catch (e) { R.writes.redisError = e.message.split('\n')[0]; }
  }
  if (only.has('quorum')) {
    const args = { clients: cfg.clients, seconds: cfg.seconds, seed: cfg.seed, workers: cfg.workers, gen: cfg.gen,
      failoverRounds: cfg.failoverRounds, log };
    R.quorum = { raft: await benchRaft(args), etcd: await benchEtcd(args) };
  }
  if (only.has('ha')) R.ha = await benchHa();
  if (only.has('region')) {
    // multi_region.so with an artificial inter-region delay, beside single-region Raft (tests/bench/bench-region.mjs)
    const { benchRegion, printRegion } = await import(T('bench/bench-region.mjs'));
    printRegionFn = printRegion;
    try {
      R.region = await benchRegion({ delayMs: 25, writes: o.quick ? 30 : 100, rate: 20, seconds: o.quick ? 3 : 5, log });
    } catch (e) { R.regionError = e.message.split('\n')[0]; }
  }
  if (only.has('graph')) R.graph = await benchGraph();
  if (only.has('restart')) R.restart = await benchRestart();
  R.durationSeconds = (Date.now() - t0) / 1000;

  // Which client library drove which row, and how busy the load generator was.
  const all = [...(R.writes?.ours ?? []), ...(R.writes?.redis?.rows ?? []), ...(R.quorum?.raft.rows ?? []),
    ...(R.quorum?.etcd.rows ?? []), ...(R.ha?.rows ?? [])].filter((r) => r && !r.error);
  for (const r of all) R.clients[r.lib] = true;
  R.clients = Object.keys(R.clients);
  const maxLg = all.length ? Math.max(...all.map((r) => r.loadgenCpuShare)) : null;
  const maxProc = all.length ? Math.max(...all.map((r) => r.loadgenMaxProcShare)) : null;
  R.loadgen = { maxCpuShareOfMachine: maxLg, maxCpuShareOfOneCoreByOneProcess: maxProc,
    workersPerPoint: [...new Set(all.map((r) => r.workers))] };

  R.table = buildTable(R);
  const headers = ['workload', 'clients', 'ours ops/s', 'p50 ms', 'p99 ms', 'peer', 'ops/s', 'p50 ms', 'p99 ms', 'ours/peer', 'of floor',
    'gen/srv CPU', 'note'];
  R.tableHeaders = headers;
  const m = R.machine;
  console.log(`\nNornicDB performance table — ${R.startedAt}, ${(R.durationSeconds / 60).toFixed(1)} min, seed ${cfg.seed}, `
    + `${cfg.seconds} s per load point`);
  console.log(`machine: ${m.nproc} cores, ${m.cpuModel}, ${m.memGiB} GiB, disk ${m.disk.device ?? '?'} (${m.disk.fs ?? '?'}`
    + `${m.disk.rotational == null ? '' : m.disk.rotational ? ', rotational' : ', non-rotational'}) at ${m.disk.dir}; kernel ${m.kernel}`);
  console.log(`server: ${R.server.bin} ${R.server.version ?? ''}; clients: ${R.clients.join(', ') || '-'}`);
  console.log('');
  printTable(headers, R.table);
  console.log('');
  const F = R.floors;
  if (F) {
    console.log(`floor: serial write(100 B)+fdatasync ${F.fdatasync ? `${fmtNum(F.fdatasync.opsPerSec)}/s (${F.fdatasync.msEach} ms each)` : 'not measured'}; `
      + `loopback TCP 1-byte ping-pong ${F.pingPong ? `${fmtNum(F.pingPong.opsPerSec)}/s (p50 ${fmtMs(F.pingPong.p50)} ms, p99 ${fmtMs(F.pingPong.p99)} ms)` : 'not measured'}`);
    for (const e of F.errors) console.log(`floor error: ${e}`);
  }
  if (maxLg != null) console.log(`load generator: ${loadgenLine(R)}`);
  if (R.region) {
    console.log('');
    printRegionFn(R.region);
  } else if (R.regionError) console.log(`multi-region: ${R.regionError}`);
  writeJson(path.resolve(o.json), R);
  console.log(`JSON: ${path.resolve(o.json)}`);
  if (o.markdown) {
    writeFileSync(path.resolve(o.markdown), markdown(R));
    console.log(`Markdown: ${path.resolve(o.markdown)}`);
  }
}

main().catch((e) => { console.error(e.stack ?? e); process.exit(1); });
