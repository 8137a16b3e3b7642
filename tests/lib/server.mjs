// Test harness: starts the nornicdb daemon on free loopback ports with a
// fresh data directory and stops it again. Used by every Node test (driver
// tests, TCK runner, benchmarks). It never builds anything: the binary comes
// from NORNICDB_BIN, or ../../build/nornicdb relative to this file.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const defaultBin = path.resolve(here, '..', '..', 'build', 'nornicdb');

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// Test ports come from below the kernel's ephemeral range (32768-60999 on
// Debian), so no outgoing connection and no `listen(0)` elsewhere can take
// one between our choosing it and the daemon binding it. Test processes run
// in parallel: each port is claimed with a lock file that names the claiming
// pid (O_EXCL create); a claim whose pid is gone is taken over. Claims are
// held until this process exits.
const PORT_LO = 20000;
const PORT_HI = 32700;
const lockDir = path.join(os.tmpdir(), 'nornicdb-test-ports');
const claimed = new Set();
process.on('exit', () => {
  for (const port of claimed) {
    try { unlinkSync(path.join(lockDir, String(port))); } catch { /* gone */ }
  }
});

function pidAlive(pid) {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}

function claim(port) {
  const file = path.join(lockDir, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const owner = Number(readFileSync(file, 'utf8').trim() || 0);
      if (owner && pidAlive(owner)) return false;
      try { unlinkSync(file); } catch { /* another process took it over */ }
    }
  }
  return false;
}

function bindable(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A loopback port claimed for this test process: free now and kept from the other test processes. */
export async function freePort() {
  mkdirSync(lockDir, { recursive: true });
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = PORT_LO + Math.floor(Math.random() * (PORT_HI - PORT_LO));
    if (claimed.has(port) || !claim(port)) continue;
    claimed.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free test port in ${PORT_LO}-${PORT_HI}`);
}

function canConnect(host, port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a daemon. Options:
 *   env     extra/overriding environment variables
 *   dataDir use this data directory (kept on stop); default: a fresh temp dir (removed on stop)
 *   args    extra command-line arguments for the daemon
 *   host    the address Bolt and HTTP listen on (default 127.0.0.1)
 *   netns   run the daemon inside this network namespace (`ip netns exec`,
 *           which execs it: pid is still the daemon's); give host and ports
 * Returns {pid, boltPort, httpPort, boltUrl, httpUrl, dataDir, auth, stop, kill, output}.
 */
export async function startServer({ env = {}, dataDir, args = [], host = '127.0.0.1', netns = null } = {}) {
  const bin = process.env.NORNICDB_BIN ? path.resolve(process.env.NORNICDB_BIN) : defaultBin;
  const ownDir = !dataDir;
  const dir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'nornicdb-test-'));
  const boltPort = env.NORNICDB_BOLT_PORT ? Number(env.NORNICDB_BOLT_PORT) : await freePort();
  let httpPort = env.NORNICDB_HTTP_PORT ? Number(env.NORNICDB_HTTP_PORT) : await freePort();
  while (httpPort === boltPort) httpPort = await freePort();

  const authSpec = env.NORNICDB_AUTH ?? 'admin:test-password';
  const sep = authSpec.includes(':') ? ':' : '/';
  const [user, ...rest] = authSpec === 'none' ? ['', ''] : authSpec.split(sep);
  const auth = { user, password: rest.join(sep) };

  const childEnv = {
    // The test runner's own NORNICDB_* settings (NORNICDB_BIN, suite knobs)
    // are not server configuration: pass only what the test asks for.
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NORNICDB_'))),
    NORNICDB_DATA_DIR: dir,
    NORNICDB_BOLT_ADDRESS: host,
    NORNICDB_BOLT_PORT: String(boltPort),
    NORNICDB_BOLT_ADVERTISE_ADDRESS: `${host}:${boltPort}`,
    NORNICDB_HTTP_ADDRESS: host,
    NORNICDB_HTTP_PORT: String(httpPort),
    NORNICDB_AUTH: authSpec,
    ...env,
  };
  const child = netns
    ? spawn('ip', ['netns', 'exec', netns, bin, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(bin, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const collect = (d) => {
    output += d.toString();
    if (output.length > 1 << 20) output = output.slice(-(1 << 19));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolve(exited);
    });
    child.once('error', (err) => {
      exited = { code: null, signal: null, error: err };
      running.delete(child);
      resolve(exited);
    });
  });

  const cleanup = () => {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20000;
  for (;;) {
    if (exited) {
      cleanup();
      throw new Error(`nornicdb${netns ? ` in ${netns}` : ''} exited during start-up (${JSON.stringify(exited)}):\n${output}`);
    }
    if (await canConnect(host, boltPort)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exitPromise;
      cleanup();
      throw new Error(`nornicdb${netns ? ` in ${netns}` : ''} did not accept Bolt connections on ${host}:${boltPort} within 20 s:\n${output}`);
    }
    await sleep(50);
  }

  let stopped = false;
  return {
    pid: child.pid,
    boltPort,
    httpPort,
    boltUrl: `bolt://${host}:${boltPort}`,
    httpUrl: `http://${host}:${httpPort}`,
    dataDir: dir,
    auth,
    output: () => output,
    exited: () => exited,
    kill: (signal = 'SIGKILL') => {
      if (!exited) child.kill(signal);
      return exitPromise;
    },
    stop: async () => {
      if (stopped) return exited;
      stopped = true;
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 10000);
        await exitPromise;
        clearTimeout(timer);
      }
      cleanup();
      return exited;
    },
  };
}
