// The openCypher TCK runner: every scenario of ../shared/tck/features run
// through Bolt with the official neo4j-driver against a real server.
//
//   node tests/tck/run-tck.mjs [--filter text] [--verbose] [--update-baseline]
//
// Prints pass counts per folder and a closing "N passed, M failed, K skipped"
// line. Exits non-zero when the number of passing scenarios drops below
// tests/tck/baseline.json (the ratchet); --update-baseline raises it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AstBuilder, GherkinClassicTokenMatcher, Parser, compile } from '@cucumber/gherkin';
import { IdGenerator } from '@cucumber/messages';
import neo4j from 'neo4j-driver';
import { startServer } from '../lib/server.mjs';
import { parseTckValue, toDriverValue, fromDriver, equal, multisetEqual, show } from './tck-values.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const tckRoot = process.env.NORNICDB_TCK_DIR ?? path.resolve(repo, '..', 'shared', 'tck');
const featuresDir = path.join(tckRoot, 'features');
const graphsDir = path.join(tckRoot, 'graphs');
const baselineFile = path.join(here, 'baseline.json');

const args = process.argv.slice(2);
const filter = args.includes('--filter') ? args[args.indexOf('--filter') + 1] : null;
const verbose = args.includes('--verbose');
const updateBaseline = args.includes('--update-baseline');
const SCENARIO_TIMEOUT_MS = 15000;

function listFeatures(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFeatures(p));
    else if (e.name.endsWith('.feature')) out.push(p);
  }
  return out.sort();
}

function loadPickles(file) {
  const text = fs.readFileSync(file, 'utf8');
  const newId = IdGenerator.incrementing();
  const parser = new Parser(new AstBuilder(newId), new GherkinClassicTokenMatcher());
  const doc = parser.parse(text);
  return compile(doc, file, newId).map((p) => ({ ...p, file }));
}

// ---- server session ------------------------------------------------------------

let server = null;
let driver = null;
let proceduresDefined = false;

async function ensureServer() {
  if (server && !server.exited()) return;
  if (driver) await driver.close().catch(() => {});
  if (server) await server.stop().catch(() => {});
  // Test-only fixture procedures ("there exists a procedure ...") are
  // defined through nornicdb.tck.defineProcedure, which exists only with this.
  server = await startServer({ env: { NC_TEST_TCK_PROCEDURES: '1' } });
  proceduresDefined = false;
  driver = neo4j.driver(server.boltUrl, neo4j.auth.basic(server.auth.user, server.auth.password),
    { maxTransactionRetryTime: 0, disableLosslessIntegers: false });
}

async function run(query, params = {}) {
  const session = driver.session();
  try {
    const res = await session.run(query, params);
    return res;
  } finally {
    await session.close().catch(() => {});
  }
}

async function resetGraph() {
  await run('MATCH (n) DETACH DELETE n');
  try {
    const idx = await run('SHOW INDEXES YIELD name RETURN name');
    for (const r of idx.records) await run(`DROP INDEX \`${r.get('name')}\` IF EXISTS`).catch(() => {});
    const cons = await run('SHOW CONSTRAINTS YIELD name RETURN name');
    for (const r of cons.records) await run(`DROP CONSTRAINT \`${r.get('name')}\` IF EXISTS`).catch(() => {});
  } catch {
    // schema commands not supported: nothing to drop
  }
}

// Graph state for side-effect diffs.
async function graphState() {
  const nodes = await run('MATCH (n) RETURN id(n) AS id, labels(n) AS labels, properties(n) AS props');
  const rels = await run('MATCH ()-[r]->() RETURN id(r) AS id, properties(r) AS props');
  const st = { nodes: new Set(), rels: new Set(), labels: new Set(), props: new Set() };
  for (const r of nodes.records) {
    const id = r.get('id').toString();
    st.nodes.add(id);
    for (const l of r.get('labels')) st.labels.add(l);
    for (const [k, v] of Object.entries(r.get('props'))) st.props.add(`n${id}.${k}=${show(fromDriver(v))}`);
  }
  for (const r of rels.records) {
    const id = r.get('id').toString();
    st.rels.add(id);
    for (const [k, v] of Object.entries(r.get('props'))) st.props.add(`r${id}.${k}=${show(fromDriver(v))}`);
  }
  return st;
}

function diff(before, after) {
  const added = (a, b) => [...b].filter((x) => !a.has(x)).length;
  return {
    '+nodes': added(before.nodes, after.nodes), '-nodes': added(after.nodes, before.nodes),
    '+relationships': added(before.rels, after.rels), '-relationships': added(after.rels, before.rels),
    '+labels': added(before.labels, after.labels), '-labels': added(after.labels, before.labels),
    '+properties': added(before.props, after.props), '-properties': added(after.props, before.props),
  };
}

// ---- steps --------------------------------------------------------------------------

class Skip extends Error {}

function table(step) {
  return step.argument?.dataTable?.rows.map((r) => r.cells.map((c) => c.value)) ?? [];
}

function docString(step) {
  return step.argument?.docString?.content ?? '';
}

const ERROR_ALIASES = {
  SyntaxError: ['SyntaxError', 'SemanticError'],
  SemanticError: ['SemanticError', 'SyntaxError'],
  TypeError: ['TypeError', 'SyntaxError', 'SemanticError'],
  ArgumentError: ['ArgumentError', 'SyntaxError', 'SemanticError', 'TypeError'],
  EntityNotFound: ['EntityNotFound'],
  ConstraintVerificationFailed: ['ConstraintValidationFailed', 'ConstraintVerificationFailed'],
  ConstraintValidationFailed: ['ConstraintValidationFailed'],
  ProcedureError: ['ProcedureNotFound', 'ProcedureCallFailed'],
  ParameterMissing: ['ParameterMissing'],
};

// "there exists a procedure test.my.proc(in :: INTEGER?) :: (out :: STRING?):"
// with a table of input and output columns: the rows the procedure yields
// for those inputs.
async function defineProcedure(text, rows) {
  const m = /^there exists a procedure ([\w.]+)\((.*?)\) :: \((.*?)\)\s*:?$/.exec(text);
  if (!m) throw new Error(`cannot read procedure signature: ${text}`);
  const decl = (list) => list.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    const d = /^(\w+)\s*::\s*(\w+\??)$/.exec(x);
    if (!d) throw new Error(`cannot read procedure field: ${x}`);
    return { name: d[1], type: d[2] };
  });
  const ins = decl(m[2]), outs = decl(m[3]);
  const header = rows[0] ?? [];
  const cols = [...ins, ...outs].map((f) => header.indexOf(f.name));
  if (rows.length > 1 && cols.some((c) => c < 0)) throw new Error(`procedure table lacks a declared column: ${text}`);
  const values = rows.slice(1).map((r) => cols.map((c) => toDriverValue(parseTckValue(r[c]))));
  try {
    await run('CALL nornicdb.tck.defineProcedure($name, $inNames, $inTypes, $outNames, $outTypes, $rows)', {
      name: m[1], inNames: ins.map((f) => f.name), inTypes: ins.map((f) => f.type),
      outNames: outs.map((f) => f.name), outTypes: outs.map((f) => f.type), rows: values,
    });
  } catch (e) {
    if (/ProcedureNotFound/.test(e.code ?? '')) throw new Skip('server has no test-only procedures');
    throw e;
  }
  proceduresDefined = true;
}

async function runScenario(pickle) {
  const ctx = { params: {}, result: null, error: null, before: null, after: null };
  if (proceduresDefined) {
    await run('CALL nornicdb.tck.clearProcedures()');
    proceduresDefined = false;
  }
  for (const step of pickle.steps) {
    const text = step.text;
    if (text === 'an empty graph' || text === 'any graph') {
      await resetGraph();
    } else if (/^the (.+) graph$/.test(text)) {
      await resetGraph();
      const name = /^the (.+) graph$/.exec(text)[1];
      const cypher = fs.readFileSync(path.join(graphsDir, name, `${name}.cypher`), 'utf8');
      await run(cypher);
    } else if (text.startsWith('there exists a procedure')) {
      await defineProcedure(text, table(step));
    } else if (text === 'having executed:') {
      await run(docString(step));
    } else if (text === 'parameters are:') {
      for (const [k, v] of table(step)) ctx.params[k] = toDriverValue(parseTckValue(v));
    } else if (text === 'executing query:' || text === 'executing control query:') {
      ctx.before = await graphState();
      try {
        ctx.result = await run(docString(step), ctx.params);
        ctx.error = null;
      } catch (e) {
        ctx.error = e;
        ctx.result = null;
      }
      ctx.after = await graphState();
    } else if (text.startsWith('the result should be')) {
      if (ctx.error) throw new Error(`query failed: ${ctx.error.code}: ${ctx.error.message.split('\n')[0]}`);
      const records = ctx.result.records;
      if (text === 'the result should be empty') {
        if (records.length !== 0) throw new Error(`expected no rows, got ${records.length}`);
        continue;
      }
      const rows = table(step);
      const header = rows[0];
      if (records.length && JSON.stringify(records[0].keys) !== JSON.stringify(header)) {
        throw new Error(`columns ${JSON.stringify(records[0].keys)} != expected ${JSON.stringify(header)}`);
      }
      const ilo = text.includes('ignoring element order for lists');
      const expected = rows.slice(1).map((r) => ({ t: 'list', v: r.map(parseTckValue) }));
      const actual = records.map((rec) => ({ t: 'list', v: header.map((h) => fromDriver(rec.get(h))) }));
      const ok = text.includes('in order')
        ? expected.length === actual.length && expected.every((e, i) => equal(e, actual[i], ilo))
        : multisetEqual(expected, actual, ilo);
      if (!ok) {
        throw new Error(`result mismatch\n  expected: ${expected.map(show).join('\n            ')}\n  actual:   ${actual.map(show).join('\n            ')}`);
      }
    } else if (/should be raised/.test(text)) {
      const m = /an? (\w+) should be raised at (compile time|runtime|any time): ?(\w*)/.exec(text);
      if (!ctx.error) throw new Error(`expected ${m[1]} (${m[3]}), query succeeded`);
      const allowed = ERROR_ALIASES[m[1]] ?? [m[1]];
      const code = ctx.error.code ?? '';
      if (!allowed.some((a) => code.endsWith('.' + a))) {
        throw new Error(`expected ${m[1]} (${m[3]}), got ${code}: ${ctx.error.message.split('\n')[0]}`);
      }
    } else if (text === 'no side effects' || text === 'the side effects should be:') {
      if (ctx.error) throw new Error(`query failed: ${ctx.error.code}: ${ctx.error.message.split('\n')[0]}`);
      const want = Object.fromEntries(table(step).map(([k, v]) => [k, Number(v)]));
      const got = diff(ctx.before, ctx.after);
      for (const k of Object.keys(got)) {
        if ((want[k] ?? 0) !== got[k]) throw new Error(`side effects: ${k} expected ${want[k] ?? 0}, got ${got[k]}`);
      }
    } else {
      throw new Error(`unknown step: ${text}`);
    }
  }
}

function withTimeout(promise, ms) {
  let t;
  return Promise.race([promise, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(t));
}

// ---- main -------------------------------------------------------------------------

const features = listFeatures(featuresDir);
const perFolder = new Map();
let passed = 0, failed = 0, skipped = 0, crashes = 0;
const failures = [];

await ensureServer();
for (const file of features) {
  const folder = path.relative(featuresDir, path.dirname(file));
  if (!perFolder.has(folder)) perFolder.set(folder, { passed: 0, failed: 0, skipped: 0 });
  const bucket = perFolder.get(folder);
  for (const pickle of loadPickles(file)) {
    const name = `${path.relative(featuresDir, file)}: ${pickle.name}`;
    if (filter && !name.includes(filter)) continue;
    try {
      await ensureServer();
      await withTimeout(runScenario(pickle), SCENARIO_TIMEOUT_MS);
      passed++; bucket.passed++;
      if (verbose) console.log(`ok   ${name}`);
    } catch (e) {
      if (e instanceof Skip) { skipped++; bucket.skipped++; if (verbose) console.log(`skip ${name}: ${e.message}`); continue; }
      failed++; bucket.failed++;
      if (server.exited()) {
        crashes++;
        e.message = `SERVER CRASHED: ${e.message}`;
      } else if (/timed out/.test(e.message)) {
        // A stuck query may hold the writer lock: start afresh.
        await server.stop().catch(() => {});
      }
      failures.push(`${name}\n    ${e.message.split('\n').join('\n    ')}`);
      if (verbose) console.log(`FAIL ${name}\n    ${e.message}`);
    }
  }
}
if (driver) await driver.close().catch(() => {});
if (server) await server.stop().catch(() => {});

if (process.env.NORNICDB_TCK_FAILURES) fs.writeFileSync(process.env.NORNICDB_TCK_FAILURES, failures.join('\n') + '\n');
console.log('\nopenCypher TCK results by folder:');
for (const [folder, c] of [...perFolder].sort()) {
  const total = c.passed + c.failed;
  console.log(`  ${folder.padEnd(40)} ${String(c.passed).padStart(4)}/${String(total).padEnd(4)} ${total ? ((100 * c.passed) / total).toFixed(1) : '0.0'}%${c.skipped ? `  (${c.skipped} skipped)` : ''}`);
}
if (crashes) console.log(`\n${crashes} scenarios crashed the server`);

const baseline = fs.existsSync(baselineFile) ? JSON.parse(fs.readFileSync(baselineFile, 'utf8')) : { passed: 0 };
if (updateBaseline && !filter && passed > baseline.passed) {
  fs.writeFileSync(baselineFile, JSON.stringify({ passed }, null, 2) + '\n');
  console.log(`baseline raised to ${passed}`);
}
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
if (!filter && passed < baseline.passed) {
  console.log(`TCK ratchet: ${passed} passing scenarios is below the recorded ${baseline.passed} (tests/tck/baseline.json)`);
  process.exit(1);
}
