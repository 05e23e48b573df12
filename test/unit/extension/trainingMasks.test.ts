import { strict as assert } from 'node:assert';
import type { WeightLayout } from '../../../src/core/checkpoint';
import { NeuronView } from '../../../src/core/neuronView';
import { maskUpdateOf, packMask, packMasks } from '../../../src/extension/trainingMasks';
import { rowFanIns, unpackMask } from '../../../webview/src/maskViewModel';
import { seededRandom } from '../../helpers/random';

/** A random 0/1 mask in storage order. */
function randomMask(n: number, seed: number, density = 0.3): Uint8Array {
  const rnd = seededRandom(seed);
  return Uint8Array.from({ length: n }, () => (rnd() < density ? 1 : 0));
}

/** The mask in its [neurons, fan-in] view, by NeuronView: the oracle. */
function viewed(mask: Uint8Array, shape: number[], layout: WeightLayout): Uint8Array {
  const view = new NeuronView(shape, layout);
  const out = new Uint8Array(view.rows * view.cols);
  for (let r = 0; r < view.rows; r++) for (let c = 0; c < view.cols; c++) out[r * view.cols + c] = mask[view.index(r, c)];
  return out;
}

describe('extension: SRigL masks for the webview', () => {
  it('packs 8 positions a byte, the first in the high bit, each row on a byte of its own', () => {
    // 2 neurons × 10 inputs, row-major (Gemm with transB: [out, in]).
    const mask = Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 1, 1, 0, /**/ 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    const packed = packMask({ name: 'fc', shape: [2, 10], layout: { outAxis: 0, inAxis: 1 } }, mask)!;
    assert.deepEqual([...packed], [0b10000001, 0b10000000, 0b01000000, 0b01000000]);
    assert.deepEqual([...unpackMask(packed, 2, 10)], [...mask]);
    assert.deepEqual([...rowFanIns(packed, 2, 10)], [3, 2]);
  });

  it('packs every layout in the [neurons, fan-in] view, as the editor’s heatmap shows it', () => {
    const cases: { shape: number[]; layout: WeightLayout }[] = [
      { shape: [7, 13], layout: { outAxis: 0, inAxis: 1 } }, // Gemm [out, in]
      { shape: [13, 7], layout: { outAxis: 1, inAxis: 0 } }, // MatMul [in, out]
      { shape: [6, 3, 3, 3], layout: { outAxis: 0, inAxis: 1 } }, // Conv [out, in, kh, kw]
      { shape: [3, 3, 5, 6], layout: { outAxis: 3, inAxis: 2 } }, // HWIO
      { shape: [1, 9], layout: { outAxis: 0, inAxis: 1 } },
    ];
    cases.forEach(({ shape, layout }, i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const mask = randomMask(n, 10 + i);
      const view = new NeuronView(shape, layout);
      const packed = packMask({ name: `w${i}`, shape, layout }, mask)!;
      assert.equal(packed.length, view.rows * Math.ceil(view.cols / 8), `${shape}`);
      assert.deepEqual([...unpackMask(packed, view.rows, view.cols)], [...viewed(mask, shape, layout)], `${shape}`);
    });
  });

  it('leaves out the bits of a layer too large to send live, and refuses a mask of another size', () => {
    const layer = { name: 'big', shape: [64, 64], layout: { outAxis: 0, inAxis: 1 } };
    assert.equal(packMask(layer, new Uint8Array(64 * 64), 4095), null);
    assert.ok(packMask(layer, new Uint8Array(64 * 64), 4096));
    assert.throws(() => packMask(layer, new Uint8Array(10)), /has 10 positions, its weight 4096/);
    const masks = packMasks([layer, { ...layer, name: 'absent' }], new Map([['big', new Uint8Array(4096)]]));
    assert.deepEqual(Object.keys(masks), ['big'], 'a layer without a mask is left out');
  });

  it('turns a training job’s update into figures per layer and packed masks', () => {
    const layers = [
      { name: 'a', shape: [2, 8], layout: { outAxis: 0, inAxis: 1 } },
      { name: 'b', shape: [8, 2], layout: { outAxis: 1, inAxis: 0 } },
    ];
    const update = maskUpdateOf(
      {
        step: 10,
        index: 2,
        of: 5,
        dropFraction: 0.25,
        layers: [
          { name: 'a', k: 3, nKeep: 4, nPrune: 2, ablated: [1], threshold: 1, grown: 2, dropped: 2, active: 3 },
          { name: 'b', k: 4, nKeep: 6, nPrune: 2, ablated: [], threshold: null, grown: 1, dropped: 1, active: 8 },
        ],
        masks: { a: Uint8Array.from([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), b: new Uint8Array(16).fill(1) },
      },
      layers,
    );
    assert.deepEqual(
      { ...update, masks: undefined },
      {
        index: 2,
        of: 5,
        dropFraction: 0.25,
        layers: [
          { name: 'a', k: 3, ablated: 1, grown: 2, dropped: 2, active: 3 },
          { name: 'b', k: 4, ablated: 0, grown: 1, dropped: 1, active: 8 },
        ],
        masks: undefined,
      },
    );
    assert.deepEqual([...update.masks!.a!], [0b11100000, 0]);
    assert.deepEqual([...rowFanIns(update.masks!.b!, 2, 8)], [8, 8]);
    assert.equal(maskUpdateOf({ step: 1, index: 1, of: 1, dropFraction: 0.3, layers: [] }, layers).masks, undefined);
  });
});
