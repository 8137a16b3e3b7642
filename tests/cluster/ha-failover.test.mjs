// kill -9 of the primary under concurrent write load, for each sync mode,
// with a seeded schedule (NORNICDB_HA_SEED, default 1; NORNICDB_HA_ROUNDS
// rounds per mode, default 3). In sync mode every acknowledged write must be
// on the promoted standby; semi_sync and async print how many were lost.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cypher, health, rng, sleep, startPair, waitFor } from './ha-lib.mjs';

const ROUNDS = Number(process.env.NORNICDB_HA_ROUNDS ?? 3);
const SEED = Number(process.env.NORNICDB_HA_SEED ?? 1);
const WRITERS = 8;
const FAILOVER_MS = 1000;

async function round(mode, rand, label) {
  const pair = await startPair({ syncMode: mode, failover: `${FAILOVER_MS}ms`, heartbeatMs: 100 });
  try {
    const acked = new Set();
    let stop = false;
    let next = 0;
    const writer = async () => {
      while (!stop) {
        const id = next++;
        try {
          await cypher(pair.a, 'CREATE (:W {id: $id})', { parameters: { id }, timeout: 3000 });
          acked.add(id);
        } catch {
          await sleep(5);
        }
      }
    };
    const writers = Array.from({ length: WRITERS }, writer);
    // The seeded delay counts from the first acknowledged writes (a loaded
    // machine may take a while to warm up the first connections).
    await waitFor('the first acknowledged writes', async () => acked.size >= 3, 15000, 10);
    const loadMs = 300 + Math.floor(rand() * 1200);
    await sleep(loadMs);
    const killedAt = Date.now();
    await pair.a.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);

    await waitFor('the standby to promote itself', async () => (await health(pair.b)).role === 'primary', 15000, 25);
    // First successful write on the promoted standby.
    await waitFor('a write on the new primary', async () => {
      await cypher(pair.b, 'CREATE (:AfterFailover)', { timeout: 15000 });
      return true;
    }, 30000, 25);
    const windowMs = Date.now() - killedAt;

    const res = await cypher(pair.b, 'MATCH (n:W) RETURN collect(n.id)');
    const present = new Set(res.rows[0][0]);
    let lost = 0;
    for (const id of acked) if (!present.has(id)) lost++;
    console.log(`# ${label}: mode=${mode} load=${loadMs}ms acked=${acked.size} on-standby=${present.size} ` +
      `lost-acknowledged=${lost} failover-window=${windowMs}ms (timeout ${FAILOVER_MS}ms)`);
    assert.ok(acked.size > 0, 'the load produced acknowledged writes');
    if (mode === 'sync') assert.equal(lost, 0, `sync mode lost ${lost} acknowledged writes\n${pair.logs()}`);
    const h = await health(pair.b);
    assert.equal(h.epoch, 2);
    return lost;
  } finally {
    await pair.stop();
  }
}

describe('kill -9 of the primary under write load', () => {
  for (const mode of ['sync', 'semi_sync', 'async']) {
    test(`${mode}: ${ROUNDS} seeded rounds (seed ${SEED})`, async () => {
      const rand = rng(SEED * 1000 + mode.length);
      let total = 0;
      for (let r = 0; r < ROUNDS; r++) total += await round(mode, rand, `round ${r + 1}/${ROUNDS}`);
      console.log(`# ${mode}: ${total} acknowledged write(s) lost over ${ROUNDS} round(s)`);
    });
  }
});
