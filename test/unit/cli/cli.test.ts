import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fixture, makeTempDir, runCli } from '../../helpers/fixtures';

const run = (...args: string[]) => runCli(args);

describe('CLI: sparsity-lens report', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());

  it('--json gives the documented schema with the reference figures', () => {
    const r = run('report', 'examples/digits_mlp_24.onnx', '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.file, 'examples/digits_mlp_24.onnx');
    assert.equal(report.format, 'onnx');
    assert.deepEqual(report.nm, { n: 2, m: 4 });
    const fc1 = report.layers.find((l: { name: string }) => l.name === 'fc1.weight');
    for (const key of ['name', 'shape', 'dtype', 'role', 'numel', 'nnz', 'sparsity', 'fanIn', 'nm']) assert.ok(key in fc1, key);
    assert.deepEqual(
      { ...fc1, fanIn: { ...fc1.fanIn } },
      {
        name: 'fc1.weight',
        nextLayer: 'fc2.weight',
        shape: [256, 64],
        dtype: 'float32',
        role: 'linear',
        numel: 16384,
        nnz: 8192,
        sparsity: 0.5,
        negativeZeros: 3961,
        fanIn: { dense: 64, min: 32, max: 32, mean: 32, constant: true, k: 32, zeroNeurons: 0 },
        nm: { groups: 4096, compliant: 4096, partial: 0, excess: 0 },
      },
    );
    const bias = report.layers.find((l: { name: string }) => l.name === 'fc1.bias');
    assert.equal(bias.fanIn, null);
    assert.equal(bias.nm, null);
    assert.deepEqual(report.weights, { numel: 50432, nnz: 25216, sparsity: 0.5 });
    assert.deepEqual(Object.keys(report.total), ['numel', 'nnz', 'sparsity']);
  });

  it('--nm 1:4 checks another pattern: a 2:4 model complies nowhere', () => {
    const r = run('report', fixture('digits_mlp_24.safetensors'), '--nm', '1:4', '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.nm, { n: 1, m: 4 });
    const fc1 = report.layers.find((l: { name: string }) => l.name === 'fc1.weight');
    // Every group of 4 in a one-shot 2:4 mask keeps exactly 2 non-zeros (fan-in is 32 of 64 everywhere):
    // each is one over 1:4.
    assert.deepEqual(fc1.nm, { groups: 4096, compliant: 0, partial: 0, excess: 4096 });
  });

  it('the default output is an aligned table with whole-model lines', () => {
    const r = run('report', fixture('digits_mlp_unstructured80.onnx'));
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('tensor'))!;
    const row = lines.find((l) => l.startsWith('fc2.weight'))!;
    assert.match(row, /linear\s+85\.51%\s+4748\/32768\s+0\/37\.09\/64 of 256\s+no \(23 dead\)\s+8044\/8192 \(98\.19%\)/);
    assert.equal(row.indexOf('linear'), header.indexOf('role'), 'columns line up');
    assert.ok(lines.includes('2:4 compliant groups: 12040 of 12608 (95.49%)'));
  });

  it('reads every format: the examples written by torch.save and numpy.savez, a TF.js model.json', () => {
    for (const [file, format, nnz] of [
      ['examples/digits_mlp_unstructured80.pt', 'pytorch', 10086],
      ['examples/pytorch_model.bin', 'pytorch', 50432],
      ['examples/digits_mlp.npz', 'numpy', 50432],
    ] as const) {
      const r = run('report', file, '--json');
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.format, format, file);
      assert.deepEqual(report.weights, { numel: 50432, nnz, sparsity: 1 - nnz / 50432 }, file);
    }
    const tfjs = run('report', fixture('tfjs', 'layers', 'model.json'), '--json');
    assert.equal(tfjs.code, 0, tfjs.stderr);
    assert.equal(JSON.parse(tfjs.stdout).format, 'tfjs');
  });

  it('a pickle that would run os.system is refused as unsafe: exit code 2', () => {
    const file = fixture('pytorch', 'hostile', 'os_system.pt');
    const r = run('report', file);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*(unsafe|os\\.system|code)`, 'i'));
  });

  it('bad input: exit code 2 and one line "error: FILE: what is wrong"', () => {
    const bad = path.join(tmp.dir, 'notes.onnx');
    writeFileSync(bad, 'these are my notes, not a model\n');
    const r = run('report', bad);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.startsWith(`error: ${bad}: `), r.stderr);
  });

  it('a missing file is bad input too', () => {
    const r = run('report', 'no/such/model.safetensors');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'error: no/such/model.safetensors: cannot open: ENOENT\n');
  });

  it('bad usage: exit code 2 with a hint', () => {
    assert.equal(run().code, 2);
    assert.equal(run('frobnicate', 'x').code, 2);
    const r = run('report', fixture('digits_mlp.onnx'), '--nm', '4:4');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--nm: "4:4" is not an N:M pattern/);
    assert.equal(run('--help').code, 0);
  });
});
