// Cluster traffic over mutual TLS (NORNICDB_CLUSTER_TLS_*), certificates
// minted by openssl for the test: a throwaway CA, one certificate per node,
// and a self-signed stranger that the pair must refuse.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cypher, health, sleep, startPair, waitConverged } from './ha-lib.mjs';

let dir;
const file = (n) => path.join(dir, n);
const openssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' });

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-ha-tls-'));
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=nornicdb cluster test CA',
    '-keyout', file('ca.key'), '-out', file('ca.crt'));
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.11,IP:127.0.0.12,IP:127.0.0.1\n' > ${file('san.ext')}`]);
  for (const who of ['a', 'b', 'stranger']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=node-${who}`,
      '-keyout', file(`${who}.key`), '-out', file(`${who}.csr`));
  }
  for (const who of ['a', 'b']) {
    openssl('x509', '-req', '-in', file(`${who}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
      '-CAcreateserial', '-days', '2', '-extfile', file('san.ext'), '-out', file(`${who}.crt`));
  }
  openssl('x509', '-req', '-in', file('stranger.csr'), '-signkey', file('stranger.key'), '-days', '2',
    '-extfile', file('san.ext'), '-out', file('stranger.crt'));
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const tls = (who) => ({
  NORNICDB_CLUSTER_TLS_ENABLED: 'true',
  NORNICDB_CLUSTER_TLS_CERT_FILE: file(`${who}.crt`),
  NORNICDB_CLUSTER_TLS_KEY_FILE: file(`${who}.key`),
  NORNICDB_CLUSTER_TLS_CA_FILE: file('ca.crt'),
  NORNICDB_CLUSTER_TLS_VERIFY_CLIENT: 'true',
  NORNICDB_CLUSTER_TLS_MIN_VERSION: '1.3',
});

describe('hot standby over mutual TLS', () => {
  test('the pair replicates over TLS 1.3 with client certificates', async () => {
    const pair = await startPair({ syncMode: 'sync', failover: '30s', envA: tls('a'), envB: tls('b') });
    try {
      for (let i = 0; i < 10; i++) await cypher(pair.a, 'CREATE (:S {i: $i})', { parameters: { i } });
      await waitConverged(pair.a, pair.b);
      const c = await cypher(pair.b, 'MATCH (n:S) RETURN count(n)');
      assert.equal(c.rows[0][0], 10);
      assert.equal((await health(pair.a)).peers[0].healthy, true);
    } finally {
      await pair.stop();
    }
  });

  test('a standby with a certificate not signed by the CA gets nothing', async () => {
    const pair = await startPair({
      syncMode: 'async', failover: '30s', startB: false, envA: tls('a'), envB: tls('stranger'),
    });
    try {
      for (let i = 0; i < 5; i++) await cypher(pair.a, 'CREATE (:Secret {i: $i})', { parameters: { i } });
      await pair.start('b');
      await sleep(2500);
      const hb = await health(pair.b);
      assert.equal(hb.peers[0].healthy, false, JSON.stringify(hb));
      assert.equal(hb.applied_index, 0);
      const c = await cypher(pair.b, 'MATCH (n:Secret) RETURN count(n)');
      assert.equal(c.rows[0][0], 0);
      assert.match(pair.a.output() + pair.b.output(), /TLS|certificate/i);
    } finally {
      await pair.stop();
    }
  });
});
