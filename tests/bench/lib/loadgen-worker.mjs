// One load-generator process (forked by loadgen.mjs). It opens its share of
// the clients, says "ready", runs a closed loop (each client sends its next
// request when the previous one is answered) for the given seconds after
// "go", and sends back its latencies (ms), counts and its own CPU time.
import { createRequire } from 'node:module';
import { prng } from './stats.mjs';

const require = createRequire(import.meta.url);

// Each kind: open(target, clientIndex) -> client; op(client, id, name); close(client).
const KINDS = {
  bolt: () => {
    const neo4j = require('neo4j-driver');
    let driver = null;
    return {
      lib: `neo4j-driver ${require('neo4j-driver/package.json').version}`,
      async open(t, clients) {
        driver ??= neo4j.driver(t.url, neo4j.auth.basic(t.user, t.password),
          { maxConnectionPoolSize: clients + 2, connectionAcquisitionTimeout: 60000, disableLosslessIntegers: false });
        return driver.session();
      },
      op: (session, id, name, t) => session.run(t.cypher, { id: neo4j.int(id), name }),
      close: (session) => session.close(),
      async end() { await driver?.close(); },
    };
  },
  redis: () => {
    const { createClient } = require('redis');
    return {
      lib: `node-redis ${require('redis/package.json').version}`,
      // One connection per client: node-redis would otherwise pipeline every
      // client's command over one socket, which Bolt sessions do not do.
      async open(t) {
        const c = createClient({ socket: { host: t.host, port: t.port } });
        c.on('error', () => {});
        await c.connect();
        return c;
      },
      op: (c, id, name) => c.set(`person:${id}`, JSON.stringify({ id, name })),
      close: (c) => c.quit().catch(() => {}),
      async end() {},
    };
  },
  etcd: () => {
    const { Etcd3 } = require('etcd3');
    return {
      lib: `etcd3 ${require('etcd3/package.json').version}`,
      async open(t) {
        const c = new Etcd3({ hosts: t.hosts });
        return c;
      },
      op: (c, id, name) => c.put(`person/${id}`).value(JSON.stringify({ id, name })),
      close: (c) => c.close(),
      async end() {},
    };
  },
};

let setup = null;

process.on('message', async (msg) => {
  try {
    if (msg.type === 'setup') await onSetup(msg);
    else if (msg.type === 'go') await onGo(msg);
  } catch (e) {
    process.send({ type: 'fatal', error: String(e?.message ?? e) });
    setTimeout(() => process.exit(1), 100);
  }
});

async function onSetup(msg) {
  const impl = KINDS[msg.kind]();
  const clients = [];
  for (let c = 0; c < msg.clients; c++) {
    const client = await impl.open(msg.target, msg.clients);
    const rnd = prng((msg.seed ^ Math.imul(msg.worker + 1, 7919) ^ Math.imul(c + 1, 104729)) >>> 0);
    clients.push({ client, rnd, base: msg.worker * 100_000_000 + c * 1_000_000 + msg.idOffset, n: 0 });
  }
  // One request per client before the clock starts: connections are open and authenticated.
  await Promise.all(clients.map((cl) => impl.op(cl.client, cl.base + cl.n++, 'warm-up', msg.target)));
  setup = { msg, impl, clients };
  process.send({ type: 'ready', lib: impl.lib });
}

async function onGo() {
  const { msg, impl, clients } = setup;
  const lat = [];
  let errors = 0;
  let firstError = null;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + msg.seconds * 1000;
  await Promise.all(clients.map(async (cl) => {
    for (let k = 0; k < msg.maxOpsPerClient && performance.now() < deadline; k++) {
      const id = cl.base + cl.n++;
      const name = `name-${Math.floor(cl.rnd() * 2 ** 32).toString(36)}`;
      const s = performance.now();
      try {
        await impl.op(cl.client, id, name, msg.target);
        lat.push(performance.now() - s);
      } catch (e) {
        errors++;
        firstError ??= String(e?.message ?? e).split('\n')[0];
        if (errors > 1000) break;
      }
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => process.send({ type: 'done', lat, errors, firstError, elapsed,
    cpuSeconds: (cpu.user + cpu.system) / 1e6 }, r));
  await Promise.all(clients.map((cl) => Promise.resolve(impl.close(cl.client)).catch(() => {})));
  await impl.end().catch(() => {});
  process.exit(0);
}
