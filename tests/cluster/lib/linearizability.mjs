// Linearizability checker for a history of read/write registers, in the
// style of Wing & Gong with Lowe's memoisation (as in Knossos/Porcupine).
//
// A history is a list of events recorded by the clients:
//   {type: 'invoke', process, f: 'read'|'write', key, value?, time}
//   {type: 'ok'|'fail'|'info', process, f, key, value?, time}
// Every invoke is followed (for the same process) by exactly one completion:
//   ok    the operation took effect; for a read, `value` is what it returned
//   fail  the operation certainly did not take effect (dropped)
//   info  unknown outcome (timeout, lost connection, "may or may not have been
//         applied"): a write may have taken effect at any time after its
//         invocation — its interval never closes; an info read told us nothing
//         and is dropped.
// Registers are independent objects, so the history is checked key by key
// (P-compositionality: a history is linearizable iff each per-key
// sub-history is). A register starts as `initial` (null: no node yet).
//
// The search: repeatedly pick an operation that may go next — one invoked
// before every still-pending completed operation returned — apply it to the
// model, and backtrack on a mismatch. States (set of linearized operations,
// register value) already explored are remembered, which makes the search
// polynomial for the usual histories with bounded concurrency.

/** Pairs invokes with completions. Returns operations {process, f, key, value, start, end, status, index}. */
export function pairHistory(history) {
  const open = new Map();
  const ops = [];
  for (const ev of history) {
    if (ev.type === 'invoke') {
      if (open.has(ev.process)) throw new Error(`process ${ev.process} invoked twice without completing`);
      open.set(ev.process, { process: ev.process, f: ev.f, key: ev.key, value: ev.value, start: ev.time, end: Infinity, status: 'info' });
    } else {
      const op = open.get(ev.process);
      if (!op) throw new Error(`completion for process ${ev.process} without an invoke`);
      open.delete(ev.process);
      if (op.f !== ev.f || op.key !== ev.key) throw new Error(`completion ${ev.f}/${ev.key} does not match invoke ${op.f}/${op.key}`);
      op.status = ev.type;
      if (ev.type === 'ok') {
        op.end = ev.time;
        if (op.f === 'read') op.value = ev.value;
      }
      if (ev.node !== undefined) op.node = ev.node;   // who served it (diagnostics only)
      ops.push(op);
    }
  }
  // Invocations never completed (the client gave up) are unknown outcomes.
  for (const op of open.values()) ops.push(op);
  return ops.map((op, index) => ({ ...op, index }));
}

const norm = (v) => (v === undefined ? null : v);

/**
 * Checks one register's operations (already paired). Returns
 * {valid: true|false|'unknown', ops, explored, linearization?, witness?}.
 */
export function checkRegister(allOps, { initial = null, maxStates = 2_000_000 } = {}) {
  // Failed operations never happened; info reads constrain nothing.
  let ops = allOps.filter((op) => op.status === 'ok' || (op.status === 'info' && op.f === 'write'));
  // An info write whose value nobody read can be left out: in any valid
  // order containing it, removing it keeps the order valid (values are
  // unique, so no read depends on it), and it has no deadline.
  const readValues = new Set(ops.filter((op) => op.f === 'read').map((op) => norm(op.value)));
  ops = ops.filter((op) => op.status === 'ok' || readValues.has(norm(op.value)));
  // An info write that some read saw must have taken effect before that
  // read returned: its interval closes at the earliest such return, and it
  // becomes required (values are unique, so nothing else explains the read).
  const firstReadEnd = new Map();
  for (const op of ops) {
    if (op.f !== 'read') continue;
    const k = JSON.stringify(norm(op.value));
    if (!firstReadEnd.has(k) || op.end < firstReadEnd.get(k)) firstReadEnd.set(k, op.end);
  }
  ops = ops.map((op) => (op.status === 'info'
    ? { ...op, end: firstReadEnd.get(JSON.stringify(norm(op.value))), status: 'ok', wasInfo: true }
    : op));
  ops.sort((a, b) => a.start - b.start);
  const n = ops.length;
  if (n === 0) return { valid: true, ops: 0, explored: 0, linearization: [] };
  const required = ops.filter((op) => op.status === 'ok').length;

  // Indices of the unknown-outcome writes: they may stay pending for ever,
  // so they are tracked apart from the window of required operations.
  const infoIdx = [];
  for (let i = 0; i < n; i++) if (ops[i].status !== 'ok') infoIdx.push(i);

  const seen = new Set();
  const done = new Uint8Array(n);
  const order = [];
  let value = norm(initial);
  let doneRequired = 0;
  let explored = 0;
  // lo: first required (ok) operation not yet linearized; every ok operation
  // before it is done. Along a search path the deadline (smallest end of a
  // pending operation) never decreases, so everything done lies in
  // [0, lo) ∪ {info ops} ∪ [lo, first op starting after the deadline).
  let lo = 0;
  const advanceLo = () => { while (lo < n && (done[lo] || ops[lo].status !== 'ok')) lo++; };
  advanceLo();
  let best = { depth: 0, order: [], value };

  // The deadline and the candidates of the current state.
  const expand = () => {
    let limit = lo < n ? ops[lo].end : Infinity;
    let i = lo;
    for (; i < n && ops[i].start <= limit; i++) if (!done[i] && ops[i].end < limit) limit = ops[i].end;
    const hi = i;
    const cands = [];
    for (const j of infoIdx) if (j < lo && !done[j]) cands.push(j);
    for (let j = lo; j < hi; j++) if (!done[j] && ops[j].start <= limit) cands.push(j);
    let key = `${lo}|`;
    for (const j of infoIdx) if (j < lo && done[j]) key += `${j},`;
    key += '|';
    for (let j = lo; j < hi; j++) if (done[j]) key += `${j - lo},`;
    return { cands, key };
  };

  const stack = [];   // frames: {cands, pos, i (op taken to leave it), prevValue, lo}
  let frame = { cands: expand().cands, pos: 0 };
  seen.add(expand().key + '\u0000' + JSON.stringify(value));
  for (;;) {
    if (doneRequired === required) {
      return { valid: true, ops: n, explored, linearization: order.map((i) => ops[i]) };
    }
    let moved = false;
    while (frame.pos < frame.cands.length) {
      const i = frame.cands[frame.pos++];
      const op = ops[i];
      let next;
      if (op.f === 'write') next = norm(op.value);
      else if (JSON.stringify(norm(op.value)) === JSON.stringify(value)) next = value;
      else continue;
      const prevValue = value;
      const prevLo = lo;
      done[i] = 1;
      value = next;
      advanceLo();
      const e = expand();
      const key = e.key + '\u0000' + JSON.stringify(value);
      if (seen.has(key)) { done[i] = 0; value = prevValue; lo = prevLo; continue; }
      seen.add(key);
      explored++;
      if (explored > maxStates) return { valid: 'unknown', ops: n, explored };
      stack.push({ ...frame, i, prevValue, lo: prevLo });
      order.push(i);
      if (op.status === 'ok') doneRequired++;
      if (order.length > best.depth) best = { depth: order.length, order: [...order], value };
      frame = { cands: e.cands, pos: 0 };
      moved = true;
      break;
    }
    if (moved) continue;
    // Dead end: backtrack.
    const up = stack.pop();
    if (!up) break;
    order.pop();
    done[up.i] = 0;
    if (ops[up.i].status === 'ok') doneRequired--;
    value = up.prevValue;
    lo = up.lo;
    frame = { cands: up.cands, pos: up.pos };
  }
  // Not linearizable: describe the longest prefix found and what blocked it.
  const prefix = best.order.map((i) => ops[i]);
  const doneSet = new Set(best.order);
  let m = Infinity;
  for (let i = 0; i < n; i++) if (!doneSet.has(i) && ops[i].end < m) m = ops[i].end;
  const blocked = ops.filter((op, i) => !doneSet.has(i) && op.start <= m);
  return {
    valid: false,
    ops: n,
    explored,
    witness: {
      linearizedCount: prefix.length,
      // the tail of the longest valid prefix found: where the search got stuck
      linearizedTail: prefix.slice(-12).map(describe),
      registerValue: best.value,
      couldNotFollow: blocked.map(describe),
    },
  };
}

export function describe(op) {
  const v = JSON.stringify(norm(op.value));
  const end = op.end === Infinity ? '∞' : op.end;
  const at = op.node !== undefined ? ` @${op.node}` : '';
  return `p${op.process} ${op.f}(${op.key}) ${op.f === 'write' ? v : `-> ${v}`} [${op.start}, ${end}] ${op.status}${at}`;
}

/**
 * Checks a whole multi-register history. Returns
 * {valid, keys: {key: result}, failures: [key...]} where valid is false if any
 * key is not linearizable and 'unknown' if some search hit its state limit.
 */
export function checkHistory(history, opts = {}) {
  const ops = pairHistory(history);
  const byKey = new Map();
  for (const op of ops) {
    if (!byKey.has(op.key)) byKey.set(op.key, []);
    byKey.get(op.key).push(op);
  }
  const keys = {};
  const failures = [];
  let valid = true;
  for (const [key, kops] of byKey) {
    const r = checkRegister(kops, opts);
    keys[key] = r;
    if (r.valid === false) { valid = false; failures.push(key); }
    else if (r.valid === 'unknown' && valid === true) valid = 'unknown';
  }
  return { valid, keys, failures };
}
