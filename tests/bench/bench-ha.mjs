// Hot standby benchmark: write throughput and p50/p99 commit latency at 1,
// 16 and 64 concurrent clients for async, semi_sync and sync pairs beside a
// standalone node in the same run (ratios to standalone), and the failover
// window (kill -9 of the primary -> first successful write on the standby)
// against the configured failover timeout.
//
//   NORNICDB_BIN=build/nornicdb node tests/bench/bench-ha.mjs
//   BENCH_SECONDS (default 3) per point; BENCH_FAILOVER_ROUNDS (default 3).
import { createRequire } from 'node:module';
import { startServer } from '../lib/server.mjs';
import { AUTH, cypher, health, sleep, startPair, waitFor } from '../cluster/ha-lib.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');
const [user, password] = AUTH.split(':');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_FAILOVER_ROUNDS ?? 3);
const CLIENTS = [1, 16, 64];

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function load(boltPort, clients) {
  const driver = neo4j.driver(`bolt://127.0.0.1:${boltPort}`, neo4j.auth.basic(user, password),
    { maxConnectionPoolSize: clients + 4 });
  try {
    await driver.executeQuery('CREATE (:Warm)');
    const lat = [];
    let stop = false;
    let errors = 0;
    const one = async () => {
      const session = driver.session();
      try {
        while (!stop) {
          const t = process.hrtime.bigint();
          try {
            await session.executeWrite((tx) => tx.run('CREATE (:B {t: timestamp()})'));
            lat.push(Number(process.hrtime.bigint() - t) / 1e6);
          } catch {
            errors++;
          }
        }
      } finally {
        await session.close();
      }
    };
    const start = Date.now();
    const runs = Array.from({ length: clients }, one);
    await sleep(SECONDS * 1000);
    stop = true;
    await Promise.all(runs);
    const secs = (Date.now() - start) / 1000;
    lat.sort((a, b) => a - b);
    return { tps: lat.length / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99), errors };
  } finally {
    await driver.close();
  }
}

async function throughput() {
  const rows = [];
  const configs = [['standalone', null], ['async', 'async'], ['semi_sync', 'semi_sync'], ['sync', 'sync']];
  const base = {};
  for (const [name, mode] of configs) {
    let target;
    let cleanup;
    if (mode === null) {
      target = await startServer({ env: { NORNICDB_AUTH: AUTH } });
      cleanup = () => target.stop();
    } else {
      const pair = await startPair({ syncMode: mode, failover: '30s' });
      target = pair.a;
      cleanup = () => pair.stop();
    }
    try {
      for (const c of CLIENTS) {
        const r = await load(target.boltPort, c);
        if (mode === null) base[c] = r.tps;
        rows.push({ name, clients: c, ...r, ratio: r.tps / base[c] });
      }
    } finally {
      await cleanup();
    }
  }
  console.log(`\nWrite throughput (CREATE per transaction, ${SECONDS} s per point, Bolt, loopback)`);
  console.log('mode        clients   tx/s     p50 ms   p99 ms   vs standalone  errors');
  for (const r of rows) {
    console.log(`${r.name.padEnd(11)} ${String(r.clients).padStart(7)} ${r.tps.toFixed(0).padStart(7)} ` +
      `${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.ratio.toFixed(2).padStart(13)} ${String(r.errors).padStart(7)}`);
  }
}

async function failoverWindow(timeout, mode) {
  const out = [];
  for (let i = 0; i < ROUNDS; i++) {
    const pair = await startPair({ syncMode: mode, failover: timeout, heartbeatMs: 100 });
    try {
      await cypher(pair.a, 'CREATE (:Before)');
      const killed = Date.now();
      await pair.a.kill('SIGKILL');
      await waitFor('a write on the promoted standby', async () => {
        await cypher(pair.b, 'CREATE (:After)', { timeout: 20000 });
        return true;
      }, 60000, 10);
      out.push(Date.now() - killed);
      if ((await health(pair.b)).role !== 'primary') throw new Error('the standby did not promote');
    } finally {
      await pair.stop();
    }
  }
  return out;
}

await throughput();
console.log('\nFailover window: kill -9 primary -> first successful write on the standby (heartbeat 100 ms)');
console.log('timeout  mode       rounds (ms)');
for (const [t, mode] of [['1s', 'sync'], ['2s', 'async']]) {
  const w = await failoverWindow(t, mode);
  console.log(`${t.padEnd(8)} ${mode.padEnd(10)} ${w.join(', ')}`);
}
