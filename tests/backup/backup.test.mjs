// Online backup of a standalone server (POST /admin/backup) under
// concurrent writes, restore with `tar -xzf` into an empty directory and a
// second server, refusal of damaged backups, the endpoint's errors, and the
// metrics list in docs/operations.md.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, openSync, readSync, writeSync, closeSync, readdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../lib/server.mjs';
import {
  AUTH, CounterWorkload, dump, loadGraph, request, startExpectingRefusal, tx, untar, save, bookmarkIndex,
  documentedMetrics, metricNames,
} from './backup-lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.NORNICDB_BACKUP_NODES ?? 3000);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-backup-test-'));
let source;
let archive;          // path of the good backup
let backupIndex;
let workload;
const servers = [];

before(async () => {
  source = await startServer({ env: { NORNICDB_AUTH: AUTH } });
  servers.push(source);
});
after(async () => {
  for (const s of servers) await s.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function flipByte(file, offset) {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, offset);
  b[0] ^= 0x55;
  writeSync(fd, b, 0, 1, offset);
  closeSync(fd);
}

describe('online backup, standalone', () => {
  test(`backup under concurrent writes restores to exactly one committed state (${N} nodes)`, async () => {
    const t0 = Date.now();
    await loadGraph(source, N);
    console.log(`loaded ${N} nodes in ${Date.now() - t0} ms`);
    workload = new CounterWorkload(() => source, 4);
    await workload.setup();
    workload.start();
    // Let every writer commit a few times before the backup starts.
    for (let i = 0; i < 200 && workload.acks.length < 20; i++) await new Promise((r) => setTimeout(r, 25));
    const ackedBefore = workload.maxAckedIndex();
    const t1 = Date.now();
    const r = await request(source, '/admin/backup', { method: 'POST', timeout: 60000 });
    const ms = Date.now() - t1;
    const acksDuring = workload.acks.filter((a) => a.at >= t1 && a.at <= Date.now()).length;
    // Writes keep going after the backup too.
    await new Promise((res) => setTimeout(res, 200));
    await workload.stop();

    assert.equal(r.status, 200, r.text());
    assert.equal(r.headers.get('content-type'), 'application/gzip');
    assert.match(r.headers.get('content-disposition'), /attachment; filename="nornicdb-backup-.*\.tar\.gz"/);
    backupIndex = Number(r.headers.get('x-nornicdb-backup-index'));
    assert.ok(backupIndex >= ackedBefore, `backup index ${backupIndex} covers every write acknowledged before the request (${ackedBefore})`);
    assert.ok(workload.maxAckedIndex() > backupIndex, 'writes committed after the backup index (the test saw a concurrent backup)');
    archive = path.join(tmp, 'backup.tar.gz');
    save(archive, r.buf);
    console.log(`backup: ${r.buf.length} bytes at index ${backupIndex} in ${ms} ms (${acksDuring} writes acknowledged during it)`);

    const dir = mkdtempSync(path.join(tmp, 'restored-'));
    const x = untar(archive, dir);
    assert.equal(x.status, 0, x.stderr);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'BACKUP.json'), 'utf8'));
    assert.equal(manifest.format, 1);
    assert.equal(manifest.index, backupIndex);
    assert.equal(manifest.mode, 'standalone');
    assert.equal(manifest.replication_state, false);
    assert.ok(existsSync(path.join(dir, manifest.snapshot)));

    const restored = await startServer({ dataDir: dir, env: { NORNICDB_AUTH: AUTH } });
    servers.push(restored);
    assert.match(restored.output(), /Restoring the backup at index/);
    // Users came along (the same admin password works) and the workload is
    // at exactly the committed state of the backup's index.
    await workload.check(restored, backupIndex);
    // Every node, label, property and relationship of the loaded graph.
    const where = 'WHERE NOT n:Counter AND NOT n:Event';
    const want = await dump(source, where);
    const got = await dump(restored, where);
    assert.equal(got.nodes.length, want.nodes.length);
    assert.deepEqual(got.nodes, want.nodes);
    assert.deepEqual(got.rels.filter((x) => x.type !== undefined), want.rels);
    // The index and its planner use survive too.
    const { results } = await tx(restored, [['MATCH (x:Item {i: 42}) RETURN x.s AS s']]);
    assert.deepEqual(results, [[{ s: 'item-42' }]]);
    // The restored server takes writes on top of the backup.
    const w = await tx(restored, [['CREATE (:AfterRestore) RETURN 1 AS one']]);
    assert.ok(bookmarkIndex(w.bookmark) > backupIndex);
    await restored.stop();
    // The manifest was acted on once: a restart keeps the new write.
    const again = await startServer({ dataDir: dir, env: { NORNICDB_AUTH: AUTH } });
    servers.push(again);
    const c = await tx(again, [['MATCH (x:AfterRestore) RETURN count(x) AS c']]);
    assert.deepEqual(c.results, [[{ c: 1 }]]);
    await again.stop();
  });

  test('a backup extracted over an old data directory wins over its newer state, which is kept aside', async () => {
    const dir = mkdtempSync(path.join(tmp, 'old-'));
    const old = await startServer({ dataDir: dir, env: { NORNICDB_AUTH: AUTH } });
    servers.push(old);
    await tx(old, [['UNWIND range(1, 50) AS i CREATE (:OldOnly {i: i})']]);
    await request(old, '/admin/snapshot', { method: 'POST' });
    await tx(old, [['CREATE (:OldOnly {i: 51})']]);
    await old.stop();
    const x = untar(archive, dir);
    assert.equal(x.status, 0, x.stderr);
    const restored = await startServer({ dataDir: dir, env: { NORNICDB_AUTH: AUTH } });
    servers.push(restored);
    const c = await tx(restored, [['MATCH (x:OldOnly) RETURN count(x) AS c']]);
    assert.deepEqual(c.results, [[{ c: 0 }]]);
    await workload.check(restored, backupIndex);
    await restored.stop();
    const aside = readdirSync(dir).filter((n) => n.startsWith('pre-restore-'));
    assert.equal(aside.length, 1);
    assert.ok(readdirSync(path.join(dir, aside[0], 'wal')).length > 0, 'old WAL segments kept aside');
  });

  test('a damaged backup is refused at start-up with exit 2 naming the file', async () => {
    const size = statSync(archive).size;
    // 1. A byte flipped in the archive: tar stops or reports the gzip CRC,
    //    and whatever it extracted does not start.
    const flipped = path.join(tmp, 'flipped.tar.gz');
    save(flipped, readFileSync(archive));
    flipByte(flipped, Math.floor(size / 2));
    const d1 = mkdtempSync(path.join(tmp, 'flipped-'));
    const x1 = untar(flipped, d1);
    assert.notEqual(x1.status, 0, 'tar reports the damage');
    const r1 = await startExpectingRefusal(d1);
    assert.equal(r1.code, 2, r1.output);
    assert.match(r1.output, /BACKUP\.json/);
    assert.match(r1.output, /(snapshot-\d{20}\.snap|users\.json) (is missing|has \d+ bytes|does not pass its checksum)/);

    // 2. A download cut short: the archive is truncated.
    const cut = path.join(tmp, 'cut.tar.gz');
    save(cut, readFileSync(archive).subarray(0, Math.floor(size * 0.6)));
    const d2 = mkdtempSync(path.join(tmp, 'cut-'));
    untar(cut, d2);
    const r2 = await startExpectingRefusal(d2);
    assert.equal(r2.code, 2, r2.output);
    assert.match(r2.output, /snapshot-\d{20}\.snap (is missing|has \d+ bytes but the backup holds \d+)/);

    // 3. A byte changed in the extracted snapshot (disk damage after
    //    extraction): same size, the checksum catches it.
    const d3 = mkdtempSync(path.join(tmp, 'rot-'));
    assert.equal(untar(archive, d3).status, 0);
    const manifest = JSON.parse(readFileSync(path.join(d3, 'BACKUP.json'), 'utf8'));
    const snap = path.join(d3, manifest.snapshot);
    flipByte(snap, Math.floor(statSync(snap).size / 2));
    const r3 = await startExpectingRefusal(d3);
    assert.equal(r3.code, 2, r3.output);
    assert.match(r3.output, /does not pass its checksum/);
    assert.ok(r3.output.includes(snap), 'names the snapshot file');

    // 4. The snapshot missing altogether.
    const d4 = mkdtempSync(path.join(tmp, 'missing-'));
    assert.equal(untar(archive, d4).status, 0);
    rmSync(path.join(d4, manifest.snapshot));
    const r4 = await startExpectingRefusal(d4);
    assert.equal(r4.code, 2, r4.output);
    assert.match(r4.output, /is missing/);
  });

  test('nornicdb backup (the CLI) downloads an archive; a wrong password is exit 1 and writes nothing', async () => {
    const { spawnSync } = await import('node:child_process');
    const { BIN } = await import('./backup-lib.mjs');
    const out = path.join(tmp, 'cli.tar.gz');
    const [user, password] = AUTH.split(':');
    const ok = spawnSync(BIN, ['backup', '--server', source.httpUrl, '--user', user, '--password', password, '--output', out],
      { encoding: 'utf8', timeout: 60000 });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /backup at index \d+ \(\d+ bytes\) written to/);
    const dir = mkdtempSync(path.join(tmp, 'cli-'));
    assert.equal(untar(out, dir).status, 0);
    assert.ok(existsSync(path.join(dir, 'BACKUP.json')));
    const bad = path.join(tmp, 'cli-bad.tar.gz');
    const no = spawnSync(BIN, ['backup', '--server', source.httpUrl, '--output', bad],
      { encoding: 'utf8', timeout: 60000, env: { ...process.env, NORNICDB_BACKUP_PASSWORD: 'wrong' } });
    assert.equal(no.status, 1);
    assert.match(no.stderr, /the server answered 401/);
    assert.equal(existsSync(bad), false);
    const usage = spawnSync(BIN, ['backup', '--password', 'x'], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /--output is required/);
  });

  test('POST /admin/backup: GET is 405, no credentials 401, a reader 403, a bad bookmark 400', async () => {
    const get = await request(source, '/admin/backup');
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    const anon = await request(source, '/admin/backup', { method: 'POST', auth: false });
    assert.equal(anon.status, 401);
    await request(source, '/admin/users', { method: 'POST', body: { username: 'rita', password: 'reader-pass-1', role: 'reader' } });
    const res = await fetch(source.httpUrl + '/admin/backup', {
      method: 'POST',
      headers: { Authorization: 'Basic ' + Buffer.from('rita:reader-pass-1').toString('base64') },
    });
    assert.equal(res.status, 403);
    const bad = await request(source, '/admin/backup?bookmark=xyz', { method: 'POST' });
    assert.equal(bad.status, 400);
    // A bookmark this node has not reached: 503 after the bookmark timeout.
    const far = await startServer({ env: { NORNICDB_AUTH: AUTH, NORNICDB_BOOKMARK_TIMEOUT: '200ms' } });
    servers.push(far);
    const ahead = await request(far, '/admin/backup?bookmark=nornicdb:999999', { method: 'POST' });
    assert.equal(ahead.status, 503);
    assert.match(JSON.parse(ahead.text()).error, /backup failed: .*999999/);
    await far.stop();
  });

  test('a backup that cannot be written is a 500 naming the cause, counted as an error', async (t) => {
    // tests/crash/failing-fsync.so makes fsync fail with EIO while a trigger
    // file exists: the disk error a full or failing disk gives the
    // snapshot writer.
    const shim = process.env.NORNICDB_FAILING_FSYNC;
    if (!shim || !existsSync(shim)) return t.skip('NORNICDB_FAILING_FSYNC not set');
    const trigger = path.join(tmp, 'fail-fsync');
    // verify_asan_link_order=0: an ASan build accepts the shim preloaded before its runtime.
    const asan = [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':');
    const s = await startServer({ env: { NORNICDB_AUTH: AUTH, LD_PRELOAD: shim, NC_FAIL_FSYNC_TRIGGER: trigger, ASAN_OPTIONS: asan } });
    servers.push(s);
    await tx(s, [['CREATE (:X)']]);
    save(trigger, Buffer.from('1'));
    try {
      const r = await request(s, '/admin/backup', { method: 'POST' });
      assert.equal(r.status, 500);
      assert.match(JSON.parse(r.text()).error, /^backup failed: writing the backup snapshot: .*Input\/output error/);
    } finally {
      rmSync(trigger, { force: true });
    }
    const m = (await request(s, '/metrics')).text();
    assert.match(m, /^nornicdb_backups_total\{result="error"\} 1$/m);
    assert.match(m, /^nornicdb_backups_total\{result="ok"\} 0$/m);
    assert.deepEqual(readdirSync(s.dataDir).filter((n) => n.startsWith('.backup-tmp-')), [], 'temporary files removed');
    // The next backup works.
    const ok = await request(s, '/admin/backup', { method: 'POST' });
    assert.equal(ok.status, 200);
    await s.stop();
  });

  test('backup metrics after a successful backup', async () => {
    const m = (await request(source, '/metrics')).text();
    assert.match(m, /^nornicdb_backups_total\{result="ok"\} [1-9]\d*$/m);
    assert.match(m, /^nornicdb_backup_last_size_bytes [1-9]\d*$/m);
    const ts = Number(m.match(/^nornicdb_backup_last_success_timestamp_seconds (\S+)$/m)[1]);
    assert.ok(Math.abs(ts - Date.now() / 1000) < 600);
  });

  test('docs/operations.md lists every metric a standalone server exports, and no standalone metric it does not', async () => {
    // Families that appear on first use: a query, a failing query, a snapshot.
    await tx(source, [['RETURN 1']]);
    await tx(source, [['RETURN nosuchfunction(1)']]).catch(() => {});
    assert.equal((await request(source, '/admin/snapshot', { method: 'POST' })).status, 200);
    const names = metricNames((await request(source, '/metrics')).text());
    const doc = documentedMetrics();
    const missing = [...names].filter((n) => !doc.has(n));
    assert.deepEqual(missing, [], 'exported but not in docs/operations.md');
    const stale = [...doc].filter(([n, modes]) => modes.includes('all') && !names.has(n)).map(([n]) => n);
    assert.deepEqual(stale, [], 'in docs/operations.md (mode all) but not exported');
  });
});

