// Synthetic weights for the webview harness: a deterministic function of (layer, row, col), so
// the report (built in Node), the fan-in arrays and the mock host's heatmap / values replies (in
// the page) all describe the same matrix without ever materialising a large one.
//
// A layer spec: { rows, cols, inDim, n, m, mode, seed, density?, deadRows?, violationRate? }
//   mode 'nm'     : exactly n non-zeros in every full group of m input channels (at each kernel
//                   position), `violationRate` of the groups get n + 1; trailing partial groups
//                   keep each weight with probability `density`.
//   mode 'random' : each weight non-zero with probability `density`.
//   mode 'banded' : like random with a density that varies smoothly over the matrix (structure
//                   to see when zoomed out).
//   mode 'dense'  : every weight non-zero.
//   deadRows      : sorted list of all-zero rows.

/** 32-bit hash of up to four integers (murmur3 finaliser over a simple combine). */
export function hash(a, b, c, d) {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ d, 0x165667b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

const U32 = 4294967296;

/** The C(m, n) bitmasks with n of m bits set, for the 'nm' mode. */
const comboCache = new Map();
function combos(n, m) {
  const key = `${n}:${m}`;
  let list = comboCache.get(key);
  if (!list) {
    list = [];
    for (let mask = 0; mask < 1 << m; mask++) {
      let bits = 0;
      for (let x = mask; x; x &= x - 1) bits++;
      if (bits === n) list.push(mask);
    }
    comboCache.set(key, list);
  }
  return list;
}

function isDead(spec, row) {
  const dead = spec.deadRows;
  if (!dead || dead.length === 0) return false;
  let lo = 0;
  let hi = dead.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (dead[mid] === row) return true;
    if (dead[mid] < row) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Whether weight (row, col) is non-zero. */
export function keep(spec, row, col) {
  if (isDead(spec, row)) return false;
  switch (spec.mode) {
    case 'dense':
      return true;
    case 'random':
      return hash(spec.seed, row, col, 1) / U32 < spec.density;
    case 'banded': {
      const p = Math.min(
        0.95,
        Math.max(0.02, spec.density + 0.4 * Math.sin(row / 97 + 1.3) * Math.cos(col / 211) + 0.15 * Math.sin((row + col) / 41)),
      );
      return hash(spec.seed, row, col, 1) / U32 < p;
    }
    case 'nm': {
      const K = spec.cols / spec.inDim;
      const channel = Math.floor(col / K);
      const position = col - channel * K;
      const group = Math.floor(channel / spec.m);
      if (group >= Math.floor(spec.inDim / spec.m)) return hash(spec.seed, row, col, 2) / U32 < (spec.density ?? 0.5);
      const j = channel - group * spec.m;
      const slot = group * K + position;
      const list = combos(spec.n, spec.m);
      let mask = list[hash(spec.seed, row, slot, 3) % list.length];
      if (spec.violationRate && hash(spec.seed, row, slot, 4) / U32 < spec.violationRate) {
        // One more non-zero: the lowest zero bit.
        for (let b = 0; b < spec.m; b++)
          if (!(mask & (1 << b))) {
            mask |= 1 << b;
            break;
          }
      }
      return (mask & (1 << j)) !== 0;
    }
    default:
      throw new Error(`unknown mode ${spec.mode}`);
  }
}

/** The weight at (row, col): 0 where masked out, else a signed value with a row-dependent scale. */
export function value(spec, row, col) {
  if (!keep(spec, row, col)) return 0;
  const h = hash(spec.seed, row, col, 5);
  const u = (h >>> 1) / 2147483648;
  const scale = 0.6 + 0.4 * Math.sin(row * 0.37 + spec.seed);
  const mag = (0.004 + 0.25 * u * u) * scale;
  return h & 1 ? -mag : mag;
}

/** Cells of a window as the host's heatmap kernel cuts them (⌊i·R/H⌋); big cells are sampled. */
export function heatmap(spec, win, width, height) {
  const R = win.rowEnd - win.rowStart;
  const C = win.colEnd - win.colStart;
  const rows = Math.min(height, R);
  const cols = Math.min(width, C);
  const density = new Float32Array(rows * cols);
  const meanAbs = new Float32Array(rows * cols);
  const SAMPLES = 3;
  for (let i = 0; i < rows; i++) {
    const r0 = win.rowStart + Math.floor((i * R) / rows);
    const r1 = win.rowStart + Math.floor(((i + 1) * R) / rows);
    const dr = r1 - r0;
    const sr = Math.min(dr, SAMPLES);
    for (let j = 0; j < cols; j++) {
      const c0 = win.colStart + Math.floor((j * C) / cols);
      const c1 = win.colStart + Math.floor(((j + 1) * C) / cols);
      const dc = c1 - c0;
      const sc = Math.min(dc, SAMPLES);
      let nnz = 0;
      let sum = 0;
      for (let a = 0; a < sr; a++) {
        const r = r0 + Math.floor(((a + 0.5) * dr) / sr);
        for (let b = 0; b < sc; b++) {
          const c = c0 + Math.floor(((b + 0.5) * dc) / sc);
          const v = value(spec, r, c);
          if (v !== 0) nnz++;
          sum += Math.abs(v);
        }
      }
      density[i * cols + j] = nnz / (sr * sc);
      meanAbs[i * cols + j] = sum / (sr * sc);
    }
  }
  return { rows, cols, density, meanAbs };
}

export function values(spec, win) {
  const C = win.colEnd - win.colStart;
  const out = new Float32Array((win.rowEnd - win.rowStart) * C);
  for (let r = win.rowStart; r < win.rowEnd; r++) {
    for (let c = win.colStart; c < win.colEnd; c++) out[(r - win.rowStart) * C + c - win.colStart] = value(spec, r, c);
  }
  return out;
}

/** Exact fan-in per row, N:M counts and nnz (enumerates; analytic for clean large 'nm' layers). */
export function analyse(spec) {
  const { rows, cols, n, m } = spec;
  const K = cols / spec.inDim;
  const fullGroups = Math.floor(spec.inDim / m);
  const fanIn = new Uint32Array(rows);
  let groups = 0;
  let compliant = 0;
  const partialPerRow = (spec.inDim - fullGroups * m > 0 ? 1 : 0) * K;
  if (spec.mode === 'nm' && !spec.violationRate && fullGroups * m === spec.inDim && rows * cols > 4e6) {
    const k = fullGroups * K * n;
    for (let r = 0; r < rows; r++) fanIn[r] = isDead(spec, r) ? 0 : k;
    groups = rows * fullGroups * K;
    compliant = groups;
  } else {
    for (let r = 0; r < rows; r++) {
      let f = 0;
      for (let c = 0; c < cols; c++) if (keep(spec, r, c)) f++;
      fanIn[r] = f;
      for (let g = 0; g < fullGroups; g++) {
        for (let p = 0; p < K; p++) {
          let nz = 0;
          for (let j = 0; j < m; j++) if (keep(spec, r, (g * m + j) * K + p)) nz++;
          groups++;
          if (nz <= n) compliant++;
        }
      }
    }
  }
  let nnz = 0;
  for (const f of fanIn) nnz += f;
  return { fanIn, nnz, nm: { groups, compliant, partial: rows * partialPerRow } };
}

/** The report's fan-in summary (same rules as src/core/analysis/fanIn.ts). */
export function summarizeFanIn(counts, dense) {
  let min = Infinity,
    max = 0,
    sum = 0,
    zeroNeurons = 0,
    activeMin = Infinity,
    activeMax = 0;
  for (const c of counts) {
    sum += c;
    if (c < min) min = c;
    if (c > max) max = c;
    if (c === 0) zeroNeurons++;
    else {
      if (c < activeMin) activeMin = c;
      if (c > activeMax) activeMax = c;
    }
  }
  const constant = zeroNeurons < counts.length && activeMin === activeMax;
  return {
    dense,
    min: counts.length ? min : 0,
    max,
    mean: counts.length ? sum / counts.length : 0,
    constant,
    k: constant ? activeMax : null,
    zeroNeurons,
  };
}
