/**
 * The live SRigL mask view's model: a packed mask (see PackedMask in the protocol: 8 positions a
 * byte, each row starting on a byte) read back as fan-in per neuron, downsampled to the cells a
 * canvas has room for, and the size to draw it at. Pure (no DOM): maskView.ts draws what it
 * computes; unit-tested in test/unit/webview.
 */

/** Bytes of one packed row of `cols` positions. */
export const packedRowBytes = (cols: number): number => Math.ceil(cols / 8);

/** Set bits of every byte value. */
const POPCOUNT = (() => {
  const table = new Uint8Array(256);
  for (let i = 1; i < 256; i++) table[i] = (i & 1) + table[i >> 1];
  return table;
})();

/** Throws unless `bits` holds rows × cols positions packed by rows. */
function checkPacked(bits: Uint8Array, rows: number, cols: number): void {
  const expected = rows * packedRowBytes(cols);
  if (bits.length !== expected) throw new RangeError(`a packed ${rows} × ${cols} mask has ${expected} bytes, not ${bits.length}`);
}

/** Whether (row, col) is active. */
export function isActive(bits: Uint8Array, cols: number, row: number, col: number): boolean {
  return (bits[row * packedRowBytes(cols) + (col >> 3)] & (0x80 >> (col & 7))) !== 0;
}

/** The mask as one byte a position (row-major, 1 = active). */
export function unpackMask(bits: Uint8Array, rows: number, cols: number): Uint8Array {
  checkPacked(bits, rows, cols);
  const out = new Uint8Array(rows * cols);
  for (let r = 0, i = 0; r < rows; r++) for (let c = 0; c < cols; c++, i++) out[i] = isActive(bits, cols, r, c) ? 1 : 0;
  return out;
}

/** Active positions of every row: its fan-in. Bits past `cols` in a row's last byte are never set. */
export function rowFanIns(bits: Uint8Array, rows: number, cols: number): Uint32Array {
  checkPacked(bits, rows, cols);
  const stride = packedRowBytes(cols);
  const out = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let b = r * stride, end = b + stride; b < end; b++) n += POPCOUNT[bits[b]];
    out[r] = n;
  }
  return out;
}

export interface FanInFigures {
  /** Neurons with at least one input: their fan-in's least and most. */
  readonly activeRows: number;
  readonly min: number;
  readonly max: number;
  /** Neurons with no input (SRigL's ablated ones). */
  readonly emptyRows: number;
  /** Active positions in all. */
  readonly total: number;
  /** Every active neuron has the same fan-in. */
  readonly constant: boolean;
}

export function fanInFigures(fanIns: Uint32Array): FanInFigures {
  let min = Infinity;
  let max = 0;
  let activeRows = 0;
  let total = 0;
  for (const f of fanIns) {
    total += f;
    if (f === 0) continue;
    activeRows++;
    if (f < min) min = f;
    if (f > max) max = f;
  }
  if (activeRows === 0) min = 0;
  return { activeRows, min, max, emptyRows: fanIns.length - activeRows, total, constant: activeRows > 0 && min === max };
}

/** The rows [from, to) that output cell `i` of `out` stands for, when `n` are shown in `out`. */
export function cellSpan(i: number, n: number, out: number): { from: number; to: number } {
  return { from: Math.floor((i * n) / out), to: Math.max(Math.floor((i * n) / out) + 1, Math.floor(((i + 1) * n) / out)) };
}

/**
 * The share of active positions in each of outRows × outCols cells (row-major), each cell the
 * block of rows and columns it stands for; with as many cells as positions, the mask itself.
 */
export function maskCells(bits: Uint8Array, rows: number, cols: number, outRows: number, outCols: number): Float32Array {
  checkPacked(bits, rows, cols);
  if (outRows > rows || outCols > cols || outRows < 1 || outCols < 1)
    throw new RangeError(`cannot show a ${rows} × ${cols} mask in ${outRows} × ${outCols} cells`);
  const out = new Float32Array(outRows * outCols);
  const stride = packedRowBytes(cols);
  // Column → cell, once.
  const cellOfCol = new Uint32Array(cols);
  const colsInCell = new Uint32Array(outCols);
  for (let j = 0; j < outCols; j++) {
    const { from, to } = cellSpan(j, cols, outCols);
    for (let c = from; c < to; c++) cellOfCol[c] = j;
    colsInCell[j] = to - from;
  }
  for (let i = 0; i < outRows; i++) {
    const { from, to } = cellSpan(i, rows, outRows);
    const row = out.subarray(i * outCols, (i + 1) * outCols);
    for (let r = from; r < to; r++) {
      const base = r * stride;
      for (let b = 0; b < stride; b++) {
        const byte = bits[base + b];
        if (byte === 0) continue;
        for (let bit = 0, c = b * 8; bit < 8 && c < cols; bit++, c++) if (byte & (0x80 >> bit)) row[cellOfCol[c]]++;
      }
    }
    for (let j = 0; j < outCols; j++) row[j] /= (to - from) * colsInCell[j];
  }
  return out;
}

/** Each of `out` groups of rows: the least and most fan-in among them, and how many are empty. */
export function fanInGroups(fanIns: Uint32Array, out: number): { min: Uint32Array; max: Uint32Array; empty: Uint32Array } {
  const n = fanIns.length;
  const groups = Math.min(out, n);
  const min = new Uint32Array(groups);
  const max = new Uint32Array(groups);
  const empty = new Uint32Array(groups);
  for (let g = 0; g < groups; g++) {
    const { from, to } = cellSpan(g, n, groups);
    let lo = Infinity;
    let hi = 0;
    for (let r = from; r < to; r++) {
      const f = fanIns[r];
      if (f === 0) empty[g]++;
      if (f < lo) lo = f;
      if (f > hi) hi = f;
    }
    min[g] = lo === Infinity ? 0 : lo;
    max[g] = hi;
  }
  return { min, max, empty };
}

export interface MaskLayoutOptions {
  /** CSS px the view may take across, the fan-in strip included. */
  readonly width: number;
  readonly maxHeight: number;
  /** The mask is stretched to at least this (within the width), so a narrow layer stays readable. */
  readonly minWidth: number;
  readonly minHeight: number;
  /** A position is drawn at most this big. */
  readonly maxCell: number;
  /** The fan-in strip and the gap before it. */
  readonly strip: number;
}

export const MASK_LAYOUT: MaskLayoutOptions = { width: 400, maxHeight: 260, minWidth: 200, minHeight: 72, maxCell: 12, strip: 72 };

/**
 * Where the mask goes (CSS px): square positions as large as fit (at most maxCell), stretched
 * to the minimum size along an axis that would be too small; the fan-in strip at its right.
 */
export function maskLayout(rows: number, cols: number, options: MaskLayoutOptions): { width: number; height: number } {
  const room = Math.max(1, options.width - options.strip);
  const cell = Math.min(options.maxCell, room / Math.max(1, cols), options.maxHeight / Math.max(1, rows));
  const width = Math.min(room, Math.max(cols * cell, Math.min(options.minWidth, room)));
  const height = Math.min(options.maxHeight, Math.max(rows * cell, options.minHeight));
  return { width: Math.max(1, Math.floor(width)), height: Math.max(1, Math.floor(height)) };
}
