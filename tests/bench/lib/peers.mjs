// Peers for the comparison benchmarks, started on loopback with temporary
// data directories and stopped by pid: Redis with appendonly yes +
// appendfsync always (every SET is fsynced before the reply), and a
// 3-member etcd cluster (every put is fsynced on a quorum before the reply).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../lib/server.mjs';
import { sleep } from './stats.mjs';

const started = new Set();
process.on('exit', () => {
  for (const child of started) { try { child.kill('SIGKILL'); } catch { /* gone */ } }
});

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function which(cmd) {
  try { return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null; } catch { return null; }
}

export function version(cmd, args) {
  try { return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0].trim(); } catch { return null; }
}

function spawnLogged(bin, args, logFile) {
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  started.add(child);
  let exited = null;
  const exitPromise = new Promise((resolve) => child.once('exit', (code, signal) => {
    exited = { code, signal };
    started.delete(child);
    resolve(exited);
  }));
  child.on('error', (e) => { exited = { error: e.message }; });
  return {
    child, pid: child.pid, exited: () => exited,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 5000);
        await exitPromise;
        clearTimeout(t);
      }
    },
    async kill() { if (!exited) child.kill('SIGKILL'); await exitPromise; },
  };
}

const tail = (file) => { try { return readFileSync(file, 'utf8').slice(-2000); } catch { return ''; } };

/** redis-server with appendonly yes + appendfsync always on a free loopback port. */
export async function startRedis() {
  const bin = which('redis-server');
  if (!bin) throw new Error('redis-server not installed (apt-get install redis-server)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nornic-bench-redis-'));
  const port = await freePort();
  const log = path.join(dir, 'redis.log');
  const p = spawnLogged(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no',
    '--logfile', log], path.join(dir, 'stdout.log'));
  const deadline = Date.now() + 15000;
  while (!(await canConnect(port))) {
    if (p.exited() || Date.now() > deadline) {
      await p.kill();
      const msg = tail(log);
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not start: ${msg}`);
    }
    await sleep(50);
  }
  return {
    pid: p.pid, port, host: '127.0.0.1', dir,
    version: (version(bin, ['--version']) ?? '').replace(/^Redis server v=(\S+).*/, 'Redis $1'),
    async stop() { await p.stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}

/** A 3-member etcd cluster on 127.0.0.1 (fresh data dirs, free ports). */
export async function startEtcdCluster({ members = 3 } = {}) {
  const bin = which('etcd');
  if (!bin) throw new Error('etcd not installed (apt-get install etcd-server)');
  const root = mkdtempSync(path.join(os.tmpdir(), 'nornic-bench-etcd-'));
  const ms = [];
  for (let i = 1; i <= members; i++) ms.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initial = ms.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const procs = ms.map((m) => spawnLogged(bin, [
    '--name', m.name, '--data-dir', path.join(root, m.name),
    '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
    '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
    '--initial-cluster', initial, '--initial-cluster-token', `bench-${process.pid}`, '--initial-cluster-state', 'new',
    '--logger', 'zap', '--log-outputs', path.join(root, `${m.name}.log`),
  ], path.join(root, `${m.name}.out`)));
  const cluster = {
    pids: procs.map((p) => p.pid), root, members: ms,
    endpoints: ms.map((m) => `127.0.0.1:${m.client}`),
    version: (version(bin, ['--version']) ?? '').replace(/^etcd Version: /, 'etcd '),
    /** kill -9 of the member serving this client endpoint. */
    async killMember(endpoint) { await procs[cluster.endpoints.indexOf(endpoint)].kill(); },
    live() { return cluster.endpoints.filter((_, i) => !procs[i].exited()); },
    async stop() {
      await Promise.all(procs.map((p) => p.stop()));
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    const deadline = Date.now() + 30000;
    for (;;) {
      const dead = procs.find((p) => p.exited());
      if (dead) throw new Error(`etcd member exited during start-up: ${tail(path.join(root, `${ms[procs.indexOf(dead)].name}.log`))}`);
      const leader = etcdLeader(cluster);
      if (leader) { cluster.leader = leader; break; }
      if (Date.now() > deadline) throw new Error('etcd cluster elected no leader within 30 s');
      await sleep(200);
    }
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** The client endpoint of the current etcd leader, via etcdctl endpoint status; null if none. */
export function etcdLeader(cluster) {
  const ctl = which('etcdctl');
  if (!ctl) throw new Error('etcdctl not installed (apt-get install etcd-client)');
  try {
    const out = execFileSync(ctl, ['--endpoints', cluster.endpoints.join(','), '--dial-timeout', '1s',
      '--command-timeout', '2s', 'endpoint', 'status', '-w', 'json'],
    { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'ignore'] });
    const st = JSON.parse(out);
    const lead = st.find((s) => s.Status?.leader && s.Status.header?.member_id === s.Status.leader);
    return lead ? lead.Endpoint : null;
  } catch {
    return null;
  }
}
