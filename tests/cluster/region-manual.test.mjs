// multi_region.so, conflict strategy `manual`, real daemons (two regions of
// three nodes as in region-basic): a failover leaves the old primary's
// unshipped write concurrent with the new primary's; both regions keep the
// new primary's value and list the same open conflict; the operator resolves
// it with POST /admin/region/conflicts/resolve on the primary's leader, and
// the chosen value reaches every node of both regions.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { http, cypher, waitFor } from './raft-lib.mjs';
import { failoverConflict, twoRegions, waitDocValue, waitEverywhere, waitPrimary } from './region-lib.mjs';

const [east, west] = twoRegions('manual');
const both = [east, west];

const waitValue = (v, timeoutMs) => waitDocValue(both, v, timeoutMs);

before(async () => {
  await east.startAll();
  await west.startAll();
});
after(async () => {
  await Promise.all([east.stopAll(), west.stopAll()]);
});

describe('multi_region: manual conflict strategy', () => {
  test('failover conflict is kept open with the new primary\'s value, then resolved by the operator everywhere', async () => {
    // eu-west's unshipped write meets us-east's after the failover
    let { eastLeader, westLeader } = await failoverConflict(east, west);

    const open = {};
    for (const [c, i] of [[east, eastLeader], [west, westLeader]]) {
      const r = await waitFor(`open conflict listed in ${c.region}`, async () => {
        const res = await http(c.node(i), '/admin/region/conflicts');
        const cs = res.body.filter((x) => x.key === 'v');
        return cs.length === 1 ? cs[0] : null;
      }, 20000);
      assert.equal(r.status, 'open');
      assert.equal(r.strategy, 'manual');
      assert.equal(r.kept.value, 'east');
      assert.equal(r.rejected.value, 'west');
      open[c.region] = r.id;
    }
    assert.equal(open['us-east'], open['eu-west'], 'same conflict id in both regions');

    // Resolving on a node of the secondary region is refused.
    const refused = await http(west.node(westLeader), '/admin/region/conflicts/resolve',
      { method: 'POST', body: { id: open['us-east'], choice: 'rejected' } });
    assert.notEqual(refused.status, 200);

    // ?status=open filters (the query string reaches the module).
    assert.equal((await http(east.node(eastLeader), '/admin/region/conflicts?status=open')).body.length, 1);
    assert.equal((await http(east.node(eastLeader), '/admin/region/conflicts?status=bogus')).status, 400);

    // Resolved through a us-east follower: forwarded to the leader.
    const ef = east.ids.find((i) => i !== eastLeader);
    const res = await http(east.node(ef), '/admin/region/conflicts/resolve',
      { method: 'POST', body: { id: open['us-east'], choice: 'rejected' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitValue('west');
    for (const [c, i] of [[east, eastLeader], [west, westLeader]]) {
      await waitFor(`conflict resolved in ${c.region}`, async () => {
        const r = await http(c.node(i), '/admin/region/conflicts');
        const cs = r.body.filter((x) => x.key === 'v');
        return cs.length === 1 && cs[0].status === 'resolved';
      }, 20000);
      assert.deepEqual((await http(c.node(i), '/admin/region/conflicts?status=open')).body, []);
    }
    // The primary's leader takes ordinary writes again afterwards.
    await cypher(east.node(eastLeader), 'CREATE (:AfterResolve)');
    await waitEverywhere(both, 'AfterResolve', 1);
  });
});
