// multi_region.so, real daemons (two regions of three nodes, us-east on
// 127.0.0.31-33, eu-west on 127.0.0.41-43): the region state (versions,
// positions, conflict records, epoch) survives log compaction. Snapshots
// are taken every 8 entries and the WAL keeps only 4 entries behind them,
// so the entries that produced a conflict are compacted away; the conflict
// must still be listed after every node restarts, a follower that lost its
// data gets it with the leader's snapshot, and the operator can still
// resolve it everywhere.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { http, cypher, waitFor } from './raft-lib.mjs';
import { twoRegions, waitEverywhere, waitPrimary } from './region-lib.mjs';

const [east, west] = twoRegions('manual');
const both = [east, west];
for (const c of both) {
  Object.assign(c.env, {
    NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD: '8',
    NORNICDB_CLUSTER_RAFT_TRAILING_LOGS: '4',
    NORNICDB_SNAPSHOT_KEEP: '1',
  });
}

async function waitValue(v, timeoutMs = 30000) {
  for (const c of both) {
    for (const i of c.ids) {
      await waitFor(`Doc.v = ${v} on ${c.id(i)}`, async () => {
        const rows = await cypher(c.node(i), 'MATCH (d:Doc) RETURN d.v AS v');
        return rows.length === 1 && rows[0].v === v;
      }, timeoutMs);
    }
  }
}

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
  await Promise.all([east.stopAll(), west.stopAll()]);
});

describe('multi_region: region state across snapshots', () => {
  test('a conflict survives compaction, a full restart and a wiped follower, and is still resolvable', async () => {
    let [eastLeader, westLeader] = await Promise.all([east.waitLeader(), west.waitLeader()]);
    await waitPrimary(both, 'eu-west');
    await cypher(west.node(westLeader), "CREATE (:Doc {v: 'initial'})");
    await waitEverywhere(both, 'Doc', 1);

    // The failover of region-manual: an open conflict in both regions.
    for (const i of east.ids) await east.stop(i);
    await cypher(west.node(westLeader), "MATCH (d:Doc) SET d.v = 'west'");
    for (const i of west.ids) await west.stop(i);
    for (const i of east.ids) await east.start(i);
    eastLeader = await east.waitLeader();
    await waitFor('promotion of us-east', async () =>
      (await http(east.node(eastLeader), '/admin/region/promote', { method: 'POST', body: {} })).status === 200, 20000, 300);
    await waitFor('us-east accepts writes', async () => {
      await cypher(east.node(eastLeader), "MATCH (d:Doc) SET d.v = 'east'");
      return true;
    }, 20000, 300);
    for (const i of west.ids) await west.start(i);
    westLeader = await west.waitLeader();
    await waitPrimary(both, 'us-east', 30000);
    await waitValue('east');
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
});
