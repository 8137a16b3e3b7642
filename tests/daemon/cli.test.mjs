// The daemon as an operator meets it: options, configuration errors, signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../lib/server.mjs';

const bin = process.env.NORNICDB_BIN;
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NORNICDB_')));

function run(args, env = {}) {
  return spawnSync(bin, args, { env: { ...cleanEnv, LANGUAGE: 'C', ...env }, encoding: 'utf8', timeout: 20000 });
}

test('--version prints the version', () => {
  const r = run(['--version']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^nornicdb \d+\.\d+\.\d+/);
});

test('--help lists the options', () => {
  const r = run(['--help']);
  assert.equal(r.status, 0);
  for (const opt of ['--config', '--data-dir', '--check-config', '--version']) assert.ok(r.stdout.includes(opt), opt);
});

test('--check-config prints effective values with sources and masks secrets', () => {
  const r = run(['--check-config'], { NORNICDB_AUTH: 'alice:hunter22', NORNICDB_CLUSTER_MODE: 'standalone', NORNICDB_BOLT_PORT: '7999' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^NORNICDB_BOLT_PORT=7999\t# env$/m);
  assert.match(r.stdout, /^NORNICDB_HTTP_PORT=7474\t# default$/m);
  assert.ok(!r.stdout.includes('hunter22'), 'password shown');
  assert.match(r.stdout, /NORNICDB_AUTH=alice:\*+/);
});

for (const [name, value, allowed] of [
  ['NORNICDB_CLUSTER_MODE', 'paxos', /standalone, ha_standby, raft, multi_region/],
  ['NORNICDB_BOLT_PORT', '70000', /1 to 65535/],
  ['NORNICDB_CLUSTER_HA_FAILOVER_TIMEOUT', 'soon', /duration/],
]) {
  test(`a bad ${name} stops start-up with exit code 2 naming variable, value and what is allowed`, () => {
    const r = run(['--check-config'], { [name]: value });
    assert.equal(r.status, 2);
    assert.ok(r.stderr.includes(name), r.stderr);
    assert.ok(r.stderr.includes(value), r.stderr);
    assert.match(r.stderr, allowed);
  });
}

test('a configuration file is read, and an explicit missing one is an error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nornicdb-conf-'));
  const conf = path.join(dir, 'nornicdb.conf');
  fs.writeFileSync(conf, '[nornicdb]\nBOLT_PORT=7777\n');
  let r = run(['--config', conf, '--check-config']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^NORNICDB_BOLT_PORT=7777\t# file$/m);
  r = run(['--config', path.join(dir, 'missing.conf'), '--check-config']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /missing\.conf/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('SIGHUP reloads reloadable settings from the file; SIGTERM exits 0', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nornicdb-hup-'));
  const conf = path.join(dir, 'nornicdb.conf');
  fs.writeFileSync(conf, '[nornicdb]\nLOG_LEVEL=info\n');
  const server = await startServer({ args: ['--config', conf] });
  try {
    fs.writeFileSync(conf, '[nornicdb]\nLOG_LEVEL=debug\nWAL_SEGMENT_SIZE=1MiB\n');
    process.kill(server.pid, 'SIGHUP');
    const deadline = Date.now() + 5000;
    while (!/Configuration reloaded/.test(server.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(server.output(), /Configuration reloaded/);
    assert.match(server.output(), /NORNICDB_WAL_SEGMENT_SIZE changed but needs a restart/);
  } finally {
    const exit = await server.stop();
    assert.equal(exit.code, 0);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
