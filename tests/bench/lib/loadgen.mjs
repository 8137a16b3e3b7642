// Closed-loop load generator over several Node processes, so that one
// JavaScript thread is not the bottleneck. runLoad() forks `workers`
// processes (loadgen-worker.mjs), splits the clients between them, starts
// them together and merges their latencies. It reports the load generator's
// CPU share (its processes' CPU time over wall time x cores) and, for the
// pids given in watchPids, the servers' share measured the same way.
import { execFile, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { procCpuSeconds, summarize } from './stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const workerPath = path.join(here, 'loadgen-worker.mjs');
const cores = os.availableParallelism ? os.availableParallelism() : os.cpus().length;

let idOffsetCounter = 0;

function waitMessage(child, type, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`load worker: no "${type}" within ${timeoutMs} ms`)); }, timeoutMs);
    const onMsg = (m) => {
      if (m.type === type) { cleanup(); resolve(m); }
      else if (m.type === 'fatal') { cleanup(); reject(new Error(`load worker: ${m.error}`)); }
    };
    const onExit = (code) => { cleanup(); reject(new Error(`load worker exited (${code}) before "${type}"`)); };
    const cleanup = () => { clearTimeout(timer); child.off('message', onMsg); child.off('exit', onExit); };
    child.on('message', onMsg);
    child.on('exit', onExit);
  });
}

/**
 * kind: 'bolt' | 'redis' | 'etcd'; target: connection details for the kind;
 * clients: concurrent closed-loop clients; seconds: measured duration.
 * Returns { clients, workers, lib, ops, opsPerSec, p50, p99, errors, firstError,
 *           loadgenCpuShare, loadgenMaxProcShare, serverCpuShare }.
 */
export async function runLoad({ kind, target, clients, seconds, seed = 42, workers, watchPids = [],
  maxOpsPerClient = 1_000_000 }) {
  const nw = Math.max(1, Math.min(clients, workers ?? Math.max(2, cores)));
  const share = Array.from({ length: nw }, (_, w) => Math.floor(clients / nw) + (w < clients % nw ? 1 : 0));
  const children = [];
  const idOffset = (idOffsetCounter++) * 10_000;
  try {
    for (let w = 0; w < nw; w++) {
      const child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('error', () => {});
      children.push(child);
    }
    const ready = children.map((c, w) => {
      const p = waitMessage(c, 'ready', 60000);
      c.send({ type: 'setup', kind, target, clients: share[w], seed, worker: w, idOffset, seconds, maxOpsPerClient });
      return p;
    });
    const readies = await Promise.all(ready);
    const done = children.map((c) => waitMessage(c, 'done', (seconds + 120) * 1000));
    const srv0 = watchPids.map(procCpuSeconds);
    const t0 = performance.now();
    for (const c of children) c.send({ type: 'go' });
    const results = await Promise.all(done);
    const wall = (performance.now() - t0) / 1000;
    const srv1 = watchPids.map(procCpuSeconds);
    const lat = [];
    for (const r of results) for (const x of r.lat) lat.push(x);
    const elapsed = Math.max(...results.map((r) => r.elapsed));
    const s = summarize(lat);
    const lgCpu = results.reduce((a, r) => a + r.cpuSeconds, 0);
    const srvCpu = srv0.reduce((a, v, i) => (v != null && srv1[i] != null ? a + (srv1[i] - v) : a), 0);
    return {
      clients, workers: nw, lib: readies[0].lib,
      ops: s.count, seconds: elapsed, opsPerSec: s.count / elapsed, p50: s.p50, p99: s.p99,
      errors: results.reduce((a, r) => a + r.errors, 0),
      firstError: results.find((r) => r.firstError)?.firstError ?? null,
      loadgenCpuShare: lgCpu / (wall * cores),
      loadgenMaxProcShare: Math.max(...results.map((r) => r.cpuSeconds / r.elapsed)),
      serverCpuShare: watchPids.length ? srvCpu / (wall * cores) : null,
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

/** build-xxx/tests/bench/bench-load beside the daemon NORNICDB_BIN names; null if not built. */
export function cLoadBin() {
  const bin = process.env.NORNICDB_BIN ? path.resolve(process.env.NORNICDB_BIN)
    : path.resolve(here, '..', '..', '..', 'build', 'nornicdb');
  const p = path.join(path.dirname(bin), 'tests', 'bench', 'bench-load');
  return existsSync(p) ? p : null;
}

/**
 * The same closed loop driven by bench-load (C, one thread and one blocking
 * socket per client, see bench-load.c) instead of Node workers. kind: 'bolt'
 * (target {addrs: ['host:port', ...], user, password, cypher}: the first
 * address that accepts a write is used, i.e. the Raft leader), 'redis'
 * (target {host, port}) or 'etcd' (target {hosts: ['host:port']}, HTTP/JSON
 * gateway). Returns the same row shape as runLoad().
 */
export async function runCLoad({ kind, target, clients, seconds, seed = 42, watchPids = [], maxOpsPerClient = 1_000_000 }) {
  const bin = cLoadBin();
  if (!bin) throw new Error('bench-load not built (ninja tests/bench/bench-load)');
  const addrs = kind === 'bolt' ? target.addrs ?? [target.url.replace(/^bolt:\/\//, '')]
    : kind === 'redis' ? [`${target.host}:${target.port}`] : target.hosts;
  const idBase = 1_000_000_000 + (idOffsetCounter++) * 1_000_000_000;
  const args = ['--proto', kind, '--addr', addrs.join(','), '--conns', String(clients), '--seconds', String(seconds),
    '--seed', String(seed), '--id-base', String(idBase), '--max-ops-per-conn', String(maxOpsPerClient)];
  if (kind === 'bolt') args.push('--user', target.user, '--password', target.password, '--cypher', target.cypher);
  const srv0 = watchPids.map(procCpuSeconds);
  const t0 = performance.now();
  const { stdout, stderr, err } = await new Promise((resolve) => {
    execFile(bin, args, { timeout: (seconds + 120) * 1000, maxBuffer: 1 << 20 },
      (e, so, se) => resolve({ err: e, stdout: String(so), stderr: String(se) }));
  });
  const wall = (performance.now() - t0) / 1000;
  const srv1 = watchPids.map(procCpuSeconds);
  let r;
  try { r = JSON.parse(stdout.trim().split('\n').pop()); } catch {
    throw new Error(`bench-load: ${(err?.message ?? '').split('\n')[0]} ${stderr.trim().slice(-300)}`);
  }
  if (r.ops === 0) throw new Error(`bench-load: no request succeeded: ${r.firstError ?? stderr.trim().slice(-300)}`);
  const srvCpu = srv0.reduce((a, v, i) => (v != null && srv1[i] != null ? a + (srv1[i] - v) : a), 0);
  return {
    clients, workers: 1, lib: r.lib, gen: 'c', addr: r.addr,
    ops: r.ops, seconds: r.seconds, opsPerSec: r.opsPerSec, p50: r.p50, p99: r.p99,
    errors: r.errors, firstError: r.firstError,
    loadgenCpuShare: r.cpuShare,
    loadgenMaxProcShare: r.cpuSeconds / r.seconds,
    // The servers' CPU over the whole bench-load run (connection set-up and
    // warm-up included, a few ms against the measured seconds).
    serverCpuShare: watchPids.length ? srvCpu / (wall * cores) : null,
  };
}

/**
 * Runs runLoad (gen 'node') or runCLoad (gen 'c', the default whenever
 * bench-load is built) for each client count; failures become
 * { clients, error } rows.
 */
export async function runLoadSeries(base, clientCounts, log = () => {}) {
  const out = [];
  const gen = base.gen ?? (cLoadBin() ? 'c' : 'node');
  for (const clients of clientCounts) {
    try {
      const r = gen === 'c' ? await runCLoad({ ...base, clients }) : await runLoad({ ...base, clients });
      log(`  ${base.kind} ${clients} client(s) [${r.lib}]: ${r.opsPerSec.toFixed(0)} ops/s, p50 ${r.p50?.toFixed(3)} ms, `
        + `p99 ${r.p99?.toFixed(3)} ms, errors ${r.errors}${r.firstError ? ` (${r.firstError})` : ''}, `
        + `gen CPU ${(r.loadgenCpuShare * 100).toFixed(0)}%`);
      out.push(r);
    } catch (e) {
      log(`  ${base.kind} ${clients} client(s): failed: ${e.message}`);
      out.push({ clients, error: e.message });
    }
  }
  return out;
}
