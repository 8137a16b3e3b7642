// Bolt server limits and bad input, with a raw socket client: malformed
// chunks and PackStream, oversized messages, the connection limit and the
// idle timeout. Every case also checks that the server keeps serving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createRequire } from 'node:module';
import { startServer } from '../lib/server.mjs';

const require = createRequire(import.meta.url);
const neo4j = require('neo4j-driver');

// ---- a tiny Bolt client -------------------------------------------------------

function str(s) {
  const b = Buffer.from(s, 'utf8');
  if (b.length < 16) return Buffer.concat([Buffer.from([0x80 | b.length]), b]);
  if (b.length < 256) return Buffer.concat([Buffer.from([0xd0, b.length]), b]);
  const h = Buffer.alloc(5);
  h[0] = 0xd2;
  h.writeUInt32BE(b.length, 1);
  return Buffer.concat([h, b]);
}

function map(obj) {
  const entries = Object.entries(obj);
  return Buffer.concat([Buffer.from([0xa0 | entries.length]), ...entries.flatMap(([k, v]) => [str(k), str(v)])]);
}

function chunk(msg) {
  const parts = [];
  for (let i = 0; i < msg.length; i += 65535) {
    const piece = msg.subarray(i, i + 65535);
    const h = Buffer.alloc(2);
    h.writeUInt16BE(piece.length);
    parts.push(h, piece);
  }
  parts.push(Buffer.from([0, 0]));
  return Buffer.concat(parts);
}

const handshake = Buffer.from([0x60, 0x60, 0xb0, 0x17, 0, 0, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const hello = () => chunk(Buffer.concat([Buffer.from([0xb1, 0x01]), map({ user_agent: 'raw/1.0' })]));
const logon = (user, password) =>
  chunk(Buffer.concat([Buffer.from([0xb1, 0x6a]), map({ scheme: 'basic', principal: user, credentials: password })]));
const run = (query) => chunk(Buffer.concat([Buffer.from([0xb3, 0x10]), str(query), Buffer.from([0xa0, 0xa0])]));

/** Connects and collects everything the server sends until it closes (or timeoutMs). */
function rawSession(port, writes, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks = [];
    let closed = false;
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(byServer) {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), closedByServer: byServer });
    }
    sock.on('connect', () => {
      for (const w of writes) sock.write(w);
    });
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
  });
}

/** Splits a server byte stream (after the 4-byte version) into message signatures. */
function messageTags(data) {
  const tags = [];
  let pos = 4;
  let cur = [];
  while (pos + 2 <= data.length) {
    const size = data.readUInt16BE(pos);
    pos += 2;
    if (size === 0) {
      if (cur.length) tags.push(Buffer.concat(cur)[1]);
      cur = [];
      continue;
    }
    cur.push(data.subarray(pos, pos + size));
    pos += size;
  }
  return tags;
}

const SUCCESS = 0x70;
const FAILURE = 0x7f;

async function stillServes(server) {
  const driver = neo4j.driver(server.boltUrl, neo4j.auth.basic(server.auth.user, server.auth.password));
  try {
    const res = await driver.executeQuery('RETURN 1 AS x');
    assert.equal(res.records[0].get('x').toNumber(), 1);
  } finally {
    await driver.close();
  }
}

describe('bad input', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { NORNICDB_BOLT_MAX_MESSAGE_SIZE: '65536' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('a non-Bolt client is disconnected without an answer', async () => {
    const r = await rawSession(server.boltPort, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    assert.equal(r.closedByServer, true);
    assert.equal(r.data.length, 0);
    await stillServes(server);
  });

  test('no common version is answered with 0.0 and a close', async () => {
    const hs = Buffer.from([0x60, 0x60, 0xb0, 0x17, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const r = await rawSession(server.boltPort, [hs]);
    assert.deepEqual([...r.data], [0, 0, 0, 0]);
    assert.equal(r.closedByServer, true);
  });

  test('a 2 GB string length prefix fails and closes', async () => {
    const bad = chunk(Buffer.from([0xb3, 0x10, 0xd2, 0x7f, 0xff, 0xff, 0xff, 0x41]));
    const r = await rawSession(server.boltPort, [handshake, hello(), logon(server.auth.user, server.auth.password), bad]);
    assert.deepEqual(messageTags(r.data), [SUCCESS, SUCCESS, FAILURE]);
    assert.match(r.data.toString('latin1'), /Neo\.ClientError\.Request\.Invalid/);
    assert.equal(r.closedByServer, true);
    await stillServes(server);
  });

  test('a message over NORNICDB_BOLT_MAX_MESSAGE_SIZE fails and closes', async () => {
    const big = run(`RETURN "${'x'.repeat(100000)}"`);
    const r = await rawSession(server.boltPort, [handshake, hello(), logon(server.auth.user, server.auth.password), big]);
    assert.deepEqual(messageTags(r.data), [SUCCESS, SUCCESS, FAILURE]);
    assert.match(r.data.toString('latin1'), /maximum message size/);
    assert.equal(r.closedByServer, true);
    await stillServes(server);
  });

  test('random garbage after the handshake never takes the server down', async () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 20; i++) {
      const junk = Buffer.from(Array.from({ length: 50 + i * 13 }, rand));
      await rawSession(server.boltPort, [handshake, junk], { timeoutMs: 1000 });
    }
    await stillServes(server);
  });

  test('a client that stops reading for a while still gets every row', async () => {
    const pullAll = chunk(Buffer.from([0xb1, 0x3f, 0xa1, 0x81, 0x6e, 0xff]));
    const rows = await new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port: server.boltPort });
      sock.on('connect', () => {
        sock.write(Buffer.concat([handshake, hello(), logon(server.auth.user, server.auth.password),
          run(`UNWIND range(1, 300000) AS i RETURN i, '${'p'.repeat(100)}' AS pad`), pullAll]));
        sock.pause(); // let the server's send buffer fill up (30 MB of rows)
        setTimeout(() => sock.resume(), 1500);
      });
      // Incremental parse: count RECORDs until the final SUCCESS of the PULL.
      let buf = Buffer.alloc(0);
      let pos = 0;
      let versionLeft = 4;
      let msgLen = 0;
      let records = 0;
      let summaries = 0;
      sock.on('data', (d) => {
        buf = Buffer.concat([buf.subarray(pos), d]);
        pos = 0;
        if (versionLeft > 0) {
          const skip = Math.min(versionLeft, buf.length);
          buf = buf.subarray(skip);
          versionLeft -= skip;
        }
        while (pos + 2 <= buf.length) {
          const size = buf.readUInt16BE(pos);
          if (pos + 2 + size > buf.length) break;
          if (size === 0) {
            msgLen = 0;
          } else {
            if (msgLen === 0) {
              const tag = buf[pos + 3];
              if (tag === 0x71) records++;
              else summaries++;
            }
            msgLen += size;
          }
          pos += 2 + size;
        }
        if (summaries >= 4) { // HELLO, LOGON, RUN, PULL
          sock.destroy();
          resolve(records);
        }
      });
      const timer = setTimeout(() => { sock.destroy(); reject(new Error('timed out')); }, 60000);
      sock.on('error', reject);
      sock.on('close', () => { clearTimeout(timer); reject(new Error('closed early')); });
    });
    assert.equal(rows, 300000);
  });

  test('running a query before logging on fails and closes', async () => {
    const r = await rawSession(server.boltPort, [handshake, hello(), run('RETURN 1')]);
    assert.deepEqual(messageTags(r.data), [SUCCESS, FAILURE]);
    assert.equal(r.closedByServer, true);
  });
});

describe('connection limits', () => {
  let server;
  before(async () => {
    server = await startServer({
      env: { NORNICDB_BOLT_MAX_CONNECTIONS: '2', NORNICDB_BOLT_IDLE_TIMEOUT: '1s' },
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('connections beyond NORNICDB_BOLT_MAX_CONNECTIONS get a FAILURE', async () => {
    const open = [];
    const opened = (sock) => new Promise((resolve) => sock.once('data', resolve));
    for (let i = 0; i < 2; i++) {
      const s = net.connect({ host: '127.0.0.1', port: server.boltPort });
      s.on('error', () => {});
      const ready = opened(s);
      s.write(handshake);
      await ready;
      open.push(s);
    }
    try {
      const r = await rawSession(server.boltPort, [handshake, hello()], { timeoutMs: 3000 });
      assert.deepEqual(messageTags(r.data), [FAILURE]);
      assert.match(r.data.toString('latin1'), /Too many connections/);
      assert.equal(r.closedByServer, true);
    } finally {
      for (const s of open) s.destroy();
    }
    // Slots free up once the server has noticed the others are gone.
    for (let attempt = 0; ; attempt++) {
      try {
        await stillServes(server);
        break;
      } catch (e) {
        if (attempt >= 25) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });

  test('idle connections are closed after NORNICDB_BOLT_IDLE_TIMEOUT', async () => {
    const started = Date.now();
    const r = await rawSession(server.boltPort, [handshake], { timeoutMs: 8000 });
    assert.equal(r.closedByServer, true);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 7000, `closed after ${elapsed} ms`);
  });
});
