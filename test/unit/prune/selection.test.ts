import { strict as assert } from 'node:assert';
import { outputNameFor, outputTag, skippedText } from '../../../src/core/prune/pruneSelection';

describe('prune: names and messages', () => {
  it('default output names keep the input format, a shard index included', () => {
    assert.equal(outputNameFor('/m/digits_mlp.onnx', outputTag({ n: 2, m: 4 })), '/m/digits_mlp.pruned-2of4.onnx');
    assert.equal(outputNameFor('/m/w.npz', outputTag({ n: 2, m: 4 }, true)), '/m/w.pruned-2of4-transposable.npz');
    assert.equal(outputNameFor('/m/model.safetensors.index.json', outputTag({ density: 0.1 })), '/m/model.fanin90.safetensors.index.json');
    assert.equal(outputNameFor('/m/a.pt', 'condensed', '.safetensors'), '/m/a.condensed.safetensors');
  });

  it('a message lists the first five skipped layers, escaped, and counts the rest', () => {
    const skipped = Array.from({ length: 8 }, (_, i) => ({ name: `l${i}\n`, reason: 'no k' }));
    assert.equal(skippedText(skipped), 'l0\\n (no k); l1\\n (no k); l2\\n (no k); l3\\n (no k); l4\\n (no k); … and 3 more');
    assert.equal(skippedText(skipped.slice(0, 2)), 'l0\\n (no k); l1\\n (no k)');
  });
});
