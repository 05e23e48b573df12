import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import type { CheckpointPlan } from '../../../src/core/analysis/checkpointPlan';
import { fixture, runCli } from '../../helpers/fixtures';

function plan(...args: string[]): CheckpointPlan {
  const run = runCli(['plan', ...args, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as CheckpointPlan;
}

const round6 = (x: number) => Number(x.toFixed(6));

describe('sparsity-lens plan', function () {
  this.timeout(60_000);

  for (const format of ['onnx', 'safetensors']) {
    it(`digits_mlp.${format} at 90 % ERK: densities 0.117002 / 0.070201 / 0.645851, k = 7 / 17 / 82`, () => {
      const p = plan(fixture(`digits_mlp.${format}`), '--sparsity', '0.9');
      assert.deepEqual(
        p.layers.map((l) => [l.name, round6(l.targetDensity), l.k, l.denseFanIn, l.constFanInNnz, l.dense]),
        [
          ['fc1.weight', 0.117002, 7, 64, 256 * 7, false],
          ['fc2.weight', 0.070201, 17, 256, 128 * 17, false],
          ['fc3.weight', 0.645851, 82, 128, 10 * 82, false],
        ],
      );
      assert.deepEqual([p.distribution, p.sparsity, p.density, p.power], ['erk', 0.9, 0.1, 1]);
      // int(50,432 × 0.1) is the budget; the constant fan-in masks hold 1,792 + 2,176 + 820.
      assert.deepEqual(p.total, { numel: 50432, targetNnz: 5043, constFanInNnz: 4788, actualNnz: 50432 });
      assert.deepEqual(p.layers[0].actual, { nnz: 16384, density: 1, fanIn: { min: 64, mean: 64, max: 64, constant: true } });
    });
  }

  it('--sparsity 0.9 and --density 0.1 give the same plan', () => {
    assert.deepEqual(plan(fixture('digits_mlp.onnx'), '--sparsity', '0.9'), plan(fixture('digits_mlp.onnx'), '--density', '0.1'));
  });

  it('beside a 2:4 checkpoint: half of each layer kept, fan-in constant at half the dense fan-in', () => {
    const p = plan(fixture('digits_mlp_24.safetensors'), '--sparsity', '0.5', '--distribution', 'uniform');
    assert.deepEqual(
      p.layers.map((l) => [l.k, l.actual.density, l.actual.fanIn.min, l.actual.fanIn.max, l.actual.fanIn.constant, round6(l.densityGap)]),
      [
        [32, 0.5, 32, 32, true, 0],
        [128, 0.5, 128, 128, true, 0],
        [64, 0.5, 64, 64, true, 0],
      ],
    );
  });

  it('uniform at 90 %: k = 1638 // 256, 3276 // 128, 127 // 10 (the reference floors 1280 × 0.09999999999999998)', () => {
    assert.deepEqual(
      plan(fixture('digits_mlp.onnx'), '--sparsity', '0.9', '--distribution', 'uniform').layers.map((l) => [l.targetNnz, l.k]),
      [
        [1638, 6],
        [3276, 25],
        [127, 12],
      ],
    );
  });

  it('--dense PATTERN and --dense-first keep layers dense and give their surplus to the others', () => {
    const first = plan(fixture('digits_mlp.onnx'), '--sparsity', '0.5', '--dense-first');
    assert.deepEqual(first, plan(fixture('digits_mlp.onnx'), '--sparsity', '0.5', '--dense', 'fc1.*'));
    // By hand (spec §1.2): fc1 dense; rhs = −floor(16384 · 0.5) + (32768 − 16384) + (1280 − 640) = 8832,
    // divisor = 384 + 138 = 522 (raw · N = Σ shape), ε = 8832 / 522; fc3's 0.1078125 · ε > 1 makes it dense too,
    // then ε = (−8192 + 16384 − 640) / 384 and fc2's density is 384 / 32768 · ε.
    const epsilon = (-8192 + 16384 - 640) / 384;
    assert.deepEqual(
      first.layers.map((l) => [l.dense, round6(l.targetDensity)]),
      [
        [true, 1],
        [false, round6(1 - (1 - (384 / 32768) * epsilon))],
        [true, 1],
      ],
    );
    const tooMany = runCli(['plan', fixture('digits_mlp.onnx'), '--sparsity', '0.9', '--dense-first']);
    assert.equal(tooMany.code, 2);
    assert.match(
      tooMany.stderr,
      /^error: the layers kept dense hold 16384 weights, more than the 5043 a density of 0\.1 allows: lower the sparsity or keep fewer layers dense\n$/,
    );
  });

  it('--format csv and markdown: one row per weight with k, the density now and the ablation candidates', () => {
    const csv = runCli(['plan', fixture('digits_mlp.onnx'), '--sparsity', '0.9', '--format', 'csv'])
      .stdout.trimEnd()
      .split('\n');
    const header = csv[0].split(',');
    const fc1 = Object.fromEntries(csv[1].split(',').map((v, i) => [header[i], v]));
    assert.deepEqual([csv.length, fc1.name, fc1.k, fc1.targetNnz, fc1.actualDensity], [4, 'fc1.weight', '7', '1916', '1']);
    assert.equal(fc1.ablationCandidates, '17 44 54 71 73 77 120 128 151 153 213 228 236 239 242');
    const md = runCli(['plan', fixture('digits_mlp.onnx'), '--sparsity', '0.9', '--format', 'markdown']).stdout;
    assert.match(md, /^\| fc1\.weight \| \[256, 64\] \| 11\.70% \| 7 of 64 \| 1792 \| 100\.00% \| 64 \(constant\) \| 15 \(k → 7\) \|$/m);
  });

  it('a checkpoint without weights says so instead of an empty table', () => {
    const run = runCli(['plan', fixture('numpy', 'mask.npy'), '--sparsity', '0.9']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'no linear or conv weights to plan: the checkpoint holds none (see `report` for its tensors)\n');
  });

  it('the table names each layer, its k of the dense fan-in and the totals', () => {
    const run = runCli(['plan', fixture('digits_mlp.onnx'), '--sparsity', '0.9']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^fc1\.weight +\[256, 64\] +11\.70% +7 of 64 +1792\/16384 /m);
    assert.match(run.stdout, /^ERK plan at sparsity 0\.9 \(density 0\.1\) over 3 weight layers$/m);
  });

  for (const [args, message] of [
    [[], /plan takes one of --sparsity S or --density D/],
    [['--sparsity', '0.9', '--density', '0.1'], /plan takes one of --sparsity S or --density D/],
    [['--sparsity', '1'], /--sparsity must be a decimal in \[0, 1\), not "1"/],
    [['--sparsity', '9e-1'], /--sparsity must be a decimal in \[0, 1\), not "9e-1"/],
    [['--density', '0'], /--density must be a decimal in \(0, 1\], not "0"/],
    [['--sparsity', '0.9', '--distribution', 'snip'], /--distribution must be erk, er or uniform, not "snip"/],
    [['--sparsity', '0.9', '--power=-1'], /--power must be a number ≥ 0, not "-1"/],
    [['--sparsity', '0.9', '--format', 'html'], /--format must be table, json, csv or markdown/],
  ] as const) {
    it(`refuses ${args.join(' ') || 'no density'} with one line and exit 2`, () => {
      const run = runCli(['plan', fixture('digits_mlp.onnx'), ...args]);
      assert.equal(run.code, 2);
      assert.match(run.stderr.split('\n')[0], message);
    });
  }

  describe('neuron-ablation candidates, as numpy computes them from |W| (scripts/fixtures/make_ablation_expected.py)', () => {
    const expected = JSON.parse(readFileSync(fixture('ablation', 'expected.json'), 'utf8')) as Record<
      string,
      Record<string, { threshold: number; candidates: number[]; dead: number[]; kAfterAblation: number }>
    >;
    for (const key of Object.keys(expected)) {
      const [model, gamma] = key.split('@');
      it(`${model} at 90 % ERK, γ_sal ${gamma}: threshold, candidates, dead rows and k after ablation; the last layer never`, () => {
        const p = plan(fixture(`${model}.safetensors`), '--sparsity', '0.9', '--gamma-sal', gamma);
        for (const [name, e] of Object.entries(expected[key])) {
          const a = p.layers.find((l) => l.name === name)!.ablation!;
          assert.deepEqual(
            [a.threshold, a.candidates, a.dead, a.kAfterAblation],
            [e.threshold, e.candidates, e.dead, e.kAfterAblation],
            name,
          );
          assert.equal(a.note, 'saliency from |W| only: no gradients in a checkpoint');
        }
        assert.equal(p.layers.find((l) => l.name === 'fc3.weight')!.ablation, undefined);
      });
    }

    it('where the ONNX graph shows the next layer: its input columns, weights and the multiply-accumulates saved', () => {
      const e = expected['digits_mlp@0.3'];
      const p = plan(fixture('digits_mlp.onnx'), '--sparsity', '0.9');
      // fc1 [256, 64] feeds fc2 [128, 256] through a ReLU, fc2 feeds fc3 [10, 128]: each ablated neuron
      // removes one input column of the next layer (its n_out weights) and, per sample, its own row's 64 or 256 MACs too.
      for (const [name, next, fanIn, nextRows] of [
        ['fc1.weight', 'fc2.weight', 64, 128],
        ['fc2.weight', 'fc3.weight', 256, 10],
      ] as const) {
        const a = p.layers.find((l) => l.name === name)!.ablation!;
        const n = e[name].candidates.length;
        assert.ok(n > 0, `${name} has candidates`);
        assert.deepEqual(a.nextLayer, { name: next, inputColumns: n, savedParameters: n * nextRows }, name);
        assert.equal(a.savedMacsPerSample, n * fanIn + n * nextRows, name);
      }
      // A safetensors file has no graph: no next layer is guessed.
      const flat = plan(fixture('digits_mlp.safetensors'), '--sparsity', '0.9');
      assert.equal(flat.layers[0].ablation!.nextLayer, undefined);
    });

    it('--no-ablation-layers leaves a layer out', () => {
      const p = plan(fixture('digits_mlp.onnx'), '--sparsity', '0.9', '--no-ablation-layers', 'fc1.*');
      assert.deepEqual(
        p.layers.map((l) => l.ablation !== undefined),
        [false, true, false],
      );
    });
  });
});
