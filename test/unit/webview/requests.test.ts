import { strict as assert } from 'node:assert';
import type { FromWebview, ToWebview } from '../../../src/protocol';
import { HeatmapRequests, HostError, RequestCancelled, type Tiles } from '../../../webview/src/heatmap/requests';

const WIN = { rowStart: 0, rowEnd: 2, colStart: 4, colEnd: 8 };

function setup(): { requests: HeatmapRequests; sent: FromWebview[] } {
  const sent: FromWebview[] = [];
  return { requests: new HeatmapRequests((m) => sent.push(m)), sent };
}

/** How a promise settled: its value, or the name of its error. */
async function outcome<T>(p: Promise<T>): Promise<{ value: T } | { error: string; message: string }> {
  try {
    return { value: await p };
  } catch (e) {
    return { error: (e as Error).name, message: (e as Error).message };
  }
}

function heatmapReply(requestId: number, layer = 'fc1.weight'): ToWebview {
  return { type: 'heatmap', requestId, layer, window: WIN, rows: 1, cols: 2, density: new Float32Array([0.5, 1]), meanAbs: new Float32Array([0.25, 0.75]) };
}

describe('webview: heatmap requests', () => {
  it('asks for cells with a fresh id and resolves with the matching reply', async () => {
    const { requests, sent } = setup();
    const p = requests.fetchTiles('fc1.weight', WIN, 2, 1);
    assert.deepEqual(sent, [{ type: 'requestHeatmap', requestId: 1, layer: 'fc1.weight', width: 2, height: 1, ...WIN }]);
    assert.equal(requests.fetchingTiles('fc1.weight', WIN, 2, 1), true);
    assert.equal(requests.fetchingTiles('fc1.weight', WIN, 4, 1), false);
    assert.equal(requests.onMessage(heatmapReply(1)), true);
    const tiles = (await p) as Tiles;
    assert.deepEqual(tiles.window, WIN);
    assert.deepEqual([tiles.rows, tiles.cols, [...tiles.density], [...tiles.meanAbs]], [1, 2, [0.5, 1], [0.25, 0.75]]);
    assert.equal(requests.fetchingTiles('fc1.weight', WIN, 2, 1), false);
  });

  it('takes typed arrays that arrive as plain JSON', async () => {
    const { requests } = setup();
    const p = requests.fetchValues('fc1.weight', WIN);
    const values = [1, 0, 0, -2, 0, 3, 0, 0];
    requests.onMessage({ type: 'values', requestId: 1, layer: 'fc1.weight', window: WIN, values: values as unknown as Float32Array });
    assert.deepEqual([...(await p)], values);
  });

  it('drops a superseded request and its late reply', async () => {
    const { requests, sent } = setup();
    const first = outcome(requests.fetchTiles('fc1.weight', WIN, 2, 1));
    const second = requests.fetchTiles('fc1.weight', { ...WIN, rowEnd: 1 }, 2, 1);
    assert.deepEqual((await first) as { error: string }, { error: 'RequestCancelled', message: 'superseded' });
    assert.equal(requests.onMessage(heatmapReply(1)), false, 'the reply to the first request is not ours any more');
    assert.equal((sent[1] as { requestId: number }).requestId, 2);
    requests.onMessage(heatmapReply(2));
    assert.equal((await second).cols, 2);
  });

  it('keeps cells and weights apart, and cancels either on its own', async () => {
    const { requests } = setup();
    const tiles = outcome(requests.fetchTiles('fc1.weight', WIN, 2, 1));
    const values = requests.fetchValues('fc1.weight', WIN);
    assert.equal(requests.fetchingValues('fc1.weight', WIN), true);
    requests.cancelTiles();
    assert.equal(((await tiles) as { error: string }).error, 'RequestCancelled');
    requests.onMessage({ type: 'values', requestId: 2, layer: 'fc1.weight', window: WIN, values: new Float32Array(8) });
    assert.equal((await values).length, 8);
  });

  it('rejects with the host error of its id, and ignores errors of other ids', async () => {
    const { requests } = setup();
    const p = outcome(requests.fetchValues('fc1.weight', WIN));
    assert.equal(requests.onMessage({ type: 'error', requestId: 7, message: 'not ours' }), false);
    assert.equal(requests.onMessage({ type: 'error', message: 'no id: the analysis failed' }), false);
    assert.equal(requests.onMessage({ type: 'error', requestId: 1, message: 'no weight named "fc1.weight"' }), true);
    assert.deepEqual(await p, { error: 'HostError', message: 'no weight named "fc1.weight"' });
    assert.ok(new HostError('x') instanceof Error && new RequestCancelled() instanceof Error);
  });

  it('drops replies that do not fit what was asked for', async () => {
    const { requests } = setup();
    const tiles = outcome(requests.fetchTiles('fc1.weight', WIN, 2, 1));
    // Two cells promised, three sent.
    requests.onMessage({ ...(heatmapReply(1) as Extract<ToWebview, { type: 'heatmap' }>), density: new Float32Array(3) });
    assert.equal(((await tiles) as { error: string }).error, 'RequestCancelled');
    const values = outcome(requests.fetchValues('fc1.weight', WIN));
    // A 2 × 4 window needs 8 weights.
    requests.onMessage({ type: 'values', requestId: 2, layer: 'fc1.weight', window: WIN, values: new Float32Array(6) });
    assert.equal(((await values) as { error: string }).error, 'RequestCancelled');
  });

  it('ignores replies for another layer', () => {
    const { requests } = setup();
    void outcome(requests.fetchTiles('fc1.weight', WIN, 2, 1));
    assert.equal(requests.onMessage(heatmapReply(1, 'fc2.weight')), false);
    assert.equal(requests.fetchingTiles('fc1.weight', WIN, 2, 1), true);
    requests.cancelAll();
  });
});
