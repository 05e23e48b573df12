import { strict as assert } from 'node:assert';
import { readFileSync, realpathSync } from 'node:fs';
import type { TensorEntry } from '../../../../src/core/checkpoint';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import type { DerivedTensor, StoredRange } from '../../../../src/core/storedTensor';
import { fixture } from '../../../helpers/fixtures';

interface Manifest {
  weightsManifest: { paths: string[]; weights: { name: string; quantization?: { dtype: string; scale?: number; min?: number } }[] }[];
}

describe('TF.js: how each tensor is stored', () => {
  it('a weight within one file is a range of it; one crossing into the next file is the ranges of both, in order', async () => {
    const checkpoint = await openCheckpoint(fixture('tfjs', 'split', 'model.json'));
    const [first, second] = ['group1-shard1of2.bin', 'group1-shard2of2.bin'].map((f) => realpathSync(fixture('tfjs', 'split', f)));
    const kernel = checkpoint.tensors.find((t) => t.name === 'dense_sparse/kernel')!;
    assert.equal(kernel.stored.kind, 'ranges');
    const parts = (kernel.stored as { parts: readonly StoredRange[] }).parts;
    assert.deepEqual(
      parts.map((p) => p.file),
      [first, second],
    );
    assert.equal(parts[0].offset + parts[0].length, readFileSync(first).length, 'the first part runs to the end of its file');
    assert.equal(parts[1].offset, 0);
    assert.equal(parts[0].length + parts[1].length, kernel.shape.reduce((a, b) => a * b, 1) * 4);
    const bias = checkpoint.tensors.find((t) => t.name === 'dense_sparse/bias')!;
    assert.deepEqual(bias.stored, { kind: 'range', file: second, offset: parts[1].length, length: 64, byteOrder: 'little' });
  });

  it("quantized weights: dequantize with the manifest's scale and min, or float16 analysed as stored", async () => {
    const modelJson = fixture('tfjs', 'quantized', 'model.json');
    const manifest = JSON.parse(readFileSync(modelJson, 'utf8')) as Manifest;
    const checkpoint = await openCheckpoint(modelJson);
    const byName = new Map<string, TensorEntry>(checkpoint.tensors.map((t) => [t.name, t]));
    let seen = 0;
    for (const w of manifest.weightsManifest.flatMap((g) => g.weights)) {
      const stored = byName.get(w.name)!.stored;
      if (!w.quantization) {
        assert.equal(stored.kind, 'range', w.name);
        continue;
      }
      seen++;
      const derived = stored as DerivedTensor;
      if (w.quantization.dtype === 'float16') {
        assert.equal(derived.op, 'float16Quantization', w.name);
        continue;
      }
      assert.ok(derived.op === 'dequantize', w.name);
      assert.deepEqual(
        [derived.codes, derived.scale, derived.min, derived.to],
        [w.quantization.dtype, w.quantization.scale, w.quantization.min, 'float32'],
        w.name,
      );
      assert.equal(derived.from.kind, 'range', w.name);
    }
    assert.ok(seen >= 3);
  });
});
