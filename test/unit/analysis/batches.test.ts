import { strict as assert } from 'node:assert';
import { analyseCheckpoint } from '../../../src/core/analysis/report';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { createKernels } from '../../../src/kernels/createKernels';
import type { ScanKernels } from '../../../src/kernels/scanKernels';
import { makeTempDir, REPO } from '../../helpers/fixtures';
import { safetensorsOf } from '../../helpers/writers';

describe('many small tensors cost few kernel calls', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof makeTempDir>;
  let file: string;
  const COUNT = 10_000;
  before(() => {
    tmp = makeTempDir();
    // Tensor i holds [i mod 3, 0]: a third of the tensors have no non-zero, the rest one.
    const tensors = new Map(Array.from({ length: COUNT }, (_, i) => [`t${i}`, [i % 3, 0]] as const));
    file = tmp.write('many.safetensors', safetensorsOf(tensors));
  });
  after(() => tmp.remove());

  for (const backend of ['reference', 'native'] as const) {
    it(`a checkpoint of ${COUNT} tensors is scanned in batches, with the same figures (${backend} kernels)`, async () => {
      const kernels = createKernels({ backend, root: REPO });
      const calls = { scan: 0, scanMany: 0 };
      const counting: ScanKernels = {
        scan: (r, s) => (calls.scan++, kernels.scan(r, s)),
        scanMany: (r, s) => (calls.scanMany++, kernels.scanMany(r, s)),
        heatmap: kernels.heatmap,
        weightWindow: kernels.weightWindow,
      };
      const progress: number[] = [];
      try {
        const { report } = await analyseCheckpoint(await openCheckpoint(file), counting, { onProgress: ({ done }) => progress.push(done) });
        assert.equal(report.layers.length, COUNT);
        assert.deepEqual(report.total, {
          numel: 2 * COUNT,
          nnz: Math.floor((2 * COUNT) / 3),
          sparsity: 1 - Math.floor((2 * COUNT) / 3) / (2 * COUNT),
        });
        assert.equal(report.layers[4].nnz, 1);
        assert.equal(report.layers[6].nnz, 0);
        assert.equal(calls.scan, 0);
        assert.equal(calls.scanMany, Math.ceil(COUNT / 4096));
        assert.deepEqual(progress, [4096, 8192, COUNT]);
      } finally {
        await kernels.dispose();
      }
    });
  }
});
