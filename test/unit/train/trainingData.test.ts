import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { DEFAULT_KEYS, loadTrainingData } from '../../../src/core/train/trainingData';
import { TrainingError } from '../../../src/core/train/trainingError';
import { SHARED_DATA } from '../../helpers/onnxAccuracy';

const DIGITS = path.join(SHARED_DATA, 'digits.npz');

describe('training data', () => {
  it('reads digits.npz: 1,437 training and 360 test samples of 64 floats with integer labels', async () => {
    const data = await loadTrainingData(DIGITS, DEFAULT_KEYS, new Set(), [64], 'input');
    assert.equal(data.train.count, 1437);
    assert.deepEqual(data.train.sampleShape, [64]);
    assert.equal(data.train.x.length, 1437 * 64);
    assert.equal(data.train.y!.length, 1437);
    assert.equal(data.test!.count, 360);
    assert.ok(data.train.y!.every((v) => v >= 0 && v <= 9));
    assert.ok(data.train.x.every((v) => v >= 0 && v <= 1));
  });

  it('names both shapes when the inputs do not fit the model', async () => {
    await assert.rejects(
      loadTrainingData(DIGITS, { ...DEFAULT_KEYS, x: 'x_train_img', testX: 'x_test_img' }, new Set(['x']), [64], 'input'),
      (e: Error) =>
        e instanceof TrainingError &&
        /"x_train_img" of digits\.npz holds samples of shape \[1, 8, 8\], but the model's input "input" takes \[64\]/.test(e.message),
    );
  });

  it('a key the user named and the file lacks is an error listing what the file holds; missing default labels mean distillation', async () => {
    await assert.rejects(
      loadTrainingData(DIGITS, { ...DEFAULT_KEYS, y: 'labels' }, new Set(['y']), [64], 'input'),
      /no array "labels" of digits\.npz \(it holds "x_train", /,
    );
    const unlabelled = await loadTrainingData(DIGITS, { ...DEFAULT_KEYS, y: 'labels' }, new Set(), [64], 'input');
    assert.equal(unlabelled.train.y, undefined);
  });

  it('labels must be integers', async () => {
    await assert.rejects(
      loadTrainingData(DIGITS, { ...DEFAULT_KEYS, y: 'x_test' }, new Set(['y']), [64], 'input'),
      /"x_test" of digits\.npz is float32; labels must be integer classes/,
    );
  });
});
