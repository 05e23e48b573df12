import { existsSync } from 'node:fs';
import * as nodePath from 'node:path';
import { numelOf, type Checkpoint, type TensorEntry } from '../checkpoint';
import { printable } from '../errors';
import { openCheckpoint } from '../formats/registry';
import { readValues } from '../tensorBytes';
import { TrainingError } from './trainingError';

/** Where the arrays are: keys of an .npz, or (with an .npy file as data) file paths; '' for none. */
export interface DataKeys {
  readonly x: string;
  readonly y: string;
  readonly testX: string;
  readonly testY: string;
}

export const DEFAULT_KEYS: DataKeys = { x: 'x_train', y: 'y_train', testX: 'x_test', testY: 'y_test' };

/** Samples, row-major [count, ...sampleShape] float32, with class labels when the file has them. */
export interface Samples {
  readonly x: Float32Array;
  readonly count: number;
  readonly sampleShape: readonly number[];
  /** Absent: no labels (the model is distilled from its own outputs). */
  readonly y?: Int32Array;
}

export interface TrainingData {
  readonly file: string;
  readonly keys: DataKeys;
  readonly train: Samples;
  /** Absent when the file holds no test set under the keys. */
  readonly test?: Samples;
}

const INTEGER_DTYPES = new Set(['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64']);

/** An array of a data file, by key (.npz) or by path (.npy data). */
interface ArraySource {
  readonly describe: (key: string) => string;
  find(key: string): Promise<TensorEntry | undefined>;
  keys(): string[];
  close(): Promise<void>;
}

async function npzSource(file: string): Promise<ArraySource> {
  const checkpoint = await openCheckpoint(file);
  const byName = new Map(checkpoint.tensors.map((t) => [t.name, t]));
  return {
    describe: (key) => `"${printable(key)}" of ${nodePath.basename(file)}`,
    find: async (key) => byName.get(key),
    keys: () => [...byName.keys()],
    close: async () => checkpoint.release?.(),
  };
}

/** `.npy` data: the data file is the training inputs; the other keys are .npy paths beside it (or absolute). */
async function npySource(file: string, keys: DataKeys): Promise<ArraySource> {
  const opened: Checkpoint[] = [];
  const folder = nodePath.dirname(file);
  return {
    describe: (key) => nodePath.basename(key),
    async find(key) {
      const path = key === keys.x ? file : nodePath.resolve(folder, key);
      if (key !== keys.x && !existsSync(path)) return undefined;
      const checkpoint = await openCheckpoint(path);
      opened.push(checkpoint);
      return checkpoint.tensors[0];
    },
    keys: () => [],
    async close() {
      for (const c of opened) await c.release?.();
    },
  };
}

/**
 * Reads training (and test) samples: inputs as float32 of the model's input shape, labels as
 * integer classes. Missing labels mean distillation; a missing test set means no test accuracy;
 * a key the user named and the file lacks is an error, as is any shape that does not fit.
 */
export async function loadTrainingData(
  file: string,
  keys: DataKeys,
  named: ReadonlySet<keyof DataKeys>,
  modelSampleDims: readonly (number | string)[] | undefined,
  modelInput: string,
): Promise<TrainingData> {
  const source = file.toLowerCase().endsWith('.npy') ? await npySource(file, keys) : await npzSource(file);
  try {
    const get = async (key: keyof DataKeys, required: boolean) => {
      // An empty key names no array: labels (distil) or a test set chosen to be left out.
      const t = keys[key] === '' ? undefined : await source.find(keys[key]);
      if (!t && (required || named.has(key))) {
        const known = source.keys();
        throw new TrainingError(
          `${file}: no array ${source.describe(keys[key])}${known.length ? ` (it holds ${known.map((k) => `"${printable(k)}"`).join(', ')})` : ''}`,
        );
      }
      return t;
    };
    const samples = async (xKey: keyof DataKeys, yKey: keyof DataKeys, x: TensorEntry, y: TensorEntry | undefined): Promise<Samples> => {
      if (x.shape.length < 1 || x.shape[0] === 0) throw new TrainingError(`${file}: ${source.describe(keys[xKey])} holds no samples`);
      if (INTEGER_DTYPES.has(x.dtype) === false && !x.dtype.startsWith('float') && x.dtype !== 'bfloat16')
        throw new TrainingError(`${file}: ${source.describe(keys[xKey])} is ${x.dtype}; inputs must be numbers`);
      const sampleShape = x.shape.slice(1);
      checkSampleShape(sampleShape, modelSampleDims, () => `${file}: ${source.describe(keys[xKey])}`, modelInput);
      const count = x.shape[0];
      const out: Samples = { x: Float32Array.from(await readValues(x)), count, sampleShape };
      if (!y) return out;
      if (!INTEGER_DTYPES.has(y.dtype))
        throw new TrainingError(`${file}: ${source.describe(keys[yKey])} is ${y.dtype}; labels must be integer classes`);
      if (numelOf(y.shape) !== count || y.shape.length !== 1)
        throw new TrainingError(
          `${file}: ${source.describe(keys[yKey])} has shape [${y.shape.join(', ')}]; the inputs need [${count}] labels`,
        );
      const labels = await readValues(y);
      const bad = labels.findIndex((v) => v < 0 || v > 0x7fffffff);
      if (bad >= 0)
        throw new TrainingError(`${file}: label ${labels[bad]} at ${bad} of ${source.describe(keys[yKey])} is not a class index`);
      return { ...out, y: Int32Array.from(labels) };
    };
    const x = (await get('x', true))!;
    const train = await samples('x', 'y', x, await get('y', false));
    const testX = await get('testX', false);
    const test = testX ? await samples('testX', 'testY', testX, await get('testY', false)) : undefined;
    return { file, keys, train, ...(test ? { test } : {}) };
  } finally {
    await source.close();
  }
}

function checkSampleShape(
  data: readonly number[],
  model: readonly (number | string)[] | undefined,
  what: () => string,
  modelInput: string,
): void {
  if (!model) return;
  const fits = data.length === model.length && model.every((d, i) => typeof d !== 'number' || d === data[i]);
  if (!fits)
    throw new TrainingError(
      `${what()} holds samples of shape [${data.join(', ')}], but the model's input "${printable(modelInput)}" takes [${model.join(', ')}] (dimensions after the batch)`,
    );
}
