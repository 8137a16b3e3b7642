// A 3-node Raft cluster whose cluster traffic runs over mutual TLS 1.3
// (127.0.0.61-63:7688), certificates minted by openssl for the test.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RaftCluster, cypher, http, waitFor } from './raft-lib.mjs';

let dir;
let cluster;
const file = (n) => path.join(dir, n);
const openssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' });

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-raft-tls-'));
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=nornicdb raft test CA',
    '-keyout', file('ca.key'), '-out', file('ca.crt'));
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.61,IP:127.0.0.62,IP:127.0.0.63,IP:127.0.0.1\n' > ${file('san.ext')}`]);
  for (const i of [1, 2, 3]) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=node-${i}`, '-keyout', file(`${i}.key`), '-out', file(`${i}.csr`));
    openssl('x509', '-req', '-in', file(`${i}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
      '-CAcreateserial', '-days', '2', '-extfile', file('san.ext'), '-out', file(`${i}.crt`));
  }
  cluster = new RaftCluster({ prefix: '127.0.0.6', n: 3, clusterId: 'tls' });
  await Promise.all(cluster.ids.map((i) => cluster.start(i, {
    env: {
      NORNICDB_CLUSTER_TLS_ENABLED: 'true',
      NORNICDB_CLUSTER_TLS_CERT_FILE: file(`${i}.crt`),
      NORNICDB_CLUSTER_TLS_KEY_FILE: file(`${i}.key`),
      NORNICDB_CLUSTER_TLS_CA_FILE: file('ca.crt'),
      NORNICDB_CLUSTER_TLS_VERIFY_CLIENT: 'true',
      NORNICDB_CLUSTER_TLS_MIN_VERSION: '1.3',
    },
  })));
});
after(async () => {
  await cluster?.stopAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('elects a leader and replicates over mutual TLS', async () => {
  const leader = await cluster.waitLeader(15000);
  for (let k = 0; k < 10; k++) await cypher(cluster.node(leader), 'CREATE (:T {k: $k})', { k });
  await cluster.waitConverged();
  for (const i of cluster.ids) {
    const [{ c }] = await cypher(cluster.node(i), 'MATCH (n:T) RETURN count(n) AS c');
    assert.equal(c, 10, `node-${i}`);
  }
  await waitFor('every member healthy', async () => {
    const b = (await http(cluster.node(leader), '/admin/cluster/status')).body;
    return b.members.every((m) => m.healthy) ? b : null;
  }, 10000);
});
