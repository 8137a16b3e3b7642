// multi_region.so with NORNICDB_CLUSTER_CROSS_REGION_MODE=semi_sync and the
// read level ALL, real daemons (us-east on 127.0.0.31-33, eu-west on
// 127.0.0.41-43; eu-west is primary). docs/multi-region.md, "Writes" and
// "Read consistency levels":
//  - an acknowledged write is already committed in the other region (a
//    LOCAL_QUORUM read there sees it at once);
//  - with the other region down a write waits ten election timeouts, then
//    is acknowledged and the primary reports semi_sync degraded; later
//    writes do not wait; when the region is back and caught up, semi_sync
//    holds again;
//  - ALL is served (forwarded to the primary's leader) while every region
//    is reachable, and refused naming the region that is not.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { cypher, waitFor } from './raft-lib.mjs';
import { twoRegions, waitPrimary } from './region-lib.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');
const auth = neo4j.auth.basic('admin', 'test-password');

const [east, west] = twoRegions();
const both = [east, west];
for (const c of both) c.env.NORNICDB_CLUSTER_CROSS_REGION_MODE = 'semi_sync';
// raft-lib's election timeout is 600 ms: semi_sync and ALL wait 6 s.
const TIMEOUT_MS = 6000;

async function read(c, i, query, consistency) {
  const driver = neo4j.driver(`bolt://127.0.0.1:${c.ports.get(i).bolt}`, auth);
  try {
    const s = driver.session({ defaultAccessMode: neo4j.session.READ });
    try {
      const r = await s.run(query, {}, { metadata: { consistency } });
      return r.records.map((x) => x.toObject());
    } finally {
      await s.close();
    }
  } finally {
    await driver.close();
  }
}

const countSync = async (c, i, level = 'LOCAL_QUORUM') =>
  (await read(c, i, 'MATCH (n:Sync) RETURN count(n) AS c', level))[0].c.toNumber();

let westLeader;
let eastLeader;

before(async () => {
  await east.startAll();
  await west.startAll();
});
after(async () => {
  if (process.env.NORNICDB_REGION_LOGS) {
    const { writeFileSync } = await import('node:fs');
    for (const c of both) {
      for (const i of c.ids) writeFileSync(`${process.env.NORNICDB_REGION_LOGS}/${c.id(i)}.log`, c.node(i)?.output() ?? '');
    }
  }
  await Promise.all([east.stopAll(), west.stopAll()]);
});

describe('multi_region: semi_sync and ALL', () => {
  test('semi_sync: an acknowledged write is already committed in the other region', async () => {
    [eastLeader, westLeader] = await Promise.all([east.waitLeader(), west.waitLeader()]);
    await waitPrimary(both, 'eu-west');
    const r = await west.regions(westLeader);
    assert.equal(r.cross_region_mode, 'semi_sync');
    for (let k = 0; k < 8; k++) {
      const before = (await west.state(westLeader)).commit_index;
      await cypher(west.node(westLeader), 'CREATE (:Sync {k: $k})', { k });
      // The primary's shipper already holds us-east's acknowledgement.
      const acked = (await west.regions(westLeader)).remote_regions[0].acknowledged_index;
      assert.ok(acked > before, `write ${k}: us-east acknowledged ${acked}, the write is after ${before}`);
      // No waiting: the acknowledgement came after us-east committed it.
      assert.equal(await countSync(east, eastLeader), k + 1, `write ${k} committed in us-east when acknowledged`);
    }
  });

  test('ALL: served while every region confirms, forwarded from other nodes', async () => {
    const ef = east.ids.find((i) => i !== eastLeader);
    assert.equal(await countSync(west, westLeader, 'ALL'), 8);
    assert.equal(await countSync(east, ef, 'ALL'), 8);
  });

  test('semi_sync with the other region down degrades after the timeout, ALL is refused naming it; both recover', async () => {
    for (const i of east.ids) await east.stop(i);
    const t0 = Date.now();
    await cypher(west.node(westLeader), 'CREATE (:Sync {k: 100})');
    const waited = Date.now() - t0;
    assert.ok(waited >= TIMEOUT_MS - 500, `the first write waited for us-east (${waited} ms)`);
    assert.ok(waited < TIMEOUT_MS + 5000, `then it was acknowledged (${waited} ms)`);
    assert.equal((await west.regions(westLeader)).semi_sync_degraded, true);
    const t1 = Date.now();
    await cypher(west.node(westLeader), 'CREATE (:Sync {k: 101})');
    assert.ok(Date.now() - t1 < 2000, 'degraded: the next write does not wait');

    const t2 = Date.now();
    await assert.rejects(countSync(west, westLeader, 'ALL'), (e) => /ALL/.test(e.message) && /us-east/.test(e.message));
    assert.ok(Date.now() - t2 >= TIMEOUT_MS - 500, 'ALL waited before refusing');

    for (const i of east.ids) await east.start(i);
    eastLeader = await east.waitLeader();
    await waitFor('semi_sync restored', async () => (await west.regions(westLeader)).semi_sync_degraded === false, 30000, 200);
    await cypher(west.node(westLeader), 'CREATE (:Sync {k: 102})');
    assert.equal(await countSync(east, eastLeader), 11);
    assert.equal(await countSync(west, westLeader, 'ALL'), 11);
  });
});
