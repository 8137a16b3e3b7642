// Helpers for the hot standby tests: a primary/standby pair of real daemons
// on loopback addresses (127.0.0.11 and 127.0.0.12), optionally with their
// cluster traffic routed through a TCP proxy in this process that can cut
// the link (a blackhole: packets vanish, no FIN/RST) and heal it again.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, freePort } from '../lib/server.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const AUTH = 'admin:test-password';
const authHeader = 'Basic ' + Buffer.from(AUTH).toString('base64');

/** Deterministic PRNG (mulberry32) for seeded schedules. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function getJson(node, p, { method = 'GET', timeout = 5000 } = {}) {
  const res = await fetch(node.httpUrl + p, {
    method,
    headers: { Authorization: authHeader },
    signal: AbortSignal.timeout(timeout),
  });
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: res.status, body };
}

export async function metrics(node) {
  const res = await fetch(node.httpUrl + '/metrics', { headers: { Authorization: authHeader } });
  return res.text();
}

export function metric(text, name) {
  const re = new RegExp(`^${name.replace(/[{}"=]/g, (c) => '\\' + c)} (\\S+)$`, 'm');
  const m = text.match(re);
  return m ? Number(m[1]) : undefined;
}

/** One Cypher statement through the HTTP transaction API. Throws on errors. */
export async function cypher(node, statement, { parameters = {}, bookmarks, timeout = 10000 } = {}) {
  const body = { statements: [{ statement, parameters }] };
  if (bookmarks) body.bookmarks = bookmarks;
  const res = await fetch(node.httpUrl + '/db/neo4j/tx/commit', {
    method: 'POST',
    headers: { Authorization: authHeader, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const json = await res.json();
  if (json.errors && json.errors.length) {
    const e = new Error(`${json.errors[0].code}: ${json.errors[0].message}`);
    e.code = json.errors[0].code;
    throw e;
  }
  return { rows: json.results[0]?.data.map((d) => d.row) ?? [], bookmarks: json.lastBookmarks };
}

export async function waitFor(what, fn, timeoutMs = 15000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}

export async function health(node) {
  return (await getJson(node, '/health', { timeout: 2000 })).body.replication;
}

/** A blackholing TCP proxy: listen on 127.0.0.1:<port>, forward to target. */
export async function startProxy(targetHost, targetPort) {
  const port = await freePort();
  const pairs = new Set();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) {
      // Accept and swallow: a cut link times out, it does not refuse.
      client.on('data', () => {});
      client.on('error', () => {});
      pairs.add([client]);
      return;
    }
    const upstream = net.connect({ host: targetHost, port: targetPort });
    const pair = [client, upstream];
    pairs.add(pair);
    const fwd = (from, to) => from.on('data', (d) => { if (!cut) to.write(d); });
    fwd(client, upstream);
    fwd(upstream, client);
    const end = () => { client.destroy(); upstream.destroy(); pairs.delete(pair); };
    client.on('error', end); upstream.on('error', end);
    client.on('close', end); upstream.on('close', end);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${port}`,
    cut() { cut = true; },
    heal() {
      // Connections that lived through the cut are reset, as a router
      // reboot would; new ones flow again.
      cut = false;
      for (const p of pairs) for (const s of p) s.destroy();
      pairs.clear();
    },
    close() {
      for (const p of pairs) for (const s of p) s.destroy();
      server.close();
    },
  };
}

/**
 * Starts a primary (127.0.0.11) and a standby (127.0.0.12).
 * opts: syncMode, failover ('1500ms'), heartbeatMs, autoFailover, env (both), envA, envB, proxy (bool),
 *       hosts ({a, b}: other loopback addresses for the cluster ports)
 * Returns { a, b, start(name), stop(), proxies }. a/b are restartable with start('a').
 */
export async function startPair(opts = {}) {
  const {
    syncMode = 'semi_sync', failover = '1500ms', heartbeatMs = 100, autoFailover = true,
    env = {}, envA = {}, envB = {}, proxy = false, startB = true,
    hosts = { a: '127.0.0.11', b: '127.0.0.12' },
  } = opts;
  const root = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-ha-'));
  const ports = {};
  for (const n of ['a', 'b']) {
    ports[n] = { cluster: await freePort(), bolt: await freePort(), http: await freePort() };
  }
  const host = hosts;
  const proxies = {};
  if (proxy) {
    proxies.toB = await startProxy(host.b, ports.b.cluster);
    proxies.toA = await startProxy(host.a, ports.a.cluster);
  }
  const envFor = (n) => {
    const other = n === 'a' ? 'b' : 'a';
    const peer = proxy ? (n === 'a' ? proxies.toB.address : proxies.toA.address) : `${host[other]}:${ports[other].cluster}`;
    return {
      NORNICDB_AUTH: AUTH,
      NORNICDB_CLUSTER_MODE: 'ha_standby',
      NORNICDB_CLUSTER_NODE_ID: n === 'a' ? 'primary-1' : 'standby-1',
      NORNICDB_CLUSTER_BIND_ADDR: `${host[n]}:${ports[n].cluster}`,
      NORNICDB_CLUSTER_HA_ROLE: n === 'a' ? 'primary' : 'standby',
      NORNICDB_CLUSTER_HA_PEER_ADDR: peer,
      NORNICDB_CLUSTER_HA_SYNC_MODE: syncMode,
      NORNICDB_CLUSTER_HA_HEARTBEAT_MS: String(heartbeatMs),
      NORNICDB_CLUSTER_HA_FAILOVER_TIMEOUT: failover,
      NORNICDB_CLUSTER_HA_AUTO_FAILOVER: String(autoFailover),
      NORNICDB_BOLT_PORT: String(ports[n].bolt),
      NORNICDB_HTTP_PORT: String(ports[n].http),
      NORNICDB_BOLT_ADVERTISE_ADDRESS: `127.0.0.1:${ports[n].bolt}`,
      ...env,
      ...(n === 'a' ? envA : envB),
    };
  };
  const pair = {
    root, ports, proxies, envFor,
    a: null, b: null,
    async start(n, extraEnv = {}) {
      const dataDir = path.join(root, n);
      pair[n] = await startServer({ env: { ...envFor(n), ...extraEnv }, dataDir });
      return pair[n];
    },
    async stop() {
      for (const n of ['a', 'b']) if (pair[n]) await pair[n].kill('SIGKILL');
      for (const p of Object.values(proxies)) p.close();
      rmSync(root, { recursive: true, force: true });
    },
    /** Both nodes' output, for failure messages. */
    logs() {
      return ['a', 'b'].map((n) => `---- ${n} ----\n${pair[n] ? pair[n].output().slice(-6000) : '(not started)'}`).join('\n');
    },
  };
  try {
    await pair.start('a');
    if (startB) {
      await pair.start('b');
      await waitFor('the pair to connect', async () => {
        const h = await health(pair.b);
        return h.peers[0]?.healthy && h.role === 'standby' ? h : null;
      });
    }
  } catch (e) {
    // Leave nothing running (a live proxy or daemon keeps the test alive).
    const logs = pair.logs();
    const exits = ['a', 'b'].map((n) => `${n}: ${JSON.stringify(pair[n]?.exited?.() ?? null)}`).join(', ');
    await pair.stop();
    e.message += `\n(exits: ${exits})\n${logs}`;
    throw e;
  }
  return pair;
}

/** Waits until `node` has applied everything `from` has in its log. */
export async function waitConverged(from, node, timeoutMs = 15000) {
  return waitFor('the standby to catch up', async () => {
    const p = (await getJson(from, '/admin/wal/position')).body;
    const q = (await getJson(node, '/admin/wal/position')).body;
    return q.applied_index >= p.last_index && q.last_index === p.last_index ? q : null;
  }, timeoutMs);
}
