import { strict as assert } from 'node:assert';
import { cellBudget, cellOf, valuesRequestWindow, Viewport } from '../../../webview/src/heatmap/viewport';

/**
 * The canvas is laid out as a 56 px fan-in gutter, a 6 px gap, then the plot: a canvas 62 + W px
 * wide has a plot W px wide starting at x = 62.
 */
const PLOT_X = 62;

function viewport(rows: number, cols: number, plotW: number, plotH: number, dpr = 1): Viewport {
  const vp = new Viewport();
  vp.setExtent({ rows, cols });
  vp.resize(PLOT_X + plotW, plotH, dpr);
  vp.fit();
  return vp;
}

describe('webview: heatmap viewport', () => {
  describe('fit', () => {
    it('stretches the whole layer over the plot, each axis on its own', () => {
      // 64 columns over 640 px: 10 px each; 256 rows over 512 px: 2 px each.
      const vp = viewport(256, 64, 640, 512);
      assert.equal(vp.plotX, PLOT_X);
      assert.equal(vp.plotW, 640);
      assert.equal(vp.plotH, 512);
      assert.deepEqual([vp.sx, vp.sy, vp.x0, vp.y0, vp.fitted], [10, 2, 0, 0, true]);
      assert.deepEqual(vp.visibleWindow(), { rowStart: 0, rowEnd: 256, colStart: 0, colEnd: 64 });
      assert.deepEqual(vp.saved(), { x0: 0, y0: 0, x1: 64, y1: 256 });
    });

    it('never draws a weight larger than 40 px, even when the layer is small', () => {
      // 8 columns over 640 px would be 80 px each, 4 rows over 512 px 128 px each.
      const vp = viewport(4, 8, 640, 512);
      assert.deepEqual([vp.sx, vp.sy, vp.x0, vp.y0], [40, 40, 0, 0]);
      assert.deepEqual(vp.visibleWindow(), { rowStart: 0, rowEnd: 4, colStart: 0, colEnd: 8 });
      // The view reaches past the layer; the saved window stops at its edge.
      assert.deepEqual(vp.saved(), { x0: 0, y0: 0, x1: 8, y1: 4 });
    });
  });

  describe('zoom about a point', () => {
    it('keeps the weight under the pointer in place', () => {
      const vp = viewport(256, 64, 640, 512);
      // The plot's centre, (62 + 320, 256), is column 32, row 128.
      assert.equal(vp.zoomAt(2, PLOT_X + 320, 256), true);
      // 20 px per column, 4 px per row: 32 columns and 128 rows across; centre still (32, 128).
      assert.deepEqual([vp.sx, vp.sy, vp.x0, vp.y0, vp.fitted], [20, 4, 16, 64, false]);
      assert.deepEqual(vp.visibleWindow(), { rowStart: 64, rowEnd: 192, colStart: 16, colEnd: 48 });
      assert.deepEqual(vp.hitTest(PLOT_X + 320, 256), { row: 128, col: 32 });

      // About a point off centre: (62 + 100, 100) is column 16 + 100/20 = 21, row 64 + 100/4 = 89.
      vp.zoomAt(2, PLOT_X + 100, 100);
      // 40 px per column, 8 px per row: x0 = 21 − 100/40, y0 = 89 − 100/8.
      assert.deepEqual([vp.sx, vp.sy, vp.x0, vp.y0], [40, 8, 18.5, 76.5]);
    });

    it('keeps the corners in place when zooming about them', () => {
      const vp = viewport(256, 64, 640, 512);
      vp.zoomAt(2, PLOT_X + 640, 512);
      // Column 64 and row 256 stay at the bottom-right: x0 = 64 − 640/20, y0 = 256 − 512/4.
      assert.deepEqual([vp.x0, vp.y0], [32, 128]);
      vp.fit();
      vp.zoomAt(2, PLOT_X, 0);
      assert.deepEqual([vp.x0, vp.y0], [0, 0]);
    });

    it('stops at the whole layer and at 40 px per weight', () => {
      const vp = viewport(256, 64, 640, 512);
      assert.equal(vp.zoomAt(0.5, PLOT_X + 320, 256), false, 'nothing to zoom out to');
      assert.deepEqual([vp.sx, vp.sy], [10, 2]);
      vp.zoomAt(100, PLOT_X + 320, 256);
      assert.deepEqual([vp.sx, vp.sy], [40, 40]);
      assert.equal(vp.zoomAt(2, PLOT_X + 320, 256), false, 'nothing to zoom in to');
      // Back out past the fit: the fit scale, and fitted again.
      vp.zoomAt(1e-3, PLOT_X + 320, 256);
      assert.deepEqual([vp.sx, vp.sy, vp.x0, vp.y0, vp.fitted], [10, 2, 0, 0, true]);
    });

    it('zooms about the plot centre', () => {
      const vp = viewport(256, 64, 640, 512);
      vp.zoomAtCenter(4);
      // 40 px per column, 8 per row around column 32, row 128: 16 columns and 64 rows across.
      assert.deepEqual([vp.sx, vp.sy, vp.x0, vp.y0], [40, 8, 24, 96]);
    });
  });

  describe('pan', () => {
    it('moves by whole weights and stops at the layer edges', () => {
      const vp = viewport(256, 64, 640, 512);
      vp.zoomAtCenter(2); // 32 columns, 128 rows across, from (16, 64)
      vp.pan(5, -10);
      assert.deepEqual([vp.x0, vp.y0], [21, 54]);
      vp.pan(100, 1000);
      // The last 32 columns and 128 rows: x0 = 64 − 32, y0 = 256 − 128.
      assert.deepEqual([vp.x0, vp.y0], [32, 128]);
      vp.pan(-1000, -1000);
      assert.deepEqual([vp.x0, vp.y0], [0, 0]);
      vp.moveTo(-3, 300);
      assert.deepEqual([vp.x0, vp.y0], [0, 128]);
      assert.equal(vp.fitted, false);
    });

    it('does not move a layer that fits', () => {
      const vp = viewport(256, 64, 640, 512);
      vp.pan(10, 10);
      assert.deepEqual([vp.x0, vp.y0], [0, 0]);
    });

    it('keeps the centre when the canvas is resized', () => {
      const vp = viewport(256, 64, 640, 512);
      vp.zoomAtCenter(2); // centre (32, 128)
      const centre = vp.centre();
      assert.deepEqual(centre, { col: 32, row: 128 });
      vp.resize(PLOT_X + 320, 512, 1);
      vp.recentre(centre);
      // 16 columns across now: x0 = 32 − 8.
      assert.deepEqual([vp.x0, vp.y0], [24, 64]);
    });
  });

  describe('saved views', () => {
    it('restores a saved window', () => {
      const vp = viewport(256, 64, 640, 512);
      assert.equal(vp.restore({ x0: 16, y0: 64, x1: 48, y1: 192 }), true);
      assert.deepEqual([vp.sx, vp.sy, vp.x0, vp.y0, vp.fitted], [20, 4, 16, 64, false]);
    });

    it('fits instead of a window that is the whole layer, empty, or outside it', () => {
      const vp = viewport(256, 64, 640, 512);
      for (const bad of [{ x0: 0, y0: 0, x1: 64, y1: 256 }, { x0: 5, y0: 5, x1: 5, y1: 9 }, { x0: 0, y0: 0, x1: 65, y1: 10 }, undefined]) {
        vp.zoomAtCenter(2);
        assert.equal(vp.restore(bad), false, JSON.stringify(bad));
        assert.deepEqual([vp.sx, vp.sy, vp.x0, vp.y0, vp.fitted], [10, 2, 0, 0, true]);
      }
    });
  });

  describe('pixels and weights', () => {
    it('maps weights to canvas px and back; the gutter names the row', () => {
      const vp = viewport(256, 64, 640, 512);
      vp.zoomAtCenter(2); // 20 × 4 px per weight from (16, 64)
      assert.equal(vp.toX(17), PLOT_X + 20);
      assert.equal(vp.toY(66), 8);
      assert.deepEqual(vp.hitTest(PLOT_X + 25, 10), { row: 66, col: 17 });
      assert.deepEqual(vp.hitTest(10, 10), { row: 66, col: -1 }, 'the fan-in gutter');
      assert.equal(vp.hitTest(58, 10), null, 'the gap after the gutter');
      assert.equal(vp.hitTest(PLOT_X + 25, 512), null, 'below the plot');
    });

    it('counts a weight that shows only in part as visible', () => {
      const vp = viewport(256, 64, 640, 512);
      vp.zoomAtCenter(2);
      vp.moveTo(16.5, 64.25);
      // Columns 16.5 … 48.5 and rows 64.25 … 192.25 show part of 16–48 and 64–192.
      assert.deepEqual(vp.visibleWindow(), { rowStart: 64, rowEnd: 193, colStart: 16, colEnd: 49 });
    });

    it('finds the cell of a downsampled grid that holds a weight', () => {
      // 10 weights in 3 cells start at ⌊i·10/3⌋: 0, 3, 6 (ends 3, 6, 10).
      const grid = { window: { rowStart: 0, rowEnd: 10, colStart: 20, colEnd: 30 }, rows: 3, cols: 3 };
      assert.deepEqual(cellOf(grid, 5, 29), { i: 1, j: 2, r0: 3, r1: 6, c0: 26, c1: 30 });
      assert.deepEqual(cellOf(grid, 6, 20), { i: 2, j: 0, r0: 6, r1: 10, c0: 20, c1: 23 });
      assert.deepEqual(cellOf(grid, 2, 23), { i: 0, j: 1, r0: 0, r1: 3, c0: 23, c1: 26 });
      assert.equal(cellOf(grid, 10, 25), null);
      assert.equal(cellOf(grid, 5, 19), null);
    });
  });

  describe('what to request', () => {
    it('asks for one cell per device pixel, at most one per weight', () => {
      const vp = viewport(256, 64, 640, 512);
      // 64 columns < 640 px; 256 rows < 512 px: one cell per weight.
      assert.deepEqual(vp.cellRequest(vp.visibleWindow(), 65536), { width: 64, height: 256 });
      const big = viewport(16384, 4096, 640, 512, 2);
      // 1280 × 1024 device px, fewer than the weights.
      assert.deepEqual(big.cellRequest(big.visibleWindow(), 1 << 22), { width: 1280, height: 1024 });
    });

    it('shrinks the request to the cell budget, keeping its aspect', () => {
      const vp = viewport(256, 64, 640, 512);
      // 64 × 256 = 16384 cells for a budget of 4096: half each way.
      assert.deepEqual(vp.cellRequest(vp.visibleWindow(), 4096), { width: 32, height: 128 });
      const big = viewport(16384, 4096, 640, 512, 2);
      // 1280 × 1024 scaled by √(65536 / 1310720) = √0.05 ≈ 0.2236: ⌊286.2⌋ × ⌊228.97⌋ = 65208 cells.
      assert.deepEqual(big.cellRequest(big.visibleWindow(), 65536), { width: 286, height: 228 });
    });

    it('spends the whole budget on the long side of a one-row window', () => {
      const vp = viewport(1, 1000, 1000, 512);
      // 1000 × 1 by √(64 / 1000): 252 × 1, still over 64, so columns go until 64 × 1.
      assert.deepEqual(vp.cellRequest(vp.visibleWindow(), 64), { width: 64, height: 1 });
    });

    it('takes the cell budget from the setting: whole, at least 64, 262144 when unusable', () => {
      assert.equal(cellBudget(65536), 65536);
      assert.equal(cellBudget(1000.7), 1000);
      assert.equal(cellBudget(10), 64);
      assert.equal(cellBudget(Number.NaN), 262144);
    });

    it('pads a window of single weights by half a view and snaps it to N:M group blocks', () => {
      const extent = { rows: 256, cols: 64 };
      // Rows 64–192 ± 64 → 0–256; columns 16–48 ± 16 → 0–64: 16384 weights.
      assert.deepEqual(valuesRequestWindow({ rowStart: 64, rowEnd: 192, colStart: 16, colEnd: 48 }, extent, 4), {
        rowStart: 0,
        rowEnd: 256,
        colStart: 0,
        colEnd: 64,
      });
      // Columns 5–11 ± 3 → 2–14, snapped out to blocks of 4: 0–16. Rows 0–2 + 1 → 0–3.
      assert.deepEqual(valuesRequestWindow({ rowStart: 0, rowEnd: 2, colStart: 5, colEnd: 11 }, extent, 4), {
        rowStart: 0,
        rowEnd: 3,
        colStart: 0,
        colEnd: 16,
      });
      // A 3×3 conv with 8 input channels (72 columns), 2:4 groups of 4 channels × 9 positions:
      // columns 40–44 ± 2 → 38–46, snapped out to blocks of 36: 36–72.
      assert.deepEqual(valuesRequestWindow({ rowStart: 10, rowEnd: 12, colStart: 40, colEnd: 44 }, { rows: 256, cols: 72 }, 36), {
        rowStart: 9,
        rowEnd: 13,
        colStart: 36,
        colEnd: 72,
      });
      // Near the start, padding stops at column 0 and row 0.
      assert.deepEqual(valuesRequestWindow({ rowStart: 1, rowEnd: 5, colStart: 2, colEnd: 10 }, extent, 4), {
        rowStart: 0,
        rowEnd: 7,
        colStart: 0,
        colEnd: 16,
      });
    });

    it('pads less when half a view would be more weights than a reply carries (65536)', () => {
      const extent = { rows: 4096, cols: 4096 };
      const win = { rowStart: 100, rowEnd: 200, colStart: 1000, colEnd: 1300 };
      // ½: 200 rows × (848–1452 = 604) = 120800; ¼: 150 × (924–1376 = 452) = 67800; 0.1: 120 × (968–1332 = 364) = 43680.
      assert.deepEqual(valuesRequestWindow(win, extent, 4), { rowStart: 90, rowEnd: 210, colStart: 968, colEnd: 1332 });
      // 128 × 512 from column 1: snapped even without padding, 128 × 516 is too many; the window as it is.
      const tight = { rowStart: 0, rowEnd: 128, colStart: 1, colEnd: 513 };
      assert.deepEqual(valuesRequestWindow(tight, extent, 4), tight);
    });
  });

  describe('single weights', () => {
    it('are drawn from 6 px per weight on', () => {
      const vp = viewport(256, 64, 640, 512);
      assert.equal(vp.showsValues(), false, 'fitted: 10 × 2 px');
      vp.zoomAtCenter(2.9);
      assert.equal(vp.sy, 5.8);
      assert.equal(vp.showsValues(), false, '29 × 5.8 px');
      vp.fit();
      vp.zoomAtCenter(3);
      assert.deepEqual([vp.sx, vp.sy], [30, 6]);
      assert.equal(vp.showsValues(), true, '30 × 6 px');
    });

    it('are drawn when zoomed to single weights: 16 px each around the centre', () => {
      const vp = viewport(256, 64, 640, 512);
      vp.zoomToWeights();
      // 40 columns and 32 rows across around (32, 128).
      assert.deepEqual([vp.sx, vp.sy, vp.x0, vp.y0], [16, 16, 12, 112]);
      assert.equal(vp.showsValues(), true);
    });

    it('are not drawn when the window holds more weights than a reply carries (65536)', () => {
      // A 4000 × 1000 px plot over a 4096 × 4096 layer.
      const vp = viewport(4096, 4096, 4000, 1000);
      vp.restore({ x0: 0, y0: 0, x1: 500, y1: 125 });
      // 8 × 8 px: 500 × 125 = 62500 weights.
      assert.deepEqual([vp.sx, vp.sy], [8, 8]);
      assert.equal(vp.showsValues(), true);
      vp.restore({ x0: 0, y0: 0, x1: 625, y1: 125 });
      // 6.4 × 8 px, but 625 × 125 = 78125 weights.
      assert.deepEqual([vp.sx, vp.sy], [6.4, 8]);
      assert.equal(vp.showsValues(), false);
    });
  });
});
