// A network cut between primary and standby. The cluster traffic of the
// pair runs through a TCP proxy in this process; cutting it makes every
// frame vanish without a FIN or RST, as a dead link does (the daemons, HTTP
// and Bolt stay reachable from the test). Checked: no two primaries accept
// writes in the same epoch; after healing there is one primary and the other
// node converges to it; writes the isolated old primary took are discarded
// on rejoin, counted and reported (async), or never acknowledged (sync+block).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cypher, getJson, health, sleep, startPair, waitConverged, waitFor } from './ha-lib.mjs';

/** Polls both nodes' /health; fails if both are primary in one epoch. */
function watchRoles(pair) {
  const seen = [];
  let stop = false;
  let violation = null;
  const loop = (async () => {
    while (!stop) {
      const [ha, hb] = await Promise.all([health(pair.a).catch(() => null), health(pair.b).catch(() => null)]);
      if (ha && hb) {
        seen.push([ha.role, ha.epoch, hb.role, hb.epoch]);
        if (ha.role === 'primary' && hb.role === 'primary' && ha.epoch === hb.epoch) violation = [ha, hb];
      }
      await sleep(20);
    }
  })();
  return { async end() { stop = true; await loop; return { seen, violation }; } };
}

async function writeLoop(node, label, sink, timeout) {
  let stop = false;
  let i = 0;
  const run = (async () => {
    while (!stop) {
      const id = `${label}-${i++}`;
      try {
        await cypher(node, 'CREATE (:P {id: $id})', { parameters: { id }, timeout });
        sink.push({ id, at: Date.now() });
      } catch {
        await sleep(20);
      }
    }
  })();
  return { async end() { stop = true; await run; } };
}

describe('network cut between the pair', () => {
  test('async: both sides write in different epochs; the old primary steps down and reports its discarded writes', async () => {
    const pair = await startPair({ syncMode: 'async', failover: '1s', proxy: true });
    try {
      const watch = watchRoles(pair);
      const ackedA = [];
      const wa = await writeLoop(pair.a, 'a', ackedA, 2000);
      await waitFor('writes acknowledged before the cut', async () => ackedA.length >= 5, 15000);
      const cutAt = Date.now();
      pair.proxies.toA.cut();
      pair.proxies.toB.cut();
      await waitFor('the standby to promote itself', async () => (await health(pair.b)).role === 'primary', 10000);
      assert.equal((await health(pair.b)).epoch, 2);
      // Both accept writes now, in different epochs: the old primary does not know yet.
      const ackedB = [];
      const wb = await writeLoop(pair.b, 'b', ackedB, 2000);
      await sleep(700);
      assert.equal((await health(pair.a)).role, 'primary');
      await wb.end();
      pair.proxies.toA.heal();
      pair.proxies.toB.heal();
      await waitFor('the old primary to step down', async () => (await health(pair.a)).role === 'standby', 15000);
      await wa.end();
      const { violation, seen } = await watch.end();
      assert.equal(violation, null, `two primaries in one epoch: ${JSON.stringify(violation)}`);
      assert.ok(seen.some(([ra, ea, rb, eb]) => ra === 'primary' && rb === 'primary' && ea !== eb),
        'the test saw both sides accepting writes (in different epochs)');

      await waitConverged(pair.b, pair.a, 20000);
      const ha = await health(pair.a);
      const hb = await health(pair.b);
      assert.deepEqual([ha.role, hb.role], ['standby', 'primary']);
      assert.equal(ha.epoch, 2);

      const onB = new Set((await cypher(pair.b, 'MATCH (n:P) RETURN collect(n.id)')).rows[0][0]);
      const onA = new Set((await cypher(pair.a, 'MATCH (n:P) RETURN collect(n.id)')).rows[0][0]);
      assert.deepEqual([...onA].sort(), [...onB].sort(), 'the old primary converged to the new one');
      for (const w of ackedB) assert.ok(onB.has(w.id), `write ${w.id} acknowledged by the new primary is missing`);
      const lostA = ackedA.filter((w) => !onB.has(w.id));
      const discarded = await getJson(pair.a, '/admin/ha/discarded');
      console.log(`# async cut: ${ackedA.filter((w) => w.at > cutAt).length} writes acknowledged by the isolated ` +
        `old primary, ${lostA.length} of them lost, ${discarded.body.total} reported discarded`);
      assert.ok(lostA.length > 0, 'the isolated primary acknowledged writes the new primary never saw');
      assert.ok(discarded.body.total >= lostA.length, JSON.stringify(discarded.body).slice(0, 500));
      assert.match(pair.a.output(), /discarding \d+ write\(s\)/);
    } finally {
      await pair.stop();
    }
  });

  test('sync + block: the isolated primary acknowledges nothing, so nothing acknowledged is lost', async () => {
    const pair = await startPair({
      syncMode: 'sync', failover: '1s', proxy: true,
      env: { NORNICDB_CLUSTER_HA_ON_STANDBY_LOSS: 'block', NORNICDB_CLUSTER_HA_STANDBY_TIMEOUT: '500ms' },
    });
    try {
      const watch = watchRoles(pair);
      const ackedA = [];
      const wa = await writeLoop(pair.a, 'a', ackedA, 1500);
      await waitFor('writes acknowledged before the cut', async () => ackedA.length >= 5, 15000);
      pair.proxies.toA.cut();
      pair.proxies.toB.cut();
      const cutAt = Date.now();
      await waitFor('the standby to promote itself', async () => (await health(pair.b)).role === 'primary', 10000);
      await sleep(500);
      const ackedB = [];
      // The new primary has no standby either: in block mode it waits too.
      const wb = await writeLoop(pair.b, 'b', ackedB, 1500);
      await sleep(500);
      pair.proxies.toA.heal();
      pair.proxies.toB.heal();
      await waitFor('the old primary to step down', async () => (await health(pair.a)).role === 'standby', 15000);
      await sleep(300);
      await wa.end();
      await wb.end();
      const { violation } = await watch.end();
      assert.equal(violation, null, `two primaries in one epoch: ${JSON.stringify(violation)}`);
      await waitConverged(pair.b, pair.a, 20000);
      const onB = new Set((await cypher(pair.b, 'MATCH (n:P) RETURN collect(n.id)')).rows[0][0]);
      const lost = [...ackedA, ...ackedB].filter((w) => !onB.has(w.id));
      console.log(`# sync+block cut: ${ackedA.length} + ${ackedB.length} acknowledged, ${lost.length} lost, ` +
        `${ackedA.filter((w) => w.at > cutAt + 100).length} acknowledged by the old primary after the cut`);
      assert.deepEqual(lost, [], 'no acknowledged write may be lost in sync mode with block');
      const hb = await health(pair.b);
      assert.equal(hb.role, 'primary');
    } finally {
      await pair.stop();
    }
  });
});
