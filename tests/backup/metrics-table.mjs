#!/usr/bin/env node
// Prints the Markdown rows of docs/operations.md's metrics table from a
// running server's /metrics, for updating the table when families change:
//
//   node tests/backup/metrics-table.mjs http://localhost:7474/metrics [user:password]
//
// The modes column gets the server's replication mode (from
// nornicdb_replication_mode{mode="..."}); merge rows from servers of each
// mode by hand. backup.test.mjs and raft-restore.test.mjs compare the table
// with real servers.
const [url, auth] = process.argv.slice(2);
if (!url) {
  console.error('usage: metrics-table.mjs <metrics url> [user:password]');
  process.exit(2);
}
const headers = auth ? { Authorization: 'Basic ' + Buffer.from(auth).toString('base64') } : {};
const res = await fetch(url, { headers, signal: AbortSignal.timeout(10000) });
if (res.status !== 200) {
  console.error(`${url}: HTTP ${res.status}`);
  process.exit(1);
}
const text = await res.text();
const mode = text.match(/^nornicdb_replication_mode\{mode="([^"]+)"\}/m)?.[1] ?? 'unknown';
const help = new Map([...text.matchAll(/^# HELP (\S+) (.*)$/gm)].map((m) => [m[1], m[2]]));
for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
  console.log(`| \`${m[1]}\` | ${m[2]} | ${mode} | ${help.get(m[1]) ?? ''} |`);
}
