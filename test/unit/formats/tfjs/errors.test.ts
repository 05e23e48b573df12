import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fixture, makeTempDir, reportOf } from '../../../helpers/fixtures';
import { expectCheckpointError } from '../../../helpers/errors';

interface ModelJson {
  format: string;
  modelTopology: unknown;
  weightsManifest: {
    paths: string[];
    weights: { name: string; shape: number[]; dtype: string; quantization?: Record<string, unknown> }[];
  }[];
}

describe('TF.js model.json: bad input gives a typed error naming the file and the problem', () => {
  const original = JSON.parse(readFileSync(fixture('tfjs', 'layers', 'model.json'), 'utf8')) as ModelJson;
  const shard = readFileSync(fixture('tfjs', 'layers', 'group1-shard1of1.bin'));
  let tmp: ReturnType<typeof makeTempDir>;
  let count = 0;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());

  /** A folder with an edited model.json and, unless told otherwise, the real shard beside it. */
  function model(edit: (m: ModelJson) => void, shardBytes: Buffer | null = shard): string {
    const dir = path.join(tmp.dir, `m${count++}`);
    mkdirSync(dir);
    const m = structuredClone(original);
    edit(m);
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(m));
    if (shardBytes) writeFileSync(path.join(dir, 'group1-shard1of1.bin'), shardBytes);
    return path.join(dir, 'model.json');
  }
  const weight = (m: ModelJson, name: string) => m.weightsManifest[0].weights.find((w) => w.name === name)!;

  it('the rebuilt model reads (the helpers are sound)', async () => {
    const report = await reportOf(model(() => {}));
    assert.equal(report.layers.find((l) => l.name === 'dense_sparse/kernel')?.nnz, 128);
  });

  it('a missing shard file', async () => {
    await expectCheckpointError(
      model(() => {}, null),
      'io',
      /weight file "group1-shard1of1.bin" not found/,
    );
  });

  it('a shard shorter than the manifest says', async () => {
    const file = model(() => {}, shard.subarray(0, shard.length - 10));
    await expectCheckpointError(
      file,
      'truncated',
      /weight "dense_24\/bias" \[8\] needs bytes 3640..3672 of weight group 1, but its files \(group1-shard1of1.bin\) hold 3662 bytes/,
    );
  });

  it('an absurd shape is a truncation, not an allocation', async () => {
    await expectCheckpointError(
      model((m) => (weight(m, 'conv/kernel').shape = [1e9, 1e9, 1e9])),
      'truncated',
      /weight "conv\/kernel"/,
    );
  });

  it('paths leaving the folder: "..", absolute, and a link pointing outside', async () => {
    const outside = path.join(tmp.dir, 'outside.bin');
    writeFileSync(outside, shard);
    await expectCheckpointError(
      model((m) => (m.weightsManifest[0].paths = ['../outside.bin'])),
      'unsafe',
      /weight file "..\/outside.bin" leaves the model's folder/,
    );
    await expectCheckpointError(
      model((m) => (m.weightsManifest[0].paths = [outside])),
      'unsafe',
      /leaves the model's folder/,
    );
    const linked = model((m) => (m.weightsManifest[0].paths = ['link.bin']));
    symlinkSync(outside, path.join(path.dirname(linked), 'link.bin'));
    await expectCheckpointError(linked, 'unsafe', /weight file "link.bin" links outside the model's folder/);
    await expectCheckpointError(
      model((m) => (m.weightsManifest[0].paths = ['https://example.invalid/w.bin'])),
      'unsupported',
      /is a URL/,
    );
  });

  it('a link to a file inside the folder is followed', async () => {
    const file = model((m) => (m.weightsManifest[0].paths = ['weights/link.bin']));
    mkdirSync(path.join(path.dirname(file), 'weights'));
    symlinkSync(path.join(path.dirname(file), 'group1-shard1of1.bin'), path.join(path.dirname(file), 'weights', 'link.bin'));
    assert.equal((await reportOf(file)).layers.length, 8);
  });

  it('bad JSON, JSON that is not a model, and a manifest of the wrong shape', async () => {
    const dir = path.join(tmp.dir, 'json');
    mkdirSync(dir);
    const bad = path.join(dir, 'model.json');
    writeFileSync(bad, '{"weightsManifest": [');
    await expectCheckpointError(bad, 'corrupt', /not valid JSON/);
    const other = path.join(dir, 'package.json');
    writeFileSync(other, '{"name": "x", "version": "1.0.0"}');
    await expectCheckpointError(other, 'unknown-format', /neither a TensorFlow.js model.json .* nor a safetensors index/);
    const list = path.join(dir, 'list.json');
    writeFileSync(list, '[1, 2]');
    await expectCheckpointError(list, 'unknown-format', /not an object/);
    await expectCheckpointError(
      model((m) => ((m as unknown as Record<string, unknown>).weightsManifest = {})),
      'corrupt',
      /weightsManifest: is not a list/,
    );
    await expectCheckpointError(
      model((m) => (weight(m, 'conv/bias').shape = [-1])),
      'corrupt',
      /weight "conv\/bias": shape is not a list of non-negative integers/,
    );
    await expectCheckpointError(
      model((m) => (weight(m, 'conv/bias').name = 'conv/kernel')),
      'corrupt',
      /lists weight "conv\/kernel" twice/,
    );
  });

  it('an unknown dtype or quantization dtype', async () => {
    await expectCheckpointError(
      model((m) => (weight(m, 'conv/bias').dtype = 'float64')),
      'unsupported',
      /weight "conv\/bias": dtype "float64" is not a TF.js weight dtype/,
    );
    await expectCheckpointError(
      model((m) => (weight(m, 'conv/bias').quantization = { dtype: 'int4', scale: 1, min: 0 })),
      'unsupported',
      /quantization dtype "int4"/,
    );
    await expectCheckpointError(
      model((m) => (weight(m, 'conv/bias').quantization = { dtype: ['uint8'], scale: 1, min: 0 })),
      'unsupported',
      /quantization dtype is a list, not one TF.js defines/,
    );
    const int32Half = model((m) => {
      weight(m, 'conv/bias').dtype = 'int32';
      weight(m, 'conv/bias').quantization = { dtype: 'float16' };
    });
    await expectCheckpointError(int32Half, 'unsupported', /float16 quantization of a int32 weight/);
  });

  it('quantization with absurd or missing numbers', async () => {
    const quantized = (q: Record<string, unknown>) => model((m) => (weight(m, 'conv/kernel').quantization = { dtype: 'uint8', ...q }));
    await expectCheckpointError(
      quantized({ scale: 1e300, min: 0 }),
      'corrupt',
      /weight "conv\/kernel": uint8 quantization with scale 1e\+300 and min 0 decodes to values out of float32 range/,
    );
    await expectCheckpointError(quantized({ scale: 0.1, min: -1e39 }), 'corrupt', /out of float32 range/);
    await expectCheckpointError(quantized({ scale: '0.1', min: 0 }), 'corrupt', /needs numeric "scale" and "min"/);
    await expectCheckpointError(quantized({ min: 0 }), 'corrupt', /needs numeric "scale" and "min"/);
  });

  it('a quantized weight whose zero point is not a code: nothing decodes to 0, and the note says so', async () => {
    // Codes map to q · 0.0101 - 0.5: 0 would need q = 49.5.
    const file = model((m) => (weight(m, 'conv/kernel').quantization = { dtype: 'uint8', scale: 0.0101, min: -0.5 }));
    const layer = (await reportOf(file)).layers.find((l) => l.name === 'conv/kernel')!;
    assert.equal(layer.nnz, 216);
    assert.match(layer.note!, /0 is not representable: no weight decodes to exactly 0/);
  });

  it('a string tensor whose lengths run past the data is a truncation', async () => {
    const dir = path.join(tmp.dir, 'strings');
    mkdirSync(dir);
    const bytes = Buffer.alloc(10);
    bytes.writeUInt32LE(2, 0);
    bytes.write('ab', 4);
    bytes.writeUInt32LE(1000, 6); // the second element claims 1000 bytes of a 10-byte file
    writeFileSync(path.join(dir, 'w.bin'), bytes);
    const file = path.join(dir, 'model.json');
    writeFileSync(
      file,
      JSON.stringify({
        format: 'graph-model',
        weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'vocab', shape: [2], dtype: 'string' }] }],
      }),
    );
    await expectCheckpointError(file, 'truncated', /weight "vocab" \[2\] needs bytes/);
  });

  it('a copied fixture folder reads wherever it is', async () => {
    const dir = path.join(tmp.dir, 'copy');
    mkdirSync(dir);
    for (const f of ['model.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin'])
      copyFileSync(fixture('tfjs', 'split', f), path.join(dir, f));
    assert.equal((await reportOf(path.join(dir, 'model.json'))).layers.length, 8);
  });
});
