import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { readOnnxGraph } from '../../../src/core/formats/onnx/graph';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { withFile } from '../../../src/core/randomAccessFile';
import { buildTrainingProgram, type ProgramOptions } from '../../../src/core/train/trainingProgram';
import { TrainingError } from '../../../src/core/train/trainingError';
import { FIXTURES, makeTempDir } from '../../helpers/fixtures';
import { SHARED_DATA } from '../../helpers/onnxAccuracy';
import { lenField, onnxInlineTensor, onnxNode, ONNX_DTYPE, varintField } from '../../helpers/protobuf';

const TRAIN = path.join(FIXTURES, 'train');

async function build(file: string, options?: ProgramOptions) {
  const graph = await withFile(file, readOnnxGraph);
  return buildTrainingProgram(graph, await openCheckpoint(file), options);
}

/** A graph input or output [batch, ...dims] of floats. */
function valueInfo(name: string, dims: readonly (number | string)[]): Buffer {
  const dim = (d: number | string) => lenField(1, typeof d === 'number' ? varintField(1, d) : lenField(2, d));
  const shape = lenField(2, Buffer.concat(dims.map(dim)));
  return Buffer.concat([lenField(1, name), lenField(2, lenField(1, Buffer.concat([varintField(1, 1), shape])))]);
}

/** A model with graph inputs and outputs (onnxModel in the protobuf helper has none). */
function model(nodes: Buffer[], initializers: Buffer[], inputs: Buffer[], outputs: Buffer[]): Buffer {
  const graph = Buffer.concat([
    ...nodes.map((n) => lenField(1, n)),
    lenField(2, 'g'),
    ...initializers.map((t) => lenField(5, t)),
    ...inputs.map((i) => lenField(11, i)),
    ...outputs.map((o) => lenField(12, o)),
  ]);
  return Buffer.concat([varintField(1, 8), lenField(7, graph), lenField(8, Buffer.concat([lenField(1, ''), varintField(2, 13)]))]);
}

const floats = (values: readonly number[]) => new Uint8Array(Float32Array.from(values).buffer);

describe('training program of an ONNX graph', () => {
  it('digits MLP (torch.onnx.export): the three Gemm weights and biases train; nothing is frozen', async () => {
    const built = await build(path.join(SHARED_DATA, 'digits_mlp.onnx'));
    assert.deepEqual(
      built.trainable.map((t) => t.name),
      ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias'],
    );
    assert.deepEqual(built.frozen, []);
    assert.deepEqual(
      built.program.nodes.map((n) => n.op),
      ['Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm'],
    );
    assert.equal(built.outputKind, 'logits');
    assert.deepEqual(built.program.sampleShape, [64]);
    assert.equal(built.inputName, 'input');
    const fc1 = built.program.params.find((p) => p.name === 'fc1.weight')!;
    assert.deepEqual(fc1.shape, [256, 64]);
    assert.equal(fc1.data.length, 256 * 64);
  });

  it('ops mix: the final LogSoftmax is left out, Reshape gets its constant shape, BatchNormalization statistics and a Mul scale stay frozen', async () => {
    const built = await build(path.join(TRAIN, 'ops_mix.onnx'));
    assert.equal(built.outputKind, 'logSoftmax');
    assert.ok(!built.program.nodes.some((n) => n.op === 'LogSoftmax'));
    const reshape = built.program.nodes.find((n) => n.op === 'Reshape')!;
    assert.deepEqual(reshape.intLists?.shape, [-1, 4, 16]);
    assert.equal(reshape.inputs.length, 1);
    const frozen = new Map(built.frozen.map((f) => [f.name, f.reason]));
    assert.deepEqual([...frozen.keys()].sort(), ['bn_c.running_mean', 'bn_c.running_var', 'group_scale']);
    assert.ok(
      built.trainable.some((t) => t.name === 'b_in'),
      'the Add after MatMul is its bias',
    );
    assert.ok(built.notes.some((n) => /BatchNormalization uses the frozen running statistics/.test(n)));
  });

  it('--freeze keeps matching initializers as they are, with the reason', async () => {
    const built = await build(path.join(SHARED_DATA, 'digits_mlp.onnx'), { freeze: (n) => n.startsWith('fc1.') });
    assert.deepEqual(
      built.frozen.map((f) => [f.name, f.reason]),
      [
        ['fc1.weight', 'frozen by --freeze'],
        ['fc1.bias', 'frozen by --freeze'],
      ],
    );
    assert.equal(built.program.params.find((p) => p.name === 'fc1.weight')!.trainable, false);
  });

  it('masks go with their weights; a mask on a tensor that is not a trained weight is refused', async () => {
    const mask = new Uint8Array(256 * 64).fill(1);
    const built = await build(path.join(SHARED_DATA, 'digits_mlp.onnx'), { masks: new Map([['fc1.weight', mask]]) });
    assert.equal(built.program.params.find((p) => p.name === 'fc1.weight')!.mask, mask);
    assert.equal(built.trainable.find((t) => t.name === 'fc1.weight')!.masked, true);
    await assert.rejects(
      build(path.join(SHARED_DATA, 'digits_mlp.onnx'), { masks: new Map([['nothing', mask]]) }),
      /"nothing" has a mask but is not a trained linear or conv weight/,
    );
  });

  it('an unsupported op is named with its node before anything runs', async () => {
    const tmp = makeTempDir();
    try {
      const node = Buffer.concat([onnxNode('Gemm', ['x', 'w'], ['h']), lenField(3, '/fc/Gemm')]);
      const topk = Buffer.concat([onnxNode('Hardmax', ['h'], ['y']), lenField(3, '/head/Hardmax')]);
      const file = tmp.write(
        'unsupported.onnx',
        model(
          [node, topk],
          [onnxInlineTensor('w', ONNX_DTYPE.float, [2, 3], floats([1, 2, 3, 4, 5, 6]))],
          [valueInfo('x', ['batch', 2])],
          [valueInfo('y', ['batch', 3])],
        ),
      );
      await assert.rejects(build(file), (e: Error) => {
        assert.ok(e instanceof TrainingError);
        assert.match(e.message, /Hardmax node "\/head\/Hardmax" is not supported by training; supported: Gemm, MatMul, Conv/);
        assert.ok(e.message.startsWith(file));
        return true;
      });
    } finally {
      tmp.remove();
    }
  });

  it('a Reshape whose shape the graph computes (Shape → Reshape) is refused, naming the Shape node', async () => {
    const tmp = makeTempDir();
    try {
      const nodes = [
        Buffer.concat([onnxNode('Shape', ['x'], ['s']), lenField(3, '/r/Shape')]),
        Buffer.concat([onnxNode('Reshape', ['x', 's'], ['y']), lenField(3, '/r/Reshape')]),
      ];
      const file = tmp.write('reshape.onnx', model(nodes, [], [valueInfo('x', ['batch', 2])], [valueInfo('y', ['batch', 2])]));
      await assert.rejects(build(file), /Shape node "\/r\/Shape" is not supported by training/);
    } finally {
      tmp.remove();
    }
  });

  it('a graph with two data inputs is refused', async () => {
    const tmp = makeTempDir();
    try {
      const inputs = [valueInfo('a', ['batch', 2]), valueInfo('b', ['batch', 2])];
      const file = tmp.write('two.onnx', model([onnxNode('Add', ['a', 'b'], ['y'])], [], inputs, [valueInfo('y', ['batch', 2])]));
      await assert.rejects(build(file), /one data input; this one has 2 \(a, b\)/);
    } finally {
      tmp.remove();
    }
  });
});
