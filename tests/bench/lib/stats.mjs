// Shared helpers for the benchmarks: seeded PRNG, percentiles, CPU time of
// processes (ours via process.cpuUsage, others via /proc/<pid>/stat), table
// printing and JSON output. No measurement logic lives here.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

/** mulberry32: small, fast, seeded; the same seed gives the same sequence. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Nearest-rank percentile of an ascending array (p in 0..1); NaN when empty. */
export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Latency summary in milliseconds from a list of samples (ms). */
export function summarize(samples) {
  const s = Float64Array.from(samples).sort();
  return {
    count: s.length,
    p50: percentile(s, 0.5),
    p99: percentile(s, 0.99),
    max: s.length ? s[s.length - 1] : NaN,
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user+system) a process has used so far, from /proc; null if gone. */
export function procCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return ticks / CLK_TCK;
  } catch {
    return null;
  }
}
// Linux reports /proc times in USER_HZ, which is 100 on every architecture Linux supports.
const CLK_TCK = 100;

/** Resident set size of a process in bytes, from /proc; null if gone. */
export function procRss(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The machine a run happened on: core count, CPU model, the disk under a directory. */
export function machineInfo(dir = os.tmpdir()) {
  let model = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) model = m[1].trim();
  } catch { /* keep os.cpus() */ }
  return {
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpuModel: model,
    memGiB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    kernel: os.release(),
    node: process.version,
    disk: diskUnder(dir),
  };
}

function diskUnder(dir) {
  // The mount with the longest path prefix of dir, from /proc/self/mounts.
  try {
    const mounts = readFileSync('/proc/self/mounts', 'utf8').trim().split('\n')
      .map((l) => l.split(' ')).map(([dev, mnt, fs]) => ({ dev, mnt, fs }));
    let best = null;
    for (const m of mounts) {
      if ((dir === m.mnt || dir.startsWith(m.mnt.endsWith('/') ? m.mnt : m.mnt + '/'))
          && (!best || m.mnt.length > best.mnt.length)) best = m;
    }
    if (!best) return { dir };
    let rotational = null;
    const dev = best.dev.replace('/dev/', '').replace(/[0-9]+$/, '').replace(/p$/, '');
    try { rotational = readFileSync(`/sys/block/${dev}/queue/rotational`, 'utf8').trim() === '1'; } catch { /* virtual */ }
    return { dir, device: best.dev, mount: best.mnt, fs: best.fs, rotational };
  } catch {
    return { dir };
  }
}

export const fmtNum = (v, digits = 0) => (v == null || Number.isNaN(v) ? '-' : Number(v).toFixed(digits));

/** A number with about three significant digits, for latencies in ms. */
export function fmtMs(v) {
  if (v == null || Number.isNaN(v)) return '-';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

/** Prints rows (arrays of strings) under headers, columns padded; first column left-aligned. */
export function printTable(headers, rows, { out = console.log } = {}) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c ?? '').padEnd(widths[i])
    : String(c ?? '').padStart(widths[i]))).join('  ');
  out(line(headers));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out(line(r));
}

export function writeJson(file, value) {
  writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Minimal option parser: spec maps option names (without --) to defaults;
 * numbers are parsed as numbers, booleans are flags, strings take a value.
 */
export function parseOptions(argv, spec, usage) {
  const opts = { ...spec };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      console.log(usage);
      process.exit(0);
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${usage}`);
    let name = a.slice(2);
    let value;
    const eq = name.indexOf('=');
    if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
    const key = name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in spec)) throw new Error(`unknown option --${name}\n${usage}`);
    if (typeof spec[key] === 'boolean') {
      opts[key] = value === undefined ? true : value !== 'false';
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
      value = argv[++i];
    }
    if (typeof spec[key] === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`--${name} needs a number, got ${value}`);
      opts[key] = n;
    } else if (Array.isArray(spec[key])) {
      opts[key] = value.split(',').map((x) => Number(x.trim())).filter((x) => Number.isFinite(x) && x > 0);
    } else {
      opts[key] = value;
    }
  }
  return opts;
}
