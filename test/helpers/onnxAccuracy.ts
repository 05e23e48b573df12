import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { TensorEntry } from '../../src/core/checkpoint';
import { DTYPE_BITS } from '../../src/core/dtype';
import { openCheckpoint } from '../../src/core/formats/registry';
import { tensorChunks } from '../../src/core/tensorBytes';
import { REPO } from './fixtures';

/**
 * The shared data folder (real checkpoints and the digits dataset, written by PyTorch and numpy):
 * $SPARSITY_LENS_SHARED_DATA, else ../shared/data beside this checkout.
 */
export const SHARED_DATA = process.env.SPARSITY_LENS_SHARED_DATA ?? path.join(REPO, '..', 'shared', 'data');

/** The digits test split: x [n, 64] float32 pixels in [0, 1], y [n] labels. */
export interface DigitsTestSet {
  readonly x: Float32Array;
  readonly y: readonly number[];
  readonly count: number;
  readonly features: number;
}

/** A tensor's analysed bytes, whole (small tensors only), read with the project's own streaming reader. */
async function tensorBytes(tensor: TensorEntry): Promise<Uint8Array> {
  const numel = tensor.shape.reduce((a, d) => a * d, 1);
  const out = new Uint8Array((numel * DTYPE_BITS[tensor.dtype]) / 8);
  let at = 0;
  for await (const chunk of tensorChunks(tensor.source, tensor.dtype, numel)) {
    out.set(chunk.bytes, at);
    at += chunk.bytes.length;
  }
  if (at !== out.length) throw new Error(`${tensor.name}: read ${at} of ${out.length} bytes`);
  return out;
}

/** x_test / y_test of digits.npz, read with openCheckpoint (the project's .npz reader). */
export async function readDigitsTestSet(file = path.join(SHARED_DATA, 'digits.npz')): Promise<DigitsTestSet> {
  const checkpoint = await openCheckpoint(file);
  try {
    const find = (name: string) => {
      const t = checkpoint.tensors.find((e) => e.name === name || e.name === `${name}.npy`);
      if (!t) throw new Error(`${file} has no ${name} (tensors: ${checkpoint.tensors.map((e) => e.name).join(', ')})`);
      return t;
    };
    const xEntry = find('x_test');
    const yEntry = find('y_test');
    if (xEntry.dtype !== 'float32' || xEntry.shape.length !== 2) throw new Error(`x_test is ${xEntry.dtype} [${xEntry.shape.join(', ')}]`);
    if (yEntry.dtype !== 'int64' || yEntry.shape.length !== 1) throw new Error(`y_test is ${yEntry.dtype} [${yEntry.shape.join(', ')}]`);
    const [count, features] = xEntry.shape;
    if (yEntry.shape[0] !== count) throw new Error(`x_test has ${count} rows, y_test ${yEntry.shape[0]}`);
    const xBytes = await tensorBytes(xEntry);
    const yBytes = await tensorBytes(yEntry);
    const xView = new DataView(xBytes.buffer, xBytes.byteOffset, xBytes.byteLength);
    const x = new Float32Array(count * features);
    for (let i = 0; i < x.length; i++) x[i] = xView.getFloat32(4 * i, true);
    const yView = new DataView(yBytes.buffer, yBytes.byteOffset, yBytes.byteLength);
    const y = Array.from({ length: count }, (_, i) => Number(yView.getBigInt64(8 * i, true)));
    return { x, y, count, features };
  } finally {
    await checkpoint.release?.();
  }
}

/**
 * Test accuracy of an ONNX digits classifier ([batch, 64] in, [batch, 10] logits out), run by
 * onnxruntime-node on the CPU over the digits test set: the argmax of each row of logits (the
 * first maximum on ties) against y_test.
 */
export async function digitsAccuracy(modelPath: string): Promise<{ correct: number; total: number }> {
  const data = await readDigitsTestSet();
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
  try {
    const input = new ort.Tensor('float32', data.x, [data.count, data.features]);
    const outputs = await session.run({ [session.inputNames[0]]: input });
    const logits = outputs[session.outputNames[0]];
    if (logits.type !== 'float32' || logits.dims.length !== 2 || logits.dims[0] !== data.count)
      throw new Error(`${modelPath}: output ${logits.type} [${logits.dims.join(', ')}]`);
    const classes = logits.dims[1];
    const values = logits.data as Float32Array;
    let correct = 0;
    for (let i = 0; i < data.count; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (values[i * classes + c] > values[i * classes + best]) best = c;
      if (best === data.y[i]) correct++;
    }
    return { correct, total: data.count };
  } finally {
    await session.release();
  }
}

/** The first output of an ONNX model run by onnxruntime-node on the CPU, for inputs x of shape dims. */
export async function onnxOutput(modelPath: string, x: Float32Array, dims: readonly number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
  try {
    const outputs = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [...dims]) });
    return outputs[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** Correct argmax predictions (first maximum on ties) of logits [count, classes] against labels. */
export function correctOf(logits: Float32Array, labels: ArrayLike<number>): number {
  const classes = logits.length / labels.length;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    if (best === labels[i]) correct++;
  }
  return correct;
}
