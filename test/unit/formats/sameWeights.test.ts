import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import type { LayerReport, SparsityReport } from '../../../src/core/analysis/report';
import type { Checkpoint, CheckpointFormat } from '../../../src/core/checkpoint';
import { openCheckpoint } from '../../../src/core/formats/registry';
import type { KernelBackend } from '../../../src/kernels/createKernels';
import { BACKENDS, fixture, reportOf } from '../../helpers/fixtures';

/**
 * One model (conv 3->8 k3 70% sparse with a dead filter, fc1 32->24 2:4, fc2 24->10 constant
 * fan-in 6) saved with the same float32 values in every format by
 * scripts/fixtures/make_same_weights.py: every format must report the same figures for its three
 * weight layers, and those must be numpy's. Names differ between formats (TF.js `fc1/kernel`),
 * so weight layers are matched by their order in the report.
 */
interface LayerFigures {
  /** [out, in, ...rest]: the stored shape with the output and input axes moved to the front. */
  shape: number[];
  numel: number;
  nnz: number;
  sparsity: number;
  negativeZeros: number;
  neurons: number;
  fanIn: { dense: number; min: number; max: number; mean: number; constant: boolean; k: number | null; zeroNeurons: number };
  nm_2_4: { groups: number; compliant: number; partial: number };
}

interface Expected {
  layers: (LayerFigures & { name: string })[];
  weights: { numel: number; nnz: number; sparsity: number };
}

const expected = JSON.parse(readFileSync(fixture('same_weights', 'expected.json'), 'utf8')) as Expected;

const FILES: readonly (readonly [string, CheckpointFormat])[] = [
  ['model.safetensors', 'safetensors'],
  ['model.pt', 'pytorch'],
  ['model_legacy.pt', 'pytorch'],
  ['model.onnx', 'onnx'],
  ['external/model.onnx', 'onnx'],
  ['model.npz', 'numpy'],
  ['model_compressed.npz', 'numpy'],
  ['sharded/model.safetensors.index.json', 'safetensors'],
  ['tfjs/model.json', 'tfjs'],
];

/** The figures of each weight layer (role linear or conv), in report order. */
function weightLayerFigures(report: SparsityReport, checkpoint: Checkpoint): LayerFigures[] {
  return report.layers
    .filter((l) => l.role !== 'other')
    .map((l: LayerReport) => {
      const tensor = checkpoint.tensors.find((t) => t.name === l.name);
      const layout = tensor?.layout;
      assert.ok(layout && l.fanIn && l.nm, `${l.name} is analysed as a layer`);
      const rest = l.shape.filter((_, axis) => axis !== layout.outAxis && axis !== layout.inAxis);
      return {
        shape: [l.shape[layout.outAxis], l.shape[layout.inAxis], ...rest],
        numel: l.numel,
        nnz: l.nnz,
        sparsity: l.sparsity,
        negativeZeros: l.negativeZeros,
        neurons: l.shape[layout.outAxis],
        fanIn: { ...l.fanIn },
        nm_2_4: { groups: l.nm.groups, compliant: l.nm.compliant, partial: l.nm.partial },
      };
    });
}

async function figuresOf(file: string, backend: KernelBackend): Promise<{ report: SparsityReport; layers: LayerFigures[] }> {
  const path = fixture('same_weights', file);
  const report = await reportOf(path, { n: 2, m: 4 }, backend);
  return { report, layers: weightLayerFigures(report, await openCheckpoint(path)) };
}

describe('the same weights in every format give the same figures', () => {
  const want: LayerFigures[] = expected.layers.map(({ name: _name, ...figures }) => figures);

  for (const backend of BACKENDS) {
    for (const [file, format] of FILES) {
      it(`${file} matches numpy (${backend} kernels)`, async () => {
        const { report, layers } = await figuresOf(file, backend);
        assert.equal(report.format, format);
        assert.equal(layers.length, 3, `${file}: three weight layers`);
        for (const [i, layer] of layers.entries())
          assert.deepEqual(layer, want[i], `${file}: weight layer ${i} (${expected.layers[i].name})`);
        assert.deepEqual(report.weights, expected.weights, `${file}: weight totals`);
      });
    }

    it(`every format reports identical weight figures and totals (${backend} kernels)`, async () => {
      const [first, ...others] = await Promise.all(FILES.map(async ([file]) => ({ file, ...(await figuresOf(file, backend)) })));
      for (const other of others) {
        assert.deepEqual(other.layers, first.layers, `${other.file} vs ${first.file}`);
        assert.deepEqual(other.report.weights, first.report.weights, `${other.file} vs ${first.file}: weight totals`);
      }
    });
  }
});
