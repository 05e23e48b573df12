import { strict as assert } from 'node:assert';
import { ablationOf, salientPerRow } from '../../../src/core/analysis/ablation';
import { NeuronView } from '../../../src/core/neuronView';

function chunks(values: number[], size: number) {
  return async function* () {
    for (let first = 0; first < values.length; first += size) {
      const part = values.slice(first, first + size);
      yield { values: Float64Array.from(part), first, count: part.length };
    }
  };
}

describe('SRigL neuron ablation from a checkpoint (spec §4)', () => {
  it('salient weights per row: the top-n |w|, ties in row-major order of the neuron view, whatever the storage order', async () => {
    // [out, in] = [2, 3]: rows [3, −1, 0.5] and [−3, 0.5, 0.5]; n = 4 takes 3, −3, −1 and the first 0.5 (row 0).
    const outIn = new NeuronView([2, 3], { outAxis: 0, inAxis: 1 });
    for (const size of [1, 2, 6])
      assert.deepEqual(Array.from(await salientPerRow(chunks([3, -1, 0.5, -3, 0.5, 0.5], size), outIn, 4)), [3, 1]);
    // [in, out] = [3, 2] (Keras): storage order (0,0) (1,0) (0,1) (1,1) (0,2) (1,2); values row 0 = [1, 1, 2], row 1 = [1, 0, 1].
    // n = 3: the 2, then two of the four 1s in row-major order, (0,0) and (0,1): row 0 holds all three.
    const inOut = new NeuronView([3, 2], { outAxis: 1, inAxis: 0 });
    assert.deepEqual(Array.from(await salientPerRow(chunks([1, 1, 1, 0, 2, 1], 2), inOut, 3)), [3, 0]);
    assert.deepEqual(Array.from(await salientPerRow(chunks([1, 1, 1, 0, 2, 1], 2), inOut, 6)), [3, 3], 'n = numel takes the zeros too');
    assert.deepEqual(Array.from(await salientPerRow(chunks([1, 1, 1, 0, 2, 1], 2), inOut, 0)), [0, 0]);
  });

  it('magnitudes that differ only past float32 precision of float16 / bfloat16 weights stay apart; negative zero is zero', async () => {
    const view = new NeuronView([2, 2], { outAxis: 0, inAxis: 1 });
    // Row 0 = [1, 0], row 1 = [1.0000001, 0]: as float32 1.0000001 is 1 + 2^-23, larger, so row 1 takes n = 1.
    assert.deepEqual(Array.from(await salientPerRow(chunks([1, 0, 1.0000001, 0], 4), view, 1)), [0, 1]);
    assert.deepEqual(Array.from(await salientPerRow(chunks([-0, 1e-30, 0, 0], 4), view, 1)), [1, 0]);
  });

  it('threshold, the minimum-neurons guard, candidates and k after ablation, by hand', () => {
    // 4 rows of dense fan-in 4; n = 8, k0 = 2. γ 0.5 → t = max(1, int(0.5 · 2)) = 1: row 3 (0 salient) goes.
    const salient = Uint32Array.from([4, 3, 1, 0]);
    const fanIn = Uint32Array.from([4, 4, 2, 0]);
    const a = ablationOf(salient, fanIn, 8, 4, 0.5);
    assert.deepEqual([a.threshold, a.candidates, a.dead, a.kAfterAblation, a.savedParameters], [1, [3], [3], Math.floor(8 / 3), 4]);
    // γ = 4 (a count): min_neurons = 8 // 4 = 2, counts sorted [4, 3, 1, 0][2] = 1 < 4, so t = 1.
    assert.equal(ablationOf(salient, fanIn, 8, 4, 4).threshold, 1);
    // γ = 2: t = 2; sorted[2] = 1 < 2 lowers it to 1 as well; without the guard rows 2 and 3 would go.
    assert.deepEqual(ablationOf(salient, fanIn, 8, 4, 2).candidates, [3]);
    assert.deepEqual(ablationOf(salient, fanIn, 4, 4, 2).candidates, [2, 3], 'min_neurons 1: sorted[1] = 3 ≥ 2 keeps t = 2');
  });
});
