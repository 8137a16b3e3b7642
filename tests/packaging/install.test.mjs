// `meson install --destdir` lays out every file where the packages and the
// systemd unit expect it, and the installed daemon runs from there with the
// installed modules, the installed configuration file, and a module built
// out of tree against the installed header and pkg-config file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildOptions, cleanEnv, installDir, run, startDaemon, which } from './util.mjs';

const meson = process.env.MESON;
const buildDir = process.env.NORNICDB_BUILD_DIR;
const srcDir = process.env.NORNICDB_SOURCE_DIR;
const buildBin = process.env.NORNICDB_BIN;

let tmp;
let dest;
let opts;
const inDest = (p) => path.join(dest, p);
const dirs = {};

before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-install-'));
  dest = path.join(tmp, 'destdir');
  // The tests run after the build; --no-rebuild keeps this from racing it.
  const r = run(meson, ['install', '-C', buildDir, '--destdir', dest, '--no-rebuild', '--quiet'], { timeout: 120000 });
  assert.equal(r.status, 0, `meson install failed:\n${r.stdout}\n${r.stderr}`);
  opts = buildOptions(meson, buildDir);
  for (const name of ['prefix', 'sbindir', 'libdir', 'includedir', 'sysconfdir', 'mandir', 'localedir']) {
    dirs[name] = name === 'prefix' ? opts.prefix : installDir(opts, name);
  }
  dirs.moduledir = path.join(dirs.libdir, 'nornicdb', 'modules');
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('/nornic/packaging/install/binary-in-sbindir', () => {
  const exe = inDest(path.join(dirs.sbindir, 'nornicdb'));
  accessSync(exe, constants.X_OK);
  const r = run(exe, ['--version'], { env: cleanEnv() });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^nornicdb \d+\.\d+\.\d+\n$/);
});

test('/nornic/packaging/install/every-built-module-in-libdir-nornicdb-modules', () => {
  const built = readdirSync(path.join(buildDir, 'modules'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(path.join(buildDir, 'modules', d.name)).filter((f) => f.endsWith('.so')));
  assert.ok(built.includes('standalone.so'), `no standalone.so among the built modules: ${built}`);
  const installed = readdirSync(inDest(dirs.moduledir));
  for (const m of built) assert.ok(installed.includes(m), `${m} not installed in ${dirs.moduledir}: ${installed}`);
});

test('/nornic/packaging/install/module-header-and-pkg-config-file', () => {
  const header = readFileSync(inDest(path.join(dirs.includedir, 'nornicdb', 'module.h')), 'utf8');
  assert.equal(header, readFileSync(path.join(srcDir, 'core', 'include', 'nornicdb', 'module.h'), 'utf8'));
  const pc = readFileSync(inDest(path.join(dirs.libdir, 'pkgconfig', 'nornicdb-module.pc')), 'utf8');
  assert.match(pc, new RegExp(`^prefix=${dirs.prefix}$`, 'm'));
  assert.match(pc, /^Name: nornicdb-module$/m);
  assert.match(pc, /^Requires: glib-2.0, gmodule-2.0$/m);
  assert.match(pc, /^Cflags: -I\$\{includedir\}$/m);
  assert.match(pc, /^moduledir=\$\{libdir\}\/nornicdb\/modules$/m);
});

test('/nornic/packaging/install/configuration-file-is-the-default-config', () => {
  const conf = readFileSync(inDest(path.join(dirs.sysconfdir, 'nornicdb', 'nornicdb.conf')), 'utf8');
  const expected = run(buildBin, ['--print-default-config'], { env: cleanEnv() }).stdout;
  assert.equal(conf, expected);
});

test('/nornic/packaging/install/systemd-sysusers-tmpfiles-man-and-translations', () => {
  const unit = readFileSync(inDest(path.join(dirs.prefix, 'lib', 'systemd', 'system', 'nornicdb.service')), 'utf8');
  const exec = `ExecStart=${path.join(dirs.sbindir, 'nornicdb')} --config ${path.join(dirs.sysconfdir, 'nornicdb', 'nornicdb.conf')} --data-dir /var/lib/nornicdb`;
  assert.ok(unit.includes(exec), `unit lacks "${exec}":\n${unit}`);
  assert.match(unit, /^User=nornicdb$/m);
  assert.match(unit, /^RestartPreventExitStatus=2$/m);
  assert.match(readFileSync(inDest(path.join(dirs.prefix, 'lib', 'sysusers.d', 'nornicdb.conf')), 'utf8'), /^u nornicdb /m);
  assert.match(readFileSync(inDest(path.join(dirs.prefix, 'lib', 'tmpfiles.d', 'nornicdb.conf')), 'utf8'), /^d \/var\/lib\/nornicdb 0700 nornicdb nornicdb/m);
  assert.equal(readFileSync(inDest(path.join(dirs.mandir, 'man8', 'nornicdb.8')), 'utf8'),
    readFileSync(path.join(buildDir, 'data', 'nornicdb.8'), 'utf8'));
  assert.ok(existsSync(inDest(path.join(dirs.localedir, 'de', 'LC_MESSAGES', 'nornicdb.mo'))));
});

test('/nornic/packaging/install/unit-passes-systemd-analyze-verify', (t) => {
  const sa = which('systemd-analyze');
  if (!sa) {
    t.skip('systemd-analyze is not installed');
    return;
  }
  // verify checks that ExecStart exists: point it at the installed binary.
  const real = path.join(dirs.sbindir, 'nornicdb');
  const unit = readFileSync(inDest(path.join(dirs.prefix, 'lib', 'systemd', 'system', 'nornicdb.service')), 'utf8')
    .replace(`ExecStart=${real}`, `ExecStart=${inDest(real)}`);
  const dir = path.join(tmp, 'unit');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'nornicdb.service'), unit);
  const r = run(sa, ['verify', '--man=no', path.join(dir, 'nornicdb.service')], { env: cleanEnv() });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', `systemd-analyze verify complained:\n${r.stderr}`);
});

test('/nornic/packaging/install/installed-daemon-loads-installed-modules', async () => {
  const exe = inDest(path.join(dirs.sbindir, 'nornicdb'));
  const conf = inDest(path.join(dirs.sysconfdir, 'nornicdb', 'nornicdb.conf'));
  const data = path.join(tmp, 'data-installed');
  const d = await startDaemon({
    bin: exe, args: ['--config', conf], dataDir: data,
    env: { NORNICDB_MODULE_DIR: inDest(dirs.moduledir) },
  });
  const exit = await d.stop();
  assert.equal(d.health.status, 'healthy');
  assert.match(d.output(), new RegExp(`Loaded replication module standalone \\S+ from ${inDest(dirs.moduledir)}/standalone\\.so`));
  assert.deepEqual(exit, { code: 0, signal: null }, d.output());
});

test('/nornic/packaging/install/installed-daemon-looks-in-compiled-in-moduledir', (t) => {
  if (existsSync(dirs.moduledir)) {
    t.skip(`${dirs.moduledir} exists on this machine`);
    return;
  }
  const exe = inDest(path.join(dirs.sbindir, 'nornicdb'));
  const r = run(exe, [], {
    env: cleanEnv({ NORNICDB_DATA_DIR: path.join(tmp, 'data-nomodule'), NORNICDB_BOLT_ADDRESS: '127.0.0.1', NORNICDB_HTTP_ADDRESS: '127.0.0.1', NORNICDB_BOLT_PORT: '1', NORNICDB_HTTP_PORT: '1' }),
    timeout: 20000,
  });
  assert.equal(r.status, 1, `status ${r.status}: ${r.stderr}`);
  assert.ok(r.stderr.includes(`replication module ${path.join(dirs.moduledir, 'standalone.so')} not found`), r.stderr);
});

test('/nornic/packaging/install/module-built-out-of-tree-with-pkg-config', async (t) => {
  const pkgConfig = which('pkg-config');
  const cc = which('cc');
  if (!pkgConfig || !cc) {
    t.skip('pkg-config or cc is not installed');
    return;
  }
  // The installed .pc file with its prefix moved into DESTDIR (what it says
  // once the tree is installed for real); glib's own .pc stays as it is.
  const pcDir = path.join(tmp, 'pkgconfig');
  mkdirSync(pcDir, { recursive: true });
  const installedPc = readFileSync(inDest(path.join(dirs.libdir, 'pkgconfig', 'nornicdb-module.pc')), 'utf8');
  writeFileSync(path.join(pcDir, 'nornicdb-module.pc'),
    installedPc.replace(/^prefix=.*$/m, `prefix=${inDest(dirs.prefix)}`));
  const env = cleanEnv({ PKG_CONFIG_PATH: pcDir });
  const pc = (...a) => {
    const r = run(pkgConfig, [...a, 'nornicdb-module'], { env });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  assert.equal(pc('--variable=moduledir'), inDest(dirs.moduledir));
  const cflags = pc('--cflags');
  assert.ok(cflags.split(/\s+/).includes(`-I${inDest(dirs.includedir)}`), cflags);

  // The standalone module's source, compiled on its own: nothing from the
  // source tree but the one .c file.
  const work = path.join(tmp, 'oot');
  const mods = path.join(work, 'modules');
  mkdirSync(mods, { recursive: true });
  writeFileSync(path.join(work, 'standalone.c'), readFileSync(path.join(srcDir, 'modules', 'standalone', 'standalone.c')));
  const r = run(cc, ['-shared', '-fPIC', '-O1', ...cflags.split(/\s+/), '-o', path.join(mods, 'standalone.so'), path.join(work, 'standalone.c')],
    { env, timeout: 120000 });
  assert.equal(r.status, 0, `cc failed:\n${r.stderr}`);

  const d = await startDaemon({
    bin: inDest(path.join(dirs.sbindir, 'nornicdb')), dataDir: path.join(tmp, 'data-oot'),
    env: { NORNICDB_MODULE_DIR: mods },
  });
  const exit = await d.stop();
  assert.match(d.output(), new RegExp(`Loaded replication module standalone \\S+ from ${mods}/standalone\\.so`));
  assert.equal(exit.code, 0, d.output());
});
