import type { ChangeTiles } from '../../../src/core/analysis/diff';
import { strict as assert } from 'node:assert';
import type { ViewWindow as HeatmapWindow } from '../../../src/core/neuronView';
import { HeatmapRequests, type HeatmapTransport, type TileCells } from '../../../webview/src/heatmap/requests';

const WIN = { rowStart: 0, rowEnd: 2, colStart: 4, colEnd: 8 };
const LAYER = 'fc1.weight';

/** How a promise settled: its value, or its error's name and message. */
async function outcome<T>(p: Promise<T>): Promise<{ value: T } | { error: string; message: string }> {
  try {
    return { value: await p };
  } catch (e) {
    return { error: (e as Error).name, message: (e as Error).message };
  }
}

/** A transport whose answers the test gives by hand, in any order. */
class ManualTransport implements HeatmapTransport {
  readonly asked: { kind: string; window: HeatmapWindow; resolve(v: unknown): void; reject(e: Error): void }[] = [];
  fetchTiles(_layer: string, window: HeatmapWindow): Promise<TileCells> {
    return new Promise((resolve, reject) => this.asked.push({ kind: 'tiles', window, resolve: resolve as (v: unknown) => void, reject }));
  }
  fetchValues(_layer: string, window: HeatmapWindow): Promise<Float32Array> {
    return new Promise((resolve, reject) => this.asked.push({ kind: 'values', window, resolve: resolve as (v: unknown) => void, reject }));
  }
  fetchChanges(_layer: string, window: HeatmapWindow): Promise<ChangeTiles> {
    return new Promise((resolve, reject) => this.asked.push({ kind: 'changes', window, resolve: resolve as (v: unknown) => void, reject }));
  }
}

const cells = (n: number): TileCells => ({
  rows: 1,
  cols: n,
  density: new Float32Array(n).fill(0.5),
  meanAbs: new Float32Array(n).fill(0.25),
});

describe('webview: heatmap requests', () => {
  describe('superseding', () => {
    it('resolves with the cells of the window asked for', async () => {
      const transport = new ManualTransport();
      const requests = new HeatmapRequests(transport);
      const p = requests.fetchTiles(LAYER, WIN, 2, 1);
      assert.equal(requests.fetchingTiles(LAYER, WIN, 2, 1), true);
      assert.equal(requests.fetchingTiles(LAYER, WIN, 4, 1), false);
      assert.equal(requests.fetchingTiles('fc2.weight', WIN, 2, 1), false);
      transport.asked[0].resolve(cells(2));
      const tiles = await p;
      assert.deepEqual(
        [tiles.window, tiles.rows, tiles.cols, [...tiles.density], [...tiles.meanAbs]],
        [WIN, 1, 2, [0.5, 0.5], [0.25, 0.25]],
      );
      assert.equal(requests.fetchingTiles(LAYER, WIN, 2, 1), false);
    });

    it('cancels the request in flight when a newer one of the same kind starts, and drops its late answer', async () => {
      const transport = new ManualTransport();
      const requests = new HeatmapRequests(transport);
      const first = outcome(requests.fetchTiles(LAYER, WIN, 2, 1));
      const second = requests.fetchTiles(LAYER, { ...WIN, rowEnd: 1 }, 2, 1);
      assert.deepEqual(await first, { error: 'RequestCancelled', message: 'superseded' });
      transport.asked[0].resolve(cells(2)); // the first answer, late: nobody gets it
      assert.equal(requests.fetchingTiles(LAYER, { ...WIN, rowEnd: 1 }, 2, 1), true);
      transport.asked[1].resolve(cells(2));
      assert.deepEqual((await second).window, { ...WIN, rowEnd: 1 });
    });

    it('keeps cells and weights apart, and cancels either on its own', async () => {
      const transport = new ManualTransport();
      const requests = new HeatmapRequests(transport);
      const tiles = outcome(requests.fetchTiles(LAYER, WIN, 2, 1));
      const values = requests.fetchValues(LAYER, WIN);
      assert.equal(requests.fetchingValues(LAYER, WIN), true);
      requests.cancelTiles();
      assert.equal(((await tiles) as { error: string }).error, 'RequestCancelled');
      transport.asked[1].resolve(new Float32Array(8));
      assert.equal((await values).length, 8);
      const both = [outcome(requests.fetchTiles(LAYER, WIN, 2, 1)), outcome(requests.fetchValues(LAYER, WIN))];
      requests.cancelAll();
      for (const p of both) assert.equal(((await p) as { error: string }).error, 'RequestCancelled');
    });

    it('passes the host error on, and ignores one for a superseded request', async () => {
      const transport = new ManualTransport();
      const requests = new HeatmapRequests(transport);
      const first = outcome(requests.fetchValues(LAYER, WIN));
      const second = outcome(requests.fetchValues(LAYER, { ...WIN, colStart: 0 }));
      transport.asked[0].reject(new Error('too late to matter'));
      transport.asked[1].reject(new Error('no weight named "fc1.weight"'));
      assert.deepEqual(await first, { error: 'RequestCancelled', message: 'superseded' });
      assert.deepEqual(await second, { error: 'Error', message: 'no weight named "fc1.weight"' });
    });

    it('drops answers that do not fit what was asked for', async () => {
      const transport = new ManualTransport();
      const requests = new HeatmapRequests(transport);
      const tiles = outcome(requests.fetchTiles(LAYER, WIN, 2, 1));
      // One row of two cells promised, three values sent.
      transport.asked[0].resolve({ ...cells(2), density: new Float32Array(3) });
      assert.equal(((await tiles) as { error: string }).error, 'RequestCancelled');
      const values = outcome(requests.fetchValues(LAYER, WIN));
      // A 2 × 4 window has 8 weights.
      transport.asked[1].resolve(new Float32Array(6));
      assert.equal(((await values) as { error: string }).error, 'RequestCancelled');
    });

    it('takes typed arrays that arrive as plain JSON', async () => {
      const transport = new ManualTransport();
      const requests = new HeatmapRequests(transport);
      const p = requests.fetchValues(LAYER, WIN);
      const values = [1, 0, 0, -2, 0, 3, 0, 0];
      transport.asked[0].resolve(values);
      assert.deepEqual([...(await p)], values);
    });
  });
});
