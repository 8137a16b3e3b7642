// The Neo4j HTTP transaction API: /db/{db}/tx...
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { request, basic, adminAuth, cypher, sleep, stopChecked } from './util.mjs';

let server;
let auth;
before(async () => {
  server = await startServer({ env: { NORNICDB_HTTP_TX_TIMEOUT: '1s' } });
  auth = adminAuth(server);
});
after(async () => {
  await stopChecked(server);
});

const RFC1123 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

async function count(label) {
  const res = await cypher(server, `MATCH (n:${label}) RETURN count(n) AS c`);
  return res.data[0].row[0];
}

test('POST /db/neo4j/tx/commit runs statements with parameters and returns rows and stats', async () => {
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', {
    auth,
    body: {
      statements: [
        { statement: 'CREATE (n:Person {name: $name, age: $age}) RETURN n.name AS name, n.age AS age', parameters: { name: 'Ann', age: 42 }, includeStats: true },
        { statement: 'RETURN $list AS l, $map AS m', parameters: { list: [1, 'two', null], map: { k: true } } },
      ],
    },
  });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.errors, []);
  assert.equal(r.body.results.length, 2);
  const [first, second] = r.body.results;
  assert.deepEqual(first.columns, ['name', 'age']);
  assert.deepEqual(first.data, [{ row: ['Ann', 42], meta: [null, null] }]);
  assert.equal(first.stats.nodes_created, 1);
  assert.equal(first.stats.properties_set, 2);
  assert.equal(first.stats.labels_added, 1);
  assert.equal(first.stats.contains_updates, true);
  assert.ok('relationship_deleted' in first.stats);
  assert.deepEqual(second.data[0].row, [[1, 'two', null], { k: true }]);
  assert.equal(second.stats, undefined, 'stats only when includeStats');
  assert.ok(Array.isArray(r.body.lastBookmarks) && r.body.lastBookmarks.length === 1);
  assert.equal(r.body.commit, undefined);
  assert.equal(await count('Person'), 1);
});

test('nodes come back as property maps with meta, and in graph format', async () => {
  await cypher(server, 'CREATE (:G {k: 1})-[:LINK {w: 2}]->(:G {k: 2})');
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', {
    auth,
    body: { statements: [{ statement: 'MATCH (a:G {k: 1})-[r:LINK]->(b:G) RETURN a, r, b', resultDataContents: ['row', 'graph'] }] },
  });
  assert.deepEqual(r.body.errors, []);
  const d = r.body.results[0].data[0];
  assert.deepEqual(d.row, [{ k: 1 }, { w: 2 }, { k: 2 }]);
  assert.equal(d.meta[0].type, 'node');
  assert.equal(d.meta[1].type, 'relationship');
  assert.equal(d.meta[0].deleted, false);
  assert.equal(typeof d.meta[0].id, 'number');
  assert.match(d.meta[0].elementId, /^4:/);
  assert.equal(d.graph.nodes.length, 2);
  assert.equal(d.graph.relationships.length, 1);
  const rel = d.graph.relationships[0];
  assert.equal(rel.type, 'LINK');
  assert.deepEqual(rel.properties, { w: 2 });
  assert.equal(rel.startNode, String(d.meta[0].id));
  assert.equal(rel.endNode, String(d.meta[2].id));
  assert.deepEqual(d.graph.nodes.find((n) => n.id === rel.startNode).labels, ['G']);

  const g = await request(server, 'POST', '/db/neo4j/tx/commit', {
    auth,
    body: { statements: [{ statement: 'MATCH (a:G {k: 1}) RETURN a', resultDataContents: ['graph'] }] },
  });
  assert.equal(g.body.results[0].data[0].row, undefined);
  assert.equal(g.body.results[0].data[0].graph.nodes.length, 1);
});

test('temporal values are ISO strings with a typed meta', async () => {
  const res = await cypher(server, "RETURN date('2024-01-02') AS d, duration('P1DT2H') AS du");
  assert.deepEqual(res.data[0].row, ['2024-01-02', 'P1DT2H']);
  assert.deepEqual(res.data[0].meta, [{ type: 'date' }, { type: 'duration' }]);
});

test('open, run, commit: 201 with Location, commit URL and expiry; invisible until commit', async () => {
  const open = await request(server, 'POST', '/db/neo4j/tx', { auth, body: { statements: [{ statement: 'CREATE (:Pending {v: 1})' }] } });
  assert.equal(open.status, 201, open.text);
  const location = open.headers.get('location');
  assert.match(location, /\/db\/neo4j\/tx\/\d+$/);
  assert.equal(open.body.commit, `${location}/commit`);
  assert.match(open.body.transaction.expires, RFC1123);
  const txPath = new URL(location).pathname;

  const more = await request(server, 'POST', txPath, { auth, body: { statements: [{ statement: 'CREATE (:Pending {v: 2})' }] } });
  assert.equal(more.status, 200);
  assert.deepEqual(more.body.errors, []);
  assert.equal(more.body.commit, `${location}/commit`);
  assert.match(more.body.transaction.expires, RFC1123);

  assert.equal(await count('Pending'), 0, 'uncommitted writes are invisible to other transactions');

  const commit = await request(server, 'POST', `${txPath}/commit`, { auth, body: { statements: [{ statement: 'MATCH (p:Pending) RETURN count(p) AS c' }] } });
  assert.equal(commit.status, 200);
  assert.deepEqual(commit.body.errors, []);
  assert.deepEqual(commit.body.results[0].data[0].row, [2]);
  assert.equal(commit.body.lastBookmarks.length, 1);
  assert.equal(await count('Pending'), 2);

  const again = await request(server, 'POST', `${txPath}/commit`, { auth, body: {} });
  assert.equal(again.status, 404);
  assert.equal(again.body.errors[0].code, 'Neo.ClientError.Transaction.TransactionNotFound');
});

test('DELETE rolls back the transaction', async () => {
  const open = await request(server, 'POST', '/db/neo4j/tx', { auth, body: { statements: [{ statement: 'CREATE (:RolledBack)' }] } });
  const txPath = new URL(open.headers.get('location')).pathname;
  const del = await request(server, 'DELETE', txPath, { auth });
  assert.equal(del.status, 200);
  assert.deepEqual(del.body.errors, []);
  assert.equal(await count('RolledBack'), 0);
  const after = await request(server, 'POST', txPath, { auth, body: {} });
  assert.equal(after.status, 404);
});

test('a statement error stops the rest and rolls the transaction back (Neo4j: HTTP 200 with errors)', async () => {
  const open = await request(server, 'POST', '/db/neo4j/tx', { auth, body: { statements: [{ statement: 'CREATE (:Doomed)' }] } });
  const txPath = new URL(open.headers.get('location')).pathname;
  const bad = await request(server, 'POST', txPath, {
    auth,
    body: { statements: [{ statement: 'RETURN 1 AS ok' }, { statement: 'THIS IS NOT CYPHER' }, { statement: 'CREATE (:AfterError)' }] },
  });
  assert.equal(bad.status, 200);
  assert.equal(bad.body.errors.length, 1);
  assert.equal(bad.body.errors[0].code, 'Neo.ClientError.Statement.SyntaxError');
  assert.equal(bad.body.results.length, 1, 'results of statements before the error are kept');
  assert.equal(bad.body.commit, undefined);
  assert.equal((await request(server, 'POST', txPath, { auth, body: {} })).status, 404);
  assert.equal(await count('Doomed'), 0);
  assert.equal(await count('AfterError'), 0);
});

test('an error in /tx/commit rolls back the earlier statements of the request', async () => {
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', {
    auth,
    body: { statements: [{ statement: 'CREATE (:Partial)' }, { statement: 'RETURN 1 +' }] },
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.errors[0].code, 'Neo.ClientError.Statement.SyntaxError');
  assert.equal(r.body.lastBookmarks, undefined);
  assert.equal(await count('Partial'), 0);
});

test('an idle transaction expires after NORNICDB_HTTP_TX_TIMEOUT and is rolled back', async () => {
  const open = await request(server, 'POST', '/db/neo4j/tx', { auth, body: { statements: [{ statement: 'CREATE (:Expired)' }] } });
  assert.equal(open.status, 201);
  const txPath = new URL(open.headers.get('location')).pathname;
  await sleep(2500);
  const r = await request(server, 'POST', txPath, { auth, body: {} });
  assert.equal(r.status, 404);
  assert.equal(r.body.errors[0].code, 'Neo.ClientError.Transaction.TransactionNotFound');
  assert.equal(await count('Expired'), 0);
  // the writer lock was released: a new write goes through
  await cypher(server, 'CREATE (:AfterExpiry)');
  assert.equal(await count('AfterExpiry'), 1);
});

test('each request resets the expiry', async () => {
  const open = await request(server, 'POST', '/db/neo4j/tx', { auth, body: {} });
  const txPath = new URL(open.headers.get('location')).pathname;
  // 5 × 400 ms outlives the 1 s timeout only if every request resets it.
  for (let i = 0; i < 5; i++) {
    await sleep(400);
    const r = await request(server, 'POST', txPath, { auth, body: { statements: [{ statement: 'RETURN 1' }] } });
    assert.equal(r.status, 200, `request ${i}: ${r.text}`);
  }
  await request(server, 'DELETE', txPath, { auth });
});

test("another user cannot use someone else's transaction", async () => {
  await request(server, 'POST', '/admin/users', { auth, body: { username: 'mallory', password: 'pw', role: 'admin' } });
  const open = await request(server, 'POST', '/db/neo4j/tx', { auth, body: {} });
  const txPath = new URL(open.headers.get('location')).pathname;
  const r = await request(server, 'POST', `${txPath}/commit`, { auth: basic('mallory', 'pw'), body: {} });
  assert.equal(r.status, 404);
  assert.equal((await request(server, 'DELETE', txPath, { auth })).status, 200);
});

test('an unknown database is 404 DatabaseNotFound', async () => {
  const r = await request(server, 'POST', '/db/nosuchdb/tx/commit', { auth, body: { statements: [{ statement: 'RETURN 1' }] } });
  assert.equal(r.status, 404);
  assert.equal(r.body.errors[0].code, 'Neo.ClientError.Database.DatabaseNotFound');
  assert.match(r.body.errors[0].message, /nosuchdb/);
});

test('unknown and malformed transaction ids are 404 TransactionNotFound', async () => {
  for (const p of ['/db/neo4j/tx/999999', '/db/neo4j/tx/abc', '/db/neo4j/tx/0/commit', '/db/neo4j/tx/-1']) {
    const r = await request(server, 'POST', p, { auth, body: {} });
    assert.equal(r.status, 404, p);
    assert.equal(r.body.errors[0].code, 'Neo.ClientError.Transaction.TransactionNotFound', p);
  }
  assert.equal((await request(server, 'DELETE', '/db/neo4j/tx/999999', { auth })).status, 404);
});

test('wrong methods on transaction paths are 405', async () => {
  assert.equal((await request(server, 'GET', '/db/neo4j/tx/commit', { auth })).status, 405);
  assert.equal((await request(server, 'GET', '/db/neo4j/tx', { auth })).status, 405);
  assert.equal((await request(server, 'PUT', '/db/neo4j/tx/1', { auth })).status, 405);
});

test('bookmarks from lastBookmarks are accepted by the next request', async () => {
  const w = await request(server, 'POST', '/db/neo4j/tx/commit', { auth, body: { statements: [{ statement: 'CREATE (:Bm)' }] } });
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', {
    auth,
    body: { bookmarks: w.body.lastBookmarks, statements: [{ statement: 'MATCH (n:Bm) RETURN count(n) AS c' }] },
  });
  assert.deepEqual(r.body.errors, []);
  assert.deepEqual(r.body.results[0].data[0].row, [1]);
});

test('concurrent auto-commit requests all succeed', async () => {
  const jobs = [];
  for (let i = 0; i < 20; i++) {
    jobs.push(request(server, 'POST', '/db/neo4j/tx/commit', { auth, body: { statements: [{ statement: 'CREATE (:Conc {i: $i})', parameters: { i } }] } }));
  }
  const results = await Promise.all(jobs);
  for (const r of results) assert.deepEqual(r.body.errors, []);
  assert.equal(await count('Conc'), 20);
});

test('Access-Mode: READ runs the transaction read-only', async () => {
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', {
    auth, headers: { 'Access-Mode': 'READ' }, body: { statements: [{ statement: 'CREATE (:ReadOnlyMode)' }] },
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.errors[0].code, 'Neo.ClientError.Statement.AccessMode');
  assert.equal(await count('ReadOnlyMode'), 0);
});

test('a second request on a busy transaction gets 409 instead of interleaving', async () => {
  const open = await request(server, 'POST', '/db/neo4j/tx', { auth, body: {} });
  const txPath = new URL(open.headers.get('location')).pathname;
  const slow = request(server, 'POST', txPath, {
    auth, body: { statements: [{ statement: 'UNWIND range(1, 10000000) AS x WITH x WHERE x % 7 = 0 RETURN count(x) AS c' }] },
  });
  await sleep(100);
  const second = await request(server, 'POST', txPath, { auth, body: { statements: [{ statement: 'RETURN 1' }] } });
  assert.equal(second.status, 409, second.text);
  const first = await slow;
  assert.equal(first.status, 200);
  assert.deepEqual(first.body.results[0].data[0].row, [1428571]);
  // the transaction is still usable afterwards
  const commit = await request(server, 'POST', `${txPath}/commit`, { auth, body: {} });
  assert.equal(commit.status, 200);
  assert.deepEqual(commit.body.errors, []);
});

test('a large result streams completely as valid JSON', async () => {
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', {
    auth, body: { statements: [{ statement: 'UNWIND range(1, 200000) AS x RETURN x, toString(x) AS s' }] },
  });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.errors, []);
  const data = r.body.results[0].data;
  assert.equal(data.length, 200000);
  assert.deepEqual(data[199999].row, [200000, '200000']);
});

test('a runtime error in the middle of a streamed result still yields valid JSON and rolls back', async () => {
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', {
    auth,
    body: { statements: [{ statement: 'CREATE (:MidError)' }, { statement: 'UNWIND range(5000, -1, -1) AS x RETURN 10 / x AS y' }] },
  });
  assert.equal(r.status, 200);
  assert.ok(r.body, `body is not JSON: ${r.text.slice(-200)}`);
  assert.equal(r.body.errors.length, 1);
  assert.match(r.body.errors[0].code, /ArithmeticError/);
  assert.equal(await count('MidError'), 0);
});

test('a client that goes away mid-response loses its transaction (rolled back)', async () => {
  const open = await request(server, 'POST', '/db/neo4j/tx', { auth, body: { statements: [{ statement: 'CREATE (:Abandoned)' }] } });
  const txPath = new URL(open.headers.get('location')).pathname;
  const ac = new AbortController();
  const res = await fetch(server.httpUrl + txPath, {
    method: 'POST', signal: ac.signal, headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ statements: [{ statement: 'UNWIND range(1, 3000000) AS x RETURN x' }] }),
  });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  await reader.read();
  ac.abort();
  let status = 0;
  for (let i = 0; i < 100 && status !== 404; i++) {
    await sleep(100);
    status = (await request(server, 'POST', txPath, { auth, body: {} })).status;
  }
  assert.equal(status, 404);
  assert.equal(await count('Abandoned'), 0);
});
