// Helpers for the backup tests: HTTP with admin auth, a graph with every
// property type, a counter workload whose committed states are known by
// index, a full dump of a graph, and running the daemon on a data
// directory that should be refused.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.NORNICDB_BIN
  ? path.resolve(process.env.NORNICDB_BIN)
  : path.resolve(here, '..', '..', 'build', 'nornicdb');
export const AUTH = 'admin:test-password';
const authHeader = 'Basic ' + Buffer.from(AUTH).toString('base64');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function request(server, p, { method = 'GET', body, auth = true, timeout = 20000, headers: extra = {} } = {}) {
  const headers = { 'Content-Type': 'application/json', ...extra };
  if (auth) headers.Authorization = authHeader;
  const res = await fetch(server.httpUrl + p, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, buf, text: () => buf.toString('utf8') };
}

/** One or more statements in one transaction; returns {results, bookmark}.
 * `read`: a READ transaction (Access-Mode header), which followers serve. */
export async function tx(server, statements, { read = false } = {}) {
  const r = await request(server, '/db/neo4j/tx/commit', {
    method: 'POST',
    headers: read ? { 'Access-Mode': 'READ' } : {},
    body: { statements: statements.map(([statement, parameters = {}]) => ({ statement, parameters })) },
  });
  const body = JSON.parse(r.text());
  if (r.status !== 200 || body.errors?.length) throw new Error(JSON.stringify(body.errors ?? body));
  const results = body.results.map((res) => res.data.map((d) => Object.fromEntries(res.columns.map((c, i) => [c, d.row[i]]))));
  return { results, bookmark: body.lastBookmarks?.[0] };
}

export const bookmarkIndex = (b) => Number(String(b).replace('nornicdb:', ''));

/** n :Item nodes with a property of every type Cypher can write, a second
 * label on some, a :NEXT chain with properties, and deleted nodes (id gaps). */
export async function loadGraph(server, n) {
  await tx(server, [['CREATE INDEX item_i FOR (x:Item) ON (x.i)']]);
  for (let from = 0; from < n; from += 1000) {
    await tx(server, [[`UNWIND range($from, $to) AS i
      CREATE (:Item {i: i, s: 'item-' + toString(i), f: i * 0.25, b: i % 2 = 0, l: [i, i + 1], ls: ['a', toString(i)],
        d: date('2024-01-01') + duration({days: i % 300}), dt: datetime({epochSeconds: 1700000000 + i}),
        zdt: datetime('2024-05-06T07:08:09[Europe/Berlin]'), ldt: localdatetime('2024-05-06T07:08:09'),
        t: time('12:34:56+02:00'), lt: localtime('01:02:03.5'), dur: duration({days: i, hours: 2}),
        p: point({x: i, y: 1.5}), p3: point({longitude: 10.0, latitude: 50.0, height: 3.0}),
        u: 'ünïcødé ✓', e: ''})`, { from, to: Math.min(from + 999, n - 1) }]]);
  }
  await tx(server, [['MATCH (x:Item) WHERE x.i % 3 = 0 SET x:Third']]);
  await tx(server, [[`MATCH (a:Item) WITH a MATCH (b:Item {i: a.i + 1})
    CREATE (a)-[:NEXT {w: a.i, tag: 'x', fl: [1.5, 2.5]}]->(b)`]]);
  await tx(server, [['MATCH (a:Item) WHERE a.i % 10 = 0 WITH a MATCH (b:Item {i: (a.i * 7) % $n}) CREATE (a)-[:JUMP]->(b)', { n }]]);
  await tx(server, [['MATCH (x:Item) WHERE x.i % 97 = 5 DETACH DELETE x']]);
}

/** Every node and relationship, by id, with labels/type, endpoints and properties. */
export async function dump(server, where = '') {
  const { results } = await tx(server, [
    [`MATCH (n) ${where} RETURN id(n) AS id, labels(n) AS labels, properties(n) AS props ORDER BY id`],
    [`MATCH (a)-[r]->(b) RETURN id(r) AS id, type(r) AS type, id(a) AS a, id(b) AS b, properties(r) AS props ORDER BY id`],
  ], { read: true });
  for (const row of results[0]) row.labels.sort();
  return { nodes: results[0], rels: results[1] };
}

/**
 * W writers; writer w's k-th transaction sets (:Counter {w}).v = k and
 * creates (:Event {w, seq: k}), so every committed state is "writer w is at
 * v_w with events 1..v_w", and the acknowledgements say at which index.
 */
export class CounterWorkload {
  constructor(writerOf, W = 4) {
    this.writerOf = writerOf;      // () => server to send writes to
    this.W = W;
    this.acks = [];                // {w, seq, index, at}
    this.running = false;
    this.errors = [];
  }

  async setup() {
    const s = this.writerOf();
    await tx(s, [['UNWIND range(1, $W) AS w CREATE (:Counter {w: w, v: 0})', { W: this.W }]]);
  }

  start() {
    this.running = true;
    this.loops = Array.from({ length: this.W }, (_, k) => this.loop(k + 1));
  }

  async loop(w) {
    let seq = 0;
    const deadline = Date.now() + 60000;
    while (this.running && Date.now() < deadline) {
      seq += 1;
      try {
        const { bookmark } = await tx(this.writerOf(), [
          ['MATCH (c:Counter {w: $w}) SET c.v = $seq CREATE (:Event {w: $w, seq: $seq})', { w, seq }],
        ]);
        this.acks.push({ w, seq, index: bookmarkIndex(bookmark), at: Date.now() });
      } catch (e) {
        // A write whose outcome is unknown would make the expected state
        // ambiguous: the tests run without faults, so this is a failure.
        this.errors.push(e.message);
        this.running = false;
      }
    }
  }

  async stop() {
    this.running = false;
    await Promise.all(this.loops ?? []);
    assert.deepEqual(this.errors, [], 'workload writes failed');
  }

  maxAckedIndex() {
    return this.acks.reduce((m, a) => Math.max(m, a.index), 0);
  }

  /** Writer positions in the committed state at `index`. */
  stateAt(index) {
    const v = new Map();
    for (let w = 1; w <= this.W; w++) v.set(w, 0);
    for (const a of this.acks) if (a.index <= index && a.seq > v.get(a.w)) v.set(a.w, a.seq);
    return v;
  }

  /** Asserts that `server` holds exactly the committed state at `index`. */
  async check(server, index) {
    const want = this.stateAt(index);
    const { results } = await tx(server, [
      ['MATCH (c:Counter) RETURN c.w AS w, c.v AS v ORDER BY w'],
      ['MATCH (e:Event) RETURN e.w AS w, count(*) AS n, min(e.seq) AS lo, max(e.seq) AS hi ORDER BY w'],
    ], { read: true });
    const got = new Map(results[0].map((r) => [r.w, r.v]));
    assert.deepEqual(got, want, `counters equal the committed state at index ${index}`);
    const events = new Map(results[1].map((r) => [r.w, r]));
    for (const [w, v] of want) {
      if (v === 0) assert.equal(events.get(w), undefined, `writer ${w} has no events`);
      else assert.deepEqual(events.get(w), { w, n: v, lo: 1, hi: v }, `writer ${w}: events 1..${v}`);
    }
    return want;
  }
}

/** Extracts `archive` into `dir` with tar; returns tar's exit status. */
export function untar(archive, dir) {
  const r = spawnSync('tar', ['-xzf', archive, '-C', dir], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

export function emptyDir(dir) {
  for (const name of readdirSync(dir)) rmSync(path.join(dir, name), { recursive: true, force: true });
}

export function save(file, buf) {
  writeFileSync(file, buf);
}

/**
 * Runs the daemon on `dataDir` expecting it to refuse to start: resolves
 * {code, output}. Kills it (by pid) if it is still up after 15 s.
 */
export async function startExpectingRefusal(dataDir) {
  const http = await freePort();
  let bolt = await freePort();
  while (bolt === http) bolt = await freePort();
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NORNICDB_'))),
    NORNICDB_DATA_DIR: dataDir,
    NORNICDB_HTTP_ADDRESS: '127.0.0.1',
    NORNICDB_HTTP_PORT: String(http),
    NORNICDB_BOLT_ADDRESS: '127.0.0.1',
    NORNICDB_BOLT_PORT: String(bolt),
    NORNICDB_AUTH: AUTH,
  };
  const child = spawn(BIN, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
  clearTimeout(timer);
  return { code, output };
}

/** Family names in a Prometheus exposition (from the TYPE lines). */
export function metricNames(text) {
  return new Set([...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]));
}

/** name -> modes column from the metrics table in docs/operations.md. */
export function documentedMetrics() {
  const md = readFileSync(path.join(here, '..', '..', 'docs', 'operations.md'), 'utf8');
  const out = new Map();
  for (const m of md.matchAll(/^\| `(nornicdb_[a-z0-9_]+)` \| [a-z]+ \| ([a-z_, ]+) \|/gm)) out.set(m[1], m[2]);
  return out;
}
