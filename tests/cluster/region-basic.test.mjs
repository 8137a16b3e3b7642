// multi_region.so with real daemons (docs/multi-region.md): two regions of
// three nodes each, us-east on 127.0.0.31-33 and eu-west on 127.0.0.41-43
// (cluster port 7688 as in the clustering guide), each its own Raft cluster
// with its own cluster id, and the guide's region variables. Checked in
// order: the initial primary (eu-west, the id that sorts first) ships its
// writes to us-east; a bolt:// write sent to a us-east node is forwarded to
// the primary's leader; POST /admin/region/promote moves the primary to
// us-east and back, and writes in the new primary reach the other region;
// a region outage and catch-up; failover with the old primary's unshipped
// writes converging under last_write_wins; read consistency levels; a link
// cut (SIGSTOP of a whole region) and heal.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { http, cypher, waitFor } from './raft-lib.mjs';
import { twoRegions, waitEverywhere as waitEverywhereIn, waitPrimary as waitPrimaryIn } from './region-lib.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');
const auth = neo4j.auth.basic('admin', 'test-password');

const [east, west] = twoRegions();
const waitEverywhere = (label, n, timeoutMs) => waitEverywhereIn([east, west], label, n, timeoutMs);
const waitPrimary = (region, timeoutMs) => waitPrimaryIn([east, west], region, timeoutMs);

let eastLeader;
let westLeader;

before(async () => {
  // One region after the other: concurrent freePort() calls can hand out the same port.
  await east.startAll();
  await west.startAll();
});
after(async () => {
  // NORNICDB_REGION_LOGS=dir keeps every node's output for debugging.
  if (process.env.NORNICDB_REGION_LOGS) {
    const { writeFileSync } = await import('node:fs');
    for (const c of [east, west]) {
      for (const i of c.ids) writeFileSync(`${process.env.NORNICDB_REGION_LOGS}/${c.id(i)}.log`, c.node(i)?.output() ?? '');
    }
  }
  await Promise.all([east.stopAll(), west.stopAll()]);
});

describe('multi_region: two regions of three nodes', () => {
  test('each region elects a leader; eu-west (sorts first) becomes the primary region', async () => {
    [eastLeader, westLeader] = await Promise.all([east.waitLeader(), west.waitLeader()]);
    await waitPrimary('eu-west');
    const r = await west.regions(westLeader);
    console.log('eu-west leader regions block:', JSON.stringify(r));
    const h = await http(east.node(eastLeader), '/health');
    assert.equal(h.body.replication?.mode ?? h.body.mode ?? 'multi_region', 'multi_region');
  });

  test('a write in the primary region appears on every node of the other region', async () => {
    await cypher(west.node(westLeader), 'CREATE (:FromWest {n: 1})');
    await waitEverywhere('FromWest', 1);
  });

  test('the secondary region refuses direct writes on its leader and names the primary\'s leader', async () => {
    await assert.rejects(cypher(east.node(eastLeader), 'CREATE (:Refused)'), (e) => /NotALeader|not the primary|leader/i.test(e.message));
  });

  test('a bolt:// write sent to a secondary-region node is forwarded to the primary region', async () => {
    const fi = eastLeader === 1 ? 2 : 1;
    const driver = neo4j.driver(`bolt://127.0.0.1:${east.ports.get(fi).bolt}`, auth);
    try {
      await waitFor('forwarded write', async () => {
        const s = driver.session();
        try {
          await s.run('CREATE (:Forwarded {via: $via})', { via: east.id(fi) });
          return true;
        } finally {
          await s.close();
        }
      }, 20000, 500);
    } finally {
      await driver.close();
    }
    await waitEverywhere('Forwarded', 1);
  });

  test('POST /admin/region/promote on us-east makes it primary; its writes reach eu-west', async () => {
    // The region's leader promotes; a follower forwards the request to it
    // (RegionAdmin) and returns its answer.
    const res = await http(east.node(eastLeader === 1 ? 2 : 1), '/admin/region/promote', { method: 'POST', body: {} });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.region, 'us-east');
    await waitPrimary('us-east');
    await waitFor('us-east leader accepts writes', async () => {
      await cypher(east.node(eastLeader), 'CREATE (:FromEast {n: 1})');
      return true;
    }, 20000, 300);
    await waitEverywhere('FromEast', 1);
    await assert.rejects(cypher(west.node(westLeader), 'CREATE (:Refused)'));
  });

  test('POST /admin/region/promote on eu-west makes it primary again; writes there reach us-east', async () => {
    const res = await http(west.node(westLeader), '/admin/region/promote', { method: 'POST', body: {} });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitPrimary('eu-west');
    await waitFor('eu-west leader accepts writes', async () => {
      await cypher(west.node(westLeader), 'CREATE (:FromWestAgain {n: 1})');
      return true;
    }, 20000, 300);
    await waitEverywhere('FromWestAgain', 1);
    // Nothing was applied twice anywhere.
    await waitEverywhere('FromWest', 1);
    await waitEverywhere('FromEast', 1);
    const m = await fetch(west.node(westLeader).httpUrl + '/metrics', {
      headers: { Authorization: 'Basic ' + Buffer.from('admin:test-password').toString('base64') },
    }).then((r) => r.text());
    assert.match(m, /nornicdb_region_epoch 3/);
    assert.match(m, /nornicdb_region_is_primary 1/);
  });

  test('us-east down while eu-west writes: the writes wait (lag) and are shipped once us-east is back', async () => {
    for (const i of east.ids) await east.stop(i);
    for (let k = 0; k < 20; k++) await cypher(west.node(westLeader), 'CREATE (:DuringOutage {k: $k})', { k });
    const m = await fetch(west.node(westLeader).httpUrl + '/metrics', {
      headers: { Authorization: 'Basic ' + Buffer.from('admin:test-password').toString('base64') },
    }).then((r) => r.text());
    const lag = Number(/nornicdb_region_lag_entries\{region="us-east"\} (\d+)/.exec(m)?.[1]);
    assert.ok(lag >= 20, `lag toward us-east while it is down: ${lag}`);
    for (const i of east.ids) await east.start(i);
    eastLeader = await east.waitLeader();
    await waitEverywhere('DuringOutage', 20, 30000);
  });

  test('old primary returns with unshipped writes; last_write_wins converges both regions and records the conflict', async () => {
    await cypher(west.node(westLeader), "CREATE (:Doc {k: 1, v: 'initial'})");
    await waitEverywhere('Doc', 1);
    // eu-west (primary) writes while us-east is down, then goes down itself
    // before it could ship them.
    for (const i of east.ids) await east.stop(i);
    await cypher(west.node(westLeader), "MATCH (d:Doc) SET d.v = 'west'");
    await cypher(west.node(westLeader), 'CREATE (:WestOnly)');
    for (const i of west.ids) await west.stop(i);
    // us-east comes back alone and is promoted; its later write conflicts.
    for (const i of east.ids) await east.start(i);
    eastLeader = await east.waitLeader();
    await waitFor('promotion of us-east', async () => {
      const r = await http(east.node(eastLeader), '/admin/region/promote', { method: 'POST', body: {} });
      return r.status === 200;
    }, 20000, 300);
    await waitFor('us-east accepts writes', async () => {
      await cypher(east.node(eastLeader), "MATCH (d:Doc) SET d.v = 'east'");
      return true;
    }, 20000, 300);
    // The old primary returns, learns the newer epoch and reconciles.
    for (const i of west.ids) await west.start(i);
    westLeader = await west.waitLeader();
    await waitPrimary('us-east', 30000);
    await waitEverywhere('WestOnly', 1, 30000);
    for (const c of [east, west]) {
      for (const i of c.ids) {
        await waitFor(`Doc.v converged on ${c.id(i)}`, async () => {
          const rows = await cypher(c.node(i), 'MATCH (d:Doc) RETURN d.v AS v');
          return rows.length === 1 && rows[0].v === 'east';
        }, 30000);
      }
    }
    for (const [c, i] of [[east, eastLeader], [west, westLeader]]) {
      const r = await http(c.node(i), '/admin/region/conflicts');
      assert.equal(r.status, 200);
      const cs = r.body.filter((x) => x.key === 'v');
      assert.equal(cs.length, 1, `${c.region}: ${JSON.stringify(r.body)}`);
      assert.equal(cs[0].status, 'resolved');
      assert.equal(cs[0].strategy, 'last_write_wins');
    }
    await assert.rejects(cypher(west.node(westLeader), 'CREATE (:Refused)'));
  });

  test('read consistency levels from the Bolt transaction metadata', async () => {
    const read = async (c, i, consistency) => {
      const driver = neo4j.driver(`bolt://127.0.0.1:${c.ports.get(i).bolt}`, auth);
      try {
        const s = driver.session({ defaultAccessMode: neo4j.session.READ });
        try {
          const r = await s.run('MATCH (d:Doc) RETURN d.v AS v', {}, { metadata: { consistency } });
          return r.records.map((x) => x.get('v'));
        } finally {
          await s.close();
        }
      } finally {
        await driver.close();
      }
    };
    const wf = westLeader === 1 ? 2 : 1;
    assert.deepEqual(await read(west, wf, 'LOCAL_ONE'), ['east']);
    assert.deepEqual(await read(west, wf, 'LOCAL_QUORUM'), ['east']);
    assert.deepEqual(await read(east, eastLeader, 'QUORUM'), ['east']);
    // QUORUM outside the primary region is refused with NotALeader, which the
    // Bolt layer answers by forwarding the transaction to the named writer
    // (the primary region's leader, through this region's leader).
    assert.deepEqual(await read(west, wf, 'QUORUM'), ['east']);
    // ALL: forwarded to the primary's leader, served once every region
    // committed its log up to the read (region-sync tests the refusal).
    assert.deepEqual(await read(west, wf, 'ALL'), ['east']);
    assert.deepEqual(await read(east, eastLeader, 'ALL'), ['east']);
    await assert.rejects(read(west, wf, 'SOMETIMES'), (e) => e.code === 'Neo.ClientError.Statement.ArgumentError');
  });

  test('link cut while both regions run (eu-west frozen with SIGSTOP), then healed: nothing lost or doubled', async () => {
    // us-east is primary now (previous test). Freezing every eu-west process
    // silences the link without closing it; the transport drops it after its
    // dead-peer timeout and the shipper's unacknowledged batch times out.
    const pids = west.ids.map((i) => west.node(i).pid);
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      for (let k = 0; k < 10; k++) await cypher(east.node(eastLeader), 'CREATE (:DuringCut {k: $k})', { k });
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    westLeader = await west.waitLeader();
    await waitEverywhere('DuringCut', 10, 30000);
    await cypher(east.node(eastLeader), 'CREATE (:AfterHeal)');
    await waitEverywhere('AfterHeal', 1, 30000);
    await waitEverywhere('DuringCut', 10);
  });
});
