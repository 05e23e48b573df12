// `srigl-step`: one SRigL mask update from checkpoint files (spec §3.3, §3.6, §4), the core on
// small files written here (the new-file creators, hand-built .npz, and fixtures), then the CLI.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { createNpz } from '../../../src/core/formats/numpy/create';
import type { NewTensor } from '../../../src/core/formats/shared/newTensors';
import { createTorchSave } from '../../../src/core/formats/pytorch/create';
import { createSafetensors } from '../../../src/core/formats/safetensors/create';
import { dropFraction } from '../../../src/core/train/sriglSchedule';
import {
  allowedNonZerosOfDecimal,
  dropFractionOf,
  sriglStep,
  SriglStepError,
  type SriglStepRequest,
  type SriglStepResult,
} from '../../../src/core/train/sriglStep';
import { sriglLayerUpdate } from '../../../src/core/train/sriglUpdate';
import { readValues } from '../../../src/core/tensorBytes';
import { fixture, makeTempDir, runCli } from '../../helpers/fixtures';
import { seededRandom } from '../../helpers/random';
import { npy, zipOf } from '../../helpers/writers';
import { rowsOf } from '../../helpers/maskRows';

// Spec §3.6: 4 neurons × 6 inputs, s = 0.5 (12 weights, k0 = 3), f = 0.3.
const W = [...[0.9, -0.8, 0.05, 0, 0, 0], ...[0, 0.7, 0, -0.02, 0, 0.6], ...[0.01, 0, -0.03, 0, 0.025, 0], ...[0, 0, 0, 0.5, -0.4, 0.3]];
const G = [
  ...[0.1, 0.2, 0.3, 0.9, 0.05, 0],
  ...[0.4, 0.1, 0.8, 0.2, 0.1, 0],
  ...[0.01, 0.02, 0, 0.04, 0.015, 0.03],
  ...[0.5, 0.05, 0.1, 0, 0.2, 0.6],
];

function float32(name: string, values: readonly number[], shape: readonly number[]): NewTensor {
  return { name, dtype: 'float32', shape, bytes: new Uint8Array(Float32Array.from(values).buffer) };
}

/** Every tensor of a checkpoint as [dtype, shape, values]. */
async function tensorsOf(file: string): Promise<Map<string, { dtype: string; shape: readonly number[]; values: number[] }>> {
  const checkpoint = await openCheckpoint(file);
  try {
    const out = new Map<string, { dtype: string; shape: readonly number[]; values: number[] }>();
    for (const t of checkpoint.tensors) out.set(t.name, { dtype: t.dtype, shape: t.shape, values: Array.from(await readValues(t)) });
    return out;
  } finally {
    await checkpoint.release?.();
  }
}

/** `n` values from `random`, all but the first `perRow` of every row of `cols` zero: a mask within any budget below. */
function sparseRows(random: () => number, n: number, cols: number, perRow: number): number[] {
  return Array.from({ length: n }, (_, i) => (i % cols < perRow ? random() + 0.1 : 0));
}

/** The folder's entries: no output and no staging folder may be left after a failure. */
function entriesOf(dir: string): string[] {
  return readdirSync(dir).sort();
}

describe('sriglStep: one SRigL update from checkpoint files', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof makeTempDir>;
  let weights: string;
  let grads: string;
  /** Gradients of fc.weight only. */
  let gradsW: string;
  /** A fresh output path in its own folder, so that what a failure leaves can be listed. */
  let outputs = 0;
  const outputIn = (name: string) => {
    const dir = path.join(tmp.dir, `out${++outputs}`);
    mkdirSync(dir);
    return path.join(dir, name);
  };
  const request = (over: Partial<SriglStepRequest>): SriglStepRequest => ({
    weights,
    grads,
    output: outputIn('out.npz'),
    force: false,
    sparsity: 0.5,
    drop: { fraction: 0.3 },
    ...over,
  });

  before(async () => {
    tmp = makeTempDir();
    weights = path.join(tmp.dir, 'weights.safetensors');
    grads = path.join(tmp.dir, 'grads.npz');
    await createSafetensors(weights, [float32('fc.weight', W, [4, 6]), float32('fc.bias', [1, 2, 3, 4], [4])]);
    await createNpz(grads, [float32('fc.weight', G, [4, 6]), float32('fc.bias', [0.1, 0.1, 0.1, 0.1], [4])]);
    gradsW = path.join(tmp.dir, 'grads_w.npz');
    await createNpz(gradsW, [float32('fc.weight', G, [4, 6])]);
  });
  after(() => tmp.remove());

  it('spec §3.6, γ = 0.3: safetensors weights + npz grads → OUT.npz with the expected weights and <name>.mask', async () => {
    const output = outputIn('step.npz');
    const result = await sriglStep(request({ output }));
    assert.deepEqual(result.written, [output]);
    assert.equal(result.dropFraction, 0.3);
    assert.deepEqual(result.plan, { sparsity: 0.5, distribution: 'erk' });
    assert.equal(result.layers.length, 1);
    const l = result.layers[0];
    assert.equal(l.name, 'fc.weight');
    assert.equal(l.sparsity, 0.5, 'one layer: ERK gives it S');
    assert.equal(l.allowedNonZeros, 12);
    assert.deepEqual([l.k, l.nKeep, l.nPrune, l.threshold, l.grown, l.dropped], [3, 9, 3, 1, 3, 3]);
    assert.deepEqual(l.ablated, []);
    assert.deepEqual([l.activeBefore, l.activeAfter, l.nonZerosBefore, l.nonZerosAfter], [12, 12, 12, 9]);
    assert.deepEqual(l.layout, { outAxis: 0, inAxis: 1, from: 'file' });
    assert.deepEqual(result.unchanged, [{ name: 'fc.bias', reason: 'a 1-D tensor has no fan-in (biases and norms are never sparsified)' }]);

    const out = await tensorsOf(output);
    assert.deepEqual([...out.keys()], ['fc.weight', 'fc.weight.mask'], 'OUT holds the updated layer and its mask only');
    const mask = out.get('fc.weight.mask')!;
    assert.equal(mask.dtype, 'uint8');
    assert.deepEqual(mask.shape, [4, 6]);
    assert.deepEqual(rowsOf(mask.values, 6), [
      [0, 1, 2],
      [1, 2, 5],
      [2, 3, 5],
      [3, 4, 5],
    ]);
    const w = out.get('fc.weight')!;
    assert.equal(w.dtype, 'float32');
    const expected = W.map((v) => Math.fround(v));
    for (const [r, c] of [
      [1, 2],
      [2, 3],
      [2, 5],
      [1, 3],
      [2, 0],
      [2, 4],
    ])
      expected[r * 6 + c] = 0; // grown at 0; dropped
    assert.deepEqual(w.values, expected);
  });

  it('spec §3.6, γ = 0.7: neuron 2 ablated, k = 4; uniform plans the single layer at S too; OUT.pt', async () => {
    const output = outputIn('step.pt');
    const result = await sriglStep(request({ output, gammaSal: 0.7, distribution: 'uniform' }));
    const l = result.layers[0];
    assert.equal(l.sparsity, 0.5);
    assert.deepEqual([l.k, l.threshold, l.gammaSal], [4, 2, 0.7]);
    assert.deepEqual(l.ablated, [2]);
    const out = await tensorsOf(output);
    assert.deepEqual(rowsOf(out.get('fc.weight.mask')!.values, 6), [[0, 1, 2, 3], [1, 2, 3, 5], [], [0, 3, 4, 5]]);
    const w = out.get('fc.weight')!.values;
    assert.ok(
      w.slice(12, 18).every((v) => v === 0),
      'the ablated row is all zero',
    );
    for (const [r, c] of [
      [0, 3],
      [1, 2],
      [3, 0],
    ])
      assert.equal(w[r * 6 + c], 0, `grown (${r}, ${c}) starts at 0`);
    assert.equal(w[1 * 6 + 3], Math.fround(-0.02), 'kept: with k = 4 row 1 keeps (1, 3)');
  });

  it('--no-ablation and --no-ablation-layers turn ablation off (γ = 0.7 then ablates nothing); OUT.safetensors carries provenance', async () => {
    const output = outputIn('step.safetensors');
    const off = await sriglStep(request({ output, gammaSal: null }));
    assert.equal(off.layers[0].gammaSal, null);
    assert.equal(off.layers[0].threshold, null);
    assert.deepEqual(rowsOf((await tensorsOf(output)).get('fc.weight.mask')!.values, 6)[2], [2, 3, 5]);
    const named = await sriglStep(request({ gammaSal: 0.7, noAblation: ['fc.*'] }));
    assert.deepEqual(named.layers[0].ablated, []);
    assert.equal(named.layers[0].gammaSal, null);
    const checkpoint = await openCheckpoint(output);
    assert.equal(checkpoint.metadata['sparsity_lens.input'], 'weights.safetensors');
    assert.match(checkpoint.metadata['sparsity_lens.srigl_step'], /"dropFraction":0.3/);
  });

  it('a MatMul weight stored [in, out] (ONNX) is updated on its [neurons, fan-in] view and written back [in, out]', async () => {
    const onnx = fixture('generated', 'matmul3d.onnx');
    const source = await tensorsOf(onnx);
    const { values: wIn, shape } = source.get('onnx::MatMul_6')!;
    assert.deepEqual(shape, [32, 24]);
    const random = seededRandom(7);
    const gIn = Array.from({ length: 32 * 24 }, () => random() - 0.5);
    const gradsFile = path.join(tmp.dir, 'matmul_grads.npz');
    await createNpz(gradsFile, [float32('onnx::MatMul_6', gIn, [32, 24])]);
    const output = outputIn('matmul.npz');
    // "proj" is the weight's display name; 192 of 768 weights: sparsity 0.75.
    const result = await sriglStep(
      request({ weights: onnx, grads: gradsFile, output, sparsity: undefined, layerSparsity: [{ pattern: 'proj', sparsity: 0.75 }] }),
    );
    const l = result.layers[0];
    assert.deepEqual(l.layout, { outAxis: 1, inAxis: 0, from: 'file' });
    assert.equal(l.displayName, 'proj');
    assert.equal(l.sparsityFrom, 'layer-sparsity');

    // The oracle: the update of the transposed matrix, by hand.
    const transpose = (v: ArrayLike<number>, rows: number, cols: number) =>
      Float32Array.from({ length: rows * cols }, (_, i) => v[(i % cols) * rows + Math.floor(i / cols)]);
    const wT = transpose(wIn, 24, 32);
    const expected = sriglLayerUpdate(
      {
        rows: 24,
        cols: 32,
        weights: wT,
        mask: Uint8Array.from(wT, (v) => (v !== 0 ? 1 : 0)),
        grads: transpose(gIn.map(Math.fround), 24, 32),
      },
      { sparsity: 0.75, dropFraction: 0.3, gammaSal: 0.3 },
    );
    assert.equal(l.k, expected.k);
    assert.deepEqual(l.ablated, expected.ablated);
    const out = await tensorsOf(output);
    assert.deepEqual(out.get('onnx::MatMul_6')!.shape, [32, 24], 'written in the stored layout');
    assert.deepEqual(transpose(out.get('onnx::MatMul_6')!.values, 24, 32), expected.weights);
    assert.deepEqual(Array.from(transpose(out.get('onnx::MatMul_6.mask')!.values, 24, 32)), Array.from(expected.mask));
    // Constant fan-in per output column of the stored [in, out] matrix.
    const mask = out.get('onnx::MatMul_6.mask')!.values;
    for (let o = 0; o < 24; o++) {
      let fanIn = 0;
      for (let i = 0; i < 32; i++) fanIn += mask[i * 24 + o];
      assert.ok(fanIn === expected.k || l.ablated.includes(o), `output ${o} holds k = ${expected.k} inputs`);
    }
  });

  it('--masks: an active weight that is exactly 0 stays active and counts; bool masks and <name>.mask tensors are read', async () => {
    // Row 0's third weight is 0 but active; many active zeros make n_keep fall to the non-zeros (spec §3.3 step 2).
    const w = [...W];
    w[2] = 0;
    const mask = W.map((v) => (v !== 0 ? 1 : 0));
    const weightsFile = path.join(tmp.dir, 'zero_active.safetensors');
    await createSafetensors(weightsFile, [float32('fc.weight', w, [4, 6])]);
    const maskFile = path.join(tmp.dir, 'masks_bool.npz');
    const header = "{'descr': '|b1', 'fortran_order': False, 'shape': (4, 6), }";
    writeFileSync(maskFile, zipOf([{ name: 'fc.weight.npy', data: npy(header, Uint8Array.from(mask)) }]));
    const output = outputIn('masked.npz');
    const result = await sriglStep(request({ weights: weightsFile, grads: gradsW, masks: maskFile, output }));
    const l = result.layers[0];
    assert.equal(result.masks, maskFile);
    assert.deepEqual([l.activeBefore, l.nonZerosBefore], [12, 11]);
    const expected = sriglLayerUpdate(
      { rows: 4, cols: 6, weights: Float32Array.from(w), mask: Uint8Array.from(mask), grads: Float32Array.from(G) },
      { sparsity: 0.5, dropFraction: 0.3, gammaSal: 0.3 },
    );
    assert.deepEqual(
      [l.nKeep, l.nPrune, l.k, l.grown, l.dropped],
      [expected.nKeep, expected.nPrune, expected.k, expected.grown, expected.dropped],
    );
    assert.deepEqual((await tensorsOf(output)).get('fc.weight.mask')!.values, Array.from(expected.mask));

    // Without --masks the zero is inactive: 11 active weights.
    const byValue = await sriglStep(request({ weights: weightsFile, grads: gradsW }));
    assert.equal(byValue.layers[0].activeBefore, 11);

    // An output of srigl-step is the next step's weights and masks (<name>.mask preferred over <name>).
    const next = await sriglStep(
      request({ weights: output, grads: gradsW, masks: output, output: outputIn('next.pt'), drop: { fraction: 0.2 } }),
    );
    assert.equal(next.layers[0].activeBefore, 12);
    assert.equal(next.layers[0].nonZerosBefore, expected.weights.filter((v) => v !== 0).length, 'grown weights start at 0');
  });

  it('--layer-sparsity wins over the plan for the layers it names; other layers are planned; S is taken as the decimal written', async () => {
    const weightsFile = path.join(tmp.dir, 'two.safetensors');
    const gradsFile = path.join(tmp.dir, 'two_grads.npz');
    const random = seededRandom(3);
    const values = (n: number) => Array.from({ length: n }, () => random() - 0.5);
    // 2 active weights per row of a, 1 per row of b: within every budget asked for below.
    await createSafetensors(weightsFile, [
      float32('a.weight', sparseRows(random, 40, 10, 2), [4, 10]),
      float32('b.weight', sparseRows(random, 30, 10, 1), [3, 10]),
    ]);
    await createNpz(gradsFile, [float32('a.weight', values(40), [4, 10]), float32('b.weight', values(30), [3, 10])]);
    const both = await sriglStep(
      request({ weights: weightsFile, grads: gradsFile, layerSparsity: [{ pattern: 'b.weight', sparsity: 0.9 }] }),
    );
    const [a, b] = both.layers;
    assert.equal(a.sparsityFrom, 'plan');
    assert.equal(b.sparsityFrom, 'layer-sparsity');
    assert.equal(b.sparsity, 0.9);
    assert.equal(b.allowedNonZeros, 3, 'int(30 · 0.1) = 3, not int(30 · (1 − 0.9)) = 2 in binary floating point');
    assert.equal(b.k, 1);
    assert.equal(b.activeAfter, 3);
    assert.equal(a.activeAfter, a.k * (4 - a.ablated.length));

    // Only --layer-sparsity: the other layer has no sparsity and is left unchanged, listed.
    const one = await sriglStep(
      request({ weights: weightsFile, grads: gradsFile, sparsity: undefined, layerSparsity: [{ pattern: 'a.*', sparsity: 0.5 }] }),
    );
    assert.deepEqual(
      one.layers.map((l) => l.name),
      ['a.weight'],
    );
    assert.match(one.unchanged.find((u) => u.name === 'b.weight')!.reason, /no sparsity for it/);
    // Sparsity 0: dense, unchanged.
    const dense = await sriglStep(
      request({ weights: weightsFile, grads: gradsFile, layerSparsity: [{ pattern: 'a.weight', sparsity: 0 }] }),
    );
    assert.deepEqual(
      dense.layers.map((l) => l.name),
      ['b.weight'],
    );
    assert.match(dense.unchanged.find((u) => u.name === 'a.weight')!.reason, /leaves it dense/);
    // A pattern that matches no layer is a typo.
    const dir = outputIn('typo.npz');
    await assert.rejects(
      sriglStep(request({ weights: weightsFile, grads: gradsFile, output: dir, layerSparsity: [{ pattern: 'c.weight', sparsity: 0.5 }] })),
      (e: unknown) =>
        e instanceof SriglStepError &&
        /--layer-sparsity c\.weight matches no layer with a gradient .*: a\.weight, b\.weight$/.test(e.message),
    );
    assert.deepEqual(entriesOf(path.dirname(dir)), []);
    assert.equal(allowedNonZerosOfDecimal(10, 0.3), 7);
    assert.equal(allowedNonZerosOfDecimal(10, 0.7), 3);
    assert.equal(allowedNonZerosOfDecimal(1000, 1e-7), 999);
  });

  it("layers without a layout but with a gradient take PyTorch's convention; conv kernels update over (in, kh, kw)", async () => {
    const random = seededRandom(11);
    const values = (n: number) => Array.from({ length: n }, () => random() - 0.5);
    const weightsFile = path.join(tmp.dir, 'conv.pt');
    const gradsFile = path.join(tmp.dir, 'conv_grads.pt');
    // "proj" has no *weight name: role other, no layout; "conv.weight" is a conv [out, in, kh, kw].
    await createTorchSave(weightsFile, [
      float32('proj', sparseRows(random, 24, 8, 2), [3, 8]),
      float32('conv.weight', sparseRows(random, 72, 18, 3), [4, 2, 3, 3]),
    ]);
    await createTorchSave(gradsFile, [float32('proj', values(24), [3, 8]), float32('conv.weight', values(72), [4, 2, 3, 3])]);
    const result = await sriglStep(request({ weights: weightsFile, grads: gradsFile, gammaSal: null }));
    const byName = new Map(result.layers.map((l) => [l.name, l]));
    assert.deepEqual(byName.get('proj')!.layout, { outAxis: 0, inAxis: 1, from: 'convention' });
    const conv = byName.get('conv.weight')!;
    assert.deepEqual(conv.layout, { outAxis: 0, inAxis: 1, from: 'file' });
    const out = await tensorsOf(result.written[0]);
    const mask = out.get('conv.weight.mask')!.values;
    assert.deepEqual(
      rowsOf(mask, 18).map((r) => r.length),
      [conv.k, conv.k, conv.k, conv.k],
      'every filter holds k of its 18 weights',
    );
  });

  it('a torch.save OUT whose names all start with "module." verifies (the reader strips the DDP prefix on reading)', async () => {
    const weightsFile = path.join(tmp.dir, 'ddp.safetensors');
    const gradsFile = path.join(tmp.dir, 'ddp_grads.npz');
    await createSafetensors(weightsFile, [float32('module.fc.weight', W, [4, 6])]);
    await createNpz(gradsFile, [float32('module.fc.weight', G, [4, 6])]);
    const output = outputIn('ddp.pt');
    const result = await sriglStep(request({ weights: weightsFile, grads: gradsFile, output }));
    assert.equal(result.layers[0].name, 'module.fc.weight');
    const checkpoint = await openCheckpoint(output);
    assert.equal(checkpoint.metadata['prefix stripped'], 'module.');
    assert.deepEqual(
      checkpoint.tensors.map((t) => t.name),
      ['fc.weight', 'fc.weight.mask'],
    );
  });

  it('--step T --t-end T_END: f = α/2 · (1 + cos(π T / T_END)); T ≥ T_END is refused', async () => {
    const f = dropFractionOf({ step: 250, tEnd: 1000, alpha: 0.3 });
    assert.equal(f, dropFraction({ totalSteps: 1000, tEndFraction: 1, alpha: 0.3, deltaT: 1 }, 250));
    assert.ok(Math.abs(f - 0.15 * (1 + Math.cos(Math.PI / 4))) < 1e-15);
    assert.equal(dropFractionOf({ step: 0, tEnd: 10 }), 0.3, 'α defaults to 0.3');
    const result = await sriglStep(request({ drop: { step: 800, tEnd: 192000 } }));
    assert.ok(Math.abs(result.dropFraction - 0.299987) < 1e-6, 'spec §3.2: f(800) = 0.299987');
    assert.throws(
      () => dropFractionOf({ step: 1000, tEnd: 1000 }),
      (e: unknown) => e instanceof SriglStepError && /stops there/.test(e.message),
    );
    assert.throws(() => dropFractionOf({ fraction: 1.5 }), SriglStepError);
  });

  describe('errors a user can cause name the tensor and the file, and leave nothing behind', () => {
    async function refused(over: Partial<SriglStepRequest>, pattern: RegExp): Promise<void> {
      const output = over.output ?? outputIn('refused.npz');
      const before = existsSync(output) ? entriesOf(path.dirname(output)) : [];
      await assert.rejects(sriglStep(request({ ...over, output })), (e: unknown) => {
        assert.ok(e instanceof SriglStepError, `a SriglStepError, not ${String(e)}`);
        assert.match(e.message, pattern);
        assert.doesNotMatch(e.message, /\n/, 'one line');
        return true;
      });
      assert.deepEqual(entriesOf(path.dirname(output)), before, 'no output and no staging folder left');
    }

    it('a gradient whose shape differs from its weight', async () => {
      const bad = path.join(tmp.dir, 'bad_shape.npz');
      await createNpz(bad, [float32('fc.weight', G, [6, 4])]);
      await refused(
        { grads: bad },
        /bad_shape\.npz: the gradient "fc\.weight" has shape \[6, 4\], but the weight in .*weights\.safetensors has \[4, 6\]/,
      );
    });

    it('a mask with values other than 0 and 1', async () => {
      const bad = path.join(tmp.dir, 'bad_mask.npz');
      await createNpz(bad, [
        float32(
          'fc.weight.mask',
          W.map((v, i) => (i === 7 ? 2 : v !== 0 ? 1 : 0)),
          [4, 6],
        ),
      ]);
      await refused({ masks: bad }, /bad_mask\.npz: the mask "fc\.weight\.mask" holds 2 at \[1, 1\]; masks hold 0 or 1/);
    });

    it('a mask missing for an updated layer', async () => {
      const bad = path.join(tmp.dir, 'other_mask.npz');
      await createNpz(bad, [float32('other.mask', [1], [1])]);
      await refused({ masks: bad }, /other_mask\.npz holds no mask for "fc\.weight" \(looked for "fc\.weight\.mask" and "fc\.weight"\)/);
    });

    it('a gradient for a tensor WEIGHTS does not hold', async () => {
      const bad = path.join(tmp.dir, 'extra_grads.npz');
      await createNpz(bad, [float32('fc.weight', G, [4, 6]), float32('fc2.weight', [1, 2], [1, 2])]);
      await refused(
        { grads: bad },
        /extra_grads\.npz holds a gradient "fc2\.weight" for a tensor that .*weights\.safetensors does not hold/,
      );
    });

    it('a non-finite gradient, named with its position', async () => {
      const bad = path.join(tmp.dir, 'nan_grads.npz');
      await createNpz(bad, [
        float32(
          'fc.weight',
          G.map((v, i) => (i === 9 ? NaN : v)),
          [4, 6],
        ),
      ]);
      await refused({ grads: bad }, /nan_grads\.npz: the gradient "fc\.weight" is NaN at \[1, 3\]; gradients must be finite/);
    });

    it('a layer denser than its sparsity allows: an update moves a mask, it does not prune to one', async () => {
      const dense = path.join(tmp.dir, 'dense.safetensors');
      await createSafetensors(dense, [
        float32(
          'fc.weight',
          W.map((v, i) => v || (i + 1) / 100),
          [4, 6],
        ),
      ]);
      await refused(
        { weights: dense, grads: gradsW },
        /dense\.safetensors: "fc\.weight" has 24 active weights, more than the 12 its sparsity 0\.5 allows: .*prune to it first/,
      );
    });

    it('no sparsity, and a sparsity leaving no weight per neuron', async () => {
      await refused({ sparsity: undefined }, /needs the layers’ sparsity/);
      await refused(
        { sparsity: undefined, layerSparsity: [{ pattern: 'fc.weight', sparsity: 0.9 }] },
        /layer "fc\.weight" \[4, 6\] at sparsity 0\.9: its fan-in would be 0 \(2 weights for 4 neurons\): lower the sparsity or widen the layer/,
      );
    });

    it('an existing output without --force (replaced with it); an output that is an input', async () => {
      const output = outputIn('exists.npz');
      writeFileSync(output, 'old');
      await refused({ output }, /exists\.npz exists; pass --force to replace it/);
      const result = await sriglStep(request({ output, force: true }));
      assert.equal((await tensorsOf(output)).size, 2, 'replaced with --force');
      assert.equal(result.layers.length, 1);
      await assert.rejects(
        sriglStep(request({ output: grads, force: true })),
        /grads\.npz is a file of the input: write the output elsewhere/,
      );
    });

    it('an output format srigl-step does not write', async () => {
      await refused(
        { output: outputIn('out.onnx') },
        /srigl-step.s output: \.safetensors, \.npz, \.pt files can be written; out\.onnx has the extension \.onnx/,
      );
    });
  });
});

describe('srigl-step CLI', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof makeTempDir>;
  let weights: string;
  let grads: string;
  before(async () => {
    tmp = makeTempDir();
    weights = path.join(tmp.dir, 'weights.safetensors');
    grads = path.join(tmp.dir, 'grads.npz');
    await createSafetensors(weights, [float32('fc.weight', W, [4, 6]), float32('fc.bias', [1, 2, 3, 4], [4])]);
    await createNpz(grads, [float32('fc.weight', G, [4, 6])]);
  });
  after(() => tmp.remove());

  it('--json prints the result with its keys; the table names each layer and the written file', () => {
    const output = path.join(tmp.dir, 'out.npz');
    const r = runCli([
      'srigl-step',
      weights,
      '--grads',
      grads,
      '-o',
      output,
      '--sparsity',
      '0.5',
      '--step',
      '0',
      '--t-end',
      '100',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as SriglStepResult;
    assert.deepEqual(Object.keys(result), ['input', 'grads', 'masks', 'output', 'written', 'dropFraction', 'plan', 'layers', 'unchanged']);
    for (const key of [
      'name',
      'shape',
      'sparsity',
      'k',
      'nKeep',
      'nPrune',
      'ablated',
      'threshold',
      'grown',
      'dropped',
      'nonZerosBefore',
      'nonZerosAfter',
    ])
      assert.ok(key in result.layers[0], `layers[0].${key}`);
    assert.equal(result.dropFraction, 0.3);
    assert.deepEqual(result.layers[0].ablated, []);
    assert.equal(result.masks, null);
    assert.ok(existsSync(output));

    const table = runCli([
      'srigl-step',
      weights,
      '--grads',
      grads,
      '-o',
      path.join(tmp.dir, 'out.pt'),
      '--layer-sparsity',
      'fc.weight=0.5',
      '--drop-fraction',
      '0.3',
      '--gamma-sal',
      '0.7',
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /fc\.weight +\[4, 6\] +0\.5000 \(given\) +4 of 6 .* 1 \(threshold 2\)/);
    assert.match(table.stdout, /^wrote .*out\.pt \(.*\): the new weights of 1 layer \(float32\) and their masks/m);
  });

  it('bad input: exit 2 (the CLI\'s code for bad input) with one line "error: …", and no file', () => {
    const output = path.join(tmp.dir, 'bad.npz');
    const cases: [string[], RegExp][] = [
      [['--sparsity', '0.5', '--drop-fraction', '0.3'], /needs the dense gradients: --grads/],
      [['--grads', grads, '--sparsity', '0.5'], /needs the drop fraction/],
      [['--grads', grads, '--sparsity', '1.5', '--drop-fraction', '0.3'], /--sparsity must be a decimal in \[0, 1\)/],
      [['--grads', grads, '--sparsity', '0.5', '--step', '100', '--t-end', '100'], /SRigL updates masks only while t < T_end/],
      [['--grads', grads, '--sparsity', '0.5', '--drop-fraction', '0.3', '--step', '1', '--t-end', '9'], /not both/],
      [['--grads', grads, '--layer-sparsity', 'fc.weight', '--drop-fraction', '0.3'], /--layer-sparsity takes NAME=S/],
      [
        ['--grads', grads, '--sparsity', '0.5', '--drop-fraction', '0.3', '--gamma-sal', '0.3', '--no-ablation'],
        /--gamma-sal G or --no-ablation, not both/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const r = runCli(['srigl-step', weights, '-o', output, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^error: [^\n]+\n$/, `one line: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.equal(existsSync(output), false);
    }
    const onnx = runCli([
      'srigl-step',
      weights,
      '--grads',
      grads,
      '-o',
      path.join(tmp.dir, 'out.onnx'),
      '--sparsity',
      '0.5',
      '--drop-fraction',
      '0.3',
    ]);
    assert.equal(onnx.code, 2);
    assert.match(
      onnx.stderr,
      /^error: srigl-step.s output: \.safetensors, \.npz, \.pt files can be written; out\.onnx has the extension \.onnx\n$/,
    );
    const missing = runCli([
      'srigl-step',
      path.join(tmp.dir, 'nope.safetensors'),
      '--grads',
      grads,
      '-o',
      output,
      '--sparsity',
      '0.5',
      '--drop-fraction',
      '0.3',
    ]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /^error: .*nope\.safetensors: /);
  });

  it('--help lists srigl-step', () => {
    const r = runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /srigl-step WEIGHTS --grads GRADS/);
  });
});
