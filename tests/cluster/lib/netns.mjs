// Network namespaces for Raft fault tests (raft-nemesis.test.mjs): every
// node runs in a namespace of its own, so a network cut is a real one —
// the node's kernel stops delivering its cluster packets — instead of a
// proxy closing connections.
//
// Topology (everything created by the test and deleted by it, all names
// prefixed nc-<test pid>-):
//
//   root ns  nc-P-c (10.77.S.254/24) ─┐
//   nc-P-n1  nc-P-n1 (10.77.S.1/24) ──┤
//   nc-P-n2  nc-P-n2 (10.77.S.2/24) ──┼── bridge br0 in nc-P-hub
//   nc-P-n3  nc-P-n3 (10.77.S.3/24) ──┘
//
// S = pid mod 250, so two runs at once do not share a subnet. The only thing
// in the root namespace is the test's own veth end nc-P-c: the test's
// clients (neo4j driver, HTTP) reach every node's Bolt (7687) and HTTP (7474)
// ports through it, and the nodes reach each other (cluster port 7688)
// through the bridge. Nodes use the same ports, each in its own namespace,
// like the clustering guide's docker-compose services.
//
// Cuts (inside the namespaces, never on host interfaces):
//   both     node i and its peers route each other's addresses to a
//            neighbour with a MAC address nobody has: packets between them
//            vanish on the wire, silently, both ways (a partition; TCP
//            connections stay open and stall, as in a real one). The node
//            still talks to the test's clients.
//   out      only node i's packets to its peers vanish (one-way at the IP
//            level; TCP needs both directions, so connections stall too,
//            but the peers keep sending to it and it keeps hearing them).
//   isolate  node i's veth goes down: cut from peers AND clients.
// heal(i) removes the routes / brings the link up.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { RaftCluster } from '../raft-lib.mjs';
import { startServer } from '../../lib/server.mjs';

const run = promisify(execFile);
const BLACKHOLE_GW = 253;                  // 10.77.S.253: nobody has it
const BLACKHOLE_MAC = '02:00:00:00:00:fd';  // locally administered, unused

async function ip(args) {
  try {
    const { stdout } = await run('ip', args, { timeout: 10000 });
    return stdout;
  } catch (e) {
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

const alive = (pid) => {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
};

/**
 * Deletes namespaces and root-namespace veths named nc-<pid>-* whose test
 * process is gone (a crashed or killed earlier run), after killing the
 * daemons still running inside them (only that run's daemons can be there).
 * Synchronous: also usable from an exit handler.
 */
export function cleanupStale({ onlyPid } = {}) {
  const removed = [];
  let list = '';
  try { list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }); } catch { return removed; }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    const m = /^nc-(\d+)-/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (onlyPid !== undefined ? pid !== onlyPid : alive(pid)) continue;
    try {
      const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter(Boolean);
      for (const p of pids) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
    } catch { /* namespace already gone */ }
    try { execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' }); removed.push(name); } catch { /* gone */ }
  }
  let links = '';
  try { links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }); } catch { return removed; }
  for (const line of links.split('\n')) {
    const m = /^\d+: (nc-(\d+)-c)[@:]/.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    if (onlyPid !== undefined ? pid !== onlyPid : alive(pid)) continue;
    try { execFileSync('ip', ['link', 'del', m[1]], { stdio: 'ignore' }); removed.push(m[1]); } catch { /* gone */ }
  }
  return removed;
}

export class NetnsLab {
  constructor({ n = 3, tag = process.pid } = {}) {
    this.n = n;
    this.tag = tag;
    this.subnet = `10.77.${tag % 250}`;
    this.hub = `nc-${tag}-hub`;
    this.cuts = new Map();     // i -> mode
    this.ready = false;
    this.stats = { cuts: 0, heals: 0 };
  }

  ns(i) { return `nc-${this.tag}-n${i}`; }
  dev(i) { return `nc-${this.tag}-n${i}`; }      // node i's veth end, inside ns(i)
  ip(i) { return `${this.subnet}.${i}`; }
  get clientIp() { return `${this.subnet}.254`; }
  get rootDev() { return `nc-${this.tag}-c`; }

  /** Creates the namespaces; throws a clear error when that is not possible. */
  async setup() {
    const stale = cleanupStale();
    if (stale.length) console.log(`netns: removed stale ${stale.join(' ')}`);
    cleanupStale({ onlyPid: this.tag });
    try {
      await ip(['netns', 'add', this.hub]);
    } catch (e) {
      throw new Error(`network namespaces are unavailable; this test needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2 ('ip netns') ` +
        `(raft-nemesis without them: NORNICDB_NEMESIS_CUT=proxy): ${e.message}`);
    }
    // From here on, whatever fails is undone by teardown().
    const hub = ['-n', this.hub];
    await ip([...hub, 'link', 'set', 'lo', 'up']);
    await ip([...hub, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip([...hub, 'link', 'set', 'br0', 'up']);
    for (let i = 1; i <= this.n; i++) {
      const ns = this.ns(i);
      await ip(['netns', 'add', ns]);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ip(['link', 'add', this.dev(i), 'netns', ns, 'type', 'veth', 'peer', 'name', `nc-${this.tag}-h${i}`, 'netns', this.hub]);
      await ip([...hub, 'link', 'set', `nc-${this.tag}-h${i}`, 'master', 'br0', 'up']);
      await ip(['-n', ns, 'addr', 'add', `${this.ip(i)}/24`, 'dev', this.dev(i)]);
      await ip(['-n', ns, 'link', 'set', this.dev(i), 'up']);
      // The neighbour that swallows cut traffic.
      await ip(['-n', ns, 'neigh', 'replace', `${this.subnet}.${BLACKHOLE_GW}`, 'lladdr', BLACKHOLE_MAC, 'dev', this.dev(i), 'nud', 'permanent']);
    }
    await ip(['link', 'add', this.rootDev, 'type', 'veth', 'peer', 'name', `nc-${this.tag}-hc`, 'netns', this.hub]);
    await ip([...hub, 'link', 'set', `nc-${this.tag}-hc`, 'master', 'br0', 'up']);
    await ip(['addr', 'add', `${this.clientIp}/24`, 'dev', this.rootDev]);
    await ip(['link', 'set', this.rootDev, 'up']);
    this.ready = true;
  }

  async #route(op, from, to) {
    const args = ['-n', this.ns(from), 'route', op, `${this.ip(to)}/32`];
    if (op === 'add') args.push('via', `${this.subnet}.${BLACKHOLE_GW}`, 'dev', this.dev(from));
    await ip(args);
  }

  /** Cuts node i off; `mode`: 'both' | 'out' | 'isolate' (see the top of the file). */
  async cut(i, mode = 'both') {
    if (this.cuts.has(i)) throw new Error(`node ${i} is already cut`);
    this.cuts.set(i, mode);
    this.stats.cuts++;
    const peers = Array.from({ length: this.n }, (_, k) => k + 1).filter((j) => j !== i);
    if (mode === 'isolate') {
      await ip(['-n', this.ns(i), 'link', 'set', this.dev(i), 'down']);
      return;
    }
    for (const j of peers) {
      await this.#route('add', i, j);
      if (mode === 'both') await this.#route('add', j, i);
    }
  }

  async heal(i) {
    const mode = this.cuts.get(i);
    if (mode === undefined) return;
    this.cuts.delete(i);
    this.stats.heals++;
    const peers = Array.from({ length: this.n }, (_, k) => k + 1).filter((j) => j !== i);
    if (mode === 'isolate') {
      await ip(['-n', this.ns(i), 'link', 'set', this.dev(i), 'up']);
      await ip(['-n', this.ns(i), 'neigh', 'replace', `${this.subnet}.${BLACKHOLE_GW}`, 'lladdr', BLACKHOLE_MAC, 'dev', this.dev(i), 'nud', 'permanent']);
      return;
    }
    for (const j of peers) {
      await this.#route('del', i, j);
      if (mode === 'both') await this.#route('del', j, i);
    }
  }

  async healAll() {
    for (const i of [...this.cuts.keys()]) await this.heal(i);
  }

  /** Deletes everything setup() made (also after a partial setup). */
  teardown() {
    this.cuts.clear();
    this.ready = false;
    cleanupStale({ onlyPid: this.tag });
  }

  /** Runs `cmd args` inside node i's namespace (for self-tests). */
  exec(i, cmd, args, opts = {}) {
    return run('ip', ['netns', 'exec', this.ns(i), cmd, ...args], { timeout: 10000, ...opts });
  }
}

/**
 * Starts the daemon inside namespace `ns`, listening on `host` (Bolt 7687,
 * HTTP 7474): tests/lib/server.mjs startServer with its netns option (pid is
 * the daemon's: `ip netns exec` execs it). The data directory is the caller's.
 */
export function startInNetns({ ns, host, dataDir, env = {} }) {
  if (!process.env.NORNICDB_BIN) throw new Error('NORNICDB_BIN is not set');
  return startServer({ netns: ns, host, dataDir, env: { NORNICDB_BOLT_PORT: '7687', NORNICDB_HTTP_PORT: '7474', ...env } });
}

/**
 * A RaftCluster (../raft-lib.mjs) whose node i runs in lab.ns(i) at
 * lab.ip(i): cluster traffic on :7688, Bolt on :7687, HTTP on :7474.
 */
export class NetnsCluster extends RaftCluster {
  constructor(lab, opts) {
    super({ ...opts, n: lab.n, prefix: `${lab.subnet}.` });
    this.lab = lab;
    for (const i of this.ids) this.ports.set(i, { bolt: 7687, http: 7474 });
  }

  boltAddr(i) { return `${this.lab.ip(i)}:7687`; }

  async start(i, { bootstrap = i === 1, peers, env = {}, fresh = false } = {}) {
    if (fresh && this.dirs.has(i)) {
      rmSync(this.dirs.get(i), { recursive: true, force: true });
      this.dirs.delete(i);
    }
    if (!this.dirs.has(i)) this.dirs.set(i, mkdtempSync(path.join(os.tmpdir(), `nornicdb-netns-${i}-`)));
    const server = await startInNetns({
      ns: this.lab.ns(i),
      host: this.lab.ip(i),
      dataDir: this.dirs.get(i),
      env: this.raftEnv(i, { bootstrap, peers, env }),
    });
    this.nodes.set(i, server);
    return server;
  }
}
