// Backup of a 3-node Raft cluster (cluster traffic on 127.0.0.51-53:7688)
// taken on a FOLLOWER while the leader takes writes, then the clustering
// guide's "Restoring from Backup": stop all nodes, extract into node 1's
// data directory, empty nodes 2 and 3, start all. The cluster must elect a
// leader and every node must hold exactly the backup's state.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RaftCluster, waitFor } from '../cluster/raft-lib.mjs';
import {
  CounterWorkload, documentedMetrics, dump, emptyDir, loadGraph, metricNames, request, save, tx, untar,
} from './backup-lib.mjs';

const N = Number(process.env.NORNICDB_BACKUP_RAFT_NODES ?? 1000);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-backup-raft-'));
const cluster = new RaftCluster({ prefix: '127.0.0.5', n: 3, clusterId: 'backup-test' });
let leader;

before(async () => {
  await cluster.startAll();
  leader = await cluster.waitLeader(20000);
});
after(async () => {
  await cluster.stopAll();
  rmSync(tmp, { recursive: true, force: true });
});

describe('backup and restore of a raft cluster', () => {
  test('follower backup under load, the guide\'s four restore steps, identical data on all nodes', async () => {
    const L = cluster.node(leader);
    await loadGraph(L, N);
    const workload = new CounterWorkload(() => cluster.node(leader), 3);
    await workload.setup();
    workload.start();
    for (let i = 0; i < 200 && workload.acks.length < 15; i++) await new Promise((r) => setTimeout(r, 25));
    const follower = cluster.ids.find((i) => i !== leader);
    // The bookmark of the newest acknowledged write: the follower waits
    // until it has applied it, so the backup holds every write
    // acknowledged before the request.
    const ackedBefore = workload.maxAckedIndex();
    const t0 = Date.now();
    const r = await request(cluster.node(follower), `/admin/backup?bookmark=nornicdb:${ackedBefore}`, { method: 'POST', timeout: 60000 });
    const ms = Date.now() - t0;
    await new Promise((res) => setTimeout(res, 200));
    await workload.stop();
    assert.equal(r.status, 200, r.text());
    const index = Number(r.headers.get('x-nornicdb-backup-index'));
    assert.ok(index >= ackedBefore, `backup index ${index} >= acknowledged ${ackedBefore}`);
    const archive = path.join(tmp, 'backup.tar.gz');
    save(archive, r.buf);
    console.log(`raft follower backup: ${r.buf.length} bytes at index ${index} in ${ms} ms`);

    // The metrics list in docs/operations.md covers raft's metrics too.
    const names = metricNames((await request(cluster.node(leader), '/metrics')).text());
    const doc = documentedMetrics();
    assert.deepEqual([...names].filter((n) => !doc.has(n)), [], 'raft metrics missing from docs/operations.md');
    const raftDocumented = [...doc].filter(([, modes]) => /\braft\b/.test(modes)).map(([n]) => n);
    assert.deepEqual(raftDocumented.filter((n) => !names.has(n)), [], 'documented for raft but not exported');

    const where = 'WHERE NOT n:Counter AND NOT n:Event';
    const want = await dump(cluster.node(leader), where);

    // 1. Stop all nodes.
    for (const i of cluster.ids) await cluster.stop(i);
    // 2. Restore into node 1's data directory (as the guide does: over its
    //    old contents).
    const x = untar(archive, cluster.dirs.get(1));
    assert.equal(x.status, 0, x.stderr);
    const manifest = JSON.parse(readFileSync(path.join(cluster.dirs.get(1), 'BACKUP.json'), 'utf8'));
    assert.equal(manifest.mode, 'raft');
    assert.equal(manifest.node_id, `node-${follower}`);
    assert.equal(manifest.role, 'follower');
    // 3. Empty the other nodes' data directories.
    emptyDir(cluster.dirs.get(2));
    emptyDir(cluster.dirs.get(3));
    // 4. Start the cluster (node 1 with BOOTSTRAP=true as in the compose file).
    await Promise.all(cluster.ids.map((i) => cluster.start(i)));
    leader = await cluster.waitLeader(20000);
    const commit = await cluster.waitConverged(20000);
    assert.ok(commit > index, 'a new membership entry follows the restored snapshot');
    await waitFor('three healthy members', async () => {
      const st = JSON.parse((await request(cluster.node(leader), '/admin/cluster/status')).text());
      return st.members.length === 3 && st.members.every((m) => m.healthy === true);
    }, 15000);

    for (const i of cluster.ids) {
      await workload.check(cluster.node(i), index);
      const got = await dump(cluster.node(i), where);
      assert.deepEqual(got.nodes, want.nodes, `node-${i} nodes equal the backup`);
      assert.deepEqual(got.rels, want.rels, `node-${i} relationships equal the backup`);
    }
    // And the restored cluster takes writes that reach every node.
    await tx(cluster.node(leader), [['CREATE (:AfterRestore {ok: true})']]);
    await cluster.waitConverged(20000);
    for (const i of cluster.ids) {
      await waitFor(`node-${i} sees the new write`, async () => {
        const { results } = await tx(cluster.node(i), [['MATCH (x:AfterRestore) RETURN count(x) AS c']], { read: true });
        return results[0][0].c === 1;
      }, 10000);
    }
  });
});
