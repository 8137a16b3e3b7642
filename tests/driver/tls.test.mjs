// Bolt over TLS and mutual TLS, with certificates minted by openssl for the
// test (a throwaway CA, a server certificate for 127.0.0.1 and a client one).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startServer } from '../lib/server.mjs';

const require = createRequire(import.meta.url);
const drivers = [
  ['neo4j-driver 5.28', require('neo4j-driver')],
  ['neo4j-driver 6.3', require('neo4j-driver-6')],
];

let dir;
const file = (n) => path.join(dir, n);
function openssl(...args) {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nornicdb-tls-'));
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=nornicdb test CA',
    '-keyout', file('ca.key'), '-out', file('ca.crt'));
  for (const who of ['server', 'client', 'stranger']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`,
      '-keyout', file(`${who}.key`), '-out', file(`${who}.csr`));
  }
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > ${file('san.ext')}`]);
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-days', '2', '-extfile', file('san.ext'), '-out', file('server.crt'));
  openssl('x509', '-req', '-in', file('client.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-days', '2', '-out', file('client.crt'));
  // Self-signed: not from the CA.
  openssl('x509', '-req', '-in', file('stranger.csr'), '-signkey', file('stranger.key'), '-days', '2',
    '-out', file('stranger.crt'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tlsEnv = () => ({
  NORNICDB_BOLT_TLS_ENABLED: 'true',
  NORNICDB_BOLT_TLS_CERT: file('server.crt'),
  NORNICDB_BOLT_TLS_KEY: file('server.key'),
});

async function roundTrip(neo4j, url, auth, config) {
  const driver = neo4j.driver(url, auth, { connectionTimeout: 5000, maxConnectionPoolSize: 1, ...config });
  // session.run, not executeQuery: a refused connection must fail at once,
  // not be retried for 30 s.
  const session = driver.session();
  try {
    const res = await session.run('RETURN 7 AS x');
    return res.records[0].get('x').toNumber();
  } finally {
    await session.close();
    await driver.close();
  }
}

describe('TLS', () => {
  let server;
  before(async () => {
    server = await startServer({ env: tlsEnv() });
  });
  after(async () => {
    await server?.stop();
  });

  for (const [name, neo4j] of drivers) {
    test(`${name}: bolt+ssc:// works and plain bolt:// does not`, async () => {
      const auth = neo4j.auth.basic(server.auth.user, server.auth.password);
      assert.equal(await roundTrip(neo4j, `bolt+ssc://127.0.0.1:${server.boltPort}`, auth), 7);
      assert.equal(await roundTrip(neo4j, `bolt://127.0.0.1:${server.boltPort}`, auth, {
        encrypted: 'ENCRYPTION_ON',
        trust: 'TRUST_CUSTOM_CA_SIGNED_CERTIFICATES',
        trustedCertificates: [file('ca.crt')],
      }), 7);
      await assert.rejects(roundTrip(neo4j, `bolt://127.0.0.1:${server.boltPort}`, auth));
    });
  }
});

describe('mutual TLS', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { ...tlsEnv(), NORNICDB_BOLT_TLS_CLIENT_CA: file('ca.crt') } });
  });
  after(async () => {
    await server?.stop();
  });

  for (const [name, neo4j] of drivers) {
    test(`${name}: a client certificate from the CA is required`, async () => {
      const auth = neo4j.auth.basic(server.auth.user, server.auth.password);
      const url = `bolt+ssc://127.0.0.1:${server.boltPort}`;
      assert.equal(await roundTrip(neo4j, url, auth, {
        clientCertificate: { certfile: file('client.crt'), keyfile: file('client.key') },
      }), 7);
      await assert.rejects(roundTrip(neo4j, url, auth));
      await assert.rejects(roundTrip(neo4j, url, auth, {
        clientCertificate: { certfile: file('stranger.crt'), keyfile: file('stranger.key') },
      }));
    });
  }
});
