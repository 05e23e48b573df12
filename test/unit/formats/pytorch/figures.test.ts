import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { storageNote } from '../../../../src/core/storedTensor';
import { assertExpectedFigures, NM_PATTERNS, type ExpectedTensor } from '../../../helpers/expectedFigures';
import { BACKENDS, fixture, reportOf } from '../../../helpers/fixtures';

/**
 * Files written by torch.save (torch 1.13) in the zip and legacy formats, with figures computed
 * by torch/numpy in scripts/fixtures/make_pytorch_fixtures.py.
 */
interface Expected extends ExpectedTensor {
  fanInMin: number | null;
  fanInMax: number | null;
  fanInMean: number | null;
  note: string | null;
}
interface ExpectedFile {
  format: string;
  container: 'zip' | 'legacy' | 'zip (TorchScript)';
  tensors: Expected[];
  skipped?: { name: string; reason: string }[];
  metadata?: Record<string, string>;
}

const expected = JSON.parse(readFileSync(fixture('pytorch', 'expected.json'), 'utf8')) as { files: Record<string, ExpectedFile> };
const FILES = Object.entries(expected.files);

describe('PyTorch checkpoints written by torch.save, against torch/numpy figures', () => {
  it('the fixture set covers every checkpoint shape and format', () => {
    assert.deepEqual(FILES.map(([f]) => f).sort(), [
      'bigendian.pt',
      'ddp.pt',
      'halfs.pt',
      'lightning.ckpt',
      'mlp.pt',
      'mlp_deflated.pt',
      'mlp_legacy.pt',
      'mlp_zip64.pt',
      'module.pt',
      'module_legacy.pt',
      'pruned.pt',
      'quantized.pt',
      'scripted.pt',
      'subclass.pt',
      'train_state.pth',
      'views.pt',
      'views_legacy.pt',
    ]);
  });

  for (const [file, info] of FILES) {
    for (const [key, n, m] of NM_PATTERNS)
      for (const backend of BACKENDS) {
        it(`${file} with ${n}:${m} (${backend} kernels)`, async () => {
          const path = fixture('pytorch', file);
          const report = await reportOf(path, { n, m }, backend);
          assert.equal(report.format, 'pytorch');
          assert.equal(report.metadata['pytorch format'], info.container);
          assert.deepEqual(report.layers.map((l) => l.name).sort(), info.tensors.map((t) => t.name).sort());
          await assertExpectedFigures(file, report, await openCheckpoint(path), info.tensors, key, backend);
          for (const want of info.tensors) {
            const layer = report.layers.find((l) => l.name === want.name)!;
            assert.equal(layer.note, want.note ?? undefined, `${file}: ${want.name} note`);
            if (want.fanIn)
              assert.ok(Math.abs(layer.fanIn!.mean - want.fanInMean!) < 1e-12, `${file}: ${want.name} mean fan-in as torch computes it`);
          }
          for (const s of info.skipped ?? []) {
            const got = report.skipped.find((k) => k.name === s.name);
            assert.ok(got, `${file}: ${s.name} is listed apart`);
            assert.ok(got.reason.includes(s.reason), `${file}: ${s.name}: "${got.reason}" says "${s.reason}"`);
          }
          for (const [k, v] of Object.entries(info.metadata ?? {})) assert.equal(report.metadata[k], v, `${file}: metadata ${k}`);
        });
      }
  }

  for (const [zip, legacy] of [
    ['mlp.pt', 'mlp_legacy.pt'],
    ['module.pt', 'module_legacy.pt'],
    ['views.pt', 'views_legacy.pt'],
  ]) {
    it(`the zip and legacy saves give identical reports (${zip}, ${legacy})`, async () => {
      const a = await reportOf(fixture('pytorch', zip));
      const b = await reportOf(fixture('pytorch', legacy));
      assert.deepEqual(b.layers, a.layers);
      assert.deepEqual(b.total, a.total);
      assert.deepEqual(b.weights, a.weights);
      assert.deepEqual(b.skipped, a.skipped);
    });
  }

  it('the same state_dict under any checkpoint shape gives the same figures (bare, DDP, model_state_dict, Lightning, big-endian, ZIP64, deflated)', async () => {
    const bare = await reportOf(fixture('pytorch', 'mlp.pt'));
    for (const file of ['ddp.pt', 'train_state.pth', 'bigendian.pt', 'mlp_zip64.pt', 'mlp_deflated.pt']) {
      const other = await reportOf(fixture('pytorch', file));
      assert.deepEqual(
        other.layers.map(({ note: _, ...l }) => l),
        bare.layers.map(({ note: _, ...l }) => l),
        file,
      );
    }
    const lightning = await reportOf(fixture('pytorch', 'lightning.ckpt'));
    assert.deepEqual(
      lightning.layers.map((l) => ({ ...l, name: l.name.replace(/^model\./, '') })),
      bare.layers,
    );
  });

  it('the model: conv at constant fan-in 12, fc1 80% sparse, fc2 2:4 compliant', async () => {
    const report = await reportOf(fixture('pytorch', 'mlp.pt'));
    const conv = report.layers.find((l) => l.name === 'conv.weight')!;
    assert.equal(conv.fanIn?.constant, true);
    assert.equal(conv.fanIn?.k, 12);
    const fc1 = report.layers.find((l) => l.name === 'fc1.weight')!;
    assert.ok(Math.abs(fc1.sparsity - 0.8) < 0.01);
    const fc2 = report.layers.find((l) => l.name === 'fc2.weight')!;
    assert.deepEqual(fc2.nm, { groups: 60, compliant: 60, partial: 0, excess: 0 });
  });

  it('contiguous tensors stay lazy file ranges; tied weights and slices point into one shared storage', async () => {
    const mlp = await openCheckpoint(fixture('pytorch', 'mlp.pt'));
    assert.ok(mlp.tensors.every((t) => t.source.kind === 'file' && storageNote(t.stored) === undefined));
    const views = await openCheckpoint(fixture('pytorch', 'views.pt'));
    const src = (name: string) => views.tensors.find((t) => t.name === name)!.source;
    const embed = src('embed.weight');
    const head = src('head.weight');
    assert.ok(embed.kind === 'file' && head.kind === 'file');
    assert.deepEqual(src('lm_head.weight'), embed, 'the tied weight is the same byte range');
    assert.equal(head.offset, embed.offset + 32 * 4, 'E[4:12] starts 32 float32 elements into the storage');
    assert.equal(head.length, 8 * 8 * 4);
    assert.equal(src('proj.weight').kind, 'inline', 'the transposed view is gathered');
  });

  it('metadata says which format, where the weights were and what was stripped', async () => {
    const zip = await openCheckpoint(fixture('pytorch', 'mlp.pt'));
    assert.equal(zip.metadata['pytorch format'], 'zip');
    assert.equal(zip.metadata['record prefix'], 'mlp');
    assert.equal(zip.metadata['byteorder'], 'little');
    const legacy = await openCheckpoint(fixture('pytorch', 'mlp_legacy.pt'));
    assert.equal(legacy.metadata['pytorch format'], 'legacy');
    const lightning = await openCheckpoint(fixture('pytorch', 'lightning.ckpt'));
    assert.equal(lightning.metadata['model weights under'], 'state_dict');
    assert.equal(lightning.metadata['pytorch-lightning_version'], '1.9.0');
    assert.equal((await openCheckpoint(fixture('pytorch', 'ddp.pt'))).metadata['prefix stripped'], 'module.');
    assert.equal((await openCheckpoint(fixture('pytorch', 'module.pt'))).metadata['pickled object'], '__main__.Net');
  });

  it('optimizer state is listed apart from the model weights, never analysed', async () => {
    const report = await reportOf(fixture('pytorch', 'lightning.ckpt'));
    assert.ok(report.layers.every((l) => l.name.startsWith('model.')));
    const optimizer = report.skipped.filter((s) => s.reason === 'optimizer state');
    assert.equal(optimizer.length, 18, 'exp_avg, exp_avg_sq and step of six parameters');
  });

  it('a real torch.save file (digits MLP, global 80% L1 pruning) reproduces its published figures', async () => {
    const report = await reportOf(fixture('pytorch', 'real', 'digits_mlp_unstructured80.pt'));
    const figures = Object.fromEntries(
      report.layers.map((l) => [l.name, [l.nnz, l.negativeZeros, l.fanIn?.min, l.fanIn?.max, l.fanIn?.zeroNeurons, l.nm?.compliant]]),
    );
    assert.deepEqual(figures['fc1.weight'], [4881, 5550, 1, 31, 0, 3716]);
    assert.deepEqual(figures['fc2.weight'], [4748, 13049, 0, 64, 23, 8044]);
    assert.deepEqual(figures['fc3.weight'], [457, 368, 28, 54, 0, 280]);
    assert.equal(report.layers.find((l) => l.name === 'fc2.weight')!.fanIn!.mean, 37.09375);
  });
});
