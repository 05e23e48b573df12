import { strict as assert } from 'node:assert';
import type { FromWebview, HeatmapWindow, ToWebview } from '../../../src/protocol';
import { HeatmapRequests, MessageTransport, type HeatmapTransport, type TileCells } from '../../../webview/src/heatmap/requests';

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
}

const cells = (n: number): TileCells => ({ rows: 1, cols: n, density: new Float32Array(n).fill(0.5), meanAbs: new Float32Array(n).fill(0.25) });

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
      assert.deepEqual([tiles.window, tiles.rows, tiles.cols, [...tiles.density], [...tiles.meanAbs]], [WIN, 1, 2, [0.5, 0.5], [0.25, 0.25]]);
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

  describe('messages', () => {
    function setup(): { transport: MessageTransport; sent: FromWebview[] } {
      const sent: FromWebview[] = [];
      return { transport: new MessageTransport((m) => sent.push(m)), sent };
    }
    const heatmapReply = (requestId: number, layer = LAYER, window = WIN): ToWebview => ({ type: 'heatmap', requestId, layer, window, ...cells(2) });

    it('sends each request with a fresh id and settles it by the reply with that id', async () => {
      const { transport, sent } = setup();
      const tiles = transport.fetchTiles(LAYER, WIN, 2, 1);
      const values = transport.fetchValues(LAYER, WIN);
      assert.deepEqual(sent, [
        { type: 'requestHeatmap', requestId: 1, layer: LAYER, width: 2, height: 1, ...WIN },
        { type: 'requestValues', requestId: 2, layer: LAYER, ...WIN },
      ]);
      assert.equal(transport.onMessage({ type: 'values', requestId: 2, layer: LAYER, window: WIN, values: new Float32Array(8) }), true);
      assert.equal(transport.onMessage(heatmapReply(1)), true);
      assert.equal((await tiles).cols, 2);
      assert.equal((await values).length, 8);
      assert.equal(transport.onMessage(heatmapReply(1)), false, 'answered already');
    });

    it('rejects with the host error of its id, and leaves other messages alone', async () => {
      const { transport } = setup();
      const p = outcome(transport.fetchValues(LAYER, WIN));
      assert.equal(transport.onMessage({ type: 'error', requestId: 7, message: 'not ours' }), false);
      assert.equal(transport.onMessage({ type: 'error', message: 'no id: the analysis failed' }), false);
      assert.equal(transport.onMessage({ type: 'select', layer: LAYER }), false);
      assert.equal(transport.onMessage(heatmapReply(1)), false, 'a heatmap reply to a values request');
      assert.equal(transport.onMessage({ type: 'error', requestId: 1, message: 'no weight named "fc1.weight"' }), true);
      assert.deepEqual(await p, { error: 'HostError', message: 'no weight named "fc1.weight"' });
    });

    it('does not take a reply for another layer, and drops one for another window', async () => {
      const { transport } = setup();
      const p = outcome(transport.fetchTiles(LAYER, WIN, 2, 1));
      assert.equal(transport.onMessage(heatmapReply(1, 'fc2.weight')), false);
      assert.equal(transport.onMessage(heatmapReply(1, LAYER, { ...WIN, rowEnd: 1 })), true);
      assert.equal(((await p) as { error: string }).error, 'RequestCancelled');
    });

    it('carries superseding requests: the reply to the older id reaches nobody', async () => {
      const { transport, sent } = setup();
      const requests = new HeatmapRequests(transport);
      const first = outcome(requests.fetchTiles(LAYER, WIN, 2, 1));
      const second = requests.fetchTiles(LAYER, WIN, 4, 1);
      assert.deepEqual(sent.map((m) => (m as { requestId: number }).requestId), [1, 2]);
      transport.onMessage(heatmapReply(1));
      assert.equal(((await first) as { error: string }).error, 'RequestCancelled');
      transport.onMessage({ type: 'heatmap', requestId: 2, layer: LAYER, window: WIN, ...cells(4) });
      assert.equal((await second).cols, 4);
    });
  });
});
