// /metrics: Prometheus text format, request counters, promtool.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer } from '../lib/server.mjs';
import { request, hasProgram, stopChecked } from './util.mjs';

let server;
before(async () => {
  server = await startServer({});
});
after(async () => {
  await stopChecked(server);
});

test('GET /metrics is Prometheus text 0.0.4 without auth', async () => {
  const r = await request(server, 'GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  assert.match(r.text, /^# TYPE nornicdb_wal_position gauge$/m);
  assert.match(r.text, /^nornicdb_http_requests_total\{code="200"\} \d+$/m);
});

test('request counters are kept by status code', async () => {
  await request(server, 'GET', '/no-such-page');
  await request(server, 'GET', '/no-such-page');
  const before = await request(server, 'GET', '/metrics');
  const n404 = Number(before.text.match(/^nornicdb_http_requests_total\{code="404"\} (\d+)$/m)?.[1]);
  assert.ok(n404 >= 2, before.text);
  await request(server, 'POST', '/db/neo4j/tx/commit', { body: {} }); // 401
  const after = await request(server, 'GET', '/metrics');
  assert.match(after.text, /^nornicdb_http_requests_total\{code="401"\} [1-9]\d*$/m);
});

test('promtool check metrics accepts the output', { skip: !hasProgram('promtool') && 'promtool is not installed (Debian package "prometheus")' }, async () => {
  await request(server, 'GET', '/health');
  const r = await request(server, 'GET', '/metrics');
  const check = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8', timeout: 30_000 });
  assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}\n---\n${r.text}`);
});
