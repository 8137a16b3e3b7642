// nornicdb(8) as built: it documents every command-line option, every
// configuration variable, the signals and the exit codes, and renders
// without groff warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, run, which } from './util.mjs';

const bin = process.env.NORNICDB_BIN;
const page = readFileSync(path.join(process.env.NORNICDB_BUILD_DIR, 'data', 'nornicdb.8'), 'utf8');
const unescape = (s) => s.replace(/\\-/g, '-');
const section = (name) => {
  const m = page.match(new RegExp(`^\\.SH ${name}\\n([\\s\\S]*?)(?=^\\.SH |(?![\\s\\S]))`, 'm'));
  assert.ok(m, `section ${name} is missing`);
  return unescape(m[1]);
};

test('/nornic/packaging/manpage/has-no-unreplaced-placeholders', () => {
  assert.doesNotMatch(page, /@[A-Za-z_]+@/);
});

test('/nornic/packaging/manpage/documents-every-option-in-help', () => {
  const help = run(bin, ['--help'], { env: cleanEnv() }).stdout;
  const options = [...help.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]);
  assert.ok(options.length >= 7, `too few options parsed from --help:\n${help}`);
  const opts = section('OPTIONS');
  for (const o of options) assert.ok(opts.includes(o), `OPTIONS does not document ${o}`);
});

test('/nornic/packaging/manpage/lists-every-configuration-variable', () => {
  const md = run(bin, ['--config-reference'], { env: cleanEnv() }).stdout;
  const vars = [...md.matchAll(/^\| `(NORNICDB_[A-Z0-9_]+)`/gm)].map((m) => m[1]);
  assert.ok(vars.length > 20, 'too few variables in --config-reference');
  const env = section('ENVIRONMENT');
  for (const v of vars) assert.match(env, new RegExp(`^\\.B ${v}$`, 'm'), `ENVIRONMENT lacks ${v}`);
  // Defaults come along: the Bolt port's default is 7687.
  assert.match(env, /\.B NORNICDB_BOLT_PORT\n.*\n\(port; default \\fB7687\\fR\)/);
});

test('/nornic/packaging/manpage/names-signals-and-exit-codes', () => {
  const sig = section('SIGNALS');
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) assert.ok(sig.includes(s), `SIGNALS lacks ${s}`);
  const exit = section('EXIT STATUS');
  assert.match(exit, /\.B 0\nNormal shutdown/);
  assert.match(exit, /\.B 1\nRuntime failure/);
  assert.match(exit, /\.B 2\nConfiguration error/);
  assert.ok(section('FILES').includes('nornicdb.conf'));
});

test('/nornic/packaging/manpage/renders-without-warnings', (t) => {
  const groff = which('groff');
  if (!groff) {
    t.skip('groff is not installed (package groff-base)');
    return;
  }
  const r = run(groff, ['-man', '-Tutf8', '-ww', '-z'], { input: page, env: cleanEnv({ LC_ALL: 'C.UTF-8' }) });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', `groff warnings:\n${r.stderr}`);
});
