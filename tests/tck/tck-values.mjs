// TCK value notation and driver results, normalised to one comparable form.
//
// Normalised values: {t:'null'} {t:'bool',v} {t:'int',v:BigInt} {t:'float',v}
// {t:'string',v} {t:'list',v:[...]} {t:'map',v:{k:val}} {t:'node',labels:[sorted],props}
// {t:'rel',type,props} {t:'path',start,segs:[{rel,dir,node}]}
import neo4j from 'neo4j-driver';

// ---- parsing the TCK's literal notation --------------------------------------

export function parseTckValue(text) {
  const p = new Parser(text.trim());
  const v = p.value();
  p.ws();
  if (p.i !== p.s.length) throw new Error(`trailing input in TCK value: ${text}`);
  return v;
}

class Parser {
  constructor(s) { this.s = s; this.i = 0; }
  ws() { while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++; }
  peek() { this.ws(); return this.s[this.i]; }
  eat(c) {
    this.ws();
    if (this.s[this.i] !== c) throw new Error(`expected '${c}' at ${this.i} in ${this.s}`);
    this.i++;
  }
  tryEat(c) { this.ws(); if (this.s[this.i] === c) { this.i++; return true; } return false; }
  word() {
    this.ws();
    if (this.s[this.i] === '`') {
      const end = this.s.indexOf('`', this.i + 1);
      const w = this.s.slice(this.i + 1, end);
      this.i = end + 1;
      return w;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.s.slice(this.i));
    if (!m) throw new Error(`expected a name at ${this.i} in ${this.s}`);
    this.i += m[0].length;
    return m[0];
  }
  value() {
    const c = this.peek();
    if (c === '[') return this.listOrRel();
    if (c === '{') return { t: 'map', v: this.mapBody() };
    if (c === '(') return this.node();
    if (c === '<') return this.path();
    if (c === "'" || c === '"') return { t: 'string', v: this.string() };
    const rest = this.s.slice(this.i);
    let m;
    if ((m = /^-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)/.exec(rest)) || (m = /^-?(\d+\.\d+|\.\d+)/.exec(rest))) {
      this.i += m[0].length;
      return { t: 'float', v: Number(m[0]) };
    }
    if ((m = /^-?0x[0-9a-fA-F]+/.exec(rest))) { this.i += m[0].length; return { t: 'int', v: BigInt(m[0].replace('-0x', '0x')) * (m[0].startsWith('-') ? -1n : 1n) }; }
    if ((m = /^-?\d+/.exec(rest))) { this.i += m[0].length; return { t: 'int', v: BigInt(m[0]) }; }
    if ((m = /^(NaN|-?Inf(inity)?)/.exec(rest))) {
      this.i += m[0].length;
      return { t: 'float', v: m[0] === 'NaN' ? NaN : (m[0].startsWith('-') ? -Infinity : Infinity) };
    }
    const w = this.word();
    if (w === 'null') return { t: 'null' };
    if (w === 'true') return { t: 'bool', v: true };
    if (w === 'false') return { t: 'bool', v: false };
    throw new Error(`unknown TCK value '${w}' in ${this.s}`);
  }
  string() {
    this.ws();
    const q = this.s[this.i++];
    let out = '';
    while (this.i < this.s.length && this.s[this.i] !== q) {
      if (this.s[this.i] === '\\') {
        const n = this.s[this.i + 1];
        out += n === 'n' ? '\n' : n === 't' ? '\t' : n;
        this.i += 2;
      } else out += this.s[this.i++];
    }
    this.i++;
    return out;
  }
  mapBody() {
    this.eat('{');
    const m = {};
    if (this.tryEat('}')) return m;
    do {
      const k = this.word();
      this.eat(':');
      m[k] = this.value();
    } while (this.tryEat(','));
    this.eat('}');
    return m;
  }
  listOrRel() {
    // [:TYPE {...}] is a relationship; anything else a list.
    this.ws();
    const save = this.i;
    this.i++;
    this.ws();
    if (this.s[this.i] === ':') {
      this.i++;
      const type = this.word();
      const props = this.peek() === '{' ? this.mapBody() : {};
      this.eat(']');
      return { t: 'rel', type, props };
    }
    this.i = save;
    this.eat('[');
    const items = [];
    if (this.tryEat(']')) return { t: 'list', v: items };
    do items.push(this.value()); while (this.tryEat(','));
    this.eat(']');
    return { t: 'list', v: items };
  }
  node() {
    this.eat('(');
    const labels = [];
    while (this.tryEat(':')) labels.push(this.word());
    const props = this.peek() === '{' ? this.mapBody() : {};
    this.eat(')');
    return { t: 'node', labels: labels.sort(), props };
  }
  path() {
    this.eat('<');
    const start = this.node();
    const segs = [];
    while (this.peek() !== '>') {
      let dir;
      if (this.tryEat('<')) { this.eat('-'); dir = 'in'; } else { this.eat('-'); dir = 'out'; }
      const rel = this.listOrRel();
      this.eat('-');
      if (dir === 'out') { if (!this.tryEat('>')) dir = 'none'; }
      const node = this.node();
      segs.push({ rel, dir, node });
    }
    this.eat('>');
    return { t: 'path', start, segs };
  }
}

// ---- parameters: TCK value -> driver value ----------------------------------

export function toDriverValue(v) {
  switch (v.t) {
    case 'null': return null;
    case 'bool': case 'string': case 'float': return v.v;
    case 'int': return neo4j.int(v.v.toString());
    case 'list': return v.v.map(toDriverValue);
    case 'map': return Object.fromEntries(Object.entries(v.v).map(([k, x]) => [k, toDriverValue(x)]));
    default: throw new Error(`cannot send ${v.t} as a parameter`);
  }
}

// ---- driver result -> normalised ---------------------------------------------

function pad(n, w = 2) { return String(n).padStart(w, '0'); }

function durationString(d) {
  // Neo4j's rendering: P[nY][nM][nD][T[nH][nM][n.nnnS]], PT0S when zero.
  const months = Number(d.months), days = Number(d.days);
  let seconds = BigInt(d.seconds.toString()), nanos = BigInt(d.nanoseconds.toString());
  let out = 'P';
  const y = Math.trunc(months / 12), mo = months % 12;
  if (y) out += `${y}Y`;
  if (mo) out += `${mo}M`;
  if (days) out += `${days}D`;
  let total = seconds * 1000000000n + nanos;
  if (total !== 0n) {
    out += 'T';
    const neg = total < 0n;
    let abs = neg ? -total : total;
    const h = abs / 3600000000000n; abs -= h * 3600000000000n;
    const m = abs / 60000000000n; abs -= m * 60000000000n;
    const s = abs / 1000000000n; const ns = abs - s * 1000000000n;
    const sign = neg ? '-' : '';
    if (h) out += `${sign}${h}H`;
    if (m) out += `${sign}${m}M`;
    if (s || ns) {
      let frac = ns ? '.' + ns.toString().padStart(9, '0').replace(/0+$/, '') : '';
      out += `${sign}${s}${frac}S`;
    }
  }
  if (out === 'P') out = 'PT0S';
  return out;
}

// Temporal values in Java's ISO rendering, which is what the TCK expects:
// seconds only when non-zero, fractions in groups of 3 digits, offset Z.
function yearStr(y) {
  const n = Number(y);
  const abs = String(Math.abs(n)).padStart(4, '0');
  return n < 0 ? `-${abs}` : n > 9999 ? `+${abs}` : abs;
}
function dateStr(d) { return `${yearStr(d.year)}-${pad(d.month)}-${pad(d.day)}`; }
function timeStr(t) {
  const sec = Number(t.second), ns = Number(t.nanosecond);
  let out = `${pad(t.hour)}:${pad(t.minute)}`;
  if (sec || ns) {
    out += `:${pad(sec)}`;
    if (ns) {
      let frac = String(ns).padStart(9, '0');
      frac = ns % 1000000 === 0 ? frac.slice(0, 3) : ns % 1000 === 0 ? frac.slice(0, 6) : frac;
      out += `.${frac}`;
    }
  }
  return out;
}
function offsetStr(secs) {
  const s = Number(secs);
  if (s === 0) return 'Z';
  const abs = Math.abs(s);
  let out = `${s < 0 ? '-' : '+'}${pad(Math.floor(abs / 3600))}:${pad(Math.floor((abs % 3600) / 60))}`;
  if (abs % 60) out += `:${pad(abs % 60)}`;
  return out;
}
function temporalString(x) {
  if (neo4j.isDate(x)) return dateStr(x);
  if (neo4j.isLocalTime(x)) return timeStr(x);
  if (neo4j.isTime(x)) return timeStr(x) + offsetStr(x.timeZoneOffsetSeconds);
  if (neo4j.isLocalDateTime(x)) return `${dateStr(x)}T${timeStr(x)}`;
  // DateTime
  let out = `${dateStr(x)}T${timeStr(x)}`;
  if (x.timeZoneOffsetSeconds !== undefined && x.timeZoneOffsetSeconds !== null) out += offsetStr(x.timeZoneOffsetSeconds);
  if (x.timeZoneId) out += `[${x.timeZoneId}]`;
  return out;
}

export function fromDriver(x) {
  if (x === null || x === undefined) return { t: 'null' };
  if (neo4j.isInt(x)) return { t: 'int', v: BigInt(x.toString()) };
  if (typeof x === 'bigint') return { t: 'int', v: x };
  if (typeof x === 'number') return { t: 'float', v: x };
  if (typeof x === 'string') return { t: 'string', v: x };
  if (typeof x === 'boolean') return { t: 'bool', v: x };
  if (Array.isArray(x)) return { t: 'list', v: x.map(fromDriver) };
  if (neo4j.isNode(x)) return { t: 'node', labels: [...x.labels].sort(), props: mapOf(x.properties) };
  if (neo4j.isRelationship(x)) return { t: 'rel', type: x.type, props: mapOf(x.properties) };
  if (neo4j.isPath(x)) {
    const start = fromDriver(x.start);
    const segs = x.segments.map((s) => ({
      rel: { t: 'rel', type: s.relationship.type, props: mapOf(s.relationship.properties) },
      dir: s.relationship.start.toString() === s.start.identity.toString() ? 'out' : 'in',
      node: fromDriver(s.end),
    }));
    return { t: 'path', start, segs };
  }
  if (neo4j.isDuration(x)) return { t: 'string', v: durationString(x) };
  if (neo4j.isDate(x) || neo4j.isLocalTime(x) || neo4j.isTime(x) || neo4j.isLocalDateTime(x) || neo4j.isDateTime(x)) {
    return { t: 'string', v: temporalString(x) };
  }
  if (neo4j.isPoint(x)) return { t: 'string', v: x.toString() };
  if (typeof x === 'object') return { t: 'map', v: mapOf(x) };
  return { t: 'string', v: String(x) };
}

function mapOf(o) {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fromDriver(v)]));
}

// ---- comparison -----------------------------------------------------------------

export function equal(a, b, ignoreListOrder = false) {
  if (a.t === 'string' && b.t !== 'string') return false;
  if (a.t !== b.t) return false;
  switch (a.t) {
    case 'null': return true;
    case 'bool': case 'string': case 'int': return a.v === b.v;
    case 'float': return (Number.isNaN(a.v) && Number.isNaN(b.v)) || a.v === b.v;
    case 'list':
      if (a.v.length !== b.v.length) return false;
      if (!ignoreListOrder) return a.v.every((x, i) => equal(x, b.v[i], ignoreListOrder));
      return multisetEqual(a.v, b.v, ignoreListOrder);
    case 'map': return mapEqual(a.v, b.v, ignoreListOrder);
    case 'node': return a.labels.join(':') === b.labels.join(':') && mapEqual(a.props, b.props, ignoreListOrder);
    case 'rel': return a.type === b.type && mapEqual(a.props, b.props, ignoreListOrder);
    case 'path':
      return equal(a.start, b.start) && a.segs.length === b.segs.length &&
        a.segs.every((s, i) => s.dir === b.segs[i].dir && equal(s.rel, b.segs[i].rel) && equal(s.node, b.segs[i].node));
    default: return false;
  }
}

function mapEqual(a, b, ilo) {
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => k in b && equal(a[k], b[k], ilo));
}

export function multisetEqual(xs, ys, ilo) {
  if (xs.length !== ys.length) return false;
  const used = new Array(ys.length).fill(false);
  outer: for (const x of xs) {
    for (let j = 0; j < ys.length; j++) {
      if (!used[j] && equal(x, ys[j], ilo)) { used[j] = true; continue outer; }
    }
    return false;
  }
  return true;
}

export function show(v) {
  switch (v.t) {
    case 'null': return 'null';
    case 'bool': return String(v.v);
    case 'int': return v.v.toString();
    case 'float': return Number.isInteger(v.v) ? v.v.toFixed(1) : String(v.v);
    case 'string': return `'${v.v}'`;
    case 'list': return `[${v.v.map(show).join(', ')}]`;
    case 'map': return `{${Object.entries(v.v).map(([k, x]) => `${k}: ${show(x)}`).join(', ')}}`;
    case 'node': return `(${v.labels.map((l) => ':' + l).join('')}${Object.keys(v.props).length ? ' ' + show({ t: 'map', v: v.props }) : ''})`;
    case 'rel': return `[:${v.type}${Object.keys(v.props).length ? ' ' + show({ t: 'map', v: v.props }) : ''}]`;
    case 'path': return `<${show(v.start)}${v.segs.map((s) => `${s.dir === 'in' ? '<-' : '-'}${show(s.rel)}${s.dir === 'out' ? '->' : '-'}${show(s.node)}`).join('')}>`;
    default: return JSON.stringify(v);
  }
}
