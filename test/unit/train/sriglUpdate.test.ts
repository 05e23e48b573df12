import { strict as assert } from 'node:assert';
import { markTopMagnitudes, sriglLayerUpdate, SriglUpdateError } from '../../../src/core/train/sriglUpdate';
import { rowsOf } from '../../helpers/maskRows';

describe('SRigL layer update (spec §3.3, §3.6, §4)', () => {
  // Spec §3.6: 4 neurons × 6 inputs, s = 0.5 (12 weights allowed, k0 = 3), f = 0.3.
  const weights = Float32Array.from([
    ...[0.9, -0.8, 0.05, 0, 0, 0],
    ...[0, 0.7, 0, -0.02, 0, 0.6],
    ...[0.01, 0, -0.03, 0, 0.025, 0],
    ...[0, 0, 0, 0.5, -0.4, 0.3],
  ]);
  const grads = Float32Array.from([
    ...[0.1, 0.2, 0.3, 0.9, 0.05, 0],
    ...[0.4, 0.1, 0.8, 0.2, 0.1, 0],
    ...[0.01, 0.02, 0, 0.04, 0.015, 0.03],
    ...[0.5, 0.05, 0.1, 0, 0.2, 0.6],
  ]);
  const mask = Uint8Array.from(weights, (v) => (v !== 0 ? 1 : 0));
  const layer = { rows: 4, cols: 6, weights, mask, grads };
  const at = (w: Float32Array, r: number, c: number) => w[r * 6 + c];

  it('γ = 0.3: no ablation, k = 3, rows {0,1,2} {1,2,5} {2,3,5} {3,4,5}; grown weights 0, kept ones unchanged', () => {
    const u = sriglLayerUpdate(layer, { sparsity: 0.5, dropFraction: 0.3, gammaSal: 0.3 });
    assert.equal(u.threshold, 1);
    assert.deepEqual(u.ablated, []);
    assert.equal(u.k, 3);
    assert.equal(u.nPrune, 3);
    assert.equal(u.nKeep, 9);
    assert.deepEqual(rowsOf(u.mask, 6), [
      [0, 1, 2],
      [1, 2, 5],
      [2, 3, 5],
      [3, 4, 5],
    ]);
    for (const [r, c] of [
      [1, 2],
      [2, 3],
      [2, 5],
    ])
      assert.equal(at(u.weights, r, c), 0, `grown (${r}, ${c}) starts at 0`);
    for (const [r, c] of [
      [1, 3],
      [2, 0],
      [2, 4],
    ])
      assert.equal(at(u.weights, r, c), 0, `dropped (${r}, ${c})`);
    assert.equal(at(u.weights, 0, 0), Math.fround(0.9));
    assert.equal(at(u.weights, 2, 2), Math.fround(-0.03));
    assert.equal(u.grown, 3);
    assert.equal(u.dropped, 3);
  });

  it('γ = 0.7: threshold 2, neuron 2 ablated, k = 4, rows {0,1,2,3} {1,2,3,5} {} {0,3,4,5}', () => {
    const u = sriglLayerUpdate(layer, { sparsity: 0.5, dropFraction: 0.3, gammaSal: 0.7 });
    assert.equal(u.threshold, 2);
    assert.deepEqual(u.ablated, [2]);
    assert.equal(u.k, 4);
    assert.deepEqual(rowsOf(u.mask, 6), [[0, 1, 2, 3], [1, 2, 3, 5], [], [0, 3, 4, 5]]);
    for (const [r, c] of [
      [0, 3],
      [1, 2],
      [3, 0],
    ])
      assert.equal(at(u.weights, r, c), 0, `grown (${r}, ${c}) starts at 0`);
    assert.ok(
      u.weights.subarray(12, 18).every((v) => v === 0),
      'the ablated row is all zero',
    );
  });

  it('no ablation (the last layer, --no-ablation): the same drop and grow as γ = 0.3 here', () => {
    const u = sriglLayerUpdate(layer, { sparsity: 0.5, dropFraction: 0.3, gammaSal: null });
    assert.equal(u.threshold, null);
    assert.deepEqual(u.ablated, []);
    assert.deepEqual(rowsOf(u.mask, 6)[2], [2, 3, 5]);
  });

  it('a weight dropped and regrown in the same update keeps its value', () => {
    // Row 0 holds 2 of k = 2; f = 0.5 drops (0,1) (the smallest |w| of the layer) but its gradient is the row's largest.
    const u = sriglLayerUpdate(
      {
        rows: 2,
        cols: 3,
        weights: Float32Array.from([0.9, 0.1, 0, 0.8, 0.7, 0]),
        mask: Uint8Array.from([1, 1, 0, 1, 1, 0]),
        grads: Float32Array.from([0, 5, 1, 0, 0, 0]),
      },
      { sparsity: 0.25, dropFraction: 0.5, gammaSal: null },
    );
    assert.equal(u.k, 2);
    assert.deepEqual(rowsOf(u.mask, 3), [
      [0, 1],
      [0, 1],
    ]);
    assert.equal(u.weights[1], Math.fround(0.1), 'regrown where it was dropped: value kept');
    assert.equal(u.grown, 0);
  });

  it('revival: an ablated row with large gradients comes back at the next update, regrown to k', () => {
    // 4 × 4, s = 0.5: 8 weights, k0 = 2. Row 3 ablated now (k = 8 // 3 = 2), yet its gradients dominate.
    const first = sriglLayerUpdate(
      {
        rows: 4,
        cols: 4,
        weights: Float32Array.from([0.9, 0.8, 0, 0, 0, 0.7, 0.6, 0, 0.5, 0, 0, 0.4, 0, 0, 0, 0]),
        mask: Uint8Array.from([1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0]),
        grads: Float32Array.from([0, 0, 0.1, 0, 0, 0, 0, 0.1, 0, 0.1, 0, 0, 0, 0, 0, 0]),
      },
      { sparsity: 0.5, dropFraction: 0.5, gammaSal: 1 },
    );
    assert.deepEqual(first.ablated, [3], 'row 3 has no salient weight');
    const second = sriglLayerUpdate(
      {
        rows: 4,
        cols: 4,
        weights: first.weights,
        mask: first.mask,
        grads: Float32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5, 0, 3, 2, 0, 0]),
      },
      { sparsity: 0.5, dropFraction: 0.5, gammaSal: 1 },
    );
    assert.deepEqual(second.ablated, [], 'its gradients made it salient: revived');
    assert.equal(second.k, 2);
    assert.deepEqual(rowsOf(second.mask, 4)[3], [0, 1], 'regrown to k by gradient');
    assert.ok(
      rowsOf(second.mask, 4).every((r) => r.length === 2),
      'every row at k',
    );
  });

  it('truncation after a revival lowers k: a row with more than k kept keeps its lowest columns', () => {
    // 3 × 6, s = 0.5: 9 weights. Row 2 was ablated (k = 4); revived now, k = 3, and row 1 keeps 4.
    const u = sriglLayerUpdate(
      {
        rows: 3,
        cols: 6,
        weights: Float32Array.from([0.1, 0, 0.9, 0.8, 0.7, 0, 0.3, 0.4, 0.5, 0.6, 0, 0, 0, 0, 0, 0, 0, 0]),
        mask: Uint8Array.from([1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
        grads: Float32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 8, 7, 6, 5, 4]),
      },
      { sparsity: 0.5, dropFraction: 0.125, gammaSal: 1 },
    );
    // n_keep = 7: row 0 keeps 3 (its 0.1 drops), row 1 all 4; the top gradient makes row 2 salient.
    assert.deepEqual(u.ablated, []);
    assert.equal(u.k, 3);
    assert.deepEqual(rowsOf(u.mask, 6), [
      [2, 3, 4],
      [0, 1, 2],
      [0, 1, 2],
    ]);
    assert.equal(u.weights[6], Math.fround(0.3), 'the lowest columns stay…');
    assert.equal(u.weights[9], 0, '…not the largest |w| (0.6, column 3)');
  });

  it('the minimum-neurons guard lowers the threshold so that enough neurons survive', () => {
    // 4 × 4 at s = 0.5: 8 weights, min_neurons = 8 // 4 = 2. γ = 3 would ablate all but row 0.
    const u = sriglLayerUpdate(
      {
        rows: 4,
        cols: 4,
        weights: Float32Array.from([0.9, 0.8, 0.7, 0, 0.6, 0.5, 0, 0, 0.01, 0, 0, 0, 0, 0, 0, 0.02]),
        mask: Uint8Array.from([1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]),
        grads: new Float32Array(16),
      },
      { sparsity: 0.5, dropFraction: 0, gammaSal: 3 },
    );
    // Salient counts [3, 2, 1, 1]: sorted, counts[2] = 1 < 3, so the threshold falls to 1 and nothing is ablated.
    assert.equal(u.threshold, 1);
    assert.deepEqual(u.ablated, []);
    assert.equal(u.k, 2);
  });

  it('a conv weight is one row per filter over (in, kh, kw) in C order', () => {
    // [2, 2, 1, 2] viewed as 2 × 4 at s = 0.5: k = 2.
    const u = sriglLayerUpdate(
      {
        rows: 2,
        cols: 4,
        weights: Float32Array.from([0.5, 0, 0, 0.4, 0, 0.3, 0.2, 0]),
        mask: Uint8Array.from([1, 0, 0, 1, 0, 1, 1, 0]),
        grads: Float32Array.from([0, 1, 2, 0, 3, 0, 0, 4]),
      },
      { sparsity: 0.5, dropFraction: 0.25, gammaSal: null },
    );
    // n_prune = int(4 · 0.25) = 1: drops 0.2 at (1, 2); row 1 regrows its largest gradient, column 3.
    assert.deepEqual(rowsOf(u.mask, 4), [
      [0, 3],
      [1, 3],
    ]);
  });

  it('refuses a sparsity that leaves no weight per neuron, and a non-finite gradient', () => {
    const tiny = { rows: 4, cols: 2, weights: new Float32Array(8).fill(1), mask: new Uint8Array(8).fill(1), grads: new Float32Array(8) };
    assert.throws(() => sriglLayerUpdate(tiny, { sparsity: 0.9, dropFraction: 0.1, gammaSal: null }), SriglUpdateError);
    const nan = { ...tiny, grads: Float32Array.from([0, 0, NaN, 0, 0, 0, 0, 0]) };
    assert.throws(() => sriglLayerUpdate(nan, { sparsity: 0.5, dropFraction: 0.1, gammaSal: null }), /not finite at row 1, column 0/);
  });

  it('top-n by magnitude breaks ties by the lower index', () => {
    const out = new Uint8Array(6);
    markTopMagnitudes(Float32Array.from([1, -2, 2, 1, -1, 0]), 4, out);
    assert.deepEqual(Array.from(out), [1, 1, 1, 1, 0, 0]);
  });
});
