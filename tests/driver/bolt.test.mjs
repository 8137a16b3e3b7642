// End-to-end Bolt tests with the official JavaScript drivers (5.28.3 and
// 6.3.0) against a real nornicdb daemon.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startServer } from '../lib/server.mjs';

const require = createRequire(import.meta.url);
const drivers = [
  { name: 'neo4j-driver 5.28', neo4j: require('neo4j-driver'), protocol: 5.8 },
  { name: 'neo4j-driver 6.3', neo4j: require('neo4j-driver-6'), protocol: 6.0 },
];

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const { name, neo4j, protocol } of drivers) {
  describe(name, () => {
    let driver;
    const tag = name.replace(/\W+/g, '_');
    const auth = () => neo4j.auth.basic(server.auth.user, server.auth.password);

    before(() => {
      driver = neo4j.driver(server.boltUrl, auth(), { maxConnectionPoolSize: 4, logging: undefined });
    });
    after(async () => {
      await driver?.close();
    });

    test('connects, authenticates and reports a Neo4j 5 style agent', async () => {
      const info = await driver.getServerInfo();
      assert.match(info.agent, /^Neo4j\/5\.\d+\.\d+-nornicdb/);
      // 5.x drivers report a number, 6.x a {major, minor} object.
      const pv = info.protocolVersion;
      assert.equal(typeof pv === 'number' ? pv : Number(`${pv.major}.${pv.minor}`), protocol);
    });

    test('a wrong password is Neo.ClientError.Security.Unauthorized', async () => {
      const bad = neo4j.driver(server.boltUrl, neo4j.auth.basic(server.auth.user, 'wrong'));
      try {
        await assert.rejects(bad.getServerInfo(), (e) => e.code === 'Neo.ClientError.Security.Unauthorized');
      } finally {
        await bad.close();
      }
    });

    test('auto-commit query returns records and a summary', async () => {
      const session = driver.session();
      try {
        const res = await session.run('RETURN 1 AS one, "x" AS s');
        assert.deepEqual(res.records[0].keys, ['one', 's']);
        assert.equal(res.records[0].get('one').toNumber(), 1);
        assert.equal(res.records[0].get('s'), 'x');
        assert.equal(res.summary.queryType, 'r');
        assert.equal(res.summary.database.name, 'neo4j');
      } finally {
        await session.close();
      }
    });

    test('explicit transactions commit and roll back', async () => {
      const session = driver.session();
      try {
        const tx1 = await session.beginTransaction();
        await tx1.run('CREATE (:TxTest {tag: $tag, k: 1})', { tag });
        await tx1.rollback();
        const tx2 = await session.beginTransaction();
        const created = await tx2.run('CREATE (:TxTest {tag: $tag, k: 2})', { tag });
        assert.equal(created.summary.counters.updates().nodesCreated, 1);
        assert.equal(created.summary.counters.containsUpdates(), true);
        await tx2.commit();
        const res = await session.run('MATCH (n:TxTest {tag: $tag}) RETURN n.k AS k', { tag });
        assert.deepEqual(res.records.map((r) => r.get('k').toNumber()), [2]);
      } finally {
        await session.close();
      }
    });

    test('executeWrite and executeRead', async () => {
      const session = driver.session();
      try {
        const n = await session.executeWrite(async (tx) => {
          const r = await tx.run('CREATE (n:ExecTest {tag: $tag}) RETURN count(n) AS c', { tag });
          return r.records[0].get('c').toNumber();
        });
        assert.equal(n, 1);
        const c = await session.executeRead(async (tx) => {
          const r = await tx.run('MATCH (n:ExecTest {tag: $tag}) RETURN count(n) AS c', { tag });
          return r.records[0].get('c').toNumber();
        });
        assert.equal(c, 1);
      } finally {
        await session.close();
      }
    });

    test('parameters of every type round-trip', async () => {
      const { int, types } = neo4j;
      const values = {
        big: int('9223372036854775807'),
        small: int('-9223372036854775808'),
        five: int(5),
        float: 3.5,
        negzero: -0.25,
        text: 'héllo ✓ 🦀 日本',
        empty: '',
        bytes: new Int8Array([0, 1, -1, 127, -128]),
        list: [int(1), 'two', 3.0, null, [true]],
        map: { a: int(1), nested: { b: 'c' } },
        nil: null,
        yes: true,
        no: false,
        date: new types.Date(2024, 2, 29),
        oldDate: new types.Date(1066, 10, 14),
        time: new types.Time(12, 34, 56, 789000000, 3600),
        localTime: new types.LocalTime(23, 59, 59, 999999999),
        localDateTime: new types.LocalDateTime(2023, 12, 31, 23, 59, 59, 1),
        dateTime: new types.DateTime(2024, 7, 1, 12, 0, 0, 5, -18000),
        zoned: new types.DateTime(2024, 7, 1, 12, 0, 0, 0, 7200, 'Europe/Berlin'),
        duration: new types.Duration(14, 3, 3600, 500),
        point2d: new types.Point(7203, 1.5, -2.5),
        point3d: new types.Point(4979, 12.5, 56.25, 100.0),
      };
      const session = driver.session();
      try {
        const res = await session.run('RETURN $values AS v', { values });
        const v = res.records[0].get('v');
        assert.equal(v.big.toString(), '9223372036854775807');
        assert.equal(v.small.toString(), '-9223372036854775808');
        assert.equal(v.five.toNumber(), 5);
        assert.equal(v.float, 3.5);
        assert.equal(v.negzero, -0.25);
        assert.equal(v.text, values.text);
        assert.equal(v.empty, '');
        assert.deepEqual(Array.from(v.bytes), [0, 1, -1, 127, -128]);
        assert.equal(v.list[0].toNumber(), 1);
        assert.deepEqual(v.list.slice(1), ['two', 3.0, null, [true]]);
        assert.equal(v.map.a.toNumber(), 1);
        assert.deepEqual(v.map.nested, { b: 'c' });
        assert.equal(v.nil, null);
        assert.equal(v.yes, true);
        assert.equal(v.no, false);
        for (const k of ['date', 'oldDate', 'time', 'localTime', 'localDateTime', 'dateTime', 'zoned', 'duration']) {
          assert.equal(v[k].toString(), values[k].toString(), k);
        }
        assert.equal(v.zoned.timeZoneId, 'Europe/Berlin');
        assert.equal(v.zoned.timeZoneOffsetSeconds.toNumber(), 7200);
        for (const k of ['point2d', 'point3d']) {
          assert.equal(v[k].srid.toNumber(), values[k].srid);
          assert.equal(v[k].x, values[k].x);
          assert.equal(v[k].y, values[k].y);
          assert.equal(v[k].z, values[k].z);
        }
      } finally {
        await session.close();
      }
    });

    test('LIMIT takes an integer parameter', async () => {
      const session = driver.session();
      try {
        const res = await session.run('UNWIND range(1, 10) AS i RETURN i LIMIT $n', { n: neo4j.int(3) });
        assert.equal(res.records.length, 3);
      } finally {
        await session.close();
      }
    });

    test('nodes, relationships and paths carry element ids', async () => {
      const session = driver.session();
      try {
        const res = await session.run(
          'CREATE p = (a:Person {name: "A", tag: $tag})-[r:KNOWS {since: 2020}]->(b:Person {name: "B"}) RETURN a, r, b, p',
          { tag });
        const rec = res.records[0];
        const a = rec.get('a');
        const r = rec.get('r');
        const b = rec.get('b');
        const p = rec.get('p');
        assert.deepEqual(a.labels, ['Person']);
        assert.equal(a.properties.name, 'A');
        assert.equal(a.elementId, `4:nornicdb:${a.identity.toString()}`);
        assert.equal(r.type, 'KNOWS');
        assert.equal(r.properties.since.toNumber(), 2020);
        assert.equal(r.elementId, `5:nornicdb:${r.identity.toString()}`);
        assert.equal(r.startNodeElementId, a.elementId);
        assert.equal(r.endNodeElementId, b.elementId);
        assert.equal(p.length, 1);
        assert.equal(p.start.elementId, a.elementId);
        assert.equal(p.end.elementId, b.elementId);
        assert.equal(p.segments[0].relationship.elementId, r.elementId);
        const again = await session.run('MATCH (n) WHERE elementId(n) = $id RETURN n.name AS name', { id: a.elementId });
        assert.equal(again.records[0].get('name'), 'A');
      } finally {
        await session.close();
      }
    });

    test('a large result streams batch by batch (fetchSize 1000)', async () => {
      const session = driver.session({ fetchSize: 1000 });
      try {
        const result = session.run('UNWIND range(1, 200000) AS i RETURN i');
        let count = 0;
        let sum = 0;
        for await (const rec of result) {
          count++;
          sum += rec.get('i').toNumber();
        }
        assert.equal(count, 200000);
        assert.equal(sum, (200000 * 200001) / 2);
      } finally {
        await session.close();
      }
    });

    test('a syntax error surfaces with its code and the connection is reused after RESET', async () => {
      const single = neo4j.driver(server.boltUrl, auth(), { maxConnectionPoolSize: 1 });
      const session = single.session();
      try {
        await assert.rejects(session.run('RETURN RETURN'), (e) => e.code === 'Neo.ClientError.Statement.SyntaxError');
        const ok = await session.run('RETURN 2 AS two');
        assert.equal(ok.records[0].get('two').toNumber(), 2);
        const tx = await session.beginTransaction();
        await assert.rejects(tx.run('RETURN 1/0 AS boom'));
        await tx.rollback().catch(() => {});
        const again = await session.run('RETURN 3 AS three');
        assert.equal(again.records[0].get('three').toNumber(), 3);
      } finally {
        await session.close();
        await single.close();
      }
    });

    test('bookmarks carry a write into another session', async () => {
      const w = driver.session({ defaultAccessMode: neo4j.session.WRITE });
      let bookmarks;
      try {
        await w.run('CREATE (:Bookmarked {tag: $tag})', { tag });
        bookmarks = w.lastBookmarks();
        assert.ok(bookmarks.length >= 1);
        assert.match(bookmarks[0], /^nornicdb:\d+$/);
      } finally {
        await w.close();
      }
      const r = driver.session({ defaultAccessMode: neo4j.session.READ, bookmarks });
      try {
        const res = await r.run('MATCH (n:Bookmarked {tag: $tag}) RETURN count(n) AS c', { tag });
        assert.equal(res.records[0].get('c').toNumber(), 1);
      } finally {
        await r.close();
      }
    });

    test('neo4j:// with a resolver gets a routing table and runs queries', async () => {
      const routed = neo4j.driver('neo4j://nornicdb.invalid:7687', auth(), {
        resolver: () => [`127.0.0.1:${server.boltPort}`],
      });
      try {
        const info = await routed.getServerInfo();
        assert.equal(info.address, `127.0.0.1:${server.boltPort}`);
        const session = routed.session({ defaultAccessMode: neo4j.session.READ });
        const res = await session.run('RETURN 42 AS x');
        assert.equal(res.records[0].get('x').toNumber(), 42);
        await session.close();
        const n = await routed.executeQuery('CREATE (n:Routed {tag: $tag}) RETURN count(n) AS c', { tag });
        assert.equal(n.records[0].get('c').toNumber(), 1);
      } finally {
        await routed.close();
      }
    });

    test('an unknown database is Neo.ClientError.Database.DatabaseNotFound', async () => {
      const session = driver.session({ database: 'nosuchdb' });
      try {
        await assert.rejects(session.run('RETURN 1'), (e) => e.code === 'Neo.ClientError.Database.DatabaseNotFound');
      } finally {
        await session.close();
      }
    });

    test('EXPLAIN returns a plan and PROFILE a profile', async () => {
      const session = driver.session();
      try {
        const res = await session.run('EXPLAIN MATCH (n:Person) RETURN n');
        assert.equal(res.records.length, 0);
        assert.ok(res.summary.hasPlan());
        assert.equal(typeof res.summary.plan.operatorType, 'string');
        const prof = await session.run('PROFILE UNWIND [1, 2, 3] AS x RETURN x');
        assert.equal(prof.records.length, 3);
        assert.ok(prof.summary.hasProfile());
        assert.equal(prof.summary.profile.rows, 3);
      } finally {
        await session.close();
      }
    });

    test('a reader cannot write', async () => {
      const user = `reader_${tag}`;
      const basic = Buffer.from(`${server.auth.user}:${server.auth.password}`).toString('base64');
      const resp = await fetch(`${server.httpUrl}/admin/users`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/json' },
        body: JSON.stringify({ username: user, password: 'reader-pw', role: 'reader' }),
      });
      assert.ok(resp.status === 200 || resp.status === 201, `creating a reader via /admin/users: HTTP ${resp.status}`);
      const rd = neo4j.driver(server.boltUrl, neo4j.auth.basic(user, 'reader-pw'));
      const session = rd.session();
      try {
        const ok = await session.run('MATCH (n) RETURN count(n) AS c');
        assert.ok(ok.records[0].get('c').toNumber() >= 0);
        await assert.rejects(session.run('CREATE (:Forbidden)'), (e) => e.code.startsWith('Neo.ClientError.'));
      } finally {
        await session.close();
        await rd.close();
      }
    });
  });
}
