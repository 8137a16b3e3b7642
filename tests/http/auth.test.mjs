// HTTP Basic authentication, roles, rate limiting and the auth switches.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../lib/server.mjs';
import { request, basic, adminAuth, cypher, stopChecked } from './util.mjs';

let server;
before(async () => {
  server = await startServer({});
  const auth = adminAuth(server);
  for (const [username, role] of [['reader1', 'reader'], ['editor1', 'editor']]) {
    const r = await request(server, 'POST', '/admin/users', { auth, body: { username, password: `${username}-pw`, role } });
    assert.equal(r.status, 201, r.text);
  }
});
after(async () => {
  await stopChecked(server);
});

const statement = (s) => ({ statements: [{ statement: s }] });

function assertUnauthorized(r) {
  assert.equal(r.status, 401, r.text);
  assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm=/);
  assert.equal(r.body.errors[0].code, 'Neo.ClientError.Security.Unauthorized');
  assert.equal(typeof r.body.errors[0].message, 'string');
}

test('no Authorization header is 401 with WWW-Authenticate', async () => {
  assertUnauthorized(await request(server, 'POST', '/db/neo4j/tx/commit', { body: statement('RETURN 1') }));
});

test('a wrong password is 401', async () => {
  assertUnauthorized(await request(server, 'POST', '/db/neo4j/tx/commit',
    { auth: basic(server.auth.user, 'not-the-password'), body: statement('RETURN 1') }));
});

test('an unknown user is 401', async () => {
  assertUnauthorized(await request(server, 'POST', '/db/neo4j/tx/commit',
    { auth: basic('nobody', 'x'), body: statement('RETURN 1') }));
});

test('malformed Authorization headers are 401', async () => {
  for (const header of ['Bearer abc', 'Basic !!!notbase64', 'Basic ' + Buffer.from('no-colon').toString('base64')]) {
    assertUnauthorized(await request(server, 'POST', '/db/neo4j/tx/commit', { auth: header, body: statement('RETURN 1') }));
  }
});

test('the right password runs the statement', async () => {
  const res = await cypher(server, 'RETURN 1 AS one');
  assert.deepEqual(res.columns, ['one']);
  assert.deepEqual(res.data[0].row, [1]);
});

test('a reader can read but not write', async () => {
  const auth = basic('reader1', 'reader1-pw');
  const read = await request(server, 'POST', '/db/neo4j/tx/commit', { auth, body: statement('RETURN 2 AS two') });
  assert.equal(read.status, 200);
  assert.deepEqual(read.body.errors, []);
  const write = await request(server, 'POST', '/db/neo4j/tx/commit', { auth, body: statement('CREATE (:ReaderWrote)') });
  assert.equal(write.status, 200);
  assert.equal(write.body.errors.length, 1, write.text);
  assert.match(write.body.errors[0].code, /Neo\.ClientError\.(Security\.Forbidden|Statement\.AccessMode)/);
  const check = await cypher(server, 'MATCH (n:ReaderWrote) RETURN count(n) AS c');
  assert.deepEqual(check.data[0].row, [0]);
});

test('a reader cannot write inside an explicit transaction either', async () => {
  const auth = basic('reader1', 'reader1-pw');
  const open = await request(server, 'POST', '/db/neo4j/tx', { auth, body: statement('CREATE (:ReaderWrote2)') });
  assert.equal(open.body.errors.length, 1, open.text);
  assert.match(open.body.errors[0].code, /Forbidden|AccessMode/);
});

test('an editor can write', async () => {
  await cypher(server, 'CREATE (:EditorWrote {v: 1})', {}, basic('editor1', 'editor1-pw'));
  const check = await cypher(server, 'MATCH (n:EditorWrote) RETURN count(n) AS c');
  assert.deepEqual(check.data[0].row, [1]);
});

test('readers and editors get 403 Forbidden on /admin', async () => {
  for (const user of ['reader1', 'editor1']) {
    const r = await request(server, 'GET', '/admin/users', { auth: basic(user, `${user}-pw`) });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.errors[0].code, 'Neo.ClientError.Security.Forbidden');
  }
});

test('/admin without credentials is 401', async () => {
  assertUnauthorized(await request(server, 'GET', '/admin/users'));
});

test('repeated failures from one address are rate limited (429 AuthenticationRateLimit)', async () => {
  const s = await startServer({});
  try {
    const bad = basic(s.auth.user, 'wrong');
    for (let i = 0; i < 5; i++) {
      const r = await request(s, 'POST', '/db/neo4j/tx/commit', { auth: bad, body: statement('RETURN 1') });
      assert.equal(r.status, 401);
    }
    const r = await request(s, 'POST', '/db/neo4j/tx/commit', { auth: adminAuth(s), body: statement('RETURN 1') });
    assert.equal(r.status, 429, r.text);
    assert.equal(r.body.errors[0].code, 'Neo.ClientError.Security.AuthenticationRateLimit');
  } finally {
    await s.stop();
  }
});

test('NORNICDB_HEALTH_AUTH and NORNICDB_METRICS_AUTH require credentials', async () => {
  const s = await startServer({ env: { NORNICDB_HEALTH_AUTH: 'true', NORNICDB_METRICS_AUTH: 'true' } });
  try {
    assertUnauthorized(await request(s, 'GET', '/health'));
    assertUnauthorized(await request(s, 'GET', '/metrics'));
    assert.equal((await request(s, 'GET', '/health', { auth: adminAuth(s) })).status, 200);
    assert.equal((await request(s, 'GET', '/metrics', { auth: adminAuth(s) })).status, 200);
    // discovery stays open
    assert.equal((await request(s, 'GET', '/')).status, 200);
  } finally {
    await s.stop();
  }
});

test('NORNICDB_AUTH=none lets every client in as admin', async () => {
  const s = await startServer({ env: { NORNICDB_AUTH: 'none' } });
  try {
    const r = await request(s, 'POST', '/db/neo4j/tx/commit', { body: statement('CREATE (n:Open) RETURN 1 AS x') });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.errors, []);
    assert.equal((await request(s, 'GET', '/admin/users')).status, 200);
  } finally {
    await s.stop();
  }
});

test('a restart keeps users.json: a changed password survives and NORNICDB_AUTH does not reset it', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nornicdb-http-auth-'));
  try {
    let s = await startServer({ dataDir, env: { NORNICDB_AUTH: 'admin:first-pw' } });
    try {
      const r = await request(s, 'POST', '/admin/users/admin/password', { auth: basic('admin', 'first-pw'), body: { password: 'second-pw' } });
      assert.equal(r.status, 200, r.text);
    } finally {
      await s.stop();
    }
    s = await startServer({ dataDir, env: { NORNICDB_AUTH: 'admin:first-pw' } });
    try {
      assert.equal((await request(s, 'GET', '/admin/users', { auth: basic('admin', 'first-pw') })).status, 401);
      assert.equal((await request(s, 'GET', '/admin/users', { auth: basic('admin', 'second-pw') })).status, 200);
    } finally {
      await s.stop();
    }
    const mode = fs.statSync(path.join(dataDir, 'users.json')).mode & 0o777;
    assert.equal(mode, 0o600);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
