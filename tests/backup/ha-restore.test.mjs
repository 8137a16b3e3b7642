// Backup of a hot standby pair (cluster traffic on 127.0.0.54 / .55) taken
// on the STANDBY while the primary takes writes, then the restore
// docs/operations.md describes: stop both, extract into the primary's data
// directory, empty the standby's, start both. Both must hold exactly the
// backup's state, and the standby must stream new writes again.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPair, waitConverged, waitFor } from '../cluster/ha-lib.mjs';
import { CounterWorkload, dump, emptyDir, loadGraph, request, save, tx, untar } from './backup-lib.mjs';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-backup-ha-'));
let pair;

after(async () => {
  await pair?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('backup and restore of a hot standby pair', () => {
  test('standby backup under load, restore into the primary, the emptied standby catches up', async () => {
    pair = await startPair({ syncMode: 'semi_sync', hosts: { a: '127.0.0.54', b: '127.0.0.55' }, autoFailover: false });
    await loadGraph(pair.a, 500);
    const workload = new CounterWorkload(() => pair.a, 3);
    await workload.setup();
    workload.start();
    for (let i = 0; i < 200 && workload.acks.length < 15; i++) await new Promise((r) => setTimeout(r, 25));
    const ackedBefore = workload.maxAckedIndex();
    const r = await request(pair.b, `/admin/backup?bookmark=nornicdb:${ackedBefore}`, { method: 'POST', timeout: 60000 });
    await new Promise((res) => setTimeout(res, 200));
    await workload.stop();
    assert.equal(r.status, 200, r.text());
    const index = Number(r.headers.get('x-nornicdb-backup-index'));
    assert.ok(index >= ackedBefore, `backup index ${index} >= acknowledged ${ackedBefore}`);
    const archive = path.join(tmp, 'backup.tar.gz');
    save(archive, r.buf);
    const where = 'WHERE NOT n:Counter AND NOT n:Event';
    const want = await dump(pair.a, where);

    const dirA = pair.a.dataDir;
    const dirB = pair.b.dataDir;
    await pair.b.stop();
    await pair.a.stop();
    const x = untar(archive, dirA);
    assert.equal(x.status, 0, x.stderr);
    const manifest = JSON.parse(readFileSync(path.join(dirA, 'BACKUP.json'), 'utf8'));
    assert.equal(manifest.mode, 'ha_standby');
    assert.equal(manifest.role, 'standby');
    emptyDir(dirB);
    await pair.start('a');
    await pair.start('b');
    await waitFor('the standby to stream again', async () => {
      const h = (await request(pair.b, '/health')).text();
      return JSON.parse(h).replication?.role === 'standby' && JSON.parse(h).status === 'healthy';
    }, 20000);
    await waitConverged(pair.a, pair.b, 20000);
    for (const node of [pair.a, pair.b]) {
      await workload.check(node, index);
      const got = await dump(node, where);
      assert.deepEqual(got.nodes, want.nodes);
      assert.deepEqual(got.rels, want.rels);
    }
    await tx(pair.a, [['CREATE (:AfterRestore)']]);
    await waitConverged(pair.a, pair.b, 20000);
    const { results } = await tx(pair.b, [['MATCH (x:AfterRestore) RETURN count(x) AS c']], { read: true });
    assert.deepEqual(results, [[{ c: 1 }]]);
  });
});
