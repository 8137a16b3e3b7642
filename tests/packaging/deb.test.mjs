// The Debian packages: `dpkg-buildpackage -us -uc -b` on a copy of the
// source tree builds nornicdb and nornicdb-dev with every file in place, the
// configuration file as a conffile and maintainer scripts that create the
// user and enable (not start) the service; the packaged daemon, extracted
// with dpkg-deb -x, runs with the packaged configuration file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { cleanEnv, run, startDaemon, which } from './util.mjs';

const srcDir = process.env.NORNICDB_SOURCE_DIR;
const buildDir = process.env.NORNICDB_BUILD_DIR;
const meson = process.env.MESON;

const missing = ['dpkg-buildpackage', 'dpkg-deb', 'dh', 'git'].filter((p) => !which(p));
const skip = missing.length
  ? `needs ${missing.join(', ')} (tools/setup.sh --test installs debhelper and dpkg-dev)`
  : false;

let tmp;
let debs = {};
let root;
let triplet;
let buildLog = '';

before(() => {
  if (skip) return;
  tmp = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-deb-'));
  // A copy of the tracked and untracked-but-not-ignored files: no build
  // directories, and dpkg-buildpackage writes its .debs next to the copy.
  const src = path.join(tmp, 'nornicdb');
  const ls = run('git', ['-C', srcDir, 'ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  assert.equal(ls.status, 0, `git ls-files failed: ${ls.stderr}`);
  for (const f of ls.stdout.split('\0').filter(Boolean)) {
    const from = path.join(srcDir, f);
    if (!existsSync(from)) continue; // deleted in the work tree
    mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    copyFileSync(from, path.join(src, f));
    chmodSync(path.join(src, f), statSync(from).mode & 0o777);
  }
  const r = run('dpkg-buildpackage', ['-us', '-uc', '-b'], {
    cwd: src,
    env: cleanEnv({ DEB_BUILD_OPTIONS: 'nocheck parallel=2', LC_ALL: 'C.UTF-8' }),
    timeout: 15 * 60 * 1000,
  });
  buildLog = r.stdout + r.stderr;
  writeFileSync(path.join(tmp, 'build.log'), buildLog);
  assert.equal(r.status, 0, `dpkg-buildpackage failed:\n${buildLog.slice(-6000)}`);
  for (const f of readdirSync(tmp)) {
    const m = f.match(/^(nornicdb(?:-dev)?)_[^_]+_[^_]+\.deb$/);
    if (m) debs[m[1]] = path.join(tmp, f);
  }
  assert.ok(debs.nornicdb && debs['nornicdb-dev'], `packages missing: ${readdirSync(tmp)}`);
  root = path.join(tmp, 'root');
  assert.equal(run('dpkg-deb', ['-x', debs.nornicdb, root]).status, 0);
  triplet = run('dpkg-architecture', ['-qDEB_HOST_MULTIARCH']).stdout.trim();
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const contents = (deb) => {
  const r = run('dpkg-deb', ['-c', deb]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[5].replace(/^\./, ''));
};
const control = (deb, file) => {
  const r = run('dpkg-deb', ['-I', deb, file]);
  return r.status === 0 ? r.stdout : null;
};
const unitPath = () => ['/lib/systemd/system/nornicdb.service', '/usr/lib/systemd/system/nornicdb.service']
  .find((p) => existsSync(path.join(root, p)));

test('/nornic/packaging/deb/changelog-version-is-the-project-version', { skip }, () => {
  const info = JSON.parse(run(meson, ['introspect', '--projectinfo', buildDir]).stdout);
  const v = run('dpkg-parsechangelog', ['-l', path.join(srcDir, 'debian', 'changelog'), '-S', 'Version']).stdout.trim();
  assert.equal(v.replace(/-[^-]*$/, ''), info.version);
});

test('/nornic/packaging/deb/nornicdb-holds-daemon-modules-conf-unit-man-and-translations', { skip }, () => {
  const files = contents(debs.nornicdb);
  const want = [
    '/usr/sbin/nornicdb',
    `/usr/lib/${triplet}/nornicdb/modules/standalone.so`,
    '/etc/nornicdb/nornicdb.conf',
    '/usr/lib/sysusers.d/nornicdb.conf',
    '/usr/lib/tmpfiles.d/nornicdb.conf',
    '/usr/share/man/man8/nornicdb.8.gz',
    '/usr/share/locale/de/LC_MESSAGES/nornicdb.mo',
    '/usr/share/doc/nornicdb/copyright',
  ];
  for (const f of want) assert.ok(files.includes(f), `${f} not in nornicdb.deb:\n${files.join('\n')}`);
  assert.ok(files.includes('/lib/systemd/system/nornicdb.service') || files.includes('/usr/lib/systemd/system/nornicdb.service'),
    'no systemd unit in nornicdb.deb');
  // Every module the build tree has is packaged.
  for (const d of readdirSync(path.join(buildDir, 'modules'), { withFileTypes: true }).filter((e) => e.isDirectory())) {
    for (const so of readdirSync(path.join(buildDir, 'modules', d.name)).filter((f) => f.endsWith('.so'))) {
      assert.ok(files.includes(`/usr/lib/${triplet}/nornicdb/modules/${so}`), `${so} not packaged`);
    }
  }
  const man = gunzipSync(readFileSync(path.join(root, 'usr/share/man/man8/nornicdb.8.gz'))).toString();
  assert.match(man, /^\.SH ENVIRONMENT$/m);
  assert.match(man, /^\.B NORNICDB_BOLT_PORT$/m);
  assert.match(man, /^\.I \/etc\/nornicdb\/nornicdb\.conf$/m);
});

test('/nornic/packaging/deb/configuration-file-is-a-conffile', { skip }, () => {
  assert.equal(control(debs.nornicdb, 'conffiles'), '/etc/nornicdb/nornicdb.conf\n');
});

test('/nornic/packaging/deb/maintainer-scripts-create-user-and-enable-without-starting', { skip }, () => {
  const postinst = control(debs.nornicdb, 'postinst');
  assert.ok(postinst, 'no postinst');
  assert.match(postinst, /systemd-sysusers .*nornicdb\.conf/);
  assert.match(postinst, /systemd-tmpfiles .*--create nornicdb\.conf/);
  assert.match(postinst, /deb-systemd-helper enable 'nornicdb\.service'/);
  // Upgrades restart a running service; nothing starts it on installation.
  assert.match(postinst, /deb-systemd-invoke try-restart 'nornicdb\.service'/);
  assert.doesNotMatch(postinst, /deb-systemd-invoke (start|restart) /);
  const prerm = control(debs.nornicdb, 'prerm');
  assert.ok(prerm, 'no prerm');
  assert.match(prerm, /"\$1" = remove[^\n]*\n\s*deb-systemd-invoke stop nornicdb\.service/);
  const postrm = control(debs.nornicdb, 'postrm');
  assert.match(postrm, /deb-systemd-helper purge 'nornicdb\.service'/);
  const fields = control(debs.nornicdb, 'control');
  assert.match(fields, /^Depends: .*systemd \| systemd-standalone-sysusers/m);
});

test('/nornic/packaging/deb/nornicdb-dev-holds-header-and-pkg-config-file', { skip }, () => {
  const files = contents(debs['nornicdb-dev']);
  const pcPath = `/usr/lib/${triplet}/pkgconfig/nornicdb-module.pc`;
  assert.ok(files.includes('/usr/include/nornicdb/module.h'), files.join('\n'));
  assert.ok(files.includes(pcPath), files.join('\n'));
  const dev = path.join(tmp, 'dev');
  assert.equal(run('dpkg-deb', ['-x', debs['nornicdb-dev'], dev]).status, 0);
  const pc = readFileSync(path.join(dev, pcPath), 'utf8');
  assert.match(pc, /^prefix=\/usr$/m);
  assert.match(pc, new RegExp(`^libdir=\\$\\{prefix\\}/lib/${triplet}$`, 'm'));
  assert.match(pc, /^moduledir=\$\{libdir\}\/nornicdb\/modules$/m);
});

test('/nornic/packaging/deb/packaged-unit-passes-systemd-analyze-verify', { skip }, (t) => {
  const sa = which('systemd-analyze');
  if (!sa) {
    t.skip('systemd-analyze is not installed');
    return;
  }
  const unit = readFileSync(path.join(root, unitPath()), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/sbin\/nornicdb --config \/etc\/nornicdb\/nornicdb\.conf --data-dir \/var\/lib\/nornicdb$/m);
  // verify checks that ExecStart exists: point it at the extracted binary.
  const dir = path.join(tmp, 'unit');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'nornicdb.service'),
    unit.replace('ExecStart=/usr/sbin/nornicdb', `ExecStart=${path.join(root, 'usr/sbin/nornicdb')}`));
  const r = run(sa, ['verify', '--man=no', path.join(dir, 'nornicdb.service')], { env: cleanEnv() });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', `systemd-analyze verify complained:\n${r.stderr}`);
});

test('/nornic/packaging/deb/packaged-daemon-runs-with-packaged-config', { skip }, async () => {
  const bin = path.join(root, 'usr/sbin/nornicdb');
  const conf = path.join(root, 'etc/nornicdb/nornicdb.conf');
  const modules = path.join(root, `usr/lib/${triplet}/nornicdb/modules`);
  const check = run(bin, ['--config', conf, '--check-config'], { env: cleanEnv({ NORNICDB_MODULE_DIR: modules }) });
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /^NORNICDB_BOLT_PORT=7687\t# default$/m);
  const d = await startDaemon({
    bin, args: ['--config', conf], dataDir: path.join(tmp, 'data'),
    env: { NORNICDB_MODULE_DIR: modules },
  });
  const exit = await d.stop();
  assert.equal(d.health.status, 'healthy');
  assert.match(d.output(), new RegExp(`Loaded replication module standalone \\S+ from ${modules}/standalone\\.so`));
  assert.deepEqual(exit, { code: 0, signal: null }, d.output());
});
