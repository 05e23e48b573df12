import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { DerivedBytesBudget } from '../../../../src/core/derivedBytes';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { readTfjsModel } from '../../../../src/core/formats/tfjs/reader';
import { expectCheckpointError } from '../../../helpers/errors';
import { makeTempDir, reportOf } from '../../../helpers/fixtures';

/**
 * Hostile or unusual TF.js model.json files written by the test: a weight file listed many
 * times, thousands of shards, quantized weights past the copy budget, layer classes whose
 * rank-3 kernels are not convolutions.
 */
interface Weight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: Record<string, unknown>;
}

describe('TF.js hostile input: weight files listed twice, many shards, the copy budget, kernel roles', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let count = 0;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());

  /** A folder with model.json and the given weight files. */
  function folder(json: Record<string, unknown>, files: Record<string, Buffer> = {}): string {
    const dir = path.join(tmp.dir, `t${count++}`);
    mkdirSync(dir);
    for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(dir, name), bytes);
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    return path.join(dir, 'model.json');
  }
  const manifest = (paths: string[], weights: Weight[], modelTopology: unknown = {}) => ({
    format: 'layers-model',
    modelTopology,
    weightsManifest: [{ paths, weights }],
  });
  const floats = (values: number[]) => Buffer.from(new Float32Array(values).buffer);

  it('a weight file listed twice is refused, by name or through another path to the same file', async () => {
    const w = [{ name: 'w', shape: [2], dtype: 'float32' }];
    await expectCheckpointError(
      folder(manifest(['a.bin', 'a.bin'], w), { 'a.bin': floats([1, 2]) }),
      'corrupt',
      /weightsManifest lists weight file "a.bin" twice/,
    );
    const file = folder(manifest(['a.bin', 'link.bin'], w), { 'a.bin': floats([1, 2]) });
    symlinkSync(path.join(path.dirname(file), 'a.bin'), path.join(path.dirname(file), 'link.bin'));
    await expectCheckpointError(file, 'corrupt', /weight file "link.bin", the same file as "a.bin"/);
    // Also across groups.
    const twoGroups = {
      weightsManifest: [
        { paths: ['a.bin'], weights: w },
        { paths: ['./a.bin'], weights: [{ name: 'v', shape: [2], dtype: 'float32' }] },
      ],
    };
    await expectCheckpointError(
      folder(twoGroups, { 'a.bin': floats([1, 2]) }),
      'corrupt',
      /weight file ".\/a.bin", the same file as "a.bin"/,
    );
  });

  it('more weight files than any model has is refused before any is opened', async () => {
    const paths = Array.from({ length: 100_001 }, (_, i) => `missing-${i}.bin`);
    await expectCheckpointError(folder(manifest(paths, [])), 'unsupported', /lists 100001 weight files, more than the 100000 read/);
  });

  it('2000 shards, empty ones among them, weights within and across shards', async () => {
    // Shard i holds 0, 1 or 2 floats; the weights are 3000 one-element floats = 1, 2, 3, …,
    // and one 4-element weight crossing shard boundaries at the end.
    const files: Record<string, Buffer> = {};
    const all: number[] = [];
    const paths: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const k = i % 3 === 1 ? 0 : i % 3 === 0 ? 1 : 2;
      const values: number[] = [];
      for (let j = 0; j < k; j++) values.push(all.length + values.length + 1);
      all.push(...values);
      files[`s${i}.bin`] = floats(values);
      paths.push(`s${i}.bin`);
    }
    const singles = all.length - 4;
    const weights: Weight[] = Array.from({ length: singles }, (_, i) => ({ name: `w${i}`, shape: [1], dtype: 'float32' }));
    weights.push({ name: 'tail', shape: [4], dtype: 'float32' });
    const started = Date.now();
    const checkpoint = await openCheckpoint(folder(manifest(paths, weights), files));
    assert.ok(Date.now() - started < 20_000);
    assert.equal(checkpoint.tensors.length, singles + 1);
    for (const i of [0, 1, 2, 999, singles - 1]) {
      const t = checkpoint.tensors[i];
      assert.ok(t.source.kind === 'file', `w${i} is a file range`);
      assert.equal(t.source.length, 4);
    }
    const tail = checkpoint.tensors[singles];
    assert.ok(tail.source.kind === 'inline', 'the tail crosses shards');
    assert.deepEqual([...new Float32Array(tail.source.bytes.slice().buffer)], all.slice(singles));
    // Every one-element weight holds its own index + 1: read them back through the report.
    const report = await reportOf(path.join(tmp.dir, `t${count - 1}`, 'model.json'));
    assert.equal(report.total.nnz, all.length);
  });

  it('dequantized and joined copies share the budget; the rest are skipped with the reason', async () => {
    const q = { dtype: 'uint8', scale: 1, min: 0 };
    const weights: Weight[] = Array.from({ length: 4 }, (_, i) => ({ name: `q${i}`, shape: [256], dtype: 'float32', quantization: q }));
    const codes = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
    const file = folder(manifest(['a.bin'], weights), { 'a.bin': codes });
    const json = JSON.parse(JSON.stringify(manifest(['a.bin'], weights))) as Record<string, unknown>;
    const checkpoint = await readTfjsModel(file, json, new DerivedBytesBudget(2048));
    assert.deepEqual(
      checkpoint.tensors.map((t) => t.name),
      ['q0', 'q1'],
    );
    assert.deepEqual(checkpoint.skipped[0], {
      name: 'q2',
      reason: 'dequantizing it needs a 1.0 KiB copy, and the copies made for this file would pass 2.0 KiB',
    });
    // Code 0 decodes to 0: one zero per 256.
    const report = await reportOf(file);
    assert.deepEqual(
      report.layers.map((l) => l.nnz),
      [255, 255, 255, 255],
    );
  });

  it('rank-3 kernels of MultiHeadAttention / EinsumDense are not convolutions; unknown *Conv* classes and bare names still are', async () => {
    const topology = {
      class_name: 'Functional',
      config: {
        layers: [
          { class_name: 'MultiHeadAttention', config: { name: 'mha' } },
          { class_name: 'EinsumDense', config: { name: 'ein' } },
          { class_name: 'MyConv2D', config: { name: 'myconv' } },
        ],
      },
    };
    const weights: Weight[] = [
      { name: 'mha/query/kernel', shape: [4, 2, 2], dtype: 'float32' },
      { name: 'ein/kernel', shape: [4, 2, 2], dtype: 'float32' },
      { name: 'myconv/kernel', shape: [1, 1, 2, 2], dtype: 'float32' },
      { name: 'bare/kernel', shape: [1, 1, 2, 2], dtype: 'float32' },
      { name: 'mha/output/kernel', shape: [4, 4], dtype: 'float32' },
    ];
    const file = folder(manifest(['w.bin'], weights, topology), { 'w.bin': Buffer.alloc(4 * (16 + 16 + 4 + 4 + 16)) });
    const roles = Object.fromEntries(
      (await openCheckpoint(file)).tensors.map((t) => [t.name, t.layout ? `${t.role} ${t.layout.outAxis},${t.layout.inAxis}` : t.role]),
    );
    assert.deepEqual(roles, {
      'mha/query/kernel': 'other',
      'ein/kernel': 'other',
      'myconv/kernel': 'conv 3,2',
      'bare/kernel': 'conv 3,2',
      'mha/output/kernel': 'linear 1,0',
    });
  });

  it('weight names are quoted in messages, control characters escaped', async () => {
    const file = folder(manifest(['a.bin'], [{ name: 'w\n\u001b[31m', shape: [1000], dtype: 'float32' }]), { 'a.bin': floats([1]) });
    const e = await expectCheckpointError(file, 'truncated', /weight "w\\n\\u001b\[31m" \[1000\] needs bytes/);
    // eslint-disable-next-line no-control-regex -- looks for raw control characters in a message
    assert.ok(!/[\n\u001b]/.test(e.message));
  });

  it('a FIFO as a weight file is refused at once', async function () {
    if (process.platform === 'win32') this.skip();
    const file = folder(manifest(['pipe.bin'], []));
    execFileSync('mkfifo', [path.join(path.dirname(file), 'pipe.bin')]);
    await expectCheckpointError(file, 'io', /weight file "pipe.bin" is not a regular file/);
  });
});
