import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { OUT_IN_LAYOUT, type Checkpoint, type TensorEntry } from '../../../src/core/checkpoint';
import { pruneCheckpoint } from '../../../src/core/prune/pruneCheckpoint';
import { outputNameFor, outputTag, PruneError, skippedText } from '../../../src/core/prune/pruneSelection';
import { createReferenceKernels } from '../../../src/kernels/reference/referenceKernels';
import { fixture, makeTempDir } from '../../helpers/fixtures';

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

describe('prune: limits', () => {
  it('a tensor larger than a buffer can hold is refused before any work, with what to do', async () => {
    const temp = makeTempDir();
    try {
      const file = fixture('digits_mlp.safetensors');
      const huge: TensorEntry = {
        name: 'lm_head.weight',
        dtype: 'float32',
        shape: [131072, 16384],
        source: { kind: 'inline', bytes: new Uint8Array(0) },
        stored: { kind: 'range', file, offset: 0, length: 131072 * 16384 * 4, byteOrder: 'little' },
        role: 'linear',
        layout: OUT_IN_LAYOUT,
      };
      const checkpoint: Checkpoint = { file, format: 'safetensors', tensors: [huge], metadata: {}, skipped: [] };
      const request = {
        file,
        roles: [],
        output: path.join(temp.dir, 'out.safetensors'),
        force: false,
        layers: [{ name: 'lm_head.weight', rule: { kind: 'nm' as const, n: 2, m: 4, transposable: false } }],
        skipped: [],
        method: 'test',
        toolVersion: '0',
      };
      await assert.rejects(
        pruneCheckpoint(checkpoint, request, createReferenceKernels()),
        (e: Error) =>
          e instanceof PruneError &&
          /lm_head\.weight takes 8\.0 GiB: a pruned tensor is held in memory whole, up to 4\.0 GiB/.test(e.message),
      );
      assert.deepEqual(readdirSync(temp.dir), []);
    } finally {
      temp.remove();
    }
  });
});
