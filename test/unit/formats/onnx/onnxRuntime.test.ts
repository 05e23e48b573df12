import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { digitsAccuracy, readDigitsTestSet, SHARED_DATA } from '../../../helpers/onnxAccuracy';

/**
 * The shared data folder's real checkpoints, run by onnxruntime-node on the digits test set: the
 * accuracies its README gives (computed there with PyTorch). Later tests compare pruned models
 * against these, so the harness itself is checked here first.
 */
describe('onnxruntime accuracy', function () {
  this.timeout(60_000);

  before(function () {
    // A checkout without the shared data folder (SPARSITY_LENS_SHARED_DATA, else ../shared/data) skips.
    if (!existsSync(path.join(SHARED_DATA, 'digits.npz'))) this.skip();
  });

  it('reads the digits test set with the project readers: 360 rows of 64 pixels, labels 0-9', async () => {
    const data = await readDigitsTestSet();
    assert.equal(data.count, 360);
    assert.equal(data.features, 64);
    assert.ok(data.y.every((label) => Number.isInteger(label) && label >= 0 && label <= 9));
    assert.deepEqual([...new Set(data.y)].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.ok(data.x.every((v) => v >= 0 && v <= 1));
  });

  it('digits_mlp.onnx: 348/360', async () => {
    assert.deepEqual(await digitsAccuracy(path.join(SHARED_DATA, 'digits_mlp.onnx')), { correct: 348, total: 360 });
  });

  it('digits_mlp_24.onnx (ASP 2:4, one shot): 340/360', async () => {
    assert.deepEqual(await digitsAccuracy(path.join(SHARED_DATA, 'digits_mlp_24.onnx')), { correct: 340, total: 360 });
  });
});
