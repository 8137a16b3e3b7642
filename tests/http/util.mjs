// Small request helpers shared by the HTTP tests (the daemon itself is
// started by the shared harness, tests/lib/server.mjs).
import { spawnSync } from 'node:child_process';

export function basic(user, password) {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

export function adminAuth(server) {
  return basic(server.auth.user, server.auth.password);
}

// fetch with a JSON body; returns {status, headers, body (parsed when JSON), text}.
export async function request(server, method, path, { auth, body, raw, headers = {} } = {}) {
  const h = { ...headers };
  if (auth !== undefined && auth !== null) h.Authorization = auth;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    h['Content-Type'] ??= 'application/json';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    h['Content-Type'] = 'application/json';
  }
  const res = await fetch(server.httpUrl + path, { method, headers: h, body: payload, redirect: 'manual' });
  const text = await res.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

// Runs statements in one auto-committed request; fails the test on errors.
export async function cypher(server, statement, parameters = {}, auth = adminAuth(server)) {
  const r = await request(server, 'POST', '/db/neo4j/tx/commit', {
    auth,
    body: { statements: [{ statement, parameters }] },
  });
  if (r.status !== 200 || r.body.errors.length) {
    throw new Error(`${statement}: HTTP ${r.status} ${r.text}`);
  }
  return r.body.results[0];
}

export function hasProgram(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`]);
  return r.status === 0;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Stops a server started by a test file; if it died on its own meanwhile,
// fails loudly with its log so a crash is never mistaken for "fetch failed".
export async function stopChecked(server) {
  if (!server) return;
  const died = server.exited();
  const output = server.output();
  await server.stop();
  if (died) throw new Error(`nornicdb exited during the tests (${JSON.stringify(died)}):\n${output.slice(-8000)}`);
}
