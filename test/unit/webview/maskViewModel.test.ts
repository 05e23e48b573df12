import { strict as assert } from 'node:assert';
import {
  cellSpan,
  fanInFigures,
  fanInGroups,
  isActive,
  MASK_LAYOUT,
  maskCells,
  maskLayout,
  rowFanIns,
  unpackMask,
} from '../../../webview/src/maskViewModel';

/** Rows of 0/1 packed as the host packs them (numpy packbits per row). */
function pack(rows: number[][]): Uint8Array {
  const cols = rows[0]?.length ?? 0;
  const stride = Math.ceil(cols / 8);
  const out = new Uint8Array(rows.length * stride);
  rows.forEach((row, r) => row.forEach((v, c) => v && (out[r * stride + (c >> 3)] |= 0x80 >> (c & 7))));
  return out;
}

describe('webview: SRigL mask view model', () => {
  it('reads a packed mask back: positions, fan-in per neuron, the figures', () => {
    const rows = [
      [1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1],
    ];
    const bits = pack(rows);
    assert.equal(bits.length, 6);
    assert.deepEqual([...unpackMask(bits, 3, 11)], rows.flat());
    assert.equal(isActive(bits, 11, 2, 10), true);
    assert.equal(isActive(bits, 11, 1, 10), false);
    const fanIns = rowFanIns(bits, 3, 11);
    assert.deepEqual([...fanIns], [3, 0, 3]);
    assert.deepEqual(fanInFigures(fanIns), { activeRows: 2, min: 3, max: 3, emptyRows: 1, total: 6, constant: true });
    assert.deepEqual(fanInFigures(Uint32Array.from([2, 5])), { activeRows: 2, min: 2, max: 5, emptyRows: 0, total: 7, constant: false });
    assert.equal(fanInFigures(new Uint32Array(3)).constant, false, 'no active neuron: nothing constant');
    assert.throws(() => rowFanIns(bits, 3, 17), /a packed 3 × 17 mask has 9 bytes, not 6/);
  });

  it('downsamples to the cells a canvas has: each the share of its block active; as many cells as positions is the mask', () => {
    const rows = [
      [1, 1, 0, 0],
      [1, 0, 0, 0],
      [0, 0, 0, 1],
      [0, 0, 1, 1],
    ];
    const bits = pack(rows);
    assert.deepEqual([...maskCells(bits, 4, 4, 4, 4)], rows.flat());
    assert.deepEqual([...maskCells(bits, 4, 4, 2, 2)], [0.75, 0, 0, 0.75]);
    assert.deepEqual([...maskCells(bits, 4, 4, 1, 1)], [6 / 16]);
    // Uneven blocks: 3 columns into 2 cells are 1 + 2.
    assert.deepEqual([...maskCells(pack([[1, 0, 1]]), 1, 3, 1, 2)], [1, 0.5]);
    assert.throws(() => maskCells(bits, 4, 4, 5, 4), /cannot show a 4 × 4 mask in 5 × 4 cells/);
  });

  it('downsamples a big layer quickly, every active position counted once', () => {
    const r = 1000;
    const c = 3000;
    const stride = Math.ceil(c / 8);
    const bits = new Uint8Array(r * stride);
    // Constant fan-in 30: every 100th input of every neuron, shifted by the row.
    for (let i = 0; i < r; i++) for (let j = i % 100; j < c; j += 100) bits[i * stride + (j >> 3)] |= 0x80 >> (j & 7);
    const started = performance.now();
    const cells = maskCells(bits, r, c, 250, 600);
    const ms = performance.now() - started;
    let total = 0;
    for (let i = 0; i < 250; i++) {
      const rs = cellSpan(i, r, 250);
      for (let j = 0; j < 600; j++) {
        const cs = cellSpan(j, c, 600);
        total += cells[i * 600 + j] * (rs.to - rs.from) * (cs.to - cs.from);
      }
    }
    assert.ok(Math.abs(total - r * 30) < 1e-4 * r * 30, `${total} active, not ${r * 30}`);
    assert.ok(ms < 2000, `${ms.toFixed(0)} ms`);
    assert.ok([...rowFanIns(bits, r, c)].every((f) => f === 30));
  });

  it('groups the rows of a tall layer: each group’s least and most fan-in, and its ablated neurons', () => {
    const fanIns = Uint32Array.from([8, 8, 0, 8, 8, 8, 7]);
    const groups = fanInGroups(fanIns, 3);
    // 7 rows in 3 groups: rows 0–1, 2–3, 4–6.
    assert.deepEqual(
      [cellSpan(0, 7, 3), cellSpan(1, 7, 3), cellSpan(2, 7, 3)],
      [
        { from: 0, to: 2 },
        { from: 2, to: 4 },
        { from: 4, to: 7 },
      ],
    );
    assert.deepEqual([...groups.min], [8, 0, 7]);
    assert.deepEqual([...groups.max], [8, 8, 8]);
    assert.deepEqual([...groups.empty], [0, 1, 0]);
    assert.equal(fanInGroups(fanIns, 100).min.length, 7, 'never more groups than rows');
  });

  it('lays the mask out in square positions when they fit, stretched to a readable size when not', () => {
    const at = (rows: number, cols: number, width = 472) => maskLayout(rows, cols, { ...MASK_LAYOUT, width });
    // The digits MLP: 256 × 64, 128 × 256, 10 × 128 in a 472 px column (the strip takes 72).
    assert.deepEqual(at(256, 64), { width: 200, height: 260 }, 'narrow: stretched to the minimum width');
    assert.deepEqual(at(128, 256), { width: 400, height: 200 });
    assert.deepEqual(at(10, 128), { width: 400, height: 72 }, 'flat: stretched to the minimum height');
    assert.deepEqual(at(4, 4), { width: 200, height: 72 }, 'positions at most 12 px, then stretched');
    for (const [r, c, w] of [
      [1, 1, 50],
      [100_000, 3, 300],
      [3, 100_000, 300],
      [4096, 4096, 1200],
    ]) {
      const l = at(r, c, w);
      assert.ok(l.width >= 1 && l.width <= Math.max(1, w - MASK_LAYOUT.strip), `${r}×${c} in ${w}: ${JSON.stringify(l)}`);
      assert.ok(l.height >= 1 && l.height <= MASK_LAYOUT.maxHeight, `${r}×${c}: ${JSON.stringify(l)}`);
    }
  });
});
