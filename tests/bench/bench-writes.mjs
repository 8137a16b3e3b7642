#!/usr/bin/env node
// Durable single-statement writes: NornicDB standalone
// (`CREATE (:Person {id: $id, name: $name})`, one auto-commit transaction
// per request over Bolt) beside Redis `SET` with appendonly yes +
// appendfsync always, both acknowledged only after fsync, at 1, 16 and 64
// closed-loop clients. Both sides are driven by the C load generator
// bench-load (Bolt / RESP) when it is built next to NORNICDB_BIN, else (or
// with --gen node) by neo4j-driver / node-redis in Node worker processes.
//
//   node tests/bench/bench-writes.mjs [--seconds 5] [--clients 1,16,64]
//        [--seed 42] [--gen c|node] [--workers N] [--json out.json] [--no-redis]
//
// NORNICDB_BIN selects the daemon (default build/nornicdb).
import { startServer } from '../lib/server.mjs';
import { runLoadSeries } from './lib/loadgen.mjs';
import { startRedis } from './lib/peers.mjs';
import { fmtMs, fmtNum, parseOptions, printTable, writeJson } from './lib/stats.mjs';

export const CREATE_PERSON = 'CREATE (:Person {id: $id, name: $name})';

/** Our standalone server under the write load; returns one row per client count. */
export async function benchOursWrites({ clients, seconds, seed, workers, gen, log }) {
  const server = await startServer();
  try {
    log(`standalone nornicdb pid ${server.pid}: ${CREATE_PERSON}`);
    return await runLoadSeries({
      kind: 'bolt', seconds, seed, workers, gen, watchPids: [server.pid],
      target: { url: server.boltUrl, user: server.auth.user, password: server.auth.password, cypher: CREATE_PERSON },
    }, clients, log);
  } finally {
    await server.stop();
  }
}

/** Redis SET with appendfsync always; returns { version, rows } or throws if Redis cannot start. */
export async function benchRedisWrites({ clients, seconds, seed, workers, gen, log }) {
  const redis = await startRedis();
  try {
    log(`${redis.version} pid ${redis.pid}: SET person:<id> <json> (appendonly yes, appendfsync always)`);
    const rows = await runLoadSeries({
      kind: 'redis', seconds, seed, workers, gen, watchPids: [redis.pid],
      target: { host: redis.host, port: redis.port },
    }, clients, log);
    return { version: redis.version, rows };
  } finally {
    await redis.stop();
  }
}

export function rowCells(r) {
  if (!r) return ['-', '-', '-'];
  if (r.error) return ['error', '', ''];
  return [fmtNum(r.opsPerSec), fmtMs(r.p50), fmtMs(r.p99)];
}

async function main() {
  const usage = 'usage: node tests/bench/bench-writes.mjs [--seconds S] [--clients 1,16,64] [--seed N] '
    + '[--gen c|node] [--workers N] [--json FILE] [--no-redis]';
  const o = parseOptions(process.argv.slice(2),
    { seconds: 5, clients: [1, 16, 64], seed: 42, gen: '', workers: 0, json: '', noRedis: false }, usage);
  const args = { clients: o.clients, seconds: o.seconds, seed: o.seed, workers: o.workers || undefined, gen: o.gen || undefined,
    log: (m) => console.error(m) };
  const ours = await benchOursWrites(args);
  let peer = null;
  let peerError = null;
  if (!o.noRedis) {
    try { peer = await benchRedisWrites(args); } catch (e) { peerError = e.message; }
  } else peerError = 'disabled with --no-redis';
  const rows = ours.map((r, i) => {
    const p = peer?.rows[i];
    const ratio = p && !p.error && !r.error ? r.opsPerSec / p.opsPerSec : null;
    return [String(r.clients), ...rowCells(r), ...rowCells(p), ratio == null ? '-' : `${ratio.toFixed(2)}x`];
  });
  console.log(`\nDurable single-statement writes, ${o.seconds} s per point (ours: ${ours[0]?.lib ?? '?'}; `
    + `peer: ${peer ? `${peer.version}, ${peer.rows[0]?.lib}` : `unavailable: ${peerError}`})`);
  printTable(['clients', 'ours ops/s', 'p50 ms', 'p99 ms', 'redis ops/s', 'p50 ms', 'p99 ms', 'ours/redis'], rows);
  if (o.json) writeJson(o.json, { seconds: o.seconds, seed: o.seed, ours, redis: peer, redisError: peerError });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => { console.error(e.stack ?? e); process.exit(1); });
}
