// A seeded fault schedule for Raft cluster tests (used by
// raft-nemesis.test.mjs), the code that carries it out on a RaftCluster
// (../raft-lib.mjs), and a cluster-traffic proxy that cuts nodes off.
//
// Faults:
//   kill   kill -9 a node (the leader with probability `leaderBias`), keep
//          it down for a while, restart it on the same data directory;
//   pause  SIGSTOP a node for less than an election timeout or a little
//          more, then SIGCONT;
//   cut    isolate a node's cluster traffic for several election timeouts,
//          long enough that the others elect a new leader and go on without
//          it, while the node keeps running and answering its Bolt/HTTP
//          clients (an isolated old leader is the interesting case).
//          With a ClusterProxy (below) the cut is real: every cluster
//          connection from or to the node is closed and new ones are
//          refused. Without one, the cut is simulated by a long SIGSTOP.
// The schedule is a pure function of the seed, so a failing run is replayed
// with the same seed (timing still differs between runs, the faults and
// their order do not).
//
// Why a proxy and not network namespaces: the workplace allows only
// loopback addresses (or addresses inside namespaces the test made), and
// the test's clients must still reach a cut-off node's Bolt port. All
// addresses here are in 127.0.0.0/8: node i binds its cluster port on
// 127.0.1.9i:7688 and advertises 127.0.0.9i:7688, where the proxy listens.
// Peers dial advertised addresses, so every cluster connection to node i
// passes proxy i; the proxy reads the connection's first frame (the Hello,
// docs/cluster-protocol.md: 4-byte length + JSON with "from") to learn the
// dialling node, so it knows both ends of every connection.
import net from 'node:net';

/** mulberry32: small, fast, good enough for schedules. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Builds the schedule: a list of {kind, target: 'leader'|number, gapMs,
 * durationMs} filling about `totalMs` of faults-plus-quiet time.
 * `electionMs` is the cluster's election timeout.
 */
export function makeSchedule({ seed, totalMs, nodes = 3, electionMs = 600, leaderBias = 0.6 }) {
  const rnd = prng(seed);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const events = [];
  let t = 0;
  while (t < totalMs) {
    const kind = pick(['kill', 'kill', 'pause', 'cut']);
    const target = rnd() < leaderBias ? 'leader' : 1 + Math.floor(rnd() * nodes);
    const gapMs = Math.round(500 + rnd() * 1500);   // quiet time before the fault
    let durationMs;
    if (kind === 'kill') durationMs = Math.round(300 + rnd() * 2500);
    else if (kind === 'pause') durationMs = Math.round(electionMs * (0.3 + rnd() * 1.2));
    else durationMs = Math.round(electionMs * (3 + rnd() * 4));
    events.push({ kind, target, gapMs, durationMs });
    t += gapMs + durationMs;
  }
  return events;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `schedule` against `cluster` (a RaftCluster). `log(line)` records
 * what happened. Resumes every paused process even when interrupted
 * (`shouldStop()` true) or on error; heals every cut. `proxy`: a started
 * ClusterProxy for real cuts. Returns the list of applied faults.
 */
export async function runNemesis(cluster, schedule, { log = () => {}, shouldStop = () => false, t0 = performance.now(), proxy = null } = {}) {
  const applied = [];
  const paused = new Set();
  const stamp = () => `${((performance.now() - t0) / 1000).toFixed(2)}s`;
  try {
    for (const ev of schedule) {
      if (shouldStop()) break;
      await sleep(ev.gapMs);
      let victim = ev.target;
      const wasLeader = victim === 'leader';
      if (victim === 'leader') {
        try {
          victim = await cluster.waitLeader(10000);
        } catch (e) {
          log(`${stamp()} nemesis: no leader (${e.message}); picking node 1`);
          victim = 1;
        }
      }
      const server = cluster.node(victim);
      if (!server || server.exited()) {
        log(`${stamp()} nemesis: node-${victim} is not running, skipping ${ev.kind}`);
        continue;
      }
      log(`${stamp()} nemesis: ${ev.kind} node-${victim}${wasLeader ? ' (leader)' : ''} for ${ev.durationMs} ms`);
      applied.push({ ...ev, victim });
      if (ev.kind === 'kill') {
        await cluster.kill(victim);
        await sleep(ev.durationMs);
        await cluster.start(victim, { bootstrap: false });
        log(`${stamp()} nemesis: node-${victim} restarted`);
      } else if (ev.kind === 'cut' && proxy) {
        proxy.cut(`node-${victim}`);
        try {
          await sleep(ev.durationMs);
        } finally {
          proxy.heal(`node-${victim}`);
        }
        log(`${stamp()} nemesis: node-${victim} reconnected`);
      } else {
        process.kill(server.pid, 'SIGSTOP');
        paused.add(server.pid);
        try {
          await sleep(ev.durationMs);
        } finally {
          process.kill(server.pid, 'SIGCONT');
          paused.delete(server.pid);
        }
        log(`${stamp()} nemesis: node-${victim} resumed`);
      }
    }
  } finally {
    for (const pid of paused) {
      try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
    }
    proxy?.healAll();
  }
  return applied;
}

/**
 * Cluster-traffic proxy. `links`: [{id: 'node-1', listen: '127.0.0.91:7688',
 * target: '127.0.1.91:7688'}, ...]. cut(id)/heal(id) isolate a node.
 */
export class ClusterProxy {
  constructor(links) {
    this.links = links;
    this.servers = [];
    this.conns = new Set();     // {from, to, a, b}
    this.isolated = new Set();
    this.stats = { accepted: 0, refused: 0, severed: 0 };
  }

  async start() {
    for (const link of this.links) {
      const [host, port] = link.listen.split(':');
      const server = net.createServer((sock) => this.#accept(link, sock));
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(port), host, () => { server.off('error', reject); resolve(); });
      });
      this.servers.push(server);
    }
  }

  #blocked(from, to) { return this.isolated.has(from) || this.isolated.has(to); }

  #accept(link, sock) {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(), 5000);
    sock.on('error', () => {});
    const onData = (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4) return;
      const len = buf.readUInt32BE(0);
      if (len > 1 << 20) { clearTimeout(timer); sock.destroy(); return; }
      if (buf.length < 4 + len) return;
      sock.off('data', onData);
      sock.pause();
      clearTimeout(timer);
      let from = null;
      try { from = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')).from ?? null; } catch { /* not a Hello */ }
      if (from === null || this.#blocked(from, link.id)) {
        this.stats.refused++;
        sock.destroy();
        return;
      }
      const [host, port] = link.target.split(':');
      const up = net.connect({ host, port: Number(port) });
      up.on('error', () => {});
      // Raft frames are small: no Nagle delay on top of the extra hop.
      sock.setNoDelay(true);
      up.setNoDelay(true);
      const conn = { from, to: link.id, a: sock, b: up };
      this.conns.add(conn);
      this.stats.accepted++;
      const end = () => { sock.destroy(); up.destroy(); this.conns.delete(conn); };
      sock.once('close', end);
      up.once('close', end);
      up.once('connect', () => {
        up.write(buf);
        sock.pipe(up);
        up.pipe(sock);
        sock.resume();
      });
    };
    sock.on('data', onData);
  }

  cut(id) {
    this.isolated.add(id);
    for (const c of [...this.conns]) {
      if (c.from === id || c.to === id) {
        this.stats.severed++;
        c.a.destroy();
        c.b.destroy();
        this.conns.delete(c);
      }
    }
  }

  heal(id) { this.isolated.delete(id); }

  healAll() { this.isolated.clear(); }

  async close() {
    this.healAll();
    for (const c of this.conns) { c.a.destroy(); c.b.destroy(); }
    this.conns.clear();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(() => r()))));
    this.servers = [];
  }
}
