// Malformed requests get clear errors; oversized and slow clients are contained.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer } from '../lib/server.mjs';
import { request, adminAuth, cypher, stopChecked } from './util.mjs';

let server;
let auth;
before(async () => {
  server = await startServer({ env: { NORNICDB_HTTP_MAX_BODY: '4KiB' } });
  auth = adminAuth(server);
});
after(async () => {
  await stopChecked(server);
});

async function invalidFormat(raw, why) {
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', { auth, raw });
  assert.equal(r.status, 400, `${raw}: ${r.text}`);
  assert.equal(r.body.errors[0].code, 'Neo.ClientError.Request.InvalidFormat', raw);
  assert.match(r.body.errors[0].message, why, raw);
}

test('malformed JSON is 400 InvalidFormat', async () => {
  await invalidFormat('{"statements": [', /deserialize/);
  await invalidFormat('not json at all', /deserialize/);
  await invalidFormat('[1,2,3]', /JSON object/);
  await invalidFormat('"just a string"', /JSON object/);
});

test('wrong types are 400 naming the field', async () => {
  await invalidFormat('{"statements": {}}', /"statements" must be an array/);
  await invalidFormat('{"statements": [42]}', /statements\[0\] must be an object/);
  await invalidFormat('{"statements": [{}]}', /statements\[0\]\.statement is missing/);
  await invalidFormat('{"statements": [{"statement": 1}]}', /statements\[0\]\.statement must be a string/);
  await invalidFormat('{"statements": [{"statement": "RETURN 1"}, {"statement": "RETURN 1", "parameters": [1]}]}', /statements\[1\]\.parameters must be an object/);
  await invalidFormat('{"statements": [{"statement": "RETURN 1", "resultDataContents": "row"}]}', /resultDataContents must be an array/);
  await invalidFormat('{"statements": [{"statement": "RETURN 1", "resultDataContents": ["rest"]}]}', /resultDataContents\[0\]/);
  await invalidFormat('{"statements": [{"statement": "RETURN 1", "includeStats": "yes"}]}', /includeStats must be a boolean/);
  await invalidFormat('{"statements": [], "bookmarks": "b"}', /bookmarks/);
});

test('parameters nested too deeply are rejected', async () => {
  const deep = '['.repeat(100) + ']'.repeat(100);
  await invalidFormat(`{"statements": [{"statement": "RETURN $p", "parameters": {"p": ${deep}}}]}`, /deeper/);
});

test('invalid UTF-8 in the body is 400', async () => {
  const body = Buffer.concat([Buffer.from('{"statements": [{"statement": "RETURN \''), Buffer.from([0xff, 0xfe]), Buffer.from('\'"}]}')]);
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', { auth, raw: body });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.errors[0].code, 'Neo.ClientError.Request.InvalidFormat');
});

test('a malformed body in an open transaction is 400 and rolls it back', async () => {
  const open = await request(server, 'POST', '/db/neo4j/tx', { auth, body: { statements: [{ statement: 'CREATE (:BadInTx)' }] } });
  const txPath = new URL(open.headers.get('location')).pathname;
  const r = await request(server, 'POST', txPath, { auth, raw: '{"statements": 5}' });
  assert.equal(r.status, 400);
  assert.equal((await request(server, 'POST', txPath, { auth, body: {} })).status, 404);
  const c = await cypher(server, 'MATCH (n:BadInTx) RETURN count(n) AS c');
  assert.deepEqual(c.data[0].row, [0]);
});

test('a body over NORNICDB_HTTP_MAX_BODY is 413', async () => {
  const big = JSON.stringify({ statements: [{ statement: 'RETURN $s', parameters: { s: 'x'.repeat(8192) } }] });
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', { auth, raw: big });
  assert.equal(r.status, 413, r.text);
  // the server is fine afterwards
  const ok = await request(server, 'POST', '/db/neo4j/tx/commit', { auth, body: { statements: [{ statement: 'RETURN 1' }] } });
  assert.equal(ok.status, 200);
});

test('a chunked body (no Content-Length) over the limit is 413', async () => {
  const chunk = Buffer.alloc(1024, 'a');
  let sent = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (sent++ < 16) controller.enqueue(chunk);
      else controller.close();
    },
  });
  const res = await fetch(server.httpUrl + '/db/neo4j/tx/commit', {
    method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: stream, duplex: 'half',
  });
  assert.equal(res.status, 413);
  await res.text();
});

test('slow clients holding half-sent requests do not block other requests', async () => {
  const url = new URL(server.httpUrl);
  const sockets = [];
  try {
    for (let i = 0; i < 5; i++) {
      const s = net.connect(Number(url.port), url.hostname);
      s.on('error', () => {});
      await new Promise((resolve) => s.once('connect', resolve));
      s.write('POST /db/neo4j/tx/commit HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n');  // never finishes
      sockets.push(s);
    }
    const t0 = Date.now();
    const r = await request(server, 'GET', '/health');
    assert.equal(r.status, 200);
    assert.ok(Date.now() - t0 < 2000, `health took ${Date.now() - t0} ms behind slow clients`);
  } finally {
    for (const s of sockets) s.destroy();
  }
});

test('random garbage bodies (seeded) always get a 400 and leave the server healthy', async () => {
  let a = 20261127 >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pieces = ['{', '}', '[', ']', '"statements"', '"statement"', '"parameters"', ':', ',', 'null', '1e999', '-0', '"\\u0000"', '"\\ud800"', 'true', '{"statements":[', '"resultDataContents"', '\u00ff', '\\'];
  for (let i = 0; i < 150; i++) {
    let body = '';
    const n = 1 + Math.floor(rand() * 12);
    for (let k = 0; k < n; k++) body += pieces[Math.floor(rand() * pieces.length)];
    const path = rand() < 0.7 ? '/db/neo4j/tx/commit' : '/admin/users';
    const r = await request(server, 'POST', path, { auth, raw: body });
    assert.ok([200, 400].includes(r.status), `${path} ${JSON.stringify(body)} -> ${r.status} ${r.text}`);
    if (r.status === 200) assert.ok(r.body, `${JSON.stringify(body)}: response is not JSON`);
  }
  assert.equal((await request(server, 'GET', '/health')).status, 200);
});
