// A seeded fault schedule for Raft cluster tests (used by
// raft-nemesis.test.mjs), the code that carries it out on a RaftCluster
// (../raft-lib.mjs), and a cluster-traffic proxy that cuts nodes off.
//
// Faults:
//   kill   kill -9 a node (the leader with probability `leaderBias`), keep
//          it down for a while, restart it on the same data directory;
//   pause  SIGSTOP a node for less than an election timeout or a little
//          more, then SIGCONT;
//   cut    cut a node off for several election timeouts, long enough that
//          the others elect a new leader and go on without it (an isolated
//          old leader is the interesting case). `mode`:
//            both     cluster traffic both ways; the node keeps answering
//                     its Bolt/HTTP clients,
//            out      only the node's own packets to its peers are lost,
//            isolate  peers and clients alike (its link goes down).
//          With network namespaces (lib/netns.mjs) the cut is done by the
//          kernel; with a ClusterProxy (below) every cluster connection
//          from or to the node is closed and new ones are refused (all
//          modes act as `both`); with neither, by a long SIGSTOP;
//   wipe   (only with `wipe: true`) kill -9 a node, delete its data
//          directory and start it empty: the leader must notice it forgot
//          its log, remove it and add it back as a learner
//          (docs/raft-cluster.md, "A member that lost its data directory").
// The schedule is a pure function of the seed, so a failing run is replayed
// with the same seed (timing still differs between runs, the faults and
// their order do not).
//
// The proxy (the older way to cut, kept as NORNICDB_NEMESIS_CUT=proxy for
// machines without namespaces): all addresses in 127.0.0.0/8, node i binds
// its cluster port on 127.0.1.9i:7688 and advertises 127.0.0.9i:7688, where
// the proxy listens. Peers dial advertised addresses, so every cluster
// connection to node i passes proxy i; the proxy reads the connection's
// first frame (the Hello, docs/cluster-protocol.md: 4-byte length + JSON
// with "from") to learn the dialling node, so it knows both ends of every
// connection.
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
export function makeSchedule({ seed, totalMs, nodes = 3, electionMs = 600, leaderBias = 0.6, wipe = false }) {
  const rnd = prng(seed);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const events = [];
  let t = 0;
  while (t < totalMs) {
    const kind = pick(wipe ? ['kill', 'kill', 'pause', 'cut', 'cut', 'wipe'] : ['kill', 'kill', 'pause', 'cut', 'cut']);
    const target = rnd() < leaderBias ? 'leader' : 1 + Math.floor(rnd() * nodes);
    const gapMs = Math.round(500 + rnd() * 1500);   // quiet time before the fault
    let durationMs;
    if (kind === 'kill' || kind === 'wipe') durationMs = Math.round(300 + rnd() * 2500);
    else if (kind === 'pause') durationMs = Math.round(electionMs * (0.3 + rnd() * 1.2));
    else durationMs = Math.round(electionMs * (3 + rnd() * 4));
    const ev = { kind, target, gapMs, durationMs };
    if (kind === 'cut') ev.mode = pick(['both', 'both', 'out', 'isolate']);
    events.push(ev);
    t += gapMs + durationMs;
  }
  return events;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A ClusterProxy as a cutter for runNemesis. */
export function proxyCutter(proxy) {
  return {
    cut: async (i) => proxy.cut(`node-${i}`),
    heal: async (i) => proxy.heal(`node-${i}`),
    healAll: async () => proxy.healAll(),
  };
}

/**
 * Runs `schedule` against `cluster` (a RaftCluster). `log(line)` records
 * what happened. Resumes every paused process even when interrupted
 * (`shouldStop()` true) or on error; heals every cut. `net`: something with
 * async cut(i, mode) / heal(i) / healAll() (a NetnsLab, or proxyCutter());
 * without it cuts are long pauses. Returns the list of applied faults.
 */
export async function runNemesis(cluster, schedule, { log = () => {}, shouldStop = () => false, t0 = performance.now(), net = null } = {}) {
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
      log(`${stamp()} nemesis: ${ev.kind}${ev.mode ? ` (${ev.mode})` : ''} node-${victim}${wasLeader ? ' (leader)' : ''} for ${ev.durationMs} ms`);
      applied.push({ ...ev, victim });
      if (ev.kind === 'kill' || ev.kind === 'wipe') {
        await cluster.kill(victim);
        await sleep(ev.durationMs);
        await cluster.start(victim, { bootstrap: false, fresh: ev.kind === 'wipe' });
        log(`${stamp()} nemesis: node-${victim} restarted${ev.kind === 'wipe' ? ' with an empty data directory' : ''}`);
      } else if (ev.kind === 'cut' && net) {
        await net.cut(victim, ev.mode);
        try {
          await sleep(ev.durationMs);
        } finally {
          await net.heal(victim);
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
    await net?.healAll();
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
