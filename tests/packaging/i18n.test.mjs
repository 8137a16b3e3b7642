// Translations: the German catalogue is built and the daemon run from the
// build tree speaks German when LANGUAGE=de. LANG is de_DE.UTF-8 where that
// locale exists, else C.UTF-8: LANGUAGE is honoured by any locale but "C".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, run, startDaemon } from './util.mjs';

const bin = process.env.NORNICDB_BIN;
const buildDir = process.env.NORNICDB_BUILD_DIR;
const locales = run('locale', ['-a']).stdout.split('\n').map((l) => l.trim().toLowerCase());
const lang = locales.includes('de_de.utf8') ? 'de_DE.UTF-8' : 'C.UTF-8';
const german = cleanEnv({ LC_ALL: undefined, LANG: lang, LANGUAGE: 'de' });
delete german.LC_ALL;

test('/nornic/packaging/i18n/german-catalogue-is-built', () => {
  const mo = path.join(buildDir, 'po', 'de', 'LC_MESSAGES', 'nornicdb.mo');
  assert.ok(existsSync(mo), `${mo} is missing`);
});

test('/nornic/packaging/i18n/help-is-german-with-LANGUAGE-de', () => {
  const r = run(bin, ['--help'], { env: german });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /NornicDB: ein Neo4j-kompatibler Graphdatenbank-Server\./);
  assert.match(r.stdout, /--config=DATEI\s+Konfigurationsdatei/);
  assert.match(r.stdout, /Die Version ausgeben und beenden/);
});

test('/nornic/packaging/i18n/help-stays-english-in-C-locale', () => {
  const r = run(bin, ['--help'], { env: cleanEnv() });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /a Neo4j-compatible graph database server/);
  assert.doesNotMatch(r.stdout, /Konfigurationsdatei/);
});

test('/nornic/packaging/i18n/configuration-error-is-german-and-exits-2', () => {
  const r = run(bin, ['--check-config'], { env: { ...german, NORNICDB_BOLT_PORT: '70000' } });
  assert.equal(r.status, 2, `exit status ${r.status}: ${r.stderr}`);
  assert.match(r.stderr,
    /nornicdb: Konfigurationsfehler: ungültiger Wert für NORNICDB_BOLT_PORT: "70000" \(aus env\); erwartet: ein Port von 1 bis 65535/);
});

test('/nornic/packaging/i18n/daemon-log-messages-are-german', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-i18n-'));
  try {
    const d = await startDaemon({
      bin, dataDir: dir, env: { LANG: lang, LANGUAGE: 'de', LC_ALL: '' },
    });
    const exit = await d.stop();
    assert.equal(exit.code, 0, d.output());
    assert.match(d.output(), /NornicDB \S+ bereit \(Datenverzeichnis /);
    assert.match(d.output(), /NornicDB beendet/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
