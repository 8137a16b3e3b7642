// Raft fault test: 6 concurrent clients (neo4j:// routing driver over the 3
// Bolt addresses) write and read registers and append unique Ack nodes while
// a seeded nemesis kills -9, pauses and cuts off nodes (lib/nemesis.mjs).
// Each node runs in a network namespace of its own (lib/netns.mjs: the test
// creates nc-<pid>-* namespaces and veths, 10.77.S.x addresses inside them
// and on its own veth end, and deletes them again), so a cut is done by the
// kernel: packets between the node and its peers vanish (both ways, or only
// the node's own: one-way), or its link goes down (clients lose it too).
// Afterwards:
//   * every acknowledged `CREATE (:Ack {id})` is present exactly once on
//     every node, ids with unknown outcome at most once, and all nodes hold
//     the same set (queried directly with bolt:// READ sessions);
//   * the register history (invoke/ok/fail/info, monotonic timestamps) is
//     linearizable (lib/linearizability.mjs).
// Reads: half run in READ sessions, which the routing driver sends to
// followers, half in WRITE sessions, which it sends to the node it believes
// leads (possibly an old leader that was cut off).
// NORNICDB_NEMESIS_LEADER_READS=0 sends every read to followers. The cluster
// runs with NORNICDB_CLUSTER_RAFT_LINEARIZABLE_READS=true, so
// docs/raft-cluster.md promises every read is linearizable (ReadIndex) on
// any node — that promise is what the checker tests; no bookmarks are passed
// (each operation has its own session).
//
// Needs root (namespaces); without them the test fails and says so. Short by
// default (CI, fixed seed); NORNICDB_NEMESIS_LONG=1 runs longer (5 min of
// faults, more keys); NORNICDB_NEMESIS_SEED sets the seed,
// NORNICDB_NEMESIS_MS the fault phase length, NORNICDB_NEMESIS_WIPE=1 adds
// kill -9 + data-dir wipes to the schedule;
// NORNICDB_NEMESIS_CUT=proxy cuts cluster connections in a loopback proxy
// instead (127.0.0.9x, no root needed), =pause simulates cuts by SIGSTOP.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RaftCluster, sleep, waitFor } from './raft-lib.mjs';
import { ClusterProxy, makeSchedule, proxyCutter, runNemesis } from './lib/nemesis.mjs';
import { NetnsCluster, NetnsLab } from './lib/netns.mjs';
import { checkHistory } from './lib/linearizability.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');

const LONG = process.env.NORNICDB_NEMESIS_LONG === '1';
const SEED = Number(process.env.NORNICDB_NEMESIS_SEED ?? 20261127);
const FAULT_MS = Number(process.env.NORNICDB_NEMESIS_MS ?? (LONG ? 300000 : 35000));
const LEADER_READS = (process.env.NORNICDB_NEMESIS_LEADER_READS ?? '1') === '1';
// Off by default: a wiped member still votes (docs/raft-cluster.md, Not done;
// raft-amnesia.test.mjs), which a wipe next to a cut can turn into a lost write.
const WIPE = process.env.NORNICDB_NEMESIS_WIPE === '1';
const CLIENTS = 6;
const KEYS = LONG ? 8 : 3;
const OP_TIMEOUT_MS = 3000;
const ELECTION_MS = 600;

const CUT = process.env.NORNICDB_NEMESIS_CUT ?? 'netns';
if (!['netns', 'proxy', 'pause'].includes(CUT)) throw new Error(`NORNICDB_NEMESIS_CUT=${CUT}: expected netns, proxy or pause`);
const bindAddr = (i) => `127.0.1.9${i}:7688`;

// Loopback variant: node i listens on bindAddr(i); everything else (peers,
// advertised address, membership) names 127.0.0.9i:7688, the proxy.
class LoopbackCluster extends RaftCluster {
  start(i, opts = {}) {
    const env = CUT === 'proxy' ? { NORNICDB_CLUSTER_BIND_ADDR: bindAddr(i) } : {};
    return super.start(i, { ...opts, env: { ...env, ...(opts.env ?? {}) } });
  }

  boltAddr(i) { return `127.0.0.1:${this.ports.get(i).bolt}`; }
}

const proxy = CUT === 'proxy'
  ? new ClusterProxy([1, 2, 3].map((i) => ({ id: `node-${i}`, listen: `127.0.0.9${i}:7688`, target: bindAddr(i) })))
  : null;
const lab = CUT === 'netns' ? new NetnsLab({ n: 3 }) : null;

const clusterOpts = {
  clusterId: 'nemesis',
  env: {
    NORNICDB_CLUSTER_RAFT_LINEARIZABLE_READS: 'true',
    NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT: `${ELECTION_MS}ms`,
    NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD: '300',
    NORNICDB_CLUSTER_RAFT_TRAILING_LOGS: '50',
  },
};
const cluster = lab ? new NetnsCluster(lab, clusterOpts) : new LoopbackCluster({ ...clusterOpts, prefix: '127.0.0.9', n: 3 });
const net = lab ?? (proxy ? proxyCutter(proxy) : null);

const replay = `NORNICDB_NEMESIS_SEED=${SEED}${LONG ? ' NORNICDB_NEMESIS_LONG=1' : ''} NORNICDB_NEMESIS_LEADER_READS=${LEADER_READS ? 1 : 0} NORNICDB_NEMESIS_WIPE=${WIPE ? 1 : 0} NORNICDB_NEMESIS_CUT=${CUT} NORNICDB_BIN=<build>/nornicdb node --test tests/cluster/raft-nemesis.test.mjs`;

before(async () => {
  console.log(`nemesis seed ${SEED}, fault phase ${FAULT_MS} ms, cuts by ${CUT}, reads on ${LEADER_READS ? 'followers and leader' : 'followers'}${WIPE ? ', wipes' : ''}; replay: ${replay}`);
  await lab?.setup();
  await proxy?.start();
});

after(async () => {
  // runNemesis resumes what it paused; stopAll ends every daemon by pid and
  // removes the data directories, also after a failure; teardown deletes
  // the namespaces (and kills by pid anything left in them).
  for (const i of cluster.ids) {
    const s = cluster.node(i);
    if (s && !s.exited()) { try { process.kill(s.pid, 'SIGCONT'); } catch { /* gone */ } }
  }
  await cluster.stopAll();
  await proxy?.close();
  lab?.teardown();
});

/** Definite failures: the server rejected the statement before it could apply. */
const definite = (e) => typeof e?.code === 'string' && e.code.startsWith('Neo.ClientError.');

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(Object.assign(new Error('client timeout'), { timeout: true })), ms); }),
  ]).finally(() => clearTimeout(timer));
}

test('the nemesis schedule is a function of the seed, and a proxy cut severs and refuses a node\'s links', { timeout: 10000 }, async () => {
  const a = makeSchedule({ seed: 42, totalMs: 20000 });
  assert.deepEqual(makeSchedule({ seed: 42, totalMs: 20000 }), a);
  assert.notDeepEqual(makeSchedule({ seed: 43, totalMs: 20000 }), a);
  assert.ok(new Set(a.map((e) => e.kind)).size >= 2, JSON.stringify(a));

  // Echo "nodes" behind a proxy on 127.0.0.99 / 127.0.1.99 (loopback only).
  const net = await import('node:net');
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise((r) => echo.listen(0, '127.0.1.99', r));
  const p = new ClusterProxy([{ id: 'node-9', listen: '127.0.0.99:0', target: `127.0.1.99:${echo.address().port}` }]);
  await p.start();
  const port = p.servers[0].address().port;
  const hello = (from) => {
    const json = Buffer.from(JSON.stringify({ type: 21, from, cluster: 'x' }));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(json.length);
    return Buffer.concat([len, json]);
  };
  // resolves 'open' after echoing the Hello back, 'closed' if the proxy drops it
  const dial = (from) => new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.99', port }, () => c.write(hello(from)));
    let got = 0;
    c.on('data', (d) => { got += d.length; if (got >= hello(from).length) resolve({ state: 'open', c }); });
    c.on('close', () => resolve({ state: 'closed', c }));
    c.on('error', () => {});
  });
  try {
    const live = await dial('node-1');
    assert.equal(live.state, 'open');
    const closed = new Promise((r) => live.c.once('close', r));
    p.cut('node-1');
    await closed;                                        // severed
    assert.equal((await dial('node-1')).state, 'closed'); // refused while cut
    const other = await dial('node-2');
    assert.equal(other.state, 'open');                   // others unaffected
    other.c.destroy();
    p.cut('node-9');
    assert.equal((await dial('node-2')).state, 'closed'); // links to a cut node too
    p.healAll();
    const back = await dial('node-1');
    assert.equal(back.state, 'open');
    back.c.destroy();
  } finally {
    await p.close();
    echo.close();
  }
});

// The kernel does the cutting; this checks that it cuts what lib/netns.mjs
// says, with tiny TCP echo servers in the nodes' namespaces (no daemons).
test('netns cuts: both silences a node and its peers but not clients, out drops only the node\'s packets, isolate cuts clients too', {
  skip: lab ? false : `cuts by ${CUT}`,
  timeout: 30000,
}, async () => {
  const { spawn } = await import('node:child_process');
  const netm = await import('node:net');
  const PORT = 9000;
  const servers = [];
  const probeScript = `const [h, p] = process.argv.slice(1); const c = require('net').connect({ host: h, port: +p });
    const t = setTimeout(() => { console.log('closed'); process.exit(0); }, 700);
    c.on('connect', () => { console.log('open'); process.exit(0); }); c.on('error', () => { console.log('closed'); process.exit(0); });`;
  // from: 'root' (the test's clients) or a node number
  const probe = async (from, to) => {
    if (from === 'root') {
      return new Promise((resolve) => {
        const c = netm.connect({ host: lab.ip(to), port: PORT });
        const done = (r) => { c.destroy(); resolve(r); };
        c.setTimeout(700, () => done('closed'));
        c.once('connect', () => done('open'));
        c.once('error', () => done('closed'));
      });
    }
    const { stdout } = await lab.exec(from, process.execPath, ['-e', probeScript, lab.ip(to), String(PORT)]);
    return stdout.trim();
  };
  // TCP segments node i's kernel received (frames sent to another MAC never
  // get that far; only TCP, so stray multicast does not count)
  const inSegs = async (i) => {
    const { stdout } = await lab.exec(i, 'cat', ['/proc/net/snmp']);
    const [names, values] = stdout.split('\n').filter((l) => l.startsWith('Tcp:')).map((l) => l.split(/\s+/));
    return Number(values[names.indexOf('InSegs')]);
  };
  try {
    for (const i of [1, 2, 3]) {
      const child = spawn('ip', ['netns', 'exec', lab.ns(i), process.execPath, '-e',
        `require('net').createServer((s) => s.pipe(s)).listen(${PORT}, '${lab.ip(i)}')`], { stdio: 'ignore' });
      servers.push(child);
    }
    for (const i of [1, 2, 3]) {
      for (let k = 0; k < 50 && await probe('root', i) !== 'open'; k++) await sleep(100);
    }
    const expect = async (from, to, want, what) => assert.equal(await probe(from, to), want, `${what}: ${from} -> node ${to}`);
    await expect(1, 2, 'open', 'before any cut');
    await expect(2, 1, 'open', 'before any cut');

    await lab.cut(1, 'both');
    await expect(1, 2, 'closed', 'both');
    let rx = await inSegs(1);
    await expect(2, 1, 'closed', 'both');
    assert.equal(await inSegs(1), rx, 'both: packets from a peer reached the cut node');
    await expect('root', 1, 'open', 'both (clients keep the node)');
    await expect(2, 3, 'open', 'both (the others keep each other)');
    await lab.heal(1);
    await expect(1, 2, 'open', 'healed');

    await lab.cut(1, 'out');
    await expect(1, 2, 'closed', 'out');
    rx = await inSegs(1);
    await expect(2, 1, 'closed', 'out (the handshake needs the node\'s answer)');
    assert.ok(await inSegs(1) > rx, 'out: packets from a peer no longer reach the node');
    await expect('root', 1, 'open', 'out (clients keep the node)');
    await lab.heal(1);

    await lab.cut(1, 'isolate');
    await expect('root', 1, 'closed', 'isolate');
    await expect(2, 1, 'closed', 'isolate');
    await expect('root', 2, 'open', 'isolate (others unaffected)');
    await lab.heal(1);
    await expect('root', 1, 'open', 'healed after isolate');
    await expect(1, 2, 'open', 'healed after isolate');
  } finally {
    await lab.healAll();
    for (const c of servers) c.kill('SIGKILL');
  }
});

test(`nemesis (seed ${SEED}): acknowledged appends exactly once everywhere, register history linearizable`, { timeout: FAULT_MS + 240000 }, async () => {
  await cluster.startAll();
  await cluster.waitLeader(20000);
  const addrs = cluster.ids.map((i) => cluster.boltAddr(i));
  const auth = neo4j.auth.basic('admin', 'test-password');
  const driver = neo4j.driver(`neo4j://${addrs[0]}`, auth, {
    resolver: () => addrs,
    connectionTimeout: 2000,
    connectionAcquisitionTimeout: OP_TIMEOUT_MS,
    maxTransactionRetryTime: 0,
    logging: { level: 'error', logger: () => {} },
  });

  const t0 = performance.now();
  // "<bolt address>[ R|W]" -> "node-i[ R|W]" (R: READ session, W: WRITE session)
  const nodeName = (a) => {
    if (!a) return undefined;
    const [addr, mode = ''] = a.split(' ');
    const i = cluster.ids.find((j) => addr === cluster.boltAddr(j));
    return `${i ? `node-${i}` : addr}${mode ? ` ${mode}` : ''}`;
  };
  const now = () => Math.round((performance.now() - t0) * 1000); // µs, monotonic
  const history = [];
  const acked = new Set();
  const unknown = new Set();
  const counts = { ok: 0, fail: 0, info: 0 };
  const errors = new Map();
  let stop = false;
  let nextProcess = 0;
  let nextValue = 0;
  let nextAck = 0;

  const client = async (c) => {
    const rnd = (() => { let s = (SEED ^ (c * 2654435761)) >>> 0; return () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; }; })();
    let proc = nextProcess++;
    const deadline = Date.now() + FAULT_MS + 60000;
    while (!stop && Date.now() < deadline) {
      const dice = rnd();
      const key = `r${Math.floor(rnd() * KEYS)}`;
      let kind;
      if (dice < 0.4) kind = 'read'; else if (dice < 0.8) kind = 'write'; else kind = 'append';
      const value = kind === 'write' ? `c${c}-${nextValue++}` : undefined;
      const id = kind === 'append' ? `a${c}-${nextAck++}` : undefined;
      const readMode = kind === 'read' && (!LEADER_READS || rnd() < 0.5);
      const session = driver.session({ defaultAccessMode: readMode ? neo4j.session.READ : neo4j.session.WRITE });
      if (kind !== 'append') history.push({ type: 'invoke', process: proc, f: kind, key, value, time: now() });
      let outcome;
      let result;
      let served;
      try {
        if (kind === 'write') {
          const res = await withTimeout(session.run('MERGE (r:Reg {k: $k}) SET r.v = $v', { k: key, v: value }), OP_TIMEOUT_MS);
          served = res.summary.server?.address;
        } else if (kind === 'read') {
          const res = await withTimeout(session.run('MATCH (r:Reg {k: $k}) RETURN r.v AS v', { k: key }), OP_TIMEOUT_MS);
          if (res.records.length > 1) throw new Error(`read of ${key} returned ${res.records.length} rows`);
          result = res.records.length ? res.records[0].get('v') : null;
          served = `${res.summary.server?.address}${readMode ? ' R' : ' W'}`;
        } else {
          await withTimeout(session.run('CREATE (:Ack {id: $id})', { id }), OP_TIMEOUT_MS);
        }
        outcome = 'ok';
      } catch (e) {
        if (e.message?.startsWith('read of')) throw e;
        outcome = definite(e) ? 'fail' : 'info';
        const tag = e.timeout ? 'client timeout' : (e.code ?? e.message).slice(0, 80);
        errors.set(tag, (errors.get(tag) ?? 0) + 1);
      } finally {
        session.close().catch(() => {});
      }
      counts[outcome]++;
      if (kind === 'append') {
        if (outcome === 'ok') acked.add(id); else if (outcome === 'info') unknown.add(id);
      } else {
        history.push({ type: outcome, process: proc, f: kind, key, value: kind === 'read' ? result : value, time: now(), node: nodeName(served) });
      }
      // A process whose outcome is unknown may still be in flight: go on as a new process.
      if (outcome === 'info') proc = nextProcess++;
      if (outcome !== 'ok') await sleep(20);
    }
  };

  const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
  const schedule = makeSchedule({ seed: SEED, totalMs: FAULT_MS, nodes: 3, electionMs: ELECTION_MS, wipe: WIPE });
  const nemesisLog = [];
  let applied;
  try {
    applied = await runNemesis(cluster, schedule, {
      t0,
      net,
      log: (l) => { nemesisLog.push(l); console.log(l); },
    });
    await sleep(1500); // a quiet tail: the healed cluster serves again
  } finally {
    stop = true;
    await Promise.allSettled(clients);
  }
  await driver.close();
  const clientResults = await Promise.allSettled(clients);
  for (const r of clientResults) if (r.status === 'rejected') throw r.reason;

  const elapsed = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`ops: ${JSON.stringify(counts)} in ${elapsed} s; faults: ${applied.map((f) => `${f.kind}@node-${f.victim}`).join(' ')}`);
  console.log(`client errors: ${JSON.stringify(Object.fromEntries(errors))}`);
  if (proxy) console.log(`proxy: ${JSON.stringify(proxy.stats)}`);
  if (lab) console.log(`netns: ${JSON.stringify(lab.stats)}`);
  const histFile = path.join(os.tmpdir(), `nornicdb-nemesis-${SEED}-${process.pid}-history.json`);
  writeFileSync(histFile, JSON.stringify({ seed: SEED, schedule, nemesisLog, history }, null, 0));
  console.log(`history written to ${histFile}`);

  // Enough happened for the checks to mean something.
  assert.ok(applied.length >= 3, `only ${applied.length} faults applied`);
  if (proxy && applied.some((f) => f.kind === 'cut')) assert.ok(proxy.stats.severed > 0, 'cuts severed no connection');
  assert.ok(acked.size >= 20, `only ${acked.size} appends acknowledged`);
  const okWrites = history.filter((e) => e.type === 'ok' && e.f === 'write').length;
  const okReads = history.filter((e) => e.type === 'ok' && e.f === 'read' && e.value !== null).length;
  assert.ok(okWrites >= 20 && okReads >= 20, `too few successful register operations (${okWrites} writes, ${okReads} non-empty reads)`);

  // Healed: one leader, all three members voters again (a wiped member is
  // removed and re-added as a learner, then promoted), every node applied
  // everything.
  await cluster.waitLeader(30000);
  const wiped = applied.filter((f) => f.kind === 'wipe').length;
  await waitFor('all three members voters', async () => {
    const li = await cluster.waitLeader(5000);
    const st = await cluster.state(li);
    return JSON.stringify([...st.voters].sort()) === JSON.stringify(['node-1', 'node-2', 'node-3']) && st.learners.length === 0;
  }, 60000, 250);
  await cluster.waitConverged(30000);
  if (wiped) console.log(`${wiped} wiped member(s) rejoined as voters`);

  const perNode = [];
  for (const i of cluster.ids) {
    const d = neo4j.driver(`bolt://${cluster.boltAddr(i)}`, auth);
    try {
      const s = d.session({ defaultAccessMode: neo4j.session.READ });
      const res = await s.run('MATCH (a:Ack) RETURN a.id AS id, count(*) AS c');
      const regs = await s.run('MATCH (r:Reg) RETURN r.k AS k, count(*) AS c, collect(r.v) AS v ORDER BY k');
      await s.close();
      const seen = new Map(res.records.map((r) => [r.get('id'), Number(r.get('c'))]));
      for (const [id, c] of seen) assert.equal(c, 1, `node-${i}: Ack ${id} present ${c} times`);
      for (const id of acked) assert.ok(seen.has(id), `node-${i} lacks acknowledged Ack ${id}`);
      for (const id of seen.keys()) assert.ok(acked.has(id) || unknown.has(id), `node-${i} has Ack ${id} that no client wrote successfully or with unknown outcome`);
      for (const r of regs.records) assert.equal(Number(r.get('c')), 1, `node-${i}: register ${r.get('k')} exists ${r.get('c')} times`);
      perNode.push({ ids: [...seen.keys()].sort().join(','), regs: JSON.stringify(regs.records.map((r) => [r.get('k'), r.get('v')])) });
    } finally {
      await d.close();
    }
  }
  for (const p of perNode.slice(1)) {
    assert.equal(p.ids, perNode[0].ids, 'nodes hold different Ack sets');
    assert.equal(p.regs, perNode[0].regs, 'nodes hold different register values');
  }

  const okReadsBy = { R: 0, W: 0 };
  for (const e of history) if (e.type === 'ok' && e.f === 'read') okReadsBy[e.node?.endsWith(' W') ? 'W' : 'R']++;
  console.log(`successful reads: ${okReadsBy.R} in READ sessions (followers), ${okReadsBy.W} in WRITE sessions (leader)`);
  const check = checkHistory(history);
  const summary = Object.entries(check.keys).map(([k, r]) => `${k}: ${r.ops} ops, ${r.explored} states, ${r.valid}`).join('; ');
  console.log(`linearizability: ${check.valid} (${summary})`);
  if (check.valid !== true) {
    for (const k of check.failures) console.log(`witness for ${k}:\n${JSON.stringify(check.keys[k].witness, null, 1)}`);
  }
  assert.equal(check.valid, true, `register history not linearizable (keys ${check.failures.join(', ')}); replay: ${replay}; history: ${histFile}`);
  console.log(`${acked.size} acknowledged appends (+${unknown.size} unknown) verified on 3 nodes; seed ${SEED}`);
});

// Found by the nemesis run (seed 4, first run): with linearizable reads on, a
// read on the LEADER can miss a write that a read on a FOLLOWER, finished
// before it began, already returned. The leader's read waiter is released when
// reported_applied() (raft-module.c) reaches the read index, and on a leader
// that counts entries committed in Raft (MIN(raft applied, commit)) even
// though the store publishes a transaction's index only later, when its worker
// thread wakes from the commit callback (core/transaction.c nc_db_publish); the
// read's snapshot (store->visible) is then below the read index. Followers
// publish when they apply, so they can be ahead of the leader for that window.
// Fixed: the leader releases a read only once the read index is published
// to readers (raft-module.c `published`); this test failed 3 of 3 runs before.
test('a linearizable leader read never returns less than a follower read that finished before it', {
  timeout: 60000,
}, async () => {
  const c = new RaftCluster({ prefix: '127.0.0.8', n: 3, clusterId: 'nemesis-stale', env: { NORNICDB_CLUSTER_RAFT_LINEARIZABLE_READS: 'true' } });
  const auth = neo4j.auth.basic('admin', 'test-password');
  const drivers = [];
  let stop = false;
  let writers = [];
  try {
    await c.startAll();
    const leader = await c.waitLeader(20000);
    const follower = c.ids.find((i) => i !== leader);
    const dl = neo4j.driver(`bolt://127.0.0.1:${c.ports.get(leader).bolt}`, auth);
    const df = neo4j.driver(`bolt://127.0.0.1:${c.ports.get(follower).bolt}`, auth);
    drivers.push(dl, df);
    // Six sequential writers, each counting up its own register.
    const writer = async (w) => {
      for (let n = 1; !stop && n < 1e6; n++) {
        const s = dl.session();
        try { await s.run('MERGE (r:Seq {k: $k}) SET r.n = $n', { k: `w${w}`, n: neo4j.int(n) }); } catch { await sleep(10); } finally { await s.close(); }
      }
    };
    writers = [0, 1, 2, 3, 4, 5].map(writer);
    const read = async (d) => {
      const s = d.session({ defaultAccessMode: neo4j.session.READ });
      try {
        const r = await s.run('MATCH (r:Seq {k: "w0"}) RETURN r.n AS n');
        return r.records.length ? r.records[0].get('n').toNumber() : 0;
      } finally { await s.close(); }
    };
    let checks = 0;
    const stale = [];
    const end = Date.now() + 12000;
    while (Date.now() < end && checks < 20000) {
      const f = await read(df);   // finishes before the leader read starts
      const l = await read(dl);
      checks++;
      if (l < f) stale.push({ follower: f, leaderAfter: l });
    }
    console.log(`leader-after-follower reads: ${checks} checks, ${stale.length} stale ${JSON.stringify(stale.slice(0, 5))}`);
    assert.equal(stale.length, 0, `${stale.length} of ${checks} leader reads returned less than the follower read before them`);
  } finally {
    stop = true;
    await Promise.allSettled(writers);
    for (const d of drivers) await d.close();
    await c.stopAll();
  }
});
