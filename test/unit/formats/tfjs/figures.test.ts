import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { assertExpectedFigures, NM_PATTERNS, type ExpectedTensor } from '../../../helpers/expectedFigures';
import { BACKENDS, fixture, reportOf } from '../../../helpers/fixtures';

/**
 * Models saved by tfjs-layers itself, the same split across two shards, quantized as
 * tfjs-converter does, and a hand-written graph-model, with figures computed in
 * scripts/fixtures/make_tfjs_fixtures.mjs over the values tfjs-core's io.decodeWeights decodes.
 */
interface Expected extends ExpectedTensor {
  quantization: 'uint8' | 'uint16' | 'float16' | null;
  note?: { zeroCode: number | null };
}

const expected = JSON.parse(readFileSync(fixture('tfjs', 'expected.json'), 'utf8')) as {
  files: Record<string, { format: string; tensors: Expected[]; skipped: string[] }>;
};

describe('TF.js model.json (tfjs-layers, shards, converter quantization, graph-model) against tfjs-core', () => {
  for (const [file, info] of Object.entries(expected.files)) {
    for (const [key, n, m] of NM_PATTERNS)
      for (const backend of BACKENDS) {
        it(`${file} with ${n}:${m} (${backend} kernels)`, async () => {
          const path = fixture('tfjs', file);
          const report = await reportOf(path, { n, m }, backend);
          assert.equal(report.format, 'tfjs');
          assert.deepEqual(
            report.layers.map((l) => l.name),
            info.tensors.map((t) => t.name),
            'weights in manifest order',
          );
          assert.deepEqual(
            report.skipped.map((s) => s.name),
            info.skipped,
          );
          await assertExpectedFigures(file, report, await openCheckpoint(path), info.tensors, key, backend);
          for (const want of info.tensors) {
            const layer = report.layers.find((l) => l.name === want.name)!;
            const what = `${file}: ${want.name}`;
            if (want.note) {
              assert.match(
                layer.note ?? '',
                want.note.zeroCode === null
                  ? /0 is not representable: no weight decodes to exactly 0/
                  : new RegExp(`0 = code ${want.note.zeroCode}$`),
                what,
              );
            } else if (want.quantization === 'float16') assert.match(layer.note ?? '', /float16/, what);
            else assert.equal(layer.note, undefined, what);
          }
        });
      }
  }

  it('weights within one shard stay lazy file ranges; the one the split cuts is materialized', async () => {
    const whole = await openCheckpoint(fixture('tfjs', 'layers', 'model.json'));
    let offset = 0;
    for (const t of whole.tensors) {
      assert.deepEqual(
        t.source,
        { kind: 'file', path: fixture('tfjs', 'layers', 'group1-shard1of1.bin'), offset, length: t.shape.reduce((a, b) => a * b, 1) * 4 },
        t.name,
      );
      offset += t.source.kind === 'file' ? t.source.length : 0;
    }
    const split = await openCheckpoint(fixture('tfjs', 'split', 'model.json'));
    const kinds = Object.fromEntries(
      split.tensors.map((t) => [t.name, t.source.kind === 'file' ? `file ${t.source.path.split('/').pop()}` : 'inline']),
    );
    assert.equal(kinds['conv/bias'], 'file group1-shard1of2.bin');
    assert.equal(kinds['dense_sparse/kernel'], 'inline');
    assert.equal(kinds['dense_sparse/bias'], 'file group1-shard2of2.bin');
    const splitBias = split.tensors.find((t) => t.name === 'dense_sparse/bias')!.source;
    assert.equal(splitBias.kind === 'file' && splitBias.offset, 2048 - 100, 'offsets restart in the second shard');
  });

  it('the split model reports exactly what the one-shard model does', async () => {
    const one = await reportOf(fixture('tfjs', 'layers', 'model.json'));
    const two = await reportOf(fixture('tfjs', 'split', 'model.json'));
    assert.deepEqual(two.layers, one.layers);
    assert.equal(two.metadata['weight files'], '2');
    assert.equal(one.metadata.format, 'layers-model');
  });

  it('uint8/uint16 weights are dequantized to float32 inline; float16 ones stay lazy as stored', async () => {
    const checkpoint = await openCheckpoint(fixture('tfjs', 'quantized', 'model.json'));
    const byName = new Map(checkpoint.tensors.map((t) => [t.name, t]));
    for (const name of ['depthwise/depthwise_kernel', 'conv/kernel', 'conv/bias', 'dense_sparse/kernel']) {
      assert.equal(byName.get(name)!.source.kind, 'inline', name);
      assert.equal(byName.get(name)!.dtype, 'float32', name);
    }
    assert.equal(byName.get('dense_24/kernel')!.source.kind, 'file');
    assert.equal(byName.get('dense_24/kernel')!.dtype, 'float16');
  });

  it('a graph-model: roles from the consuming ops, the string tensor skipped and walked over', async () => {
    const checkpoint = await openCheckpoint(fixture('tfjs', 'graph', 'model.json'));
    assert.equal(checkpoint.metadata.format, 'graph-model');
    assert.deepEqual(checkpoint.skipped, [{ name: 'vocab', reason: 'string tensor (not numeric)' }]);
    // The bias after the strings "a", "bc", "" (4+1 + 4+2 + 4+0 bytes) starts at an odd offset.
    const bias = checkpoint.tensors.find((t) => t.name === 'fc/bias')!.source;
    assert.equal(bias.kind === 'file' && bias.offset, 216 * 4 + 2 * 4 + 40 * 4 + 15);
  });
});
