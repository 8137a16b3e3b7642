// Docs test: every fenced shell block (```bash, ```sh, ```shell, ```console)
// in README.md and docs/*.md that targets a running server, runs the daemon
// or needs docker/systemd must carry a tag in an HTML comment right before
// it, and every tagged block except `skip` is executed for real:
//
//   <!-- doc-test: local -->       no server: the daemon's own commands (--version, --check-config)
//   <!-- doc-test: standalone -->  against a standalone server
//   <!-- doc-test: ha -->          against a hot standby pair (primary 127.0.0.64, standby 127.0.0.65)
//   <!-- doc-test: raft -->        against a 3-node Raft cluster (cluster ports 127.0.0.61-63:7688)
//   <!-- doc-test: region -->      against two regions of three nodes (us-east 127.0.0.66-68, eu-west 127.0.0.69-71)
//   <!-- doc-test: self -->        the block starts its own daemons (`nornicdb ... &`) on the documented
//                                  addresses 127.0.0.11-12 / .21-23 / .31-33 / .41-43, moved to
//                                  127.0.0.64-65 / .61-63 / .66-68 / .69-71, with /var/lib/nornicdb
//                                  moved to a temporary directory; the daemons are killed by pid afterwards
//   <!-- doc-test: skip reason="docker compose" -->   not run; listed with its reason
//
// Attributes after the mode (all optional):
//   status="409"        HTTP status every curl of the block must get (comma list: any of them); default 2xx
//   fields="a,b.c"      fields every JSON answer of the block must have (dot paths, array
//                       indexes as numbers); fields="/path:a,b /other:c" per URL path prefix
//   contains="x;y"      strings the block's output (standard output or error) must contain
//   exit="2"            expected exit status of the block (default 0)
//   fresh               restart the mode's servers before this block
//
// Commands run with `bash -eo pipefail`; URLs in them are rewritten to the
// test servers by a curl shim (localhost:7474, node1:7474 .. node3:7474,
// primary:7474, standby:7474 / localhost:7475, leader:7474, follower:7474,
// us-east-node1:7474 .. eu-west-node3:7474, us-east-leader:7474, ...) and
// `admin:admin` to the test password. A URL the mode does not know fails the
// block, so a command can never silently hit something else. The shim also
// records each call's HTTP status and body: each must be 2xx (or the tag's
// status), JSON answers must parse, and a transaction API answer must have
// no `errors` (the API reports statement errors with HTTP 200). Two
// exceptions, both visible in the command: a curl with -f/--fail is a probe
// (a wait loop, a helper whose failure the script handles), so only its JSON
// is checked; a curl with -w '%{http_code}' prints its own status (check it
// with contains=).
//
// usage: node doc-commands.mjs <source root>   (NORNICDB_BIN: the daemon)
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../lib/server.mjs';
import { startPair, waitFor as haWaitFor, health as haHealth } from '../cluster/ha-lib.mjs';
import { RaftCluster, http as raftHttp, waitFor } from '../cluster/raft-lib.mjs';
import { RegionCluster, waitPrimary } from '../cluster/region-lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.argv[2] ?? path.join(here, '..', '..'));
const bin = path.resolve(process.env.NORNICDB_BIN ?? path.join(root, 'build', 'nornicdb'));
const TEST_AUTH = 'admin:test-password';
const MODES = ['local', 'standalone', 'ha', 'raft', 'region', 'self'];
const SHELL_LANGS = new Set(['bash', 'sh', 'shell', 'console']);
// What makes a block need a tag: it talks to a server, runs the daemon, or
// needs docker/systemd.
const NEEDS_TAG = /\bcurl\b|\bwget\b|cypher-shell|:(7473|7474|7687|7688)\b|\/admin\/|\/db\/neo4j|bolt:\/\/|neo4j:\/\/|(^|[\s;&|(/])nornicdb(\s|$)|\bdocker\b|\bsystemctl\b|\bjournalctl\b/m;
const BLOCK_TIMEOUT_MS = 60000;
const t0 = Date.now();

// Daemons a `self` block started: killed by pid after the block, and also
// when this runner is interrupted (meson's timeout sends SIGTERM).
let currentPidFile = null;
function killSelfDaemonsNow() {
  if (!currentPidFile || !existsSync(currentPidFile)) return;
  for (const pid of readFileSync(currentPidFile, 'utf8').split('\n').filter(Boolean).map(Number)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
let workDir = null;
process.on('exit', () => {
  killSelfDaemonsNow();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(1));

// ---------------------------------------------------------------- extraction

function parseTag(line) {
  const m = line.match(/^\s*<!--\s*doc-test:\s*([a-z]+)(.*?)-->\s*$/);
  if (!m) return null;
  const attrs = {};
  const re = /([a-z]+)(?:="((?:[^"\\]|\\.)*)")?/g;
  let a;
  while ((a = re.exec(m[2])) !== null) attrs[a[1]] = a[2] === undefined ? true : a[2].replace(/\\(.)/g, (x, c) => (c === 't' ? '\t' : c));
  return { mode: m[1], attrs };
}

function extractBlocks(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i].match(/^(\s*)(`{3,}|~{3,})\s*([A-Za-z0-9_+-]*)/);
    if (!open) continue;
    const fence = open[2];
    const lang = open[3].toLowerCase();
    let j = i + 1;
    while (j < lines.length && !lines[j].trim().startsWith(fence)) j++;
    const body = lines.slice(i + 1, j).map((l) => l.slice(Math.min(open[1].length, l.length - l.trimStart().length)));
    if (SHELL_LANGS.has(lang)) {
      let k = i - 1;
      while (k >= 0 && lines[k].trim() === '') k--;
      const tag = k >= 0 ? parseTag(lines[k]) : null;
      blocks.push({ file: path.relative(root, file), line: i + 1, lang, text: body.join('\n'), tag });
    }
    i = j;
  }
  return blocks;
}

/** The commands of a block: console blocks keep only `$ ` lines; continuation lines are joined. */
function commandsOf(block) {
  let lines = block.text.split('\n');
  if (block.lang === 'console') {
    const out = [];
    let cont = false;
    for (const l of lines) {
      if (l.startsWith('$ ')) { out.push(l.slice(2)); cont = l.trimEnd().endsWith('\\'); }
      else if (cont) { out.push(l); cont = l.trimEnd().endsWith('\\'); }
    }
    lines = out;
  }
  const script = lines.join('\n');
  // Logical commands, for counting: join continuations, drop comments and blanks.
  const logical = script.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !/^(do|done|then|else|fi|esac|\}|\{)$/.test(l));
  return { script, count: logical.length };
}

// --------------------------------------------------------------- curl shim

function makeShim(dir) {
  const realCurl = execFileSync('bash', ['-c', 'command -v curl']).toString().trim();
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  const shim = path.join(dir, 'bin', 'curl');
  // Records each call's arguments, response headers (-D) and body (tee) so
  // the test can check status codes and JSON; output still reaches the
  // command's pipe unchanged. -m 30: no command hangs the suite.
  // In server modes DOCTEST_URLMAP names a file of "host:port target"
  // lines: every http(s) URL argument is mapped through it (a host:port it
  // does not list fails the call with exit 97, so a command can never hit
  // something else, even when its URL is built from shell variables), and
  // the credentials admin:admin become the test password.
  writeFileSync(shim, `#!/bin/bash
n="$DOCTEST_LOG/$(date +%s%N)-$$"
args=()
if [ -n "$DOCTEST_URLMAP" ]; then
  declare -A map
  while read -r k v; do map[$k]=$v; done < "$DOCTEST_URLMAP"
  for a in "$@"; do
    if [[ $a =~ ^(https?://)([^/?#]+)(.*)$ ]]; then
      hp=\${BASH_REMATCH[2]}
      if [ -z "\${map[$hp]+x}" ]; then
        echo "doc-test: $hp is not a server of this mode" >&2
        echo "$hp" >> "$DOCTEST_LOG/unmapped"
        exit 97
      fi
      a="\${BASH_REMATCH[1]}\${map[$hp]}\${BASH_REMATCH[3]}"
    elif [ "$a" = admin:admin ]; then
      a="$DOCTEST_AUTH"
    fi
    args+=("$a")
  done
else
  args=("$@")
fi
printf '%s\n' "\${args[@]}" > "$n.args"
set -o pipefail
"${realCurl}" -m 30 -D "$n.hdr" "\${args[@]}" | tee "$n.body"
rc=\${PIPESTATUS[0]}
echo "$rc" > "$n.rc"
exit "$rc"
`);
  chmodSync(shim, 0o755);
  return path.join(dir, 'bin');
}

function readCalls(logDir) {
  const calls = [];
  for (const f of readdirSync(logDir).filter((x) => x.endsWith('.args')).sort()) {
    const base = path.join(logDir, f.slice(0, -5));
    const read = (ext) => (existsSync(base + ext) ? readFileSync(base + ext, 'utf8') : '');
    // A command's own -D/--dump-header replaces the shim's; with `-D -` the
    // headers are at the start of the body.
    const hdr = read('.hdr') || (read('.body').startsWith('HTTP/') ? read('.body').split(/\r?\n\r?\n/)[0] : '');
    const statuses = [...hdr.matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)].map((m) => Number(m[1]));
    const ctype = (hdr.match(/^content-type:\s*(.*)$/gim) ?? []).pop() ?? '';
    calls.push({
      args: read('.args').trim().split('\n'),
      status: statuses.length ? statuses[statuses.length - 1] : null,
      json: /json/i.test(ctype),
      body: read('.body'),
      rc: Number(read('.rc').trim() || -1),
    });
  }
  return calls;
}

function getPath(obj, p) {
  let cur = obj;
  for (const part of p.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(part in cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

// ------------------------------------------------------------ running a block

function runBash(script, { env, cwd, timeoutMs = BLOCK_TIMEOUT_MS }) {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-eo', 'pipefail', '-c', script], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); stderr += `\n(killed after ${timeoutMs} ms)`; }, timeoutMs);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? 128, signal, stdout, stderr }); });
  });
}

function baseEnv(shimBin, logDir) {
  return {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NORNICDB_'))),
    PATH: `${shimBin}:${process.env.PATH}`,
    DOCTEST_LOG: logDir,
    LANGUAGE: 'C',
    LC_ALL: 'C',
  };
}

async function runBlock(block, ctx) {
  const { script } = commandsOf(block);
  const attrs = block.tag.attrs;
  const logDir = mkdtempSync(path.join(ctx.work, 'calls-'));
  let text = script;
  const env = baseEnv(ctx.shimBin, logDir);
  let pidFile;
  let selfDir;
  if (block.tag.mode === 'local') {
    text = text.replace(/(^|[\s;&|(])build\/nornicdb\b/g, `$1${bin}`);
    selfDir = mkdtempSync(path.join(ctx.work, 'local-'));
  } else if (block.tag.mode === 'self') {
    // The block starts its own daemons on the documented loopback
    // addresses; they are moved into this test's range and every daemon's
    // pid is recorded (the function execs the binary in the background
    // subshell, so $BASHPID is the daemon's pid).
    selfDir = mkdtempSync(path.join(ctx.work, 'self-'));
    pidFile = path.join(selfDir, 'pids');
    text = text.replace(/127\.0\.0\.(\d+)\b/g, (all, h) => SELF_ADDRESSES[h] ?? all)
      .replace(/127\.0\.0\.2(?=[$%])/g, '127.0.0.6');
    // Any other address built from a variable could not be moved: it would
    // reach whatever listens on the documented address.
    if (/127\.0\.0\.[$%]/.test(text)) throw new Error('an address is built as 127.0.0.$x; write the full addresses (or 127.0.0.2$i for 127.0.0.21-23)');
    text = text.replaceAll('/var/lib/nornicdb', path.join(selfDir, 'data'));
    // In the foreground (`nornicdb --check-config`, a daemon that must fail
    // to start) it runs as a recorded child and the block waits for it.
    text = `nornicdb() {
  if [ "$BASHPID" != "$$" ]; then echo $BASHPID >> ${JSON.stringify(pidFile)}; exec ${JSON.stringify(bin)} "$@"; fi
  ${JSON.stringify(bin)} "$@" & local p=$!; echo $p >> ${JSON.stringify(pidFile)}; wait $p
}\n${text}`;
  } else {
    const mapFile = path.join(logDir, '..', `urlmap-${path.basename(logDir)}`);
    writeFileSync(mapFile, Object.entries(ctx.urlMap()).map(([k, v]) => `${k} ${v}\n`).join(''));
    env.DOCTEST_URLMAP = mapFile;
    env.DOCTEST_AUTH = TEST_AUTH;
  }
  const started = Date.now();
  let res;
  currentPidFile = pidFile ?? null;
  try {
    res = await runBash(text, { env, cwd: selfDir ?? ctx.work });
  } finally {
    if (pidFile && existsSync(pidFile)) await killPids(readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number));
    currentPidFile = null;
  }
  const ms = Date.now() - started;
  const problems = [];
  const wantExit = attrs.exit !== undefined ? Number(attrs.exit) : 0;
  if (res.code !== wantExit) problems.push(`exit status ${res.code}, expected ${wantExit}`);
  const calls = readCalls(logDir);
  const unmapped = path.join(logDir, 'unmapped');
  if (existsSync(unmapped)) problems.push(`URL(s) ${[...new Set(readFileSync(unmapped, 'utf8').split('\n').filter(Boolean))].join(', ')} do not name a server of mode ${block.tag.mode}`);
  const wantStatus = attrs.status ? attrs.status.split(',').map(Number) : null;
  // fields="a,b" applies to every JSON answer; fields="/path:a,b /other:c"
  // to the calls whose URL path starts with /path.
  const fieldSpecs = (typeof attrs.fields === 'string' ? attrs.fields.trim().split(/\s+/) : []).map((tok) => {
    const m = tok.match(/^(\/[^:]*):(.*)$/);
    return m ? { prefix: m[1], names: m[2].split(',') } : { prefix: null, names: tok.split(',') };
  });
  for (const c of calls) {
    const url = c.args.find((a) => /^https?:/.test(a)) ?? '';
    const urlPath = url ? new URL(url).pathname : '';
    const fields = fieldSpecs.filter((f) => f.prefix === null || urlPath.startsWith(f.prefix)).flatMap((f) => f.names);
    const what = `curl ${url}`;
    if (c.status === null && c.args.some((a) => a === '--fail' || /^-[a-zA-Z]*f[a-zA-Z]*$/.test(a))) continue;
    if (c.status === null) { problems.push(`${what}: no HTTP answer (curl exit ${c.rc})`); continue; }
    const okStatus = wantStatus ? wantStatus.includes(c.status) : c.status >= 200 && c.status < 300;
    // curl -f/--fail: the command handles HTTP errors through curl's exit
    // status itself (a wait loop, a condition); -e fails the block otherwise.
    // Such calls are probes (wait loops, helpers): fields are not required of them either.
    const failMode = c.args.some((a) => a === '--fail' || /^-[a-zA-Z]*f[a-zA-Z]*$/.test(a));
    if (failMode && !okStatus) continue;
    // -w '%{http_code}': the command prints the status itself (check it with contains=).
    const printsStatus = c.args.some((a, i) => (c.args[i - 1] === '-w' || c.args[i - 1] === '--write-out') && a.includes('http_code'));
    if (printsStatus && !okStatus) continue;
    if (!okStatus) problems.push(`${what}: HTTP ${c.status}${wantStatus ? `, expected ${wantStatus.join(' or ')}` : ''}: ${c.body.slice(0, 300)}`);
    if (c.json && c.body.trim()) {
      let parsed;
      try { parsed = JSON.parse(c.body); } catch (e) { problems.push(`${what}: answer is not JSON (${e.message})`); continue; }
      if (!failMode) for (const f of fields) if (getPath(parsed, f) === undefined) problems.push(`${what}: field "${f}" missing in ${c.body.slice(0, 300)}`);
      // The transaction API reports statement errors with HTTP 200.
      if (!wantStatus && !failMode && Array.isArray(parsed?.errors) && parsed.errors.length) problems.push(`${what}: statement errors ${JSON.stringify(parsed.errors).slice(0, 300)}`);
    } else if (fields.length && !failMode) {
      problems.push(`${what}: expected a JSON answer with ${fields.join(', ')}`);
    }
  }
  if (attrs.contains) {
    for (const s of attrs.contains.split(';')) if (!res.stdout.includes(s) && !res.stderr.includes(s)) problems.push(`output lacks "${s}"`);
  }
  if (fieldSpecs.length && calls.length === 0) problems.push('fields given but the block made no HTTP call');
  rmSync(logDir, { recursive: true, force: true });
  return { problems, res, ms, calls: calls.length };
}

async function killPids(pids) {
  for (const pid of pids) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
  const deadline = Date.now() + 10000;
  for (const pid of pids) {
    for (;;) {
      try { process.kill(pid, 0); } catch { break; }
      if (Date.now() > deadline) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } break; }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

// Addresses `self` blocks use in the docs (127.0.0.11-12 HA, .21-23 Raft,
// also written 127.0.0.2$i, .31-33/.41-43 regions) and where they run here.
const SELF_ADDRESSES = {
  11: '127.0.0.64', 12: '127.0.0.65',
  21: '127.0.0.61', 22: '127.0.0.62', 23: '127.0.0.63',
  31: '127.0.0.66', 32: '127.0.0.67', 33: '127.0.0.68',
  41: '127.0.0.69', 42: '127.0.0.70', 43: '127.0.0.71',
};

// ------------------------------------------------------------------ the modes

const hostPort = (url) => url.replace(/^https?:\/\//, '');
// Blocks address `leader:7474` / `follower:7474` as found just before them;
// timeouts longer than the harness's 600 ms keep a loaded machine (CI runs
// suites in parallel) from electing a new leader in between.
const STABLE_RAFT = { NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT: '1500ms', NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT: '100ms' };

const environments = {
  local: async () => ({ urlMap: () => ({}), stop: async () => {} }),
  self: async () => ({ urlMap: () => ({}), stop: async () => {} }),

  standalone: async () => {
    const s = await startServer({ env: { NORNICDB_AUTH: TEST_AUTH } });
    const hp = hostPort(s.httpUrl);
    return {
      urlMap: () => ({ 'localhost:7474': hp, '127.0.0.1:7474': hp }),
      stop: () => s.stop(),
    };
  },

  ha: async () => {
    const pair = await startPair({ hosts: { a: '127.0.0.64', b: '127.0.0.65' }, failover: '3s', heartbeatMs: 100 });
    await haWaitFor('the standby to stream', async () => (await haHealth(pair.b)).state === 'streaming');
    const a = hostPort(pair.a.httpUrl);
    const b = hostPort(pair.b.httpUrl);
    return {
      urlMap: () => ({
        'localhost:7474': a, 'primary:7474': a, '127.0.0.1:7474': a,
        'localhost:7475': b, 'standby:7474': b,
      }),
      stop: () => pair.stop(),
    };
  },

  raft: async () => {
    const c = new RaftCluster({ prefix: '127.0.0.6', n: 3, clusterId: 'my-cluster', env: STABLE_RAFT });
    try {
      await c.startAll();
      await c.waitLeader(20000);
      await c.waitConverged();
    } catch (e) {
      await c.stopAll();
      throw e;
    }
    const map = {};
    let leader = 1;
    const refresh = async () => {
      leader = await c.waitLeader(20000);
      // Every member must know the leader too (blocks read any node).
      await waitFor('every node healthy', async () => {
        for (const i of c.live()) if ((await raftHttp(c.node(i), '/health')).status !== 200) return false;
        return true;
      }, 20000);
      for (const i of c.ids) {
        const hp = hostPort(c.node(i).httpUrl);
        map[`node${i}:7474`] = hp;
        map[`localhost:${7473 + i}`] = hp;
      }
      map['leader:7474'] = hostPort(c.node(leader).httpUrl);
      map['follower:7474'] = hostPort(c.node(c.ids.find((i) => i !== leader)).httpUrl);
    };
    await refresh();
    return { urlMap: () => map, before: refresh, stop: () => c.stopAll() };
  },

  region: async () => {
    const us = new RegionCluster({ region: 'us-east', prefix: '127.0.0.', hostOffset: 65, remote: 'eu-west:127.0.0.69:7688' });
    const eu = new RegionCluster({ region: 'eu-west', prefix: '127.0.0.', hostOffset: 68, remote: 'us-east:127.0.0.66:7688' });
    const regions = [us, eu];
    for (const r of regions) r.env = { ...r.env, ...STABLE_RAFT };
    try {
      await Promise.all([us.startAll(), eu.startAll()]);
      await Promise.all([us.waitLeader(), eu.waitLeader()]);
      await waitPrimary(regions, 'eu-west');
    } catch (e) {
      await Promise.all(regions.map((r) => r.stopAll()));
      throw e;
    }
    const map = {};
    const refresh = async () => {
      for (const r of regions) {
        const l = await r.waitLeader();
        for (const i of r.ids) map[`${r.region}-node${i}:7474`] = hostPort(r.node(i).httpUrl);
        map[`${r.region}-leader:7474`] = hostPort(r.node(l).httpUrl);
        map[`${r.region}-follower:7474`] = hostPort(r.node(r.ids.find((i) => i !== l)).httpUrl);
      }
      map['localhost:7474'] = map['us-east-node1:7474'];
    };
    await refresh();
    return { urlMap: () => map, before: refresh, stop: async () => { await Promise.all(regions.map((r) => r.stopAll())); } };
  },
};

// ----------------------------------------------------------------------- main

async function main() {
  if (!existsSync(bin)) throw new Error(`no daemon at ${bin} (set NORNICDB_BIN)`);
  // The documented commands use these tools (Debian: curl, jq, openssl).
  for (const tool of ['curl', 'jq', 'openssl']) {
    try { execFileSync('bash', ['-c', `command -v ${tool}`], { stdio: 'pipe' }); } catch {
      throw new Error(`the documented commands need ${tool}, which is not installed (apt-get install ${tool})`);
    }
  }
  const files = [path.join(root, 'README.md'),
    ...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => path.join(root, 'docs', f))];
  const blocks = files.flatMap(extractBlocks);
  const failures = [];
  const untaggedNotRun = [];
  const skipped = [];
  const byMode = Object.fromEntries(MODES.map((m) => [m, []]));
  for (const b of blocks) {
    const where = `${b.file}:${b.line}`;
    if (!b.tag) {
      if (NEEDS_TAG.test(b.text)) failures.push(`${where}: untagged ${b.lang} block targets a server, runs the daemon or needs docker/systemd; add <!-- doc-test: MODE --> before it (modes: ${MODES.join(', ')}, skip reason="...")`);
      else untaggedNotRun.push(where);
      continue;
    }
    if (b.tag.mode === 'skip') {
      if (!b.tag.attrs.reason || b.tag.attrs.reason === true) failures.push(`${where}: skip without reason="..."`);
      skipped.push({ where, reason: b.tag.attrs.reason, count: commandsOf(b).count });
      continue;
    }
    if (!byMode[b.tag.mode]) { failures.push(`${where}: unknown doc-test mode "${b.tag.mode}"`); continue; }
    byMode[b.tag.mode].push(b);
  }

  const work = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-doctest-'));
  workDir = work;
  const shimBin = makeShim(work);
  let passed = 0;
  const ran = Object.fromEntries(MODES.map((m) => [m, { blocks: 0, commands: 0, curls: 0, ms: 0 }]));
  try {
    for (const mode of MODES) {
      const list = byMode[mode];
      if (!list.length) continue;
      const modeStart = Date.now();
      let env = null;
      try {
        env = await environments[mode]();
        for (const b of list) {
          const where = `${b.file}:${b.line}`;
          if (b.tag.attrs.fresh && mode !== 'local' && mode !== 'self') {
            console.log(`     ${mode.padEnd(10)} fresh servers for ${where}`);
            await env.stop();
            env = null;
            env = await environments[mode]();
          } else if (env.before) {
            await env.before();
          }
          let r;
          try {
            r = await runBlock(b, { work, shimBin, urlMap: env.urlMap });
          } catch (e) {
            failures.push(`${where} [${mode}]: ${e.message}`);
            continue;
          }
          const { count } = commandsOf(b);
          ran[mode].blocks++;
          ran[mode].commands += count;
          ran[mode].curls += r.calls;
          const status = r.problems.length ? 'FAIL' : 'ok  ';
          if (!r.problems.length) passed++;
          if (process.env.DOCTEST_VERBOSE) console.log(r.res.stdout.replace(/^/gm, '       | '));
          console.log(`${status} ${mode.padEnd(10)} ${where} (${count} commands, ${r.calls} HTTP calls, ${r.ms} ms)`);
          if (r.problems.length) {
            failures.push(`${where} [${mode}]:\n    ${r.problems.join('\n    ')}\n    --- stdout ---\n${r.res.stdout.slice(-2000)}\n    --- stderr ---\n${r.res.stderr.slice(-2000)}`);
          }
        }
      } catch (e) {
        failures.push(`mode ${mode}: could not start its servers: ${e.message.slice(0, 4000)}`);
      } finally {
        if (env) await env.stop();
      }
      ran[mode].ms = Date.now() - modeStart;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  console.log('\nCommands executed per mode:');
  for (const m of MODES) {
    const r = ran[m];
    console.log(`  ${m.padEnd(10)} ${String(r.commands).padStart(3)} commands in ${r.blocks} blocks (${r.curls} HTTP calls), ${(r.ms / 1000).toFixed(1)} s`);
  }
  const skippedCommands = skipped.reduce((n, s) => n + s.count, 0);
  console.log(`Skipped: ${skippedCommands} commands in ${skipped.length} blocks:`);
  for (const s of skipped) console.log(`  ${s.where}: ${s.reason} (${s.count} commands)`);
  if (untaggedNotRun.length) console.log(`Not run (no server, daemon or docker in them): ${untaggedNotRun.join(', ')}`);
  console.log(`Total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (failures.length) {
    console.log(`\n${failures.length} failure(s):`);
    for (const f of failures) console.log(`- ${f}`);
  }
  console.log(`${passed} passed, ${failures.length} failed`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
