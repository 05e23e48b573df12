import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TensorEntry } from '../../../src/core/checkpoint';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { createKernels } from '../../../src/kernels/createKernels';
import type { Kernels, WeightRef } from '../../../src/kernels/kernels';
import { BACKENDS, fixture, REPO } from '../../helpers/fixtures';
import { SHARED_DATA } from '../../helpers/onnxAccuracy';
import { EXPECTED, EXPECTED_KEYS, expectedFiles, maskBytes, maskDifference, sha256, type ExpectedMask } from '../../helpers/prune';

/** The kernel mask for one of expected.json's methods: nm:N:M, transposable:2:4, fanIn:* (k from the entry). */
function kernelMask(kernels: Kernels, weight: WeightRef, method: string, expected: ExpectedMask): Promise<Uint8Array> {
  const [kind, a, b] = method.split(':');
  if (kind === 'nm') return kernels.nmMask(weight, { n: Number(a), m: Number(b) });
  if (kind === 'transposable') {
    assert.equal(`${a}:${b}`, '2:4');
    return kernels.transposableMask(weight);
  }
  if (kind === 'fanIn') {
    assert.ok(Number.isInteger(expected.k), `${method} gives its k`);
    return kernels.fanInMask(weight, expected.k!);
  }
  throw new Error(`unknown method ${method}`);
}

/** The methods of a tensor's entry that are masks to compute (the prune pair's old / new weight_mask are not). */
const isMethod = (method: string) => /^(nm|transposable|fanIn):/.test(method);

describe('prune masks: the kernels against numpy (test/fixtures/prune/expected.json)', function () {
  this.timeout(30_000);

  it('expected.json describes these very files: sha256 of each, and the shared digits MLP copy', () => {
    for (const [name, digest] of Object.entries(EXPECTED._about.sha256)) assert.equal(sha256(fixture('prune', name)), digest, name);
    const shared = path.join(SHARED_DATA, 'digits_mlp.safetensors');
    if (existsSync(shared)) assert.ok(readFileSync(shared).equals(readFileSync(fixture('digits_mlp.safetensors'))));
    // Every mask decodes to its shape and its count of ones.
    for (const key of EXPECTED_KEYS)
      for (const [tensor, methods] of Object.entries(EXPECTED[key].masks))
        for (const [method, mask] of Object.entries(methods)) {
          const bits = maskBytes(mask);
          assert.equal(
            bits.reduce((s, v) => s + v, 0),
            mask.ones,
            `${key} ${tensor} ${method}`,
          );
        }
  });

  it('the cnn has one layout in ONNX, safetensors and torch.save: [out, in, kh, kw], so one mask fits all three', async () => {
    for (const file of expectedFiles('cnn')) {
      const checkpoint = await openCheckpoint(file);
      try {
        for (const name of Object.keys(EXPECTED.cnn.masks)) {
          const t = checkpoint.tensors.find((x) => x.name === name);
          assert.ok(t, `${path.basename(file)} has ${name}`);
          assert.deepEqual(t.shape, EXPECTED.cnn.shapes[name], `${path.basename(file)} ${name}`);
          assert.deepEqual(t.layout, { outAxis: 0, inAxis: 1 }, `${path.basename(file)} ${name}`);
          assert.equal(t.role, name.startsWith('conv') ? 'conv' : 'linear');
        }
      } finally {
        await checkpoint.release?.();
      }
    }
  });

  for (const backend of BACKENDS) {
    it(`every file, tensor and method of expected.json: the ${backend} kernels' mask is numpy's, bit for bit`, async () => {
      const kernels = createKernels({ backend, root: REPO });
      let compared = 0;
      try {
        for (const key of EXPECTED_KEYS) {
          for (const file of expectedFiles(key)) {
            const checkpoint = await openCheckpoint(file);
            try {
              for (const [name, methods] of Object.entries(EXPECTED[key].masks)) {
                // The prune pair's fc1.weight is the effective weight, weight_orig × weight_mask.
                const tensor: TensorEntry | undefined = checkpoint.tensors.find((t) => t.name === name);
                assert.ok(tensor?.layout, `${path.basename(file)}: ${name} is a weight`);
                for (const [method, expected] of Object.entries(methods)) {
                  if (!isMethod(method)) continue;
                  assert.deepEqual(tensor.shape, expected.shape);
                  const mask = await kernelMask(kernels, tensor as WeightRef, method, expected);
                  assert.ok(
                    mask.every((v) => v === 0 || v === 1),
                    'a mask holds 0 and 1 only',
                  );
                  const problem = maskDifference(mask, maskBytes(expected));
                  assert.equal(problem, undefined, `${path.basename(file)} ${name} ${method}: ${problem}`);
                  compared++;
                }
              }
            } finally {
              await checkpoint.release?.();
            }
          }
        }
      } finally {
        await kernels.dispose();
      }
      // digits 3 × 6 − 1 (fc3 has no transposable), cnn 3 files × 4 × 3, fp16 3, bf16 3, pair 3, ties 2 × 3.
      assert.equal(compared, 17 + 36 + 3 + 3 + 3 + 6);
    });
  }

  it('the prune pair: its 2:4 mask on the effective weight ANDed with the old weight_mask is the new weight_mask', () => {
    const masks = EXPECTED.prune_pair.masks['fc1.weight'];
    const [nm, old, next] = [masks['nm:2:4'], masks.oldWeightMask, masks.newWeightMask].map(maskBytes);
    assert.deepEqual(
      next,
      nm.map((v, i) => v & old[i]),
    );
  });
});
