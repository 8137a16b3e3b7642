// Unit tests of the register linearizability checker (lib/linearizability.mjs)
// with hand-made histories. Each non-linearizable case is one the checker
// must reject; weakening it (ignoring real-time order, accepting any read,
// treating unknown writes as applied at invocation only...) makes one fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory, checkRegister, pairHistory } from './lib/linearizability.mjs';

// Builds a history from compact operations [process, f, value, start, end, status='ok'].
// Reads give the value returned; end null = never completed.
function h(...ops) {
  const evs = [];
  for (const [p, f, v, start, end, status = 'ok', key = 'x'] of ops) {
    evs.push({ type: 'invoke', process: p, f, key, value: f === 'write' ? v : undefined, time: start });
    if (end !== null) evs.push({ type: status, process: p, f, key, value: v, time: end });
  }
  return evs.sort((a, b) => a.time - b.time);
}

const ok = (hist) => assert.equal(checkHistory(hist).valid, true, JSON.stringify(checkHistory(hist).keys, null, 1));
const bad = (hist) => assert.equal(checkHistory(hist).valid, false);

test('/nemesis/linearizability/sequential-history-is-linearizable', () => {
  ok(h([1, 'read', null, 0, 1], [1, 'write', 'a', 2, 3], [1, 'read', 'a', 4, 5], [2, 'write', 'b', 6, 7], [1, 'read', 'b', 8, 9]));
});

test('/nemesis/linearizability/stale-read-after-acknowledged-write-is-rejected', () => {
  // b was acknowledged at 7; a read starting at 8 returns the older a.
  bad(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 6, 7], [3, 'read', 'a', 8, 9]));
});

test('/nemesis/linearizability/read-of-initial-value-after-write-is-rejected', () => {
  bad(h([1, 'write', 'a', 0, 1], [2, 'read', null, 2, 3]));
});

test('/nemesis/linearizability/lost-write-is-rejected', () => {
  // a and then b acknowledged; later reads see a again and never b: b was lost.
  bad(h([1, 'write', 'a', 0, 1], [1, 'write', 'b', 2, 3], [2, 'read', 'a', 4, 5], [2, 'read', 'a', 6, 7]));
});

test('/nemesis/linearizability/read-of-a-value-never-written-is-rejected', () => {
  bad(h([1, 'write', 'a', 0, 1], [2, 'read', 'zzz', 2, 3]));
  // also when the read overlaps the write
  bad(h([1, 'write', 'a', 0, 10], [2, 'read', 'zzz', 2, 3]));
});

test('/nemesis/linearizability/read-overlapping-a-write-may-see-old-or-new', () => {
  ok(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 2, 10], [3, 'read', 'a', 3, 4]));
  ok(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 2, 10], [3, 'read', 'b', 3, 4]));
});

test('/nemesis/linearizability/reads-may-not-flip-back-during-an-overlapping-write', () => {
  // Once one read saw b, a later (non-overlapping) read cannot see a again,
  // even though the write of b is still in flight.
  bad(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 2, 20], [3, 'read', 'b', 3, 4], [4, 'read', 'a', 5, 6]));
  // Overlapping reads, though, can be ordered a then b.
  ok(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 2, 20], [3, 'read', 'b', 3, 8], [4, 'read', 'a', 5, 6]));
});

test('/nemesis/linearizability/concurrent-writes-any-order-but-one-order-for-all-readers', () => {
  // a and b concurrent; readers after both may see either, but both readers
  // in sequence must agree with one order: b then a then b is impossible.
  ok(h([1, 'write', 'a', 0, 5], [2, 'write', 'b', 1, 6], [3, 'read', 'a', 7, 8]));
  ok(h([1, 'write', 'a', 0, 5], [2, 'write', 'b', 1, 6], [3, 'read', 'b', 7, 8]));
  bad(h([1, 'write', 'a', 0, 5], [2, 'write', 'b', 1, 6], [3, 'read', 'b', 2, 3], [3, 'read', 'a', 4, 4.5], [3, 'read', 'b', 7, 8]));
});

test('/nemesis/linearizability/failed-write-never-happened', () => {
  ok(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 2, 3, 'fail'], [3, 'read', 'a', 4, 5]));
  bad(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 2, 3, 'fail'], [3, 'read', 'b', 4, 5]));
});

test('/nemesis/linearizability/info-write-may-take-effect-any-time-later', () => {
  // The unknown write b may apply long after its client gave up …
  ok(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 2, 3, 'info'], [3, 'read', 'a', 4, 5], [3, 'read', 'b', 50, 51]));
  // … or never.
  ok(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 2, 3, 'info'], [3, 'read', 'a', 4, 5], [3, 'read', 'a', 50, 51]));
  // A write that never completed at all behaves the same.
  ok(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 2, null], [3, 'read', 'b', 50, 51]));
  // But it cannot take effect before it was invoked,
  bad(h([1, 'write', 'a', 0, 1], [3, 'read', 'b', 2, 3], [2, 'write', 'b', 4, 5, 'info']));
  // and only once: b, then a later acknowledged c, then b again is impossible.
  bad(h([2, 'write', 'b', 0, 1, 'info'], [3, 'read', 'b', 2, 3], [1, 'write', 'c', 4, 5], [3, 'read', 'b', 6, 7]));
});

test('/nemesis/linearizability/info-and-failed-reads-are-ignored', () => {
  ok(h([1, 'write', 'a', 0, 1], [2, 'read', 'zzz', 2, 3, 'info'], [3, 'read', 'zzz', 4, 5, 'fail']));
});

test('/nemesis/linearizability/registers-are-checked-independently', () => {
  const hist = [
    ...h([1, 'write', 'a', 0, 1, 'ok', 'x'], [2, 'read', 'a', 2, 3, 'ok', 'x']),
    ...h([3, 'write', 'a', 0, 1, 'ok', 'y'], [4, 'read', null, 2, 3, 'ok', 'y']),
  ].sort((a, b) => a.time - b.time);
  const r = checkHistory(hist);
  assert.equal(r.valid, false);
  assert.deepEqual(r.failures, ['y']);
  // a value written to x does not satisfy a read of y
  bad([...h([1, 'write', 'v', 0, 1, 'ok', 'x']), ...h([2, 'read', 'v', 2, 3, 'ok', 'y'])].sort((a, b) => a.time - b.time));
});

test('/nemesis/linearizability/witness-names-the-blocked-operations', () => {
  const r = checkRegister(pairHistory(h([1, 'write', 'a', 0, 1], [2, 'write', 'b', 6, 7], [3, 'read', 'a', 8, 9])));
  assert.equal(r.valid, false);
  assert.ok(r.witness.couldNotFollow.some((d) => d.includes('read(x) -> "a"')), JSON.stringify(r.witness));
});

test('/nemesis/linearizability/many-concurrent-clients-stay-tractable', () => {
  // 8 clients, 600 operations from a simulated atomic register with
  // random latencies: linearizable, and the memoised search must finish fast.
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const evs = [];
  let reg = null;
  let t = 0;
  const pending = [];
  let next = 0;
  for (let step = 0; step < 600; step++) {
    t += rnd();
    const p = step % 8;
    const write = rnd() < 0.4;
    const start = t;
    const lin = start + rnd() * 3;     // the instant the operation takes effect
    const end = lin + rnd() * 3;
    pending.push({ p, write, start, lin, end, v: write ? `v${next++}` : null, status: rnd() < 0.05 ? 'info' : 'ok' });
  }
  // apply in linearization order to get read results
  for (const op of [...pending].sort((a, b) => a.lin - b.lin)) {
    if (op.write) reg = op.v; else op.v = reg;
  }
  // one outstanding operation per process: give each op its own process id
  pending.forEach((op, i) => {
    evs.push({ type: 'invoke', process: i, f: op.write ? 'write' : 'read', key: 'k', value: op.write ? op.v : undefined, time: op.start });
    evs.push({ type: op.status, process: i, f: op.write ? 'write' : 'read', key: 'k', value: op.v, time: op.end });
  });
  evs.sort((a, b) => a.time - b.time);
  const t0 = Date.now();
  const r = checkHistory(evs);
  assert.equal(r.valid, true);
  assert.ok(Date.now() - t0 < 10000, `took ${Date.now() - t0} ms`);
  // and corrupting one read late in the history is caught
  const reads = evs.filter((e) => e.type === 'ok' && e.f === 'read' && e.value !== null);
  const victim = reads[reads.length - 5];
  victim.value = 'v0';
  assert.equal(checkHistory(evs).valid, false);
});
