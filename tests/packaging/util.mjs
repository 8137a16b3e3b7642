// Helpers for the packaging tests: run a command, start an installed or
// packaged daemon with explicit arguments on free loopback ports, and stop it
// again by pid.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../lib/server.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion; returns {status, stdout, stderr}. */
export function run(cmd, args, { env, cwd, timeout = 60000, input } = {}) {
  const r = spawnSync(cmd, args, {
    env: env ?? process.env, cwd, timeout, input, encoding: 'utf8', maxBuffer: 64 << 20,
  });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** A program on PATH, or null. */
export function which(name) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir || '.', name);
    if (existsSync(p)) return p;
  }
  return null;
}

/** The environment without NORNICDB_* variables and without a locale. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('NORNICDB_') || k === 'LANGUAGE' || k.startsWith('LC_') || k === 'LANG') continue;
    env[k] = v;
  }
  return { ...env, LC_ALL: 'C', ...extra };
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/**
 * Starts `bin args...` with NORNICDB_DATA_DIR=dataDir, Bolt and HTTP on free
 * 127.0.0.1 ports, and waits (at most 20 s) until GET /health answers 200.
 * Returns {pid, httpUrl, output(), stop()}; stop() sends SIGTERM (SIGKILL
 * after 10 s) and resolves to {code, signal}.
 */
export async function startDaemon({ bin, args = [], dataDir, env = {} }) {
  const boltPort = await freePort();
  let httpPort = await freePort();
  while (httpPort === boltPort) httpPort = await freePort();
  const child = spawn(bin, args, {
    env: cleanEnv({
      NORNICDB_DATA_DIR: dataDir,
      NORNICDB_BOLT_ADDRESS: '127.0.0.1',
      NORNICDB_BOLT_PORT: String(boltPort),
      NORNICDB_HTTP_ADDRESS: '127.0.0.1',
      NORNICDB_HTTP_PORT: String(httpPort),
      NORNICDB_AUTH: 'admin:packaging-test',
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => { exited = { code, signal }; running.delete(child); resolve(exited); });
    child.once('error', (error) => { exited = { code: null, signal: null, error }; running.delete(child); resolve(exited); });
  });
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 10000);
      await exitPromise;
      clearTimeout(timer);
    }
    return exited;
  };
  const deadline = Date.now() + 20000;
  for (;;) {
    if (exited) throw new Error(`${bin} exited during start-up (${JSON.stringify(exited)}):\n${output}`);
    try {
      const res = await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) {
        const body = await res.json();
        return { pid: child.pid, httpUrl, health: body, output: () => output, stop };
      }
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${bin}: /health did not answer 200 within 20 s:\n${output}`);
    }
    await sleep(100);
  }
}

/** `meson introspect --buildoptions` as {name: value}. */
export function buildOptions(meson, buildDir) {
  const r = run(meson, ['introspect', '--buildoptions', buildDir]);
  if (r.status !== 0) throw new Error(`meson introspect failed: ${r.stderr}`);
  return Object.fromEntries(JSON.parse(r.stdout).map((o) => [o.name, o.value]));
}

/** An install directory option resolved the way meson does (absolute wins). */
export function installDir(opts, name) {
  const v = opts[name];
  return path.isAbsolute(v) ? v : path.join(opts.prefix, v);
}
