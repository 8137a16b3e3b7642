// Discovery, /health and the clustering guide's standalone curl commands.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../lib/server.mjs';
import { request, adminAuth, hasProgram, stopChecked } from './util.mjs';

let server;
before(async () => {
  server = await startServer({});
});
after(async () => {
  await stopChecked(server);
});

test('GET / is the Neo4j discovery document without authentication', async () => {
  const r = await request(server, 'GET', '/');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  const url = new URL(server.httpUrl);
  const bolt = new URL(server.boltUrl);
  assert.equal(r.body.transaction, `http://${url.hostname}:${url.port}/db/{databaseName}/tx`);
  assert.equal(r.body.bolt_direct, `bolt://${url.hostname}:${bolt.port}`);
  assert.equal(r.body.bolt_routing, `neo4j://${url.hostname}:${bolt.port}`);
  assert.equal(r.body.neo4j_version, '5.26.0');
  assert.equal(r.body.neo4j_edition, 'community');
});

test('GET / uses the advertised HTTP and Bolt addresses', async () => {
  const s = await startServer({
    env: {
      NORNICDB_HTTP_ADVERTISE_ADDRESS: 'db.example.com:17474',
      NORNICDB_BOLT_ADVERTISE_ADDRESS: 'db.example.com:17687',
    },
  });
  try {
    const r = await request(s, 'GET', '/');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      bolt_routing: 'neo4j://db.example.com:17687',
      bolt_direct: 'bolt://db.example.com:17687',
      transaction: 'http://db.example.com:17474/db/{databaseName}/tx',
      neo4j_version: '5.26.0',
      neo4j_edition: 'community',
    });
  } finally {
    await s.stop();
  }
});

test('GET /health answers 200 healthy with the replication block, without auth', async () => {
  const r = await request(server, 'GET', '/health');
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'healthy');
  assert.equal(typeof r.body.replication, 'object');
  assert.equal(r.body.replication.mode, 'standalone');
  assert.equal(r.body.reason, undefined);
});

test('POST /health is 405 with Allow: GET', async () => {
  const r = await request(server, 'POST', '/health', { body: {} });
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'GET');
});

test('an unknown path is 404 with a JSON error', async () => {
  const r = await request(server, 'GET', '/no/such/thing');
  assert.equal(r.status, 404);
  assert.equal(typeof r.body.error, 'string');
});

test('GET /admin/cluster/status in standalone is served by the standalone module', async () => {
  const r = await request(server, 'GET', '/admin/cluster/status', { auth: adminAuth(server) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.mode, 'standalone');
  // one member, no cluster listener: no cluster address, its Bolt address instead
  assert.equal(r.body.members.length, 1);
  assert.equal(r.body.members[0].address, null);
  assert.equal(r.body.leader.address, null);
  assert.match(r.body.leader.bolt_address, /:\d+$/);
  assert.equal(r.body.leader.id, r.body.members[0].id);
});

test("the clustering guide's curl commands work against a standalone node", { skip: !hasProgram('curl') && 'curl is not installed' }, async () => {
  // The guide runs them without credentials: that is the NORNICDB_AUTH=none
  // setup. With authentication on, /admin/* needs -u (checked below).
  const open = await startServer({ env: { NORNICDB_AUTH: 'none' } });
  try {
    const curl = (...args) => spawnSync('curl', ['-sS', '-f', ...args], { encoding: 'utf8', timeout: 10_000 });
    let r = curl(`${open.httpUrl}/health`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).status, 'healthy');
    r = curl(`${open.httpUrl}/metrics`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^# (HELP|TYPE) nornicdb_/m);
    r = curl(`${open.httpUrl}/admin/cluster/status`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).mode, 'standalone');
    // a mode-specific endpoint from the guide: documented, but not standalone's
    r = spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', `${open.httpUrl}/admin/promote`],
      { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.stdout, '409');
  } finally {
    await open.stop();
  }
  // With authentication on, the admin command needs credentials.
  const curl = (...args) => spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', ...args], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(curl(`${server.httpUrl}/health`).stdout, '200');
  assert.equal(curl(`${server.httpUrl}/admin/cluster/status`).stdout, '401');
  assert.equal(curl('-u', `${server.auth.user}:${server.auth.password}`, `${server.httpUrl}/admin/cluster/status`).stdout, '200');
});

test('documented admin paths of other modes answer 409 naming the mode; unknown ones 404', async () => {
  const auth = adminAuth(server);
  for (const [method, path] of [['POST', '/admin/promote'], ['GET', '/admin/raft/state'], ['POST', '/admin/raft/step-down'], ['POST', '/admin/region/promote']]) {
    const r = await request(server, method, path, { auth });
    assert.equal(r.status, 409, `${method} ${path}: ${r.text}`);
    assert.match(r.body.error, /standalone/);
    assert.match(r.body.error, /NORNICDB_CLUSTER_MODE/);
  }
  const r = await request(server, 'GET', '/admin/does-not-exist', { auth });
  assert.equal(r.status, 404);
});

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

test('HTTPS serves the same API when NORNICDB_HTTPS_ENABLED', { skip: !hasProgram('openssl') && 'openssl is not installed' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nornicdb-https-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  assert.equal(gen.status, 0, gen.stderr);
  const port = await freePort();
  const s = await startServer({
    env: { NORNICDB_HTTPS_ENABLED: 'true', NORNICDB_HTTPS_PORT: String(port), NORNICDB_HTTPS_CERT_FILE: cert, NORNICDB_HTTPS_KEY_FILE: key },
  });
  try {
    const host = new URL(s.httpUrl).hostname;
    const get = (p) => new Promise((resolve, reject) => {
      const req = https.get({ host, port, path: p, ca: fs.readFileSync(cert), servername: 'localhost' }, (res) => {
        let data = '';
        res.on('data', (c) => { data += c; });
        res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(data) }));
      });
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    });
    const health = await get('/health');
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'healthy');
    const disc = await get('/');
    assert.equal(disc.body.transaction, `https://${host}:${port}/db/{databaseName}/tx`);
  } finally {
    await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an HTTP port already in use stops start-up with a clear message', async () => {
  const blocker = net.createServer();
  await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address();
  try {
    await assert.rejects(startServer({ env: { NORNICDB_HTTP_PORT: String(port) } }), (e) => {
      assert.match(e.message, /exited during start-up/);
      assert.match(e.message, new RegExp(`cannot start the HTTP server: Could not listen for HTTP on 127\\.0\\.0\\.1:${port}`));
      return true;
    });
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test('a Host header that is not a host name is not reflected into URLs', async () => {
  const u = new URL(server.httpUrl);
  const body = await new Promise((resolve, reject) => {
    const req = http.get({ host: u.hostname, port: u.port, path: '/', headers: { Host: 'evil"host<x>:1' } }, (res) => {
      let d = '';
      res.on('data', (c) => { d += c; });
      res.on('end', () => resolve(JSON.parse(d)));
    });
    req.on('error', reject);
  });
  assert.equal(body.transaction, `http://localhost:${u.port}/db/{databaseName}/tx`);
});
