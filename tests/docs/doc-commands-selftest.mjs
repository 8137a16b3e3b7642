// Self-test of doc-commands.mjs: runs it on a throw-away source tree whose
// docs break each rule once, and checks that every break is reported (and
// that the one correct block passes). Without this, a runner that checked
// nothing would pass the real docs too.
//
// usage: node doc-commands-selftest.mjs   (NORNICDB_BIN: the daemon)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-doctest-self-'));
const fence = '```';
const block = (tag, body, lang = 'sh') => `${tag ? `<!-- doc-test: ${tag} -->\n` : ''}${fence}${lang}\n${body}\n${fence}\n`;

writeFileSync(path.join(root, 'README.md'), [
  '# Fixture',
  block('standalone fields="status,replication"', 'curl http://localhost:7474/health'),
  block(null, 'curl http://localhost:7474/health'),
  block(null, 'echo not a server command'),
].join('\n'));
mkdirSync(path.join(root, 'docs'));
writeFileSync(path.join(root, 'docs', 'broken.md'), [
  block('skip', 'docker compose up'),
  block('standalone', 'curl -u admin:admin http://localhost:7474/no-such-path'),
  block('standalone fields="no_such_field"', 'curl http://localhost:7474/health'),
  block('standalone', 'curl http://elsewhere:7474/health'),
  block('local', 'false'),
  block('standalone', `curl -u admin:admin -H 'Content-Type: application/json' -d '{"statements":[{"statement":"RETURN nonsense("}]}' http://localhost:7474/db/neo4j/tx/commit`),
  block('standalone contains="never printed"', 'curl -s http://localhost:7474/health'),
  block('nosuchmode', 'curl http://localhost:7474/health'),
  block('standalone status="409"', '$ curl http://localhost:7474/health\n{"status": "healthy"}', 'console'),
].join('\n'));

const r = spawnSync('node', [path.join(here, 'doc-commands.mjs'), root], { encoding: 'utf8', timeout: 120000 });
rmSync(root, { recursive: true, force: true });
const out = r.stdout + r.stderr;

const expect = [
  ['untagged server block fails', /README\.md:\d+: untagged sh block targets a server/],
  ['skip needs a reason', /broken\.md:\d+: skip without reason/],
  ['non-2xx status fails', /no-such-path: HTTP 404/],
  ['missing field fails', /field "no_such_field" missing/],
  ['unknown host fails', /elsewhere:7474 do not name a server of mode standalone/],
  ['exit status checked', /exit status 1, expected 0/],
  ['statement errors in a 200 answer fail', /statement errors .*Neo\.ClientError/],
  ['missing output fails', /output lacks "never printed"/],
  ['unknown mode fails', /unknown doc-test mode "nosuchmode"/],
  ['expected status enforced (console block)', /health: HTTP 200, expected 409/],
  ['the correct block passes', /^ok +standalone README\.md:\d+/m],
  ['plain blocks are listed as not run', /Not run \(no server, daemon or docker in them\): README\.md:\d+/],
  ['counts per mode printed', /standalone +\d+ commands in \d+ blocks/],
  ['exactly one block passes', /^1 passed, 10 failed$/m],
];
let failed = 0;
for (const [name, re] of expect) {
  const ok = re.test(out);
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}`);
}
if (r.status !== 1) { failed++; console.log(`FAIL runner exit status ${r.status}, expected 1`); }
if (failed) console.log(`\n--- runner output ---\n${out}`);
console.log(`${expect.length + 1 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
