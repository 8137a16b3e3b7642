// Core admin endpoints: users and snapshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { request, basic, adminAuth, stopChecked } from './util.mjs';

let server;
let auth;
before(async () => {
  server = await startServer({});
  auth = adminAuth(server);
});
after(async () => {
  await stopChecked(server);
});

test('GET /admin/users lists the initial admin', async () => {
  const r = await request(server, 'GET', '/admin/users', { auth });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.users, [{ username: server.auth.user, role: 'admin' }]);
});

test('POST /admin/users creates a user who can log in', async () => {
  const r = await request(server, 'POST', '/admin/users', { auth, body: { username: 'alice', password: 'alice-pw', role: 'editor' } });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.body, { username: 'alice', role: 'editor' });
  const list = await request(server, 'GET', '/admin/users', { auth });
  assert.ok(list.body.users.some((u) => u.username === 'alice' && u.role === 'editor'));
  const q = await request(server, 'POST', '/db/neo4j/tx/commit', { auth: basic('alice', 'alice-pw'), body: { statements: [{ statement: 'RETURN 1' }] } });
  assert.equal(q.status, 200);
});

test('creating an existing user is 409', async () => {
  await request(server, 'POST', '/admin/users', { auth, body: { username: 'dup', password: 'x', role: 'reader' } });
  const r = await request(server, 'POST', '/admin/users', { auth, body: { username: 'dup', password: 'y', role: 'admin' } });
  assert.equal(r.status, 409);
  assert.match(r.body.error, /exists/);
});

test('bad user bodies are 400 naming the problem', async () => {
  const cases = [
    [{ username: 'u1', password: 'x', role: 'god' }, /role/],
    [{ username: 'u1', role: 'reader' }, /password/],
    [{ password: 'x' }, /username/],
    [{ username: 42, password: 'x' }, /username/],
    [{ username: '', password: 'x' }, /empty/],
    [{ username: 'a:b', password: 'x' }, /':'/],
    [{ username: 'u1', password: '' }, /password/],
  ];
  for (const [body, why] of cases) {
    const r = await request(server, 'POST', '/admin/users', { auth, body });
    assert.equal(r.status, 400, JSON.stringify(body) + ' ' + r.text);
    assert.match(r.text, why);
  }
  const r = await request(server, 'POST', '/admin/users', { auth, raw: '{"username": ' });
  assert.equal(r.status, 400);
  assert.equal(r.body.errors[0].code, 'Neo.ClientError.Request.InvalidFormat');
});

test('POST /admin/users/{name}/password changes the password', async () => {
  await request(server, 'POST', '/admin/users', { auth, body: { username: 'bob', password: 'old-pw', role: 'reader' } });
  const r = await request(server, 'POST', '/admin/users/bob/password', { auth, body: { password: 'new-pw' } });
  assert.equal(r.status, 200, r.text);
  const q = (pw) => request(server, 'POST', '/db/neo4j/tx/commit', { auth: basic('bob', pw), body: { statements: [] } });
  assert.equal((await q('old-pw')).status, 401);
  assert.equal((await q('new-pw')).status, 200);
  assert.equal((await request(server, 'POST', '/admin/users/ghost/password', { auth, body: { password: 'x' } })).status, 404);
});

test('POST /admin/users/{name}/role changes the role', async () => {
  await request(server, 'POST', '/admin/users', { auth, body: { username: 'carol', password: 'pw', role: 'reader' } });
  const r = await request(server, 'POST', '/admin/users/carol/role', { auth, body: { role: 'admin' } });
  assert.equal(r.status, 200, r.text);
  assert.equal((await request(server, 'GET', '/admin/users', { auth: basic('carol', 'pw') })).status, 200);
  assert.equal((await request(server, 'POST', '/admin/users/carol/role', { auth, body: { role: 'nope' } })).status, 400);
});

test('DELETE /admin/users/{name} drops the user; unknown is 404', async () => {
  await request(server, 'POST', '/admin/users', { auth, body: { username: 'dave', password: 'pw', role: 'reader' } });
  const r = await request(server, 'DELETE', '/admin/users/dave', { auth });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { deleted: 'dave' });
  assert.equal((await request(server, 'POST', '/db/neo4j/tx/commit', { auth: basic('dave', 'pw'), body: {} })).status, 401);
  assert.equal((await request(server, 'DELETE', '/admin/users/dave', { auth })).status, 404);
});

test('the last admin cannot be dropped or demoted (409)', async () => {
  const s = await startServer({});
  try {
    const a = adminAuth(s);
    let r = await request(s, 'DELETE', `/admin/users/${s.auth.user}`, { auth: a });
    assert.equal(r.status, 409, r.text);
    r = await request(s, 'POST', `/admin/users/${s.auth.user}/role`, { auth: a, body: { role: 'reader' } });
    assert.equal(r.status, 409, r.text);
  } finally {
    await s.stop();
  }
});

test('POST /admin/snapshot writes a snapshot and returns its path', async () => {
  const r = await request(server, 'POST', '/admin/snapshot', { auth });
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.body.path, 'string');
  assert.ok(r.body.path.length > 0);
  assert.equal((await request(server, 'GET', '/admin/snapshot', { auth })).status, 405);
});

test('a wrong method on a module admin path is 405 with Allow', async () => {
  const r = await request(server, 'DELETE', '/admin/cluster/status', { auth });
  assert.equal(r.status, 405, r.text);
  assert.match(r.headers.get('allow') ?? '', /GET/);
});

test('user commands run through /db/system/tx/commit share the same users', async () => {
  let r = await request(server, 'POST', '/db/system/tx/commit', {
    auth, body: { statements: [{ statement: 'CREATE USER erin SET PASSWORD $p CHANGE NOT REQUIRED', parameters: { p: 'erin-pw' } }] },
  });
  assert.deepEqual(r.body.errors, [], r.text);
  const list = await request(server, 'GET', '/admin/users', { auth });
  assert.ok(list.body.users.some((u) => u.username === 'erin'));
  r = await request(server, 'POST', '/db/system/tx/commit', { auth, body: { statements: [{ statement: 'SHOW USERS' }] } });
  assert.deepEqual(r.body.results[0].columns.slice(0, 2), ['user', 'roles']);
  assert.ok(r.body.results[0].data.some((d) => d.row[0] === 'erin'));
  const q = await request(server, 'POST', '/db/neo4j/tx/commit', { auth: basic('erin', 'erin-pw'), body: { statements: [{ statement: 'RETURN 1' }] } });
  assert.equal(q.status, 200);
});
