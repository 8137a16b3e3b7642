// multi_region.so fault tests with real daemons (issue #8, Tests):
//  1. "Cut the link between regions under write load, heal it: the secondary
//     catches up with nothing lost or duplicated." Only the inter-region link
//     is cut (every process keeps running; Raft inside each region is
//     untouched), in both directions, by blackholing proxies.
//  2. "A leader change inside a region while shipping is in progress loses
//     and duplicates nothing": kill -9 of the primary region's leader while
//     its shipper has unacknowledged entries in flight, then a leadership
//     transfer and a kill -9 in the receiving region, each while entries
//     are in flight; killed nodes are restarted and checked too.
//
// Layout: us-east on 127.0.0.37-39, eu-west on 127.0.0.47-49 (cluster port
// 7688); eu-west sorts first and is the primary region. Each region's
// NORNICDB_CLUSTER_REMOTE_REGIONS names a "front door" proxy of the other
// region (127.0.0.37:7699 for us-east, 127.0.0.47:7699 for eu-west) that
// forwards to that region's current leader, so the shipper is never
// redirected around it (a redirect names the leader's own cluster address).
// The proxy can cut (accept and swallow, forward nothing, both directions;
// heal resets the connections that lived through the cut, as a router
// reboot would) and delay (every chunk held `delayMs`, in order).
//
// Checks: a single writer with unique ids (never retried under the same id)
// at the primary region's leader, bounded by count and time. A write whose
// request succeeded is "acknowledged"; one that failed is "uncertain" (it
// may have committed). At the end, on all six nodes: every acknowledged id
// exactly once, no id twice, nothing that was not written, and the same set
// everywhere.
//
// NORNICDB_REGION_LOGS=dir keeps every node's output.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { http, cypher, waitFor, sleep } from './raft-lib.mjs';
import { RegionCluster, waitPrimary } from './region-lib.mjs';

const east = new RegionCluster({ region: 'us-east', prefix: '127.0.0.', hostOffset: 36, remote: 'eu-west:127.0.0.47:7699' });
const west = new RegionCluster({ region: 'eu-west', prefix: '127.0.0.', hostOffset: 46, remote: 'us-east:127.0.0.37:7699' });
const both = [east, west];
const leader = { east: null, west: null };
const killedOutput = [];

/** A TCP proxy on host:port forwarding to `target()` ("host:port" or null), with cut/heal and delay. */
function frontDoor(host, port, target) {
  const pairs = new Set();
  let cut = false;
  let delayMs = 0;
  const server = net.createServer((client) => {
    client.on('error', () => {});
    if (cut) {
      // Accept and swallow: a cut link times out, it does not refuse.
      client.on('data', () => {});
      pairs.add([client]);
      return;
    }
    const to = target();
    if (!to) { client.destroy(); return; }
    const k = to.lastIndexOf(':');
    const upstream = net.connect(Number(to.slice(k + 1)), to.slice(0, k));
    upstream.on('error', () => {});
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair = [client, upstream];
    pairs.add(pair);
    const pipe = (from, into) => {
      // One queue per direction, drained in order: a delay change never reorders bytes.
      const queue = [];
      let timer = null;
      const drain = () => {
        timer = null;
        while (queue.length && queue[0].due <= Date.now()) {
          const { chunk } = queue.shift();
          if (!cut && !into.destroyed) into.write(chunk);
        }
        if (queue.length) timer = setTimeout(drain, queue[0].due - Date.now());
      };
      from.on('data', (chunk) => {
        if (cut) return;
        queue.push({ chunk, due: Date.now() + delayMs });
        if (!timer) timer = setTimeout(drain, queue[0].due - Date.now());
      });
    };
    pipe(client, upstream);
    pipe(upstream, client);
    const end = () => { client.destroy(); upstream.destroy(); pairs.delete(pair); };
    client.on('close', end);
    upstream.on('close', end);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({
      cut() { cut = true; },
      heal() {
        cut = false;
        for (const p of pairs) for (const s of p) s.destroy();
        pairs.clear();
      },
      delay(ms) { delayMs = ms; },
      close() {
        for (const p of pairs) for (const s of p) s.destroy();
        pairs.clear();
        return new Promise((r) => server.close(() => r()));
      },
    }));
  });
}

let eastDoor;
let westDoor;

/** One writer at `target()` (a server handle or null): unique ids, bounded by count and time. */
class Load {
  constructor(label, target, { max = 1500, seconds = 40, pauseMs = 15 } = {}) {
    Object.assign(this, { label, target, max, seconds, pauseMs });
    this.acked = new Set();
    this.uncertain = new Set();
    this.errors = [];
    this.stopped = false;
    this.done = this.run();
  }

  async run() {
    const deadline = Date.now() + this.seconds * 1000;
    for (let k = 0; k < this.max && !this.stopped && Date.now() < deadline; k++) {
      const node = this.target();
      if (!node) { await sleep(50); continue; }
      const id = `${this.label}-${k}`;
      try {
        await cypher(node, `CREATE (:${this.label} {id: $id})`, { id });
        this.acked.add(id);
      } catch (e) {
        this.uncertain.add(id);
        this.errors.push(`${id}: ${e.message.slice(0, 160)}`);
        await sleep(100);
      }
      await sleep(this.pauseMs);
    }
  }

  async stop() {
    this.stopped = true;
    await this.done;
    return this;
  }
}

async function remote(c, i) {
  const r = (await http(c.node(i), '/admin/cluster/status')).body.regions;
  return r.remote_regions[0];
}

async function ids(c, i, label) {
  const rows = await cypher(c.node(i), `MATCH (n:${label}) RETURN n.id AS id`);
  return rows.map((r) => r.id);
}

/** Waits until the primary's leader has nothing unacknowledged and all six nodes hold the same count. */
async function waitConverged(label, timeoutMs = 30000) {
  await waitFor(`${label}: us-east caught up`, async () => (await remote(west, leader.west)).lag_entries === 0, timeoutMs, 200);
  let counts;
  try {
    await waitFor(`${label}: the same count on all six nodes`, async () => {
      counts = [];
      for (const c of both) {
        for (const i of c.ids) counts.push((await cypher(c.node(i), `MATCH (n:${label}) RETURN count(n) AS c`))[0].c);
      }
      return counts.every((n) => n === counts[0]);
    }, timeoutMs, 200);
  } catch (e) {
    throw new Error(`${e.message} (counts ${JSON.stringify(counts)})`);
  }
}

/** Every acknowledged write exactly once on all six nodes, nothing unwritten, the same set everywhere. */
async function assertExactlyOnce(label, load) {
  await waitConverged(label);
  let reference;
  for (const c of both) {
    for (const i of c.ids) {
      const got = await ids(c, i, label);
      const seen = new Map();
      for (const id of got) seen.set(id, (seen.get(id) ?? 0) + 1);
      const doubled = [...seen].filter(([, n]) => n > 1).map(([id, n]) => `${id} x${n}`);
      const lost = [...load.acked].filter((id) => !seen.has(id));
      const foreign = [...seen.keys()].filter((id) => !load.acked.has(id) && !load.uncertain.has(id));
      const where = `${label} on ${c.id(i)}`;
      assert.deepEqual(doubled, [], `${where}: duplicated`);
      assert.deepEqual(lost, [], `${where}: acknowledged writes lost`);
      assert.deepEqual(foreign, [], `${where}: ids nobody wrote`);
      const set = [...seen.keys()].sort();
      if (reference === undefined) reference = set;
      else assert.deepEqual(set, reference, `${where}: not the same set as ${both[0].id(1)}`);
    }
  }
  return reference.length;
}

async function primaryLeader(among) {
  leader.west = await west.waitLeader(20000, among);
  return leader.west;
}

before(async () => {
  eastDoor = await frontDoor('127.0.0.37', 7699, () => (leader.east ? east.addr(leader.east) : null));
  westDoor = await frontDoor('127.0.0.47', 7699, () => (leader.west ? west.addr(leader.west) : null));
  // One region after the other: concurrent freePort() calls can hand out the same port.
  await east.startAll();
  await west.startAll();
  [leader.east, leader.west] = await Promise.all([east.waitLeader(), west.waitLeader()]);
  await waitPrimary(both, 'eu-west');
});

after(async () => {
  if (process.env.NORNICDB_REGION_LOGS) {
    const { writeFileSync } = await import('node:fs');
    for (const c of both) {
      for (const i of c.ids) writeFileSync(`${process.env.NORNICDB_REGION_LOGS}/faults-${c.id(i)}.log`, c.node(i)?.output() ?? '');
    }
    killedOutput.forEach(([name, out], k) => writeFileSync(`${process.env.NORNICDB_REGION_LOGS}/faults-killed-${k}-${name}.log`, out));
  }
  await Promise.all([east.stopAll(), west.stopAll()]);
  await eastDoor?.close();
  await westDoor?.close();
});

async function kill(c, i) {
  killedOutput.push([c.id(i), c.node(i).output()]);
  await c.kill(i);
}

describe('multi_region faults: inter-region link cut, leader changes while shipping', () => {
  test('link cut between regions under write load, healed: us-east catches up, nothing lost or duplicated', async () => {
    const load = new Load('Cut', () => west.node(leader.west));
    await waitFor('shipping flows before the cut', async () => {
      const r = await remote(west, leader.west);
      return load.acked.size >= 20 && r.acknowledged_index > 0;
    }, 15000, 100);
    eastDoor.cut();
    westDoor.cut();
    const ackedAtCut = load.acked.size;
    let lag;
    try {
      // What had crossed before the cut is committed in us-east within a
      // second; after that nothing crosses: the link is really cut.
      await sleep(1000);
      const eastEarly = (await ids(east, leader.east, 'Cut')).length;
      await sleep(2000);
      lag = await remote(west, leader.west);
      const eastLate = (await ids(east, leader.east, 'Cut')).length;
      assert.equal(eastLate, eastEarly, 'nothing reaches us-east while the link is cut');
    } finally {
      eastDoor.heal();
      westDoor.heal();
    }
    const duringCut = load.acked.size - ackedAtCut;
    console.log(`cut: ${duringCut} writes acknowledged during the 3 s cut; lag at heal ${JSON.stringify(lag)}`);
    assert.ok(duringCut >= 10, `the primary kept taking writes during the cut (${duringCut})`);
    assert.ok(lag.lag_entries >= duringCut / 2, `lag grew during the cut: ${lag.lag_entries} entries`);
    assert.ok(lag.lag_seconds >= 1, `lag grew during the cut: ${lag.lag_seconds} s`);
    await sleep(1500);
    await load.stop();
    const n = await assertExactlyOnce('Cut', load);
    console.log(`cut: ${load.acked.size} acknowledged, ${load.uncertain.size} uncertain, ${n} on every node`);
  });

  test('leader changes while shipping is in flight (kill -9 in the primary, transfer and kill -9 in the receiver): nothing lost or duplicated', async () => {
    // A slow link keeps entries in flight: lag > 0 whenever the writer runs.
    eastDoor.delay(150);
    westDoor.delay(150);
    const load = new Load('Kill', () => (leader.west ? west.node(leader.west) : null));
    const timeline = [];
    // Shipping is in progress: the primary's leader has acknowledged more
    // than before the previous fault (the link carries entries again) and
    // still has unacknowledged ones.
    let ackedBefore = (await remote(west, leader.west)).acknowledged_index;
    let since = Date.now();
    const inFlight = async (what) => {
      const r = await waitFor(`entries in flight before ${what}`, async () => {
        const x = await remote(west, leader.west);
        return x.lag_entries > 0 && x.acknowledged_index > ackedBefore ? x : null;
      }, 20000, 20);
      timeline.push(`${what} after ${Date.now() - since} ms: lag ${r.lag_entries} entries, acked ${r.acknowledged_index}, ` +
        `${load.acked.size} writes acknowledged`);
      ackedBefore = r.acknowledged_index;
      return r;
    };

    // Phase 1: kill -9 the primary region's leader (the shipper).
    await inFlight('kill -9 of the eu-west leader');
    const killedWest = leader.west;
    leader.west = null;
    await kill(west, killedWest);
    await primaryLeader(west.ids.filter((i) => i !== killedWest));
    timeline.push(`eu-west-${killedWest} killed; new eu-west leader eu-west-${leader.west}`);
    since = Date.now();

    // Phase 2: transfer leadership in the receiving region.
    await inFlight('transfer in us-east');
    const oldEast = leader.east;
    const res = await http(east.node(oldEast), '/admin/raft/transfer-leadership', { method: 'POST', body: {} });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    leader.east = await waitFor('a new us-east leader', async () => {
      const li = await east.waitLeader(3000);
      return li !== oldEast ? li : null;
    }, 20000, 100);
    timeline.push(`us-east leadership transferred: us-east-${oldEast} -> us-east-${leader.east}`);
    since = Date.now();

    // Phase 3: kill -9 the receiving region's leader.
    await inFlight('kill -9 of the us-east leader');
    const killedEast = leader.east;
    leader.east = null;
    await kill(east, killedEast);
    leader.east = await east.waitLeader(20000, east.ids.filter((i) => i !== killedEast));
    timeline.push(`us-east-${killedEast} killed; new us-east leader us-east-${leader.east}`);
    since = Date.now();
    // Shipping resumes toward the new us-east leader before the load stops.
    await inFlight('the end of the load');
    await sleep(1000);
    await load.stop();
    eastDoor.delay(0);
    westDoor.delay(0);
    await west.start(killedWest);
    await east.start(killedEast);
    console.log(`leader changes: ${timeline.join('; ')}`);
    console.log(`leader changes: ${load.acked.size} acknowledged, ${load.uncertain.size} uncertain (${load.errors.slice(0, 3).join(' | ')})`);
    assert.ok(load.acked.size >= 40, `writes acknowledged across the leader changes (${load.acked.size})`);
    const n = await assertExactlyOnce('Kill', load);
    console.log(`leader changes: ${n} on every node, restarted eu-west-${killedWest} and us-east-${killedEast} included`);
  });
});
