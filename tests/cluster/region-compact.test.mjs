// multi_region.so, real daemons (two regions of three nodes, us-east on
// 127.0.0.31-33, eu-west on 127.0.0.41-43): the region state (versions,
// positions, conflict records, epoch) survives log compaction. Snapshots
// are taken every 8 entries and the WAL keeps only 4 entries behind them,
// so the entries that produced a conflict are compacted away; the conflict
// must still be listed after every node restarts, a follower that lost its
// data gets it with the leader's snapshot, and the operator can still
// resolve it everywhere. Then a region that was away while the other one
// wrote past its compacted log is caught up from a snapshot, and shipping
// resumes after it: all six nodes hold exactly the same nodes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { http, cypher, waitFor } from './raft-lib.mjs';
import { failoverConflict, twoRegions, waitDocValue, waitEverywhere, waitPrimary } from './region-lib.mjs';

const [east, west] = twoRegions('manual');
const both = [east, west];
for (const c of both) {
  Object.assign(c.env, {
    NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD: '8',
    NORNICDB_CLUSTER_RAFT_TRAILING_LOGS: '4',
    NORNICDB_SNAPSHOT_KEEP: '1',
    // Small WAL segments: compaction removes whole segments only.
    NORNICDB_WAL_SEGMENT_SIZE: '4KiB',
  });
}

const waitValue = (v, timeoutMs) => waitDocValue(both, v, timeoutMs);

async function conflictOn(c, i, status) {
  return waitFor(`${status} conflict listed on ${c.id(i)}`, async () => {
    const res = await http(c.node(i), '/admin/region/conflicts');
    const cs = Array.isArray(res.body) ? res.body.filter((x) => x.key === 'v') : [];
    return cs.length === 1 && cs[0].status === status ? cs[0] : null;
  }, 20000);
}

before(async () => {
  await east.startAll();
  await west.startAll();
});
after(async () => {
  // NORNICDB_REGION_LOGS=dir keeps every node's output for debugging.
  if (process.env.NORNICDB_REGION_LOGS) {
    const { writeFileSync } = await import('node:fs');
    for (const c of both) {
      for (const i of c.ids) writeFileSync(`${process.env.NORNICDB_REGION_LOGS}/${c.id(i)}.log`, c.node(i)?.output() ?? '');
    }
  }
  await Promise.all([east.stopAll(), west.stopAll()]);
});

describe('multi_region: region state across snapshots', () => {
  test('a conflict survives compaction, a full restart and a wiped follower, and is still resolvable', async () => {
    // eu-west's unshipped write meets us-east's after the failover
    let { eastLeader, westLeader } = await failoverConflict(east, west);
    const id = (await conflictOn(east, eastLeader, 'open')).id;
    assert.equal((await conflictOn(west, westLeader, 'open')).id, id);

    // Enough writes for several snapshots in both regions: the conflict's
    // entries leave every log.
    const marks = {};
    for (const c of both) {
      for (const i of c.ids) marks[c.id(i)] = (await c.state(i)).commit_index;
    }
    for (let k = 0; k < 30; k++) await cypher(east.node(eastLeader), 'CREATE (:Filler {k: $k})', { k });
    await waitEverywhere(both, 'Filler', 30);
    for (const c of both) {
      for (const i of c.ids) {
        await waitFor(`${c.id(i)} to compact past the conflict`, async () => {
          const s = await c.state(i);
          return s.snapshot_index > marks[c.id(i)] && s.first_index > marks[c.id(i)];
        }, 20000);
      }
    }

    // Every node restarts from its snapshot: the conflict is still listed,
    // still open, with the same id, on all six.
    for (const c of both) for (const i of c.ids) await c.stop(i);
    for (const c of both) for (const i of c.ids) await c.start(i);
    [eastLeader, westLeader] = await Promise.all([east.waitLeader(), west.waitLeader()]);
    for (const c of both) {
      for (const i of c.ids) assert.equal((await conflictOn(c, i, 'open')).id, id, `same conflict on ${c.id(i)}`);
    }

    // A follower of eu-west loses its data and comes back: it installs the
    // leader's snapshot and receives the region state with it.
    const wiped = west.ids.find((i) => i !== westLeader);
    await west.stop(wiped);
    await west.start(wiped, { fresh: true, bootstrap: false });
    await waitFor(`${west.id(wiped)} restored`, async () => (await cypher(west.node(wiped), 'MATCH (f:Filler) RETURN count(f) AS c'))[0].c === 30, 30000);
    assert.equal((await conflictOn(west, wiped, 'open')).id, id);

    // The operator resolves it after all that; every node converges and
    // marks it resolved.
    const res = await http(east.node(eastLeader), '/admin/region/conflicts/resolve',
      { method: 'POST', body: { id, choice: 'rejected' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitValue('west');
    for (const c of both) for (const i of c.ids) await conflictOn(c, i, 'resolved');
  });

  test('a region behind the compacted log is caught up from a snapshot, then the stream resumes', async () => {
    const eastLeader = await east.waitLeader();
    const westLeader = await west.waitLeader();
    await waitPrimary(both, 'us-east');
    // What eu-west has of us-east's log, in its own view (us-east's shipper
    // position can be older, e.g. after a leader change).
    const have = (await west.regions(westLeader)).remote_regions[0].applied_from_it;
    const before = (await east.regions(eastLeader)).remote_regions[0];
    for (const i of west.ids) await west.stop(i);
    const L = east.node(eastLeader);
    for (let k = 0; k < 20; k++) await cypher(L, 'CREATE (:Catch {k: $k, v: 0})', { k });
    await cypher(L, 'MATCH (c:Catch) WHERE c.k < 5 SET c.v = 1');
    await cypher(L, 'MATCH (c:Catch) WHERE c.k >= 15 DETACH DELETE c');
    await cypher(L, 'MATCH (f:Filler) WHERE f.k < 10 DETACH DELETE f');
    await cypher(L, 'MATCH (c:Catch {k: 0}) SET c:Marked REMOVE c.v');
    // Compaction removes whole WAL segments (4 KiB, a few dozen entries) and
    // keeps 4 trailing entries: write until the log starts well past it.
    for (let k = 0; k < 100 && (await east.state(eastLeader)).first_index <= have + 40; k++) {
      await cypher(L, 'CREATE (:Pad {k: $k})', { k });
    }
    await waitFor('us-east to compact past what eu-west has', async () =>
      (await east.state(eastLeader)).first_index > have + 40, 20000);

    for (const i of west.ids) await west.start(i);
    await west.waitLeader();
    const all = both.flatMap((c) => c.ids.map((i) => [c, i]));
    const dump = async (c, i) => JSON.stringify(await cypher(c.node(i),
      'MATCH (n) RETURN id(n) AS id, labels(n) AS l, properties(n) AS p ORDER BY id(n)'));
    const same = async () => {
      const ds = await Promise.all(all.map(([c, i]) => dump(c, i)));
      return ds.every((d) => d === ds[0]) ? ds[0] : null;
    };
    const d = JSON.parse(await waitFor('all six nodes identical', same, 40000, 300));
    const catchRows = d.filter((r) => r.l.includes('Catch'));
    assert.deepEqual(catchRows.map((r) => r.p.k).sort((a, b) => a - b), [...Array(15).keys()]);
    assert.deepEqual(catchRows.find((r) => r.p.k === 0).l.sort(), ['Catch', 'Marked']);
    assert.equal(catchRows.find((r) => r.p.k === 0).p.v, undefined);
    assert.equal(catchRows.filter((r) => r.p.v === 1).length, 4);
    assert.equal(d.filter((r) => r.l.includes('Filler')).length, 20);
    const after = (await east.regions(eastLeader)).remote_regions[0];
    assert.ok(after.catchup_snapshots_sent > before.catchup_snapshots_sent, JSON.stringify(after));

    // The stream resumes after the snapshot.
    await cypher(L, 'CREATE (:AfterCatchUp)');
    await waitEverywhere(both, 'AfterCatchUp', 1);
    await waitFor('all six nodes identical again', same, 20000, 300);
  });
});
